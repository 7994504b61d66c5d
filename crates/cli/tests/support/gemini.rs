//! Gemini CLI end to end: a scripted stand-in for the Gemini API, and the real `gemini -p`
//! run headless against it (`GOOGLE_GEMINI_BASE_URL`).
//!
//! Gemini posts `POST /v1beta/models/MODEL:streamGenerateContent?alt=sse` with the whole
//! conversation in `contents`. The server answers with one scripted function call —
//! chosen by how many function responses the conversation already holds — and with text
//! once the script is done; then it closes the connection (Gemini waits otherwise).
//! Requests without tools (side requests) get text. Every request is logged, so a test
//! reads what the model was told about each call (`functionResponse.response`).
//!
//! Where the binary comes from: `MANDATE_GEMINI_BIN`, else where `scripts/install-agents.sh`
//! puts it.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const INSTALLED: &str = "agents/gemini/node_modules/@google/gemini-cli/bundle/gemini.js";

pub fn gemini_or_skip(test: &str) -> Option<PathBuf> {
    let candidate = match std::env::var_os("MANDATE_GEMINI_BIN") {
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
        "the real Gemini CLI is not at `{}`: run `scripts/install-agents.sh gemini` (or set \
         MANDATE_GEMINI_BIN)",
        candidate.display()
    );
    if std::env::var("MANDATE_E2E_REQUIRED").as_deref() == Ok("1") {
        panic!("{test}: {message}");
    }
    eprintln!("SKIPPED: {test}: {message}");
    None
}

/// One scripted function call: Gemini's tool name and its arguments.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: String,
    pub args: Value,
}

impl Step {
    pub fn new(name: &str, args: Value) -> Step {
        Step {
            name: name.to_string(),
            args,
        }
    }

    pub fn shell(command: &str) -> Step {
        Step::new("run_shell_command", json!({ "command": command }))
    }
}

pub type BeforeStep = Box<dyn Fn(usize) + Send>;

struct State {
    steps: Vec<Step>,
    log: Vec<Value>,
    before: Option<BeforeStep>,
    announced: Vec<usize>,
}

pub struct GeminiServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl GeminiServer {
    pub fn start(steps: Vec<Step>, before: Option<BeforeStep>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the model server");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State {
            steps,
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
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn requests(&self) -> Vec<Value> {
        self.lock().log.clone()
    }

    /// What the model was told about step `n`: the `n`th function response of the
    /// longest conversation seen.
    pub fn result(&self, n: usize) -> Option<String> {
        let requests = self.requests();
        let longest = requests
            .iter()
            .max_by_key(|r| function_responses(r).len())?;
        function_responses(longest).get(n).map(Value::to_string)
    }

    pub fn everything_sent(&self) -> String {
        self.requests()
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The user texts of the longest conversation (a stop gate's reason arrives as one).
    pub fn user_texts(&self) -> Vec<String> {
        let requests = self.requests();
        let Some(longest) = requests.iter().max_by_key(|r| {
            r.get("contents")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        }) else {
            return Vec::new();
        };
        longest
            .get("contents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| c.get("role").and_then(Value::as_str) == Some("user"))
            .flat_map(|c| {
                c.get("parts")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    pub fn summary(&self) -> String {
        self.requests()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let responses = function_responses(r);
                let last = responses.last().map(Value::to_string).unwrap_or_default();
                format!(
                    "#{i} responses={} last={}",
                    responses.len(),
                    last.chars().take(300).collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn function_responses(request: &Value) -> Vec<Value> {
    request
        .get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| {
            c.get("parts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| {
            p.get("functionResponse")
                .and_then(|f| f.get("response"))
                .cloned()
        })
        .collect()
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(300)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let Some((_method, path, body)) = super::model::read_request(&mut reader) else {
        return;
    };
    let response = answer(state, &path, &body);
    let _ = writer.write_all(&response);
    let _ = writer.flush();
}

fn answer(state: &Mutex<State>, path: &str, body: &[u8]) -> Vec<u8> {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if path.contains(":countTokens") {
        return http(
            200,
            "application/json",
            &json!({ "totalTokens": 10 }).to_string(),
        );
    }
    let has_tools = request
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t.get("functionDeclarations").is_some()));
    let done = function_responses(&request).len();
    let (step, before) = {
        let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
        guard.log.push(request.clone());
        let step = guard.steps.get(done).cloned().filter(|_| has_tools);
        let first = step.is_some() && !guard.announced.contains(&done);
        if first {
            guard.announced.push(done);
        }
        (step, first.then(|| guard.before.take()).flatten())
    };
    if let Some(before) = before {
        before(done);
        state.lock().unwrap_or_else(|e| e.into_inner()).before = Some(before);
    }
    let json_wanted = request
        .pointer("/generationConfig/responseMimeType")
        .and_then(Value::as_str)
        == Some("application/json");
    let parts = match step {
        Some(step) => json!([{ "functionCall": { "name": step.name, "args": step.args } }]),
        None if json_wanted => {
            json!([{ "text": "{\"reasoning\":\"scripted\",\"next_speaker\":\"user\"}" }])
        }
        None => json!([{ "text": "All done." }]),
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

fn http(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub struct GeminiRun {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl GeminiRun {
    pub fn dump(&self) -> String {
        format!(
            "status {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// The user settings Gemini reads: API-key auth, no telemetry, the billing MCP servers.
pub fn write_settings(home: &Path, calls_log: &Path) {
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
    let dir = home.join(".gemini");
    std::fs::create_dir_all(&dir).expect("~/.gemini");
    std::fs::write(dir.join("settings.json"), settings.to_string()).expect("settings");
}

pub fn run_gemini(
    bin: &Path,
    base_url: &str,
    cwd: &Path,
    home: &Path,
    path_prefix: &Path,
    env: &[(&str, &str)],
    prompt: &str,
) -> GeminiRun {
    let path = format!(
        "{}:{}",
        path_prefix.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let mut command = Command::new("node");
    command
        .arg(bin)
        .args(["-p", prompt, "--yolo", "-m", "gemini-2.5-flash"])
        .current_dir(cwd)
        .env("HOME", home)
        .env("GEMINI_API_KEY", "dummy")
        .env("GOOGLE_GEMINI_BASE_URL", base_url)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().expect("start gemini");
    let (status, stdout, stderr) = super::codex::wait_with_timeout(child, Duration::from_secs(240));
    GeminiRun {
        status,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    }
}
