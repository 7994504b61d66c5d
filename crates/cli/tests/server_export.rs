#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 19, the records in the tools a security team already runs: `mandate-server
//! serve --export otlp=URL --export ocsf=FILE --webhook URL` against an OTLP collector
//! stand-in (an HTTP receiver here that decodes the protobuf with the
//! `opentelemetry-proto` types) and a chat webhook stand-in, on SQLite and on
//! PostgreSQL (`$MANDATE_TEST_POSTGRES`, as `tests/server.rs`).
//!
//! Every entry of a run reaches the collector exactly once although it was down when the
//! run began and the server was killed and restarted in between; the OCSF file holds
//! every entry once, each line with its class's required fields; the webhook is told of
//! the approval that waits (naming its reviewer) and of the kill-switch change, once.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mandate_project::remote::Server as Client;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use prost::Message as _;
use serde_json::{Value, json};

#[path = "../../record/tests/support/ocsf_schema.rs"]
mod ocsf_schema;

mod server_support;
use server_support::{
    CONTRACT, Database, POLICY, create_token, free_port, hook_answer, mandate_bin, serve,
    wait_until,
};

/// `mandate-server serve` with the exports; killed (SIGKILL) on drop.
struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    fn start(database: &str, port: u16, extra: &[String]) -> ServerProcess {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let (child, _) = serve(database, port, &extra);
        ServerProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn token(&self, database: &str, user: &str, role: &str, extra: &[&str]) -> String {
        create_token(database, user, role, extra)
    }

    fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = Client::new(&self.url, Some(token.to_string()))
            .unwrap()
            .request("GET", path, None, Duration::from_secs(20))
            .unwrap();
        (r.status, r.json())
    }

    fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = Client::new(&self.url, Some(token.to_string()))
            .unwrap()
            .request("POST", path, Some(&body), Duration::from_secs(20))
            .unwrap();
        (r.status, r.json())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP request a stand-in received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    content_type: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// A stand-in for a collector or a chat: takes every POST on `port`, answers 200 with an
/// empty body (an empty `ExportLogsServiceResponse` to OTLP), and keeps what came.
fn receiver(port: u16) -> Arc<Mutex<Vec<Received>>> {
    receiver_answering(port, "200 OK")
}

/// A stand-in that answers every POST with `status` (`401 Unauthorized`, say).
fn receiver_answering(port: u16, status: &'static str) -> Arc<Mutex<Vec<Received>>> {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut headers = BTreeMap::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.trim_end().split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let length: usize = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            keep.lock().unwrap().push(Received {
                path: request_line
                    .split(' ')
                    .nth(1)
                    .unwrap_or_default()
                    .to_string(),
                content_type: headers.get("content-type").cloned().unwrap_or_default(),
                authorization: headers.get("authorization").cloned(),
                body,
            });
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    got
}

/// A repository of project `billing` whose records go to the server.
struct Repo {
    dir: tempfile::TempDir,
    root: PathBuf,
    records: PathBuf,
    token: String,
}

