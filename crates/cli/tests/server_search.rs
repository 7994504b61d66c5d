#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 19: the incident questions asked of the organisation. Two machines (two record
//! stores, two users' tokens, one of them in shadow mode) record through the real hook
//! and push to one `mandate-server`; `why`, `touched` and the event search asked of the
//! server (`--server`, the API, the `/events` page and its CSV export) must give exactly
//! the union of what the two machines answer from their own records. Then the server's
//! events table is emptied and the server restarted: the backfill rebuilds the same
//! answers from the stored entries.
//!
//! On PostgreSQL (`$MANDATE_TEST_POSTGRES`, default `postgres://root@127.0.0.1:5432`,
//! SKIPPED without one unless `MANDATE_E2E_REQUIRED` is set) and on SQLite.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

mod server_support;
use server_support::{
    CONTRACT, Database, POLICY, create_token, free_port, hook_answer, mandate_bin, serve,
    wait_until,
};

/// Forget every row the pushes made, as a server from before the events table would
/// hold its records.
fn forget_the_index(database: &Database) {
    database.execute("DELETE FROM events; UPDATE runs SET indexed = 0;");
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(database: &Database, port: u16) -> Server {
        let (child, _) = serve(&database.url(), port, &[]);
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn token(database: &Database, user: &str, role: &str, project: bool) -> String {
        let extra: &[&str] = if project {
            &["--project", "billing"]
        } else {
            &[]
        };
        create_token(&database.url(), user, role, extra)
    }

    fn get(&self, token: &str, path: &str) -> (u16, Vec<u8>) {
        let client =
            mandate_project::remote::Server::new(&self.url, Some(token.to_string())).unwrap();
        let response = client
            .request("GET", path, None, Duration::from_secs(30))
            .unwrap();
        (response.status, response.body)
    }

    fn json(&self, token: &str, path: &str) -> Value {
        let (status, body) = self.get(token, path);
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One developer's machine: a repository, its own record store, its user and token.
struct Machine {
    dir: tempfile::TempDir,
    root: PathBuf,
    records: PathBuf,
    user: String,
    token: String,
}

impl Machine {
    fn new(server: &Server, user: &str, token: &str, mode: &str) -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join(".mandate/contracts")).unwrap();
        std::fs::create_dir_all(root.join("billing/export")).unwrap();
        std::fs::create_dir_all(root.join("customer_data")).unwrap();
        std::fs::write(root.join("billing/export/filter.py"), "x = 1\n").unwrap();
        std::fs::write(root.join("customer_data/eu.csv"), "a,b\n").unwrap();
        let records = dir.path().join("records");
        let policy = POLICY
            .replace(
                "dir = \"~/.local/share/mandate\"",
                &format!(
                    "dir = \"{}\"\nserver = \"{}\"",
                    records.display(),
                    server.url
                ),
            )
            .replace("mode = \"enforce\"", &format!("mode = \"{mode}\""));
        std::fs::write(root.join("mandate.toml"), policy).unwrap();
        std::fs::write(
            root.join(".mandate/contracts/BILL-142.toml"),
            CONTRACT.replace("alice@example.com", user),
        )
        .unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        let machine = Machine {
            dir,
            root,
            records,
            user: user.to_string(),
            token: token.to_string(),
        };
        machine.ok(&["start", ".mandate/contracts/BILL-142.toml"]);
        machine
    }

    fn command(&self, args: &[&str], token: &str) -> Command {
        let mut command = Command::new(mandate_bin());
        command
            .args(args)
            .current_dir(&self.root)
            .env("MANDATE_USER", &self.user)
            .env("MANDATE_ORG_POLICY", self.dir.path().join("org.toml"))
            .env("MANDATE_TOKEN", token)
            .env("MANDATE_SERVER_REFRESH_MS", "0");
        command
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_as(args, &self.token)
    }

    fn ok_as(&self, args: &[&str], token: &str) -> String {
        let out: Output = self.command(args, token).output().unwrap();
        assert!(
            out.status.success(),
            "mandate {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn hook(&self, name: &str, fields: Value) -> Value {
        let mut event = json!({"session_id": "s1", "transcript_path": "/dev/null",
                               "cwd": self.root, "hook_event_name": name});
        for (k, v) in fields.as_object().unwrap() {
            event[k] = v.clone();
        }
        hook_answer(
            self.command(&["hook", "claude-code", "--root"], &self.token)
                .arg(&self.root),
            &event,
        )
    }

    /// A call through PreToolUse, and its PostToolUse when the agent would run it.
    fn call(&self, id: &str, tool: &str, input: Value, extra: Value) -> String {
        let mut fields = json!({"tool_name": tool, "tool_use_id": id, "tool_input": input});
        for (k, v) in extra.as_object().unwrap() {
            fields[k] = v.clone();
        }
        let answer = self.hook("PreToolUse", fields.clone());
        let decision = answer["hookSpecificOutput"]["permissionDecision"]
            .as_str()
            .unwrap_or("")
            .to_string();
        // Shadow mode answers nothing: the agent's own permissions decide, and it runs.
        if decision == "allow" || decision.is_empty() {
            fields["tool_response"] = json!({"ok": true});
            self.hook("PostToolUse", fields);
        }
        decision
    }

    fn local_entries(&self) -> u64 {
        let runs = self.records.join("runs");
        let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap();
        std::fs::read_to_string(run.path().join("log.jsonl"))
            .unwrap()
            .lines()
            .count() as u64
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

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

/// What both sides must agree on for each row: all of it.
fn rows(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|row| row.to_string())
        .collect()
}

fn keys(list: &Value, fields: &[&str]) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            fields
                .iter()
                .map(|f| row[*f].to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn union(a: BTreeSet<String>, b: BTreeSet<String>) -> BTreeSet<String> {
    a.union(&b).cloned().collect()
}

/// The team policy of project `billing` (alice and bob delegate, sec holds the kill
/// switch), pushed with the admin's token; the tokens of the admin, alice, bob and sec.
fn billing_team(database: &Database, server: &Server) -> (String, String, String, String) {
    let admin = Server::token(database, "root@example.com", "admin", false);
    let client = mandate_project::remote::Server::new(&server.url, Some(admin.clone())).unwrap();
    let policy = json!({"policy": {
        "kill_switch": ["sec@example.com"],
        "projects": {"billing": {
            "delegators": ["alice@example.com", "bob@example.com"],
            "reviewers": {"billing": ["bob@example.com"], "security": ["sec@example.com"]},
            "security": ["sec@example.com"]
        }}
    }});
    let answer = client
        .request(
            "POST",
            "/api/v1/policy",
            Some(&policy),
            Duration::from_secs(20),
        )
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.error());
    (
        admin,
        Server::token(database, "alice@example.com", "developer", true),
        Server::token(database, "bob@example.com", "developer", true),
        Server::token(database, "sec@example.com", "security", true),
    )
}

fn the_server_answers_what_the_machines_answer_together(database: Database) {
    let port = free_port();
    let mut server = Server::start(&database, port);
    let (admin, alice, bob, sec) = billing_team(&database, &server);

    let a = Machine::new(&server, "alice@example.com", &alice, "enforce");
    let b = Machine::new(&server, "bob@example.com", &bob, "shadow");
    for (m, machine) in [("a", &a), ("b", &b)] {
        let id = |n: u32| format!("{m}{n}");
        let filter = machine.root.join("billing/export/filter.py");
        let filter = filter.to_str().unwrap();
        machine.call(&id(1), "Read", json!({"file_path": filter}), json!({}));
        machine.call(
            &id(2),
            "mcp__jira__get_issue",
            json!({"key": "BILL-142"}),
            json!({}),
        );
        machine.call(
            &id(3),
            "Edit",
            json!({"file_path": filter, "old_string": "x = 1", "new_string": "x = 2"}),
            json!({}),
        );
        machine.call(
            &id(4),
            "Read",
            json!({"file_path": "customer_data/eu.csv"}),
            json!({"agent_id": format!("sub-{m}"), "agent_type": "explorer"}),
        );
        machine.call(
            &id(5),
            "Bash",
            json!({"command": "git push origin main"}),
            json!({}),
        );
        machine.call(
            &id(6),
            "Write",
            json!({"file_path": "deploy/prod.yaml", "content": "x"}),
            json!({}),
        );
        machine.call(
            &id(7),
            "Bash",
            json!({"command": "cat customer_data/eu.csv | head -1"}),
            json!({}),
        );
    }
    assert_eq!(
        a.call(
            "a8",
            "Read",
            json!({"file_path": "customer_data/eu.csv"}),
            json!({})
        ),
        "deny",
        "enforced on machine A"
    );
    assert_eq!(
        b.call(
            "b8",
            "Read",
            json!({"file_path": "customer_data/eu.csv"}),
            json!({})
        ),
        "",
        "machine B is in shadow mode: the deny is recorded, not enforced"
    );
    for machine in [&a, &b] {
        machine.ok(&["push"]);
        let run = machine.run_id();
        wait_until("every entry on the server", Duration::from_secs(60), || {
            let answer = server.json(&sec, &format!("/api/v1/runs/{run}"));
            answer["run"]["entries"].as_u64() == Some(machine.local_entries())
        });
    }

    let check = |server: &Server| {
        // touched: each machine's local answer, and the server's through `--server`.
        for glob in [
            "customer_data/**",
            "billing/**",
            "deploy/*",
            "mcp__jira__*",
            "git push*",
            "**/*.py",
        ] {
            let local_a = a.json(&["touched", glob, "--json"]);
            let local_b = b.json(&["touched", glob, "--json"]);
            let remote: Value =
                serde_json::from_str(&a.ok_as(&["touched", glob, "--json", "--server"], &sec))
                    .unwrap();
            let together = union(rows(&local_a["touches"]), rows(&local_b["touches"]));
            assert!(!together.is_empty(), "`{glob}` finds something");
            assert_eq!(
                rows(&remote["touches"]),
                together,
                "touched `{glob}`: the server is the union of the machines"
            );
        }
        // why: the calls that changed the file, and the attempts.
        let why_a = a.json(&["why", "billing/export/filter.py", "--json"]);
        let why_b = b.json(&["why", "billing/export/filter.py", "--json"]);
        let why_server: Value = serde_json::from_str(&a.ok_as(
            &["why", "billing/export/filter.py", "--json", "--server"],
            &sec,
        ))
        .unwrap();
        for list in ["changes", "attempts"] {
            let local = union(
                keys(&why_a[list], &["run", "tool_use_id", "time", "tool"]),
                keys(&why_b[list], &["run", "tool_use_id", "time", "tool"]),
            );
            assert_eq!(
                keys(&why_server[list], &["run", "tool_use_id", "time", "tool"]),
                local,
                "why: {list}"
            );
        }
        // Machine A refused the edit (no rollback note on record); machine B's shadow
        // mode let the same edit run.
        assert_eq!(why_server["changes"].as_array().unwrap().len(), 1);
        assert_eq!(why_server["changes"][0]["user"], "bob@example.com");
        assert_eq!(why_server["changes"][0]["decision"], "would_deny");
        assert_eq!(why_server["attempts"].as_array().unwrap().len(), 1);
        assert_eq!(why_server["attempts"][0]["user"], "alice@example.com");
        // The event search, filter by filter.
        for filter in [
            vec!["--decision", "deny"],
            vec!["--decision", "would_deny"],
            vec!["--tool", "Read"],
            vec!["--mcp", "jira"],
            vec!["--user", "bob@example.com"],
            vec!["--agent", "explorer"],
            vec!["--command", "git push"],
            vec!["--path", "customer_data/**", "--kind", "read"],
            vec!["--since", "2020-01-01", "--until", "2099-12-31"],
        ] {
            let args: Vec<&str> = ["events", "--format", "json"]
                .into_iter()
                .chain(filter.iter().copied())
                .collect();
            let local = union(rows(&a.json(&args)), rows(&b.json(&args)));
            let mut remote_args = args.clone();
            remote_args.push("--server");
            let remote: Value = serde_json::from_str(&a.ok_as(&remote_args, &sec)).unwrap();
            assert!(!local.is_empty(), "{filter:?} finds something");
            assert_eq!(rows(&remote), local, "events {filter:?}");
        }
        // Shadow mode's denials are not real ones.
        let denied = server.json(&sec, "/api/v1/events?decision=deny");
        assert!(
            denied["events"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["user"] == "alice@example.com"),
            "only the enforcing machine denied: {denied}"
        );
        let shadow = server.json(&sec, "/api/v1/events?decision=would_deny");
        assert!(!shadow["events"].as_array().unwrap().is_empty());
        assert!(
            shadow["events"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["user"] == "bob@example.com" && e["outcome"] == "ran")
        );
    };
    check(&server);

    // A developer's token reads only their own runs' events.
    let own = server.json(&alice, "/api/v1/events?format=json");
    assert!(!own.as_array().unwrap().is_empty());
    assert!(
        own.as_array()
            .unwrap()
            .iter()
            .all(|e| e["user"] == "alice@example.com")
    );

    // The page and its CSV export, with the URL the metrics pages link to.
    let (status, page) = server.get(
        &sec,
        "/events?path=customer_data/**&decision=would_deny&page=1",
    );
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("customer_data/eu.csv"), "{page}");
    assert!(page.contains("would deny"), "{page}");
    assert!(
        page.contains(
            "/api/v1/events?path=customer_data/**&amp;decision=would_deny&amp;format=csv"
        )
    );
    let json_export = server.json(&sec, "/api/v1/events?path=customer_data/**&format=json");
    let (status, csv) = server.get(&sec, "/api/v1/events?path=customer_data/**&format=csv");
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with(mandate_search::CSV_HEADER));
    assert_eq!(
        csv.lines().count() - 1,
        json_export.as_array().unwrap().len(),
        "{csv}"
    );
    let (status, bad) = server.get(&sec, "/api/v1/events?decision=maybe");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&bad).contains("`decision=maybe` is not a decision"));

    // Records stored before the events table: the backfill at start gives the same answers.
    let all = server
        .json(&admin, "/api/v1/events?format=json")
        .as_array()
        .unwrap()
        .len();
    drop(server);
    forget_the_index(&database);
    server = Server::start(&database, port);
    wait_until("the backfill", Duration::from_secs(60), || {
        server
            .json(&admin, "/api/v1/events?format=json")
            .as_array()
            .unwrap()
            .len()
            == all
    });
    check(&server);
}

