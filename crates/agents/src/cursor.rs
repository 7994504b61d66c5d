//! Cursor's agent hooks: `mandate hook cursor`. From Cursor's documentation only
//! (`research/other-agents.md` §4): Cursor cannot be run here, so this adapter is tested
//! against fixtures written from the documented shapes, not captured payloads.
//!
//! Events: `beforeShellExecution {command, cwd}`, `beforeReadFile {file_path}`,
//! `beforeMCPExecution {tool_name, tool_input, server?}`, the generic
//! `preToolUse {tool_name, tool_input}` (tools `Shell`, `Read`, `Write`, `StrReplace`,
//! `Edit`, `Delete`, `Grep`, `Glob`, `LS`, `WebFetch`, `WebSearch`, `Task`, MCP tools),
//! `afterShellExecution`, `afterMCPExecution`, `afterFileEdit`, `postToolUse`,
//! `beforeSubmitPrompt`, `stop`, `sessionStart`, `sessionEnd`, `subagentStart`,
//! `subagentStop`. Every payload has `hook_event_name` and `conversation_id`.
//!
//! Answers: `{"permission":"allow"|"deny"|"ask","user_message","agent_message"}` on the
//! `before*` events and `preToolUse` (and `{"decision": …}` for `preToolUse`, which later
//! builds read); `{"continue":false,"user_message"}` to refuse a prompt;
//! `{"followup_message"}` on `stop` keeps the agent working. Exit code 2 also denies.
//! `mandate install --agent cursor` sets `failClosed: true`, without which a crashing
//! hook lets the call run.

use serde_json::{Value, json};

use crate::{Agent, Answer, Call, Event, Kind, Outcome, ToolUse, text};

/// The events `mandate install --agent cursor` registers.
pub const EVENTS: &[&str] = &[
    "sessionStart",
    "beforeSubmitPrompt",
    "preToolUse",
    "beforeShellExecution",
    "beforeMCPExecution",
    "beforeReadFile",
    "postToolUse",
    "afterFileEdit",
    "subagentStart",
    "subagentStop",
    "stop",
    "sessionEnd",
];

