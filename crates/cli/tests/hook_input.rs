#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The hook entry point under malformed and hostile input: a deny or a clean no-op as
//! fits, never a crash, and never text Claude Code would take as "no decision".

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const POLICY: &str = include_str!("../../../examples/billing/mandate.toml");
const CONTRACT: &str = include_str!("../../../examples/billing/.mandate/contracts/BILL-142.toml");

struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn mandate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mandate"))
}

fn repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let records = dir.path().join("records");
    std::fs::create_dir_all(root.join(".mandate/contracts")).unwrap();
    std::fs::create_dir_all(root.join("billing/export")).unwrap();
    std::fs::write(
        root.join("mandate.toml"),
        POLICY.replace(
            "dir = \"~/.local/share/mandate\"",
            &format!("dir = \"{}\"", records.display()),
        ),
    )
    .unwrap();
    std::fs::write(root.join(".mandate/contracts/BILL-142.toml"), CONTRACT).unwrap();
    std::fs::write(root.join("billing/export/filter.py"), "x = 1\n").unwrap();
    std::fs::write(root.join(".env"), "SECRET=1\n").unwrap();
    let root = std::fs::canonicalize(root).unwrap();
    let out = mandate()
        .args(["start", ".mandate/contracts/BILL-142.toml"])
        .current_dir(&root)
        .env("MANDATE_USER", "alice@example.com")
        .env("MANDATE_ORG_POLICY", dir.path().join("no-org-policy.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Repo { _dir: dir, root }
}

fn hook(root: &Path, stdin: &[u8]) -> Output {
    hook_with_env(root, stdin, &[])
}

fn hook_with_env(root: &Path, stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut child = mandate()
        .envs(env.iter().copied())
        .args(["hook", "claude-code", "--root"])
        .arg(root)
        .current_dir(root)
        .env("MANDATE_ORG_POLICY", root.join("no-org-policy.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin_pipe = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin_pipe.write_all(&bytes);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn pre_tool_use(root: &Path, tool: &str, input: Value) -> Value {
    json!({
        "session_id": "s1", "transcript_path": "/dev/null", "cwd": root,
        "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": input,
        "tool_use_id": "toolu_1"
    })
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn decision(output: &Output) -> String {
    stdout_json(output)["hookSpecificOutput"]["permissionDecision"]
        .as_str()
        .unwrap_or("none")
        .to_string()
}

#[test]
fn truncated_json_is_blocked_with_exit_2() {
    let repo = repo();
    let full = pre_tool_use(&repo.root, "Read", json!({"file_path": "/etc/passwd"})).to_string();
    let output = hook(&repo.root, &full.as_bytes()[..full.len() / 2]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not valid JSON"));
    assert_eq!(stdout_json(&output)["decision"], "block");
}

#[test]
fn invalid_utf8_is_blocked_with_exit_2() {
    let repo = repo();
    let mut bytes =
        br#"{"hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{"file_path":""#
            .to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0x80]);
    bytes.extend_from_slice(br#""}}"#);
    let output = hook(&repo.root, &bytes);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn empty_input_is_blocked() {
    let repo = repo();
    let output = hook(&repo.root, b"");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn missing_fields_are_denied() {
    let repo = repo();
    let mut event = pre_tool_use(&repo.root, "Read", json!({}));
    event.as_object_mut().unwrap().remove("tool_name");
    let output = hook(&repo.root, event.to_string().as_bytes());
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(decision(&output), "deny");
    let mut event = pre_tool_use(&repo.root, "Read", json!({}));
    event.as_object_mut().unwrap().remove("tool_input");
    let output = hook(&repo.root, event.to_string().as_bytes());
    assert_eq!(decision(&output), "deny");
    // A Read without a path is opaque: denied.
    let output = hook(
        &repo.root,
        pre_tool_use(&repo.root, "Read", json!({}))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(decision(&output), "deny");
    let output = hook(&repo.root, br#"{"tool_name": "Read"}"#);
    assert_eq!(output.status.code(), Some(2), "no event name");
}

#[test]
fn unknown_events_are_a_clean_no_op() {
    let repo = repo();
    let output = hook(
        &repo.root,
        json!({"hook_event_name": "SomeFutureEvent", "session_id": "s1"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout_json(&output), json!({}));
}

#[test]
fn a_ten_megabyte_payload_is_judged_not_dropped() {
    let repo = repo();
    let big = "x".repeat(10 * 1024 * 1024);
    let output = hook(
        &repo.root,
        pre_tool_use(
            &repo.root,
            "Write",
            json!({"file_path": repo.root.join("deploy/big.txt"), "content": big}),
        )
        .to_string()
        .as_bytes(),
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(decision(&output), "deny");
}

#[test]
fn a_payload_over_the_limit_is_refused() {
    let repo = repo();
    let big = vec![b' '; mandate_claude_code::hook::MAX_INPUT_BYTES + 10];
    let output = hook(&repo.root, &big);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("larger than"));
}

#[test]
fn a_missing_policy_denies() {
    let dir = tempfile::tempdir().unwrap();
    let output = hook(
        dir.path(),
        pre_tool_use(dir.path(), "Read", json!({"file_path": "/etc/hostname"}))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(decision(&output), "deny");
    let reason = stdout_json(&output)["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("mandate.toml"), "{reason}");
}

#[test]
fn a_broken_policy_denies_with_file_and_line() {
    let repo = repo();
    std::fs::write(
        repo.root.join("mandate.toml"),
        "version = 1\nmoed = \"shadow\"\n",
    )
    .unwrap();
    let output = hook(
        &repo.root,
        pre_tool_use(
            &repo.root,
            "Read",
            json!({"file_path": repo.root.join("billing/export/filter.py")}),
        )
        .to_string()
        .as_bytes(),
    );
    assert_eq!(decision(&output), "deny");
    let reason = stdout_json(&output)["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("mandate.toml:2"), "{reason}");
    assert!(reason.contains("did you mean `mode`"), "{reason}");
}

#[test]
fn an_unwritable_record_turns_allow_into_deny() {
    let repo = repo();
    let input = json!({"file_path": repo.root.join("billing/export/filter.py")});
    let allowed = hook(
        &repo.root,
        pre_tool_use(&repo.root, "Read", input.clone())
            .to_string()
            .as_bytes(),
    );
    assert_eq!(decision(&allowed), "allow");
    // Break the record: replace the run directory with a file.
    let records = repo.root.parent().unwrap().join("records/runs");
    let run = std::fs::read_dir(&records)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_dir_all(&run).unwrap();
    std::fs::write(&run, "not a directory").unwrap();
    let output = hook(
        &repo.root,
        pre_tool_use(&repo.root, "Read", input)
            .to_string()
            .as_bytes(),
    );
    assert_eq!(decision(&output), "deny");
    let reason = stdout_json(&output)["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("could not record"), "{reason}");
}

#[test]
fn the_stop_condition_halts_and_later_calls_are_refused() {
    let repo = repo();
    let output = hook(
        &repo.root,
        pre_tool_use(
            &repo.root,
            "Write",
            json!({"file_path": repo.root.join("billing/migrations/0001.sql"), "content": "x"}),
        )
        .to_string()
        .as_bytes(),
    );
    let answer = stdout_json(&output);
    assert_eq!(answer["continue"], false);
    assert!(
        answer["stopReason"]
            .as_str()
            .unwrap()
            .contains("schema change")
    );
    assert_eq!(decision(&output), "deny");
    let later = hook(
        &repo.root,
        pre_tool_use(
            &repo.root,
            "Read",
            json!({"file_path": repo.root.join("billing/export/filter.py")}),
        )
        .to_string()
        .as_bytes(),
    );
    assert_eq!(decision(&later), "deny");
    assert_eq!(stdout_json(&later)["continue"], false);
    // A new contract lifts the stop.
    let out = mandate()
        .args(["start", ".mandate/contracts/BILL-142.toml"])
        .current_dir(&repo.root)
        .env("MANDATE_USER", "alice@example.com")
        .output()
        .unwrap();
    assert!(out.status.success());
    let after = hook(
        &repo.root,
        pre_tool_use(
            &repo.root,
            "Read",
            json!({"file_path": repo.root.join("billing/export/filter.py")}),
        )
        .to_string()
        .as_bytes(),
    );
    assert_eq!(decision(&after), "allow");
}

#[test]
fn shadow_mode_records_but_lets_calls_run() {
    let repo = repo();
    let policy = std::fs::read_to_string(repo.root.join("mandate.toml")).unwrap();
    std::fs::write(
        repo.root.join("mandate.toml"),
        policy.replace("mode = \"enforce\"", "mode = \"shadow\""),
    )
    .unwrap();
    let output = hook(
        &repo.root,
        pre_tool_use(
            &repo.root,
            "Read",
            json!({"file_path": repo.root.join(".env")}),
        )
        .to_string()
        .as_bytes(),
    );
    assert_eq!(stdout_json(&output), json!({}));
    let records = repo.root.parent().unwrap().join("records/runs");
    let run = std::fs::read_dir(&records)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let log = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["decision"], "deny");
    assert_eq!(last["enforced"], false);
    assert_eq!(last["mode"], "shadow");
}

#[test]
fn a_panic_inside_the_hook_is_a_deny() {
    let repo = repo();
    let output = hook_with_env(
        &repo.root,
        pre_tool_use(
            &repo.root,
            "Read",
            json!({"file_path": repo.root.join("billing/export/filter.py")}),
        )
        .to_string()
        .as_bytes(),
        &[("MANDATE_FAULT_INJECT", "panic")],
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(decision(&output), "deny");
    let reason = stdout_json(&output)["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("internal error"), "{reason}");
}

/// Started with its standard output (or all three standard descriptors) closed, the hook
/// still records the call in the run log and nowhere else: the log is not opened on a
/// free descriptor 1 and written to as if it were stdout.
#[test]
fn closed_standard_descriptors_never_redirect_the_answer_into_the_record() {
    let repo = repo();
    let runs = repo.root.parent().unwrap().join("records/runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let log = run.join("log.jsonl");
    let input = pre_tool_use(
        &repo.root,
        "Read",
        json!({"file_path": repo.root.join("billing/export/filter.py")}),
    )
    .to_string();
    let input_file = repo.root.parent().unwrap().join("event.json");
    std::fs::write(&input_file, &input).unwrap();
    for closing in [">&-", ">&- 2>&-", "<&- >&- 2>&-"] {
        let before = std::fs::read_to_string(&log).unwrap().lines().count();
        // With stdin closed too, the event is read from nowhere: refused, nothing recorded.
        let stdin = if closing.starts_with("<&-") {
            String::new()
        } else {
            format!("< '{}'", input_file.display())
        };
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec '{}' hook claude-code --root '{}' {stdin} {closing}",
                env!("CARGO_BIN_EXE_mandate"),
                repo.root.display()
            ))
            .env("MANDATE_ORG_POLICY", repo.root.join("no-org-policy.toml"))
            .status()
            .unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        let after = text.lines().count();
        if closing.starts_with("<&-") {
            assert_eq!(status.code(), Some(2), "{closing}");
            assert_eq!(after, before, "{closing}");
        } else {
            assert_eq!(after, before + 1, "{closing}: one event recorded");
        }
        // Every line is still a record entry, numbered in order: no hook answer was
        // written into the log.
        for (n, line) in text.lines().enumerate() {
            let entry: Value = serde_json::from_str(line).unwrap();
            assert!(
                entry.get("hookSpecificOutput").is_none(),
                "{closing}: {line}"
            );
            assert_eq!(entry["i"], json!(n), "{closing}: {line}");
        }
    }
}

/// The parsed-policy cache stands in for the policy and contract files on every call, so
/// the agent may not write it, by any tool.
#[test]
fn the_parsed_policy_cache_is_protected() {
    let repo = repo();
    let home = std::env::var("HOME").unwrap();
    let entry = Path::new(&home).join(".cache/mandate/parsed/contract-0.json");
    for (tool, input) in [
        ("Write", json!({"file_path": entry, "content": "{}"})),
        (
            "Bash",
            json!({"command": format!("echo '{{}}' > {}", entry.display())}),
        ),
    ] {
        let output = hook(
            &repo.root,
            pre_tool_use(&repo.root, tool, input).to_string().as_bytes(),
        );
        assert_eq!(decision(&output), "deny", "{tool}");
        let reason = stdout_json(&output)["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(reason.contains("protected"), "{tool}: {reason}");
    }
}
