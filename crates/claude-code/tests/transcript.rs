#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Real Claude Code transcripts (2.1.328 and 2.1.337, from the billing scenario run
//! through the e2e harness) read by the tolerant reader: every tool use found, and each
//! result told apart: ran, refused by mandate's hook, by Claude Code's own permission
//! rules, by its input validation.

use std::path::{Path, PathBuf};

use mandate_claude_code::transcript::{parse, read_from};
use mandate_run::trail::{RefusedBy, Trail};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/transcripts")
        .join(name)
}

fn refusals(name: &str) -> Vec<(String, Option<RefusedBy>, bool)> {
    let chunk = read_from(&fixture(name), 0).unwrap();
    assert!(
        chunk.not_understood.is_empty(),
        "{name}: {:?}",
        chunk.not_understood
    );
    chunk
        .results
        .into_iter()
        .map(|r| (r.tool_use_id, r.refused_by, r.is_error))
        .collect()
}

fn rule() -> Option<RefusedBy> {
    Some(RefusedBy::PermissionRule(Some("projectSettings".into())))
}

#[test]
fn the_mixed_billing_session_of_both_releases() {
    for version in ["2.1.328", "2.1.337"] {
        let name = format!("{version}-mixed.jsonl");
        let chunk = read_from(&fixture(&name), 0).unwrap();
        let uses: Vec<(&str, &str)> = chunk
            .uses
            .iter()
            .map(|u| (u.id.as_str(), u.tool.as_str()))
            .collect();
        assert_eq!(
            uses,
            vec![
                ("toolu_e2e_main_00", "Read"),
                ("toolu_e2e_main_01", "Read"),
                ("toolu_e2e_main_02", "Read"),
                ("toolu_e2e_main_03", "Bash"),
                ("toolu_e2e_main_04", "Edit"),
                ("toolu_e2e_main_05", "Read"),
                ("toolu_e2e_main_06", "Bash"),
                ("toolu_e2e_main_07", "Agent"),
                ("toolu_e2e_main_08", "Bash"),
            ],
            "{name}"
        );
        let got = refusals(&name);
        let expected = vec![
            ("toolu_e2e_main_00", None, false),
            // .env and customer data: Claude Code's `permissions.deny` rules.
            ("toolu_e2e_main_01", rule(), true),
            ("toolu_e2e_main_02", rule(), true),
            // mandate's hook.
            ("toolu_e2e_main_03", Some(RefusedBy::Hook), true),
            ("toolu_e2e_main_04", Some(RefusedBy::Hook), true),
            // A Read without `file_path`: input validation.
            ("toolu_e2e_main_05", Some(RefusedBy::InputValidation), true),
            ("toolu_e2e_main_06", None, false),
            ("toolu_e2e_main_07", None, false),
            ("toolu_e2e_main_08", None, false),
        ];
        let expected: Vec<(String, Option<RefusedBy>, bool)> = expected
            .into_iter()
            .map(|(id, by, err)| (id.to_string(), by, err))
            .collect();
        assert_eq!(got, expected, "{name}");
        let reason = &chunk.results[1].text;
        assert!(
            reason.contains("denied by your permission settings"),
            "{reason}"
        );
        // The subagent's own transcript.
        let sub = read_from(&fixture(&format!("{version}-mixed-subagent.jsonl")), 0).unwrap();
        assert_eq!(sub.uses.len(), 2, "{version}");
        assert!(sub.uses.iter().all(|u| u.agent_id.is_some()));
        assert_eq!(sub.results[1].refused_by, rule());
    }
}

#[test]
fn an_edit_whose_text_is_not_in_the_file_is_refused_by_input_validation() {
    let got = refusals("2.1.337-validation.jsonl");
    assert_eq!(got[1].1, Some(RefusedBy::InputValidation));
    assert_eq!(got[3].1, Some(RefusedBy::InputValidation));
    assert_eq!(got[5].1, rule());
}

#[test]
fn without_tool_hooks_every_call_is_unguarded_or_refused_by_claude_code() {
    // The PreToolUse/PostToolUse hooks were missing from the settings: nothing is on
    // record for any call, so each one is accounted for from the transcript alone.
    let chunk = read_from(&fixture("2.1.337-no-tool-hooks.jsonl"), 0).unwrap();
    let mut trail = Trail::new("s", "r");
    let found = trail.take_uses(chunk.uses, chunk.results);
    let kinds: Vec<String> = found
        .iter()
        .map(|f| {
            let e = f.event("transcript");
            format!(
                "{} {}",
                e["tool_use_id"].as_str().unwrap(),
                e["type"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "toolu_e2e_main_00 tool.unguarded",
            "toolu_e2e_main_01 tool.refused_by_agent",
            "toolu_e2e_main_02 tool.unguarded",
            "toolu_e2e_main_03 tool.refused_by_agent",
            "toolu_e2e_main_04 tool.unguarded",
            "toolu_e2e_main_05 tool.refused_by_agent",
        ]
    );
}

#[test]
fn read_in_pieces_it_finds_the_same() {
    let path = fixture("2.1.337-mixed.jsonl");
    let bytes = std::fs::read(&path).unwrap();
    let whole = parse(&bytes, 0);
    let mut offset = 0u64;
    let mut uses = Vec::new();
    let mut results = Vec::new();
    // Cut the file at arbitrary places, as a reader racing the writer would see it.
    for cut in (0..bytes.len()).step_by(997).chain([bytes.len()]) {
        let start = usize::try_from(offset).unwrap();
        if cut < start {
            continue;
        }
        let chunk = parse(&bytes[start..cut], offset);
        offset = chunk.next_offset;
        uses.extend(chunk.uses);
        results.extend(chunk.results);
    }
    assert_eq!(offset, bytes.len() as u64);
    assert_eq!(uses, whole.uses);
    assert_eq!(results, whole.results);
}
