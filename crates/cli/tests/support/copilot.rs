//! Copilot CLI (1.0.102) end to end: OpenAI Chat Completions as Copilot speaks it with a
//! bring-your-own-key provider, and the real `copilot -p` run headless and offline
//! (`COPILOT_OFFLINE=true`, `COPILOT_PROVIDER_BASE_URL`) against the scripted model
//! ([`super::scripted`]).
//!
//! Copilot posts `POST /v1/chat/completions` (streamed) with the whole conversation in
//! `messages`; a tool result is a `role: "tool"` message of the same `tool_call_id`. With a
//! GPT model (`gpt-5.4`) Copilot offers `bash`, `view`, `apply_patch` (a freeform tool, in
//! the patch format Codex uses too), `task` for subagents and MCP tools as
//! `SERVER-TOOL`; offline it offers no web tool. A subagent's conversation opens with its
//! task as the user message.
//!
//! On first run Copilot unpacks its runtime into `$XDG_CACHE_HOME/copilot` (235 MB): every
//! test shares one cache under the target folder, unpacked once before the first session.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Once};

use serde_json::{Value, json};

use super::billing::Billing;
use super::scripted::{
    AgentCli, SUB_MARK, ScriptedModel, Step, Turn, Wire, has_tool_list, http, not_found, patch_add,
    patch_update, text_of,
};

pub struct Copilot;

/// Where Copilot unpacks itself, shared by every test.
fn cache_home() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("copilot-cache")
}

static UNPACKED: Once = Once::new();

impl AgentCli for Copilot {
    const NAME: &'static str = "copilot";
    const BIN_VAR: &'static str = "MANDATE_COPILOT_BIN";
    const INSTALLED: &'static str = "agents/copilot/node_modules/@github/copilot-linux-x64/copilot";
    /// From the hook's environment (`COPILOT_CLI_BINARY_VERSION`).
    const IDENTITY: &'static str = "copilot 1.0.102";

    fn wire() -> Arc<dyn Wire> {
        Arc::new(ChatCompletions)
    }

    /// The MCP servers Copilot reads (`~/.copilot/mcp-config.json`); `mandate install`
    /// writes the hooks into `~/.copilot/settings.json` beside the developer's settings.
    fn configure(billing: &Billing, calls_log: &Path, _path_prefix: &Path) {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp");
        let server = |name: &str| {
            json!({
                "type": "local",
                "command": "python3",
                "args": [fixtures.join(format!("{name}.py"))],
                "env": { "MCP_CALL_LOG": calls_log },
                "tools": ["*"],
            })
        };
        let dir = billing.home.join(".copilot");
        std::fs::create_dir_all(&dir).expect("~/.copilot");
        std::fs::write(
            dir.join("mcp-config.json"),
            json!({ "mcpServers": { "jira": server("jira"), "notes": server("notes") } })
                .to_string(),
        )
        .expect("write the Copilot MCP config");
        // The developer's own setting, which `mandate install` must keep.
        std::fs::write(
            dir.join("settings.json"),
            json!({ "theme": "dark" }).to_string(),
        )
        .expect("write the Copilot settings");
    }

    /// `copilot -p PROMPT --allow-all-tools` (headless Copilot refuses every tool that
    /// would need a person otherwise), offline against the scripted model.
    fn command(bin: &Path, model: &ScriptedModel, billing: &Billing, prompt: &str) -> Command {
        let cache = cache_home();
        UNPACKED.call_once(|| {
            let _ = std::fs::create_dir_all(&cache);
            let _ = Command::new(bin)
                .arg("--version")
                .env("HOME", &billing.home)
                .env("XDG_CACHE_HOME", &cache)
                .env("COPILOT_AUTO_UPDATE", "false")
                .output();
        });
        let mut command = Command::new(bin);
        command
            .args(["-p", prompt, "--allow-all-tools", "--no-auto-update"])
            .env("XDG_CACHE_HOME", &cache)
            .env("COPILOT_OFFLINE", "true")
            .env("COPILOT_AUTO_UPDATE", "false")
            .env(
                "COPILOT_PROVIDER_BASE_URL",
                format!("{}/v1", model.origin()),
            )
            .env("COPILOT_PROVIDER_API_KEY", "dummy")
            .env("COPILOT_MODEL", "gpt-5.4")
            .env_remove("COPILOT_HOME")
            .env_remove("COPILOT_ALLOW_ALL")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GH_TOKEN")
            .env_remove("COPILOT_GITHUB_TOKEN");
        command
    }

    fn refused_by_hook(told: &str) -> bool {
        told.contains("Denied by preToolUse hook")
    }

    fn failed(told: &str) -> bool {
        told.contains("Denied by")
            || told.contains("denied")
            || told.contains("does not exist")
            || told.starts_with("Error")
    }

