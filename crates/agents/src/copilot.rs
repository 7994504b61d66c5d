//! Copilot CLI (1.0.102): `mandate hook copilot --event NAME`.
//!
//! Copilot speaks two dialects, chosen by how the hook is registered
//! (`research/other-agents.md` §3): camelCase events (`preToolUse`, `agentStop`, …) send
//! camelCase fields and Copilot's own tool names (`bash`, `view`, `create`, `edit`,
//! `apply_patch`, `task`, `server-tool`) and do **not** name the event, so the installed
//! command passes it (`--event preToolUse`); PascalCase events (`PreToolUse`, `Stop`, …)
//! send `hook_event_name`, snake_case fields and Claude-style names (`Bash`, `Read`,
//! `Edit`, `Write`, `Agent`) over the same inputs. Both are read here.
//!
//! `apply_patch` arrives as the bare patch text (the `toolArgs` is a string). MCP tools are
//! `server-tool` (`server/tool` in `permissionRequest`); a server name may itself hold a
//! `-`, so the known server names are tried longest first. Inside a subagent every event
//! carries `agentId`, `agentType`, `parentAgentId`, and `sessionId` is the subagent's own.
//! The version is in the hook's environment (`COPILOT_CLI_BINARY_VERSION`).
//!
//! Answers (§3.5): a deny is `{"permissionDecision":"deny","permissionDecisionReason"}`
//! (the PascalCase dialect also gets Claude's `hookSpecificOutput`); a crashing hook is a
//! deny on 1.0.102, but a timeout or output that is not JSON lets the call run. "ask" is
//! passed on (headless Copilot refuses it, interactive Copilot asks). The stop gate is
//! `{"decision":"block","reason"}` on `agentStop` / `subagentStop`; `permissionRequest`
//! answers `{"behavior":"deny","message"}`.

use serde_json::{Value, json};

use crate::{Agent, Answer, Call, Event, Kind, Outcome, ToolUse, patch_calls, text};

/// The camelCase events `mandate install --agent copilot` registers.
pub const EVENTS: &[&str] = &[
    "sessionStart",
    "userPromptSubmitted",
    "preToolUse",
    "permissionRequest",
    "postToolUse",
    "postToolUseFailure",
    "subagentStart",
    "subagentStop",
    "agentStop",
    "sessionEnd",
];

pub fn translate(payload: &Value, event_arg: Option<&str>, servers: &[String]) -> Event {
    // PascalCase payloads name their event; camelCase ones rely on the command line, and
    // `permissionRequest` payloads carry `hookName`.
    let native = text(payload, &["hook_event_name", "hookName"])
        .or_else(|| event_arg.map(str::to_string))
        .unwrap_or_default();
    let kind = match native.as_str() {
        "sessionStart" | "SessionStart" => Kind::SessionStart,
        "userPromptSubmitted" | "UserPromptSubmit" => Kind::UserPrompt,
        "preToolUse" | "PreToolUse" => Kind::PreToolUse,
        "permissionRequest" | "PermissionRequest" => Kind::PermissionRequest,
        "postToolUse" | "PostToolUse" => Kind::PostToolUse,
        "postToolUseFailure" | "PostToolUseFailure" => Kind::PostToolUseFailure,
        "subagentStart" | "SubagentStart" => Kind::SubagentStart,
        "subagentStop" | "SubagentStop" => Kind::SubagentStop,
        "agentStop" | "Stop" => Kind::Stop,
        "sessionEnd" | "SessionEnd" => Kind::SessionEnd,
        _ => Kind::Other,
    };
    // A subagent's own `agentStop` comes with a `subagentStop` for the same moment: the
    // stop gate answers that one, so this one is only recorded.
    let kind = if kind == Kind::Stop && text(payload, &["agentId", "agent_id"]).is_some() {
        Kind::Other
    } else {
        kind
    };
    let mut event = Event::new(Agent::Copilot, &native, kind);
    if native.is_empty() {
        event.unreadable = Some(
            "the event is not named (camelCase hooks need `--event NAME` on the command line)"
                .to_string(),
        );
    }
    event.session_id = text(payload, &["sessionId", "session_id"]);
    event.agent_id = text(payload, &["agentId", "agent_id"]);
    event.agent_type = text(payload, &["agentType", "agent_type"]);
    event.parent_agent_id = text(payload, &["parentAgentId", "parent_agent_id"]);
    if event.parent_agent_id.is_some() {
        // The session is the top-level agent's; `sessionId` is the subagent's own there.
        if kind != Kind::SubagentStart && kind != Kind::SubagentStop {
            event.session_id = event.parent_agent_id.clone();
        }
    }
    event.cwd = text(payload, &["cwd"]);
    event.transcript_path = text(payload, &["transcriptPath", "transcript_path"]);
    event.prompt = text(payload, &["prompt", "initialPrompt", "initial_prompt"]);
    event.source = text(payload, &["source"]);
    event.reason = text(payload, &["reason", "stopReason", "stop_reason"]);
    event.stop_hook_active = payload
        .get("stop_hook_active")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(result) = payload
        .get("toolResult")
        .or_else(|| payload.get("tool_result"))
    {
        let kind_of = text(result, &["resultType", "result_type"]).unwrap_or_default();
        if kind_of == "failure" || kind_of == "error" || kind_of == "denied" {
            event.kind = Kind::PostToolUseFailure;
        }
        event.response_text = text(result, &["textResultForLlm", "text_result_for_llm"]);
        // A shell result ends `<shellId: N completed with exit code X>`.
        event.exit_status = event.response_text.as_deref().and_then(|t| {
            let tail = t.rsplit("with exit code ").next()?;
            tail.trim_end_matches(['>', '\n', ' ']).parse().ok()
        });
        event.response = Some(result.clone());
    } else if let Some(error) = payload.get("error") {
        event.response_text = Some(crate::response_text(error));
        event.response = Some(error.clone());
    }
    if matches!(
        kind,
        Kind::PreToolUse | Kind::PermissionRequest | Kind::PostToolUse | Kind::PostToolUseFailure
    ) {
        let name = text(payload, &["toolName", "tool_name"]);
        let input = ["toolArgs", "tool_input", "toolInput"]
            .iter()
            .find_map(|k| payload.get(*k));
        match (name, input) {
            (Some(name), Some(input)) => {
                let calls = if kind == Kind::PermissionRequest {
                    permission_calls(&name, input, servers)
                } else {
                    calls(&name, input, servers)
                };
                event.tool = Some(ToolUse {
                    name,
                    input: input.clone(),
                    calls,
                });
            }
            _ => {
                event.unreadable = Some("the event has no tool name or no tool input".to_string());
            }
        }
    }
    event
}

