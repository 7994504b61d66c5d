//! CLI conventions (#18 item 5): `--json` on `status`, `check`, `start`, `finish` and
//! `record verify`; shell completions and man pages generated from the command line's
//! definition; exit codes in `--help`; `mandate-mcp-list --help`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod report;

use std::process::Command;

use report::{Repo, mandate_bin};
use serde_json::Value;

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn status_check_start_finish_and_verify_answer_in_json() {
    let repo = Repo::new();
    let none = repo.run(&["status", "--json"]);
    assert_eq!(none.status.code(), Some(1), "no run is exit 1");
    assert!(json_of(&none)["run"].is_null());

    let check = repo.run(&["check", "--json"]);
    assert_eq!(check.status.code(), Some(0));
    let check = json_of(&check);
    assert_eq!(check["ok"], true);
    assert_eq!(check["contracts"][0]["ok"], true, "{check}");
    assert_eq!(check["contracts"][0]["examples"], 3, "{check}");

    let started = repo.json(&["start", ".mandate/contracts/BILL-142.toml", "--json"]);
    let run = started["run_id"].as_str().unwrap().to_string();
    assert_eq!(started["task"], "BILL-142");
    assert!(std::path::Path::new(started["record"].as_str().unwrap()).is_dir());

    let status = repo.json(&["status", "--json"]);
    assert_eq!(status["run"], run.as_str());
    assert_eq!(status["status"], "active");
    assert_eq!(status["evidence"], serde_json::json!([]));
    repo.rollback_note();
    let status = repo.json(&["status", "--json"]);
    assert_eq!(status["evidence"], serde_json::json!(["rollback_note"]));

    let finished = repo.json(&["finish", "--json"]);
    assert_eq!(finished["run"], run.as_str());
    assert_eq!(finished["complete"], false);
    assert_eq!(
        finished["missing_evidence"],
        serde_json::json!(["tests", "assumptions", "residual_risks"])
    );
    let verify = repo.json(&["record", "verify", "--json"]);
    assert_eq!(verify["ok"], true, "{verify}");
    assert_eq!(verify["sealed"], verify["entries"]);

    // A changed byte: exit 1, ok false, the problem named.
    let log = std::path::Path::new(started["record"].as_str().unwrap()).join("log.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("git revert", "git revery", 1)).unwrap();
    let bad = repo.run(&["record", "verify", "--json"]);
    assert_eq!(bad.status.code(), Some(1));
    let bad = json_of(&bad);
    assert_eq!(bad["ok"], false);
    assert!(
        bad["problem"].as_str().is_some_and(|p| !p.is_empty()),
        "{bad}"
    );

    // A contract that does not load: check --json says so, exit 1.
    std::fs::write(
        repo.root.join(".mandate/contracts/BROKEN.toml"),
        "version = 1\n[task]\nid = \"X\"\nnope = 1\n",
    )
    .unwrap();
    let broken = repo.run(&["check", "--json"]);
    assert_eq!(broken.status.code(), Some(1));
    let broken = json_of(&broken);
    assert_eq!(broken["ok"], false);
    let failed: Vec<&Value> = broken["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{broken}");
    assert!(
        failed[0]["error"].as_str().unwrap().contains("nope"),
        "{broken}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definition() {
    let run = |args: &[&str]| {
        let out = Command::new(mandate_bin()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        for word in ["touched", "all-repos", "record", "verify"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let page = run(&["man"]);
    assert!(page.contains(".TH mandate 1"), "{page:.200}");
    assert!(page.contains("Exit codes:"));
    let dir = tempfile::tempdir().unwrap();
    run(&["man", "--dir", dir.path().to_str().unwrap()]);
    for name in [
        "mandate.1",
        "mandate-start.1",
        "mandate-record-verify.1",
        "mandate-touched.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(
            text.contains(".SH OPTIONS") || text.contains(".SH SYNOPSIS"),
            "{name}"
        );
    }
    let help = run(&["--help"]);
    assert!(help.contains("Exit codes:") && help.contains("2  usage or internal error"));

    let mcp_list = std::path::Path::new(mandate_bin()).with_file_name("mandate-mcp-list");
    assert!(
        mcp_list.is_file(),
        "build the workspace's binaries first: cargo build --workspace --bins"
    );
    let out = Command::new(&mcp_list).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("TIMEOUT_SECONDS") && help.contains("Exit codes:"),
        "{help}"
    );
}

#[test]
fn uninstall_takes_out_what_install_wrote_and_nothing_else() {
    let repo = Repo::new();
    let settings_path = repo.root.join(".claude/settings.json");
    std::fs::create_dir_all(settings_path.parent().unwrap()).unwrap();
    let before = serde_json::json!({
        "model": "opus",
        "permissions": {"deny": ["Read(./private/**)"], "allow": ["Bash(make lint)"]},
        "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "my-linter"}]}]}
    });
    std::fs::write(&settings_path, before.to_string()).unwrap();
    let cursor_path = repo.root.join(".cursor/hooks.json");
    std::fs::create_dir_all(cursor_path.parent().unwrap()).unwrap();
    std::fs::write(
        &cursor_path,
        r#"{"version": 1, "hooks": {"stop": [{"command": "notify-me"}]}}"#,
    )
    .unwrap();

    repo.ok(&["install", "--allow-unsafe-binary"]);
    repo.ok(&["install", "--agent", "cursor", "--allow-unsafe-binary"]);
    let installed: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings_path).unwrap()).unwrap();
    assert!(installed["hooks"]["SessionStart"].is_array(), "{installed}");
    assert!(installed["permissions"]["deny"].as_array().unwrap().len() > 1);

    let out = repo.ok(&["uninstall", "--agent", "all"]);
    assert!(out.contains("claude-code: uninstalled"), "{out}");
    assert!(out.contains("cursor: uninstalled"), "{out}");
    assert!(
        out.contains("codex: nothing of mandate's was installed"),
        "{out}"
    );
    let after: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings_path).unwrap()).unwrap();
    assert_eq!(
        after, before,
        "the user's own settings are all that is left"
    );
    let cursor: Value =
        serde_json::from_str(&std::fs::read_to_string(&cursor_path).unwrap()).unwrap();
    assert_eq!(
        cursor["hooks"],
        serde_json::json!({"stop": [{"command": "notify-me"}]}),
        "{cursor}"
    );
    // Nothing left to take out the second time.
    let again = repo.ok(&["uninstall"]);
    assert!(
        again.contains("claude-code: nothing of mandate's was installed"),
        "{again}"
    );
}
