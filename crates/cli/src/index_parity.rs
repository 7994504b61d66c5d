//! Issue 19: the local index answers `why`, `touched` and the event search exactly as
//! reading every log would. A seeded store with the awkward cases (a folder touched as
//! itself, look-alike names beside it, paths a command names, unnormalised and outside
//! paths, shadow runs, subagents, prompts and approvals, results that arrive in a later
//! catch-up) is asked the same questions through the index and through the reference:
//! every run's rows from [`mandate_search::rows_of_run`] filtered by
//! [`mandate_search::Compiled::matches`], and [`crate::incident::why`] over whole runs.
//! A range cut one character too narrow must make the comparison fail.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mandate_search::{AreaRanges, EventQuery, EventRow, TextRange};
use serde_json::{Value, json};

use crate::event_index::LocalIndex;
use crate::incident::{why, why_from_index};
use crate::metrics::RunRecord;

/// A small deterministic generator (no dependency for a test's dice).
struct Dice(u64);

impl Dice {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % below
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next(items.len())]
    }
}

const FILES: &[&str] = &[
    "customer_data",
    "customer_data/eu1.csv",
    "customer_data/eu12.csv",
    "customer_data/us/eu1x.csv",
    "customer_data2/eu1.csv",
    "customer_datb/x.py",
    "deploy/prod.yaml",
    "deploy",
    "deployment/notes.md",
    "billing/export/filter.py",
    "billing/core/tax.py",
    "src/module1/eu1.csv",
    "src/module12/tests/test_a.py",
    "billing/../customer_data/eu1.csv",
    "./deploy/./prod.yaml",
];

const COMMANDS: &[&str] = &[
    "cat customer_data/eu1.csv",
    "ls customer_data/",
    "sed -n 1,4p ./deploy/prod.yaml",
    "git push origin main",
    "pytest billing/export/tests -q",
    "grep -rn eu1 customer_data2",
    "cat ../elsewhere/eu1.csv",
    "cat /etc/customer_data/eu1.csv",
    "customer_data/run.sh --now",
    "make test",
];

const TOOLS: &[&str] = &[
    "mcp__slack__post_message",
    "mcp__slack__search",
    "mcp__slackbot__ping",
    "mcp__jira__get_issue",
];

