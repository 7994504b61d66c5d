#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The human-facing commands: init, check, explain, install, start, status, finish,
//! evidence, touch-map — run as a person would, in a temporary repository.

use std::path::PathBuf;
use std::process::{Command, Output};

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
        std::fs::create_dir_all(root.join("billing/export")).unwrap();
        std::fs::create_dir_all(root.join("secrets")).unwrap();
        std::fs::write(root.join(".env"), "K=1\n").unwrap();
        std::fs::write(root.join("secrets/key"), "k\n").unwrap();
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
        Repo { dir, root }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_as(args, "alice@example.com")
    }

    fn run_as(&self, args: &[&str], user: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mandate"))
            .args(args)
            .current_dir(&self.root)
            .env("MANDATE_USER", user)
            .env("MANDATE_ORG_POLICY", self.dir.path().join("org.toml"))
            .env(
                "MANDATE_MANAGED_SETTINGS",
                self.dir.path().join("managed/managed-settings.json"),
            )
            .env("HOME", self.dir.path())
            .output()
            .unwrap()
    }

    fn settings(&self) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.root.join(".claude/settings.json")).unwrap(),
        )
        .unwrap()
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
fn init_scaffolds_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_mandate"))
            .arg("init")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{}", text(&first));
    assert!(dir.path().join("mandate.toml").is_file());
    assert!(dir.path().join(".mandate/contracts/TASK-1.toml").is_file());
    let second = run();
    assert_eq!(second.status.code(), Some(2));
    assert!(text(&second).contains("already exists"));
}

