//! Verification of whole run directories: an intact record passes, and every kind of
//! tampering the issue names fails, naming the first bad entry or file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mandate_record::{Location, RecordError, RunLog, SigningKey, verify};
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A finished run: genesis + 11 events, checkpointed at 6 entries and at the end (12).
fn sample_run(root: &Path) -> PathBuf {
    let dir = root.join("run-1");
    let log = RunLog::create(&dir, "run-1").unwrap();
    let k = key(1);
    log.append(
        json!({"type": "run.start", "contract": {"id": "BILL-142", "request": "fix the export"}}),
    )
    .unwrap();
    for n in 0..4 {
        log.append(json!({"type": "tool.pre", "tool_use_id": format!("t{n}"), "tool": "Read",
                          "input": {"file_path": format!("/r/billing/export/f{n}.py")}, "decision": "allow"}))
            .unwrap();
    }
    log.checkpoint(&k, "mandate.dev/run/run-1").unwrap();
    for n in 0..5 {
        log.append(
            json!({"type": "tool.post", "tool_use_id": format!("t{n}"), "tool": "Read",
                          "response": {"note": "é ✓"}}),
        )
        .unwrap();
    }
    log.append(json!({"type": "run.finish", "complete": true, "missing": []}))
        .unwrap();
    log.checkpoint(&k, "mandate.dev/run/run-1").unwrap();
    dir
}

fn lines(dir: &Path) -> Vec<Vec<u8>> {
    let data = fs::read(dir.join("log.jsonl")).unwrap();
    data.split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_lines(dir: &Path, lines: &[Vec<u8>]) {
    fs::write(dir.join("log.jsonl"), lines.concat()).unwrap();
}

fn failure_at(dir: &Path) -> Location {
    let report = verify(dir, &key(1).verifying_key());
    assert!(!report.ok, "verify passed unexpectedly");
    report.failure.unwrap().location
}

#[test]
fn an_intact_record_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    let report = verify(&dir, &key(1).verifying_key());
    assert!(report.ok, "{report}");
    assert_eq!(report.entries, 12);
    assert_eq!(report.checkpoints, vec![6, 12]);
    assert_eq!((report.sealed, report.unsealed), (12, 0));
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["checkpoints", "log.jsonl"]);
}

#[test]
fn every_single_byte_change_in_the_log_names_the_entry_holding_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    let original = fs::read(dir.join("log.jsonl")).unwrap();
    let mut line_of = Vec::new();
    let mut line = 0u64;
    for &b in &original {
        line_of.push(line);
        if b == b'\n' {
            line += 1;
        }
    }
    for pos in 0..original.len() {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut bad = original.clone();
            bad[pos] ^= flip;
            fs::write(dir.join("log.jsonl"), &bad).unwrap();
            let at = failure_at(&dir);
            assert_eq!(
                at,
                Location::Entry(line_of[pos]),
                "byte {pos} ^ {flip:#x} ({:?})",
                char::from(original[pos])
            );
        }
    }
    fs::write(dir.join("log.jsonl"), &original).unwrap();
    assert!(verify(&dir, &key(1).verifying_key()).ok);
}

#[test]
fn every_single_byte_change_in_a_checkpoint_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    for size in ["6", "12"] {
        let path = dir.join("checkpoints").join(size);
        let original = fs::read(&path).unwrap();
        for pos in 0..original.len() {
            let mut bad = original.clone();
            bad[pos] ^= 0x01;
            fs::write(&path, &bad).unwrap();
            assert_eq!(failure_at(&dir), Location::File(path.clone()), "byte {pos}");
        }
        fs::write(&path, &original).unwrap();
    }
    assert!(verify(&dir, &key(1).verifying_key()).ok);
}

#[test]
fn a_deleted_entry_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    let mut l = lines(&dir);
    l.remove(7);
    write_lines(&dir, &l);
    assert_eq!(failure_at(&dir), Location::Entry(7));
}

