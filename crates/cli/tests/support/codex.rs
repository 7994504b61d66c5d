//! Codex CLI (0.169.0) end to end: the OpenAI Responses API as Codex speaks it, and the
//! real `codex exec` run headless against the scripted model ([`super::scripted`]).
//!
//! Codex posts `POST /v1/responses` (streamed) with the whole conversation in `input`; a
//! tool result is a `function_call_output` / `custom_tool_call_output` item of the same
//! `call_id`. A subagent's task arrives as a user message or, in multi-agent v2, as an
//! `agent_message` holding [`SUB_MARK`]. Codex has no file-read tool (reads go through
//! the shell), files are written and edited with `apply_patch`, MCP tools are namespaced
//! `mcp__SERVER`, and a subagent is `collaboration.spawn_agent`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::{Value, json};

use super::billing::Billing;
use super::scripted::{
    AgentCli, SUB_MARK, ScriptedModel, Step, Turn, Wire, has_tool_list, http, not_found, patch_add,
    patch_update, path_with, text_of,
};

pub struct Codex;

impl AgentCli for Codex {
    const NAME: &'static str = "codex";
    const BIN_VAR: &'static str = "MANDATE_CODEX_BIN";
    /// The npm launcher, as users run it (it tells hooks Codex's version).
    const INSTALLED: &'static str = "agents/codex/node_modules/@openai/codex/bin/codex.js";
    const IDENTITY: &'static str = "codex 0.169.0";

    fn wire() -> Arc<dyn Wire> {
        Arc::new(Responses)
    }

    /// Codex's sandbox helper refuses a `CODEX_HOME` under `/tmp`.
    fn temp_parent() -> PathBuf {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
    }

    /// The user config Codex reads: the scripted model as its provider (its address is
    /// given per run with `-c`), multi-agent v2, and the billing MCP servers.
    fn configure(billing: &Billing, calls_log: &Path, path_prefix: &Path) {
        // Codex runs commands in a login shell, and the system profile resets PATH: the
        // developer's profile puts their tools (and mandate) back, as on a real machine.
        std::fs::write(
            billing.home.join(".bash_profile"),
            format!("export PATH={}\n", json!(path_with(path_prefix))),
        )
        .expect("write .bash_profile");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp");
        let server = |name: &str| {
            format!(
                "[mcp_servers.{name}]\ncommand = \"python3\"\nargs = [{}]\nenv = {{ MCP_CALL_LOG = {} }}\n\n",
                json!(fixtures.join(format!("{name}.py"))),
                json!(calls_log)
            )
        };
        let config = format!(
            "# the developer's own settings, which mandate install must keep\n\
             model = \"gpt-5.5\"\nmodel_provider = \"scripted\"\napproval_policy = \"never\"\n\n\
             [model_providers.scripted]\nname = \"scripted\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
             env_key = \"FAKE_KEY\"\nwire_api = \"responses\"\n\n[features]\nmulti_agent_v2 = true\n\n{}{}",
            server("jira"),
            server("notes")
        );
        let dir = billing.home.join(".codex");
        std::fs::create_dir_all(&dir).expect("CODEX_HOME");
        std::fs::write(dir.join("config.toml"), config).expect("write the Codex config");
    }

    /// `codex exec PROMPT` with `HOME/.codex` as CODEX_HOME — no trust-bypass flag.
    fn command(bin: &Path, model: &ScriptedModel, billing: &Billing, prompt: &str) -> Command {
        let mut command = Command::new(bin);
        command
            .args(["exec", "--skip-git-repo-check", "-c"])
            .arg(format!(
                "model_providers.scripted.base_url={}",
                json!(format!("{}/v1", model.origin()))
            ))
            .arg(prompt)
            .env("CODEX_HOME", billing.home.join(".codex"))
            .env("FAKE_KEY", "dummy")
            .env_remove("OPENAI_API_KEY");
        command
    }

    fn refused_by_hook(told: &str) -> bool {
        told.contains("blocked by PreToolUse hook")
    }

    fn failed(told: &str) -> bool {
        told.contains("blocked by PreToolUse hook") || told.contains("rejected")
    }

    fn shell(command: &str) -> Step {
        Step::call("exec_command", json!({ "cmd": command }))
    }

    fn read(path: &str) -> Step {
        Self::shell(&format!("cat {path}"))
    }

    fn write(path: &str, content: &str) -> Step {
        patch_add(path, content)
    }

    fn edit(path: &str, old: &str, new: &str) -> Step {
        patch_update(path, old, new)
    }