/// Copilot's tool call (either dialect) in canonical calls.
pub fn calls(name: &str, input: &Value, servers: &[String]) -> Vec<Call> {
    // The bare patch string of `apply_patch` (camelCase) or `Edit` (PascalCase).
    if let Some(patch) = input.as_str() {
        return match name {
            "apply_patch" | "Edit" | "Write" => patch_calls(patch),
            _ => vec![Call::unknown(name, input)],
        };
    }
    let field = |key: &str| input.get(key).and_then(Value::as_str);
    let path = field("path").or_else(|| field("file_path"));
    match name {
        "bash" | "Bash" => match field("command") {
            Some(command) => vec![Call::new("Bash", json!({ "command": command }))],
            None => vec![Call::unknown(name, input)],
        },
        // Reading, stopping or listing shells the hook judged when they started.
        "read_bash" => vec![Call::new("BashOutput", object(input))],
        "stop_bash" => vec![Call::new("KillShell", object(input))],
        "list_bash" => vec![Call::new("TaskList", object(input))],
        "view" | "Read" => match path {
            Some(path) => vec![Call::new("Read", json!({ "file_path": path }))],
            None => vec![Call::unknown(name, input)],
        },
        "create" | "Write" => match path {
            Some(path) => vec![Call::new(
                "Write",
                json!({ "file_path": path, "content": field("file_text").or_else(|| field("content")).unwrap_or("") }),
            )],
            None => vec![Call::unknown(name, input)],
        },
        "edit" | "str_replace" | "Edit" => match path {
            Some(path) => vec![Call::new(
                "Edit",
                json!({
                    "file_path": path,
                    "old_string": field("old_str").or_else(|| field("old_string")).unwrap_or(""),
                    "new_string": field("new_str").or_else(|| field("new_string")).unwrap_or(""),
                }),
            )],
            None => vec![Call::unknown(name, input)],
        },
        "apply_patch" => match field("patch").or_else(|| field("input")) {
            Some(patch) => patch_calls(patch),
            None => vec![Call::unknown(name, input)],
        },
        "rg" | "grep" | "Grep" => vec![Call::new(
            "Grep",
            json!({ "pattern": field("pattern").unwrap_or(""), "path": path.unwrap_or(".") }),
        )],
        "glob" | "Glob" => vec![Call::new(
            "Glob",
            json!({ "pattern": field("pattern").unwrap_or("**"), "path": path.unwrap_or(".") }),
        )],
        "web_fetch" | "WebFetch" => match field("url") {
            Some(url) => vec![Call::new("WebFetch", json!({ "url": url }))],
            None => vec![Call::unknown(name, input)],
        },
        "web_search" | "WebSearch" => vec![Call::new(
            "WebSearch",
            json!({ "query": field("query").unwrap_or("") }),
        )],
        "task" | "Agent" => vec![Call::new(
            "Agent",
            json!({
                "description": field("description").or_else(|| field("name")).unwrap_or("subagent"),
                "prompt": field("prompt").unwrap_or(""),
                "subagent_type": field("agent_type").unwrap_or("general-purpose"),
            }),
        )],
        "write_agent" => vec![Call::new(
            "Agent",
            json!({
                "description": "message to a running subagent",
                "prompt": field("message").or_else(|| field("prompt")).unwrap_or(""),
                "subagent_type": "general-purpose",
            }),
        )],
        "read_agent" => vec![Call::new("TaskOutput", object(input))],
        "list_agents" => vec![Call::new("TaskList", object(input))],
        "report_intent" | "update_todo" => vec![Call::new("TodoWrite", object(input))],
        "ask_user" => vec![Call::new("AskUserQuestion", object(input))],
        _ => match mcp_name(name, '-', servers) {
            Some(canonical) => vec![Call::new(&canonical, object(input))],
            None => vec![Call::unknown(name, input)],
        },
    }
}

