//! Many repositories, one machine (#18 item 6): the record store is shared by every
//! repository whose policy names it, so `touched`, `why`, `metrics` and the packet name
//! the repository of each run and answer for the repository they are asked in unless
//! told otherwise (`--repo PATH`, `--all-repos`). Before, a shadow read in one repository
//! showed as "ran" in another's answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod report;

use report::Repo;
use serde_json::{Value, json};

/// Repository A in shadow mode, repository B in enforce mode, one record store (A's).
fn two_repositories() -> (Repo, Repo) {
    let a = Repo::new();
    let b = Repo::new();
    let policy = |repo: &Repo, mode: &str| {
        let path = repo.root.join("mandate.toml");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace(
                &repo.records.display().to_string(),
                &a.records.display().to_string(),
            )
            .replace("mode = \"enforce\"", &format!("mode = \"{mode}\""));
        std::fs::write(&path, text).unwrap();
    };
    policy(&a, "shadow");
    policy(&b, "enforce");
    (a, b)
}

/// A read of customer data in A's shadow session, with no run: allowed, and it ran.
fn shadow_read_in(a: &Repo) {
    let pre = json!({"session_id": "shadow-1", "transcript_path": "/dev/null", "cwd": a.root,
        "hook_event_name": "PreToolUse", "tool_name": "Read", "tool_use_id": "a-read",
        "tool_input": {"file_path": a.root.join("customer_data/eu.csv")}});
    let answer = a.hook(pre.clone());
    assert_ne!(
        answer["hookSpecificOutput"]["permissionDecision"], "deny",
        "shadow mode lets it run: {answer}"
    );
    let mut post = pre;
    post["hook_event_name"] = json!("PostToolUse");
    post["tool_response"] = json!({"type": "text"});
    a.hook(post);
}

fn touches(report: &Value) -> &Vec<Value> {
    report["touches"].as_array().unwrap()
}

#[test]
fn a_shadow_read_in_one_repository_is_not_in_another_repositorys_answer() {
    let (a, b) = two_repositories();
    shadow_read_in(&a);
    // B's own run: a refused read of its customer data.
    b.ok(&["start", ".mandate/contracts/BILL-142.toml"]);
    assert_eq!(
        b.call(
            "b-1",
            None,
            "b-read",
            "Read",
            json!({"file_path": "customer_data/eu.csv"})
        ),
        "deny"
    );

    // Asked in B: only B's touch, refused, and the repository is named.
    let here = b.json(&["touched", "customer_data/**", "--json"]);
    let hits = touches(&here);
    assert_eq!(
        hits.len(),
        1,
        "A's shadow read leaked into B's answer: {here}"
    );
    assert_eq!(hits[0]["outcome"], "refused");
    assert_eq!(hits[0]["repository"], b.root.display().to_string());
    let text = b.ok(&["touched", "customer_data/**"]);
    assert!(!text.contains("ran"), "{text}");
    assert!(
        text.contains(&b.root.display().to_string()),
        "names the repository: {text}"
    );

    // Asked about A from B, or about every repository: A's read, named as A's.
    for args in [
        vec![
            "touched",
            "customer_data/**",
            "--json",
            "--repo",
            a.root.to_str().unwrap(),
        ],
        vec!["touched", "customer_data/**", "--json", "--all-repos"],
    ] {
        let report = b.json(&args);
        let from_a: Vec<&Value> = touches(&report)
            .iter()
            .filter(|h| h["repository"] == a.root.display().to_string())
            .collect();
        assert_eq!(from_a.len(), 1, "{args:?}: {report}");
        assert_eq!(from_a[0]["outcome"], "ran");
    }
    let only_a = b.json(&[
        "touched",
        "customer_data/**",
        "--json",
        "--repo",
        a.root.to_str().unwrap(),
    ]);
    assert_eq!(touches(&only_a).len(), 1, "{only_a}");

    // Metrics in B count B's runs; in A, A's.
    let metrics_b = b.json(&["metrics", "--format", "json"]);
    assert_eq!(metrics_b["runs"], 1, "{metrics_b}");
    assert_eq!(metrics_b["would_refuse"], 0, "{metrics_b}");
    assert_eq!(
        metrics_b["repositories"],
        json!([b.root.display().to_string()])
    );
    let metrics_a = a.json(&["metrics", "--format", "json"]);
    assert_eq!(metrics_a["runs"], 1, "{metrics_a}");
    assert_eq!(metrics_a["refused"], 0, "{metrics_a}");
    let all = b.json(&["metrics", "--format", "json", "--all-repos"]);
    assert_eq!(all["runs"], 2, "{all}");

    // `why` names the repository of each change, and B's packet names B.
    b.rollback_note();
    assert_eq!(
        b.call(
            "b-1",
            None,
            "b-edit",
            "Edit",
            json!({"file_path": "billing/export/filter.py",
            "old_string": "!=", "new_string": "=="})
        ),
        "allow"
    );
    let why = b.json(&["why", "billing/export/filter.py", "--json"]);
    assert_eq!(
        why["changes"][0]["repository"],
        b.root.display().to_string(),
        "{why}"
    );
    let packet = b.json(&["record", "show", "--format", "json"]);
    assert_eq!(packet["repository"], b.root.display().to_string());
}

/// `mandate readiness` answers from the runs of the repository it is asked in, and names it.
#[test]
fn issue_18_readiness_answers_for_the_repository_it_is_asked_in() {
    let (a, b) = two_repositories();
    shadow_read_in(&a);
    let readiness = |repo: &Repo, extra: &[&str]| -> Value {
        let mut args = vec!["readiness", "--format", "json"];
        args.extend_from_slice(extra);
        let out = repo.run(&args);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let records_of = |report: &Value| -> String {
        report["questions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["source"].as_str().unwrap_or("").to_string())
            .find(|s| s.starts_with("records: "))
            .unwrap()
    };
    let in_b = readiness(&b, &[]);
    assert_eq!(in_b["repositories"], json!([b.root.display().to_string()]));
    assert!(
        records_of(&in_b).starts_with("records: 0 runs"),
        "A's run counted in B: {in_b}"
    );
    let in_a = readiness(&a, &[]);
    assert!(records_of(&in_a).starts_with("records: 1 runs"), "{in_a}");
    let a_from_b = readiness(&b, &["--repo", a.root.to_str().unwrap()]);
    assert!(
        records_of(&a_from_b).starts_with("records: 1 runs"),
        "{a_from_b}"
    );
    assert_eq!(
        a_from_b["repositories"],
        json!([a.root.display().to_string()])
    );
    let text = String::from_utf8_lossy(&b.run(&["readiness"]).stdout).to_string();
    assert!(
        text.contains(&format!("runs of: {}", b.root.display())),
        "{text}"
    );
}
