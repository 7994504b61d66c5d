//! The review packet, the in-toto export (checked by securesystemslib) and retention.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mandate_record::packet::{self, Basis};
use mandate_record::{RunLog, SigningKey, intoto, retention, verify};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// The billing example as the hook would record it.
fn billing_run(root: &Path) -> PathBuf {
    let dir = root.join("BILL-142-1");
    let log = RunLog::create(&dir, "BILL-142-1").unwrap();
    let events = [
        json!({"type": "run.start", "run_id": "BILL-142-1", "mode": "enforce", "user": "alice@example.com", "os_user": "alice",
               "contract": {"id": "BILL-142", "request": "Fix the invoice export bug: EU invoice rows are dropped.",
                            "delegated_by": "alice@example.com", "agent": "claude-code", "risk_owner": "billing on-call",
                            "allow": {"read": ["billing/export/**"], "write": ["billing/export/**"], "execute": ["pytest billing/export/tests*"]},
                            "block": {"read": ["customer_data/**"], "execute": ["git push*"]},
                            "evidence_required": ["rollback_note", "tests"], "rollback_required_before": ["billing/export/**"]},
               "contract_digest": "sha256:aa", "policy_digest": "sha256:bb"}),
        json!({"type": "session.start", "session_id": "s1", "source": "startup", "model": "claude-x"}),
        json!({"type": "prompt", "session_id": "s1", "prompt": "fix the EU rows"}),
        json!({"type": "tool.pre", "tool_use_id": "t1", "tool": "Read", "input": {"file_path": "/r/billing/export/filter.py"},
               "touches": [{"kind": "read", "target": "/r/billing/export/filter.py"}], "decision": "allow", "rules": ["allow.read.0"], "reason": "in scope", "mode": "enforce", "enforced": true}),
        json!({"type": "tool.post", "tool_use_id": "t1", "tool": "Read", "input": {"file_path": "/r/billing/export/filter.py"},
               "response": {"type": "text", "file": {"filePath": "/r/billing/export/filter.py", "content": "def keep(row): ..."}}}),
        json!({"type": "evidence.rollback", "change": "filter keeps EU rows", "undo": "git revert", "data_risk": "none",
               "trigger": "export totals differ", "owner": "billing on-call", "stop_before": "schema changes"}),
        json!({"type": "tool.pre", "tool_use_id": "t2", "tool": "Write", "input": {"file_path": "/r/billing/export/filter.py", "content": "def keep(row): return True\n"},
               "touches": [{"kind": "write", "target": "/r/billing/export/filter.py"}], "decision": "allow", "rules": ["allow.write.0"], "reason": "in scope", "mode": "enforce", "enforced": true}),
        json!({"type": "tool.post", "tool_use_id": "t2", "tool": "Write", "input": {"file_path": "/r/billing/export/filter.py", "content": "def keep(row): return True\n"},
               "response": {"type": "update"}}),
        json!({"type": "tool.pre", "tool_use_id": "t3", "tool": "Read", "input": {"file_path": "/r/customer_data/eu.csv"},
               "touches": [{"kind": "read", "target": "/r/customer_data/eu.csv"}], "decision": "deny", "rules": ["block.read.0"], "reason": "customer data is blocked", "mode": "enforce", "enforced": true}),
        json!({"type": "tool.pre", "tool_use_id": "t4", "tool": "Bash", "input": {"command": "pytest billing/export/tests -q"},
               "touches": [{"kind": "execute", "target": "pytest billing/export/tests -q"}], "decision": "allow", "rules": ["allow.execute.0"], "reason": "test command", "mode": "enforce", "enforced": true}),
        json!({"type": "tool.post", "tool_use_id": "t4", "tool": "Bash", "input": {"command": "pytest billing/export/tests -q"},
               "response": {"stdout": "....\n4 passed in 0.01s\n", "stderr": "", "interrupted": false}}),
        json!({"type": "test.run", "tool_use_id": "t4", "command": "pytest billing/export/tests -q", "exit_status": 0,
               "summary": {"passed": 4, "failed": 0, "skipped": 0, "runner": "pytest"}}),
        json!({"type": "tool.post", "tool_use_id": "t9", "tool": "mcp__jira__get_issue", "input": {"issue": "BILL-142"}, "response": {"ok": true}}),
        json!({"type": "evidence.assumption", "text": "EU rows are identified by the country column"}),
        json!({"type": "evidence.risk", "text": "rows with an empty country are still dropped"}),
        json!({"type": "evidence.test_gap", "text": "no test covers the CSV writer"}),
        json!({"type": "approval.request", "id": "a1", "reviewers": "billing", "input_digest": "sha256:cc"}),
        json!({"type": "approval.granted", "id": "a1", "reviewers": "billing", "by": "bob@example.com", "input_digest": "sha256:cc"}),
        json!({"type": "stop.gate", "missing": [], "blocked": false, "attempt": 1}),
        json!({"type": "run.finish", "complete": true, "missing": []}),
        json!({"type": "review", "reviewer": "bob@example.com", "decision": "approve", "note": "tests cover the fix"}),
    ];
    for e in events {
        log.append(e).unwrap();
    }
    log.checkpoint(&key(), "mandate.dev/run/BILL-142-1")
        .unwrap();
    dir
}

