#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The team server with the real Claude Code: a session in the billing repository whose
//! policy names a running `mandate-server`. Security switches reads off on the server
//! while the session runs and on again; the very next call meets each change. When the
//! session ends, its record is on the server, sealed, and verifies there: the hooks
//! pushed it in the background, nobody ran `mandate push`.
//!
//! Needs the Claude Code client (`scripts/install-claude-code.sh`), bubblewrap and socat.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mandate_project::remote::{self, Server};
use serde_json::Value;
use support::billing::Billing;
use support::claude::{Claude, claude_or_skip, sandbox_or_skip};
use support::model::{BeforeStep, ModelServer, Script, Step};

fn mandate() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mandate"))
}

fn server_bin() -> PathBuf {
    let path = mandate().with_file_name("mandate-server");
    if !path.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "mandate-server"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    path
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A token for project `billing` (the example repository's).
fn token(database: &str, user: &str, role: &str) -> String {
    let out = Command::new(server_bin())
        .args(["token", "create", "--user", user, "--role", role])
        .args(["--project", "billing"])
        .args(["--database-url", database])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn e2e_server_kill_switch_mid_session_and_the_record_on_the_server() {
    let test = "e2e_server_kill_switch_mid_session_and_the_record_on_the_server";
    let Some(claude) = claude_or_skip(test) else {
        return;
    };
    if !sandbox_or_skip(test) {
        return;
    }
    let billing = Billing::new();

    // The team server, on SQLite beside the repository.
    let database = format!("sqlite://{}", billing.base.join("server.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(server_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &database])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Running(child);
    let url = format!("http://127.0.0.1:{port}");
    let alice = token(&database, "alice@example.com", "developer");
    let sec = token(&database, "sec@example.com", "security");
    let bob = token(&database, "bob@example.com", "reviewer");
    // The team policy: alice delegates runs in billing, bob reviews them, sec holds the
    // kill switch.
    let admin = Server::new(&url, Some(token(&database, "root@example.com", "admin"))).unwrap();
    let pushed = admin
        .request(
            "POST",
            "/api/v1/policy",
            Some(&serde_json::json!({"policy": {
                "kill_switch": ["sec@example.com"],
                "projects": {"billing": {"delegators": ["alice@example.com"],
                                         "reviewers": {"billing": ["bob@example.com"]}}}}})),
            Duration::from_secs(20),
        )
        .unwrap();
    assert_eq!(pushed.status, 200, "{}", pushed.error());

    // The policy names the server.
    let records_line = format!("dir = \"{}\"", billing.records.display());
    let policy = billing.read("mandate.toml").unwrap();
    assert!(policy.contains(&records_line), "{policy}");
    billing.write(
        "mandate.toml",
        &policy.replace(
            &records_line,
            &format!("{records_line}\nserver = \"{url}\"\nproject = \"billing\""),
        ),
    );
    billing.install_and_start(&mandate());

    // Security switches reads off before the model's second call and on before its third.
    // Hooks keep the server's answer for REFRESH_EVERY (2 s, the default here), so a change
    // reaches every hook within that: the model takes that long to answer.
    let security = Server::new(&url, Some(sec)).unwrap();
    // Where a change the server could not take would wait (security's own machine).
    let outbox = tempfile::tempdir().unwrap();
    let before: BeforeStep = Box::new(move |step| {
        let records = outbox.path();
        let change = match step {
            1 => remote::switch(
                &security,
                records,
                "disable",
                "read",
                "incident 9: reads paused",
            ),
            2 => remote::switch(&security, records, "enable", "read", ""),
            _ => return,
        };
        if !matches!(change, mandate_project::outbox::Delivery::Sent(_)) {
            eprintln!("the kill switch failed: {change:?}");
        }
        std::thread::sleep(remote::REFRESH_EVERY + Duration::from_millis(200));
    });
    let filter = billing.path("billing/export/filter.py");
    let docs = billing.path("docs/billing/export.md");
    let model = ModelServer::start_with(
        Script {
            main: vec![Step::read(&filter), Step::read(&docs), Step::read(&docs)],
            subagent: vec![],
        },
        Some(before),
    );
    let run = Claude::new(&claude, &billing.root, &billing.home, &model.base_url())
        .path_prefix(mandate().parent().unwrap())
        .env("MANDATE_ORG_POLICY", billing.org_policy())
        .env("MANDATE_TOKEN", &alice)
        .run("BILL-142: read the export filter and its docs.");

    let told = |step: usize| {
        model
            .main_result(step)
            .unwrap_or_else(|| panic!("no result for step {step}:\n{}", run.dump()))
    };
    assert!(!run.denied(&ModelServer::main_id(0)), "{}", run.dump());
    assert!(told(0).text.contains("EXPORTED_REGIONS"));
    assert!(run.denied(&ModelServer::main_id(1)), "{}", run.dump());
    assert!(
        told(1).text.contains("kill switch"),
        "the model was told: {}",
        told(1).text
    );
    assert!(
        !run.denied(&ModelServer::main_id(2)),
        "reads are on again:\n{}",
        run.dump()
    );

    // The record reached the server behind the session, sealed by the session's
    // checkpoint, and verifies there.
    let run_dir = std::fs::read_dir(billing.records.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let run_id = run_dir.file_name().unwrap().to_string_lossy().to_string();
    let reviewer = Server::new(&url, Some(bob)).unwrap();
    let get = |path: &str| -> Value {
        reviewer
            .request("GET", path, None, Duration::from_secs(20))
            .unwrap()
            .json()
    };
    let local = || {
        std::fs::read_to_string(run_dir.join("log.jsonl"))
            .unwrap()
            .lines()
            .count() as u64
    };
    let start = Instant::now();
    loop {
        let summary = get(&format!("/api/v1/runs/{run_id}"));
        let entries = summary["run"]["entries"].as_u64().unwrap_or(0);
        let sealed = summary["run"]["sealed"].as_u64().unwrap_or(0);
        if entries == local() && sealed > 0 {
            assert!(
                summary["run"]["denials"].as_u64().unwrap_or(0) >= 1,
                "{summary}"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the server holds {entries} of {} entries, sealed {sealed}",
            local()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let report = get(&format!("/api/v1/runs/{run_id}/verify"));
    assert_eq!(report["ok"], true, "{report}");
}