#[test]
fn reordered_entries_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    let mut l = lines(&dir);
    l.swap(3, 4);
    write_lines(&dir, &l);
    assert_eq!(failure_at(&dir), Location::Entry(3));
}

#[test]
fn a_duplicated_entry_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    let mut l = lines(&dir);
    let dup = l[8].clone();
    l.insert(9, dup);
    write_lines(&dir, &l);
    let report = verify(&dir, &key(1).verifying_key());
    assert_eq!(report.failure.unwrap().location, Location::Entry(9));
}

#[test]
fn truncation_below_the_latest_checkpoint_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    let mut l = lines(&dir);
    l.truncate(10);
    write_lines(&dir, &l);
    let report = verify(&dir, &key(1).verifying_key());
    let failure = report.failure.unwrap();
    assert_eq!(failure.location, Location::Entry(10));
    assert!(failure.reason.contains("truncated"), "{}", failure.reason);
    // Truncating to before the first checkpoint too.
    l.truncate(2);
    write_lines(&dir, &l);
    assert_eq!(failure_at(&dir), Location::Entry(2));
}

#[test]
fn a_rewritten_chain_is_caught_by_the_checkpoint_root() {
    // An attacker who edits entry 3 and recomputes every later `prev` keeps the chain
    // intact; the signed root still catches it.
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    let entries = mandate_record::read_entries(&dir).unwrap();
    let mut values: Vec<serde_json::Value> = entries.iter().map(|e| e.value.clone()).collect();
    values[3]["input"]["file_path"] = json!("/r/customer_data/all.csv");
    let mut out = Vec::new();
    let mut prev: Option<[u8; 32]> = None;
    for mut v in values {
        if let Some(p) = prev {
            v["prev"] = json!(mandate_record::digest::hex(&p));
        }
        let bytes = mandate_record::canonical::to_vec(&v).unwrap();
        prev = Some(mandate_record::merkle::leaf_hash(&bytes));
        out.push([bytes, b"\n".to_vec()].concat());
    }
    write_lines(&dir, &out);
    let failure = verify(&dir, &key(1).verifying_key()).failure.unwrap();
    // The link chain is intact, so the first checkpoint's range is all that can be named.
    assert_eq!(failure.location, Location::Entry(5));
    assert!(failure.reason.contains("root"), "{}", failure.reason);
}

#[test]
fn a_forged_or_foreign_checkpoint_signature_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    // Verified against a different pinned key: every checkpoint is foreign.
    let report = verify(&dir, &key(2).verifying_key());
    assert_eq!(
        report.failure.unwrap().location,
        Location::File(dir.join("checkpoints/6"))
    );
    // A checkpoint re-signed by an attacker's key over the true root.
    let entries = mandate_record::read_entries(&dir).unwrap();
    let leaves: Vec<_> = entries.iter().map(|e| e.leaf_hash()).collect();
    let forged = mandate_record::Checkpoint::sign(
        "mandate.dev/run/run-1",
        12,
        mandate_record::merkle::root(&leaves),
        &key(9),
    )
    .unwrap();
    fs::write(dir.join("checkpoints/12"), &forged.note).unwrap();
    assert_eq!(failure_at(&dir), Location::File(dir.join("checkpoints/12")));
}

#[test]
fn a_checkpoint_copied_from_another_run_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    let other = tmp.path().join("run-2");
    let log = RunLog::create(&other, "run-2").unwrap();
    for n in 0..11 {
        log.append(json!({"type": "prompt", "prompt": format!("p{n}")}))
            .unwrap();
    }
    log.checkpoint(&key(1), "mandate.dev/run/run-1").unwrap();
    fs::copy(other.join("checkpoints/12"), dir.join("checkpoints/12")).unwrap();
    assert_eq!(failure_at(&dir), Location::Entry(11));
}

#[test]
fn unexpected_files_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    for extra in [
        "notes.txt",
        "checkpoints/latest",
        "checkpoints/012",
        ".hidden",
    ] {
        let path = dir.join(extra);
        fs::write(&path, "x").unwrap();
        assert_eq!(failure_at(&dir), Location::File(path.clone()), "{extra}");
        fs::remove_file(&path).unwrap();
    }
    fs::remove_file(dir.join("log.jsonl")).unwrap();
    assert_eq!(failure_at(&dir), Location::File(dir.join("log.jsonl")));
}