#[test]
fn the_packet_has_every_key_and_separates_witnessed_from_claimed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = billing_run(tmp.path());
    let report = verify(&dir, &key().verifying_key());
    assert!(report.ok, "{report}");
    let entries = mandate_record::read_entries(&dir).unwrap();
    let p = packet::build(&entries, Some(&report));

    let json: Value = serde_json::from_str(&packet::render_json(&p)).unwrap();
    for (k, _) in packet::KEYS {
        assert!(json.get(*k).is_some(), "missing key {k}");
    }
    assert_eq!(json["verification"]["ok"], true);
    assert_eq!(p.run_id.as_deref(), Some("BILL-142-1"));
    assert_eq!(p.status.state, "finished");
    assert!(p.task_request[0].text.contains("EU invoice rows"));
    assert!(p.delegated_by[0].text.starts_with("alice@example.com"));
    assert_eq!(p.files_inspected.len(), 1);
    assert_eq!(p.files_changed.len(), 1);
    let changed = &p.files_changed[0];
    assert_eq!(
        changed.detail["digest"]["sha256"],
        mandate_record::digest::sha256_hex(b"def keep(row): return True\n")
    );
    assert_eq!(p.denied_actions.len(), 1);
    assert!(
        p.denied_actions[0]
            .text
            .contains("customer data is blocked")
    );
    assert_eq!(p.commands_run.len(), 1);
    assert!(p.tests[0].text.contains("4 passed"));
    assert_eq!(p.mcp_servers_used[0].detail["server"], "jira");
    // The MCP call had no tool.pre: it ran unguarded.
    assert_eq!(p.unguarded_calls.len(), 1);
    assert_eq!(p.unguarded_calls[0].detail["tool_use_id"], "t9");
    for claimed in [
        &p.assumptions,
        &p.residual_risks,
        &p.test_gaps,
        &p.rollback_note,
    ] {
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].basis, Basis::Claimed);
    }
    for witnessed in [
        &p.tests,
        &p.denied_actions,
        &p.files_changed,
        &p.reviewer_decision,
        &p.approvals,
    ] {
        assert!(!witnessed.is_empty());
        assert!(witnessed.iter().all(|i| i.basis == Basis::Witnessed));
    }
    assert!(
        p.reviewer_decision[0]
            .text
            .starts_with("approve by bob@example.com")
    );
    // Every item points at real entries.
    for (k, _) in packet::KEYS {
        for item in p.section(k) {
            assert!(
                !item.entries.is_empty()
                    && item.entries.iter().all(|&i| (i as usize) < entries.len()),
                "{k}"
            );
        }
    }

    let md = packet::render_markdown(&p);
    assert!(md.contains("## Unguarded calls"));
    assert!(md.contains("- [claimed] EU rows are identified by the country column"));
    assert!(md.contains("- **Record:** ok: 22 entries"), "{md}");

    let html = packet::render_html(&p);
    assert!(html.starts_with("<!doctype html>"));
    for external in ["<script", "src=", "href=\"http", "@import", "url("] {
        assert!(
            !html.contains(external),
            "HTML must be self-contained: {external}"
        );
    }
    assert!(html.contains("<span class=\"tag claimed\">claimed</span>EU rows"));
}

#[test]
fn the_packet_shows_a_revised_rollback_note_and_a_call_that_ran_despite_a_deny() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    let log = RunLog::create(&dir, "r").unwrap();
    log.append(json!({"type": "evidence.rollback", "change": "a", "undo": "b", "data_risk": "c", "trigger": "d", "owner": "e", "stop_before": "f"})).unwrap();
    log.append(json!({"type": "evidence.rollback", "change": "a2", "undo": "b", "data_risk": "c", "trigger": "d", "owner": "e", "stop_before": "f"})).unwrap();
    log.append(json!({"type": "tool.pre", "tool_use_id": "x", "tool": "Bash", "input": {"command": "git push"}, "decision": "deny", "enforced": true})).unwrap();
    log.append(json!({"type": "tool.post", "tool_use_id": "x", "tool": "Bash", "input": {"command": "git push"}, "response": {}})).unwrap();
    let p = packet::build(&log.entries().unwrap(), None);
    assert_eq!(p.rollback_note.len(), 2);
    assert!(p.rollback_note[1].text.starts_with("REVISED: change: a2"));
    assert_eq!(p.unguarded_calls.len(), 1);
    assert!(p.unguarded_calls[0].text.contains("although it was denied"));
    assert!(packet::render_markdown(&p).contains("not checked"));
}

