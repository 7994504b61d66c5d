#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The MCP registry, the kill switch, named-reviewer approvals, and pinning, through the
//! real `mandate` binary: the hook entry point for decisions, the CLI verbs for people,
//! and real MCP servers (a Python test server whose description changes between runs, and
//! `@modelcontextprotocol/server-everything` from npm) for pin and verify.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

const DRIFT_SERVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/mcp-drift/server.py"
);

struct Repo {
    _dir: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    home: PathBuf,
    records: PathBuf,
}

fn policy(records: &Path) -> String {
    format!(
        r#"version = 1
mode = "enforce"
default = "deny"

[authority]
delegators = ["alice@example.com"]
agents = ["claude-code"]
reviewers = {{ security = ["sec@example.com", "alice@example.com"], billing = ["bob@example.com"] }}
kill_switch = ["sec@example.com"]

[mcp.servers.tickets]
owner = "it@example.com"
purpose = "read support tickets for bug fixes"
data = "ticket titles and status"
tools = {{ get_ticket = "read", close_ticket = "write" }}
approval = "security"

[mcp.servers.everything]
owner = "it@example.com"
purpose = "the MCP reference server, for tests"
data = "nothing real"
tools = {{ echo = "read" }}

[records]
dir = "{}"
"#,
        records.display()
    )
}

const CONTRACT: &str = r#"version = 1
[task]
id = "T-7"
request = "Fix the ticket export."
delegated_by = "alice@example.com"
agent = "claude-code"

[allow]
read = ["src/**"]
call = ["mcp__tickets__get_ticket"]

