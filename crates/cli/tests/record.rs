#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The run record through the real entry points: the stop gate, the rollback gate, test
//! runs, reviews, verification and export.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const POLICY: &str = include_str!("../../../examples/billing/mandate.toml");
const CONTRACT: &str = include_str!("../../../examples/billing/.mandate/contracts/BILL-142.toml");

struct Repo {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Repo {
    fn new() -> Repo {
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
                &format!("dir = \"{}\"", records.display()),
            ),
        )
        .unwrap();
        std::fs::write(root.join(".mandate/contracts/BILL-142.toml"), CONTRACT).unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        let repo = Repo { dir, root };
        let out = repo.run(
            &["start", ".mandate/contracts/BILL-142.toml"],
            "alice@example.com",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        repo
    }

    fn run(&self, args: &[&str], user: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mandate"))
            .args(args)
            .current_dir(&self.root)
            .env("MANDATE_USER", user)
            .env("MANDATE_ORG_POLICY", self.dir.path().join("org.toml"))
            .output()
            .unwrap()
    }

    fn hook(&self, event: Value) -> Value {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mandate"))
            .args(["hook", "claude-code", "--root"])
            .arg(&self.root)
            .env("MANDATE_ORG_POLICY", self.dir.path().join("org.toml"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(event.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn event(&self, name: &str, fields: Value) -> Value {
        let mut event = json!({"session_id": "s1", "transcript_path": "/dev/null",
                               "cwd": self.root, "hook_event_name": name});
        for (k, v) in fields.as_object().unwrap() {
            event[k] = v.clone();
        }
        event
    }

    fn run_dir(&self) -> PathBuf {
        let runs = self.dir.path().join("records/runs");
        std::fs::read_dir(runs)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    }

    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.run_dir().join("log.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_stop_gate_lists_what_is_missing_and_gives_up_after_three_blocks() {
    let repo = Repo::new();
    let stop = repo.event("Stop", json!({"stop_hook_active": false}));
    let answer = repo.hook(stop.clone());
    assert_eq!(answer["decision"], "block");
    let reason = answer["reason"].as_str().unwrap();
    for needle in [
        "mandate evidence rollback --change",
        "pytest billing/export/tests*",
        "mandate evidence assumption",
        "mandate evidence risk",
    ] {
        assert!(reason.contains(needle), "{needle} in {reason}");
    }
    assert!(
        !reason.contains("test-gap"),
        "test gaps are not required: {reason}"
    );
    assert_eq!(repo.hook(stop.clone())["decision"], "block");
    assert_eq!(repo.hook(stop.clone())["decision"], "block");
    // Bounded: the fourth stop is let through and the record marked incomplete.
    assert_eq!(repo.hook(stop.clone()), json!({}));
    let gates: Vec<Value> = repo
        .events()
        .into_iter()
        .filter(|e| e["type"] == "stop.gate")
        .collect();
    assert_eq!(gates.len(), 4);
    assert_eq!(gates[3]["incomplete"], true);
}

#[test]
fn the_stop_gate_opens_once_the_evidence_is_on_record() {
    let repo = Repo::new();
    for args in [
        vec!["evidence", "assumption", "EU means region == 'EU'"],
        vec!["evidence", "risk", "null regions still dropped"],
        vec![
            "evidence",
            "rollback",
            "--change",
            "c",
            "--undo",
            "u",
            "--data-risk",
            "d",
            "--trigger",
            "t",
            "--owner",
            "o",
            "--stop-before",
            "s",
        ],
    ] {
        let out = repo.run(&args, "alice@example.com");
        assert!(out.status.success(), "{}", text(&out));
    }
    let answer = repo.hook(repo.event("Stop", json!({"stop_hook_active": false})));
    assert_eq!(answer["decision"], "block", "tests are still missing");
    assert!(!answer["reason"].as_str().unwrap().contains("assumption"));
    // The contract's test command runs: PostToolUse records it as a test run.
    let command = "pytest billing/export/tests -q";
    let pre = repo.hook(repo.event(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": "t1"}),
    ));
    assert_eq!(pre["hookSpecificOutput"]["permissionDecision"], "allow");
    repo.hook(repo.event(
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": "t1",
               "tool_response": {"stdout": "....\n4 passed, 1 skipped in 0.12s\n", "stderr": ""}}),
    ));
    let test_run = repo
        .events()
        .into_iter()
        .find(|e| e["type"] == "test.run")
        .unwrap();
    assert_eq!(test_run["exit_status"], 0);
    assert_eq!(test_run["summary"]["passed"], 4);
    assert_eq!(test_run["summary"]["skipped"], 1);
    assert_eq!(test_run["summary"]["runner"], "pytest");
    assert_eq!(repo.hook(repo.event("Stop", json!({}))), json!({}));
}

#[test]
fn the_rollback_gate_holds_writes_until_a_note_is_on_record() {
    let repo = Repo::new();
    let edit = repo.event(
        "PreToolUse",
        json!({"tool_name": "Edit", "tool_use_id": "e1", "tool_input": {
            "file_path": repo.root.join("billing/export/filter.py"),
            "old_string": "x = 1", "new_string": "x = 2"}}),
    );
    let first = repo.hook(edit.clone());
    assert_eq!(first["hookSpecificOutput"]["permissionDecision"], "deny");
    assert!(
        first["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("rollback note")
    );
    let note = [
        "evidence",
        "rollback",
        "--change",
        "fix filter",
        "--undo",
        "git revert",
        "--data-risk",
        "none",
        "--trigger",
        "EU rows missing",
        "--owner",
        "billing on-call",
        "--stop-before",
        "schema change",
    ];
    assert!(repo.run(&note, "alice@example.com").status.success());
    assert_eq!(
        repo.hook(edit)["hookSpecificOutput"]["permissionDecision"],
        "allow"
    );
    // A changed note is recorded as such.
    let mut changed = note.to_vec();
    changed[5] = "git revert HEAD~2";
    assert!(repo.run(&changed, "alice@example.com").status.success());
    let notes: Vec<Value> = repo
        .events()
        .into_iter()
        .filter(|e| e["type"] == "evidence.rollback")
        .collect();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[1]["replaces_previous"], true);
}

#[test]
fn reviews_come_from_listed_reviewers_other_than_the_delegator() {
    let repo = Repo::new();
    let own = repo.run(
        &["review", "--decision", "approve", "--note", "lgtm"],
        "alice@example.com",
    );
    assert_eq!(own.status.code(), Some(2));
    assert!(text(&own).contains("not a reviewer"), "{}", text(&own));
    let stranger = repo.run(
        &["review", "--decision", "approve", "--note", "x"],
        "eve@example.com",
    );
    assert_eq!(stranger.status.code(), Some(2));
    let bob = repo.run(
        &[
            "review",
            "--decision",
            "request-changes",
            "--note",
            "add an EU test",
        ],
        "bob@example.com",
    );
    assert!(bob.status.success(), "{}", text(&bob));
    let review = repo
        .events()
        .into_iter()
        .find(|e| e["type"] == "review")
        .unwrap();
    assert_eq!(review["reviewer"], "bob@example.com");
    assert_eq!(review["decision"], "request-changes");
    let packet = repo.run(&["record", "show", "--format", "json"], "bob@example.com");
    let packet: Value = serde_json::from_slice(&packet.stdout).unwrap();
    let decision = serde_json::to_string(&packet["reviewer_decision"]).unwrap();
    assert!(decision.contains("request-changes"), "{decision}");
}

#[test]
fn a_delegator_who_is_also_a_reviewer_cannot_review_their_own_run() {
    let repo = Repo::new();
    let policy = std::fs::read_to_string(repo.root.join("mandate.toml")).unwrap();
    std::fs::write(
        repo.root.join("mandate.toml"),
        policy.replace(
            "billing = [\"bob@example.com\"]",
            "billing = [\"bob@example.com\", \"alice@example.com\"]",
        ),
    )
    .unwrap();
    let own = repo.run(
        &["review", "--decision", "approve", "--note", "lgtm"],
        "alice@example.com",
    );
    assert_eq!(own.status.code(), Some(2));
    assert!(text(&own).contains("delegated this run"), "{}", text(&own));
}

#[test]
fn verify_detects_a_changed_byte_and_export_signs_the_run() {
    let repo = Repo::new();
    repo.hook(repo.event("SessionStart", json!({"source": "startup"})));
    repo.hook(repo.event(
        "PreToolUse",
        json!({"tool_name": "Read", "tool_use_id": "r1",
               "tool_input": {"file_path": repo.root.join(".env")}}),
    ));
    repo.hook(repo.event("SessionEnd", json!({"reason": "other"})));
    let ok = repo.run(&["record", "verify"], "alice@example.com");
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(
        text(&ok).contains("sealed by a signed checkpoint"),
        "{}",
        text(&ok)
    );

    let export = repo.run(
        &["record", "export", "--format", "in-toto"],
        "alice@example.com",
    );
    assert!(export.status.success(), "{}", text(&export));
    let envelope: Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    assert_eq!(envelope["signatures"].as_array().unwrap().len(), 1);

    let log = repo.run_dir().join("log.jsonl");
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.iter().position(|b| *b == b'.').unwrap();
    bytes[at] = b',';
    std::fs::write(&log, bytes).unwrap();
    let bad = repo.run(&["record", "verify"], "alice@example.com");
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("FAILED"), "{}", text(&bad));
}

#[test]
fn record_list_shows_runs() {
    let repo = Repo::new();
    let out = repo.run(&["record", "list", "--json"], "alice@example.com");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["task"], "BILL-142");
    assert_eq!(rows[0]["status"], "open");
}

#[test]
fn changed_files_are_recorded_by_digest_after_the_call() {
    let repo = Repo::new();
    let path = repo.root.join("billing/export/filter.py");
    std::fs::write(&path, "x = 2\n").unwrap();
    repo.hook(repo.event(
        "PostToolUse",
        json!({"tool_name": "Edit", "tool_use_id": "e9",
               "tool_input": {"file_path": path, "old_string": "x = 1", "new_string": "x = 2"},
               "tool_response": {"filePath": path}}),
    ));
    let post = repo
        .events()
        .into_iter()
        .find(|e| e["type"] == "tool.post")
        .unwrap();
    // sha256 of "x = 2\n"
    assert_eq!(
        post["after"][0]["sha256"],
        "4205c4809ab1b080fd32b6bf9640e5feaa6d1b69bf9fa684954ab710157ec141"
    );
    assert_eq!(post["after"][0]["bytes"], 6);
    // Contents never enter the record: only digests.
    assert!(
        post["input"]["new_string"].get("sha256").is_some(),
        "{post}"
    );
}

#[path = "../../record/tests/support/ocsf_schema.rs"]
mod ocsf_schema;

/// Issue 19: every event of a run leaves as OCSF JSON lines that have their classes'
/// required fields, and as OTLP/JSON that the OpenTelemetry types read back, one log
/// record per event.
#[test]
fn export_writes_every_event_as_ocsf_lines_and_otlp_json() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;

