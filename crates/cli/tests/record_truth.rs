#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The record is the whole truth (issue 15), through the real hook binary:
//!
//! - a decision says what it was judged under, and an edited contract snapshot is refused
//!   and fails `record verify`, naming the entry;
//! - the stop gate lets a run that a stop condition halted end, and marks it stopped;
//! - nothing is recorded best-effort: an event that cannot be recorded (an injected I/O
//!   error at each event kind, a full file system) refuses the run's next calls, shows
//!   in `status` and `readiness`, and a stop is never forgotten;
//! - shadow mode with no run still records, and `touched` finds it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const POLICY: &str = include_str!("../../../examples/billing/mandate.toml");
const CONTRACT: &str = include_str!("../../../examples/billing/.mandate/contracts/BILL-142.toml");

struct Repo {
    dir: tempfile::TempDir,
    root: PathBuf,
    records: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        Repo::with_records(None, "enforce", true)
    }

    /// A repository whose record store is `records` (default: beside it), in `mode`,
    /// with BILL-142 started when `start`.
    fn with_records(records: Option<PathBuf>, mode: &str, start: bool) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join(".mandate/contracts")).unwrap();
        std::fs::create_dir_all(root.join("billing/export/tests")).unwrap();
        std::fs::create_dir_all(root.join("customer_data")).unwrap();
        std::fs::write(root.join("billing/export/filter.py"), "x = 1\n").unwrap();
        std::fs::write(root.join("customer_data/eu.csv"), "a,b\n").unwrap();
        let records = records.unwrap_or_else(|| dir.path().join("records"));
        let policy = POLICY
            .replace(
                "dir = \"~/.local/share/mandate\"",
                &format!("dir = \"{}\"", records.display()),
            )
            .replace("mode = \"enforce\"", &format!("mode = \"{mode}\""));
        assert!(policy.contains(&format!("mode = \"{mode}\"")));
        std::fs::write(root.join("mandate.toml"), policy).unwrap();
        std::fs::write(root.join(".mandate/contracts/BILL-142.toml"), CONTRACT).unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        let repo = Repo { dir, root, records };
        if start {
            let out = repo.mandate(&["start", ".mandate/contracts/BILL-142.toml"]);
            assert!(out.status.success(), "{}", text(&out));
        }
        repo
    }

    fn mandate(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mandate"))
            .args(args)
            .current_dir(&self.root)
            .env("HOME", self.dir.path())
            .env("MANDATE_USER", "alice@example.com")
            .env("MANDATE_ORG_POLICY", self.dir.path().join("org.toml"))
            .output()
            .unwrap()
    }

    /// One hook event through the real binary; `fault` goes to `MANDATE_FAULT_INJECT`.
    fn hook_with(&self, name: &str, fields: Value, fault: Option<&str>) -> Value {
        let mut event = json!({"session_id": "s1", "transcript_path": "/dev/null",
                               "cwd": self.root, "hook_event_name": name});
        for (k, v) in fields.as_object().unwrap() {
            event[k] = v.clone();
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_mandate"));
        command
            .args(["hook", "claude-code", "--root"])
            .arg(&self.root)
            .env("HOME", self.dir.path())
            .env("MANDATE_ORG_POLICY", self.dir.path().join("org.toml"))
            .env_remove("MANDATE_FAULT_INJECT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(fault) = fault {
            command.env("MANDATE_FAULT_INJECT", fault);
        }
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(event.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the hook's answer to {name} is not JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    fn hook(&self, name: &str, fields: Value) -> Value {
        self.hook_with(name, fields, None)
    }

    fn pre(&self, id: &str, tool: &str, input: Value) -> Value {
        self.hook(
            "PreToolUse",
            json!({"tool_name": tool, "tool_input": input, "tool_use_id": id}),
        )
    }

    fn read(&self, id: &str, path: &str) -> Value {
        self.pre(
            id,
            "Read",
            json!({"file_path": self.root.join(path).to_string_lossy()}),
        )
    }

    fn runs(&self) -> Vec<PathBuf> {
        let mut runs: Vec<PathBuf> = std::fs::read_dir(self.records.join("runs"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        runs.sort();
        runs
    }

    fn events(&self) -> Vec<Value> {
        self.runs()
            .iter()
            .flat_map(|run| {
                std::fs::read_to_string(run.join("log.jsonl"))
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn snapshot(&self) -> PathBuf {
        let workspaces = self.records.join("workspaces");
        let workspace = std::fs::read_dir(workspaces)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        workspace.join("contract.toml")
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn decision(answer: &Value) -> &str {
    answer["hookSpecificOutput"]["permissionDecision"]
        .as_str()
        .unwrap_or("")
}

fn reason(answer: &Value) -> String {
    answer["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .or_else(|| answer["stopReason"].as_str())
        .unwrap_or("")
        .to_string()
}

#[test]
fn an_edited_contract_snapshot_is_refused_and_fails_verify_naming_the_entry() {
    let repo = Repo::new();
    assert_eq!(
        decision(&repo.read("t1", "billing/export/filter.py")),
        "allow"
    );
    assert_eq!(decision(&repo.read("t2", "customer_data/eu.csv")), "deny");
    // Someone widens the box behind the record's back: the customer-data block is gone.
    let snapshot = repo.snapshot();
    let widened = std::fs::read_to_string(&snapshot)
        .unwrap()
        .replace("\"customer_data/**\", ", "")
        .replace("read = [\"billing/export/**\"", "read = [\"**\"");
    assert_ne!(widened, std::fs::read_to_string(&snapshot).unwrap());
    std::fs::write(&snapshot, widened).unwrap();
    let answer = repo.read("t3", "customer_data/eu.csv");
    assert_eq!(decision(&answer), "deny", "{answer}");
    let why = reason(&answer);
    assert!(
        why.contains("contract snapshot") && why.contains("mandate start"),
        "the refusal does not say the snapshot changed: {why}"
    );
    // Even an in-scope call is not judged under a changed contract.
    assert_eq!(
        decision(&repo.read("t4", "billing/export/filter.py")),
        "deny"
    );
    // Every decision says what it was judged under.
    let events = repo.events();
    let start = events.iter().find(|e| e["type"] == "run.start").unwrap();
    let t1 = events.iter().find(|e| e["tool_use_id"] == "t1").unwrap();
    assert_eq!(t1["judged_under"]["contract"], start["contract_digest"]);
    assert_eq!(t1["judged_under"]["policy"], start["policy_digest"]);
    assert!(t1["judged_under"]["kill_list"].is_string(), "{t1}");
    // The record seals (SessionEnd) and then fails verification at the refused call.
    repo.hook("SessionEnd", json!({"reason": "other"}));
    let verify = repo.mandate(&["record", "verify"]);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
    let index = events
        .iter()
        .position(|e| e["tool_use_id"] == "t3")
        .unwrap();
    let out = text(&verify);
    assert!(
        out.contains(&format!("entry {index} ")) && out.contains("contract snapshot"),
        "verify does not name entry {index}: {out}"
    );
}

#[test]
fn a_policy_changed_mid_run_is_recorded_and_verify_still_holds() {
    let repo = Repo::new();
    assert_eq!(
        decision(&repo.read("t1", "billing/export/filter.py")),
        "allow"
    );
    let policy = std::fs::read_to_string(repo.root.join("mandate.toml")).unwrap();
    std::fs::write(
        repo.root.join("mandate.toml"),
        format!("{policy}\n# reviewed change\n"),
    )
    .unwrap();
    assert_eq!(
        decision(&repo.read("t2", "billing/export/filter.py")),
        "allow"
    );
    let events = repo.events();
    let changed = events
        .iter()
        .position(|e| e["type"] == "policy.changed")
        .expect("a policy.changed entry");
    assert_eq!(events[changed]["which"], "policy");
    repo.hook("SessionEnd", json!({"reason": "other"}));
    let verify = repo.mandate(&["record", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    let packet = text(&repo.mandate(&["record", "show"]));
    assert!(
        packet.contains(&format!("decisions from entry {changed} on")),
        "{packet}"
    );
}

#[test]
fn the_stop_gate_lets_a_stopped_run_end_and_marks_it_stopped() {
    let repo = Repo::new();
    let stop = repo.pre(
        "t1",
        "Write",
        json!({"file_path": repo.root.join("billing/migrations/0001.sql").to_string_lossy(),
               "content": "ALTER TABLE x;"}),
    );
    assert_eq!(stop["continue"], false, "{stop}");
    // Claude Code asks to stop: the gate must not send the agent back to work that every
    // call of a stopped run refuses.
    for _ in 0..2 {
        let answer = repo.hook("Stop", json!({"stop_hook_active": false}));
        assert_ne!(answer["decision"], "block", "{answer}");
    }
    let events = repo.events();
    let gate = events.iter().rfind(|e| e["type"] == "stop.gate").unwrap();
    assert_eq!(gate["blocked"], false, "{gate}");
    assert_eq!(gate["stopped"], true, "{gate}");
    assert!(
        gate["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "rollback_note"),
        "{gate}"
    );
    let status = text(&repo.mandate(&["status"]));
    assert!(status.contains("STOPPED"), "{status}");
}

/// Each hook event with the recording of its event kind made to fail.
const EVENT_KINDS: &[(&str, &str)] = &[
    ("SessionStart", "session.start"),
    ("UserPromptSubmit", "prompt"),
    ("PostToolUse", "tool.post"),
    ("PostToolUseFailure", "tool.failure"),
    ("SubagentStart", "subagent.start"),
    ("SubagentStop", "stop.gate"),
    ("Stop", "stop.gate"),
    ("SessionEnd", "session.end"),
];

fn fields_for(repo: &Repo, event: &str) -> Value {
    match event {
        "PostToolUse" => json!({"tool_name": "Read", "tool_use_id": "t9",
                                "tool_input": {"file_path": repo.root.join("billing/export/filter.py").to_string_lossy()},
                                "tool_response": {"type": "text"}}),
        "PostToolUseFailure" => json!({"tool_name": "Bash", "tool_use_id": "t9",
                                       "tool_input": {"command": "ls"}, "error": "Exit code 1"}),
        "UserPromptSubmit" => json!({"prompt": "go on"}),
        "SessionStart" => json!({"source": "startup"}),
        "SubagentStart" | "SubagentStop" => {
            json!({"agent_id": "a1", "agent_type": "general-purpose",
                                                    "stop_hook_active": false})
        }
        "Stop" => json!({"stop_hook_active": false}),
        "SessionEnd" => json!({"reason": "other"}),
        _ => json!({}),
    }
}

#[test]
fn an_event_that_cannot_be_recorded_refuses_the_next_calls_at_every_event_kind() {
    for (event, kind) in EVENT_KINDS {
        let repo = Repo::new();
        repo.hook_with(
            event,
            fields_for(&repo, event),
            Some(&format!("record:{kind}")),
        );
        let answer = repo.read("t10", "billing/export/filter.py");
        assert_eq!(
            decision(&answer),
            "deny",
            "{event}: a lost `{kind}` went unnoticed: {answer}"
        );
        let why = reason(&answer);
        assert!(
            why.contains(&format!("`{kind}`")) && why.contains("could not be recorded"),
            "{event}: {why}"
        );
        let status = text(&repo.mandate(&["status"]));
        assert!(
            status.contains("RECORD GAP") && status.contains(kind),
            "{event}: status does not show the gap:\n{status}"
        );
        // The gap is in the record itself once it can be written again.
        let gap = repo
            .events()
            .into_iter()
            .find(|e| e["type"] == "record.gap")
            .unwrap_or_else(|| panic!("{event}: no record.gap entry"));
        assert!(
            gap["events"].as_array().unwrap().iter().any(|e| e == kind),
            "{event}: {gap}"
        );
        // A new run starts clean.
        let out = repo.mandate(&["start", ".mandate/contracts/BILL-142.toml"]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            decision(&repo.read("t11", "billing/export/filter.py")),
            "allow",
            "{event}"
        );
    }
}

#[test]
fn a_stop_is_never_forgotten_when_its_record_or_its_state_cannot_be_written() {
    for fault in ["record:run.stopped", "state", "record:run.stopped,state"] {
        let repo = Repo::new();
        let stop = repo.hook_with(
            "PreToolUse",
            json!({"tool_name": "Write", "tool_use_id": "t1",
                   "tool_input": {"file_path": repo.root.join("billing/migrations/0001.sql").to_string_lossy(),
                                  "content": "ALTER TABLE x;"}}),
            Some(fault),
        );
        assert_eq!(stop["continue"], false, "{fault}: {stop}");
        let answer = repo.read("t2", "billing/export/filter.py");
        assert_eq!(
            decision(&answer),
            "deny",
            "{fault}: the stop was forgotten: {answer}"
        );
        let status = text(&repo.mandate(&["status"]));
        assert!(
            status.contains("STOPPED") || status.contains("stopped by"),
            "{fault}: {status}"
        );
    }
}

#[test]
fn a_full_file_system_under_the_record_store_refuses_the_next_calls() {
    let base = tempfile::tempdir().unwrap();
    let mount = base.path().join("records");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mount)
        .output();
    if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!(
            "SKIPPED: a_full_file_system_under_the_record_store_refuses_the_next_calls: cannot \
             mount a small tmpfs here (needs root): {mounted:?}"
        );
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let repo = Repo::with_records(Some(mount.clone()), "enforce", true);
    assert_eq!(
        decision(&repo.read("t1", "billing/export/filter.py")),
        "allow"
    );
    // Fill the file system to the last block.
    let filler = mount.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
    drop(file);
    // A result larger than a page: its append needs room the file system does not have.
    let post = repo.hook(
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_use_id": "t1",
               "tool_input": {"command": "ls -R billing"},
               "tool_response": {"stdout": "billing/export/filter.py\n".repeat(800), "stderr": ""}}),
    );
    assert!(
        post.to_string().contains("could not be recorded"),
        "the agent was not told: {post}"
    );
    let answer = repo.read("t2", "billing/export/filter.py");
    assert_eq!(decision(&answer), "deny", "{answer}");
    assert!(reason(&answer).contains("`tool.post`"), "{answer}");
    // Room again: the calls stay refused until the delegating user starts a new run,
    // and the gap is written into the record.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(
        decision(&repo.read("t3", "billing/export/filter.py")),
        "deny"
    );
    assert!(repo.events().iter().any(|e| e["type"] == "record.gap"));
    let readiness = text(&repo.mandate(&["readiness"]));
    assert!(readiness.contains("could not be recorded"), "{readiness}");
}

#[test]
fn shadow_mode_without_a_run_records_and_touched_finds_it() {
    let repo = Repo::with_records(None, "shadow", false);
    let answer = repo.read("t1", "customer_data/eu.csv");
    // Shadow: the call goes ahead…
    assert_ne!(decision(&answer), "deny", "{answer}");
    repo.hook(
        "PostToolUse",
        json!({"tool_name": "Read", "tool_use_id": "t1",
               "tool_input": {"file_path": repo.root.join("customer_data/eu.csv").to_string_lossy()},
               "tool_response": {"type": "text"}}),
    );
    // …and is on record, as a would-deny.
    let events = repo.events();
    let pre = events
        .iter()
        .find(|e| e["type"] == "tool.pre" && e["tool_use_id"] == "t1")
        .unwrap_or_else(|| panic!("the shadow call is not recorded: {events:?}"));
    assert_eq!(pre["enforced"], false);
    let touched = text(&repo.mandate(&["touched", "customer_data/**"]));
    assert!(touched.contains("customer_data/eu.csv"), "{touched}");
    let metrics = repo.mandate(&["metrics", "--format", "json"]);
    let metrics: Value = serde_json::from_slice(&metrics.stdout).unwrap();
    assert_eq!(metrics["would_refuse"], 1, "{metrics}");
    assert_eq!(metrics["refused"], 0, "{metrics}");
    let status = text(&repo.mandate(&["status"]));
    assert!(status.contains("shadow"), "{status}");
}

#[test]
fn verify_on_a_live_run_checks_the_chain_and_says_how_much_is_sealed() {
    let repo = Repo::new();
    repo.read("t1", "billing/export/filter.py");
    // Before any checkpoint (there is no signing key yet).
    let live = repo.mandate(&["record", "verify"]);
    let out = text(&live);
    assert!(live.status.success(), "{out}");
    assert!(out.contains("no signed checkpoint yet"), "{out}");
    assert!(
        out.contains("not sealed") || out.contains("after the latest"),
        "{out}"
    );
    // Sealed at session end, then one more call.
    repo.hook("SessionEnd", json!({"reason": "other"}));
    repo.read("t2", "billing/export/filter.py");
    let out = text(&repo.mandate(&["record", "verify"]));
    assert!(out.contains("sealed by a signed checkpoint"), "{out}");
}

#[test]
fn an_io_error_names_its_cause_once() {
    let repo = Repo::new();
    let out = repo.mandate(&["start", "no-such-contract.toml"]);
    let message = text(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    assert_eq!(
        message.matches("No such file or directory").count(),
        1,
        "the OS text is repeated: {message}"
    );
}

/// How an event is made impossible to record, in the fault table below.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// `MANDATE_FAULT_INJECT=record:*,state`: every append and every state change fails
    /// as an I/O error would.
    Injected,
    /// The record store is a 1 MiB tmpfs filled to its last page (and the event carries
    /// a 5 KB prompt id, so its entry needs a page of its own).
    Full,
    /// The record store is a tmpfs remounted read-only: not even a failure mark can be
    /// written beside the record.
    ReadOnly,
}

/// A record store on its own small tmpfs, unmounted when dropped.
struct Store {
    base: tempfile::TempDir,
    mount: PathBuf,
}

impl Store {
    /// `None` where tmpfs cannot be mounted (not root): those cells are skipped, saying so.
    fn mount() -> Option<Store> {
        let base = tempfile::tempdir().unwrap();
        let mount = base.path().join("records");
        std::fs::create_dir_all(&mount).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&mount)
            .output()
            .ok()?;
        out.status.success().then_some(Store { base, mount })
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.mount)
            .output()
            .unwrap();
        assert!(out.status.success(), "remount {options}: {}", text(&out));
    }

    fn fill(&self) {
        let mut file = std::fs::File::create(self.mount.join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.mount.join("filler"));
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
        let _ = &self.base;
    }
}

/// One row of the fault table: a hook event (with what happened before it), and the
/// record entries it writes, any of which may be the one lost.
struct Row {
    name: &'static str,
    event: &'static str,
    /// The entry kinds this event records; the gap names one of them.
    records: &'static [&'static str],
    /// The run was halted by a stop condition, before (`Before`) or by this event (`Now`).
    stop: Stop,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Stop {
    No,
    Before,
    Now,
}

const ROWS: &[Row] = &[
    Row {
        name: "PreToolUse allowed",
        event: "PreToolUse",
        records: &["tool.pre"],
        stop: Stop::No,
    },
    Row {
        name: "PreToolUse denied",
        event: "PreToolUse",
        records: &["tool.pre"],
        stop: Stop::No,
    },
    Row {
        name: "PreToolUse meets a stop condition",
        event: "PreToolUse",
        records: &["tool.pre", "state.stopped", "run.stopped"],
        stop: Stop::Now,
    },
    Row {
        name: "PreToolUse of a stopped run",
        event: "PreToolUse",
        records: &["tool.pre"],
        stop: Stop::Before,
    },
    Row {
        name: "PermissionRequest",
        event: "PermissionRequest",
        records: &["tool.permission_request"],
        stop: Stop::No,
    },
    Row {
        name: "PostToolUse",
        event: "PostToolUse",
        records: &["tool.post"],
        stop: Stop::No,
    },
    Row {
        name: "PostToolUse of a test run",
        event: "PostToolUse",
        records: &["tool.post", "test.run", "state.evidence"],
        stop: Stop::No,
    },
    Row {
        name: "PostToolUse, transcript shows an unguarded call",
        event: "PostToolUse",
        records: &["tool.post", "transcript.reconciliation"],
        stop: Stop::No,
    },
    Row {
        name: "PostToolUseFailure",
        event: "PostToolUseFailure",
        records: &["tool.failure"],
        stop: Stop::No,
    },
    Row {
        name: "UserPromptSubmit",
        event: "UserPromptSubmit",
        records: &["prompt"],
        stop: Stop::No,
    },
    Row {
        name: "UserPromptSubmit of a stopped run",
        event: "UserPromptSubmit",
        records: &["prompt"],
        stop: Stop::Before,
    },
    Row {
        name: "SessionStart",
        event: "SessionStart",
        records: &["session.start"],
        stop: Stop::No,
    },
    Row {
        name: "SubagentStart",
        event: "SubagentStart",
        records: &["subagent.start"],
        stop: Stop::No,
    },
    Row {
        name: "SubagentStop",
        event: "SubagentStop",
        records: &["stop.gate", "state.stop_gate"],
        stop: Stop::No,
    },
    Row {
        name: "Stop held by the evidence gate",
        event: "Stop",
        records: &["stop.gate", "state.stop_gate"],
        stop: Stop::No,
    },
    Row {
        name: "Stop of a stopped run",
        event: "Stop",
        records: &["stop.gate", "state.incomplete"],
        stop: Stop::Before,
    },
    Row {
        name: "SessionEnd",
        event: "SessionEnd",
        records: &["session.end"],
        stop: Stop::No,
    },
];

fn row_fields(repo: &Repo, row: &Row) -> Value {
    let path = |p: &str| repo.root.join(p).to_string_lossy().to_string();
    match row.name {
        "PreToolUse allowed" | "PreToolUse of a stopped run" => {
            json!({"tool_name": "Read", "tool_use_id": "t5",
                   "tool_input": {"file_path": path("billing/export/filter.py")}})
        }
        "PreToolUse denied" => json!({"tool_name": "Read", "tool_use_id": "t5",
                                     "tool_input": {"file_path": path("customer_data/eu.csv")}}),
        "PreToolUse meets a stop condition" => {
            json!({"tool_name": "Write", "tool_use_id": "t5",
                   "tool_input": {"file_path": path("billing/migrations/0001.sql"),
                                  "content": "ALTER TABLE x;"}})
        }
        "PermissionRequest" => json!({"tool_name": "Bash",
                                      "tool_input": {"command": "pytest billing/export/tests -q"}}),
        "PostToolUse of a test run" => json!({"tool_name": "Bash", "tool_use_id": "t5",
            "tool_input": {"command": "pytest billing/export/tests -q"},
            "tool_response": {"stdout": "3 passed in 0.01s", "stderr": ""}}),
        "PostToolUse" | "PostToolUse, transcript shows an unguarded call" => {
            let mut fields = json!({"tool_name": "Read", "tool_use_id": "t5",
                   "tool_input": {"file_path": path("billing/export/filter.py")},
                   "tool_response": {"type": "text"}});
            if row.name != "PostToolUse" {
                fields["transcript_path"] = json!(unguarded_transcript(repo));
            }
            fields
        }
        "PostToolUseFailure" => json!({"tool_name": "Bash", "tool_use_id": "t5",
                                       "tool_input": {"command": "ls"}, "error": "Exit code 1"}),
        "UserPromptSubmit" | "UserPromptSubmit of a stopped run" => json!({"prompt": "go on"}),
        "SessionStart" => json!({"source": "startup"}),
        "SubagentStart" | "SubagentStop" => {
            json!({"agent_id": "a1", "agent_type": "general-purpose", "stop_hook_active": false})
        }
        "SessionEnd" => json!({"reason": "other"}),
        _ => json!({"stop_hook_active": false}),
    }
}

/// A transcript in Claude Code's format with one Read that ran and that no hook decided.
fn unguarded_transcript(repo: &Repo) -> PathBuf {
    let path = repo.dir.path().join("transcript.jsonl");
    if !path.exists() {
        let file = repo.root.join("customer_data/eu.csv");
        let lines = [
            json!({"type": "user", "sessionId": "s1", "uuid": "u0",
                   "message": {"role": "user", "content": "go"}}),
            json!({"type": "assistant", "sessionId": "s1", "uuid": "u1", "parentUuid": "u0",
                   "message": {"role": "assistant", "model": "m", "content": [
                       {"type": "tool_use", "id": "toolu_unguarded", "name": "Read",
                        "input": {"file_path": file}}]}}),
            json!({"type": "user", "sessionId": "s1", "uuid": "u2", "parentUuid": "u1",
                   "message": {"role": "user", "content": [
                       {"type": "tool_result", "tool_use_id": "toolu_unguarded",
                        "content": "a,b", "is_error": false}]}}),
        ];
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, text).unwrap();
    }
    path
}

/// What the hook answered, as one string: the agent's and the user's parts alike.
fn told(answer: &Value) -> String {
    answer.to_string()
}

/// Every event kind the Claude Code adapter handles, under each way of failing to record
/// it: the failure is told to the agent and the user in that event's answer, the run's
/// next calls are refused naming what was lost, `status` and `readiness` show it, the
/// gap is written into the record once it can be written, and a stop is never forgotten.
#[test]
fn fault_table_no_event_is_lost_silently_and_no_stop_is_forgotten() {
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    let mut cells = 0;
    for row in ROWS {
        for fault in [Fault::Injected, Fault::Full, Fault::ReadOnly] {
            let store = match fault {
                Fault::Injected => None,
                Fault::Full | Fault::ReadOnly => match Store::mount() {
                    Some(store) => Some(store),
                    None => {
                        skipped.push(format!("{} / {fault:?}", row.name));
                        continue;
                    }
                },
            };
            cells += 1;
            if let Err(problem) = fault_cell(row, fault, store.as_ref()) {
                failures.push(format!("{} / {fault:?}: {problem}", row.name));
            }
        }
    }
    if !skipped.is_empty() {
        eprintln!(
            "SKIPPED (tmpfs cannot be mounted here; needs root): {}",
            skipped.join(", ")
        );
    }
    eprintln!("fault table: {cells} cells run, {} failed", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn fault_cell(row: &Row, fault: Fault, store: Option<&Store>) -> Result<(), String> {
    let repo = Repo::with_records(store.map(|s| s.mount.clone()), "enforce", true);
    // What happened before: one recorded call, and the stop condition for the rows of a
    // stopped run.
    repo.read("t1", "billing/export/filter.py");
    if row.stop == Stop::Before {
        let stop = repo.pre(
            "t2",
            "Write",
            json!({"file_path": repo.root.join("billing/migrations/0001.sql").to_string_lossy(),
                   "content": "ALTER TABLE x;"}),
        );
        if stop["continue"] != false {
            return Err(format!("the stop condition did not halt: {stop}"));
        }
    }
    let mut fields = row_fields(&repo, row);
    let injected = match fault {
        Fault::Injected => Some("record:*,state"),
        Fault::Full => {
            fields["prompt_id"] = json!("p".repeat(5000));
            store.unwrap().fill();
            None
        }
        Fault::ReadOnly => {
            store.unwrap().remount("ro");
            None
        }
    };
    let answer = repo.hook_with(row.event, fields, injected);
    // Room again, writable again.
    match fault {
        Fault::Injected => {}
        Fault::Full => store.unwrap().free(),
        Fault::ReadOnly => store.unwrap().remount("rw"),
    }
    let said = told(&answer);
    if !(said.contains("could not record") || said.contains("could not be recorded")) {
        return Err(format!("the answer does not say what was lost: {said}"));
    }
    if row.event == "PreToolUse" && decision(&answer) != "deny" {
        return Err(format!(
            "a call that could not be recorded was not refused: {said}"
        ));
    }
    let next = repo.read("t9", "billing/export/filter.py");
    if decision(&next) != "deny" {
        return Err(format!("the next call was allowed: {next}"));
    }
    let why = reason(&next);
    let stopped = row.stop != Stop::No;
    if stopped {
        if next["continue"] != false || !why.contains("stopped") {
            return Err(format!("the stop was forgotten: {next}"));
        }
    } else if !(why.contains("could not be recorded")
        && row.records.iter().any(|k| why.contains(&format!("`{k}`"))))
    {
        return Err(format!(
            "the refusal does not name what was lost ({:?}): {why}",
            row.records
        ));
    }
    let status = text(&repo.mandate(&["status"]));
    if !status.contains("RECORD GAP") || (stopped && !status.contains("STOPPED")) {
        return Err(format!("status does not show it:\n{status}"));
    }
    let readiness = repo.mandate(&["readiness"]);
    if readiness.status.success() || !text(&readiness).contains("could not be recorded") {
        return Err(format!(
            "readiness does not fail on it:\n{}",
            text(&readiness)
        ));
    }
    // The gap is in the record itself now that it can be written.
    let events = repo.events();
    let Some(gap) = events.iter().find(|e| e["type"] == "record.gap") else {
        return Err("no record.gap entry".to_string());
    };
    if !gap["events"]
        .as_array()
        .is_some_and(|lost| lost.iter().any(|e| row.records.iter().any(|k| e == k)))
    {
        return Err(format!(
            "the record.gap names none of {:?}: {gap}",
            row.records
        ));
    }
    // A call the transcript shows ran unguarded is recorded once it can be.
    if row.name.contains("unguarded") {
        let mut fields = row_fields(&repo, row);
        fields["tool_use_id"] = json!("t9");
        repo.hook("PostToolUse", fields);
        if !repo
            .events()
            .iter()
            .any(|e| e["type"] == "tool.unguarded" && e["tool_use_id"] == "toolu_unguarded")
        {
            return Err("the unguarded call never reached the record".to_string());
        }
    }
    Ok(())
}

/// `tests` evidence is a passing run of the contract's test command after the last change:
/// a failing run takes it away and names what failed, and so does a change after a pass.
#[test]
fn tests_evidence_is_the_last_run_after_the_last_change() {
    let repo = Repo::new();
    let evidence = |repo: &Repo| {
        let status = text(&repo.mandate(&["status"]));
        status
            .lines()
            .find(|l| l.starts_with("evidence:"))
            .unwrap_or("")
            .to_string()
    };
    let pytest = |repo: &Repo, id: &str, passed: bool| {
        let command = "pytest billing/export/tests -q";
        if passed {
            repo.hook(
                "PostToolUse",
                json!({"tool_name": "Bash", "tool_use_id": id,
                "tool_input": {"command": command},
                "tool_response": {"stdout": "3 passed in 0.01s", "stderr": ""}}),
            );
        } else {
            repo.hook("PostToolUseFailure", json!({"tool_name": "Bash", "tool_use_id": id,
                "tool_input": {"command": command},
                "error": "Exit code 1\nFAILED billing/export/tests/test_x.py::test_eu - assert 1 == 2\n1 failed, 0 passed in 0.01s"}));
        }
    };
    pytest(&repo, "t1", true);
    assert!(evidence(&repo).contains("tests"), "{}", evidence(&repo));
    // A failing last run: no tests evidence, and the record names what failed.
    pytest(&repo, "t2", false);
    assert!(!evidence(&repo).contains("tests"), "{}", evidence(&repo));
    let failed = repo
        .events()
        .into_iter()
        .rfind(|e| e["type"] == "test.run")
        .unwrap();
    assert_eq!(failed["result"], "failed", "{failed}");
    assert!(failed.to_string().contains("test_eu"), "{failed}");
    // Passing again, then the code changes: the pass is for the code before the change.
    pytest(&repo, "t3", true);
    assert!(evidence(&repo).contains("tests"));
    let file = repo.root.join("billing/export/filter.py");
    std::fs::write(&file, "x = 2\n").unwrap();
    repo.hook(
        "PostToolUse",
        json!({"tool_name": "Edit", "tool_use_id": "t4",
        "tool_input": {"file_path": file.to_string_lossy(), "old_string": "1", "new_string": "2"},
        "tool_response": {"filePath": file.to_string_lossy()}}),
    );
    assert!(!evidence(&repo).contains("tests"), "{}", evidence(&repo));
    let edit = repo
        .events()
        .into_iter()
        .find(|e| e["type"] == "tool.post" && e["tool_use_id"] == "t4")
        .unwrap();
    assert_eq!(edit["evidence_stale"], json!(["tests"]), "{edit}");
    // The stop gate asks for the tests again.
    let stop = repo.hook("Stop", json!({"stop_hook_active": false}));
    assert!(
        stop["reason"].as_str().unwrap_or("").contains("tests"),
        "{stop}"
    );
    pytest(&repo, "t5", true);
    assert!(evidence(&repo).contains("tests"));
}
