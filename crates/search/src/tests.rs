use serde_json::json;

use super::*;

fn record() -> Vec<Value> {
    vec![
        json!({"type": "record.create", "i": 0, "run_id": "R1"}),
        json!({"type": "run.start", "i": 1, "time": "2026-01-01T00:00:00Z", "workspace": "/repo",
               "user": "Alice@Example.com", "mode": "enforce", "project": "billing",
               "contract": {"id": "BILL-1", "agent": "claude-code"}}),
        json!({"type": "tool.pre", "i": 2, "time": "2026-01-01T00:00:01Z", "session_id": "s",
               "tool_use_id": "t1", "tool": "mcp__jira__get_issue", "decision": "allow",
               "touches": [{"kind": "call", "target": "mcp__jira__get_issue", "decision": "allow",
                            "rules": ["contract.allow.call[0]"]}]}),
        json!({"type": "tool.post", "i": 3, "tool_use_id": "t1"}),
        json!({"type": "tool.pre", "i": 4, "time": "2026-01-01T00:00:02Z", "tool_use_id": "t2",
               "agent_id": "a1", "agent_type": "explorer", "tool": "Read", "decision": "deny",
               "touches": [{"kind": "read", "target": "/repo/customer_data/eu.csv", "decision": "deny"}]}),
        json!({"type": "tool.pre", "i": 5, "time": "2026-01-01T00:00:03Z", "tool_use_id": "t3",
               "tool": "Bash", "decision": "deny", "mode": "shadow", "enforced": false,
               "input": {"command": "cp customer_data/eu.csv /tmp/x && git push"},
               "touches": [{"kind": "read", "target": "/repo/customer_data/eu.csv", "decision": "deny"},
                           {"kind": "execute", "target": "git push", "decision": "deny"}]}),
        json!({"type": "tool.post", "i": 6, "tool_use_id": "t3"}),
        json!({"type": "tool.unguarded", "i": 7, "time": "2026-01-01T00:00:04Z", "tool": "Write",
               "input": {"file_path": "/repo/deploy/x.yaml"}, "result": {}}),
    ]
}

fn rows() -> Vec<EventRow> {
    rows_of_run("R1", &record())
}

fn find(query: EventQuery) -> Vec<(u64, u64)> {
    let compiled = query.compile().unwrap();
    rows()
        .iter()
        .filter(|r| compiled.matches(r))
        .map(|r| (r.idx, r.n))
        .collect()
}

#[test]
fn a_row_per_touch_with_the_run_and_its_outcome() {
    let rows = rows();
    assert_eq!(rows.len(), 5);
    let jira = &rows[0];
    assert_eq!(jira.mcp.as_deref(), Some("jira"));
    assert_eq!(jira.outcome, "ran");
    assert_eq!(jira.user.as_deref(), Some("alice@example.com"));
    assert_eq!(jira.agent.as_deref(), Some("claude-code"));
    assert_eq!(jira.project.as_deref(), Some("billing"));
    let read = &rows[1];
    assert_eq!(read.path.as_deref(), Some("customer_data/eu.csv"));
    assert_eq!(
        (read.decision.as_str(), read.outcome.as_str()),
        ("deny", "refused")
    );
    let unguarded = &rows[4];
    assert_eq!(unguarded.decision, "unguarded");
    assert_eq!(unguarded.kind, "write");
    assert_eq!(unguarded.path.as_deref(), Some("deploy/x.yaml"));
}

#[test]
fn shadow_denies_are_kept_apart_from_real_ones() {
    let rows = rows();
    let shadow: Vec<&EventRow> = rows.iter().filter(|r| r.idx == 5).collect();
    assert_eq!(shadow.len(), 2);
    assert!(shadow.iter().all(|r| r.decision == "would_deny"));
    assert!(
        shadow.iter().all(|r| r.outcome == "ran"),
        "the shadow call ran"
    );
    assert_eq!(
        find(EventQuery {
            decision: Some("deny".into()),
            ..EventQuery::default()
        }),
        vec![(4, 0)]
    );
    assert_eq!(
        find(EventQuery {
            decision: Some("would_deny".into()),
            ..EventQuery::default()
        }),
        vec![(5, 0), (5, 1)]
    );
}

#[test]
fn the_area_matches_paths_command_words_tools_and_nothing_else() {
    let area = |glob: &str| {
        find(EventQuery {
            path: Some(glob.into()),
            ..EventQuery::default()
        })
    };
    // The refused read, the shadow read, and the command naming the file.
    assert_eq!(area("customer_data/**"), vec![(4, 0), (5, 0)]);
    assert_eq!(area("mcp__jira__*"), vec![(2, 0)]);
    assert_eq!(area("/repo/deploy/*"), vec![(7, 0)]);
    assert_eq!(area("git push*"), vec![(5, 1)]);
    assert!(area("logs/**").is_empty());
}