/// Write the store: `runs` logs under `records/runs`, of calls in two repositories.
/// Returns each run's log lines, to append in two halves.
fn store(root: &Path, other: &Path, runs: usize, calls: usize) -> Vec<(PathBuf, Vec<String>)> {
    let mut dice = Dice(19);
    let mut logs = Vec::new();
    for r in 0..runs {
        let run_id = format!("BILL-{r}-20260101000000-{r:06x}");
        let repo = if r % 4 == 3 { other } else { root };
        let shadow = r % 3 == 1;
        let mut lines = vec![
            json!({"type": "record.create", "i": 0, "run_id": run_id, "time": "2026-01-01T00:00:00Z"}),
            json!({"type": "run.start", "i": 1, "run_id": run_id, "workspace": repo,
                   "user": format!("User{}@Example.com", r % 2), "mode": if shadow { "shadow" } else { "enforce" },
                   "time": format!("2026-02-{:02}T00:00:00Z", 1 + (r * 7) % 20),
                   "contract_digest": format!("sha256:{r}"),
                   "contract": {"id": format!("BILL-{r}"), "agent": "claude-code", "request": "fix the export"}}),
        ];
        for c in 0..calls {
            let i = lines.len();
            let time = format!(
                "2026-03-{:02}T{:02}:{:02}:00Z",
                1 + r % 9,
                c / 60 % 24,
                c % 60
            );
            let session = if dice.next(3) == 0 { "s2" } else { "s1" };
            let id = format!("toolu_{r}_{c}");
            let roll = dice.next(20);
            if roll == 0 {
                lines.push(
                    json!({"type": "prompt", "i": i, "session_id": session, "time": time,
                                  "prompt": format!("prompt {r}/{c}")}),
                );
                continue;
            }
            if roll == 1 {
                lines.push(
                    json!({"type": "approval.granted", "i": i, "id": format!("ap{r}"),
                                  "by": "bob@example.com", "time": time}),
                );
                continue;
            }
            let decision = match dice.next(10) {
                0 => "deny",
                1 => "ask",
                2 => "stop",
                _ => "allow",
            };
            let file = format!("{}/{}", repo.display(), dice.pick(FILES));
            let (tool, input, touches) = match dice.next(8) {
                0 | 1 => (
                    "Read",
                    json!({"file_path": file}),
                    vec![("read", file.clone())],
                ),
                2 | 3 => (
                    "Edit",
                    json!({"file_path": file}),
                    vec![("write", file.clone())],
                ),
                4 => {
                    let command = dice.pick(COMMANDS);
                    let mut touches = vec![("execute", command.to_string())];
                    if command.starts_with("cat customer") {
                        touches.push(("read", format!("{}/customer_data/eu1.csv", repo.display())));
                    }
                    ("Bash", json!({"command": command}), touches)
                }
                5 => {
                    let tool = dice.pick(TOOLS);
                    (tool, json!({}), vec![("call", tool.to_string())])
                }
                6 => (
                    "WebFetch",
                    json!({"url": "https://docs.example.com/x"}),
                    vec![("expose", "https://docs.example.com/x".to_string())],
                ),
                _ => (
                    "Write",
                    json!({"file_path": "/etc/customer_data/eu1.csv"}),
                    vec![("write", "/etc/customer_data/eu1.csv".to_string())],
                ),
            };
            let kind = match dice.next(12) {
                0 => "tool.refused_by_agent",
                1 => "tool.unguarded",
                _ => "tool.pre",
            };
            let mut event = json!({"type": kind, "i": i, "session_id": session, "time": time,
                                   "tool": tool, "tool_use_id": id, "input": input});
            if dice.next(5) == 0 {
                event["agent_id"] = json!("a1");
                event["agent_type"] = json!("explorer");
            }
            match kind {
                "tool.pre" => {
                    event["decision"] = json!(decision);
                    event["enforced"] = json!(!shadow);
                    event["mode"] = json!(if shadow { "shadow" } else { "enforce" });
                    event["rules"] = json!([format!("contract.{decision}[0]")]);
                    event["reason"] = json!(format!("{decision}. more text"));
                    event["touches"] = touches
                        .iter()
                        .map(|(k, t)| {
                            json!({"kind": k, "target": t, "decision": decision,
                                             "rules": [format!("contract.{decision}.{k}[0]")]})
                        })
                        .collect();
                    if decision == "ask" {
                        event["approval"] = json!({"group": "billing"});
                    }
                }
                "tool.refused_by_agent" => {
                    event["refused_by"] = json!("Claude Code's permission rules")
                }
                _ => {
                    if dice.next(2) == 0 {
                        event["result"] = json!("ok");
                    }
                }
            }
            if kind == "tool.pre" && decision == "ask" {
                let i = lines.len();
                lines.push(
                    json!({"type": "approval.used", "i": i, "id": format!("ap{r}"),
                                  "tool_use_id": id, "time": time}),
                );
                event["i"] = json!(i + 1);
            }
            lines.push(event);
            if kind == "tool.pre" && (decision == "allow" || shadow) && dice.next(6) != 0 {
                let i = lines.len();
                let result = if dice.next(8) == 0 {
                    "tool.failure"
                } else {
                    "tool.post"
                };
                lines.push(
                    json!({"type": result, "i": i, "tool_use_id": id, "session_id": session}),
                );
            }
        }
        let dir = root.parent().unwrap().join("records/runs").join(&run_id);
        std::fs::create_dir_all(&dir).unwrap();
        logs.push((
            dir.join(mandate_record::LOG_FILE),
            lines.iter().map(|l| format!("{l}\n")).collect(),
        ));
    }
    logs
}

fn append(logs: &[(PathBuf, Vec<String>)], range: std::ops::Range<f64>) {
    use std::io::Write as _;
    for (path, lines) in logs {
        let cut = |at: f64| (lines.len() as f64 * at) as usize;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for line in &lines[cut(range.start)..cut(range.end)] {
            file.write_all(line.as_bytes()).unwrap();
        }
    }
}

