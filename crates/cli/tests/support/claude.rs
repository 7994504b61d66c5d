//! Running the real Claude Code binary headless (`claude -p … --output-format json`)
//! against the scripted model, and reading its result.
//!
//! Where the binary comes from: `MANDATE_CLAUDE_BIN`, else the path
//! `scripts/install-claude-code.sh` installs to. When it is missing the e2e tests skip with
//! a `SKIPPED:` line, unless `MANDATE_E2E_REQUIRED=1` (the test script and CI), where they
//! fail and say how to install it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary `scripts/install-claude-code.sh` installs, relative to the tools folder.
const INSTALLED: &str = "claude-code/node_modules/@anthropic-ai/claude-code-linux-x64/claude";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Claude Code binary, or `None` after printing why the test is skipped.
pub fn claude_or_skip(test: &str) -> Option<PathBuf> {
    let candidate = match std::env::var_os("MANDATE_CLAUDE_BIN") {
        Some(path) => PathBuf::from(path),
        None => std::env::var_os("MANDATE_TOOLS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".tools"))
            .join(INSTALLED),
    };
    if candidate.is_file() {
        return Some(candidate);
    }
    let message = format!(
        "the real Claude Code client is not at `{}`: run `scripts/install-claude-code.sh` \
         (or set MANDATE_CLAUDE_BIN to a claude binary)",
        candidate.display()
    );
    if std::env::var("MANDATE_E2E_REQUIRED").as_deref() == Ok("1") {
        panic!("{test}: {message}");
    }
    eprintln!("SKIPPED: {test}: {message}");
    None
}

/// Whether Claude Code's sandbox can start here (Linux: bubblewrap and socat), or `false`
/// after printing why the test is skipped. `mandate install` turns the sandbox on with
/// `failIfUnavailable`, so without them Claude Code refuses to run at all.
pub fn sandbox_or_skip(test: &str) -> bool {
    let missing: Vec<&str> = ["bwrap", "socat"]
        .into_iter()
        .filter(|program| {
            !std::env::var_os("PATH").is_some_and(|paths| {
                std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
            })
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "{} not installed, and Claude Code will not run without its sandbox: \
         `apt-get install bubblewrap socat` (.ci/run does)",
        missing.join(" and ")
    );
    if std::env::var("MANDATE_E2E_REQUIRED").as_deref() == Ok("1") {
        panic!("{test}: {message}");
    }
    eprintln!("SKIPPED: {test}: {message}");
    false
}

/// One headless Claude Code session.
pub struct Claude {
    bin: PathBuf,
    cwd: PathBuf,
    home: PathBuf,
    base_url: String,
    mcp_config: Option<PathBuf>,
    env: Vec<(String, String)>,
    path_prefix: Vec<PathBuf>,
    path: Option<Vec<PathBuf>>,
    timeout: Duration,
}

impl Claude {
    pub fn new(bin: &Path, cwd: &Path, home: &Path, base_url: &str) -> Self {
        Self {
            bin: bin.to_path_buf(),
            cwd: cwd.to_path_buf(),
            home: home.to_path_buf(),
            base_url: base_url.to_string(),
            mcp_config: None,
            env: Vec::new(),
            path_prefix: Vec::new(),
            path: None,
            timeout: Duration::from_secs(120),
        }
    }

    pub fn mcp_config(mut self, path: &Path) -> Self {
        self.mcp_config = Some(path.to_path_buf());
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.env.push((
            key.to_string(),
            value.as_ref().to_string_lossy().into_owned(),
        ));
        self
    }

    /// Put `dir` first on the agent's PATH (so its Bash finds `mandate`).
    pub fn path_prefix(mut self, dir: &Path) -> Self {
        self.path_prefix.push(dir.to_path_buf());
        self
    }

    /// Replace the inherited PATH (after the prefixes) with `dirs`.
    pub fn path(mut self, dirs: Vec<PathBuf>) -> Self {
        self.path = Some(dirs);
        self
    }

    pub fn run(&self, prompt: &str) -> ClaudeRun {
        let mut command = Command::new(&self.bin);
        command
            .args(["-p", prompt, "--output-format", "json"])
            .arg("--dangerously-skip-permissions")
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(config) = &self.mcp_config {
            command
                .arg("--mcp-config")
                .arg(config)
                .arg("--strict-mcp-config");
        }
        // Nothing of the developer's own setup may leak in: no keys, no config, no proxy.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("ANTHROPIC_")
                || key.starts_with("CLAUDE")
                || key.starts_with("MANDATE_")
                || key.to_ascii_lowercase().ends_with("_proxy")
            {
                command.env_remove(&*key);
            }
        }
        let mut path = self.path_prefix.clone();
        match &self.path {
            Some(dirs) => path.extend(dirs.iter().cloned()),
            None => {
                if let Some(existing) = std::env::var_os("PATH") {
                    path.extend(std::env::split_paths(&existing));
                }
            }
        }
        command
            .env("PATH", std::env::join_paths(path).expect("PATH"))
            .env("HOME", &self.home)
            .env("ANTHROPIC_BASE_URL", &self.base_url)
            .env("ANTHROPIC_API_KEY", "sk-ant-e2e-not-a-real-key")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_ERROR_REPORTING", "1")
            .env("IS_SANDBOX", "1");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let started = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Claude Code `{}`: {e}", self.bin.display()));
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for Claude Code") {
                break Some(status);
            }
            if started.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(50));
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        let json = stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
            .or_else(|| serde_json::from_str(stdout.trim()).ok());
        ClaudeRun {
            exit_code: status.and_then(|s| s.code()),
            timed_out: status.is_none(),
            stdout,
            stderr,
            json,
            elapsed: started.elapsed(),
        }
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

/// What one session did, from Claude Code's own JSON result.
#[derive(Debug)]
pub struct ClaudeRun {
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub json: Option<Value>,
    pub elapsed: Duration,
}

/// One entry of `permission_denials`.
#[derive(Clone, Debug)]
pub struct Denial {
    pub tool_name: String,
    pub tool_use_id: String,
    pub tool_input: Value,
}

impl ClaudeRun {
    /// Panics with everything known when Claude Code did not produce a result.
    pub fn result(&self) -> &Value {
        match &self.json {
            Some(json) if !self.timed_out => json,
            _ => panic!(
                "Claude Code gave no JSON result (exit {:?}, timed out: {}, {:?})\n\
                 stdout:\n{}\nstderr:\n{}",
                self.exit_code, self.timed_out, self.elapsed, self.stdout, self.stderr
            ),
        }
    }

    /// Claude Code's `permission_denials`: the calls it refused to run.
    pub fn denials(&self) -> Vec<Denial> {
        self.result()
            .get("permission_denials")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|d| Denial {
                tool_name: str_of(d, "tool_name"),
                tool_use_id: str_of(d, "tool_use_id"),
                tool_input: d.get("tool_input").cloned().unwrap_or(Value::Null),
            })
            .collect()
    }

    /// Whether the call with this tool-use id was refused.
    pub fn denied(&self, tool_use_id: &str) -> bool {
        self.denials().iter().any(|d| d.tool_use_id == tool_use_id)
    }

    /// The final `result` text.
    pub fn text(&self) -> String {
        str_of(self.result(), "result")
    }

    /// The whole JSON result, pretty, for failure messages.
    pub fn dump(&self) -> String {
        match &self.json {
            Some(json) => serde_json::to_string_pretty(json).unwrap_or_default(),
            None => format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr),
        }
    }
}

fn str_of(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