    fn mcp(server: &str, tool: &str, args: Value) -> Step {
        Step::namespaced(&format!("mcp__{server}"), tool, args)
    }

    fn subagent(task: &str) -> Step {
        Step::namespaced(
            "collaboration",
            "spawn_agent",
            json!({ "task_name": "helper", "message": task, "fork_turns": "none" }),
        )
    }

    fn after_subagent() -> Vec<Step> {
        vec![Step::namespaced(
            "collaboration",
            "wait_agent",
            json!({ "timeout_ms": 60000 }),
        )]
    }

    /// `web_search` runs on the provider's side: no hook event, nothing to script.
    fn web_tool(_url: &str) -> Option<Step> {
        None
    }
}

/// The Responses API (`POST /v1/responses`, server-sent events).
pub struct Responses;

fn input(request: &Value) -> &[Value] {
    request
        .get("input")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn is_output(item: &Value) -> bool {
    item.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.ends_with("_output"))
}

impl Wire for Responses {
    fn side(&self, method: &str, path: &str) -> Option<Vec<u8>> {
        let route = path.split('?').next().unwrap_or("");
        (method != "POST" || !route.ends_with("/responses")).then(not_found)
    }

    fn offers_tools(&self, request: &Value) -> bool {
        has_tool_list(request)
    }

    /// The task (a user message, or an `agent_message` addressed to the subagent) holds
    /// the marker; in the parent's conversation it is only inside `spawn_agent`'s
    /// arguments.
    fn in_subagent(&self, request: &Value) -> bool {
        input(request).iter().any(|item| {
            let kind = item.get("type").and_then(Value::as_str);
            let user = item.get("role").and_then(Value::as_str) == Some("user");
            (kind == Some("agent_message") || user) && item.to_string().contains(SUB_MARK)
        })
    }

    fn results_held(&self, request: &Value) -> usize {
        input(request).iter().filter(|i| is_output(i)).count()
    }

    fn result(&self, request: &Value, call_id: &str, index: usize) -> Option<String> {
        let outputs: Vec<&Value> = input(request).iter().filter(|i| is_output(i)).collect();
        let found = if call_id.is_empty() {
            outputs.get(index).copied()
        } else {
            outputs
                .into_iter()
                .find(|i| i.get("call_id").and_then(Value::as_str) == Some(call_id))
        };
        found.map(|item| text_of(item.get("output")))
    }

    fn user_texts(&self, request: &Value) -> Vec<String> {
        input(request)
            .iter()
            .filter(|i| i.get("role").and_then(Value::as_str) == Some("user"))
            .map(|i| text_of(i.get("content")))
            .collect()
    }

    fn reply(&self, request: &Value, _path: &str, turn: Turn<'_>) -> Vec<u8> {
        let done = self.results_held(request);
        let id = format!("resp_{done}_{}", self.in_subagent(request));
        let item = match turn {
            Turn::Call(step, call_id) => match step {
                Step::Call {
                    namespace,
                    name,
                    args,
                } => {
                    let mut item = json!({
                        "type": "function_call", "id": format!("fc_{call_id}"),
                        "status": "completed", "call_id": call_id, "name": name,
                        "arguments": args.to_string(),
                    });
                    if let (Some(ns), Some(object)) = (namespace, item.as_object_mut()) {
                        object.insert("namespace".into(), json!(ns));
                    }
                    item
                }
                Step::Freeform { name, input } => json!({
                    "type": "custom_tool_call", "id": format!("ctc_{call_id}"),
                    "status": "completed", "call_id": call_id, "name": name, "input": input,
                }),
            },
            Turn::Text => json!({
                "type": "message", "role": "assistant", "id": format!("msg_{id}"),
                "status": "completed",
                "content": [{ "type": "output_text", "text": "All done.", "annotations": [] }],
            }),
        };
        let usage = json!({
            "input_tokens": 10, "input_tokens_details": { "cached_tokens": 0 },
            "output_tokens": 5, "output_tokens_details": { "reasoning_tokens": 0 },
            "total_tokens": 15,
        });
        let events = [
            json!({ "type": "response.created", "response": { "id": id } }),
            json!({ "type": "response.output_item.added", "output_index": 0, "item": item }),
            json!({ "type": "response.output_item.done", "output_index": 0, "item": item }),
            json!({ "type": "response.completed", "response": {
                "id": id, "object": "response", "status": "completed",
                "model": request.get("model"), "output": [], "usage": usage,
            }}),
        ];
        let mut text = String::new();
        for event in events {
            let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
            text.push_str(&format!("event: {kind}\ndata: {event}\n\n"));
        }
        http(200, "text/event-stream", &text)
    }
}