    let repo = Repo::new();
    repo.hook(repo.event("SessionStart", json!({"source": "startup"})));
    repo.hook(repo.event(
        "PreToolUse",
        json!({"tool_name": "Read", "tool_use_id": "r1",
               "tool_input": {"file_path": repo.root.join(".env")}}),
    ));
    repo.hook(repo.event(
        "PreToolUse",
        json!({"tool_name": "Read", "tool_use_id": "r2",
               "tool_input": {"file_path": repo.root.join("billing/export/filter.py")}}),
    ));
    repo.hook(repo.event(
        "PostToolUse",
        json!({"tool_name": "Read", "tool_use_id": "r2",
               "tool_input": {"file_path": repo.root.join("billing/export/filter.py")},
               "tool_response": {}}),
    ));
    repo.hook(repo.event("SessionEnd", json!({"reason": "other"})));
    let recorded = repo.events();
    let run_id = repo
        .run_dir()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();

    let out = repo.dir.path().join("events.ocsf.jsonl");
    let export = repo.run(
        &[
            "record",
            "export",
            "--format",
            "ocsf",
            "--out",
            out.to_str().unwrap(),
        ],
        "alice@example.com",
    );
    assert!(export.status.success(), "{}", text(&export));
    assert!(text(&export).contains(&format!("exported {} event(s) of 1 run(s)", recorded.len())));
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), recorded.len());
    for (line, event) in lines.iter().zip(&recorded) {
        assert_eq!(
            ocsf_schema::problems(line),
            Vec::<String>::new(),
            "{line:#}"
        );
        assert_eq!(line["metadata"]["event_code"], event["type"]);
        assert_eq!(
            line["metadata"]["uid"],
            json!(format!("{run_id}/{}", event["i"]))
        );
    }
    let denied = lines
        .iter()
        .find(|l| l["api"]["request"]["uid"] == "r1" && l["metadata"]["event_code"] == "tool.pre")
        .unwrap();
    assert_eq!(denied["class_uid"], 6003);
    assert_eq!(denied["action_id"], 2, "{denied:#}");
    assert_eq!(denied["actor"]["user"]["name"], "alice@example.com");

    // The same events as OTLP/JSON on standard output, for one run named with --run.
    let otel = repo.run(
        &["record", "export", "--format", "otel", "--run", &run_id],
        "alice@example.com",
    );
    assert!(otel.status.success(), "{}", text(&otel));
    let mut records = Vec::new();
    for line in String::from_utf8(otel.stdout).unwrap().lines() {
        let request: ExportLogsServiceRequest =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not OTLP/JSON ({e}): {line}"));
        for resource in request.resource_logs {
            let service = resource.resource.unwrap().attributes;
            assert!(service.iter().any(|kv| kv.key == "service.name"));
            for scope in resource.scope_logs {
                records.extend(scope.log_records);
            }
        }
    }
    assert_eq!(records.len(), recorded.len());
    for (record, event) in records.iter().zip(&recorded) {
        let entry = record
            .attributes
            .iter()
            .find(|kv| kv.key == "mandate.entry")
            .and_then(|kv| kv.value.clone())
            .and_then(|v| v.value);
        let Some(Any::StringValue(line)) = entry else {
            panic!("no stored line on {record:?}")
        };
        assert_eq!(&serde_json::from_str::<Value>(&line).unwrap(), event);
        assert!(record.time_unix_nano > 0);
        assert_eq!(
            record.event_name,
            format!("mandate.{}", event["type"].as_str().unwrap())
        );
    }
}