#[test]
fn filters_combine() {
    let q = EventQuery {
        user: Some("ALICE@example.com".into()),
        agent: Some("explorer".into()),
        repo: Some("repo".into()),
        since: Some("2026-01-01".into()),
        until: Some("2026-01-01".into()),
        ..EventQuery::default()
    };
    assert_eq!(find(q), vec![(4, 0)]);
    let q = EventQuery {
        command: Some("git push".into()),
        tool: Some("Ba*".into()),
        ..EventQuery::default()
    };
    assert_eq!(find(q), vec![(5, 0), (5, 1)]);
    let q = EventQuery {
        file: Some("deploy/x.yaml".into()),
        kind: Some("write".into()),
        ..EventQuery::default()
    };
    assert_eq!(find(q), vec![(7, 0)]);
    let q = EventQuery {
        until: Some("2026-01-01T00:00:02Z".into()),
        mcp: Some("jira".into()),
        ..EventQuery::default()
    };
    assert_eq!(find(q), vec![(2, 0)]);
}

#[test]
fn bad_values_are_told_what_to_write() {
    let bad = EventQuery {
        decision: Some("maybe".into()),
        ..EventQuery::default()
    };
    let error = bad.compile().err().unwrap().to_string();
    assert!(error.contains("`decision=maybe`"), "{error}");
    let bad = EventQuery {
        since: Some("last week".into()),
        ..EventQuery::default()
    };
    assert!(bad.compile().is_err());
}

#[test]
fn like_patterns_cover_what_the_glob_matches() {
    assert_eq!(glob_like("customer_data/**"), "customer\\_data%");
    assert_eq!(glob_like("**/.env*"), "%.env%");
    assert_eq!(glob_like("a/**/b/*.py"), "a%b/%.py");
    assert_eq!(glob_like("/repo/deploy/*"), "/repo/deploy/%");
    assert_eq!(glob_like("src/{a,b}/x"), "src/%/x");
    assert_eq!(longest_literal("**/customer_data/*.csv"), "customer_data");
    assert_eq!(plain_folder("src/module1/**"), Some("src/module1".into()));
    assert_eq!(plain_folder("./deploy/**/*.yaml"), Some("deploy".into()));
    assert_eq!(plain_folder("deploy/*"), None);
    assert_eq!(plain_folder("**/eu1*.csv"), None);
    assert_eq!(plain_folder("src/{a,b}/**"), None);
    assert_eq!(plain_folder(".github/**"), None);
}

#[test]
fn the_branches_are_the_condition_cut_at_the_area() {
    let query = EventQuery {
        path: Some("customer_data/**".into()),
        since: Some("2026-11-01".into()),
        user: Some("Alice@example.com".into()),
        ..EventQuery::default()
    };
    let compiled = query.compile().unwrap();
    let (whole, binds) = compiled.sql(3);
    let (branches, branch_binds) = compiled.sql_branches(3);
    // The same parameters, numbered alike: the branches OR to the whole condition.
    assert_eq!(binds, branch_binds);
    assert_eq!(branches.len(), 3);
    let rest = "run_user = $8 AND time >= $9";
    assert!(whole.ends_with(&format!(" AND {rest}")), "{whole}");
    let area: Vec<&str> = branches
        .iter()
        .map(|b| b.strip_suffix(&format!(" AND {rest}")).unwrap())
        .collect();
    assert_eq!(format!("({}) AND {rest}", area.join(" OR ")), whole);
    assert!(area[0].contains("kind IN ('read', 'write')"), "{area:?}");
    assert!(area[1].contains("kind = 'execute'"), "{area:?}");
    assert!(area[2].contains("kind IN ('call', 'expose')"), "{area:?}");
    // Without an area, one branch: the whole condition.
    let plain = EventQuery {
        tool: Some("Bash".into()),
        ..EventQuery::default()
    };
    let compiled = plain.compile().unwrap();
    assert_eq!(compiled.sql_branches(1).0, vec![compiled.sql(1).0]);
    let all = EventQuery::default();
    assert_eq!(all.compile().unwrap().sql_branches(1).0, vec!["1 = 1"]);
}

#[test]
fn rows_survive_the_table_and_csv_quotes_what_it_must() {
    for row in rows() {
        assert_eq!(row_from_values(row_values(&row)).unwrap(), row);
    }
    let mut row = rows()[2].clone();
    row.command = Some("=cmd, \"x\"".into());
    let csv = to_csv(&[row]);
    assert!(csv.starts_with(CSV_HEADER));
    assert!(csv.contains("\"'=cmd, \"\"x\"\"\""), "{csv}");
}

#[test]
fn the_query_string_round_trips_what_was_asked() {
    let q = EventQuery {
        path: Some("billing/**".into()),
        command: Some("git push".into()),
        ..EventQuery::default()
    };
    assert_eq!(q.to_query_string(), "path=billing/**&command=git%20push");
}
