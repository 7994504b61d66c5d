//! Claude Code's hook wire format: what each event's answer looks like.
//!
//! Deny on PreToolUse is `hookSpecificOutput.permissionDecision = "deny"` with the reason
//! going to the model; on PermissionRequest it is `decision.behavior = "deny"`; a halt is
//! `continue: false` with a `stopReason`; the Stop gate is top-level `decision: "block"`.
//! When the event is unknown or the input unreadable, exit code 2 with the reason on
//! stderr blocks wherever Claude Code allows blocking and is harmless elsewhere.

use serde_json::{Value, json};

/// What the hook process prints and how it exits.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

impl Outcome {
    fn json(value: Value) -> Outcome {
        Outcome {
            stdout: value.to_string(),
            stderr: String::new(),
            exit_code: 0,
        }
    }

    /// No decision: Claude Code goes on as if the hook had said nothing.
    pub fn no_op() -> Outcome {
        Outcome::json(json!({}))
    }

    /// Something the user and the model must know, on an event that decides nothing:
    /// `systemMessage` is shown to the user; after a tool call the model gets it too.
    pub fn notice(event: &str, text: &str) -> Outcome {
        if event == "PostToolUse" || event == "PostToolUseFailure" {
            return Outcome::json(json!({
                "systemMessage": text,
                "hookSpecificOutput": {
                    "hookEventName": event,
                    "additionalContext": text,
                }
            }));
        }
        Outcome::json(json!({ "systemMessage": text }))
    }

    /// A PreToolUse answer.
    pub fn pre_tool_use(decision: &str, reason: &str) -> Outcome {
        Outcome::json(json!({
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": decision,
                "permissionDecisionReason": reason,
            }
        }))
    }

    /// Deny the call and end the session: a stop condition was met.
    pub fn pre_tool_use_halt(reason: &str, stop_reason: &str) -> Outcome {
        Outcome::json(json!({
            "continue": false,
            "stopReason": stop_reason,
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }))
    }

    pub fn permission_request_deny(message: &str) -> Outcome {
        Outcome::json(json!({
            "hookSpecificOutput": {
                "hookEventName": "PermissionRequest",
                "decision": { "behavior": "deny", "message": message },
            }
        }))
    }

    pub fn permission_request_allow() -> Outcome {
        Outcome::json(json!({
            "hookSpecificOutput": {
                "hookEventName": "PermissionRequest",
                "decision": { "behavior": "allow" },
            }
        }))
    }

    /// Keep the agent from stopping (Stop / SubagentStop); `reason` becomes its next
    /// instruction.
    pub fn block_stop(reason: &str) -> Outcome {
        Outcome::json(json!({ "decision": "block", "reason": reason }))
    }

    /// End the session now (any event).
    pub fn halt(stop_reason: &str) -> Outcome {
        Outcome::json(json!({ "continue": false, "stopReason": stop_reason }))
    }

    /// Context for the model at session start.
    pub fn session_context(text: &str) -> Outcome {
        Outcome::json(json!({
            "hookSpecificOutput": {
                "hookEventName": "SessionStart",
                "additionalContext": text,
            }
        }))
    }

    /// The same answer with a warning Claude Code shows the user (not the model).
    pub fn with_user_warning(mut self, text: &str) -> Outcome {
        if let Ok(Value::Object(mut answer)) = serde_json::from_str::<Value>(&self.stdout) {
            answer.insert("systemMessage".into(), Value::String(text.to_string()));
            self.stdout = Value::Object(answer).to_string();
        }
        self
    }

    /// The event could not be read: block with exit code 2, which Claude Code honours on
    /// every event that can block, whatever the event was.
    pub fn unreadable(reason: &str) -> Outcome {
        Outcome {
            stdout: json!({ "decision": "block", "reason": reason }).to_string(),
            stderr: reason.to_string(),
            exit_code: 2,
        }
    }

    /// An internal failure on `event`: deny where the event can deny; elsewhere the
    /// user (and after a tool call the model) is told, as with a notice, and the reason
    /// goes to stderr for the debug log.
    pub fn failure(event: &str, reason: &str) -> Outcome {
        match event {
            "PreToolUse" => Outcome::pre_tool_use("deny", reason),
            "PermissionRequest" => Outcome::permission_request_deny(reason),
            "UserPromptSubmit" => Outcome::unreadable(reason),
            _ => Outcome {
                stderr: reason.to_string(),
                ..Outcome::notice(event, reason)
            },
        }
    }
}

/// The events `mandate install` registers.
pub const EVENTS: &[&str] = &[
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "PostToolUseFailure",
    "SubagentStart",
    "SubagentStop",
    "Stop",
    "SessionEnd",
];
