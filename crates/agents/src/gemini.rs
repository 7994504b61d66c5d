//! Gemini CLI (0.61.0): `mandate hook gemini`.
//!
//! Events: `SessionStart`, `BeforeAgent` (a prompt), `BeforeTool`, `AfterTool`,
//! `AfterAgent` (the turn ends: the stop gate), `SessionEnd`; the model and compression
//! events are only recorded. Tool input is exactly what the model sent; relative paths
//! are relative to `cwd`. MCP tools are `mcp_<server>_<tool>` with the split in
//! `mcp_context` (the name alone is ambiguous when a server name holds `_`). There are no
//! subagent events, and a subagent's calls carry nothing that tells them apart: they are
//! judged by the same contract, attributed to the session.
//!
//! Answers (`research/other-agents.md` §2.5): a deny is `{"decision":"deny","reason"}`;
//! an allow is `{}`. Gemini lets the call run when the hook exits 1, times out or prints
//! something that is not JSON, and hangs on "ask" in headless mode: mandate never asks.
//! A halt adds `continue: false`, which ends the agent loop. `AfterAgent` with
//! `decision: "deny"` sends the reason back as a new prompt (the stop gate).

use serde_json::{Value, json};

use crate::{Agent, Answer, Call, Event, Kind, Outcome, ToolUse, text};