#[test]
fn check_reports_unknown_keys_and_failing_examples() {
    let repo = Repo::new();
    let ok = repo.run(&["check"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("3 examples hold"));
    assert!(text(&ok).contains("warning: the contract lets the agent write"));

    std::fs::write(
        repo.root.join(".mandate/contracts/typo.toml"),
        CONTRACT.replace("[allow]\nread =", "[allow]\nreed ="),
    )
    .unwrap();
    let typo = repo.run(&["check"]);
    assert_eq!(typo.status.code(), Some(1));
    let out = text(&typo);
    assert!(out.contains("typo.toml:"), "{out}");
    assert!(
        out.contains("`allow.reed`: unknown key `reed`; did you mean `read`?"),
        "{out}"
    );
    std::fs::remove_file(repo.root.join(".mandate/contracts/typo.toml")).unwrap();

    std::fs::write(
        repo.root.join(".mandate/contracts/wrong.toml"),
        CONTRACT.replace(
            "input = { file_path = \".env\" }\nexpect = \"deny\"",
            "input = { file_path = \".env\" }\nexpect = \"allow\"",
        ),
    )
    .unwrap();
    let wrong = repo.run(&["check", ".mandate/contracts/wrong.toml"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong).contains("expected allow, got deny"),
        "{}",
        text(&wrong)
    );
    // A contract that misjudges its examples cannot be started either.
    let start = repo.run(&["start", ".mandate/contracts/wrong.toml"]);
    assert_eq!(start.status.code(), Some(2));
}

/// Issue 14, items 5 and 6: `mandate check` names the files in the write scope that change
/// what an allowed program does, and warns about an allow rule reaching for a protected
/// name with a wildcard.
#[test]
fn check_names_program_files_and_protected_names_by_glob() {
    let repo = Repo::new();
    std::fs::write(repo.root.join("billing/export/conftest.py"), "").unwrap();
    let out = text(&repo.run(&["check"]));
    assert!(
        out.contains(
            "`conftest.py`, which the agent may write under `billing/export/**` (there now: \
             `billing/export/conftest.py`): `pytest` runs it as code"
        ),
        "{out}"
    );
    assert!(
        out.contains("`pytest.ini`, which the agent may write"),
        "{out}"
    );
    assert!(out.contains("what the OS layer holds for them"), "{out}");
    assert!(
        out.contains("It does not keep the program from running"),
        "{out}"
    );
    std::fs::write(
        repo.root.join(".mandate/contracts/BILL-142.toml"),
        CONTRACT.replace(
            "write = [\"billing/export/**\"]",
            "write = [\"billing/export/**\", \"billing/**/CLAUDE.md\"]",
        ),
    )
    .unwrap();
    let out = text(&repo.run(&["check"]));
    assert!(
        out.contains("`allow.write` entry `billing/**/CLAUDE.md` reaches for `CLAUDE.md`"),
        "{out}"
    );
    assert!(out.contains("`billing/CLAUDE.md`"), "{out}");
}

#[test]
fn explain_json_gives_decision_rules_and_reason() {
    let repo = Repo::new();
    let out = repo.run(&[
        "explain",
        "--json",
        "--contract",
        ".mandate/contracts/BILL-142.toml",
        "Read",
        r#"{"file_path": "customer_data/eu.csv"}"#,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["decision"], "deny");
    assert_eq!(verdict["rules"], json!(["contract.block.read[0]"]));
    assert!(
        verdict["reason"]
            .as_str()
            .unwrap()
            .contains("customer_data/eu.csv")
    );
    // Nothing was recorded: there is no run.
    assert!(!repo.dir.path().join("records/runs").exists());
    let bad = repo.run(&["explain", "Read", "not json"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("INPUT must be a JSON object"));
}

#[test]
fn start_checks_who_delegates() {
    let repo = Repo::new();
    let mallory = repo.run_as(
        &["start", ".mandate/contracts/BILL-142.toml"],
        "mallory@example.com",
    );
    assert_eq!(mallory.status.code(), Some(2));
    assert!(
        text(&mallory).contains("may not delegate"),
        "{}",
        text(&mallory)
    );
    let bob = repo.run_as(
        &["start", ".mandate/contracts/BILL-142.toml"],
        "bob@example.com",
    );
    assert_eq!(bob.status.code(), Some(2));
    assert!(
        text(&bob).contains("delegated by `alice@example.com`"),
        "{}",
        text(&bob)
    );
    let alice = repo.run(&["start", ".mandate/contracts/BILL-142.toml"]);
    assert!(alice.status.success(), "{}", text(&alice));
    let status = repo.run(&["status"]);
    assert!(text(&status).contains("status:   active"));
}

#[test]
fn an_organisation_policy_only_narrows() {
    let repo = Repo::new();
    std::fs::write(
        repo.dir.path().join("org.toml"),
        "version = 1\ndefault = \"deny\"\n[authority]\ndelegators = [\"bob@example.com\"]\n[block]\nread = [\"docs/**\"]\n",
    )
    .unwrap();
    // alice is a repository delegator, but not an organisation one.
    let alice = repo.run(&["start", ".mandate/contracts/BILL-142.toml"]);
    assert_eq!(alice.status.code(), Some(2));
    let out = repo.run(&[
        "explain",
        "--json",
        "--contract",
        ".mandate/contracts/BILL-142.toml",
        "Read",
        r#"{"file_path": "docs/billing/export.md"}"#,
    ]);
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        verdict["decision"], "deny",
        "the contract allows docs/billing, the org blocks it"
    );
    assert_eq!(verdict["rules"], json!(["org.block.read[0]"]));
}

#[test]
fn install_is_idempotent_and_keeps_other_settings() {
    let repo = Repo::new();
    std::fs::create_dir_all(repo.root.join(".claude")).unwrap();
    std::fs::write(
        repo.root.join(".claude/settings.json"),
        r#"{"model": "opus", "permissions": {"deny": ["Bash(rm -rf *)"], "allow": ["Bash(ls)"]},
            "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "my-own-linter"}]}]}}"#,
    )
    .unwrap();
    let first = repo.run(&["install"]);
    assert!(first.status.success(), "{}", text(&first));
    let once = repo.settings();
    let second = repo.run(&["install"]);
    assert!(second.status.success());
    let twice = repo.settings();
    assert_eq!(once, twice, "a second install changes nothing");
    assert_eq!(twice["model"], "opus");
    let deny = twice["permissions"]["deny"].as_array().unwrap();
    assert!(deny.contains(&json!("Bash(rm -rf *)")));
    assert!(deny.contains(&json!("Read(/**/.env*)")));
    assert!(deny.contains(&json!("Edit(/mandate.toml)")));
    assert_eq!(twice["permissions"]["allow"], json!(["Bash(ls)"]));
    let pre = twice["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(pre.len(), 2, "the user's hook and mandate's: {pre:?}");
    let ours = &pre[1]["hooks"][0];
    assert_eq!(ours["onFailure"], "block");
    assert_eq!(
        ours["args"],
        json!(["hook", "claude-code", "--root", repo.root])
    );
    for event in [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PermissionRequest",
        "PostToolUse",
        "PostToolUseFailure",
        "SubagentStart",
        "SubagentStop",
        "Stop",
        "SessionEnd",
    ] {
        assert!(twice["hooks"][event].is_array(), "{event}");
    }
    assert_eq!(twice["sandbox"]["failIfUnavailable"], true);
    assert_eq!(twice["sandbox"]["allowUnsandboxedCommands"], false);
}

#[test]
fn install_refuses_a_binary_the_agent_could_replace() {
    let repo = Repo::new();
    let inside = repo.root.join("bin/mandate");
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_mandate"), &inside).unwrap();
    let out = repo.run(&["install", "--binary", inside.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("inside the repository"),
        "{}",
        text(&out)
    );
    let forced = repo.run(&[
        "install",
        "--binary",
        inside.to_str().unwrap(),
        "--allow-unsafe-binary",
    ]);
    assert!(forced.status.success());
}

#[test]
fn install_managed_writes_the_managed_settings() {
    let repo = Repo::new();
    let out = repo.run(&["install", "--managed"]);
    assert!(out.status.success(), "{}", text(&out));
    let managed: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.dir.path().join("managed/managed-settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        managed["hooks"]["PreToolUse"][0]["hooks"][0]["onFailure"],
        "block"
    );
    assert!(!repo.root.join(".claude/settings.json").exists());
}

#[test]
fn a_new_contract_moves_the_sandbox_with_it() {
    let repo = Repo::new();
    std::fs::create_dir_all(repo.root.join("reports/internal")).unwrap();
    assert!(repo.run(&["install"]).status.success());
    assert!(
        repo.run(&["start", ".mandate/contracts/BILL-142.toml"])
            .status
            .success()
    );
    let first = repo.settings();
    let deny_read = first["sandbox"]["filesystem"]["denyRead"]
        .as_array()
        .unwrap()
        .clone();
    let customer = json!(repo.root.join("customer_data").display().to_string());
    assert!(deny_read.contains(&customer), "{deny_read:?}");
    assert!(deny_read.contains(&json!(repo.root.join(".env").display().to_string())));
    assert_eq!(first["sandbox"]["network"]["allowedDomains"], json!([]));
    // The parsed-policy cache the hook trusts is as unwritable as the records.
    let deny_write = first["sandbox"]["filesystem"]["denyWrite"]
        .as_array()
        .unwrap();
    let cache = repo.dir.path().join(".cache/mandate/parsed");
    assert!(
        deny_write.contains(&json!(cache.display().to_string())),
        "{deny_write:?}"
    );

    let other = CONTRACT
        .replace("id = \"BILL-142\"", "id = \"DOCS-7\"")
        .replace(
            "read = [\"customer_data/**\", \"logs/prod/**\"]",
            "read = [\"reports/internal/**\"]",
        )
        .replace("expose = []", "expose = [\"docs.python.org\"]");
    std::fs::write(repo.root.join(".mandate/contracts/DOCS-7.toml"), other).unwrap();
    let start = repo.run(&["start", ".mandate/contracts/DOCS-7.toml"]);
    assert!(start.status.success(), "{}", text(&start));
    assert!(text(&start).contains("now follows this contract"));
    let second = repo.settings();
    let deny_read = second["sandbox"]["filesystem"]["denyRead"]
        .as_array()
        .unwrap();
    assert!(
        !deny_read.contains(&customer),
        "the old contract's block is gone: {deny_read:?}"
    );
    assert!(deny_read.contains(&json!(
        repo.root.join("reports/internal").display().to_string()
    )));
    assert!(
        deny_read.contains(&json!(repo.root.join(".env").display().to_string())),
        "the policy floor stays"
    );
    assert_eq!(
        second["sandbox"]["network"]["allowedDomains"],
        json!(["docs.python.org"])
    );
}

#[test]
fn evidence_finish_and_touch_map() {
    let repo = Repo::new();
    assert!(
        repo.run(&["start", ".mandate/contracts/BILL-142.toml"])
            .status
            .success()
    );
    let risk = repo.run(&[
        "evidence",
        "risk",
        "EU rows with null region are still dropped",
    ]);
    assert!(risk.status.success(), "{}", text(&risk));
    let rollback = repo.run(&[
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
    ]);
    assert!(rollback.status.success());
    let status = text(&repo.run(&["status"]));
    assert!(status.contains("residual_risks"), "{status}");
    assert!(status.contains("rollback_note"), "{status}");
    let map = repo.run(&["touch-map", "--json"]);
    let map: Value = serde_json::from_slice(&map.stdout).unwrap();
    assert_eq!(
        map["read"]["declared"],
        json!(["billing/export/**", "docs/billing/**"])
    );
    let finish = repo.run(&["finish"]);
    assert!(finish.status.success());
    assert!(
        text(&finish).contains("incomplete: missing evidence tests, assumptions"),
        "{}",
        text(&finish)
    );
    let again = repo.run(&["evidence", "risk", "late"]);
    assert_eq!(again.status.code(), Some(2), "no run to add evidence to");
}

#[test]
fn the_demo_runs_on_embedded_defaults() {
    let out = Command::new(env!("CARGO_BIN_EXE_mandate"))
        .arg("demo")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = text(&out);
    assert!(out.contains("SESSION HALTED"), "{out}");
    assert!(out.contains("STOPPED"), "{out}");
    assert_eq!(out.matches("    ALLOW").count(), 6, "{out}");
}

/// `mandate` has its own entry point instead of Rust's start-up; a reader that goes away
/// must still mean a write error to handle (exit 141 for a command's output, the hook
/// unaffected), never death by `SIGPIPE`, which for the hook would also hide a socket
/// closed by a team server.
#[test]
fn a_closed_pipe_is_an_error_not_a_signal() {
    use std::os::unix::process::ExitStatusExt;
    let repo = Repo::new();
    for args in [&["status"][..], &["hook", "claude-code"][..]] {
        // A pipe whose reading end is closed before the process starts: every write to
        // it fails, whatever the timing.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut child = Command::new(env!("CARGO_BIN_EXE_mandate"))
            .args(args)
            .current_dir(&repo.root)
            .env("MANDATE_ORG_POLICY", repo.dir.path().join("org.toml"))
            .env("HOME", repo.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(writer)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if let Some(mut stdin) = child.stdin.take() {
            let _ = std::io::Write::write_all(
                &mut stdin,
                br#"{"hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{}}"#,
            );
        }
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            None,
            "{args:?}: killed by a signal: {status:?}"
        );
        if args[0] == "status" {
            assert_eq!(status.code(), Some(141), "{args:?}");
        }
    }
}

#[test]
fn explain_exit_code_says_whether_the_call_would_be_refused() {
    let repo = Repo::new();
    let contract = ["--contract", ".mandate/contracts/BILL-142.toml"];
    let refused = repo.run(
        &[
            &["explain", "--exit-code"][..],
            &contract,
            &["Read", r#"{"file_path": ".env"}"#],
        ]
        .concat(),
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let allowed = repo.run(
        &[
            &["explain", "--exit-code"][..],
            &contract,
            &["Read", r#"{"file_path": "billing/export/filter.py"}"#],
        ]
        .concat(),
    );
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed));
    // Without the flag, a refusal is still a successful explanation.
    let plain = repo.run(
        &[
            &["explain"][..],
            &contract,
            &["Read", r#"{"file_path": ".env"}"#],
        ]
        .concat(),
    );
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain));
}

#[test]
fn hook_help_is_help_for_a_person_not_a_blocked_event() {
    let repo = Repo::new();
    for args in [&["hook", "--help"][..], &["hook", "claude-code", "--help"]] {
        let out = repo.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let out = text(&out);
        assert!(out.contains("Usage: mandate hook"), "{out}");
        assert!(!out.contains("\"decision\""), "{out}");
    }
}
