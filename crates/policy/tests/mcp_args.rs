#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 20, item 5: the arguments of MCP calls are judged. Registry constraints match
//! whole values, secrets are refused, and values of sensitive data read earlier do not
//! leave (the carried-data check, with a fingerprint set built here as the hook builds it).

use std::path::{Path, PathBuf};

use mandate_policy::carried::{Carried, Origin, distinctive};
use mandate_policy::engine::{CARRIED_DATA_RULE, SECRET_ARGUMENT_RULE, argument_value_matches};
use mandate_policy::{Call, CleanFs, Context, Decision, Engine, engine_from_text};
use serde_json::{Value, json};

const POLICY: &str = include_str!("../../../examples/billing/mandate.toml");
const CONTRACT: &str = include_str!("../../../examples/billing/.mandate/contracts/BILL-142.toml");

const DOCS: &str = r#"
[mcp.servers.docs]
owner = "docs@example.com"
purpose = "search the public developer docs"
tools = { search = "read" }
"#;

fn engine() -> Engine {
    let policy = POLICY.replace(
        "get_issue = \"read\"",
        "get_issue = { class = \"read\", args = { key = [\"BILL-*\"] } }",
    ) + DOCS;
    let contract = CONTRACT.replace(
        "call = [\"mcp__jira__get_issue\"]",
        "call = [\"mcp__jira__get_issue\", \"mcp__jira__search\", \"mcp__docs__search\"]",
    );
    engine_from_text(&policy, Some(&contract), Path::new("/repo")).unwrap()
}

fn judge(tool: &str, input: Value, carried: Option<&Carried>) -> (Decision, Vec<String>, String) {
    let cwd = PathBuf::from("/repo");
    let verdict = engine().judge(
        &Call {
            tool,
            input: &input,
            cwd: &cwd,
        },
        &Context {
            rollback_note: true,
            carried,
            ..Context::default()
        },
        &CleanFs,
    );
    (verdict.decision, verdict.rules, verdict.reason)
}

#[test]
fn argument_patterns_match_whole_values() {
    assert!(argument_value_matches("BILL-*", "BILL-142"));
    assert!(argument_value_matches("BILL-*", "BILL-"));
    assert!(!argument_value_matches("BILL-*", "BILL-142 tok_9a8b7c6d5e"));
    assert!(!argument_value_matches("BILL-*", "BILL-142\n"));
    assert!(!argument_value_matches("BILL-*", " BILL-142"));
    assert!(!argument_value_matches("BILL-*", "BILL-142;x=1"));
    assert!(!argument_value_matches("BILL-*", "BILL-142/../admin"));
    assert!(!argument_value_matches("BILL-*", "BILL-１４２"));
    assert!(argument_value_matches("BILL-#", "BILL-142"));
    assert!(!argument_value_matches("BILL-#", "BILL-"));
    assert!(!argument_value_matches("BILL-#", "BILL-142tok"));
    assert!(argument_value_matches("project = BILL", "project = BILL"));
    assert!(!argument_value_matches("project = BILL", "project  = BILL"));
    assert!(argument_value_matches("*-*", "a-b"));
}

#[test]
fn a_registry_constraint_refuses_trailing_data_and_values_that_are_not_scalars() {
    let (d, _, _) = judge("mcp__jira__get_issue", json!({"key": "BILL-142"}), None);
    assert_eq!(d, Decision::Allow);
    for key in [
        json!("BILL-142 tok_9a8b7c6d5e"),
        json!("BILL-142\nmore"),
        json!(["BILL-142", "x"]),
        json!({"id": "BILL-142"}),
    ] {
        let (d, rules, reason) = judge("mcp__jira__get_issue", json!({"key": key}), None);
        assert_eq!(d, Decision::Deny, "{key}: {reason}");
        assert!(
            rules.contains(&"registry.jira.tools.get_issue.args.key".to_string()),
            "{rules:?}"
        );
        assert!(reason.contains("as a whole"), "{reason}");
    }
}