/// A venv under the target dir with securesystemslib, created on first use.
fn python_with_securesystemslib() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mandate-record-pyenv");
    let python = venv.join("bin/python");
    let has = |py: &Path| {
        Command::new(py)
            .args(["-c", "import securesystemslib.dsse, cryptography"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has(&python) {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap()
            .success();
        assert!(ok, "python3 -m venv failed");
        let ok = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "securesystemslib[crypto]",
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "pip install securesystemslib[crypto] failed");
    }
    python
}

#[test]
fn the_in_toto_export_verifies_with_securesystemslib() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = billing_run(tmp.path());
    let log = RunLog::open(&dir).unwrap();
    let cp = log.latest_checkpoint().unwrap().unwrap();
    let entries = log.entries().unwrap();
    let report = verify(&dir, &key().verifying_key());
    let envelope = intoto::export_in_toto(&entries, &cp, &key(), Some(&report)).unwrap();

    // Our own reading first.
    let statement = intoto::verify_envelope(&envelope, &key().verifying_key()).unwrap();
    assert_eq!(statement["_type"], intoto::STATEMENT_TYPE);
    assert_eq!(statement["predicateType"], intoto::PREDICATE_TYPE);
    let subjects = statement["subject"].as_array().unwrap();
    assert_eq!(subjects[0]["name"], "/r/billing/export/filter.py");
    assert!(
        subjects[1]["name"]
            .as_str()
            .unwrap()
            .starts_with("checkpoint:mandate.dev/run/BILL-142-1/22")
    );
    assert_eq!(statement["predicate"]["log"]["treeSize"], 22);
    assert!(
        intoto::verify_envelope(&envelope, &SigningKey::from_bytes(&[1; 32]).verifying_key())
            .is_err()
    );

    // Then an independent implementation.
    let python = python_with_securesystemslib();
    let path = tmp.path().join("envelope.json");
    std::fs::write(&path, serde_json::to_vec(&envelope).unwrap()).unwrap();
    let vk = key().verifying_key();
    let public_hex = mandate_record::digest::hex(vk.as_bytes());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dsse_check.py");
    let run = |env_path: &Path| {
        Command::new(&python)
            .arg(&script)
            .arg(env_path)
            .arg(&public_hex)
            .arg(intoto::key_id(&vk))
            .output()
            .unwrap()
    };
    let out = run(&path);
    assert!(
        out.status.success(),
        "securesystemslib rejected the export: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok 2 subjects"));

    // A payload changed after signing must fail there too.
    let mut bad = envelope.clone();
    let payload = bad["payload"].as_str().unwrap().to_owned();
    let mut bytes = base64_decode(&payload);
    let pos = bytes.iter().position(|&b| b == b'B').unwrap();
    bytes[pos] = b'C';
    bad["payload"] = json!(base64_encode(&bytes));
    let bad_path = tmp.path().join("bad.json");
    std::fs::write(&bad_path, serde_json::to_vec(&bad).unwrap()).unwrap();
    assert!(!run(&bad_path).status.success());
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn pruning_removes_whole_old_runs_and_keeps_the_rest_verifiable() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path();
    let old = billing_run(records);
    let young = records.join("young");
    let log = RunLog::create(&young, "young").unwrap();
    log.append(json!({"type": "prompt", "prompt": "hi"}))
        .unwrap();
    log.checkpoint(&key(), "mandate.dev/run/young").unwrap();
    drop(log);
    let busy = records.join("busy");
    RunLog::create(&busy, "busy").unwrap();
    // Pretend the old and busy runs were last written 500 days ago.
    let long_ago = SystemTime::now() - Duration::from_secs(500 * 86_400);
    for run in [&old, &busy] {
        let f = std::fs::File::options()
            .append(true)
            .open(run.join("log.jsonl"))
            .unwrap();
        f.set_modified(long_ago).unwrap();
    }
    // A writer holds the busy run's lock.
    let holder = std::fs::File::open(busy.join("log.jsonl")).unwrap();
    holder.lock().unwrap();

    let pruned = retention::prune(records, 400, SystemTime::now()).unwrap();
    assert_eq!(pruned.removed, vec![old.clone()]);
    assert_eq!(pruned.busy, vec![busy.clone()]);
    assert!(!old.exists());
    assert!(verify(&young, &key().verifying_key()).ok);
    let names: Vec<String> = std::fs::read_dir(records)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with('.')), "{names:?}");
}