    fn shell(command: &str) -> Step {
        Step::call(
            "bash",
            json!({ "command": command, "description": "scripted step" }),
        )
    }

    fn read(path: &str) -> Step {
        Step::call("view", json!({ "path": path }))
    }

    fn write(path: &str, content: &str) -> Step {
        patch_add(path, content)
    }

    fn edit(path: &str, old: &str, new: &str) -> Step {
        patch_update(path, old, new)
    }

    fn mcp(server: &str, tool: &str, args: Value) -> Step {
        Step::call(&format!("{server}-{tool}"), args)
    }

    fn subagent(task: &str) -> Step {
        Step::call(
            "task",
            json!({
                "name": "helper", "description": "look at the export filter",
                "agent_type": "general-purpose", "prompt": task,
            }),
        )
    }

    /// `COPILOT_OFFLINE` takes the web tools away: only the shell reaches the web here.
    fn web_tool(_url: &str) -> Option<Step> {
        None
    }
}

/// Chat Completions (`POST /v1/chat/completions`).
pub struct ChatCompletions;

fn messages(request: &Value) -> &[Value] {
    request
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn role(message: &Value) -> &str {
    message.get("role").and_then(Value::as_str).unwrap_or("")
}

impl Wire for ChatCompletions {
    fn side(&self, method: &str, path: &str) -> Option<Vec<u8>> {
        let route = path.split('?').next().unwrap_or("");
        if method == "GET" && route.ends_with("/models") {
            return Some(http(
                200,
                "application/json",
                &json!({ "object": "list", "data": [
                    { "id": "gpt-5.4", "object": "model", "created": 0, "owned_by": "scripted" }
                ]})
                .to_string(),
            ));
        }
        (method != "POST" || !route.ends_with("/chat/completions")).then(not_found)
    }

    fn offers_tools(&self, request: &Value) -> bool {
        has_tool_list(request)
    }

    /// The subagent's conversation opens with its task as the first user message.
    fn in_subagent(&self, request: &Value) -> bool {
        messages(request)
            .iter()
            .find(|m| role(m) == "user")
            .is_some_and(|m| text_of(m.get("content")).contains(SUB_MARK))
    }

    fn results_held(&self, request: &Value) -> usize {
        messages(request)
            .iter()
            .filter(|m| role(m) == "tool")
            .count()
    }

    fn result(&self, request: &Value, call_id: &str, index: usize) -> Option<String> {
        let mut results = messages(request).iter().filter(|m| role(m) == "tool");
        let found = if call_id.is_empty() {
            results.nth(index)
        } else {
            results.find(|m| m.get("tool_call_id").and_then(Value::as_str) == Some(call_id))
        };
        found.map(|m| text_of(m.get("content")))
    }

    fn user_texts(&self, request: &Value) -> Vec<String> {
        messages(request)
            .iter()
            .filter(|m| role(m) == "user")
            .map(|m| text_of(m.get("content")))
            .collect()
    }

    fn reply(&self, request: &Value, _path: &str, turn: Turn<'_>) -> Vec<u8> {
        let model = request.get("model").cloned().unwrap_or(json!("gpt-5.4"));
        let (delta, finish, message) = match turn {
            Turn::Call(step, call_id) => {
                let call = match step {
                    Step::Call { name, args, .. } => json!({
                        "id": call_id, "type": "function",
                        "function": { "name": name, "arguments": args.to_string() },
                    }),
                    Step::Freeform { name, input } => json!({
                        "id": call_id, "type": "custom",
                        "custom": { "name": name, "input": input },
                    }),
                };
                let mut indexed = call.clone();
                if let Some(object) = indexed.as_object_mut() {
                    object.insert("index".into(), json!(0));
                }
                (
                    json!({ "role": "assistant", "content": null, "tool_calls": [indexed] }),
                    "tool_calls",
                    json!({ "role": "assistant", "content": null, "tool_calls": [call] }),
                )
            }
            Turn::Text => (
                json!({ "role": "assistant", "content": "All done." }),
                "stop",
                json!({ "role": "assistant", "content": "All done." }),
            ),
        };
        let usage = json!({ "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15 });
        let id = format!("chatcmpl-{}", self.results_held(request));
        if request.get("stream").and_then(Value::as_bool) != Some(true) {
            return http(
                200,
                "application/json",
                &json!({
                    "id": id, "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{ "index": 0, "message": message, "finish_reason": finish }],
                    "usage": usage,
                })
                .to_string(),
            );
        }
        let chunks = [
            json!({
                "id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": null }],
            }),
            json!({
                "id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{ "index": 0, "delta": {}, "finish_reason": finish }],
                "usage": usage,
            }),
        ];
        let mut text = String::new();
        for chunk in chunks {
            text.push_str(&format!("data: {chunk}\n\n"));
        }
        text.push_str("data: [DONE]\n\n");
        http(200, "text/event-stream", &text)
    }
}
