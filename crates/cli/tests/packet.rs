//! The review packet a reviewer reads (#18 item 4): a summary first, the base commit and
//! the diff of every changed file (from git, redacted as the record is), paths relative to
//! the repository, entry references that link in HTML, no placeholders. The run is made by
//! the real binary in a git repository — `mandate start`, Claude Code hook events through
//! `mandate hook claude-code` with the edits really made on disk, `mandate finish` — and
//! the packet is compared with golden files (`tests/snapshots/packet/`) after the fields
//! that change from run to run are normalised. `MANDATE_UPDATE_SNAPSHOTS=1` rewrites them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod report;

use std::path::{Path, PathBuf};
use std::process::Command;

use report::{Repo, chromium, png_stats, render};
use serde_json::{Value, json};

/// An AWS key in a file the agent edits: the packet's diff must not show it.
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

fn git(root: &Path, args: &[&str]) {
    // Fixed names and dates: the base commit is the same on every machine.
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "Alice")
        .env("GIT_COMMITTER_EMAIL", "alice@example.com")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Claude Code's PreToolUse; when allowed, `effect` runs (the tool's work on disk) and
/// the PostToolUse follows with `response`. Returns the decision.
fn call(
    repo: &Repo,
    id: &str,
    tool: &str,
    input: Value,
    effect: impl FnOnce(),
    response: Value,
) -> String {
    let mut event = json!({
        "session_id": "s1", "transcript_path": "/dev/null", "cwd": repo.root,
        "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": input,
        "tool_use_id": id,
    });
    let answer = repo.hook(event.clone());
    let decision = answer["hookSpecificOutput"]["permissionDecision"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    if decision == "allow" {
        effect();
        event["hook_event_name"] = json!("PostToolUse");
        event["tool_response"] = response;
        repo.hook(event);
    }
    decision
}

/// The billing example under git, one run with reads, a refusal, an edit, a new file, a
/// held dependency change, a test run and the evidence; finished.
fn reviewed_run() -> Repo {
    let repo = Repo::new();
    let root = repo.root.clone();
    std::fs::write(
        root.join("billing/export/filter.py"),
        "import csv\n\n\ndef keep(row):\n    return row.region != 'EU'\n\n\ndef rows(reader):\n    return [r for r in reader if keep(r)]\n",
    )
    .unwrap();
    std::fs::write(
        root.join("billing/export/requirements.txt"),
        "requests==2.32.0\n",
    )
    .unwrap();
    git(&root, &["init", "-q", "-b", "main"]);
    // The policy names the temporary records folder: kept out of the commit so the base
    // commit is the same everywhere.
    std::fs::write(root.join(".git/info/exclude"), "mandate.toml\n.env\n").unwrap();
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "billing export"]);

    repo.ok(&["start", ".mandate/contracts/BILL-142.toml"]);
    repo.hook(
        json!({"session_id": "s1", "transcript_path": "/dev/null", "cwd": root,
        "hook_event_name": "SessionStart", "source": "startup", "model": "claude-test"}),
    );
    repo.prompt(
        "s1",
        "EU invoice rows vanish from the export; fix the filter",
    );
    let ok = json!({"ok": true});
    assert_eq!(
        call(
            &repo,
            "t-read",
            "Read",
            json!({"file_path": root.join("billing/export/filter.py")}),
            || {},
            ok.clone()
        ),
        "allow"
    );
    assert_eq!(
        call(
            &repo,
            "t-cust",
            "Read",
            json!({"file_path": root.join("customer_data/eu.csv")}),
            || {},
            ok.clone()
        ),
        "deny"
    );
    repo.rollback_note();
    let filter = root.join("billing/export/filter.py");
    let edit = json!({"file_path": filter, "old_string": "row.region != 'EU'",
                      "new_string": format!("row.region is not None  # key {AWS_KEY}")});
    assert_eq!(
        call(
            &repo,
            "t-edit",
            "Edit",
            edit,
            || {
                let text = std::fs::read_to_string(&filter).unwrap();
                std::fs::write(
                    &filter,
                    text.replace(
                        "row.region != 'EU'",
                        &format!("row.region is not None  # key {AWS_KEY}"),
                    ),
                )
                .unwrap();
            },
            json!({"filePath": filter})
        ),
        "allow"
    );
    let test_file = root.join("billing/export/test_filter.py");
    let content = "from filter import keep\n\n\ndef test_eu_rows_are_kept():\n    assert keep(type('R', (), {'region': 'EU'}))\n";
    assert_eq!(
        call(
            &repo,
            "t-new",
            "Write",
            json!({"file_path": test_file, "content": content}),
            || {
                std::fs::write(&test_file, content).unwrap();
            },
            json!({"type": "create", "filePath": test_file})
        ),
        "allow"
    );
    // A dependency change needs bob: held, with its diff for the reviewer.
    let held = call(
        &repo,
        "t-deps",
        "Edit",
        json!({"file_path": root.join("billing/export/requirements.txt"),
               "old_string": "requests==2.32.0", "new_string": "requests==2.32.3"}),
        || panic!("a held call does not run"),
        ok.clone(),
    );
    assert_ne!(held, "allow");
    assert_eq!(
        call(
            &repo,
            "t-test",
            "Bash",
            json!({"command": "pytest billing/export/tests -q"}),
            || {},
            json!({"stdout": "....\n4 passed in 0.02s\n", "stderr": "", "interrupted": false})
        ),
        "allow"
    );
    repo.ok(&[
        "evidence",
        "assumption",
        "EU rows carry region `EU`; empty regions are dropped",
    ]);
    repo.ok(&[
        "evidence",
        "risk",
        "rows with an empty region were dropped before and are kept now",
    ]);
    repo.ok(&["finish"]);
    repo
}

