//! Codex CLI (0.169.0): `mandate hook codex`.
//!
//! Codex sends Claude-Code-like JSON (`hook_event_name`, `tool_name`, `tool_input`), with
//! its own tools underneath: `exec_command` arrives as `Bash {command}` (without its
//! `workdir` and `tty`), `apply_patch` as `{command: PATCH}`, MCP tools as
//! `mcp__server__tool`, and subagent tools as the namespace glued to the name
//! (`collaborationspawn_agent`). Inside a subagent the payload adds `agent_id` and
//! `agent_type` and keeps the parent's `session_id`. The version is not in the payload;
//! the npm launcher exports `CODEX_MANAGED_PACKAGE_ROOT`, whose `package.json` has it.
//!
//! Answers (`research/other-agents.md` §1.5): a deny is
//! `hookSpecificOutput.permissionDecision = "deny"` with a reason; an allow is no answer
//! at all (`"allow"` without `updatedInput` counts as a failed hook — and a failed hook
//! lets the call run, like a crash, a timeout or output that is not JSON); "ask" is never
//! sent. The stop gate is `{"decision":"block","reason"}` on `Stop` and `SubagentStop`.
//! `continue: false` is unsupported on `PreToolUse`, so a halt is a deny there; every later
//! call is refused by the run.
//!
//! What Codex leaves open: `write_stdin` feeds a running `exec_command` session with no
//! hook at all. A command that starts a shell or interpreter reading from its input is
//! therefore also a call of the tool `write_stdin`, which the contract must name
//! (`call = ["write_stdin"]`) for it to run.

use serde_json::{Value, json};

use crate::{Agent, Answer, Call, Event, Kind, Outcome, ToolUse, patch_calls, text};

pub fn translate(payload: &Value) -> Event {
    let native = text(payload, &["hook_event_name"]).unwrap_or_default();
    let kind = match native.as_str() {
        "SessionStart" => Kind::SessionStart,
        "UserPromptSubmit" => Kind::UserPrompt,
        "PreToolUse" => Kind::PreToolUse,
        "PermissionRequest" => Kind::PermissionRequest,
        "PostToolUse" => Kind::PostToolUse,
        "SubagentStart" => Kind::SubagentStart,
        "SubagentStop" => Kind::SubagentStop,
        "Stop" => Kind::Stop,
        "SessionEnd" => Kind::SessionEnd,
        _ => Kind::Other,
    };
    let mut event = Event::new(Agent::Codex, &native, kind);
    if native.is_empty() {
        event.unreadable = Some("the event has no `hook_event_name`".to_string());
    }
    event.session_id = text(payload, &["session_id"]);
    event.agent_id = text(payload, &["agent_id"]);
    event.agent_type = text(payload, &["agent_type"]);
    event.tool_use_id = text(payload, &["tool_use_id"]);
    event.cwd = text(payload, &["cwd"]);
    event.transcript_path = text(payload, &["transcript_path"]);
    event.model = text(payload, &["model"]);
    event.prompt = text(payload, &["prompt", "last_assistant_message"]);
    event.source = text(payload, &["source"]);
    event.reason = text(payload, &["reason"]);
    event.stop_hook_active = payload
        .get("stop_hook_active")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(response) = payload.get("tool_response") {
        event.response_text = Some(crate::response_text(response));
        event.response = Some(response.clone());
    }
    if matches!(
        kind,
        Kind::PreToolUse | Kind::PermissionRequest | Kind::PostToolUse
    ) {
        match (
            payload.get("tool_name").and_then(Value::as_str),
            payload.get("tool_input"),
        ) {
            (Some(name), Some(input)) => {
                event.tool = Some(ToolUse {
                    name: name.to_string(),
                    input: input.clone(),
                    calls: calls(name, input),
                });
            }
            _ => {
                event.unreadable =
                    Some("the event has no `tool_name` or no `tool_input`".to_string());
            }
        }
    }
    event
}