#[test]
fn postgres_the_server_answers_what_the_machines_answer_together() {
    if let Some(database) =
        Database::postgres("postgres_the_server_answers_what_the_machines_answer_together")
    {
        the_server_answers_what_the_machines_answer_together(database);
    }
}

#[test]
fn sqlite_the_server_answers_what_the_machines_answer_together() {
    let dir = tempfile::tempdir().unwrap();
    the_server_answers_what_the_machines_answer_together(Database::Sqlite(
        dir.path().join("server.db"),
    ));
}

/// Issue 19: `why --server` lacked what the local `why` shows of each change: the
/// session's last prompt, what the agent had read and called just before, the contract's
/// request, the approvals. The server now tells each change as the machine that recorded
/// it does: the same story, from the same pushed events.
#[test]
fn why_on_the_server_tells_what_each_machine_tells() {
    let Some(database) = Database::postgres("why_on_the_server_tells_what_each_machine_tells")
    else {
        return;
    };
    let server = Server::start(&database, free_port());
    let (_, alice, bob, sec) = billing_team(&database, &server);
    let a = Machine::new(&server, "alice@example.com", &alice, "enforce");
    let b = Machine::new(&server, "bob@example.com", &bob, "shadow");
    for (m, machine) in [("a", &a), ("b", &b)] {
        let filter = machine.root.join("billing/export/filter.py");
        let filter = filter.to_str().unwrap();
        machine.hook(
            "UserPromptSubmit",
            json!({"prompt": format!("machine {m}: EU rows are dropped, fix the filter")}),
        );
        machine.call(
            &format!("{m}1"),
            "Read",
            json!({"file_path": filter}),
            json!({}),
        );
        machine.call(
            &format!("{m}2"),
            "mcp__jira__get_issue",
            json!({"key": "BILL-142"}),
            json!({}),
        );
        machine.call(
            &format!("{m}3"),
            "Edit",
            json!({"file_path": filter, "old_string": "x = 1", "new_string": "x = 2"}),
            json!({}),
        );
        machine.ok(&["push"]);
    }
    let why_a = a.json(&["why", "billing/export/filter.py", "--json"]);
    let why_b = b.json(&["why", "billing/export/filter.py", "--json"]);
    let why_server: Value = serde_json::from_str(&a.ok_as(
        &["why", "billing/export/filter.py", "--json", "--server"],
        &sec,
    ))
    .unwrap();
    let told = [
        "prompt",
        "context",
        "request",
        "delegated_by",
        "approvals",
        "detail",
        "reason",
    ];
    for list in ["changes", "attempts"] {
        let local: Vec<&Value> = why_a[list]
            .as_array()
            .unwrap()
            .iter()
            .chain(why_b[list].as_array().unwrap())
            .collect();
        let remote = why_server[list].as_array().unwrap();
        assert_eq!(remote.len(), local.len(), "{list}: {why_server:#}");
        for change in local {
            let there = remote
                .iter()
                .find(|r| r["run"] == change["run"] && r["tool_use_id"] == change["tool_use_id"])
                .unwrap_or_else(|| panic!("{list}: the server lacks {change:#}"));
            for field in told {
                assert_eq!(
                    there[field], change[field],
                    "{list} {}: `{field}` on the server",
                    change["tool_use_id"]
                );
            }
        }
    }
    // The prompt and the reads that fed the change, in the text too.
    let context = &why_server["changes"][0]["context"];
    assert_eq!(context.as_array().unwrap().len(), 2, "{context:#}");
    assert!(
        why_server["changes"][0]["prompt"]
            .as_str()
            .unwrap()
            .contains("machine b"),
        "{why_server:#}"
    );
    let text = a.ok_as(&["why", "billing/export/filter.py", "--server"], &sec);
    assert!(
        text.contains("prompt    machine b: EU rows are dropped"),
        "{text}"
    );
    assert!(text.contains("mcp__jira__get_issue"), "{text}");
}