/// What changes from run to run, replaced by names.
struct Volatile {
    pairs: Vec<(String, String)>,
}

impl Volatile {
    fn of(repo: &Repo, packet: &Value) -> Volatile {
        let mut pairs = vec![
            (
                packet["run_id"].as_str().unwrap().to_string(),
                "<run>".to_string(),
            ),
            (repo.root.display().to_string(), "<repo>".to_string()),
            (repo.dir.path().display().to_string(), "<tmp>".to_string()),
        ];
        if let Some(os_user) = packet["delegated_by"][0]["detail"]["os_user"].as_str() {
            pairs.push((
                format!("OS user {os_user}"),
                "OS user <os-user>".to_string(),
            ));
        }
        for item in packet["approvals"].as_array().unwrap() {
            if let Some(id) = item["detail"]["id"].as_str() {
                pairs.push((id.to_string(), "<approval>".to_string()));
            }
        }
        // The longest first, so a path is replaced before its prefix.
        pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        Volatile { pairs }
    }

    fn text(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (from, to) in &self.pairs {
            text = text.replace(from, to);
        }
        text
    }

    /// JSON with times, chain hashes and machine-dependent digests blanked.
    fn json(&self, value: &Value) -> String {
        fn walk(v: &mut Value) {
            match v {
                Value::Object(map) => {
                    for (key, value) in map.iter_mut() {
                        if matches!(
                            key.as_str(),
                            "time"
                                | "prev"
                                | "policy_digest"
                                | "org_policy_digest"
                                | "os_user"
                                | "digest"
                                | "input_digest"
                                | "agent_version"
                        ) && !value.is_null()
                        {
                            *value = json!("<volatile>");
                        } else {
                            walk(value);
                        }
                    }
                }
                Value::Array(items) => items.iter_mut().for_each(walk),
                _ => {}
            }
        }
        let mut value: Value = serde_json::from_str(&self.text(&value.to_string())).unwrap();
        walk(&mut value);
        serde_json::to_string_pretty(&value).unwrap() + "\n"
    }
}

/// Compare with the golden file; `MANDATE_UPDATE_SNAPSHOTS=1` writes it instead.
fn snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/packet")
        .join(name);
    if std::env::var("MANDATE_UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}: run with MANDATE_UPDATE_SNAPSHOTS=1 and review it",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        let around = |text: &str| {
            text.lines()
                .skip(first.saturating_sub(2))
                .take(6)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{name} differs from its snapshot at line {}:\n--- expected\n{}\n--- actual\n{}\n\
             (MANDATE_UPDATE_SNAPSHOTS=1 rewrites it after review)",
            first + 1,
            around(&expected),
            around(actual)
        );
    }
}

