//! Claude Code's payload in, the run's answer out.

use std::path::PathBuf;

use mandate_run::{Agent, Answer, Event, Kind, ToolCall};
use serde_json::Value;

use crate::protocol::Outcome;

/// The most bytes read from stdin; a larger event is refused, not truncated.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug, Default)]
pub struct HookArgs {
    /// The repository root, as `mandate install` wrote it into the hook command.
    pub root: Option<PathBuf>,
}

/// Answer one hook event. Never panics: a panic inside becomes a deny.
pub fn run_hook(stdin: &[u8], args: &HookArgs) -> Outcome {
    if stdin.len() > MAX_INPUT_BYTES {
        return Outcome::unreadable(&format!(
            "mandate refused this event: its input is larger than {} MiB",
            MAX_INPUT_BYTES / (1024 * 1024)
        ));
    }
    let value: Value = match serde_json::from_slice(stdin) {
        Ok(value) => value,
        Err(error) => {
            return Outcome::unreadable(&format!(
                "mandate refused this event: its input is not valid JSON ({error}). This is a \
                 bug in the caller or a damaged pipe; nothing was allowed."
            ));
        }
    };
    let Some(name) = value.get("hook_event_name").and_then(Value::as_str) else {
        return Outcome::unreadable(
            "mandate refused this event: the input has no `hook_event_name`; nothing was allowed",
        );
    };
    // An event mandate does not handle decides nothing.
    let Some(kind) = kind_of(name) else {
        return Outcome::no_op();
    };
    let event = event_from(kind, name, &value, args);
    answer(name, kind, mandate_run::handle(&event))
}

/// The run's name for a Claude Code event (the ones `mandate install` registers).
fn kind_of(event: &str) -> Option<Kind> {
    Some(match event {
        "SessionStart" => Kind::SessionStart,
        "UserPromptSubmit" => Kind::Prompt,
        "PreToolUse" => Kind::PreToolUse,
        "PermissionRequest" => Kind::PermissionRequest,
        "PostToolUse" => Kind::PostToolUse,
        "PostToolUseFailure" => Kind::PostToolUseFailure,
        "SubagentStart" => Kind::SubagentStart,
        "SubagentStop" => Kind::SubagentStop,
        "Stop" => Kind::Stop,
        "SessionEnd" => Kind::SessionEnd,
        _ => return None,
    })
}

fn event_from(kind: Kind, name: &str, value: &Value, args: &HookArgs) -> Event {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let field = |key: &str| value.get(key).cloned();
    let mut event = Event::new(
        kind,
        Agent {
            name: "claude-code".to_string(),
            version: None,
        },
        name,
    );
    event.cwd = text("cwd").map(PathBuf::from);
    event.root = args.root.clone().or_else(|| {
        std::env::var_os("CLAUDE_PROJECT_DIR")
            .map(PathBuf::from)
            .filter(|dir| dir.join(mandate_run::POLICY_FILE).is_file())
    });
    event.session_id = text("session_id");
    event.agent_id = text("agent_id");
    event.agent_type = text("agent_type");
    event.prompt_id = text("prompt_id");
    event.tool_use_id = text("tool_use_id");
    event.transcript_path = text("transcript_path").map(PathBuf::from);
    event.subagent_transcript_path = text("agent_transcript_path").map(PathBuf::from);
    event.agent_log = Some(crate::transcript::LOG);
    if let Some(name) = text("tool_name") {
        event.tool = Some(ToolCall {
            name,
            input: field("tool_input").unwrap_or(Value::Null),
        });
    }
    event.response = field("tool_response");
    event.error = field("error");
    event.duration_ms = field("duration_ms");
    event.prompt = field("prompt");
    event.source = field("source");
    event.reason = field("reason");
    event.model = field("model");
    if matches!(kind, Kind::PostToolUse | Kind::PostToolUseFailure) {
        let (output, exit_status) = shell_result(kind, value);
        event.output = Some(output);
        event.exit_status = exit_status;
    }
    event
}

