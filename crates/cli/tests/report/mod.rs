//! Shared by the report tests (incident, metrics, readiness): a billing repository whose
//! run records are made by the real binary — `mandate start`, then Claude Code hook events
//! through `mandate hook claude-code` — never written by hand.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

pub const POLICY: &str = include_str!("../../../../examples/billing/mandate.toml");
pub const CONTRACT: &str =
    include_str!("../../../../examples/billing/.mandate/contracts/BILL-142.toml");

pub struct Repo {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub records: PathBuf,
    pub managed: PathBuf,
}

pub fn mandate_bin() -> &'static str {
    env!("CARGO_BIN_EXE_mandate")
}

impl Repo {
    /// The billing example with its records in the temporary folder.
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let records = dir.path().join("records");
        std::fs::create_dir_all(root.join(".mandate/contracts")).unwrap();
        for folder in ["billing/export", "customer_data", "deploy", "docs/billing"] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
        }
        std::fs::write(
            root.join("mandate.toml"),
            POLICY.replace(
                "dir = \"~/.local/share/mandate\"",
                &format!("dir = \"{}\"", records.display()),
            ),
        )
        .unwrap();
        std::fs::write(root.join(".mandate/contracts/BILL-142.toml"), CONTRACT).unwrap();
        std::fs::write(
            root.join("billing/export/filter.py"),
            "keep = lambda r: r.region != 'EU'\n",
        )
        .unwrap();
        std::fs::write(root.join("docs/billing/export.md"), "# export\n").unwrap();
        std::fs::write(root.join("customer_data/eu.csv"), "acme,EU\n").unwrap();
        std::fs::write(root.join(".env"), "SECRET=1\n").unwrap();
        std::fs::write(
            root.join(".mcp.json"),
            r#"{"mcpServers": {"jira": {"command": "jira-mcp"}}}"#,
        )
        .unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        let managed = dir.path().join("managed-settings.json");
        Repo {
            dir,
            root,
            records,
            managed,
        }
    }

    pub fn command(&self, user: &str) -> Command {
        let mut command = Command::new(mandate_bin());
        command
            .current_dir(&self.root)
            .env("MANDATE_USER", user)
            .env(
                "MANDATE_ORG_POLICY",
                self.dir.path().join("no-org-policy.toml"),
            )
            .env("MANDATE_MANAGED_SETTINGS", &self.managed)
            .env("HOME", self.dir.path());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command("alice@example.com")
            .args(args)
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mandate {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// One hook event through the real entry point; returns its stdout JSON.
    pub fn hook(&self, event: Value) -> Value {
        let mut child = self
            .command("alice@example.com")
            .args(["hook", "claude-code", "--root"])
            .arg(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(event.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// A tool call as Claude Code makes it: PreToolUse, and PostToolUse when the hook let
    /// it through. Returns the permission decision.
    pub fn call(
        &self,
        session: &str,
        agent: Option<&str>,
        id: &str,
        tool: &str,
        input: Value,
    ) -> String {
        let mut event = json!({
            "session_id": session, "transcript_path": "/dev/null", "cwd": self.root,
            "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": input,
            "tool_use_id": id,
        });
        if let Some(agent) = agent {
            event["agent_id"] = json!(agent);
            event["agent_type"] = json!("general-purpose");
        }
        let answer = self.hook(event.clone());
        let decision = answer["hookSpecificOutput"]["permissionDecision"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        if decision == "allow" {
            event["hook_event_name"] = json!("PostToolUse");
            event["tool_response"] = json!({"ok": true});
            self.hook(event);
        }
        decision
    }

    pub fn prompt(&self, session: &str, text: &str) {
        self.hook(json!({"session_id": session, "cwd": self.root,
            "hook_event_name": "UserPromptSubmit", "prompt": text}));
    }

    pub fn rollback_note(&self) {
        self.ok(&[
            "evidence",
            "rollback",
            "--change",
            "filter keeps EU rows",
            "--undo",
            "git revert",
            "--data-risk",
            "none",
            "--trigger",
            "export totals change",
            "--owner",
            "billing on-call",
            "--stop-before",
            "schema changes",
        ]);
    }

    /// Two runs of BILL-142 with reads, an MCP call, edits (one by a subagent), refused
    /// reads of customer data (one by a subagent), a refused write to deploy/, and one
    /// tool result that arrived with no decision before it.
    pub fn two_runs(&self) {
        self.two_runs_with(true);
    }

    /// The two runs; `ghost` adds a call that ran with no decision (unguarded).
    pub fn two_runs_with(&self, ghost: bool) {
        self.ok(&["start", ".mandate/contracts/BILL-142.toml"]);
        self.prompt(
            "s1",
            "EU invoice rows vanish from the export; fix the filter",
        );
        assert_eq!(
            self.call(
                "s1",
                None,
                "r1-read",
                "Read",
                json!({"file_path": "billing/export/filter.py"})
            ),
            "allow"
        );
        assert_eq!(
            self.call(
                "s1",
                None,
                "r1-jira",
                "mcp__jira__get_issue",
                json!({"issue": "BILL-142"})
            ),
            "allow"
        );
        assert_eq!(
            self.call(
                "s1",
                Some("sub-1"),
                "r1-cust",
                "Read",
                json!({"file_path": "customer_data/eu.csv"})
            ),
            "deny"
        );
        assert_eq!(
            self.call("s1", None, "r1-early", "Edit", json!({"file_path": "billing/export/filter.py", "old_string": "!=", "new_string": "=="})),
            "deny",
            "no rollback note yet"
        );
        self.rollback_note();
        assert_eq!(
            self.call("s1", None, "r1-edit", "Edit", json!({"file_path": "billing/export/filter.py", "old_string": "!=", "new_string": "=="})),
            "allow"
        );
        assert_eq!(
            self.call(
                "s1",
                None,
                "r1-deploy",
                "Write",
                json!({"file_path": "deploy/prod.yaml", "content": "x"})
            ),
            "deny"
        );
        // A result with no decision before it: the hook was not consulted.
        if ghost {
            self.hook(
                json!({"session_id": "s1", "cwd": self.root, "hook_event_name": "PostToolUse",
                "tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_use_id": "r1-ghost",
                "tool_response": {}}),
            );
        }
        self.ok(&["finish"]);

        self.ok(&["start", ".mandate/contracts/BILL-142.toml"]);
        self.prompt("s2", "also handle null regions");
        self.rollback_note();
        assert_eq!(
            self.call(
                "s2",
                Some("sub-2"),
                "r2-docs",
                "Read",
                json!({"file_path": "docs/billing/export.md"})
            ),
            "allow"
        );
        assert_eq!(
            self.call("s2", Some("sub-2"), "r2-edit", "Write", json!({"file_path": "billing/export/filter.py", "content": "keep = lambda r: True\n"})),
            "allow"
        );
        assert_eq!(
            self.call(
                "s2",
                None,
                "r2-cust",
                "Read",
                json!({"file_path": "customer_data/eu.csv"})
            ),
            "deny"
        );
        self.ok(&["finish"]);
    }
}

/// Headless Chromium, if installed: `None` prints SKIPPED, unless
/// `MANDATE_E2E_REQUIRED=1`, which makes a missing browser a failure.
pub fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(path) = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        }) {
            return Some(path);
        }
    }
    assert!(
        std::env::var("MANDATE_E2E_REQUIRED").as_deref() != Ok("1"),
        "MANDATE_E2E_REQUIRED=1 but no Chromium is installed: `apt-get install -y chromium`"
    );
    None
}

fn chromium_args(browser: &Path, profile: &Path) -> Command {
    let mut command = Command::new(browser);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--hide-scrollbars",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// Render `html` in the browser: (the DOM after load, the screenshot PNG path).
pub fn render(browser: &Path, html: &str, work: &Path, name: &str) -> (String, PathBuf) {
    let page = work.join(format!("{name}.html"));
    std::fs::write(&page, html).unwrap();
    let url = format!("file://{}", page.display());
    let png = work.join(format!("{name}.png"));
    let shot = chromium_args(browser, &work.join(format!("{name}-profile-1")))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,2000")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        png.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let dom = chromium_args(browser, &work.join(format!("{name}-profile-2")))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    (String::from_utf8_lossy(&dom.stdout).to_string(), png)
}

/// Decode the PNG with python3's zlib and measure it: (width, height, distinct colours,
/// pixels within a small distance of `rgb`).
pub fn png_stats(png: &Path, rgb: (u8, u8, u8)) -> (u64, u64, u64, u64) {
    const SCRIPT: &str = r#"
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat, w, h, ctype = 8, b'', 0, 0, 0
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos+8]); body = data[pos+8:pos+8+n]; pos += 12 + n
    if kind == b'IHDR': w, h, depth, ctype = struct.unpack('>IIBB', body[:10]); assert depth == 8
    elif kind == b'IDAT': idat += body
bpp = {2: 3, 6: 4}[ctype]
raw = zlib.decompress(idat); stride = w * bpp
prev = bytearray(stride); colours = set(); near = 0
r0, g0, b0 = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for y in range(h):
    f = raw[y*(stride+1)]; line = bytearray(raw[y*(stride+1)+1:(y+1)*(stride+1)])
    for i in range(stride):
        a = line[i-bpp] if i >= bpp else 0; b = prev[i]; c = prev[i-bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p-a), abs(p-b), abs(p-c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = (line[x], line[x+1], line[x+2]); colours.add(px)
        if abs(px[0]-r0) + abs(px[1]-g0) + abs(px[2]-b0) < 30: near += 1
    prev = line
print(w, h, len(colours), near)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(png)
        .args([rgb.0.to_string(), rgb.1.to_string(), rgb.2.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let numbers: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2], numbers[3])
}
