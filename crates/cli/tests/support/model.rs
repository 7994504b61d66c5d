//! A scripted stand-in for the Anthropic Messages API, so the real Claude Code binary can
//! run offline and deterministically.
//!
//! Claude Code talks to `ANTHROPIC_BASE_URL` over HTTP/1.1. Besides the agent loop it sends
//! side requests (titles, summaries, a quota probe) and a subagent has a loop of its own, so
//! each `POST /v1/messages` is first classified by the tools it offers the model:
//!
//! - a **side request** offers at most a couple of tools;
//! - a **subagent** says so in the billing header that opens its system prompt
//!   (`cc_is_subagent=true`); it offers about ten tools, and may hold `Agent` itself;
//! - the **main loop** offers about a dozen tools, `Agent` among them.
//!
//! The main loop and the subagent each get one scripted tool call per request, then plain
//! text. Which step a request is asking for is read from the conversation itself (how many
//! of our tool calls it already holds), not from a counter, so a retried request gets the
//! same answer and the log shows exactly which steps the model was asked for. Side requests
//! get a short text. Every request is logged, so a test can read what the model saw: the
//! `tool_result` of a refused call, and whether a secret ever left the machine.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

/// Prefix of the tool-use ids the main loop's steps carry; the subagent's use `SUB_ID`.
const MAIN_ID: &str = "toolu_e2e_main_";
const SUB_ID: &str = "toolu_e2e_sub_";

/// Fewer tools than this and a request is a side request (titles, summaries, probes).
const LOOP_MIN_TOOLS: usize = 5;

/// One scripted tool call.
#[derive(Clone, Debug)]
pub struct Step {
    pub tool: String,
    pub input: Value,
}

impl Step {
    pub fn new(tool: &str, input: Value) -> Self {
        Self {
            tool: tool.to_string(),
            input,
        }
    }

    pub fn bash(command: &str) -> Self {
        Self::new(
            "Bash",
            json!({ "command": command, "description": "scripted step" }),
        )
    }

    pub fn read(path: impl AsRef<std::path::Path>) -> Self {
        Self::new(
            "Read",
            json!({ "file_path": path.as_ref().to_string_lossy() }),
        )
    }

    pub fn write(path: impl AsRef<std::path::Path>, content: &str) -> Self {
        Self::new(
            "Write",
            json!({ "file_path": path.as_ref().to_string_lossy(), "content": content }),
        )
    }

    pub fn edit(path: impl AsRef<std::path::Path>, old: &str, new: &str) -> Self {
        Self::new(
            "Edit",
            json!({
                "file_path": path.as_ref().to_string_lossy(),
                "old_string": old,
                "new_string": new,
            }),
        )
    }

    /// A foreground general-purpose subagent; its own calls come from `Script::subagent`.
    pub fn agent(prompt: &str) -> Self {
        Self::new(
            "Agent",
            json!({
                "description": "scripted subagent",
                "prompt": prompt,
                "subagent_type": "general-purpose",
                "run_in_background": false,
            }),
        )
    }
}

/// What the model will do: the main loop's steps, then the subagent's.
#[derive(Clone, Debug, Default)]
pub struct Script {
    pub main: Vec<Step>,
    pub subagent: Vec<Step>,
}

/// Who a request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    Main,
    Subagent,
    Side,
    /// Not `POST /v1/messages` (or a body that is not JSON).
    Other,
}

/// One request as the server saw it, and what it answered.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: String,
    pub json: Option<Value>,
    pub caller: Caller,
    /// The step asked for (main loop or subagent): how many scripted calls the conversation
    /// already held.
    pub step: Option<usize>,
    /// Names of the tools offered to the model.
    pub tools: Vec<String>,
}

impl Request {
    /// The text of the `tool_result` for `tool_use_id`, if this request carries it.
    pub fn tool_result(&self, tool_use_id: &str) -> Option<ToolResult> {
        let messages = self.json.as_ref()?.get("messages")?.as_array()?;
        messages
            .iter()
            .filter_map(|m| m.get("content").and_then(Value::as_array))
            .flatten()
            .find(|block| {
                block.get("type").and_then(Value::as_str) == Some("tool_result")
                    && block.get("tool_use_id").and_then(Value::as_str) == Some(tool_use_id)
            })
            .map(|block| ToolResult {
                text: content_text(block.get("content")),
                is_error: block.get("is_error").and_then(Value::as_bool) == Some(true),
            })
    }
}

/// What the model was told about one of its tool calls.
#[derive(Clone, Debug)]
pub struct ToolResult {
    pub text: String,
    pub is_error: bool,
}

fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Called once per main-loop step, before the model is told to make that call: what a
/// person does while the agent works (throw the kill switch, approve a held call).
pub type BeforeStep = Box<dyn Fn(usize) + Send>;

struct State {
    script: Script,
    log: Vec<Request>,
    before_main_step: Option<BeforeStep>,
    steps_announced: Vec<usize>,
}

/// The scripted model server on 127.0.0.1; it lives as long as the test holds it.
pub struct ModelServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl ModelServer {
    pub fn start(script: Script) -> Self {
        Self::start_with(script, None)
    }

    /// Like `start`, with `before_main_step` run once before each main-loop step is served.
    pub fn start_with(script: Script, before_main_step: Option<BeforeStep>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the model server");
        let addr = listener.local_addr().expect("model server address");
        let state = Arc::new(Mutex::new(State {
            script,
            log: Vec::new(),
            before_main_step,
            steps_announced: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                thread::spawn(move || serve_connection(stream, &state));
            }
        });
        Self { addr, state }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().log.clone()
    }

    /// The tool-use id of main-loop step `index` (as sent to Claude Code).
    pub fn main_id(index: usize) -> String {
        format!("{MAIN_ID}{index:02}")
    }

    /// The tool-use id of subagent step `index`.
    pub fn sub_id(index: usize) -> String {
        format!("{SUB_ID}{index:02}")
    }

    /// The highest main-loop step any request asked for (`None`: the loop never called).
    pub fn highest_main_step(&self) -> Option<usize> {
        self.lock()
            .log
            .iter()
            .filter(|r| r.caller == Caller::Main)
            .filter_map(|r| r.step)
            .max()
    }

    /// The main-loop requests that asked for step `index`.
    pub fn main_requests_for(&self, index: usize) -> Vec<Request> {
        self.lock()
            .log
            .iter()
            .filter(|r| r.caller == Caller::Main && r.step == Some(index))
            .cloned()
            .collect()
    }

    /// What the model was told about main-loop step `index`.
    pub fn main_result(&self, index: usize) -> Option<ToolResult> {
        self.result_for(&Self::main_id(index))
    }

    /// What the model was told about subagent step `index`.
    pub fn sub_result(&self, index: usize) -> Option<ToolResult> {
        self.result_for(&Self::sub_id(index))
    }

    fn result_for(&self, id: &str) -> Option<ToolResult> {
        self.lock().log.iter().find_map(|r| r.tool_result(id))
    }

    /// Whether `needle` appears in anything Claude Code sent to the model.
    pub fn saw(&self, needle: &str) -> bool {
        self.lock().log.iter().any(|r| r.body.contains(needle))
    }