#[test]
fn an_argument_carrying_a_secret_is_refused_without_repeating_it() {
    let token = format!("ghp_{}", "a1B2c3D4e5".repeat(4).get(..36).unwrap());
    for input in [
        json!({"key": "BILL-142", "comment": format!("use {token}")}),
        json!({"key": "BILL-142", "extra": {"deep": [format!("token: {token}")]}}),
        json!({"key": "BILL-142", token.clone(): true}),
    ] {
        let (d, rules, reason) = judge("mcp__jira__get_issue", input.clone(), None);
        assert_eq!(d, Decision::Deny, "{input}");
        assert!(
            rules.contains(&SECRET_ARGUMENT_RULE.to_string()),
            "{rules:?}"
        );
        assert!(!reason.contains(&token), "{reason}");
        assert!(reason.contains("github-pat"), "{reason}");
    }
    let (d, _, _) = judge(
        "mcp__docs__search",
        json!({"query": "csv dialects", "token_count": 3}),
        None,
    );
    assert_eq!(d, Decision::Allow);
}

fn carried_from(result: &str, origin: Origin, label: &str) -> Carried {
    let mut carried = Carried::new(7).with_labels(&Carried::origin_line(label));
    for value in distinctive(result, origin == Origin::BlockedPath) {
        let print = carried.fingerprint(value, origin, label).unwrap();
        carried.insert(print);
    }
    carried
}

#[test]
fn values_read_from_a_server_with_data_do_not_leave_but_may_go_back_to_it() {
    let carried = carried_from(
        "BILL-142 reported by account ACME-7731-ZX, card 4000056655665556",
        Origin::McpServer,
        "jira",
    );
    let refused = [
        ("mcp__docs__search", json!({"query": "who is ACME-7731-ZX"})),
        (
            "mcp__docs__search",
            json!({"query": "x", "page": 4000056655665556u64}),
        ),
        ("mcp__docs__search", json!({"query": "acme-7731-zx"})),
        (
            "WebFetch",
            json!({"url": "https://docs.python.org/?q=ACME-7731-ZX", "prompt": "x"}),
        ),
        ("WebSearch", json!({"query": "4000056655665556"})),
        (
            "Bash",
            json!({"command": "ruff check billing/export/filter.py --extend-select ACME-7731-ZX"}),
        ),
    ];
    for (tool, input) in refused {
        let (d, rules, reason) = judge(tool, input.clone(), Some(&carried));
        assert_eq!(d, Decision::Deny, "{tool} {input}: {reason}");
        assert!(rules.contains(&CARRIED_DATA_RULE.to_string()), "{rules:?}");
        assert!(reason.contains("the MCP server `jira`"), "{reason}");
        assert!(!reason.contains("ACME-7731-ZX"), "{reason}");
    }
    let (d, _, reason) = judge(
        "mcp__jira__search",
        json!({"jql": "reporter = ACME-7731-ZX"}),
        Some(&carried),
    );
    assert_eq!(
        d,
        Decision::Allow,
        "back to the server it came from: {reason}"
    );
    let (d, _, reason) = judge(
        "Bash",
        json!({"command": "ruff check billing/export/filter.py"}),
        Some(&carried),
    );
    assert_eq!(d, Decision::Allow, "{reason}");
}

#[test]
fn values_of_blocked_files_go_nowhere_not_even_back_to_a_server() {
    let carried = carried_from(
        "customer,iban\nAcme GmbH,DE89370400440532013000\n",
        Origin::BlockedPath,
        "customer_data/eu.csv",
    );
    let (d, rules, reason) = judge(
        "mcp__jira__get_issue",
        json!({"key": "BILL-142", "note": "de89370400440532013000"}),
        Some(&carried),
    );
    assert_eq!(d, Decision::Deny);
    assert!(rules.contains(&CARRIED_DATA_RULE.to_string()), "{rules:?}");
    assert!(reason.contains("`customer_data/eu.csv`"), "{reason}");
}
