#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The billing example of DESIGN.md, judged through the policy core.

use std::path::{Path, PathBuf};

use mandate_policy::{Call, CleanFs, Context, Decision, Engine, NoFs, engine_from_text};
use serde_json::json;

const POLICY: &str = include_str!("../../../examples/billing/mandate.toml");
const CONTRACT: &str = include_str!("../../../examples/billing/.mandate/contracts/BILL-142.toml");

fn engine() -> Engine {
    engine_from_text(POLICY, Some(CONTRACT), Path::new("/repo")).unwrap()
}

fn judge(tool: &str, input: serde_json::Value) -> (Decision, Vec<String>, String) {
    judge_with(tool, input, &Context::default())
}

/// [`judge`] in a [`CleanFs`] repository.
fn judge_clean(tool: &str, input: serde_json::Value) -> Decision {
    let engine = engine();
    let cwd = PathBuf::from("/repo");
    engine
        .judge(
            &Call {
                tool,
                input: &input,
                cwd: &cwd,
            },
            &Context::default(),
            &CleanFs,
        )
        .decision
}

fn judge_with(
    tool: &str,
    input: serde_json::Value,
    context: &Context<'_>,
) -> (Decision, Vec<String>, String) {
    let engine = engine();
    let cwd = PathBuf::from("/repo");
    let verdict = engine.judge(
        &Call {
            tool,
            input: &input,
            cwd: &cwd,
        },
        context,
        &NoFs,
    );
    (verdict.decision, verdict.rules, verdict.reason)
}

#[test]
fn examples_hold() {
    assert!(engine().check_examples(&CleanFs).is_empty());
}

#[test]
fn in_scope_reads_are_allowed() {
    let (d, rules, _) = judge(
        "Read",
        json!({"file_path": "/repo/billing/export/filter.py"}),
    );
    assert_eq!(d, Decision::Allow);
    assert_eq!(rules, vec!["contract.allow.read[0]"]);
    let (d, _, _) = judge("Read", json!({"file_path": "/repo/docs/billing/export.md"}));
    assert_eq!(d, Decision::Allow);
}

#[test]
fn blocked_and_out_of_scope_reads_are_denied() {
    let (d, rules, reason) = judge("Read", json!({"file_path": "/repo/.env"}));
    assert_eq!(d, Decision::Deny);
    assert_eq!(rules, vec!["policy.block.read[0]"]);
    // What was refused and by which rule, then what to do instead; not the whole box.
    let mut lines = reason.lines();
    let first = lines.next().unwrap();
    assert!(
        first.contains("`.env`") && first.contains("rule policy.block.read[0]"),
        "{reason}"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .contains("stop and ask alice@example.com"),
        "{reason}"
    );
    assert!(!reason.contains("lets you"), "{reason}");
    let (_, _, reason) = judge("Bash", json!({"command": "pytest -q tests/other"}));
    assert!(
        reason.contains("runs it as `pytest billing/export/tests*`"),
        "{reason}"
    );
    let (d, rules, _) = judge(
        "Read",
        json!({"file_path": "/repo/billing/export/../../.env"}),
    );
    assert_eq!(
        (d, rules[0].as_str()),
        (Decision::Deny, "policy.block.read[0]")
    );
    let (d, _, _) = judge(
        "Read",
        json!({"file_path": "/repo/billing/export/.env.local"}),
    );
    assert_eq!(d, Decision::Deny);
    let (d, rules, _) = judge("Read", json!({"file_path": "/repo/customer_data/eu.csv"}));
    assert_eq!(
        (d, rules[0].as_str()),
        (Decision::Deny, "contract.block.read[0]")
    );
    let (d, rules, _) = judge("Read", json!({"file_path": "/etc/passwd"}));
    assert_eq!((d, rules[0].as_str()), (Decision::Deny, "policy.default"));
}

#[test]
fn writes_need_the_rollback_note_then_run() {
    let input = json!({"file_path": "/repo/billing/export/filter.py", "content": "x"});
    let (d, rules, reason) = judge("Write", input.clone());
    assert_eq!(d, Decision::Deny);
    assert_eq!(rules, vec!["contract.rollback.required_before[0]"]);
    assert!(reason.contains("mandate evidence rollback"), "{reason}");
    let context = Context {
        rollback_note: true,
        ..Context::default()
    };
    let (d, _, _) = judge_with("Write", input, &context);
    assert_eq!(d, Decision::Allow);
}

#[test]
fn stop_conditions_win_over_blocks() {
    let (d, rules, reason) = judge(
        "Edit",
        json!({"file_path": "/repo/billing/migrations/0001.sql", "old_string": "a", "new_string": "b"}),
    );
    assert_eq!(d, Decision::Stop);
    assert_eq!(rules, vec!["contract.stop[0].write[0]"]);
    assert!(reason.contains("schema change"), "{reason}");
}