    /// A one-line-per-request summary, for failure messages.
    pub fn summary(&self) -> String {
        self.lock()
            .log
            .iter()
            .map(|r| {
                format!(
                    "{} {} {:?} step={:?} tools={}",
                    r.method,
                    r.path,
                    r.caller,
                    r.step,
                    r.tools.len()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn serve_connection(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(300)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    // Keep-alive: answer requests until the client closes the connection.
    while let Some((method, path, body)) = read_request(&mut reader) {
        let response = answer(state, method, path, body);
        if writer.write_all(&response).is_err() || writer.flush().is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 request: method, path, body (`Content-Length` or chunked).
pub fn read_request(reader: &mut impl BufRead) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok()?,
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line).ok()?;
            let size_text = size_line.trim().split(';').next().unwrap_or("0");
            let size = usize::from_str_radix(size_text, 16).ok()?;
            if size == 0 {
                // Trailers, then the blank line that ends the message.
                loop {
                    let mut trailer = String::new();
                    if reader.read_line(&mut trailer).ok()? == 0 || trailer.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0u8; size];
            reader.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk);
            let mut crlf = String::new();
            reader.read_line(&mut crlf).ok()?;
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some((method, path, body))
}

fn answer(state: &Mutex<State>, method: String, path: String, body: Vec<u8>) -> Vec<u8> {
    let body = String::from_utf8_lossy(&body).into_owned();
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    let route = path.split('?').next().unwrap_or("").to_string();
    let tools: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("tools"))
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let is_messages = method == "POST" && route == "/v1/messages" && parsed.is_some();
    // A subagent may hold the `Agent` tool itself (nesting), so the billing header Claude
    // Code puts at the top of the system prompt (`cc_is_subagent=true`) decides first.
    let system = parsed
        .as_ref()
        .map(|v| content_text(v.get("system")))
        .unwrap_or_default();
    let caller = if !is_messages {
        Caller::Other
    } else if tools.len() < LOOP_MIN_TOOLS {
        Caller::Side
    } else if system.contains("cc_is_subagent=true")
        || !tools.iter().any(|t| t == "Agent" || t == "Task")
    {
        Caller::Subagent
    } else {
        Caller::Main
    };
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let (step, reply) = match (caller, parsed.as_ref()) {
        (Caller::Main | Caller::Subagent, Some(request)) => {
            let prefix = if caller == Caller::Main {
                MAIN_ID
            } else {
                SUB_ID
            };
            let index = scripted_calls(request, prefix);
            if caller == Caller::Main && !state.steps_announced.contains(&index) {
                state.steps_announced.push(index);
                // Under the lock on purpose: a retried request waits until it is done.
                if let Some(before) = &state.before_main_step {
                    before(index);
                }
            }
            let steps = if caller == Caller::Main {
                &state.script.main
            } else {
                &state.script.subagent
            };
            let reply = match steps.get(index) {
                Some(step) => Reply::Tool {
                    id: format!("{prefix}{index:02}"),
                    name: step.tool.clone(),
                    input: step.input.clone(),
                },
                None => Reply::Text("Done: the scripted steps are finished.".to_string()),
            };
            (Some(index), reply)
        }
        _ => (None, Reply::Text("Scripted session".to_string())),
    };
    let streaming = parsed
        .as_ref()
        .and_then(|v| v.get("stream"))
        .and_then(Value::as_bool)
        == Some(true);
    let model = parsed
        .as_ref()
        .and_then(|v| v.get("model"))
        .and_then(Value::as_str)
        .unwrap_or("claude-sonnet-4-5")
        .to_string();
    state.log.push(Request {
        method: method.clone(),
        path: path.clone(),
        body,
        json: parsed,
        caller,
        step,
        tools,
    });
    let serial = state.log.len();
    drop(state);
    if caller == Caller::Other {
        return other_endpoint(&method, &route);
    }
    if streaming {
        http(200, "text/event-stream", &sse(&reply, &model, serial))
    } else {
        http(
            200,
            "application/json",
            &message(&reply, &model, serial).to_string(),
        )
    }
}

/// How many of our scripted tool calls (ids starting with `prefix`) the conversation holds.
fn scripted_calls(request: &Value, prefix: &str) -> usize {
    request
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|block| {
            block.get("type").and_then(Value::as_str) == Some("tool_use")
                && block
                    .get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.starts_with(prefix))
        })
        .count()
}

enum Reply {
    Tool {
        id: String,
        name: String,
        input: Value,
    },
    Text(String),
}

fn usage() -> Value {
    json!({ "input_tokens": 50, "output_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0 })
}

/// The whole message, for a request that did not ask to stream.
fn message(reply: &Reply, model: &str, serial: usize) -> Value {
    let (content, stop) = match reply {
        Reply::Tool { id, name, input } => (
            json!([{ "type": "tool_use", "id": id, "name": name, "input": input }]),
            "tool_use",
        ),
        Reply::Text(text) => (json!([{ "type": "text", "text": text }]), "end_turn"),
    };
    json!({
        "id": format!("msg_e2e_{serial:04}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": usage(),
    })
}

/// The same message as the server-sent events of a streamed response.
fn sse(reply: &Reply, model: &str, serial: usize) -> String {
    let mut start = message(reply, model, serial);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    let (block, delta, stop) = match reply {
        Reply::Tool { id, name, input } => (
            json!({ "type": "tool_use", "id": id, "name": name, "input": {} }),
            json!({ "type": "input_json_delta", "partial_json": input.to_string() }),
            "tool_use",
        ),
        Reply::Text(text) => (
            json!({ "type": "text", "text": "" }),
            json!({ "type": "text_delta", "text": text }),
            "end_turn",
        ),
    };
    let events = [
        (
            "message_start",
            json!({ "type": "message_start", "message": start }),
        ),
        (
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0, "content_block": block }),
        ),
        (
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": delta }),
        ),
        (
            "content_block_stop",
            json!({ "type": "content_block_stop", "index": 0 }),
        ),
        (
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": { "stop_reason": stop, "stop_sequence": null },
                "usage": { "output_tokens": 10 },
            }),
        ),
        ("message_stop", json!({ "type": "message_stop" })),
    ];
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

/// Anything else Claude Code asks for gets a harmless answer.
fn other_endpoint(method: &str, route: &str) -> Vec<u8> {
    if method == "HEAD" {
        return http(200, "text/plain", "");
    }
    let body = match route {
        "/v1/messages/count_tokens" => json!({ "input_tokens": 100 }),
        "/v1/models" => json!({ "data": [], "has_more": false }),
        _ => json!({}),
    };
    http(200, "application/json", &body.to_string())
}

fn http(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    let reason = if status == 200 { "OK" } else { "Error" };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         request-id: req_e2e\r\nconnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