#[test]
fn the_packet_opens_with_a_summary_and_shows_the_diff_of_every_changed_file() {
    let repo = reviewed_run();
    let packet = repo.json(&["record", "show", "--format", "json"]);
    let md = repo.ok(&["record", "show", "--format", "md"]);
    let volatile = Volatile::of(&repo, &packet);
    snapshot("billing.md", &volatile.text(&md));
    snapshot("billing.json", &volatile.json(&packet));

    // The summary first.
    let summary = &packet["summary"];
    assert_eq!(summary["status"], "finished", "{summary}");
    assert_eq!(summary["last_test_result"], "passed");
    assert_eq!(summary["approvals_pending"], 1);
    assert_eq!(summary["refusals"], 1);
    assert_eq!(summary["unguarded_calls"], 0);
    assert_eq!(summary["evidence_missing"], json!([]));
    let summary_at = md.find("## Summary").expect("a summary");
    let first_section = md.find("## Task request").unwrap();
    assert!(summary_at < first_section);

    // The base commit and the diff of each changed file, from git, redacted.
    let base = packet["base_commit"].as_str().expect("a base commit");
    assert_eq!(base.len(), 40);
    let changes = &packet["changes"];
    let files: Vec<&str> = changes["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["billing/export/filter.py", "billing/export/test_filter.py"]
    );
    assert_eq!(changes["files"][0]["status"], "modified");
    assert_eq!(changes["files"][1]["status"], "added");
    let diff = changes["files"][0]["diff"].as_str().unwrap();
    assert!(diff.contains("-    return row.region != 'EU'"), "{diff}");
    assert!(
        diff.contains("+    return row.region is not None"),
        "{diff}"
    );
    assert!(diff.contains("[REDACTED:"), "{diff}");
    for text in [&md, &packet.to_string()] {
        assert!(!text.contains(AWS_KEY), "the key reached the packet");
    }
    // The requirements file was held, not changed: no diff of it, but the approval shows
    // the change the reviewer is asked about.
    let approval = packet["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["diff"].is_string())
        .expect("the held edit carries its diff");
    assert!(
        approval["diff"]
            .as_str()
            .unwrap()
            .contains("+requests==2.32.3")
    );

    // Repository-relative paths, no placeholders.
    let root = repo.root.display().to_string();
    for key in [
        "files_inspected",
        "files_changed",
        "denied_actions",
        "commands_run",
    ] {
        for item in packet[key].as_array().unwrap() {
            assert!(
                !item["text"].as_str().unwrap().contains(&root),
                "{key}: {item}"
            );
        }
    }
    for placeholder in [
        " null",
        "(null",
        ": null",
        "(entries )",
        "(entry )",
        "attempt ",
        "(unknown)",
    ] {
        assert!(
            !md.contains(placeholder),
            "placeholder {placeholder:?} in:\n{md}"
        );
    }
}

#[test]
fn the_html_packet_renders_in_a_browser_with_diffs_links_and_markdown() {
    let repo = reviewed_run();
    let html = repo.ok(&["record", "show", "--format", "html"]);
    // Markdown in reasons is rendered, and escaped: no backtick shows literally.
    assert!(html.contains("<code>customer_data/eu.csv</code>"), "{html}");
    let text_only: String = {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.split("</style>").nth(1).unwrap().chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    };
    assert!(!text_only.contains('`'), "a literal backtick: {text_only}");
    assert!(!html.contains(AWS_KEY));
    // Every entry link has its anchor on the page.
    let links: Vec<&str> = html
        .split("href=\"#e")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert!(links.len() > 5, "entry references are links: {links:?}");
    for link in &links {
        assert!(
            html.contains(&format!("id=\"e{link}\"")),
            "no anchor for entry {link}"
        );
    }
    for external in ["<script", "src=", "href=\"http", "@import", "url("] {
        assert!(!html.contains(external), "self-contained: {external}");
    }

    let Some(browser) = chromium() else {
        println!("SKIPPED: no Chromium (apt-get install -y chromium)");
        return;
    };
    let work = repo.dir.path().join("browser");
    std::fs::create_dir_all(&work).unwrap();
    let (dom, png) = render(&browser, &html, &work, "packet");
    assert!(
        dom.contains("Summary") && dom.contains("class=\"summary\""),
        "{dom:.300}"
    );
    assert!(
        dom.matches("<pre class=\"diff\">").count() >= 3,
        "two file diffs and the approval's"
    );
    assert!(
        dom.contains("<span class=\"add\">+requests==2.32.3</span>"),
        "the approval shows its change"
    );
    // The diffs drew: added lines on green, removed lines on red.
    let (w, _, colours, green) = png_stats(&png, (0xda, 0xfb, 0xe1));
    assert_eq!(w, 1200);
    assert!(colours > 50, "a blank page has few colours: {colours}");
    assert!(green > 2000, "added lines drew: {green} green pixels");
    let (_, _, _, red) = png_stats(&png, (0xff, 0xeb, 0xe9));
    assert!(red > 500, "removed lines drew: {red} red pixels");
    if let Some(dir) = std::env::var_os("MANDATE_REPORT_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&png, Path::new(&dir).join("packet.png")).unwrap();
    }
}
