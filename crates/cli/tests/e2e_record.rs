#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The run record against the real Claude Code: every tool use the model sent is in the
//! record by its `tool_use_id`, with who refused it and why, whichever layer did: mandate's
//! hook, Claude Code's own permission rules (the `permissions.deny` rules `mandate install`
//! writes, which Claude Code checks before any hook runs), or its input validation. And a
//! call that ran with no hook at all (the hooks missing from the settings, standing in
//! for a Claude Code hook bug) is in the record as unguarded by the end of the session.
//!
//! Ground truth is the model's side: the tool uses the scripted model sent and what it
//! was told about each (`support::model`), not mandate's account of itself.

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use support::billing::Billing;
use support::claude::{Claude, claude_or_skip, sandbox_or_skip};
use support::model::{ModelServer, Script, Step};

fn mandate() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mandate"))
}

fn events(billing: &Billing) -> Vec<Value> {
    let runs = billing.records.join("runs");
    let run = std::fs::read_dir(runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::read_to_string(run.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The record's events about one tool use.
fn about<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["tool_use_id"].as_str() == Some(id))
        .collect()
}

fn kinds(events: &[&Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("").to_string())
        .collect()
}

/// What the model was told about the call with this id.
fn told(server: &ModelServer, id: &str) -> Option<support::model::ToolResult> {
    (0..32).find_map(|i| {
        if ModelServer::main_id(i) == id {
            server.main_result(i)
        } else if ModelServer::sub_id(i) == id {
            server.sub_result(i)
        } else {
            None
        }
    })
}

fn session(billing: &Billing, claude: &std::path::Path, script: Script) -> ModelServer {
    let server = ModelServer::start(script);
    let run = Claude::new(claude, &billing.root, &billing.home, &server.base_url())
        .path_prefix(mandate().parent().unwrap())
        .env("MANDATE_ORG_POLICY", billing.org_policy())
        .run("BILL-142: fix the invoice export bug.");
    if std::env::var("MANDATE_E2E_TRACE").as_deref() == Ok("1") {
        eprintln!("{}\n{}", server.summary(), run.dump());
    }
    assert!(!run.timed_out, "Claude Code timed out:\n{}", run.dump());
    server
}

#[test]
fn every_tool_use_is_in_the_record_with_who_refused_it_and_why() {
    let test = "every_tool_use_is_in_the_record_with_who_refused_it_and_why";
    let Some(claude) = claude_or_skip(test) else {
        return;
    };
    if !sandbox_or_skip(test) {
        return;
    }
    let billing = Billing::new();
    billing.install_and_start(&mandate());
    let abs = |r: &str| billing.path(r).to_string_lossy().into_owned();
    let script = Script {
        main: vec![
            // 0: runs.
            Step::read(abs("billing/export/filter.py")),
            // 1, 2: Claude Code's own `permissions.deny` rules, before any hook.
            Step::read(abs(".env")),
            Step::read(abs("customer_data/eu.csv")),
            // 3: mandate's hook.
            Step::bash("cat customer_data/eu.csv"),
            // 4: Claude Code's input validation (the text is not in the file).
            Step::edit(abs("billing/export/filter.py"), "no such text", "x"),
            // 5: input validation (no `file_path`).
            Step::new("Read", json!({ "path": "customer_data/eu.csv" })),
            // 6: a subagent, whose own calls are 7 (runs) and 8 (permission rule).
            Step::agent("look at the export filter"),
            Step::read(abs("docs/billing/export.md")),
        ],
        subagent: vec![
            Step::read(abs("billing/export/filter.py")),
            Step::read(abs("secrets/prod.key")),
        ],
    };
    let server = session(&billing, &claude, script);
    let events = events(&billing);
    // Every tool use the model sent, main loop and subagent, is in the record.
    let mut sent: Vec<String> = (0..8).map(ModelServer::main_id).collect();
    sent.extend((0..2).map(ModelServer::sub_id));
    for id in &sent {
        assert!(
            told(&server, id).is_some(),
            "the model never saw the result of {id}:\n{}",
            server.summary()
        );
        assert!(
            !about(&events, id).is_empty(),
            "{id} is not in the record at all:\n{}",
            events
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let refused_by_agent = |id: &str, by: &str, reason: &str| {
        let found = about(&events, id);
        let event = found
            .iter()
            .find(|e| e["type"] == "tool.refused_by_agent")
            .unwrap_or_else(|| panic!("{id}: no tool.refused_by_agent in {:?}", kinds(&found)));
        assert_eq!(event["by"], by, "{id}: {event}");
        let told = told(&server, id).unwrap().text;
        assert!(
            event["reason"].as_str().unwrap().contains(reason) && told.contains(reason),
            "{id}: the record says {}, the model was told {told}",
            event["reason"]
        );
        assert!(
            !found.iter().any(|e| e["type"] == "tool.pre"),
            "{id} reached the hook"
        );
    };
    refused_by_agent(
        &ModelServer::main_id(1),
        "permission_rule",
        "denied by your permission settings",
    );
    refused_by_agent(
        &ModelServer::main_id(2),
        "permission_rule",
        "denied by your permission settings",
    );
    refused_by_agent(
        &ModelServer::main_id(4),
        "input_validation",
        "String to replace not found",
    );
    refused_by_agent(&ModelServer::main_id(5), "input_validation", "file_path");
    refused_by_agent(
        &ModelServer::sub_id(1),
        "permission_rule",
        "denied by your permission settings",
    );
    // The hook's own refusal, and the calls that ran, are decisions of the hook.
    let hooked = about(&events, &ModelServer::main_id(3));
    let pre = hooked.iter().find(|e| e["type"] == "tool.pre").unwrap();
    assert_eq!(pre["decision"], "deny");
    for id in [
        ModelServer::main_id(0),
        ModelServer::sub_id(0),
        ModelServer::main_id(7),
    ] {
        let found = about(&events, &id);
        assert_eq!(
            kinds(&found),
            vec!["tool.pre".to_string(), "tool.post".to_string()],
            "{id}"
        );
    }
    assert!(
        !events.iter().any(|e| e["type"] == "tool.unguarded"),
        "nothing ran unguarded here"
    );

    // `touched` finds the refused customer-data reads, whoever refused them.
    let touched = billing.mandate_ok(&mandate(), &["touched", "customer_data/**", "--json"]);
    let touched: Value = serde_json::from_str(&touched).unwrap();
    let hits = touched["touches"].as_array().unwrap();
    let reads: Vec<(&str, &str)> = hits
        .iter()
        .map(|h| (h["kind"].as_str().unwrap(), h["outcome"].as_str().unwrap()))
        .collect();
    assert!(
        hits.iter().any(|h| h["tool"] == "Read"
            && h["outcome"] == "refused"
            && h["decision"] == "refused_by_agent"
            && h["refused_by"]
                .as_str()
                .unwrap()
                .contains("permission rules")),
        "touched misses the Read refused by Claude Code's rules: {reads:?}\n{touched}"
    );
    assert!(
        hits.iter()
            .any(|h| h["tool"] == "Bash" && h["outcome"] == "refused"),
        "touched misses the hook's refusal: {touched}"
    );
    // The packet lists them among the denied actions.
    let packet = billing.mandate_ok(&mandate(), &["record", "show", "--format", "json"]);
    let packet: Value = serde_json::from_str(&packet).unwrap();
    let denied: Vec<&str> = packet["denied_actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["text"].as_str())
        .collect();
    for file in [".env", "customer_data/eu.csv", "secrets/prod.key"] {
        assert!(
            denied.iter().any(|d| d.contains(file)),
            "denied_actions misses {file}: {denied:#?}"
        );
    }
}

#[test]
fn a_call_that_ran_with_no_hook_is_in_the_record_as_unguarded_by_the_end_of_the_session() {
    let test = "a_call_that_ran_with_no_hook_is_unguarded";
    let Some(claude) = claude_or_skip(test) else {
        return;
    };
    if !sandbox_or_skip(test) {
        return;
    }
    let billing = Billing::new();
    billing.install_and_start(&mandate());
    // A Claude Code hook bug, staged: PreToolUse, PermissionRequest and PostToolUse
    // do not run in this session; SessionStart, Stop and SessionEnd still do.
    let mut settings: Value =
        serde_json::from_str(&billing.read(".claude/settings.json").unwrap()).unwrap();
    let hooks = settings["hooks"].as_object_mut().unwrap();
    for event in [
        "PreToolUse",
        "PermissionRequest",
        "PostToolUse",
        "PostToolUseFailure",
    ] {
        hooks.remove(event);
    }
    billing.write(
        ".claude/settings.json",
        &serde_json::to_string_pretty(&settings).unwrap(),
    );
    billing.commit("hooks lost");
    let readiness_before = readiness_check(&billing, "guarded");
    assert_eq!(readiness_before["status"], "pass", "{readiness_before}");
    let abs = |r: &str| billing.path(r).to_string_lossy().into_owned();
    let server = session(
        &billing,
        &claude,
        Script {
            main: vec![
                Step::read(abs("billing/export/filter.py")),
                Step::bash("ls billing/export"),
                Step::read(abs(".env")),
            ],
            subagent: vec![],
        },
    );
    // The calls really ran (the model got their output).
    let listing = server.main_result(1).unwrap();
    assert!(listing.text.contains("filter.py"), "{}", listing.text);
    let events = events(&billing);
    for step in [0, 1] {
        let id = ModelServer::main_id(step);
        let found = about(&events, &id);
        assert_eq!(kinds(&found), vec!["tool.unguarded".to_string()], "{id}");
        assert_eq!(found[0]["why"], "no_decision", "{}", found[0]);
    }
    // The native rule still held for .env: refused by Claude Code, not unguarded.
    let env = about(&events, &ModelServer::main_id(2));
    assert_eq!(kinds(&env), vec!["tool.refused_by_agent".to_string()]);
    // The reconciliation ran by the session's end (Stop / SessionEnd), not later.
    let end = events
        .iter()
        .position(|e| e["type"] == "session.end")
        .expect("a session.end");
    let last_unguarded = events
        .iter()
        .rposition(|e| e["type"] == "tool.unguarded")
        .unwrap();
    assert!(
        last_unguarded < end,
        "recorded only after the session ended"
    );

    let packet = billing.mandate_ok(&mandate(), &["record", "show", "--format", "md"]);
    assert!(
        packet.contains("WARNING: 2 call(s) ran unguarded"),
        "the packet does not open with the unguarded calls:\n{packet}"
    );
    let readiness_after = readiness_check(&billing, "guarded");
    assert_eq!(readiness_after["status"], "fail", "{readiness_after}");
    assert!(
        readiness_after["detail"]
            .as_str()
            .unwrap()
            .contains("2 calls ran unguarded"),
        "{readiness_after}"
    );
    let metrics = billing.mandate_ok(&mandate(), &["metrics", "--format", "json"]);
    let metrics: Value = serde_json::from_str(&metrics).unwrap();
    assert_eq!(metrics["unguarded_calls"], 2, "{metrics}");
    let why = billing.mandate_ok(&mandate(), &["touched", "billing/export/**"]);
    assert!(why.contains("UNGUARDED"), "{why}");
}

fn readiness_check(billing: &Billing, id: &str) -> Value {
    let out = Command::new(mandate())
        .args(["readiness", "--format", "json"])
        .current_dir(&billing.root)
        .env("HOME", &billing.home)
        .env("MANDATE_ORG_POLICY", billing.org_policy())
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "readiness --format json: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no check `{id}` in {report}"))
}
