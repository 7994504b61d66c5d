#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 19: readiness and metrics on the team server are the CLI's questions and figures,
//! over every machine's runs. Two machines (two record stores, two tokens) record runs
//! through the real hook and push them to one `mandate-server` on PostgreSQL; the CLI
//! then answers over the union of both machines' records, and the server over what
//! they pushed, and the answers must be the same, word for word and figure for figure.
//!
//! The PostgreSQL database is made with `psql` on `$MANDATE_TEST_POSTGRES` (default
//! `postgres://root@127.0.0.1:5432`) and dropped afterwards; without a reachable server
//! the test says SKIPPED, unless `MANDATE_E2E_REQUIRED` is set.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use mandate_project::remote::Server as Client;
use serde_json::{Value, json};

mod server_support;
use server_support::{
    Browser, CONTRACT, Database, POLICY, create_token, free_port, hook_answer, mandate_bin, serve,
};

struct Server {
    child: Child,
    url: String,
    database: String,
}

impl Server {
    fn start(database: &str) -> Server {
        let port = free_port();
        let (child, _) = serve(database, port, &[]);
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            database: database.to_string(),
        }
    }

    /// A server whose team policy is `policy`, and its admin's token.
    fn with_policy(database: &str, policy: Value) -> (Server, String) {
        let server = Server::start(database);
        let admin = server.token("root@example.com", "admin", &[]);
        let (status, body) = server.request(&admin, "POST", "/api/v1/policy", Some(&policy));
        assert_eq!(status, 200, "{body}");
        (server, admin)
    }

    fn token(&self, user: &str, role: &str, extra: &[&str]) -> String {
        create_token(&self.database, user, role, extra)
    }

    fn request(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let client = Client::new(&self.url, Some(token.to_string())).unwrap();
        let r = client
            .request(method, path, body, Duration::from_secs(60))
            .unwrap();
        (r.status, r.json())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One developer's machine: a checkout of the billing example whose policy names the
/// server, and a record store of its own.
struct Machine {
    _dir: tempfile::TempDir,
    root: PathBuf,
    records: PathBuf,
    user: String,
    token: String,
}

impl Machine {
    fn new(server: &str, user: &str, token: &str, records: Option<&Path>) -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join(".mandate/contracts")).unwrap();
        std::fs::create_dir_all(root.join("billing/export/tests")).unwrap();
        std::fs::write(root.join("billing/export/filter.py"), "x = 1\n").unwrap();
        std::fs::write(root.join(".mcp.json"), r#"{"mcpServers": {"jira": {}}}"#).unwrap();
        let records = records
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.path().join("records"));
        std::fs::write(
            root.join("mandate.toml"),
            POLICY.replace(
                "dir = \"~/.local/share/mandate\"",
                &format!("dir = \"{}\"\nserver = \"{server}\"", records.display()),
            ),
        )
        .unwrap();
        std::fs::write(
            root.join(".mandate/contracts/BILL-142.toml"),
            CONTRACT.replace(
                "delegated_by = \"alice@example.com\"",
                &format!("delegated_by = \"{user}\""),
            ),
        )
        .unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        Machine {
            _dir: dir,
            root,
            records,
            user: user.to_string(),
            token: token.to_string(),
        }
    }

    fn mandate(&self, args: &[&str]) -> Output {
        Command::new(mandate_bin())
            .args(args)
            .current_dir(&self.root)
            .env("MANDATE_USER", &self.user)
            .env("MANDATE_ORG_POLICY", self.root.join("no-org.toml"))
            .env("MANDATE_TOKEN", &self.token)
            .env(
                "MANDATE_MANAGED_SETTINGS",
                self.root.join("no-managed.json"),
            )
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.mandate(args);
        assert!(
            out.status.success(),
            "mandate {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn hook(&self, name: &str, fields: Value) {
        let mut event = json!({"session_id": "s1", "transcript_path": "/dev/null",
                               "cwd": self.root, "hook_event_name": name});
        for (k, v) in fields.as_object().unwrap() {
            event[k] = v.clone();
        }
        hook_answer(
            Command::new(mandate_bin())
                .args(["hook", "claude-code", "--root"])
                .arg(&self.root)
                .current_dir(&self.root)
                .env("MANDATE_USER", &self.user)
                .env("MANDATE_ORG_POLICY", self.root.join("no-org.toml"))
                .env("MANDATE_TOKEN", &self.token),
            &event,
        );
    }

    fn pre(&self, id: &str, tool: &str, input: Value) {
        self.hook(
            "PreToolUse",
            json!({"tool_name": tool, "tool_use_id": id, "tool_input": input}),
        );
    }

    fn post(&self, id: &str, tool: &str, input: Value) {
        self.hook(
            "PostToolUse",
            json!({"tool_name": tool, "tool_use_id": id, "tool_input": input,
                   "tool_response": {}}),
        );
    }

    /// A run with allowed, refused and unguarded calls, a call of an MCP tool, and evidence.
    fn a_run(&self, tag: &str) {
        self.ok(&["start", ".mandate/contracts/BILL-142.toml"]);
        let read = json!({"file_path": "billing/export/filter.py"});
        self.pre(&format!("{tag}-1"), "Read", read.clone());
        self.post(&format!("{tag}-1"), "Read", read);
        self.pre(&format!("{tag}-2"), "Read", json!({"file_path": ".env"}));
        self.pre(
            &format!("{tag}-3"),
            "Bash",
            json!({"command": "kubectl get pods"}),
        );
        self.pre(
            &format!("{tag}-4"),
            "mcp__jira__get_issue",
            json!({"issue": "BILL-142"}),
        );
        // A result with no decision before it: an unguarded call.
        self.post(
            &format!("{tag}-9"),
            "Bash",
            json!({"command": "pytest billing/export/tests"}),
        );
    }

    fn json_readiness(&self) -> Value {
        let out = self.mandate(&["readiness", "--format", "json"]);
        json_of(&String::from_utf8_lossy(&out.stdout))
    }

    fn runs(&self) -> Vec<PathBuf> {
        let mut runs: Vec<PathBuf> = std::fs::read_dir(self.records.join("runs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        runs.sort();
        runs
    }
}

fn entries(run: &Path) -> u64 {
    std::fs::read_to_string(run.join("log.jsonl"))
        .unwrap()
        .lines()
        .count() as u64
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn readiness_and_metrics_on_the_server_are_the_clis_over_every_machine() {
    let Some(postgres) = Database::postgres("readiness_and_metrics_on_the_server_are_the_clis")
    else {
        return;
    };
    let (server, admin) = Server::with_policy(
        &postgres.url(),
        json!({"policy": {
            "kill_switch": ["sec@example.com"],
            "projects": {"billing": {
                "delegators": ["alice@example.com", "bob@example.com"],
                "reviewers": {"billing": ["bob@example.com"], "security": ["sec@example.com"]},
                "security": ["sec@example.com"]
            }}
        }}),
    );
    let alice = server.token("alice@example.com", "developer", &["--project", "billing"]);
    let bob = server.token("bob@example.com", "developer", &["--project", "billing"]);

    // Two machines, each with runs of its own, pushed.
    let first = Machine::new(&server.url, "alice@example.com", &alice, None);
    first.a_run("a1");
    first.ok(&["finish"]);
    first.a_run("a2");
    let second = Machine::new(&server.url, "bob@example.com", &bob, None);
    second.a_run("c1");
    second.ok(&["finish"]);
    for machine in [&first, &second] {
        machine.ok(&["push"]);
    }
    let (_, runs) = server.request(&admin, "GET", "/api/v1/runs", None);
    let pushed: u64 = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["entries"].as_u64().unwrap())
        .sum();
    let local: u64 = first
        .runs()
        .iter()
        .chain(&second.runs())
        .map(|r| entries(r))
        .sum();
    assert_eq!(
        pushed, local,
        "every entry of both machines reached the server"
    );
    assert_eq!(runs.as_array().unwrap().len(), 3);

    // The incident lead's view of both machines: the first machine's runs copied into
    // the second's record store, the CLI run there.
    for run in first.runs() {
        let to = second.records.join("runs").join(run.file_name().unwrap());
        let status = Command::new("cp")
            .arg("-a")
            .arg(&run)
            .arg(&to)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let local_readiness = {
        let out = second.mandate(&["readiness", "--all-repos", "--format", "json"]);
        json_of(&String::from_utf8_lossy(&out.stdout))
    };
    let local_metrics = json_of(&second.ok(&["metrics", "--all-repos", "--format", "json"]));
    // And again, from the cache of each run's figures.
    assert_eq!(
        json_of(&second.ok(&["metrics", "--all-repos", "--format", "json"])),
        local_metrics
    );

    let (status, server_readiness) =
        server.request(&admin, "GET", "/api/v1/readiness?project=billing", None);
    assert_eq!(status, 200, "{server_readiness}");
    let (status, server_metrics) =
        server.request(&admin, "GET", "/api/v1/metrics?project=billing", None);
    assert_eq!(status, 200, "{server_metrics}");

    // The same fifteen questions, answered the same way from the same sources.
    let questions = local_readiness["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 15);
    let answered = questions.iter().filter(|q| q["answered"] == true).count();
    assert!(answered >= 13, "{local_readiness:#}");
    assert_eq!(
        server_readiness["questions"], local_readiness["questions"],
        "server:\n{:#}\nCLI:\n{:#}",
        server_readiness["questions"], local_readiness["questions"]
    );
    // The figures over all three runs of both machines.
    assert_eq!(local_metrics["runs"], 3);
    assert_eq!(local_metrics["runs_finished"], 2);
    assert_eq!(local_metrics["unguarded_calls"], 3);
    assert_eq!(
        local_metrics["mcp_tools"]["mcp__jira__get_issue"]["calls"],
        3
    );
    assert_eq!(local_metrics["repositories"].as_array().unwrap().len(), 2);
    assert_eq!(
        server_metrics, local_metrics,
        "server:\n{server_metrics:#}\nCLI:\n{local_metrics:#}"
    );
    // Question 14 quotes those figures.
    let q14 = questions.iter().find(|q| q["id"] == 14).unwrap();
    assert!(
        q14["answer"].as_str().unwrap().contains("over 3 runs"),
        "{q14}"
    );
    // The checks the records answer agree too.
    let check = check_of;
    for id in ["mode", "guarded", "mcp_registered"] {
        assert_eq!(
            check(&server_readiness, id),
            check(&local_readiness, id),
            "{id}"
        );
    }
    // Neither machine installed its hooks, and each said so at its push.
    assert_eq!(check(&server_readiness, "hooks")["status"], "fail");
    // Since a day: the same on both sides too.
    let day = &local_metrics["days"][0]["day"]
        .as_str()
        .unwrap()
        .to_string();
    let local_since =
        json_of(&second.ok(&["metrics", "--all-repos", "--since", day, "--format", "json"]));
    let (_, server_since) = server.request(
        &admin,
        "GET",
        &format!("/api/v1/metrics?project=billing&since={day}"),
        None,
    );
    assert_eq!(server_since, local_since);
}

/// The check of one id in a readiness report.
fn check_of(report: &Value, id: &str) -> Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Issue 19, build 1: what only a machine can check (hooks, managed settings, sandbox)
/// was "not checked" on the server. Each machine now reports it when it syncs, as its
/// token's user, with when it checked; the server's readiness answers from those reports
/// (which machines, how fresh, the worst answer), each machine's line the same as its own
/// `mandate readiness`, and a user whose machine never reported keeps it "not checked"
/// with how to fix it.
#[test]
fn machine_checks_reach_the_server_and_agree_with_each_machine() {
    let Some(postgres) = Database::postgres("machine_checks_reach_the_server") else {
        return;
    };
    let (server, admin) = Server::with_policy(
        &postgres.url(),
        json!({"policy": {"projects": {"billing": {
            "delegators": ["alice@example.com", "bob@example.com", "carol@example.com"],
            "reviewers": {"billing": ["bob@example.com"]},
            "security": ["sec@example.com"]}}}}),
    );
    let token = |user: &str| server.token(user, "developer", &["--project", "billing"]);
    let (alice, bob, carol) = (
        token("alice@example.com"),
        token("bob@example.com"),
        token("carol@example.com"),
    );
    // Machine A installed mandate's hooks; machine B did not.
    let a = Machine::new(&server.url, "alice@example.com", &alice, None);
    a.ok(&["install"]);
    a.a_run("a1");
    a.ok(&["push"]);
    // Before B: one machine, passing its hooks check.
    let (_, first) = server.request(&admin, "GET", "/api/v1/readiness?project=billing", None);
    assert_eq!(check_of(&first, "hooks")["status"], "pass", "{first:#}");

    let b = Machine::new(&server.url, "bob@example.com", &bob, None);
    b.a_run("b1");
    b.ok(&["push"]);
    let (status, readiness) =
        server.request(&admin, "GET", "/api/v1/readiness?project=billing", None);
    assert_eq!(status, 200, "{readiness}");
    let machines = readiness["machines"]
        .as_array()
        .expect("the reporting machines");
    assert_eq!(machines.len(), 2, "{readiness:#}");
    // Each machine's line on the server is its own `mandate readiness`, word for word.
    for (machine, user) in [(&a, "alice@example.com"), (&b, "bob@example.com")] {
        let out = machine.mandate(&["readiness", "--format", "json"]);
        let local = json_of(&String::from_utf8_lossy(&out.stdout));
        let reported = machines.iter().find(|m| m["user"] == user).unwrap();
        assert!(reported["checked_at"].as_str().unwrap().starts_with("20"));
        for id in ["hooks", "managed_settings", "sandbox"] {
            let here = check_of(&local, id);
            let there = reported["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == id)
                .unwrap_or_else(|| panic!("{user} reported no {id}: {reported:#}"));
            assert_eq!(there["status"], here["status"], "{user} {id}");
            assert_eq!(there["detail"], here["detail"], "{user} {id}");
            // The organisation's check asks the same question.
            assert_eq!(check_of(&readiness, id)["check"], here["check"], "{id}");
        }
    }
    assert_eq!(check_of(&a.json_readiness(), "hooks")["status"], "pass");
    // Over both: B's failure is the organisation's, and both machines are named.
    let hooks = check_of(&readiness, "hooks");
    assert_eq!(hooks["status"], "fail", "{hooks:#}");
    let detail = hooks["detail"].as_str().unwrap();
    assert!(detail.contains("2 machine(s) reported"), "{detail}");
    assert!(detail.contains("alice@example.com on "), "{detail}");
    assert!(detail.contains("bob@example.com on "), "{detail}");
    assert!(detail.contains("checked 20"), "{detail}");

    // Carol's machine runs a mandate that does not report (no records.server in its
    // policy; her runs are pushed by hand): her machine is not checked, and said so.
    let c = Machine::new("", "carol@example.com", &carol, None);
    let policy = std::fs::read_to_string(c.root.join("mandate.toml")).unwrap();
    std::fs::write(
        c.root.join("mandate.toml"),
        policy.replace(
            "\"bob@example.com\"]",
            "\"bob@example.com\", \"carol@example.com\"]",
        ),
    )
    .unwrap();
    c.a_run("c1");
    c.ok(&["push", "--server", &server.url]);
    let (_, readiness) = server.request(&admin, "GET", "/api/v1/readiness?project=billing", None);
    assert_eq!(readiness["machines"].as_array().unwrap().len(), 2);
    let sandbox = check_of(&readiness, "sandbox");
    let detail = sandbox["detail"].as_str().unwrap();
    assert!(
        detail.contains("never reported by a machine of carol@example.com"),
        "{detail}"
    );
    assert!(detail.contains("mandate push"), "{detail}");

    // A report is the token's user's, for a project the token covers.
    let foreign = server.token("dave@example.com", "developer", &["--project", "payments"]);
    let (status, body) = server.request(
        &foreign,
        "POST",
        "/api/v1/machines/checks",
        Some(
            &json!({"machine": "m:/r", "project": "billing", "workspace": "/w",
                     "checked_at": "2026-12-08T00:00:00Z",
                     "checks": [{"id": "hooks", "status": "pass", "detail": "x"}]}),
        ),
    );
    assert_eq!(status, 403, "{body}");
    let (status, _) = server.request(
        "mdt_not-a-token",
        "POST",
        "/api/v1/machines/checks",
        Some(&json!({})),
    );
    assert_eq!(status, 401);
}

/// Issue 19, "pages a security team uses every day": the runs of two machines, one in
/// shadow mode, one run of 1,500 entries, read in Chromium (`runs.mjs`): filters, sorting,
/// paging of the list and of the long run's timeline, readable times, and every metric's
/// link to the runs or events behind it.
#[test]
fn runs_pages_filter_sort_page_and_drill_down_in_a_browser() {
    let Some(browser) = Browser::ready() else {
        return;
    };
    let Some(postgres) = Database::postgres("runs_pages_filter_sort_page_and_drill_down") else {
        return;
    };
    let (server, admin) = Server::with_policy(
        &postgres.url(),
        json!({"policy": {
            "kill_switch": ["sec@example.com"],
            "projects": {"billing": {
                "delegators": ["alice@example.com", "bob@example.com"],
                "reviewers": {"billing": ["sec@example.com"]},
                "security": ["sec@example.com"]
            }}
        }}),
    );
    let alice = server.token("alice@example.com", "developer", &["--project", "billing"]);
    let bob = server.token("bob@example.com", "developer", &["--project", "billing"]);
    let first = Machine::new(&server.url, "alice@example.com", &alice, None);
    first.a_run("a1");
    first.ok(&["finish"]);
    first.a_run("a2");
    // A long run: 1,500 more entries.
    let long = first
        .runs()
        .into_iter()
        .find(|r| {
            std::fs::read_to_string(r.join("log.jsonl"))
                .unwrap()
                .contains("a2-1")
        })
        .unwrap();
    let log = mandate_record::RunLog::open(&long).unwrap();
    for n in 0..1500 {
        log.append(
            json!({"type": "prompt", "time": mandate_record::now_rfc3339(),
                          "prompt": format!("step {n}")}),
        )
        .unwrap();
    }
    first.ok(&["finish"]);
    let second = Machine::new(&server.url, "bob@example.com", &bob, None);
    let policy = std::fs::read_to_string(second.root.join("mandate.toml")).unwrap();
    std::fs::write(
        second.root.join("mandate.toml"),
        policy.replace("mode = \"enforce\"", "mode = \"shadow\""),
    )
    .unwrap();
    second.a_run("b1");
    for machine in [&first, &second] {
        machine.ok(&["push"]);
    }
    let (_, runs) = server.request(&admin, "GET", "/api/v1/runs", None);
    assert_eq!(runs.as_array().unwrap().len(), 3, "{runs:#}");
    let dir = tempfile::tempdir().unwrap();
    let out = browser
        .script("runs.mjs", dir.path())
        .env("BASE_URL", &server.url)
        .env("ADMIN_TOKEN", &admin)
        .env("LONG_RUN", long.file_name().unwrap())
        .env("RUNS", "3")
        .env("TODAY", &mandate_record::now_rfc3339()[..10])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser walk failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
