//! Crash safety and concurrency: torn tails, killed writers, 16 concurrent processes.
//!
//! Child processes are this test binary run again with `MANDATE_RECORD_CHILD` set: the
//! `child_process` test then acts as a hook process appending to a shared run, printing
//! `APPENDED <n>` after each append returns.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mandate_record::{RecordError, RunLog, SigningKey, verify};
use serde_json::json;
use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn child(dir: &Path, id: usize, count: Option<usize>) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_process",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("MANDATE_RECORD_CHILD", dir)
    .env("MANDATE_RECORD_CHILD_ID", id.to_string())
    .env(
        "MANDATE_RECORD_CHILD_COUNT",
        count.map_or("forever".to_owned(), |c| c.to_string()),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    cmd
}

/// Not a test of its own: the body of a child process (a no-op in a normal run).
#[test]
fn child_process() {
    let Ok(dir) = std::env::var("MANDATE_RECORD_CHILD") else {
        return;
    };
    let id: usize = std::env::var("MANDATE_RECORD_CHILD_ID")
        .unwrap()
        .parse()
        .unwrap();
    let count = std::env::var("MANDATE_RECORD_CHILD_COUNT").unwrap();
    let count: usize = count.parse().unwrap_or(usize::MAX);
    let log = RunLog::open(Path::new(&dir)).unwrap();
    let mut out = std::io::stdout();
    for n in 0..count {
        log.append(
            json!({"type": "tool.pre", "tool": "Bash", "tool_use_id": format!("c{id}-{n}"),
                          "input": {"command": format!("pytest -k case{n}")}, "decision": "allow",
                          "child": id, "n": n}),
        )
        .unwrap();
        writeln!(out, "APPENDED {n}").unwrap();
        out.flush().unwrap();
    }
}

fn appended(stdout: impl std::io::Read) -> Vec<usize> {
    BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.rsplit_once("APPENDED ").and_then(|(_, n)| n.parse().ok()))
        .collect()
}

fn recorded(dir: &Path) -> BTreeSet<(u64, u64)> {
    let mut seen = BTreeSet::new();
    for e in mandate_record::read_entries(dir).unwrap() {
        if let (Some(c), Some(n)) = (e.value["child"].as_u64(), e.value["n"].as_u64()) {
            assert!(seen.insert((c, n)), "event {c}/{n} recorded twice");
        }
    }
    seen
}

#[test]
fn sixteen_processes_appending_to_one_run_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    RunLog::create(&dir, "run").unwrap();
    const PER_CHILD: usize = 25;
    let children: Vec<_> = (0..16)
        .map(|id| child(&dir, id, Some(PER_CHILD)).spawn().unwrap())
        .collect();
    for (id, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "child {id} failed");
        assert_eq!(appended(&out.stdout[..]).len(), PER_CHILD, "child {id}");
    }
    let seen = recorded(&dir);
    assert_eq!(seen.len(), 16 * PER_CHILD);
    let entries = mandate_record::read_entries(&dir).unwrap();
    assert_eq!(entries.len(), 1 + 16 * PER_CHILD);
    let log = RunLog::open(&dir).unwrap();
    log.checkpoint(&key(), "mandate.dev/run/run").unwrap();
    let report = verify(&dir, &key().verifying_key());
    assert!(report.ok, "{report}");
    assert_eq!(report.entries, 1 + 16 * PER_CHILD as u64);
}

