#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `mandate hook codex|gemini|copilot|cursor` fails closed where the agents fail open: a
//! crash, a timeout or output that is not JSON lets Codex's and Gemini's calls run (and
//! Copilot's on a timeout), so whatever goes wrong inside, the hook prints an explicit
//! refusal in the agent's own format, in time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const POLICY: &str = include_str!("../../../examples/billing/mandate.toml");
const CONTRACT: &str = include_str!("../../../examples/billing/.mandate/contracts/BILL-142.toml");

struct Repo {
    dir: tempfile::TempDir,
    root: PathBuf,
}

fn repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let records = dir.path().join("records");
    std::fs::create_dir_all(root.join(".mandate/contracts")).unwrap();
    std::fs::create_dir_all(root.join("billing/export")).unwrap();
    let policy: String = POLICY
        .lines()
        .map(|line| {
            if line.starts_with("dir = ") {
                format!("dir = \"{}\"", records.display())
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(root.join("mandate.toml"), policy).unwrap();
    std::fs::write(root.join(".mandate/contracts/BILL-142.toml"), CONTRACT).unwrap();
    std::fs::write(root.join("billing/export/filter.py"), "x = 1\n").unwrap();
    std::fs::write(root.join(".env"), "SECRET=1\n").unwrap();
    let root = std::fs::canonicalize(root).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mandate"))
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
    Repo { dir, root }
}

fn hook(repo: &Repo, agent: &str, extra: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mandate"))
        .args(["hook", agent, "--root"])
        .arg(&repo.root)
        .args(extra)
        .current_dir(&repo.root)
        .env(
            "MANDATE_ORG_POLICY",
            repo.dir.path().join("no-org-policy.toml"),
        )
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn codex_pre(root: &Path, command: &str) -> Vec<u8> {
    json!({
        "session_id": "s1", "turn_id": "t1", "cwd": root, "hook_event_name": "PreToolUse",
        "model": "gpt-5.5", "permission_mode": "bypassPermissions",
        "tool_name": "Bash", "tool_input": { "command": command }, "tool_use_id": "call_1",
    })
    .to_string()
    .into_bytes()
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON (the agent would let the call run): {:?} / {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn codex_denied(output: &Output) -> bool {
    stdout_json(output)["hookSpecificOutput"]["permissionDecision"] == "deny"
}

#[test]
fn codex_allows_in_scope_and_refuses_out_of_scope() {
    let repo = repo();
    let allowed = hook(
        &repo,
        "codex",
        &[],
        &codex_pre(&repo.root, "cat billing/export/filter.py"),
        &[],
    );
    assert_eq!(allowed.status.code(), Some(0));
    // "allow" without updatedInput is a failed hook on Codex: an allow says nothing.
    assert_eq!(stdout_json(&allowed), json!({}));
    let refused = hook(&repo, "codex", &[], &codex_pre(&repo.root, "cat .env"), &[]);
    assert!(
        codex_denied(&refused),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
}

#[test]
fn garbage_and_unknown_shapes_are_refused_in_the_agents_format() {
    let repo = repo();
    let garbage = hook(
        &repo,
        "codex",
        &[],
        b"{\"hook_event_name\": \"PreToolUse\", ",
        &[],
    );
    assert!(codex_denied(&garbage));
    let no_tool = hook(
        &repo,
        "codex",
        &[],
        br#"{"hook_event_name":"PreToolUse","cwd":"/"}"#,
        &[],
    );
    assert!(codex_denied(&no_tool));
    let gemini = hook(&repo, "gemini", &[], b"not json", &[]);
    assert_eq!(stdout_json(&gemini)["decision"], "deny");
    // Copilot's camelCase payloads do not name their event; without `--event` it is refused.
    let copilot = hook(
        &repo,
        "copilot",
        &[],
        br#"{"sessionId":"s","cwd":"/","toolName":"bash","toolArgs":{"command":"ls"}}"#,
        &[],
    );
    assert_eq!(stdout_json(&copilot)["permissionDecision"], "deny");
}

#[test]
fn a_panic_inside_is_a_refusal() {
    let repo = repo();
    let output = hook(
        &repo,
        "codex",
        &[],
        &codex_pre(&repo.root, "cat billing/export/filter.py"),
        &[("MANDATE_FAULT_INJECT", "panic")],
    );
    assert!(
        codex_denied(&output),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let gemini = json!({
        "session_id": "s1", "cwd": repo.root, "hook_event_name": "BeforeTool",
        "tool_name": "read_file", "tool_input": { "file_path": "billing/export/filter.py" },
    });
    let output = hook(
        &repo,
        "gemini",
        &[],
        gemini.to_string().as_bytes(),
        &[("MANDATE_FAULT_INJECT", "panic")],
    );
    assert_eq!(stdout_json(&output)["decision"], "deny");
}

#[test]
fn an_agent_that_never_closes_stdin_gets_a_refusal_before_its_own_timeout() {
    let repo = repo();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mandate"))
        .args(["hook", "codex", "--root"])
        .arg(&repo.root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Half an event, and stdin kept open (the handle lives until the end of the test).
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"hook_event_name\": \"PreToolUse\",")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    drop(stdin);
    let elapsed = started.elapsed();
    assert!(
        codex_denied(&output),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    // Codex's timeout as installed is 30 s; the hook's own deadline is 8 s.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[test]
fn copilot_user_hooks_leave_other_repositories_alone() {
    let repo = repo();
    let elsewhere = json!({
        "sessionId": "s", "timestamp": 1, "cwd": "/somewhere/else",
        "toolName": "bash", "toolArgs": { "command": "cat .env" },
    });
    let output = hook(
        &repo,
        "copilot",
        &["--event", "preToolUse"],
        elsewhere.to_string().as_bytes(),
        &[],
    );
    assert_eq!(stdout_json(&output), json!({}));
    let here = json!({
        "sessionId": "s", "timestamp": 1, "cwd": repo.root,
        "toolName": "bash", "toolArgs": { "command": "cat .env" },
    });
    let output = hook(
        &repo,
        "copilot",
        &["--event", "preToolUse"],
        here.to_string().as_bytes(),
        &[],
    );
    assert_eq!(stdout_json(&output)["permissionDecision"], "deny");
}
