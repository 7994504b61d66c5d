#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 14, items 5 and 6: names protected at any depth, lifted only by an allow rule
//! that names the exact path; writes that create a path a read block covers.

use std::path::{Path, PathBuf};

use mandate_policy::{
    Call, Context, Decision, NoFs, engine_from_text, parse_contract, protected_names_by_glob,
};
use serde_json::json;

const POLICY: &str = r#"
version = 1
default = "deny"
[authority]
delegators = ["alice@example.com"]
[block]
read = ["**/.env*", "**/secrets/**"]
"#;

fn contract(write: &str) -> String {
    format!(
        r#"
version = 1
[task]
id = "T-1"
request = "fix"
delegated_by = "alice@example.com"
agent = "claude-code"
[allow]
read = ["billing/export/**"]
write = [{write}]
"#
    )
}

fn judge(write: &str, tool: &str, input: serde_json::Value) -> (Decision, String) {
    let engine = engine_from_text(POLICY, Some(&contract(write)), Path::new("/repo")).unwrap();
    let cwd = PathBuf::from("/repo");
    let verdict = engine.judge(
        &Call {
            tool,
            input: &input,
            cwd: &cwd,
        },
        &Context {
            rollback_note: true,
            ..Context::default()
        },
        &NoFs,
    );
    (verdict.decision, verdict.reason)
}

#[test]
fn protected_names_are_refused_at_any_depth_through_a_glob() {
    for path in [
        "billing/export/.claude/settings.json",
        "billing/export/CLAUDE.md",
        "billing/export/deep/AGENTS.md",
        "billing/export/.mcp.json",
        "billing/export/.git/hooks/pre-commit",
        "billing/export/.git",
        "billing/export/.vscode/tasks.json",
        "billing/export/.envrc",
        "billing/export/.github/hooks/x.json",
        "billing/export/.husky/pre-push",
    ] {
        let (decision, reason) = judge(
            r#""billing/export/**""#,
            "Write",
            json!({"file_path": format!("/repo/{path}"), "content": "x"}),
        );
        assert_eq!(decision, Decision::Deny, "{path}: {reason}");
        // `.envrc` is also covered by the read block `**/.env*`, which may be named first.
        assert!(
            reason.contains("protected at any depth") || reason.contains("read block covers"),
            "{path}: {reason}"
        );
    }
    let (decision, reason) = judge(
        r#""billing/export/**""#,
        "Bash",
        json!({"command": "echo x > billing/export/sub/CLAUDE.md"}),
    );
    assert_eq!(decision, Decision::Deny, "{reason}");
}

#[test]
fn an_allow_rule_naming_the_exact_path_lifts_the_protection() {
    let write = r#""billing/export/**", "billing/export/CLAUDE.md""#;
    let (decision, reason) = judge(
        write,
        "Write",
        json!({"file_path": "/repo/billing/export/CLAUDE.md", "content": "x"}),
    );
    assert_eq!(decision, Decision::Allow, "{reason}");
    // Only that path: another protected name next to it stays refused.
    let (decision, _) = judge(
        write,
        "Write",
        json!({"file_path": "/repo/billing/export/AGENTS.md", "content": "x"}),
    );
    assert_eq!(decision, Decision::Deny);
    // A wildcard naming the protected file does not count.
    let (decision, _) = judge(
        r#""billing/export/**", "billing/**/CLAUDE.md""#,
        "Write",
        json!({"file_path": "/repo/billing/export/CLAUDE.md", "content": "x"}),
    );
    assert_eq!(decision, Decision::Deny);
}

#[test]
fn ordinary_files_next_to_protected_ones_stay_writable() {
    for path in [
        "billing/export/filter.py",
        "billing/export/claude_notes.md",
        "billing/export/fixtures/settings.json",
        "billing/export/git_helpers.py",
    ] {
        let (decision, reason) = judge(
            r#""billing/export/**""#,
            "Write",
            json!({"file_path": format!("/repo/{path}"), "content": "x"}),
        );
        assert_eq!(decision, Decision::Allow, "{path}: {reason}");
    }
}

#[test]
fn check_names_a_contract_reaching_for_a_protected_name_by_glob() {
    let text = contract(r#""billing/export/**", "billing/**/CLAUDE.md", ".claude/*", "x/.env""#);
    let parsed = parse_contract(Path::new("/repo/c.toml"), &text).unwrap();
    let found = protected_names_by_glob(&parsed);
    assert_eq!(
        found,
        vec![
            ("billing/**/CLAUDE.md".to_string(), "CLAUDE.md"),
            (".claude/*".to_string(), ".claude/**"),
        ]
    );
}

#[test]
fn a_write_that_creates_a_blocked_path_is_refused() {
    for path in [
        "billing/export/.env.local",
        "billing/export/secrets/k",
        "billing/export/secrets",
    ] {
        let (decision, reason) = judge(
            r#""billing/export/**""#,
            "Write",
            json!({"file_path": format!("/repo/{path}"), "content": "x"}),
        );
        assert_eq!(decision, Decision::Deny, "{path}: {reason}");
        assert!(reason.contains("read block covers"), "{path}: {reason}");
    }
}