#[test]
fn create_refuses_an_existing_run_and_open_refuses_a_non_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    assert!(matches!(
        RunLog::create(&dir, "run-1"),
        Err(RecordError::Exists(_))
    ));
    assert!(matches!(
        RunLog::open(tmp.path()),
        Err(RecordError::NotARun(_))
    ));
}

#[test]
fn the_tail_after_the_latest_checkpoint_is_reported_unsealed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    let log = RunLog::open(&dir).unwrap();
    log.append(json!({"type": "review", "reviewer": "bob", "decision": "approve", "note": "ok"}))
        .unwrap();
    let report = verify(&dir, &key(1).verifying_key());
    assert!(report.ok);
    assert_eq!((report.sealed, report.unsealed), (12, 1));
    assert!(report.to_string().contains("not yet signed"), "{report}");
}

#[test]
fn checkpointing_a_damaged_log_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_run(tmp.path());
    let log = RunLog::open(&dir).unwrap();
    log.append(json!({"type": "prompt", "prompt": "more"}))
        .unwrap();
    let mut l = lines(&dir);
    l.swap(1, 2);
    write_lines(&dir, &l);
    let err = log
        .checkpoint(&key(1), "mandate.dev/run/run-1")
        .unwrap_err();
    assert!(matches!(err, RecordError::Tampered(_)), "{err}");
}

#[test]
fn events_are_redacted_digested_and_canonical_before_hashing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    let log = RunLog::create(&dir, "r").unwrap();
    let token = format!("ghp_{}", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5");
    let i = log
        .append(
            json!({"type": "tool.pre", "tool": "Write", "tool_use_id": "t1",
                       "input": {"file_path": "/r/a.py", "content": format!("TOKEN = '{token}'\n")},
                       "note": format!("export GH_TOKEN={token}")}),
        )
        .unwrap();
    assert_eq!(i, 1);
    let raw = fs::read_to_string(dir.join("log.jsonl")).unwrap();
    assert!(!raw.contains(&token));
    assert!(raw.contains("[REDACTED:github-pat]"));
    let e = &log.entries().unwrap()[1];
    assert_eq!(e.value["input"]["content"]["bytes"], 51);
    assert_eq!(
        e.bytes,
        mandate_record::canonical::to_vec(&e.value).unwrap(),
        "stored bytes are the canonical form"
    );
    assert!(log.append(json!({"type": "x", "i": 3})).is_err());
    assert!(log.append(json!(["not", "an", "object"])).is_err());
    assert!(log.append(json!({"no": "type"})).is_err());
}

#[test]
fn a_large_log_verified_in_parallel_still_names_the_first_bad_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    let log = RunLog::create(&dir, "big").unwrap();
    let mut prev = log.entries().unwrap()[0].leaf_hash();
    let mut lines = Vec::new();
    for i in 1..5000u64 {
        let v = json!({"type": "prompt", "prompt": format!("event {i}"), "i": i,
                       "prev": mandate_record::digest::hex(&prev)});
        let bytes = mandate_record::canonical::to_vec(&v).unwrap();
        prev = mandate_record::merkle::leaf_hash(&bytes);
        lines.extend_from_slice(&bytes);
        lines.push(b'\n');
    }
    use std::io::Write as _;
    fs::OpenOptions::new()
        .append(true)
        .open(dir.join("log.jsonl"))
        .unwrap()
        .write_all(&lines)
        .unwrap();
    log.checkpoint(&key(1), "o").unwrap();
    assert!(verify(&dir, &key(1).verifying_key()).ok);
    let mut l = self::lines(&dir);
    let pos = l[3210].iter().position(|&b| b == b'v').unwrap();
    l[3210][pos] = b'V';
    write_lines(&dir, &l);
    assert_eq!(failure_at(&dir), Location::Entry(3210));
}