/// Codex's tool call in canonical calls.
pub fn calls(name: &str, input: &Value) -> Vec<Call> {
    let field = |key: &str| input.get(key).and_then(Value::as_str);
    match name {
        "Bash" => {
            let Some(command) = field("command") else {
                return vec![Call::unknown(name, input)];
            };
            if let Some(patch) = crate::patch::from_heredoc(command) {
                return patch_calls(patch);
            }
            let mut calls = vec![Call::new("Bash", json!({ "command": command }))];
            if crate::starts_interactive(command) {
                calls.push(Call::new(
                    "write_stdin",
                    json!({
                        "command": command,
                        "why": "Codex feeds a running interactive session through \
                                `write_stdin`, which no hook sees",
                    }),
                ));
            }
            calls
        }
        "apply_patch" | "Edit" | "Write" => match field("command").or_else(|| input.as_str()) {
            Some(patch) => patch_calls(patch),
            None => vec![Call::unknown(name, input)],
        },
        _ => {
            if name.starts_with("mcp__") {
                return vec![Call::new(name, object(input))];
            }
            // Subagent tools: `collaboration` glued to the tool name (0.169), or with a
            // separator in other builds.
            let bare = name
                .strip_prefix("collaboration")
                .map(|rest| rest.trim_start_matches(['.', '_', '/']))
                .unwrap_or(name);
            match bare {
                "spawn_agent" | "send_message" | "followup_task" => {
                    let prompt = field("message")
                        .or_else(|| field("prompt"))
                        .or_else(|| field("task"))
                        .unwrap_or("");
                    vec![Call::new(
                        "Agent",
                        json!({
                            "description": field("task_name").unwrap_or(bare),
                            "prompt": prompt,
                            "subagent_type": field("agent_type").unwrap_or("default"),
                        }),
                    )]
                }
                "wait_agent" => vec![Call::new("TaskOutput", object(input))],
                "list_agents" => vec![Call::new("TaskList", object(input))],
                "interrupt_agent" | "close_agent" => vec![Call::new("TaskStop", object(input))],
                "update_plan" => vec![Call::new("TodoWrite", object(input))],
                "request_user_input" => vec![Call::new("AskUserQuestion", object(input))],
                "tool_search" => vec![Call::new("ToolSearch", object(input))],
                "web_search" => vec![Call::new(
                    "WebSearch",
                    json!({ "query": field("query").unwrap_or("") }),
                )],
                "view_image" => match field("path") {
                    Some(path) => vec![Call::new("Read", json!({ "file_path": path }))],
                    None => vec![Call::unknown(name, input)],
                },
                _ => vec![Call::unknown(name, input)],
            }
        }
    }
}

fn object(input: &Value) -> Value {
    if input.is_object() {
        input.clone()
    } else {
        json!({ "input": input })
    }
}

/// The run's answer in Codex's wire format.
pub fn answer(event: &Event, answer: &Answer) -> Outcome {
    match (event.kind, answer) {
        (Kind::PermissionRequest, Answer::Allow(_)) => Outcome::json(json!({
            "hookSpecificOutput": {
                "hookEventName": "PermissionRequest",
                "decision": { "behavior": "allow" },
            }
        })),
        (_, Answer::Nothing) | (_, Answer::Allow(_)) => Outcome::nothing(),
        (
            Kind::PreToolUse,
            Answer::Deny(reason)
            | Answer::Ask(reason)
            | Answer::Halt(reason)
            | Answer::Failure(reason),
        ) => Outcome::json(json!({
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        })),
        (
            Kind::PermissionRequest,
            Answer::Deny(reason)
            | Answer::Ask(reason)
            | Answer::Halt(reason)
            | Answer::Failure(reason),
        ) => Outcome::json(json!({
            "hookSpecificOutput": {
                "hookEventName": "PermissionRequest",
                "decision": { "behavior": "deny", "message": reason },
            }
        })),
        (
            Kind::Stop | Kind::SubagentStop | Kind::UserPrompt,
            Answer::KeepGoing(reason)
            | Answer::Halt(reason)
            | Answer::Deny(reason)
            | Answer::Failure(reason),
        ) => Outcome::json(json!({ "decision": "block", "reason": reason })),
        (Kind::SessionStart, Answer::Context(text)) => Outcome::session_context(text, None),
        // The warning is for the person: Codex shows `systemMessage` (the hook output
        // schemas in the 0.169.0 binary).
        (Kind::SessionStart, Answer::ContextAndWarning(text, warning)) => {
            Outcome::session_context(text, Some(warning))
        }
        // SessionEnd's output is not read by Codex: there the notice reaches stderr only.
        (Kind::PostToolUse | Kind::PostToolUseFailure, Answer::Notice(text)) => {
            Outcome::notice(text, Some("PostToolUse"))
        }
        (_, Answer::Notice(text)) => Outcome::notice(text, None),
        // Elsewhere nothing can be refused; say why on stderr for the log.
        (_, other) => Outcome::undecided(other),
    }
}

/// The Codex version the hook runs under: the npm launcher's package root names it.
pub fn version_from_env() -> Option<String> {
    let root = std::env::var_os("CODEX_MANAGED_PACKAGE_ROOT")?;
    let text = std::fs::read_to_string(std::path::Path::new(&root).join("package.json")).ok()?;
    let package: Value = serde_json::from_str(&text).ok()?;
    package
        .get("version")
        .and_then(Value::as_str)
        .map(|v| v.split('-').next().unwrap_or(v).to_string())
}