pub fn translate(payload: &Value) -> Event {
    let native = text(payload, &["hook_event_name"]).unwrap_or_default();
    let kind = match native.as_str() {
        "sessionStart" => Kind::SessionStart,
        "beforeSubmitPrompt" => Kind::UserPrompt,
        "preToolUse" | "beforeShellExecution" | "beforeMCPExecution" | "beforeReadFile" => {
            Kind::PreToolUse
        }
        "postToolUse" | "afterShellExecution" | "afterMCPExecution" | "afterFileEdit" => {
            Kind::PostToolUse
        }
        "postToolUseFailure" => Kind::PostToolUseFailure,
        "subagentStart" => Kind::SubagentStart,
        "subagentStop" => Kind::SubagentStop,
        "stop" => Kind::Stop,
        "sessionEnd" => Kind::SessionEnd,
        _ => Kind::Other,
    };
    let mut event = Event::new(Agent::Cursor, &native, kind);
    if native.is_empty() {
        event.unreadable = Some("the event has no `hook_event_name`".to_string());
    }
    event.session_id = text(payload, &["conversation_id", "session_id"]);
    event.tool_use_id = text(payload, &["tool_use_id", "generation_id"]);
    event.agent_id = text(payload, &["subagent_id", "agent_id"]);
    event.cwd = text(payload, &["cwd"]).or_else(|| {
        payload
            .get("workspace_roots")
            .and_then(Value::as_array)
            .and_then(|roots| roots.first())
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    event.transcript_path = text(payload, &["transcript_path"]);
    event.model = text(payload, &["model"]);
    event.version = text(payload, &["cursor_version"]);
    event.prompt = text(payload, &["prompt"]);
    event.source = text(payload, &["source"]);
    event.reason = text(payload, &["reason", "status"]);
    event.stop_hook_active = payload
        .get("loop_count")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 0);
    for key in ["tool_output", "output", "result_json"] {
        if let Some(response) = payload.get(key) {
            event.response_text = Some(crate::response_text(response));
            event.response = Some(response.clone());
            break;
        }
    }
    if matches!(
        kind,
        Kind::PreToolUse | Kind::PostToolUse | Kind::PostToolUseFailure
    ) {
        match tool_use(&native, payload) {
            Some(tool) => event.tool = Some(tool),
            None => {
                event.unreadable = Some(format!("`{native}` without the fields it documents"));
            }
        }
    }
    event
}

fn tool_use(native: &str, payload: &Value) -> Option<ToolUse> {
    let field = |key: &str| payload.get(key).and_then(Value::as_str);
    let (name, input) = match native {
        "beforeShellExecution" | "afterShellExecution" => {
            ("Shell".to_string(), json!({ "command": field("command")? }))
        }
        "beforeReadFile" => (
            "Read".to_string(),
            json!({ "file_path": field("file_path")? }),
        ),
        "afterFileEdit" => (
            "Edit".to_string(),
            json!({ "file_path": field("file_path")? }),
        ),
        "beforeMCPExecution" | "afterMCPExecution" => {
            let tool = field("tool_name")?;
            let server = field("server").or_else(|| field("server_name"));
            let name = match server {
                Some(server) if !tool.starts_with("mcp__") => format!("mcp__{server}__{tool}"),
                _ => tool.to_string(),
            };
            (name, mcp_input(payload.get("tool_input")))
        }
        _ => (
            field("tool_name")?.to_string(),
            payload.get("tool_input").cloned().unwrap_or(json!({})),
        ),
    };
    let calls = calls(&name, &input);
    Some(ToolUse { name, input, calls })
}

/// Older Cursor builds send MCP input as a JSON string.
fn mcp_input(input: Option<&Value>) -> Value {
    match input {
        Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(json!({ "input": text })),
        Some(other) => other.clone(),
        None => json!({}),
    }
}

/// Cursor's tool call in canonical calls.
pub fn calls(name: &str, input: &Value) -> Vec<Call> {
    let field = |key: &str| input.get(key).and_then(Value::as_str);
    let path = field("file_path")
        .or_else(|| field("path"))
        .or_else(|| field("target_file"));
    let simple = |tool: &str| vec![Call::new(tool, input.clone())];
    match name {
        "Shell" | "Bash" | "run_terminal_cmd" => match field("command") {
            Some(command) => vec![Call::new("Bash", json!({ "command": command }))],
            None => vec![Call::unknown(name, input)],
        },
        "Read" | "read_file" => match path {
            Some(path) => vec![Call::new("Read", json!({ "file_path": path }))],
            None => vec![Call::unknown(name, input)],
        },
        "Write" | "Edit" | "StrReplace" | "MultiEdit" | "Delete" | "edit_file" | "delete_file" => {
            match path {
                Some(path) => vec![Call::new(
                    if name == "Edit" || name == "StrReplace" {
                        "Edit"
                    } else {
                        "Write"
                    },
                    json!({
                        "file_path": path,
                        "old_string": field("old_string").unwrap_or(""),
                        "new_string": field("new_string").unwrap_or(""),
                        "content": field("content").or_else(|| field("contents")).unwrap_or(""),
                    }),
                )],
                None => vec![Call::unknown(name, input)],
            }
        }
        "Grep" | "grep_search" => vec![Call::new(
            "Grep",
            json!({ "pattern": field("pattern").or_else(|| field("query")).unwrap_or(""), "path": path.unwrap_or(".") }),
        )],
        "Glob" | "glob_file_search" => vec![Call::new(
            "Glob",
            json!({ "pattern": field("pattern").or_else(|| field("glob_pattern")).unwrap_or("**"), "path": path.unwrap_or(".") }),
        )],
        "LS" | "list_dir" => vec![Call::new("LS", json!({ "path": path.unwrap_or(".") }))],
        "WebFetch" => simple("WebFetch"),
        "WebSearch" | "web_search" => simple("WebSearch"),
        "Task" | "Agent" => vec![Call::new(
            "Agent",
            json!({
                "description": field("description").unwrap_or("subagent"),
                "prompt": field("prompt").unwrap_or(""),
                "subagent_type": field("subagent_type").unwrap_or("general-purpose"),
            }),
        )],
        "TodoWrite" | "todo_write" => simple("TodoWrite"),
        _ if name.starts_with("mcp__") => simple(name),
        _ => vec![Call::unknown(name, input)],
    }
}

/// The run's answer in Cursor's wire format.
pub fn answer(event: &Event, answer: &Answer) -> Outcome {
    let permission = |permission: &str, reason: &str| {
        Outcome::json(json!({
            "permission": permission,
            "decision": permission,
            "reason": reason,
            "user_message": reason,
            "agent_message": reason,
        }))
    };
    match (event.kind, answer) {
        (Kind::PreToolUse, Answer::Allow(reason)) => permission("allow", reason),
        (_, Answer::Nothing) | (_, Answer::Allow(_)) => Outcome::nothing(),
        (Kind::PreToolUse, Answer::Ask(reason)) => permission("ask", reason),
        (
            Kind::PreToolUse,
            Answer::Deny(reason) | Answer::Halt(reason) | Answer::Failure(reason),
        ) => permission("deny", reason),
        (
            Kind::UserPrompt,
            Answer::Deny(reason) | Answer::Halt(reason) | Answer::Failure(reason),
        ) => Outcome::json(json!({ "continue": false, "user_message": reason })),
        (Kind::Stop | Kind::SubagentStop, Answer::KeepGoing(reason)) => {
            Outcome::json(json!({ "followup_message": reason }))
        }
        (Kind::SessionStart, Answer::Context(text)) => {
            Outcome::json(json!({ "additional_context": text }))
        }
        (Kind::SessionStart, Answer::ContextAndWarning(text, warning)) => {
            Outcome::json(json!({ "additional_context": text, "user_message": warning }))
        }
        // Something the person and the model must know: Cursor's message fields for each,
        // and stderr for the log.
        (_, Answer::Notice(text)) => Outcome {
            stderr: text.clone(),
            ..Outcome::json(json!({ "user_message": text, "agent_message": text }))
        },
        (_, other) => Outcome::undecided(other),
    }
}