impl Repo {
    fn new(server_url: &str, token: &str) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join(".mandate/contracts")).unwrap();
        std::fs::create_dir_all(root.join("billing/export/tests")).unwrap();
        std::fs::write(root.join("billing/export/filter.py"), "x = 1\n").unwrap();
        let records = dir.path().join("records");
        std::fs::write(
            root.join("mandate.toml"),
            POLICY.replace(
                "dir = \"~/.local/share/mandate\"",
                &format!("dir = \"{}\"\nserver = \"{server_url}\"", records.display()),
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
        assert!(out.status.success(), "{out:?}");
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
            .env("MANDATE_SERVER_REFRESH_MS", "0");
        command
    }

    fn mandate(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn pre(&self, id: &str, tool: &str, input: Value) -> String {
        let event = json!({"session_id": "s1", "transcript_path": "/dev/null",
            "cwd": self.root, "hook_event_name": "PreToolUse",
            "tool_name": tool, "tool_use_id": id, "tool_input": input});
        let answer: Value = hook_answer(
            self.command(&["hook", "claude-code", "--root"])
                .arg(&self.root),
            &event,
        );
        answer["hookSpecificOutput"]["permissionDecision"]
            .as_str()
            .unwrap_or("")
            .to_string()
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

    /// The run's entries as stored here, by index.
    fn entries(&self) -> Vec<Value> {
        std::fs::read_to_string(
            self.records
                .join("runs")
                .join(self.run_id())
                .join("log.jsonl"),
        )
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    }

    /// Push until the server holds every local entry.
    fn push_all(&self, server: &ServerProcess, reader: &str) {
        let want = self.entries().len();
        wait_until(
            "the server to hold the run",
            Duration::from_secs(60),
            || {
                let _ = self.mandate(&["push"]);
                let (_, run) = server.get(reader, &format!("/api/v1/runs/{}", self.run_id()));
                run["run"]["entries"] == json!(want)
            },
        );
    }
}

/// The log records the collector stand-in decoded, by (run id, entry index): each with
/// how many times it came, and the stored line it carried.
fn collected(got: &[Received]) -> BTreeMap<(String, i64), (usize, String)> {
    let mut out: BTreeMap<(String, i64), (usize, String)> = BTreeMap::new();
    for request in got {
        assert_eq!(request.path, "/v1/logs");
        assert_eq!(request.content_type, "application/x-protobuf");
        let decoded = ExportLogsServiceRequest::decode(request.body.as_slice())
            .expect("the body is an OTLP ExportLogsServiceRequest");
        for resource in decoded.resource_logs {
            let service = resource.resource.unwrap().attributes;
            assert!(service.iter().any(|kv| kv.key == "service.name"
                && kv.value.as_ref().and_then(|v| v.value.clone())
                    == Some(Any::StringValue("mandate".into()))));
            for scope in resource.scope_logs {
                for record in scope.log_records {
                    let attribute = |key: &str| {
                        record
                            .attributes
                            .iter()
                            .find(|kv| kv.key == key)
                            .and_then(|kv| kv.value.clone())
                            .and_then(|v| v.value)
                    };
                    let Some(Any::StringValue(run)) = attribute("mandate.run.id") else {
                        panic!("no run id on {record:?}")
                    };
                    let Some(Any::IntValue(index)) = attribute("mandate.entry.index") else {
                        panic!("no index on {record:?}")
                    };
                    let Some(Any::StringValue(line)) = attribute("mandate.entry") else {
                        panic!("no stored line on {record:?}")
                    };
                    assert!(record.time_unix_nano > 0);
                    assert!(record.event_name.starts_with("mandate."));
                    let slot = out.entry((run, index)).or_insert((0, line));
                    slot.0 += 1;
                }
            }
        }
    }
    out
}

/// The OCSF file's events.
fn ocsf_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn webhook_messages(got: &[Received]) -> Vec<Value> {
    got.iter()
        .map(|r| {
            assert_eq!(r.content_type, "application/json");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect()
}

/// The team policy of project `billing` (alice delegates, bob reviews, sec holds the
/// kill switch); the tokens of the admin, alice, bob and sec.
fn billing_team(server: &ServerProcess, database: &str) -> [String; 4] {
    let admin = server.token(database, "root@example.com", "admin", &[]);
    let (status, body) = server.post(
        &admin,
        "/api/v1/policy",
        json!({"policy": {
            "kill_switch": ["sec@example.com"],
            "projects": {"billing": {
                "delegators": ["alice@example.com"],
                "reviewers": {"billing": ["bob@example.com"], "security": ["sec@example.com"]},
                "security": ["sec@example.com"]
            }}
        }}),
    );
    assert_eq!(status, 200, "{body}");
    let token =
        |user: &str, role: &str| server.token(database, user, role, &["--project", "billing"]);
    [
        admin,
        token("alice@example.com", "developer"),
        token("bob@example.com", "reviewer"),
        token("sec@example.com", "security"),
    ]
}

fn export_survives_a_collector_down_and_a_restart(database: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ocsf_file = dir.path().join("events.ocsf.jsonl");
    let collector_port = free_port(); // nothing listens there yet: the collector is down
    let chat_port = free_port();
    let chat = receiver(chat_port);
    let siem_port = free_port();
    let siem = receiver(siem_port);
    let port = free_port();
    let args = vec![
        "--export".to_string(),
        format!("otlp=http://127.0.0.1:{collector_port}"),
        "--export".to_string(),
        format!("ocsf={}", ocsf_file.display()),
        "--export".to_string(),
        format!("ocsf=http://127.0.0.1:{siem_port}/ocsf"),
        "--webhook".to_string(),
        format!("http://127.0.0.1:{chat_port}/hook"),
    ];
    let server = ServerProcess::start(database, port, &args);
    let [_, alice, bob, sec] = billing_team(&server, database);
    let repo = Repo::new(&server.url, &alice);
    let run_id = repo.run_id();

    assert_eq!(
        repo.pre(
            "t1",
            "Read",
            json!({"file_path": "billing/export/filter.py"})
        ),
        "allow"
    );
    assert_eq!(repo.pre("t2", "Read", json!({"file_path": ".env"})), "deny");
    // Held for the billing reviewers: an approval request.
    assert_eq!(
        repo.pre(
            "t3",
            "Write",
            json!({"file_path": "billing/requirements.txt", "content": "stripe==9\n"})
        ),
        "deny"
    );
    repo.push_all(&server, &bob);

    // The file gets every entry while the collector is down.
    let want = repo.entries().len();
    wait_until("the OCSF file", Duration::from_secs(30), || {
        ocsf_lines(&ocsf_file).len() >= want
    });

    // The webhook tells bob that someone waits.
    wait_until("the approval message", Duration::from_secs(30), || {
        !chat.lock().unwrap().is_empty()
    });
    let messages = webhook_messages(&chat.lock().unwrap());
    assert_eq!(messages[0]["event"], "approval.requested", "{messages:?}");
    let text = messages[0]["text"].as_str().unwrap();
    assert!(text.contains("bob@example.com"), "{text}");
    assert!(text.contains("alice@example.com"), "{text}");
    assert!(text.contains("billing/requirements.txt"), "{text}");
    assert_eq!(
        messages[0]["approval"]["reviewers"],
        json!(["bob@example.com"])
    );
    assert_eq!(messages[0]["approval"]["run_id"], json!(run_id));

    // A kill-switch change.
    let (status, body) = server.post(
        &sec,
        "/api/v1/killswitch",
        json!({"action": "disable", "target": "jira", "reason": "incident 7: token leak"}),
    );
    assert_eq!(status, 200, "{body}");
    wait_until("the kill-switch message", Duration::from_secs(30), || {
        chat.lock().unwrap().len() >= 2
    });
    let messages = webhook_messages(&chat.lock().unwrap());
    assert_eq!(messages[1]["event"], "killswitch.disable", "{messages:?}");
    assert_eq!(messages[1]["killswitch"]["target"], "jira");
    let text = messages[1]["text"].as_str().unwrap();
    assert!(
        text.contains("sec@example.com") && text.contains("`jira`"),
        "{text}"
    );
    assert!(text.contains("incident 7"), "{text}");

    // The collector comes up: everything recorded meanwhile arrives.
    let collector = receiver(collector_port);
    wait_until(
        "the collector to get every entry",
        Duration::from_secs(90),
        || collected(&collector.lock().unwrap()).len() >= want,
    );

    // The server is killed and restarted; the run goes on.
    drop(server);
    let server = ServerProcess::start(database, port, &args);
    assert_eq!(
        repo.pre(
            "t4",
            "Read",
            json!({"file_path": "billing/export/filter.py"})
        ),
        "allow"
    );
    let out = repo.mandate(&["finish"]);
    assert!(out.status.success(), "{out:?}");
    repo.push_all(&server, &bob);
    let entries = repo.entries();
    wait_until(
        "the collector to get the rest",
        Duration::from_secs(60),
        || collected(&collector.lock().unwrap()).len() >= entries.len(),
    );
    wait_until(
        "the OCSF file to get the rest",
        Duration::from_secs(30),
        || ocsf_lines(&ocsf_file).len() >= entries.len(),
    );
    wait_until("the SIEM to get the rest", Duration::from_secs(30), || {
        siem.lock()
            .unwrap()
            .iter()
            .map(|r| r.body.iter().filter(|b| **b == b'\n').count())
            .sum::<usize>()
            >= entries.len()
    });
    // Let a repeat, if there were one, arrive before counting.
    std::thread::sleep(Duration::from_secs(3));

    // Every entry exactly once, carrying the stored line itself.
    let got = collected(&collector.lock().unwrap());
    assert_eq!(got.len(), entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let (times, line) = &got[&(run_id.clone(), i64::try_from(i).unwrap())];
        assert_eq!(*times, 1, "entry {i} arrived {times} times");
        assert_eq!(&serde_json::from_str::<Value>(line).unwrap(), entry);
    }
    let lines = ocsf_lines(&ocsf_file);
    assert_eq!(lines.len(), entries.len(), "each entry once in the file");
    for (i, (line, entry)) in lines.iter().zip(&entries).enumerate() {
        assert_eq!(
            ocsf_schema::problems(line),
            Vec::<String>::new(),
            "{line:#}"
        );
        assert_eq!(line["metadata"]["uid"], json!(format!("{run_id}/{i}")));
        assert_eq!(line["metadata"]["event_code"], entry["type"]);
        assert_eq!(line["metadata"]["tenant_uid"], "billing");
    }
    // The same lines POSTed to a SIEM's HTTP input, each once.
    let posted: Vec<Value> = siem
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| {
            assert_eq!(r.path, "/ocsf");
            assert_eq!(r.content_type, "application/x-ndjson");
            String::from_utf8(r.body.clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(posted, lines);
    // The webhook said nothing twice.
    assert_eq!(chat.lock().unwrap().len(), 2);
}

#[test]
fn sqlite_export_survives_a_collector_down_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    export_survives_a_collector_down_and_a_restart(&Database::sqlite(dir.path()).url());
}

#[test]
fn postgres_export_survives_a_collector_down_and_a_restart() {
    let Some(database) =
        Database::postgres("postgres_export_survives_a_collector_down_and_a_restart")
    else {
        return;
    };
    export_survives_a_collector_down_and_a_restart(&database.url());
}

/// Issue 19: a receiver that refuses for good (a 401 for a missing token, a 403) was
/// asked again forever. After [`REFUSALS`] refusals in a row the exporter and the webhook
/// stop, say so on stderr, and the server's list of destinations shows them stopped,
/// with the receiver's answer; nothing is marked sent.
#[test]
fn a_receiver_that_refuses_for_good_stops_the_export_and_says_so() {
    const REFUSALS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path()).url();
    let collector_port = free_port();
    let collector = receiver_answering(collector_port, "401 Unauthorized");
    let chat_port = free_port();
    let chat = receiver_answering(chat_port, "403 Forbidden");
    let args = vec![
        "--export".to_string(),
        format!("otlp=http://127.0.0.1:{collector_port}"),
        "--webhook".to_string(),
        format!("http://127.0.0.1:{chat_port}/hook"),
    ];
    let server = ServerProcess::start(&database, free_port(), &args);
    let [admin, alice, bob, _] = billing_team(&server, &database);
    let repo = Repo::new(&server.url, &alice);
    assert_eq!(
        repo.pre(
            "t1",
            "Write",
            json!({"file_path": "billing/requirements.txt", "content": "stripe==9\n"})
        ),
        "deny"
    );
    repo.push_all(&server, &bob);
    let stopped = |sink: &str| {
        let (status, list) = server.get(&admin, "/api/v1/exports");
        assert_eq!(status, 200, "{list}");
        list.as_array()
            .unwrap()
            .iter()
            .find(|d| d["sink"].as_str().unwrap_or("").starts_with(sink))
            .filter(|d| d["state"] == "stopped")
            .cloned()
    };
    wait_until("both to stop", Duration::from_secs(120), || {
        stopped("otlp=").is_some() && stopped("webhook=").is_some()
    });
    let otlp = stopped("otlp=").unwrap();
    assert!(otlp["detail"].as_str().unwrap().contains("401"), "{otlp}");
    let webhook = stopped("webhook=").unwrap();
    assert!(
        webhook["detail"].as_str().unwrap().contains("403"),
        "{webhook}"
    );
    assert_eq!(collector.lock().unwrap().len(), REFUSALS);
    assert_eq!(chat.lock().unwrap().len(), REFUSALS);
}

/// `--export-header` (here from `$MANDATE_EXPORT_HEADERS`, off the command line): the
/// collector gets its credential, and the chat, which has its own, never sees it.
#[test]
fn export_headers_go_to_their_own_kind_of_receiver_only() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::sqlite(dir.path()).url();
    let collector_port = free_port();
    let collector = receiver(collector_port);
    let chat_port = free_port();
    let chat = receiver(chat_port);
    let port = free_port();
    let collector_url = format!("otlp=http://127.0.0.1:{collector_port}");
    let chat_url = format!("http://127.0.0.1:{chat_port}/hook");
    let (child, _) = server_support::serve_with_env(
        &database,
        port,
        &["--export", &collector_url, "--webhook", &chat_url],
        &[(
            "MANDATE_EXPORT_HEADERS",
            "otlp=Authorization: Bearer collector-s3cret\nwebhook=Authorization: Bearer chat-token",
        )],
    );
    let server = ServerProcess {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let [_, alice, bob, _] = billing_team(&server, &database);
    let repo = Repo::new(&server.url, &alice);
    assert_eq!(
        repo.pre(
            "t1",
            "Write",
            json!({"file_path": "billing/requirements.txt", "content": "stripe==9\n"})
        ),
        "deny"
    );
    repo.push_all(&server, &bob);
    wait_until(
        "the collector and the chat",
        Duration::from_secs(60),
        || !collector.lock().unwrap().is_empty() && !chat.lock().unwrap().is_empty(),
    );
    for got in collector.lock().unwrap().iter() {
        assert_eq!(
            got.authorization.as_deref(),
            Some("Bearer collector-s3cret")
        );
    }
    for got in chat.lock().unwrap().iter() {
        assert_eq!(got.authorization.as_deref(), Some("Bearer chat-token"));
    }
}