#[test]
fn approval_rules_ask_named_reviewers() {
    let engine = engine();
    let cwd = PathBuf::from("/repo");
    let input = json!({"file_path": "/repo/requirements.txt", "content": "x"});
    let verdict = engine.judge(
        &Call {
            tool: "Write",
            input: &input,
            cwd: &cwd,
        },
        &Context::default(),
        &NoFs,
    );
    // An approval rule matches even outside the allow list: a named reviewer can let it in.
    assert_eq!(verdict.decision, Decision::Ask);
    let input = json!({"file_path": "/repo/billing/export/requirements.txt", "content": "x"});
    let verdict = engine.judge(
        &Call {
            tool: "Write",
            input: &input,
            cwd: &cwd,
        },
        &Context {
            rollback_note: true,
            ..Context::default()
        },
        &NoFs,
    );
    assert_eq!(verdict.decision, Decision::Ask);
    let need = verdict.approval.unwrap();
    assert_eq!(need.group, "billing");
    assert_eq!(need.reviewers, vec!["bob@example.com"]);
}

#[test]
fn self_protection_holds_even_when_allowed() {
    for path in [
        "/repo/mandate.toml",
        "/repo/.mandate/contracts/BILL-142.toml",
        "/repo/.claude/settings.json",
        "/repo/.claude/settings.local.json",
        "/repo/.mcp.json",
        "/repo/.codex/hooks.json",
        "/repo/.codex/config.toml",
        "/repo/.codex/rules/mandate.rules",
        "/repo/.gemini/settings.json",
        "/repo/.cursor/hooks.json",
        "/repo/.github/hooks/mandate.json",
        "/etc/codex/hooks.json",
    ] {
        let (d, rules, _) = judge("Write", json!({"file_path": path, "content": "x"}));
        assert_eq!(d, Decision::Deny, "{path}");
        assert!(
            rules.contains(&"builtin.self-protection".to_string()),
            "{path}: {rules:?}"
        );
    }
}

#[test]
fn commands() {
    let d = judge_clean("Bash", json!({"command": "pytest billing/export/tests -q"}));
    assert_eq!(d, Decision::Allow);
    let d = judge_clean("Bash", json!({"command": "ruff check billing/export"}));
    assert_eq!(d, Decision::Allow);
    let (d, rules, _) = judge("Bash", json!({"command": "git push origin main"}));
    assert_eq!(
        (d, rules[0].as_str()),
        (Decision::Deny, "contract.block.execute[0]")
    );
    let (d, _, _) = judge("Bash", json!({"command": "kubectl get pods"}));
    assert_eq!(d, Decision::Deny);
    let (d, rules, _) = judge("Bash", json!({"command": "mandate approve 3"}));
    assert_eq!(d, Decision::Deny);
    assert!(rules.contains(&"builtin.self-protection.verbs".to_string()));
    let (d, _, _) = judge("Bash", json!({"command": "./pytest billing/export/tests"}));
    assert_eq!(d, Decision::Deny);
}

#[test]
fn web_and_mcp() {
    let (d, _, _) = judge(
        "WebFetch",
        json!({"url": "https://example.com/x", "prompt": "p"}),
    );
    assert_eq!(d, Decision::Deny);
    let (d, _, _) = judge("WebSearch", json!({"query": "q"}));
    assert_eq!(d, Decision::Deny);
    let (d, rules, _) = judge("mcp__jira__get_issue", json!({"key": "BILL-142"}));
    assert_eq!(
        (d, rules[0].as_str()),
        (Decision::Allow, "contract.allow.call[0]")
    );
    let (d, _, _) = judge("mcp__jira__search", json!({"q": "x"}));
    assert_eq!(d, Decision::Deny, "read tool not named by the contract");
    let (d, rules, _) = judge("mcp__jira__create_issue", json!({"title": "x"}));
    assert_eq!(d, Decision::Deny);
    assert!(
        rules.contains(&"contract.block.call[0]".to_string()),
        "{rules:?}"
    );
    let (d, rules, _) = judge("mcp__shadow__anything", json!({}));
    assert_eq!(
        (d, rules[0].as_str()),
        (Decision::Deny, "registry.unregistered")
    );
    let disabled = vec!["jira".to_string()];
    let (d, rules, _) = judge_with(
        "mcp__jira__get_issue",
        json!({"key": "BILL-142"}),
        &Context {
            disabled: &disabled,
            ..Context::default()
        },
    );
    assert_eq!(
        (d, rules[0].as_str()),
        (Decision::Deny, "registry.jira.disabled")
    );
}

#[test]
fn searches_must_be_narrowed_to_the_box() {
    let (d, _, _) = judge("Grep", json!({"pattern": "EU"}));
    assert_eq!(d, Decision::Deny, "a search of the whole repository");
    let (d, _, _) = judge("Glob", json!({"pattern": "**/*.py"}));
    assert_eq!(d, Decision::Deny);
    // Narrowed, but NoFs cannot prove the folder holds no `.env*`: conservative deny.
    let (d, _, _) = judge("Glob", json!({"pattern": "billing/export/**/*.py"}));
    assert_eq!(d, Decision::Deny);
}

