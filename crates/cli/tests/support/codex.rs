//! Codex CLI end to end: a scripted stand-in for the OpenAI Responses API, and the real
//! `codex exec` run headless against it.
//!
//! Codex posts `POST /v1/responses` (streamed) with the whole conversation in `input`.
//! The server answers each request with one scripted call — which one is read from the
//! conversation itself (how many tool results it already holds), so a retried request gets
//! the same answer — and plain text once the script is done. A subagent's conversation
//! (its first user message holds [`SUB_MARK`]) follows the subagent script. Every request
//! is logged, so a test reads what the model was told about each of its calls
//! (`function_call_output` / `custom_tool_call_output` of the same `call_id`).
//!
//! Where the binary comes from: `MANDATE_CODEX_BIN`, else where `scripts/install-agents.sh`
//! puts it. Missing: the test skips with a `SKIPPED:` line, or fails under
//! `MANDATE_E2E_REQUIRED=1`.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Marks the subagent's task in `spawn_agent`'s message.
pub const SUB_MARK: &str = "SUBAGENT-TASK";

/// The npm launcher, as users run it (it tells hooks Codex's version).
const INSTALLED: &str = "agents/codex/node_modules/@openai/codex/bin/codex.js";

/// The Codex binary, or `None` after printing why the test is skipped.
pub fn codex_or_skip(test: &str) -> Option<PathBuf> {
    let candidate = match std::env::var_os("MANDATE_CODEX_BIN") {
        Some(path) => PathBuf::from(path),
        None => std::env::var_os("MANDATE_TOOLS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools"))
            .join(INSTALLED),
    };
    if candidate.is_file() {
        return Some(candidate);
    }
    let message = format!(
        "the real Codex CLI is not at `{}`: run `scripts/install-agents.sh codex` (or set \
         MANDATE_CODEX_BIN)",
        candidate.display()
    );
    if std::env::var("MANDATE_E2E_REQUIRED").as_deref() == Ok("1") {
        panic!("{test}: {message}");
    }
    eprintln!("SKIPPED: {test}: {message}");
    None
}

/// One scripted model turn.
#[derive(Clone, Debug)]
pub enum Step {
    /// `exec_command {cmd}`: Codex's shell tool.
    Exec(String),
    /// `apply_patch` with this patch (Codex's freeform tool).
    Patch(String),
    /// A function call of an MCP tool: `namespace` `mcp__SERVER`, `name` the tool.
    Mcp {
        server: String,
        tool: String,
        args: Value,
    },
    /// Any other function call (`spawn_agent` in namespace `collaboration`, …).
    Function {
        namespace: Option<String>,
        name: String,
        args: Value,
    },
}

impl Step {
    pub fn exec(cmd: &str) -> Step {
        Step::Exec(cmd.to_string())
    }

    pub fn patch(text: &str) -> Step {
        Step::Patch(text.to_string())
    }

    pub fn mcp(server: &str, tool: &str, args: Value) -> Step {
        Step::Mcp {
            server: server.to_string(),
            tool: tool.to_string(),
            args,
        }
    }

    fn item(&self, call_id: &str) -> Value {
        match self {
            Step::Exec(cmd) => json!({
                "type": "function_call", "id": format!("fc_{call_id}"), "status": "completed",
                "call_id": call_id, "name": "exec_command",
                "arguments": json!({ "cmd": cmd }).to_string(),
            }),
            Step::Patch(patch) => json!({
                "type": "custom_tool_call", "id": format!("ctc_{call_id}"), "status": "completed",
                "call_id": call_id, "name": "apply_patch", "input": patch,
            }),
            Step::Mcp { server, tool, args } => json!({
                "type": "function_call", "id": format!("fc_{call_id}"), "status": "completed",
                "call_id": call_id, "namespace": format!("mcp__{server}"), "name": tool,
                "arguments": args.to_string(),
            }),
            Step::Function {
                namespace,
                name,
                args,
            } => {
                let mut item = json!({
                    "type": "function_call", "id": format!("fc_{call_id}"), "status": "completed",
                    "call_id": call_id, "name": name, "arguments": args.to_string(),
                });
                if let (Some(ns), Some(object)) = (namespace, item.as_object_mut()) {
                    object.insert("namespace".into(), json!(ns));
                }
                item
            }
        }
    }
}

