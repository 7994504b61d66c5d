#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `mandate why` and `mandate touched` over several runs recorded through the real hook:
//! changes with the context that fed them, refused attempts, and subagent calls.

mod report;

use report::Repo;
use serde_json::Value;

fn strs(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn why_names_every_run_and_call_that_changed_a_file_and_what_fed_it() {
    let repo = Repo::new();
    repo.two_runs();
    let why = repo.json(&["why", "billing/export/filter.py", "--json"]);
    assert_eq!(why["runs_searched"], 2);
    let changes = why["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{why:#}");
    let (first, second) = (&changes[0], &changes[1]);
    assert_ne!(first["run"], second["run"], "two different runs");
    assert_eq!(first["task"], "BILL-142");
    assert_eq!(first["delegated_by"], "alice@example.com");
    assert_eq!(first["tool"], "Edit");
    assert_eq!(first["outcome"], "ran");
    assert!(
        first["agent_id"].is_null(),
        "the main agent made the first change"
    );
    assert_eq!(
        first["prompt"],
        "EU invoice rows vanish from the export; fix the filter"
    );
    // The context: the file read and the Jira ticket fetched before, not the refused read.
    let context = strs(&first["context"], "target");
    assert!(
        context
            .iter()
            .any(|t| t.ends_with("billing/export/filter.py")),
        "{context:?}"
    );
    assert!(
        context.contains(&"mcp__jira__get_issue".to_string()),
        "{context:?}"
    );
    assert!(
        !context.iter().any(|t| t.contains("customer_data")),
        "{context:?}"
    );
    // The second change was a subagent's Write, after it read the docs.
    assert_eq!(second["agent_id"], "sub-2");
    assert_eq!(second["tool"], "Write");
    assert!(
        strs(&second["context"], "target")
            .iter()
            .any(|t| t.ends_with("docs/billing/export.md"))
    );
    // The edit tried before the rollback note was on record did not run.
    let attempts = why["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["outcome"], "refused");
    assert_eq!(
        attempts[0]["rules"][0],
        "contract.rollback.required_before[0]"
    );

    let text = repo.ok(&["why", "billing/export/filter.py"]);
    assert!(
        text.contains("changed by 2 recorded tool calls, 1 more attempt did not run"),
        "{text}"
    );
    assert!(text.contains("subagent general-purpose (sub-2)"), "{text}");
    assert!(text.contains("delegated by alice@example.com"), "{text}");
}

#[test]
fn why_says_plainly_when_no_run_changed_the_file() {
    let repo = Repo::new();
    repo.two_runs();
    let text = repo.ok(&["why", "docs/billing/export.md"]);
    assert!(
        text.contains("no recorded tool call changed or tried to change"),
        "{text}"
    );
    assert!(text.contains("git log"), "{text}");
}

#[test]
fn touched_finds_refused_attempts_and_subagent_calls_across_runs() {
    let repo = Repo::new();
    repo.two_runs();
    let hits = repo.json(&["touched", "customer_data/**", "--json"]);
    let touches = hits["touches"].as_array().unwrap();
    assert_eq!(touches.len(), 2, "{hits:#}");
    assert!(
        touches
            .iter()
            .all(|t| t["outcome"] == "refused" && t["kind"] == "read")
    );
    assert_ne!(touches[0]["run"], touches[1]["run"]);
    assert_eq!(
        touches[0]["agent_id"], "sub-1",
        "the first run's attempt was a subagent's"
    );
    assert!(touches[1]["agent_id"].is_null());
    assert_eq!(touches[0]["target"], "customer_data/eu.csv");

    let deploy = repo.json(&["touched", "deploy/**", "--json"]);
    assert_eq!(deploy["touches"].as_array().unwrap().len(), 1);
    assert_eq!(deploy["touches"][0]["kind"], "write");
    assert_eq!(deploy["touches"][0]["decision"], "deny");

    let billing = repo.json(&["touched", "billing/**", "--json"]);
    let outcomes = strs(&billing["touches"], "outcome");
    assert!(outcomes.contains(&"ran".to_string()) && outcomes.contains(&"refused".to_string()));

    let tools = repo.json(&["touched", "mcp__jira__*", "--json"]);
    assert_eq!(tools["touches"].as_array().unwrap().len(), 1);

    let text = repo.ok(&["touched", "customer_data/**"]);
    assert!(
        text.contains("2 touches in 2 of 2 runs: 0 went ahead, 2 refused; 1 by subagents"),
        "{text}"
    );

    let later = repo.json(&[
        "touched",
        "customer_data/**",
        "--since",
        "2999-01-01",
        "--json",
    ]);
    assert!(later["touches"].as_array().unwrap().is_empty());
    let nothing = repo.ok(&["touched", "logs/prod/**"]);
    assert!(
        nothing.contains("no agent touched `logs/prod/**`"),
        "{nothing}"
    );
    let bad = repo.run(&["touched", "x", "--since", "last week"]);
    assert_eq!(bad.status.code(), Some(2));
}