/// What a Bash call printed and how it exited, as Claude Code reports them: a success
/// carries `tool_response.stdout`/`stderr`; a failure carries the error text, whose first
/// line reads `Exit code N`.
fn shell_result(kind: Kind, value: &Value) -> (String, Option<i64>) {
    if kind == Kind::PostToolUseFailure {
        let error = value.get("error").and_then(Value::as_str).unwrap_or("");
        let status = error
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("Exit code "))
            .and_then(|code| code.trim().parse::<i64>().ok());
        return (error.to_string(), status);
    }
    let response = value.get("tool_response");
    let part = |k: &str| {
        response
            .and_then(|r| r.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    (format!("{}\n{}", part("stdout"), part("stderr")), Some(0))
}

/// The run's answer in Claude Code's terms for this event.
fn answer(name: &str, kind: Kind, answer: Answer) -> Outcome {
    match (kind, answer) {
        (_, Answer::Nothing) => Outcome::no_op(),
        (_, Answer::Failure(reason)) => Outcome::failure(name, &reason),
        (Kind::PreToolUse, Answer::Allow(reason)) => Outcome::pre_tool_use("allow", &reason),
        (Kind::PreToolUse, Answer::Ask(reason)) => Outcome::pre_tool_use("ask", &reason),
        (Kind::PreToolUse, Answer::Deny(reason)) => Outcome::pre_tool_use("deny", &reason),
        (Kind::PreToolUse, Answer::Halt(reason)) => Outcome::pre_tool_use_halt(&reason, &reason),
        (Kind::PermissionRequest, Answer::Deny(reason) | Answer::Halt(reason)) => {
            Outcome::permission_request_deny(&reason)
        }
        (_, Answer::KeepGoing(reason)) => Outcome::block_stop(&reason),
        (_, Answer::Context(text)) => Outcome::session_context(&text),
        (_, Answer::Notice(text)) => Outcome::notice(name, &text),
        (_, Answer::ContextAndWarning(text, warning)) => {
            Outcome::session_context(&text).with_user_warning(&warning)
        }
        (_, Answer::Halt(reason)) => Outcome::halt(&reason),
        // Allow, ask or deny where the event decides no call: nothing to say.
        (_, Answer::Allow(_) | Answer::Ask(_) | Answer::Deny(_)) => Outcome::no_op(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn every_installed_event_reaches_the_run() {
        for event in crate::protocol::EVENTS {
            assert!(kind_of(event).is_some(), "{event} has no kind");
        }
    }

    #[test]
    fn a_failure_where_nothing_can_be_refused_is_told_not_dropped() {
        for event in ["PostToolUse", "Stop", "SessionEnd", "SessionStart"] {
            let kind = kind_of(event).unwrap();
            let out = answer(
                event,
                kind,
                Answer::Failure("the state is unreadable".into()),
            );
            let value: Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(value["systemMessage"], "the state is unreadable", "{event}");
            assert_eq!(out.stderr, "the state is unreadable", "{event}");
            assert_eq!(out.exit_code, 0, "{event}");
        }
        let out = answer(
            "PostToolUse",
            Kind::PostToolUse,
            Answer::Failure("x".into()),
        );
        let value: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(value["hookSpecificOutput"]["additionalContext"], "x");
    }

    #[test]
    fn a_failed_bash_call_reads_its_exit_code() {
        let value = serde_json::json!({"error": "Exit code 3\nboom"});
        let (output, status) = shell_result(Kind::PostToolUseFailure, &value);
        assert_eq!(status, Some(3));
        assert!(output.contains("boom"));
        let value = serde_json::json!({"tool_response": {"stdout": "1 passed", "stderr": ""}});
        assert_eq!(shell_result(Kind::PostToolUse, &value).1, Some(0));
    }
}