/// Called once before main-loop step `n` is first served: what a person does meanwhile.
pub type BeforeStep = Box<dyn Fn(usize) + Send>;

struct State {
    main: Vec<Step>,
    sub: Vec<Step>,
    log: Vec<Value>,
    before: Option<BeforeStep>,
    announced: Vec<usize>,
}

/// The scripted Responses API on 127.0.0.1.
pub struct ResponsesServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl ResponsesServer {
    pub fn start(main: Vec<Step>, sub: Vec<Step>, before: Option<BeforeStep>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the model server");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State {
            main,
            sub,
            log: Vec::new(),
            before,
            announced: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                thread::spawn(move || serve(stream, &state));
            }
        });
        Self { addr, state }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn requests(&self) -> Vec<Value> {
        self.lock().log.clone()
    }

    /// What the model was told about main-loop step `n` (`None`: never told).
    pub fn main_result(&self, n: usize) -> Option<String> {
        self.result(&main_call_id(n))
    }

    pub fn sub_result(&self, n: usize) -> Option<String> {
        self.result(&sub_call_id(n))
    }

    fn result(&self, call_id: &str) -> Option<String> {
        self.requests().iter().rev().find_map(|request| {
            request
                .get("input")?
                .as_array()?
                .iter()
                .find(|item| {
                    item.get("call_id").and_then(Value::as_str) == Some(call_id)
                        && item
                            .get("type")
                            .and_then(Value::as_str)
                            .is_some_and(|t| t.ends_with("_output"))
                })
                .map(|item| output_text(item.get("output")))
        })
    }

    /// Every text the model received, in any request (to look for leaked secrets).
    pub fn everything_sent(&self) -> String {
        self.requests()
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The user messages of the main conversation, in order (a stop hook's block arrives as
    /// one).
    pub fn user_messages(&self) -> Vec<String> {
        let requests = self.requests();
        let Some(last) = requests.iter().rev().find(|r| !is_subagent(r)) else {
            return Vec::new();
        };
        last.get("input")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter(|i| i.get("role").and_then(Value::as_str) == Some("user"))
                    .map(|i| output_text(i.get("content")))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn summary(&self) -> String {
        self.requests()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let input = r.get("input").and_then(Value::as_array).map_or(0, Vec::len);
                let last = r
                    .get("input")
                    .and_then(Value::as_array)
                    .and_then(|a| a.last())
                    .map(|v| {
                        let text = v.to_string();
                        text.chars().take(400).collect::<String>()
                    })
                    .unwrap_or_default();
                format!("#{i} sub={} items={input} last={last}", is_subagent(r))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn main_call_id(n: usize) -> String {
    format!("call_main_{n:02}")
}

pub fn sub_call_id(n: usize) -> String {
    format!("call_sub_{n:02}")
}

fn output_text(output: Option<&Value>) -> String {
    match output {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// A subagent's conversation: its task (a user message, or in multi-agent v2 an
/// `agent_message` addressed to it) carries the marker. In the parent's conversation the
/// marker only appears inside the `spawn_agent` call's arguments.
fn is_subagent(request: &Value) -> bool {
    request
        .get("input")
        .and_then(Value::as_array)
        .is_some_and(|items| {
            items.iter().any(|item| {
                let kind = item.get("type").and_then(Value::as_str);
                let user = item.get("role").and_then(Value::as_str) == Some("user");
                (kind == Some("agent_message") || user) && item.to_string().contains(SUB_MARK)
            })
        })
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(300)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let Some((method, path, body)) = super::model::read_request(&mut reader) else {
        return;
    };
    let response = answer(state, &method, &path, &body);
    let _ = writer.write_all(&response);
    let _ = writer.flush();
}

fn answer(state: &Mutex<State>, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let route = path.split('?').next().unwrap_or("");
    if method != "POST" || !route.ends_with("/responses") {
        return http(
            404,
            "application/json",
            r#"{"error":{"message":"not found"}}"#,
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return http(
            400,
            "application/json",
            r#"{"error":{"message":"bad json"}}"#,
        );
    };
    let sub = is_subagent(&request);
    let done = request
        .get("input")
        .and_then(Value::as_array)
        .map_or(0, |items| {
            items
                .iter()
                .filter(|i| {
                    i.get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.ends_with("_output"))
                })
                .count()
        });
    let has_tools = request
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    let (step, before) = {
        let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
        guard.log.push(request.clone());
        let script = if sub { &guard.sub } else { &guard.main };
        let step = script.get(done).cloned().filter(|_| has_tools);
        let first = !sub && step.is_some() && !guard.announced.contains(&done);
        if first {
            guard.announced.push(done);
        }
        (step, first.then(|| guard.before.take()).flatten())
    };
    if let Some(before) = before {
        before(done);
        state.lock().unwrap_or_else(|e| e.into_inner()).before = Some(before);
    }
    let id = format!("resp_{done}_{}", if sub { "sub" } else { "main" });
    let item = match step {
        Some(step) => step.item(&if sub {
            sub_call_id(done)
        } else {
            main_call_id(done)
        }),
        None => json!({
            "type": "message", "role": "assistant", "id": format!("msg_{id}"), "status": "completed",
            "content": [{ "type": "output_text", "text": "All done.", "annotations": [] }],
        }),
    };
    let usage = json!({
        "input_tokens": 10, "input_tokens_details": { "cached_tokens": 0 },
        "output_tokens": 5, "output_tokens_details": { "reasoning_tokens": 0 }, "total_tokens": 15,
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

fn http(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What one `codex exec` did.
pub struct CodexRun {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl CodexRun {
    pub fn dump(&self) -> String {
        format!(
            "status {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Run `codex exec PROMPT` in `cwd` with `home` as HOME and `home/.codex` as CODEX_HOME —
/// no trust-bypass flag: the hooks must run because `mandate install` trusted them.
pub fn run_codex(
    bin: &Path,
    base_url: &str,
    cwd: &Path,
    home: &Path,
    path_prefix: &Path,
    env: &[(&str, &str)],
    prompt: &str,
) -> CodexRun {
    let path = format!(
        "{}:{}",
        path_prefix.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let mut command = Command::new(bin);
    command
        .args(["exec", "--skip-git-repo-check", "-c"])
        .arg(format!(
            "model_providers.scripted.base_url={}",
            json!(base_url)
        ))
        .arg(prompt)
        .current_dir(cwd)
        .env("HOME", home)
        .env("CODEX_HOME", home.join(".codex"))
        .env("FAKE_KEY", "dummy")
        .env("PATH", path)
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().expect("start codex");
    let output = wait_with_timeout(child, Duration::from_secs(240));
    CodexRun {
        status: output.0,
        stdout: output.1,
        stderr: output.2,
        elapsed: started.elapsed(),
    }
}

pub fn wait_with_timeout(
    mut child: std::process::Child,
    limit: Duration,
) -> (Option<i32>, String, String) {
    use std::io::Read;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_string(&mut text);
        }
        text
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_string(&mut text);
        }
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    (
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    )
}

/// The user config Codex reads: the scripted model as its provider, and the billing
/// example's MCP servers logging their calls to `calls_log`.
pub fn write_config(home: &Path, calls_log: &Path, path_prefix: &Path) {
    // Codex runs commands in a login shell, and the system profile resets PATH: the
    // developer's profile puts their tools (and mandate) back, as on a real machine.
    let path = format!(
        "{}:{}",
        path_prefix.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::fs::write(
        home.join(".bash_profile"),
        format!("export PATH={}\n", json!(path)),
    )
    .expect("write .bash_profile");
    // The server's address is given per run (`-c`), after `mandate install` edited this.
    let base_url = "http://127.0.0.1:9/v1";
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
         [model_providers.scripted]\nname = \"scripted\"\nbase_url = {}\nenv_key = \"FAKE_KEY\"\n\
         wire_api = \"responses\"\n\n[features]\nmulti_agent_v2 = true\n\n{}{}",
        json!(base_url),
        server("jira"),
        server("notes")
    );
    let dir = home.join(".codex");
    std::fs::create_dir_all(&dir).expect("CODEX_HOME");
    std::fs::write(dir.join("config.toml"), config).expect("write the Codex config");
}