/// `permissionRequest` names tools its own way: `edit` with `{file_path, diff}` once per
/// file of a patch, `server/tool` for MCP.
fn permission_calls(name: &str, input: &Value, servers: &[String]) -> Vec<Call> {
    let field = |key: &str| input.get(key).and_then(Value::as_str);
    if let ("edit" | "create" | "write", Some(path)) = (name, field("file_path")) {
        return vec![Call::new(
            "Edit",
            json!({ "file_path": path, "old_string": "", "new_string": field("diff").unwrap_or("") }),
        )];
    }
    if name.contains('/')
        && let Some(canonical) = mcp_name(name, '/', servers)
    {
        return vec![Call::new(&canonical, object(input))];
    }
    calls(name, input, servers)
}

/// `mcp__server__tool` from Copilot's `server-tool`: a known server name (longest first)
/// that the name starts with, else the text before the first separator. Copilot's own
/// tools hold no `-`, so a name with one is an MCP tool.
fn mcp_name(name: &str, separator: char, servers: &[String]) -> Option<String> {
    let mut known: Vec<&String> = servers.iter().collect();
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for server in known {
        if let Some(tool) = name
            .strip_prefix(server.as_str())
            .and_then(|rest| rest.strip_prefix(separator))
            .filter(|tool| !tool.is_empty())
        {
            return Some(format!("mcp__{server}__{tool}"));
        }
    }
    let (server, tool) = name.split_once(separator)?;
    (!server.is_empty() && !tool.is_empty()).then(|| format!("mcp__{server}__{tool}"))
}

fn object(input: &Value) -> Value {
    if input.is_object() {
        input.clone()
    } else {
        json!({ "input": input })
    }
}

fn pascal(event: &Event) -> bool {
    event.native.starts_with(|c: char| c.is_ascii_uppercase())
}

/// The run's answer in Copilot's wire format.
pub fn answer(event: &Event, answer: &Answer) -> Outcome {
    let pre_tool = |decision: &str, reason: &str| {
        let mut value = json!({
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        });
        if pascal(event)
            && let Some(object) = value.as_object_mut()
        {
            object.insert(
                "hookSpecificOutput".into(),
                json!({
                    "hookEventName": "PreToolUse",
                    "permissionDecision": decision,
                    "permissionDecisionReason": reason,
                }),
            );
        }
        Outcome::json(value)
    };
    match (event.kind, answer) {
        (_, Answer::Nothing) | (_, Answer::Allow(_)) => Outcome::nothing(),
        (Kind::PreToolUse, Answer::Ask(reason)) => pre_tool("ask", reason),
        (
            Kind::PreToolUse,
            Answer::Deny(reason) | Answer::Halt(reason) | Answer::Failure(reason),
        ) => pre_tool("deny", reason),
        (
            Kind::PermissionRequest,
            Answer::Deny(reason) | Answer::Halt(reason) | Answer::Failure(reason),
        ) => Outcome::json(json!({ "behavior": "deny", "message": reason })),
        (
            Kind::Stop | Kind::SubagentStop,
            Answer::KeepGoing(reason) | Answer::Deny(reason) | Answer::Halt(reason),
        ) => Outcome::json(json!({ "decision": "block", "reason": reason })),
        (Kind::SessionStart, Answer::Context(text)) => {
            Outcome::json(json!({ "additionalContext": text }))
        }
        // Copilot has no field shown to the person: the warning goes to the model with
        // the context (it tells the person), and to stderr for the log.
        (Kind::SessionStart, Answer::ContextAndWarning(text, warning)) => Outcome {
            stderr: warning.clone(),
            ..Outcome::json(json!({ "additionalContext": format!("{text}\n\n{warning}") }))
        },
        // Something the person and the model must know: as context for the model, which
        // is told to say it, and on stderr for the log.
        (_, Answer::Notice(text)) => Outcome {
            stderr: text.clone(),
            ..Outcome::json(json!({ "additionalContext": text }))
        },
        (_, other) => Outcome::undecided(other),
    }
}

/// The Copilot version the hook runs under.
pub fn version_from_env() -> Option<String> {
    std::env::var("COPILOT_CLI_BINARY_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
}
