#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `mandate readiness`: every rollout question answered from the configuration and the
//! records, with its source; a removed policy section turns its questions unanswered and
//! the verdict to "experiment" (exit 1).

mod report;

use report::Repo;
use serde_json::Value;

/// A rollout done properly: hooks in the project and managed settings, a run on record,
/// sealed with a checkpoint.
fn rolled_out() -> Repo {
    let repo = Repo::new();
    repo.ok(&["install", "--allow-unsafe-binary"]);
    repo.ok(&["install", "--managed", "--allow-unsafe-binary"]);
    repo.two_runs_with(false);
    repo
}

fn readiness(repo: &Repo) -> (Option<i32>, Value) {
    let out = repo.run(&["readiness", "--format", "json"]);
    let value: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), value)
}

fn question(report: &Value, id: u64) -> &Value {
    report["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == id)
        .unwrap()
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
}

fn unanswered(report: &Value) -> Vec<u64> {
    report["questions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["answered"] == false)
        .map(|q| q["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_configured_and_recorded_rollout_is_ready() {
    let repo = rolled_out();
    let (code, report) = readiness(&repo);
    assert_eq!(report["verdict"], "ready", "{report:#}");
    assert_eq!(code, Some(0));
    let questions = report["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 15);
    for q in questions {
        let keys: Vec<&String> = q.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["answer", "answered", "id", "question", "source"],
            "exact shape"
        );
        assert!(!q["source"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        question(&report, 1)["source"],
        "mandate.toml authority.delegators"
    );
    assert!(
        question(&report, 1)["answer"]
            .as_str()
            .unwrap()
            .contains("alice@example.com")
    );
    assert!(
        question(&report, 5)["answer"]
            .as_str()
            .unwrap()
            .contains("can take action `mcp__jira__create_issue`")
    );
    assert!(
        question(&report, 10)["source"]
            .as_str()
            .unwrap()
            .contains("records: 2 runs")
    );
    assert!(
        question(&report, 14)["answer"]
            .as_str()
            .unwrap()
            .contains("over 2 runs")
    );
    for id in [
        "hooks",
        "managed_settings",
        "mcp_registered",
        "records_verify",
        "sandbox",
        "mode",
        "contracts",
        "guarded",
    ] {
        assert_eq!(
            check(&report, id)["status"],
            "pass",
            "{id}: {:#}",
            check(&report, id)
        );
    }
    let text = repo.run(&["readiness"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.starts_with("mandate readiness: READY"), "{text}");
}

#[test]
fn removing_a_policy_section_turns_its_questions_unanswered() {
    let repo = rolled_out();
    let policy = std::fs::read_to_string(repo.root.join("mandate.toml")).unwrap();
    let without = |section: &str| -> String {
        // Drop `[section]` up to the next table header.
        let mut out = String::new();
        let mut skipping = false;
        for line in policy.lines() {
            if line.starts_with('[') {
                skipping = line.starts_with(section);
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    };
    std::fs::write(repo.root.join("mandate.toml"), without("[incident]")).unwrap();
    let (code, report) = readiness(&repo);
    assert_eq!(report["verdict"], "experiment");
    assert_eq!(code, Some(1));
    assert_eq!(unanswered(&report), vec![12]);
    let gap = question(&report, 12)["answer"].as_str().unwrap();
    assert!(
        gap.starts_with("Not answered") && gap.contains("[incident] process"),
        "{gap}"
    );

    std::fs::write(repo.root.join("mandate.toml"), without("[authority]")).unwrap();
    let (code, report) = readiness(&repo);
    assert_eq!(code, Some(1));
    assert_eq!(unanswered(&report), vec![1, 2, 11, 15]);

    std::fs::write(
        repo.root.join("mandate.toml"),
        without("[mcp.servers.jira]"),
    )
    .unwrap();
    let (_, report) = readiness(&repo);
    assert_eq!(unanswered(&report), vec![5]);
    assert_eq!(check(&report, "mcp_registered")["status"], "fail");

    std::fs::write(repo.root.join("mandate.toml"), without("[block]")).unwrap();
    let (_, report) = readiness(&repo);
    assert_eq!(unanswered(&report), vec![4]);
}

#[test]
fn a_fresh_repository_is_an_experiment_with_failing_checks() {
    let repo = Repo::new();
    let (code, report) = readiness(&repo);
    assert_eq!(code, Some(1));
    assert_eq!(
        unanswered(&report),
        vec![14],
        "no runs yet: nothing measures the rollout"
    );
    assert_eq!(check(&report, "hooks")["status"], "fail");
    assert_eq!(check(&report, "managed_settings")["status"], "fail");
    assert_eq!(check(&report, "records_verify")["status"], "not checked");
    assert!(
        check(&report, "hooks")["detail"]
            .as_str()
            .unwrap()
            .contains("mandate install")
    );
}

#[test]
fn hooks_that_fail_open_are_caught() {
    let repo = rolled_out();
    for path in [
        repo.root.join(".claude/settings.json"),
        repo.managed.clone(),
    ] {
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("\"onFailure\": \"block\"", "\"onFailure\": \"ignore\""),
        )
        .unwrap();
    }
    let (code, report) = readiness(&repo);
    assert_eq!(code, Some(1));
    assert_eq!(check(&report, "hooks")["status"], "fail");
    assert!(
        check(&report, "hooks")["detail"]
            .as_str()
            .unwrap()
            .contains("fails open")
    );
}

#[test]
fn a_tampered_record_fails_verification() {
    let repo = rolled_out();
    let runs: Vec<_> = std::fs::read_dir(repo.records.join("runs"))
        .unwrap()
        .flatten()
        .collect();
    let log = runs[0].path().join("log.jsonl");
    // Verified once and kept; then edited to the same length with its modification time
    // put back: the kept verification must not stand for the edited record.
    let (_, before) = readiness(&repo);
    assert_eq!(check(&before, "records_verify")["status"], "pass");
    let modified = std::fs::metadata(&log).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let edited = text.replacen("\"deny\"", "\"alow\"", 1);
    assert_eq!(edited.len(), text.len());
    std::fs::write(&log, edited).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let (_, report) = readiness(&repo);
    assert_eq!(
        check(&report, "records_verify")["status"],
        "fail",
        "{:#}",
        check(&report, "records_verify")
    );
    assert_eq!(report["verdict"], "experiment");
}

#[test]
fn a_call_that_ran_unguarded_fails_readiness() {
    let repo = Repo::new();
    repo.ok(&["install", "--allow-unsafe-binary"]);
    repo.ok(&["install", "--managed", "--allow-unsafe-binary"]);
    repo.two_runs_with(true);
    let (code, report) = readiness(&repo);
    assert_eq!(code, Some(1), "{report:#}");
    assert_ne!(report["verdict"], "ready");
    let guarded = check(&report, "guarded");
    assert_eq!(guarded["status"], "fail", "{guarded:#}");
    assert!(
        guarded["detail"]
            .as_str()
            .unwrap()
            .contains("1 call ran unguarded"),
        "{guarded:#}"
    );
}

/// `mandate install --agent codex` into the temporary HOME (and a `$CODEX_HOME` of its
/// own), then readiness reports Codex: its hooks, their trust, its backstops and what
/// Codex leaves open. The hook file removed, the check fails naming Codex and the fix.
#[test]
fn an_installed_codex_is_checked_and_a_removed_hook_file_fails() {
    let repo = rolled_out();
    let codex_home = repo.dir.path().join("codex-home");
    let run = |args: &[&str]| {
        repo.command("alice@example.com")
            .env("CODEX_HOME", &codex_home)
            .env(
                "MANDATE_CODEX_SYSTEM_DIR",
                repo.dir.path().join("etc-codex"),
            )
            .env("PATH", "/usr/bin:/bin")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["install", "--agent", "codex", "--allow-unsafe-binary"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        codex_home.join("config.toml").is_file(),
        "trust in $CODEX_HOME"
    );
    let out = run(&["readiness", "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let codex = check(&report, "agent_codex");
    assert_eq!(codex["status"], "pass", "{codex:#}");
    let detail = codex["detail"].as_str().unwrap();
    assert!(detail.contains("all 9 events"), "{detail}");
    assert!(detail.contains(".codex/hooks.json"), "{detail}");
    assert!(detail.contains("mandate.rules"), "{detail}");
    assert!(
        detail.contains("write_stdin"),
        "what Codex leaves open: {detail}"
    );
    let absent = check(&report, "agents_not_installed");
    assert_eq!(absent["status"], "not checked");
    for agent in ["Gemini CLI", "Copilot CLI", "Cursor"] {
        assert!(
            absent["detail"].as_str().unwrap().contains(agent),
            "{absent:#}"
        );
    }
    assert!(!absent["detail"].as_str().unwrap().contains("Codex"));
    assert_eq!(report["verdict"], "ready", "{report:#}");
    assert_eq!(out.status.code(), Some(0));

    // The hooks made to run some other program are not this mandate's.
    let hooks = repo.root.join(".codex/hooks.json");
    let text = std::fs::read_to_string(&hooks).unwrap();
    std::fs::write(&hooks, text.replace(report::mandate_bin(), "/usr/bin/true")).unwrap();
    let out = run(&["readiness", "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let codex = check(&report, "agent_codex");
    assert_eq!(codex["status"], "fail", "{codex:#}");
    assert!(
        codex["detail"].as_str().unwrap().contains("/usr/bin/true"),
        "{codex:#}"
    );

    std::fs::remove_file(&hooks).unwrap();
    let out = run(&["readiness", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "experiment");
    let codex = check(&report, "agent_codex");
    assert_eq!(codex["status"], "fail", "{codex:#}");
    let detail = codex["detail"].as_str().unwrap();
    assert!(detail.starts_with("Codex CLI"), "{detail}");
    assert!(detail.contains("mandate install --agent codex"), "{detail}");
    let text = run(&["readiness"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("FAIL")
            && text.contains("Codex CLI")
            && text.contains("mandate install --agent codex"),
        "{text}"
    );
    let html = run(&["readiness", "--format", "html"]);
    let html = String::from_utf8_lossy(&html.stdout);
    assert!(
        html.contains("Codex CLI") && html.contains("mandate install --agent codex"),
        "{html}"
    );
}