#[test]
fn sixteen_threads_each_opening_the_log_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    RunLog::create(&dir, "run").unwrap();
    std::thread::scope(|s| {
        for id in 0..16u64 {
            let dir = &dir;
            s.spawn(move || {
                let log = RunLog::open(dir).unwrap();
                for n in 0..20u64 {
                    log.append(json!({"type": "prompt", "child": id, "n": n}))
                        .unwrap();
                }
            });
        }
    });
    // And one handle shared by threads.
    let shared = RunLog::open(&dir).unwrap();
    std::thread::scope(|s| {
        for id in 16..20u64 {
            let log = &shared;
            s.spawn(move || {
                for n in 0..20u64 {
                    log.append(json!({"type": "prompt", "child": id, "n": n}))
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(recorded(&dir).len(), 20 * 20);
    shared.checkpoint(&key(), "o").unwrap();
    assert!(verify(&dir, &key().verifying_key()).ok);
}

#[test]
fn a_killed_writer_never_loses_an_event_whose_append_returned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    RunLog::create(&dir, "run").unwrap();
    for round in 0..6 {
        let mut c = child(&dir, round, None).spawn().unwrap();
        let stdout = c.stdout.take().unwrap();
        let reader = std::thread::spawn(move || appended(stdout));
        std::thread::sleep(Duration::from_millis(30 + 17 * round as u64));
        c.kill().unwrap(); // SIGKILL, at whatever point of an append it is
        c.wait().unwrap();
        let returned = reader.join().unwrap();
        // Opening recovers a torn tail if the kill landed mid-write.
        RunLog::open(&dir).unwrap();
        let seen = recorded(&dir);
        for n in returned {
            assert!(
                seen.contains(&(round as u64, n as u64)),
                "round {round}: event {n} returned but is missing"
            );
        }
    }
    RunLog::open(&dir).unwrap().checkpoint(&key(), "o").unwrap();
    let report = verify(&dir, &key().verifying_key());
    assert!(report.ok, "{report}");
}

#[test]
fn a_torn_tail_at_every_offset_is_recovered_with_an_explicit_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let log = RunLog::create(&dir, "run").unwrap();
    log.append(json!({"type": "prompt", "prompt": "one"}))
        .unwrap();
    drop(log);
    // A complete line the way a crashed writer would have produced it.
    let scratch = tmp.path().join("scratch");
    let l = RunLog::create(&scratch, "run").unwrap();
    l.append(json!({"type": "prompt", "prompt": "one"}))
        .unwrap();
    l.append(json!({"type": "prompt", "prompt": "lost"}))
        .unwrap();
    let full = fs::read(scratch.join("log.jsonl")).unwrap();
    let base = fs::read(dir.join("log.jsonl")).unwrap();
    let torn_line = &full[full.len() - (full.len() - base.len())..];
    let good = base.clone();
    for cut in 1..torn_line.len() {
        fs::write(dir.join("log.jsonl"), &good).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join("log.jsonl"))
            .unwrap();
        f.write_all(&torn_line[..cut]).unwrap();
        drop(f);
        // Verify sees the cut-off entry and says so.
        let report = verify(&dir, &key().verifying_key());
        assert!(!report.ok);
        assert_eq!(
            report.failure.unwrap().location,
            mandate_record::Location::Entry(2)
        );
        let log = RunLog::open(&dir).unwrap();
        let entries = log.entries().unwrap();
        assert_eq!(entries.len(), 3, "cut {cut}");
        assert_eq!(entries[2].kind(), "record.recovery");
        assert_eq!(entries[2].value["discarded_bytes"], cut);
        let i = log
            .append(json!({"type": "prompt", "prompt": "two"}))
            .unwrap();
        assert_eq!(i, 3);
        assert!(verify(&dir, &key().verifying_key()).ok, "cut {cut}");
    }
}

#[test]
fn a_torn_tail_is_recovered_by_an_append_through_an_already_open_handle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let log = RunLog::create(&dir, "run").unwrap();
    let mut f = OpenOptions::new()
        .append(true)
        .open(dir.join("log.jsonl"))
        .unwrap();
    f.write_all(br#"{"i":1,"prev":"ab"#).unwrap();
    let i = log
        .append(json!({"type": "prompt", "prompt": "after"}))
        .unwrap();
    assert_eq!(i, 2);
    let kinds: Vec<String> = log
        .entries()
        .unwrap()
        .iter()
        .map(|e| e.kind().to_owned())
        .collect();
    assert_eq!(kinds, ["record.create", "record.recovery", "prompt"]);
}

#[test]
fn a_cut_below_a_signed_checkpoint_is_tampering_not_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let log = RunLog::create(&dir, "run").unwrap();
    for n in 0..3 {
        log.append(json!({"type": "prompt", "prompt": format!("p{n}")}))
            .unwrap();
    }
    log.checkpoint(&key(), "o").unwrap();
    drop(log);
    let data = fs::read(dir.join("log.jsonl")).unwrap();
    fs::write(dir.join("log.jsonl"), &data[..data.len() - 10]).unwrap();
    let err = RunLog::open(&dir).unwrap_err();
    assert!(matches!(err, RecordError::Tampered(_)), "{err}");
    assert_eq!(
        fs::read(dir.join("log.jsonl")).unwrap().len(),
        data.len() - 10
    );
}