pub fn translate(payload: &Value) -> Event {
    let native = text(payload, &["hook_event_name"]).unwrap_or_default();
    let kind = match native.as_str() {
        "SessionStart" => Kind::SessionStart,
        "BeforeAgent" => Kind::UserPrompt,
        "BeforeTool" => Kind::PreToolUse,
        "AfterTool" => Kind::PostToolUse,
        "AfterAgent" => Kind::Stop,
        "SessionEnd" => Kind::SessionEnd,
        _ => Kind::Other,
    };
    let mut event = Event::new(Agent::Gemini, &native, kind);
    if native.is_empty() {
        event.unreadable = Some("the event has no `hook_event_name`".to_string());
    }
    event.session_id = text(payload, &["session_id"]);
    event.cwd = text(payload, &["cwd"]);
    event.transcript_path = text(payload, &["transcript_path"]);
    event.prompt = text(payload, &["prompt"]);
    event.source = text(payload, &["source"]);
    event.reason = text(payload, &["reason"]);
    event.stop_hook_active = payload
        .get("stop_hook_active")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(response) = payload.get("tool_response") {
        let failed = response.get("error").is_some_and(|e| !e.is_null());
        if failed {
            event.kind = Kind::PostToolUseFailure;
        }
        let llm = response.get("llmContent").unwrap_or(response);
        let text = match llm {
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            other => crate::response_text(other),
        };
        event.response_text = Some(text);
        event.response = Some(response.clone());
    }
    if matches!(kind, Kind::PreToolUse | Kind::PostToolUse) {
        match (
            payload.get("tool_name").and_then(Value::as_str),
            payload.get("tool_input"),
        ) {
            (Some(name), Some(input)) => {
                event.tool = Some(ToolUse {
                    name: name.to_string(),
                    input: input.clone(),
                    calls: calls(name, input, payload.get("mcp_context")),
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

/// Gemini's tool call in canonical calls.
pub fn calls(name: &str, input: &Value, mcp_context: Option<&Value>) -> Vec<Call> {
    let field = |key: &str| input.get(key).and_then(Value::as_str);
    let dir = field("dir_path").or_else(|| field("directory"));
    let with_dir = |mut call: Call| {
        call.cwd = dir.map(str::to_string);
        call
    };
    let path_call = |tool: &str, key: &str| match field(key) {
        Some(path) => vec![Call::new(tool, json!({ "file_path": path }))],
        None => vec![Call::unknown(name, input)],
    };
    match name {
        "run_shell_command" => match field("command") {
            Some(command) => vec![with_dir(Call::new("Bash", json!({ "command": command })))],
            None => vec![Call::unknown(name, input)],
        },
        "read_file" => path_call("Read", "file_path"),
        "read_many_files" => {
            let paths: Vec<&str> = ["include", "paths"]
                .iter()
                .filter_map(|k| input.get(*k).and_then(Value::as_array))
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if paths.is_empty() {
                return vec![Call::unknown(name, input)];
            }
            paths
                .into_iter()
                .map(|p| {
                    if p.contains(['*', '?', '[', '{']) {
                        with_dir(Call::new("Glob", json!({ "pattern": p })))
                    } else {
                        with_dir(Call::new("Read", json!({ "file_path": p })))
                    }
                })
                .collect()
        }
        "write_file" => match field("file_path") {
            Some(path) => vec![Call::new(
                "Write",
                json!({ "file_path": path, "content": field("content").unwrap_or("") }),
            )],
            None => vec![Call::unknown(name, input)],
        },
        "replace" => match field("file_path") {
            Some(path) => vec![Call::new(
                "Edit",
                json!({
                    "file_path": path,
                    "old_string": field("old_string").unwrap_or(""),
                    "new_string": field("new_string").unwrap_or(""),
                }),
            )],
            None => vec![Call::unknown(name, input)],
        },
        "list_directory" => vec![Call::new(
            "LS",
            json!({ "path": dir.or_else(|| field("path")).unwrap_or(".") }),
        )],
        "glob" => vec![Call::new(
            "Glob",
            json!({ "pattern": field("pattern").unwrap_or("**"), "path": dir.unwrap_or(".") }),
        )],
        "grep_search" | "search_file_content" => vec![Call::new(
            "Grep",
            json!({ "pattern": field("pattern").unwrap_or(""), "path": dir.unwrap_or(".") }),
        )],
        "web_fetch" => {
            // 0.61 takes a prompt holding the URLs; older builds a `url`.
            let urls: Vec<String> = match field("url") {
                Some(url) => vec![url.to_string()],
                None => urls_in(field("prompt").unwrap_or("")),
            };
            if urls.is_empty() {
                return vec![Call::unknown(name, input)];
            }
            urls.into_iter()
                .map(|url| Call::new("WebFetch", json!({ "url": url })))
                .collect()
        }
        "google_web_search" => vec![Call::new(
            "WebSearch",
            json!({ "query": field("query").unwrap_or("") }),
        )],
        "save_memory" => vec![Call::new(
            "Write",
            json!({ "file_path": "~/.gemini/GEMINI.md", "content": field("fact").unwrap_or("") }),
        )],
        "invoke_agent" => vec![Call::new(
            "Agent",
            json!({
                "description": field("agent_name").unwrap_or("subagent"),
                "prompt": field("prompt").unwrap_or(""),
                "subagent_type": field("agent_name").unwrap_or("generalist"),
            }),
        )],
        // The conversation's own bookkeeping: a to-do list, the topic shown to the user.
        "write_todos" | "update_topic" => vec![Call::new("TodoWrite", object(input))],
        "enter_plan_mode" => vec![Call::new("EnterPlanMode", object(input))],
        "exit_plan_mode" => vec![Call::new("ExitPlanMode", object(input))],
        "ask_user" => vec![Call::new("AskUserQuestion", object(input))],
        // A subagent reports back: the conversation only.
        "complete_task" => vec![Call::new("TaskUpdate", object(input))],
        "list_background_processes" => vec![Call::new("TaskList", object(input))],
        "read_background_output" => vec![Call::new("BashOutput", object(input))],
        _ => match mcp_name(name, mcp_context) {
            Some(canonical) => vec![Call::new(&canonical, object(input))],
            None => vec![Call::unknown(name, input)],
        },
    }
}

/// `mcp__server__tool` for an MCP call: from `mcp_context` when Gemini sends it, else
/// from `mcp_<server>_<tool>` split at the first `_` after the prefix.
fn mcp_name(name: &str, context: Option<&Value>) -> Option<String> {
    let from_context = context.and_then(|c| {
        let server = c.get("server_name")?.as_str()?;
        let tool = c.get("tool_name")?.as_str()?;
        Some(format!("mcp__{server}__{tool}"))
    });
    from_context.or_else(|| {
        let rest = name.strip_prefix("mcp_")?;
        let (server, tool) = rest.split_once('_')?;
        (!server.is_empty() && !tool.is_empty()).then(|| format!("mcp__{server}__{tool}"))
    })
}

fn urls_in(prompt: &str) -> Vec<String> {
    prompt
        .split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '(' | ')'))
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(|w| w.trim_end_matches(['.', ',', ';']).to_string())
        .collect()
}

fn object(input: &Value) -> Value {
    if input.is_object() {
        input.clone()
    } else {
        json!({ "input": input })
    }
}

/// The run's answer in Gemini's wire format.
pub fn answer(event: &Event, answer: &Answer) -> Outcome {
    match (event.kind, answer) {
        (_, Answer::Nothing) | (_, Answer::Allow(_)) => Outcome::nothing(),
        (
            Kind::PreToolUse,
            Answer::Deny(reason) | Answer::Ask(reason) | Answer::Failure(reason),
        ) => Outcome::json(json!({ "decision": "deny", "reason": reason })),
        (Kind::PreToolUse | Kind::UserPrompt, Answer::Halt(reason)) => Outcome::json(json!({
            "decision": "deny",
            "reason": reason,
            "continue": false,
            "stopReason": reason,
        })),
        (
            Kind::UserPrompt,
            Answer::Deny(reason) | Answer::Failure(reason) | Answer::KeepGoing(reason),
        ) => Outcome::json(json!({ "decision": "deny", "reason": reason })),
        (Kind::Stop, Answer::KeepGoing(reason) | Answer::Deny(reason)) => {
            Outcome::json(json!({ "decision": "deny", "reason": reason }))
        }
        (Kind::Stop, Answer::Halt(reason)) => {
            Outcome::json(json!({ "continue": false, "stopReason": reason }))
        }
        (Kind::SessionStart, Answer::Context(text)) => Outcome::session_context(text, None),
        // Gemini shows `systemMessage` to the person.
        (Kind::SessionStart, Answer::ContextAndWarning(text, warning)) => {
            Outcome::session_context(text, Some(warning))
        }
        // After a tool call, AfterTool's `additionalContext` reaches the model with the
        // tool's result.
        (Kind::PostToolUse | Kind::PostToolUseFailure, Answer::Notice(text)) => {
            Outcome::notice(text, Some(&event.native))
        }
        (_, Answer::Notice(text)) => Outcome::notice(text, None),
        (_, other) => Outcome::undecided(other),
    }
}