[[approval]]
reason = "dependency changes need a named reviewer"
write = ["src/requirements.txt"]
reviewers = "billing"
"#;

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let root = base.join("repo");
        let home = base.join("home");
        let records = base.join("records");
        std::fs::create_dir_all(root.join(".mandate/contracts")).unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(root.join("mandate.toml"), policy(&records)).unwrap();
        std::fs::write(root.join(".mandate/contracts/T-7.toml"), CONTRACT).unwrap();
        std::fs::write(root.join("src/main.py"), "print(1)\n").unwrap();
        let repo = Repo {
            _dir: dir,
            base,
            root,
            home,
            records,
        };
        repo.ok(
            "alice@example.com",
            &["start", ".mandate/contracts/T-7.toml"],
        );
        repo
    }

    fn command(&self, user: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mandate"));
        command
            .current_dir(&self.root)
            .env("HOME", &self.home)
            .env("MANDATE_USER", user)
            .env("MANDATE_ORG_POLICY", self.base.join("no-org.toml"))
            .env(
                "MANDATE_MANAGED_SETTINGS",
                self.base.join("managed/managed-settings.json"),
            )
            .env_remove("CLAUDE_CONFIG_DIR")
            .env_remove("MANDATE_MANAGED_MCP");
        command
    }

    fn run(&self, user: &str, args: &[&str]) -> Output {
        self.command(user).args(args).output().unwrap()
    }

    fn ok(&self, user: &str, args: &[&str]) -> String {
        let output = self.run(user, args);
        assert!(
            output.status.success(),
            "mandate {args:?} as {user} failed ({:?}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `mandate ARGS` must fail; returns stdout and stderr together.
    fn fails(&self, user: &str, args: &[&str], code: i32) -> String {
        let output = self.run(user, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(code), "mandate {args:?}: {text}");
        text
    }

    /// One PreToolUse through the hook entry point: (decision, reason).
    fn call(&self, tool: &str, input: Value) -> (String, String) {
        let event = json!({
            "session_id": "s1", "transcript_path": "/dev/null", "cwd": self.root,
            "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": input,
            "tool_use_id": "toolu_1"
        });
        let mut child = self
            .command("agent")
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
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
        let specific = &answer["hookSpecificOutput"];
        (
            specific["permissionDecision"]
                .as_str()
                .unwrap_or("none")
                .to_string(),
            specific["permissionDecisionReason"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    }

    /// Everything the run's record holds, as text.
    fn record_text(&self) -> String {
        let mut text = String::new();
        for run in std::fs::read_dir(self.records.join("runs"))
            .unwrap()
            .flatten()
        {
            for file in std::fs::read_dir(run.path()).unwrap().flatten() {
                if file.path().is_file() {
                    text.push_str(&String::from_utf8_lossy(
                        &std::fs::read(file.path()).unwrap(),
                    ));
                }
            }
        }
        text
    }

    fn write_mcp_json(&self, servers: Value) {
        std::fs::write(
            self.root.join(".mcp.json"),
            json!({ "mcpServers": servers }).to_string(),
        )
        .unwrap();
    }
}

fn drift_server(counter: &Path) -> Value {
    json!({
        "type": "stdio",
        "command": "python3",
        "args": [DRIFT_SERVER],
        "env": { "MCP_DRIFT_COUNTER": counter.to_string_lossy() },
    })
}

fn approval_id(reason: &str) -> String {
    let start = reason.find("mandate approve a-").expect(reason) + "mandate approve ".len();
    reason[start..]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn registered_read_tools_run_and_unregistered_and_write_class_tools_are_refused() {
    let repo = Repo::new();
    let (decision, _) = repo.call("mcp__tickets__get_ticket", json!({"id": "T-1"}));
    assert_eq!(decision, "allow");
    let (decision, reason) = repo.call("mcp__notes__read", json!({}));
    assert_eq!(decision, "deny");
    assert!(reason.contains("not in the registry"), "{reason}");
    let (decision, reason) = repo.call("mcp__tickets__delete_all", json!({}));
    assert_eq!(decision, "deny");
    assert!(reason.contains("not listed in the registry"), "{reason}");
    let (decision, reason) = repo.call("mcp__tickets__close_ticket", json!({"id": "T-1"}));
    assert_eq!(decision, "deny");
    assert!(
        reason.contains("holding this call for approval"),
        "{reason}"
    );
    assert!(reason.contains("sec@example.com"), "{reason}");
    // The delegating user is in the group but may not approve, so is not offered.
    assert!(
        reason.contains("a member of `security` (sec@example.com) can grant it"),
        "{reason}"
    );
}

#[test]
fn kill_switch_takes_effect_on_the_next_call_and_lands_in_the_record() {
    let repo = Repo::new();
    let get = || repo.call("mcp__tickets__get_ticket", json!({"id": "T-1"}));
    assert_eq!(get().0, "allow");

    let refused = repo.fails(
        "alice@example.com",
        &["disable", "tickets", "--reason", "x"],
        2,
    );
    assert!(refused.contains("may not disable"), "{refused}");
    let typo = repo.fails(
        "sec@example.com",
        &["disable", "tikets", "--reason", "x"],
        2,
    );
    assert!(typo.contains("did you mean `tickets`"), "{typo}");

    let out = repo.ok(
        "sec@example.com",
        &[
            "disable",
            "tickets",
            "--reason",
            "incident 42: tickets leak",
        ],
    );
    assert!(
        out.contains("written into the record of 1 active run"),
        "{out}"
    );
    let (decision, reason) = get();
    assert_eq!(decision, "deny");
    assert!(reason.contains("disabled by the kill switch"), "{reason}");

    let listed: Value =
        serde_json::from_str(&repo.ok("alice@example.com", &["disabled", "--json"])).unwrap();
    assert_eq!(listed["kill_switch"][0]["target"], "tickets");
    assert_eq!(listed["kill_switch"][0]["by"], "sec@example.com");

    repo.ok("sec@example.com", &["enable", "tickets"]);
    assert_eq!(get().0, "allow");

    // One tool, then a whole touch kind.
    repo.ok(
        "sec@example.com",
        &[
            "disable",
            "tickets/get_ticket",
            "--reason",
            "rug pull suspected",
        ],
    );
    assert_eq!(get().0, "deny");
    repo.ok("sec@example.com", &["enable", "tickets/get_ticket"]);
    let read = || repo.call("Read", json!({"file_path": repo.root.join("src/main.py")}));
    assert_eq!(read().0, "allow");
    repo.ok(
        "sec@example.com",
        &["disable", "read", "--reason", "freeze"],
    );
    let (decision, reason) = read();
    assert_eq!(decision, "deny");
    assert!(reason.contains("kill switch"), "{reason}");

    let log = std::fs::read_to_string(repo.records.join("killswitch.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 5);
    let record = repo.record_text();
    assert!(
        record.contains("incident 42: tickets leak"),
        "the record misses the kill switch"
    );
    assert!(record.contains("\"killswitch\""));
}

#[test]
fn an_unreadable_kill_list_is_a_deny() {
    let repo = Repo::new();
    repo.ok("sec@example.com", &["disable", "expose", "--reason", "x"]);
    std::fs::write(repo.records.join("killswitch.json"), "{damaged").unwrap();
    let (decision, reason) = repo.call("mcp__tickets__get_ticket", json!({"id": "T-1"}));
    assert_eq!(decision, "deny");
    assert!(reason.contains("cannot read the kill switch"), "{reason}");
}

#[test]
fn the_named_reviewer_approves_exactly_one_call() {
    let repo = Repo::new();
    let close = |id: &str| repo.call("mcp__tickets__close_ticket", json!({"id": id}));
    let (decision, reason) = close("T-1");
    assert_eq!(decision, "deny");
    let id = approval_id(&reason);
    // 130 random bits: nobody can shape a call until its id lands on an approved one.
    assert_eq!(id.len(), 2 + 26, "{id}");
    // Asking again does not open a second request.
    assert_eq!(approval_id(&close("T-1").1), id);

    let pending: Value =
        serde_json::from_str(&repo.ok("sec@example.com", &["approvals", "--json"])).unwrap();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["id"], id.as_str());
    assert_eq!(pending[0]["input"], json!({"id": "T-1"}));

    let own = repo.fails("alice@example.com", &["approve", &id], 2);
    assert!(
        own.contains("may not decide its approval requests yourself"),
        "{own}"
    );
    let outsider = repo.fails("bob@example.com", &["approve", &id], 2);
    assert!(
        outsider.contains("not in the `security` reviewer group"),
        "{outsider}"
    );

    repo.ok("sec@example.com", &["approve", &id]);
    // A different input is not covered.
    let (decision, reason) = close("T-2");
    assert_eq!(decision, "deny");
    assert_ne!(approval_id(&reason), id);
    // The approved call runs once.
    let (decision, reason) = close("T-1");
    assert_eq!(decision, "allow", "{reason}");
    assert!(reason.contains("sec@example.com"), "{reason}");
    let (decision, reason) = close("T-1");
    assert_eq!(decision, "deny");
    assert_ne!(
        approval_id(&reason),
        id,
        "a used approval opened a new round"
    );

    let record = repo.record_text();
    for kind in ["approval.request", "approval.granted", "approval.used"] {
        assert!(record.contains(kind), "the record misses {kind}");
    }
}

#[test]
fn a_denied_request_stays_denied_and_for_run_covers_repeats() {
    let repo = Repo::new();
    let close = |id: &str| repo.call("mcp__tickets__close_ticket", json!({"id": id}));
    let id = approval_id(&close("T-1").1);
    repo.ok(
        "sec@example.com",
        &["deny", &id, "--reason", "that ticket is a customer's"],
    );
    for _ in 0..2 {
        let (decision, reason) = close("T-1");
        assert_eq!(decision, "deny");
        assert!(reason.contains("refused by sec@example.com"), "{reason}");
        assert!(reason.contains("customer's"), "{reason}");
    }
    let again = repo.fails("sec@example.com", &["approve", &id], 2);
    assert!(again.contains("stays refused"), "{again}");

    let id = approval_id(&close("T-3").1);
    repo.ok("sec@example.com", &["approve", &id, "--for-run"]);
    for _ in 0..3 {
        assert_eq!(close("T-3").0, "allow");
    }
    assert!(repo.record_text().contains("approval.denied"));
}

#[test]
fn pin_verify_and_the_hook_refuses_a_drifted_tool() {
    let repo = Repo::new();
    let counter = repo.base.join("drift-counter");
    repo.write_mcp_json(json!({ "tickets": drift_server(&counter) }));

    let refused = repo.fails("alice@example.com", &["mcp", "pin", "tickets"], 2);
    assert!(refused.contains("may not pin"), "{refused}");
    let out = repo.ok("it@example.com", &["mcp", "pin", "tickets"]);
    assert!(
        out.contains("pinned `tickets` (mcp-drift 1.0.1): 2 tools"),
        "{out}"
    );
    assert_eq!(
        repo.call("mcp__tickets__get_ticket", json!({"id": "T-1"}))
            .0,
        "allow"
    );

    // The second run of the server describes get_ticket differently: a rug-pull.
    let out = repo.fails("alice@example.com", &["mcp", "verify"], 1);
    assert!(out.contains("DRIFT"), "{out}");
    assert!(
        out.contains("the description of `get_ticket` changed"),
        "{out}"
    );
    assert!(out.contains("id_rsa"), "{out}");
    let (decision, reason) = repo.call("mcp__tickets__get_ticket", json!({"id": "T-1"}));
    assert_eq!(decision, "deny");
    assert!(reason.contains("changed since it was pinned"), "{reason}");
    assert!(reason.contains("mandate mcp pin tickets"), "{reason}");
    let listed = repo.ok("alice@example.com", &["disabled"]);
    assert!(listed.contains("tickets/get_ticket"), "{listed}");

    // The owner reviews the change and pins again: the tool runs, verify is clean.
    repo.ok("it@example.com", &["mcp", "pin", "tickets"]);
    assert_eq!(
        repo.call("mcp__tickets__get_ticket", json!({"id": "T-1"}))
            .0,
        "allow"
    );
    let out = repo.ok("alice@example.com", &["mcp", "verify", "tickets"]);
    assert!(out.contains("matches its pin"), "{out}");

    // A changed command line is drift of the whole server.
    let mut server = drift_server(&counter);
    server["args"] = json!([DRIFT_SERVER, "--verbose"]);
    repo.write_mcp_json(json!({ "tickets": server }));
    let out = repo.fails("alice@example.com", &["mcp", "verify", "--json"], 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["tickets"]["refused"], json!(["tickets"]));
    assert_eq!(
        repo.call("mcp__tickets__get_ticket", json!({"id": "T-1"}))
            .0,
        "deny"
    );
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pin_over_streamable_http() {
    let repo = Repo::new();
    let mut child = Command::new("python3")
        .args([DRIFT_SERVER, "--http"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("PORT ").expect(&line).to_string();
    repo.write_mcp_json(json!({
        "tickets": { "type": "http", "url": format!("http://127.0.0.1:{port}/mcp") }
    }));
    let out = repo.ok("sec@example.com", &["mcp", "pin", "tickets"]);
    assert!(out.contains("2 tools"), "{out}");
    assert!(out.contains("http://127.0.0.1"), "{out}");
    // No counter: the same server answers the same, so verify is clean.
    let out = repo.ok("sec@example.com", &["mcp", "verify"]);
    assert!(out.contains("matches its pin"), "{out}");
    drop(server);
}

/// `@modelcontextprotocol/server-everything` from npm, installed by
/// `scripts/install-mcp-everything.sh` (the test script exports its path).
fn everything_or_skip() -> Option<PathBuf> {
    let entry = match std::env::var_os("MANDATE_MCP_EVERYTHING") {
        Some(path) => PathBuf::from(path),
        None => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../scripts/install-mcp-everything.sh");
            let output = Command::new(script).output();
            match output {
                Ok(output) if output.status.success() => {
                    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
                }
                _ => PathBuf::new(),
            }
        }
    };
    if entry.is_file() {
        return Some(entry);
    }
    let message = "server-everything is not installed: run scripts/install-mcp-everything.sh";
    if std::env::var("MANDATE_E2E_REQUIRED").as_deref() == Ok("1") {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

#[test]
fn pin_and_verify_the_npm_reference_server() {
    let Some(entry) = everything_or_skip() else {
        return;
    };
    let repo = Repo::new();
    repo.write_mcp_json(json!({
        "everything": { "command": "node", "args": [entry, "stdio"] }
    }));
    let out = repo.ok("it@example.com", &["mcp", "pin", "everything"]);
    assert!(
        out.contains("pinned `everything` (mcp-servers/everything"),
        "{out}"
    );
    // Its other tools are not classified in the registry, and the pin says so.
    assert!(out.contains("the registry does not classify"), "{out}");
    let pin: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.records.join("mcp-pins/everything.json")).unwrap(),
    )
    .unwrap();
    let echo = &pin["tools"]["echo"];
    assert_eq!(echo["schema_digest"].as_str().unwrap().len(), 64);
    assert!(pin["instructions_digest"].is_string());
    let out = repo.ok("alice@example.com", &["mcp", "verify", "everything"]);
    assert!(out.contains("everything: matches its pin"), "{out}");
}

#[test]
fn scan_finds_every_configured_server_and_flags_what_is_off() {
    let repo = Repo::new();
    let counter = repo.base.join("counter");
    repo.write_mcp_json(json!({
        "tickets": drift_server(&counter),
        "notes": { "command": "notes-mcp" },
    }));
    std::fs::write(
        repo.home.join(".claude.json"),
        json!({
            "mcpServers": { "wiki": { "type": "http", "url": "http://127.0.0.1:9/mcp" } },
            "projects": { repo.root.to_string_lossy(): {
                "mcpServers": { "crm": { "command": "crm-mcp" } },
                "disabledMcpjsonServers": ["notes"]
            } }
        })
        .to_string(),
    )
    .unwrap();
    std::fs::create_dir_all(repo.base.join("managed")).unwrap();
    std::fs::write(
        repo.base.join("managed/managed-mcp.json"),
        json!({ "mcpServers": { "corp-search": { "command": "search-mcp" } } }).to_string(),
    )
    .unwrap();
    let out = repo.fails("alice@example.com", &["mcp", "scan", "--json"], 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    let servers = report["servers"].as_array().unwrap();
    let by_name = |name: &str| servers.iter().find(|s| s["name"] == name).expect(name);
    assert_eq!(by_name("corp-search")["source"], "managed");
    assert_eq!(by_name("crm")["source"], "local");
    assert_eq!(by_name("wiki")["source"], "user");
    assert_eq!(by_name("tickets")["registered"], true);
    assert_eq!(by_name("tickets")["problems"], json!([]));
    // Disabled in the settings: noted, not counted.
    assert!(
        by_name("notes")["activation"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    assert_eq!(by_name("notes")["problems"], json!([]));
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 3, "{problems:?}");
    let text = repo.fails("alice@example.com", &["mcp", "scan"], 1);
    assert!(text.contains("PROBLEM: not in the registry"), "{text}");

    // A registry entry missing its description is flagged by scan and by check.
    let policy = std::fs::read_to_string(repo.root.join("mandate.toml")).unwrap();
    std::fs::write(
        repo.root.join("mandate.toml"),
        policy.replace("purpose = \"read support tickets for bug fixes\"\n", ""),
    )
    .unwrap();
    repo.write_mcp_json(json!({ "tickets": drift_server(&counter) }));
    std::fs::remove_file(repo.home.join(".claude.json")).unwrap();
    std::fs::remove_file(repo.base.join("managed/managed-mcp.json")).unwrap();
    let text = repo.fails("alice@example.com", &["mcp", "scan"], 1);
    assert!(text.contains("PROBLEM: no `purpose`"), "{text}");
    let check = repo.ok("alice@example.com", &["check"]);
    assert!(
        check.contains("warning: MCP server `tickets` in the registry: no `purpose`"),
        "{check}"
    );
}

#[test]
fn a_contract_approval_rule_holds_the_call_for_its_group() {
    let repo = Repo::new();
    let write = || {
        repo.call(
            "Write",
            json!({"file_path": repo.root.join("src/requirements.txt"), "content": "requests==2.32.0\n"}),
        )
    };
    let (decision, reason) = write();
    assert_eq!(decision, "deny");
    assert!(
        reason.contains("dependency changes need a named reviewer"),
        "{reason}"
    );
    assert!(
        reason.contains("a member of `billing` (bob@example.com)"),
        "{reason}"
    );
    let id = approval_id(&reason);
    let outsider = repo.fails("sec@example.com", &["approve", &id], 2);
    assert!(
        outsider.contains("not in the `billing` reviewer group"),
        "{outsider}"
    );
    repo.ok("bob@example.com", &["approve", &id]);
    assert_eq!(write().0, "allow");
}
