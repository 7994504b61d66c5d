//! Gemini CLI (0.61.0) end to end: the Gemini API as Gemini CLI speaks it, and the real
//! `gemini -p --yolo` run headless against the scripted model ([`super::scripted`])
//! through `GOOGLE_GEMINI_BASE_URL`.
//!
//! Gemini posts `POST /v1beta/models/MODEL:streamGenerateContent?alt=sse` with the whole
//! conversation in `contents`; a tool result is a `functionResponse` part (found by its
//! place in the conversation: Gemini gives calls ids of its own). The connection must be
//! closed after each answer (Gemini waits otherwise). A subagent (`invoke_agent`) has a
//! conversation of its own whose first user text is its task.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::{Value, json};

use super::billing::Billing;
use super::scripted::{AgentCli, SUB_MARK, ScriptedModel, Step, Turn, Wire, http};

pub struct Gemini;

impl AgentCli for Gemini {
    const NAME: &'static str = "gemini";
    const BIN_VAR: &'static str = "MANDATE_GEMINI_BIN";
    const INSTALLED: &'static str =
        "agents/gemini/node_modules/@google/gemini-cli/bundle/gemini.js";
    /// Gemini does not tell hooks its version: `install` records what it found.
    const IDENTITY: &'static str = "gemini";
    /// Gemini refuses a git-ignored or `.env` file through `read_file` before any hook.
    const OWN_ENV_GUARD: bool = true;
    /// A stop condition answers `continue: false`: the agent loop ends at once.
    const STOP_ENDS_LOOP: bool = true;

    fn wire() -> Arc<dyn Wire> {
        Arc::new(GeminiApi)
    }

    /// The user settings Gemini reads: API-key auth, no telemetry, the billing MCP
    /// servers.
    fn configure(billing: &Billing, calls_log: &Path, _path_prefix: &Path) {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp");
        let server = |name: &str| {
            json!({
                "command": "python3",
                "args": [fixtures.join(format!("{name}.py"))],
                "env": { "MCP_CALL_LOG": calls_log },
            })
        };
        let settings = json!({
            "security": { "auth": { "selectedType": "gemini-api-key" } },
            "telemetry": { "enabled": false },
            "privacy": { "usageStatisticsEnabled": false },
            "mcpServers": { "jira": server("jira"), "notes": server("notes") },
        });
        let dir = billing.home.join(".gemini");
        std::fs::create_dir_all(&dir).expect("~/.gemini");
        std::fs::write(dir.join("settings.json"), settings.to_string()).expect("settings");
    }

    fn command(bin: &Path, model: &ScriptedModel, _billing: &Billing, prompt: &str) -> Command {
        let mut command = Command::new("node");
        command
            .arg(bin)
            .args(["-p", prompt, "--yolo", "-m", "gemini-2.5-flash"])
            .env("GEMINI_API_KEY", "dummy")
            .env("GOOGLE_GEMINI_BASE_URL", model.origin());
        command
    }

    fn refused_by_hook(told: &str) -> bool {
        told.contains("\"error\"") && told.contains("blocked")
    }

    fn failed(told: &str) -> bool {
        told.contains("\"error\"")
    }

    fn shell(command: &str) -> Step {
        Step::call("run_shell_command", json!({ "command": command }))
    }

    fn read(path: &str) -> Step {
        Step::call("read_file", json!({ "file_path": path }))
    }

    fn write(path: &str, content: &str) -> Step {
        Step::call(
            "write_file",
            json!({ "file_path": path, "content": content }),
        )
    }

    fn edit(path: &str, old: &str, new: &str) -> Step {
        Step::call(
            "replace",
            json!({
                "file_path": path, "instruction": "scripted edit",
                "old_string": old, "new_string": new,
            }),
        )
    }

    fn mcp(server: &str, tool: &str, args: Value) -> Step {
        Step::call(&format!("mcp_{server}_{tool}"), args)
    }

    fn subagent(task: &str) -> Step {
        Step::call(
            "invoke_agent",
            json!({ "agent_name": "generalist", "prompt": task }),
        )
    }

    /// `install` withdraws the web tools from the model with policy-engine rules.
    fn web_tool(url: &str) -> Option<Step> {
        Some(Step::call(
            "web_fetch",
            json!({ "prompt": format!("summarise {url}") }),
        ))
    }
}

/// Gemini's `streamGenerateContent` / `generateContent`.
pub struct GeminiApi;

fn parts(request: &Value) -> impl Iterator<Item = (&str, &Value)> {
    request
        .get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| {
            let role = c.get("role").and_then(Value::as_str).unwrap_or("");
            c.get("parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(move |p| (role, p))
        })
}

fn function_responses(request: &Value) -> Vec<&Value> {
    parts(request)
        .filter_map(|(_, p)| p.get("functionResponse").and_then(|f| f.get("response")))
        .collect()
}

impl Wire for GeminiApi {
    fn side(&self, _method: &str, path: &str) -> Option<Vec<u8>> {
        path.contains(":countTokens").then(|| {
            http(
                200,
                "application/json",
                &json!({ "totalTokens": 10 }).to_string(),
            )
        })
    }

    fn offers_tools(&self, request: &Value) -> bool {
        request
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|t| t.get("functionDeclarations").is_some()))
    }

    /// The subagent's task is a user text of its own conversation; in the parent's it is
    /// only inside the `invoke_agent` call.
    fn in_subagent(&self, request: &Value) -> bool {
        parts(request).any(|(role, p)| {
            role == "user"
                && p.get("text")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.contains(SUB_MARK))
        })
    }

    fn results_held(&self, request: &Value) -> usize {
        function_responses(request).len()
    }

    fn result(&self, request: &Value, _call_id: &str, index: usize) -> Option<String> {
        function_responses(request)
            .get(index)
            .map(|v| v.to_string())
    }

    fn user_texts(&self, request: &Value) -> Vec<String> {
        parts(request)
            .filter(|(role, _)| *role == "user")
            .filter_map(|(_, p)| p.get("text").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    fn reply(&self, request: &Value, path: &str, turn: Turn<'_>) -> Vec<u8> {
        let json_wanted = request
            .pointer("/generationConfig/responseMimeType")
            .and_then(Value::as_str)
            == Some("application/json");
        let parts = match turn {
            Turn::Call(Step::Call { name, args, .. }, _) => {
                json!([{ "functionCall": { "name": name, "args": args } }])
            }
            Turn::Call(Step::Freeform { name, input }, _) => {
                json!([{ "functionCall": { "name": name, "args": { "input": input } } }])
            }
            Turn::Text if json_wanted => {
                json!([{ "text": "{\"reasoning\":\"scripted\",\"next_speaker\":\"user\"}" }])
            }
            Turn::Text => json!([{ "text": "All done." }]),
        };
        let chunk = json!({
            "candidates": [{ "content": { "role": "model", "parts": parts }, "finishReason": "STOP", "index": 0 }],
            "usageMetadata": { "promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15 },
            "modelVersion": "scripted",
        });
        if path.contains(":streamGenerateContent") {
            http(200, "text/event-stream", &format!("data: {chunk}\r\n\r\n"))
        } else {
            http(200, "application/json", &chunk.to_string())
        }
    }
}