/// The whole runs, read from their logs.
fn whole_runs(records: &Path) -> Vec<RunRecord> {
    let mut runs: Vec<RunRecord> = mandate_project::records::list_runs(records)
        .into_iter()
        .map(|dir| RunRecord {
            id: dir.file_name().unwrap().to_string_lossy().to_string(),
            events: mandate_project::records::read_events(&dir).unwrap(),
        })
        .collect();
    let started = |r: &RunRecord| {
        r.start()
            .and_then(|s| s.get("time"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    runs.sort_by(|a, b| started(a).cmp(&started(b)).then_with(|| a.id.cmp(&b.id)));
    runs
}

/// The reference answer: every row of every run, matched one by one, newest first.
fn scan(runs: &[RunRecord], query: &EventQuery, repository: Option<&str>) -> Vec<EventRow> {
    let compiled = query.compile().unwrap();
    let mut rows: Vec<EventRow> = runs
        .iter()
        .flat_map(|run| {
            let mut rows = mandate_search::rows_of_run(&run.id, &run.events);
            // The index names repositories by their real path, as asked.
            for row in &mut rows {
                if let Some(root) = &row.repository
                    && let Ok(real) = std::fs::canonicalize(root)
                {
                    row.repository = Some(real.to_string_lossy().to_string());
                }
            }
            rows
        })
        .filter(|row| compiled.matches(row))
        .filter(|row| repository.is_none() || row.repository.as_deref() == repository)
        .collect();
    mandate_search::sort_rows(&mut rows);
    rows
}

struct Store {
    _dir: tempfile::TempDir,
    root: PathBuf,
    other: PathBuf,
    records: PathBuf,
    index: LocalIndex,
}

/// The store, indexed in two catch-ups (results of the first half's calls arrive in the
/// second).
fn indexed_store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(dir.path()).unwrap();
    let (root, other) = (base.join("repo"), base.join("other"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let records = base.join("records");
    let logs = store(&root, &other, 8, 400);
    let mut index = LocalIndex::open(&records).unwrap();
    append(&logs, 0.0..0.5);
    index.catch_up(&records).unwrap();
    append(&logs, 0.5..1.0);
    index.catch_up(&records).unwrap();
    Store {
        _dir: dir,
        root,
        other,
        records,
        index,
    }
}

fn areas(root: &Path) -> Vec<String> {
    let mut areas: Vec<String> = [
        "customer_data/**",
        "customer_data",
        "customer_data/*",
        "customer_data/**/eu1*.csv",
        "**/eu1*.csv",
        "**/eu1.csv",
        "deploy/**",
        "deploy/*.yaml",
        "{deploy,customer_data}/**",
        "src/module1*/**",
        "**/*.csv",
        "**",
        "mcp__slack__*",
        "mcp__*",
        "git push*",
        "customer_data/run.sh*",
        "https://docs.*",
        "/etc/**",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    areas.push(format!("{}/customer_data/**", root.display()));
    areas.push(format!("{}/**/eu1*.csv", root.display()));
    areas
}

fn queries(root: &Path) -> Vec<EventQuery> {
    let mut queries = Vec::new();
    for area in areas(root) {
        queries.push(EventQuery {
            path: Some(area.clone()),
            ..EventQuery::default()
        });
        queries.push(EventQuery {
            path: Some(area.clone()),
            decision: Some("deny".into()),
            since: Some("2026-03-04".into()),
            ..EventQuery::default()
        });
    }
    for tool in ["mcp__slack__*", "mcp__slack*", "Edit", "*Fetch"] {
        queries.push(EventQuery {
            tool: Some(tool.into()),
            ..EventQuery::default()
        });
    }
    queries.push(EventQuery {
        command: Some("git push".into()),
        user: Some("user1@example.com".into()),
        ..EventQuery::default()
    });
    queries
}

/// The same rows in the same order, or which ones differ.
fn assert_same(got: &[EventRow], expected: &[EventRow], what: &str) {
    if got == expected {
        return;
    }
    let key = |r: &EventRow| format!("{} {} {} {} {}", r.run, r.idx, r.n, r.kind, r.target);
    let missing: Vec<String> = expected
        .iter()
        .filter(|r| !got.contains(r))
        .map(key)
        .collect();
    let extra: Vec<String> = got
        .iter()
        .filter(|r| !expected.contains(r))
        .map(key)
        .collect();
    panic!(
        "{what}: {} rows, expected {}; missing {missing:#?}; extra {extra:#?}",
        got.len(),
        expected.len()
    );
}

#[test]
fn the_index_answers_every_question_as_reading_every_log_does() {
    let store = indexed_store();
    let runs = whole_runs(&store.records);
    let other = store.other.display().to_string();
    for query in queries(&store.root) {
        for repository in [None, Some(other.as_str())] {
            let expected = scan(&runs, &query, repository);
            let (all, more) = store.index.find(&query, repository, 0, usize::MAX).unwrap();
            assert!(!more);
            assert_same(&all, &expected, &format!("{query:?} in {repository:?}"));
            // And by walking the table, as a page of a broad area does.
            let (walked, _) = store
                .index
                .find_narrowed(&query, repository, 0, usize::MAX, None)
                .unwrap();
            assert_same(&walked, &expected, &format!("{query:?} walked"));
            // A page: the same rows, cut the same way.
            let (page, more) = store.index.find(&query, repository, 3, 5).unwrap();
            let want: Vec<EventRow> = expected.iter().skip(3).take(5).cloned().collect();
            assert_eq!(page, want, "page of {query:?}");
            assert_eq!(more, expected.len() > 8, "more of {query:?}");
        }
    }
    // Some questions must find something, or the comparison proves little.
    let hits = |area: &str| {
        scan(
            &runs,
            &EventQuery {
                path: Some(area.into()),
                ..EventQuery::default()
            },
            None,
        )
        .len()
    };
    for area in ["customer_data", "**/eu1*.csv", "mcp__slack__*", "deploy/**"] {
        assert!(hits(area) > 0, "`{area}` finds nothing in the test store");
    }
}

#[test]
fn why_from_the_index_is_why_over_whole_runs() {
    let store = indexed_store();
    let runs = whole_runs(&store.records);
    let written: BTreeSet<String> = runs
        .iter()
        .flat_map(|run| mandate_search::rows_of_run(&run.id, &run.events))
        .filter(|row| row.kind == "write")
        .map(|row| row.target)
        .collect();
    assert!(written.len() > 5, "{written:?}");
    let mut compared = 0;
    let mut seen = (false, false, false);
    for target in written {
        let target = Path::new(&target);
        let expected = why(&runs, target);
        let query = EventQuery {
            file: Some(target.display().to_string()),
            kind: Some("write".into()),
            ..EventQuery::default()
        };
        let (rows, _) = store.index.find(&query, None, 0, usize::MAX).unwrap();
        let got = why_from_index(&store.index, &store.records.join("runs"), target, &rows).unwrap();
        let json = |report: &crate::incident::WhyReport| {
            serde_json::to_value((&report.changes, &report.attempts)).unwrap()
        };
        assert_eq!(json(&got), json(&expected), "why {}", target.display());
        compared += expected.changes.len() + expected.attempts.len();
        for change in expected.changes.iter().chain(&expected.attempts) {
            seen.0 |= change.prompt.is_some();
            seen.1 |= !change.context.is_empty();
            seen.2 |= change
                .approvals
                .iter()
                .any(|a| a["type"] == "approval.used");
        }
    }
    assert!(compared > 50, "only {compared} changes compared");
    // The cases `why` links must occur: prompts, context, approvals a call used.
    assert_eq!(seen, (true, true, true), "prompt, context, approval used");
}

#[test]
fn the_parity_check_catches_a_range_one_slash_too_narrow() {
    let store = indexed_store();
    let runs = whole_runs(&store.records);
    let query = EventQuery {
        path: Some("customer_data/**".into()),
        ..EventQuery::default()
    };
    let expected = scan(&runs, &query, None);
    let right = mandate_search::area_ranges("customer_data/**").unwrap();
    let (rows, _) = store
        .index
        .find_narrowed(&query, None, 0, usize::MAX, Some(&right))
        .unwrap();
    assert_eq!(rows, expected);
    // `customer_data/` leaves out the folder itself (`ls customer_data/`, a Read of it),
    // which `customer_data/**` matches.
    let wrong = AreaRanges {
        paths: vec![TextRange::starting_with("customer_data/")],
        ..right
    };
    let (rows, _) = store
        .index
        .find_narrowed(&query, None, 0, usize::MAX, Some(&wrong))
        .unwrap();
    assert_ne!(
        rows, expected,
        "a range that loses rows must not go unnoticed"
    );
    assert!(rows.len() < expected.len());
}