#[test]
fn internal_tools_and_unknown_tools() {
    let (d, _, _) = judge("TodoWrite", json!({"todos": []}));
    assert_eq!(d, Decision::Allow);
    let (d, _, _) = judge("Agent", json!({"description": "d", "prompt": "p"}));
    assert_eq!(d, Decision::Allow);
    let (d, rules, _) = judge("SomeNewTool", json!({}));
    assert_eq!((d, rules[0].as_str()), (Decision::Deny, "policy.default"));
}

#[test]
fn evidence_must_run_alone() {
    let (d, rules, _) = judge(
        "Bash",
        json!({"command": "mandate evidence assumption EU means the region column"}),
    );
    assert_eq!(
        (d, rules[0].as_str()),
        (Decision::Allow, "builtin.evidence")
    );
    // It runs outside the OS sandbox: nothing may ride along.
    let (d, _, reason) = judge(
        "Bash",
        json!({"command": "mandate evidence risk x && pytest billing/export/tests"}),
    );
    assert_eq!(d, Decision::Deny, "{reason}");
}

#[test]
fn command_blocks_apply_to_commands_judged_by_their_effects() {
    let contract = CONTRACT.replace(
        "execute = [\"git push*\", \"kubectl *\"]",
        "execute = [\"git push*\", \"kubectl *\", \"cat *\"]",
    );
    let engine = engine_from_text(POLICY, Some(&contract), Path::new("/repo")).unwrap();
    let cwd = PathBuf::from("/repo");
    let judge = |command: &str| {
        let input = json!({ "command": command });
        engine
            .judge(
                &Call {
                    tool: "Bash",
                    input: &input,
                    cwd: &cwd,
                },
                &Context::default(),
                &NoFs,
            )
            .decision
    };
    // `cat` needs no execute rule: its reads are judged...
    assert_eq!(judge("head billing/export/filter.py"), Decision::Allow);
    // ...but a block on the command itself still holds.
    assert_eq!(judge("cat billing/export/filter.py"), Decision::Deny);
}

#[test]
fn a_wildcard_in_an_execute_rule_does_not_climb_out_of_its_folder() {
    let d = judge_clean(
        "Bash",
        json!({"command": "pytest billing/export/tests/test_x.py"}),
    );
    assert_eq!(d, Decision::Allow);
    // openai/codex#31753: `*` after a folder must not carry the command elsewhere.
    let (d, _, _) = judge(
        "Bash",
        json!({"command": "pytest billing/export/tests/../../../deploy/conftest.py"}),
    );
    assert_eq!(d, Decision::Deny);
}

/// The hook's engine compiles a rule when a call first needs it. A rule that does not
/// compile is a validation error for `check` and `start` (the eager engine), and refuses
/// every call that needs it in the hook, even when it is an allow rule.
#[test]
fn a_broken_rule_refuses_the_calls_that_need_it_in_the_lazy_engine() {
    let contract = CONTRACT.replace(
        "[allow]\nread = [",
        "[allow]\nread = [\"docs/{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}/**\", ",
    );
    assert_ne!(contract, CONTRACT, "the fixture changed: update this test");
    let error = engine_from_text(POLICY, Some(&contract), Path::new("/repo"))
        .err()
        .expect("the eager engine refuses the contract");
    let error = error.to_string();
    assert!(error.contains("allow.read[0]"), "{error}");
    assert!(error.contains("alternatives"), "{error}");

    let policy_path = Path::new("/repo/mandate.toml");
    let contract_path = Path::new("/repo/.mandate/contracts/contract.toml");
    let policy = mandate_policy::parse_policy(policy_path, POLICY).unwrap();
    let contract = mandate_policy::parse_contract(contract_path, &contract).unwrap();
    let lazy = Engine::new_lazy(&mandate_policy::Sources {
        org: None,
        repo: (policy_path, &policy),
        contract: Some((contract_path, &contract)),
        root: Path::new("/repo"),
        home: None,
        protected: &[],
    })
    .unwrap();
    let cwd = PathBuf::from("/repo");
    let judge = |tool: &str, input: serde_json::Value| {
        lazy.judge(
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
        )
    };
    // A read needs the read rules: refused, naming the broken rule.
    let read = judge(
        "Read",
        json!({"file_path": "/repo/billing/export/filter.py"}),
    );
    assert_eq!(read.decision, Decision::Deny);
    assert!(read.rules.contains(&"contract.allow.read[0]".to_string()));
    assert!(read.reason.contains("cannot be used"), "{}", read.reason);
    assert!(read.reason.contains("mandate check"), "{}", read.reason);
    // A write needs only the write rules, which are sound: judged as before.
    let write = judge(
        "Write",
        json!({"file_path": "/repo/billing/export/filter.py", "content": "x"}),
    );
    assert_eq!(write.decision, Decision::Allow, "{}", write.reason);
}
