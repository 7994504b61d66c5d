//! The review packet: what the reviewer decides on, derived from the log's events.
//!
//! Every item says where it comes from: `witnessed` when the recorder saw it happen in
//! a hook event (a tool call, a decision, a test run, an approval, a review), `claimed`
//! when the agent only stated it through `mandate evidence …` (assumptions, risks, test
//! gaps, the rollback note). Each item lists the log entries it rests on, so any line
//! of the packet can be checked against the verified record.
//!
//! `unguarded_calls` lists tool calls that ran with no prior decision: a `tool.post`
//! whose `tool_use_id` has no earlier `tool.pre`, or whose `tool.pre` was an enforced
//! deny, or a `tool.unguarded` found in the agent's transcript (a call no hook saw).
//! Either means a layer of enforcement did not hold, so the Markdown and HTML packets
//! open with them. Calls the agent refused itself before any hook (its permission rules,
//! its input validation: `tool.refused_by_agent`) are denied actions like the hook's.

mod render;

pub use render::{inline_markdown_html, render_html, render_markdown};

use crate::log::Entry;
use crate::verify::VerifyReport;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// Where an item's knowledge comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// Seen by the recorder in hook events.
    Witnessed,
    /// Stated by the agent (`mandate evidence …`).
    Claimed,
}

/// One line of the packet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// Witnessed or claimed.
    pub basis: Basis,
    /// The log entries this item rests on.
    pub entries: Vec<u64>,
    /// A one-line summary for people.
    pub text: String,
    /// The structured facts.
    pub detail: Value,
    /// A change to show with the item (an approval's diff), as a unified diff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// The verification status shown at the top of the packet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// Did the record verify?
    pub ok: bool,
    /// One line: "ok: …" or "FAILED: …".
    pub summary: String,
    /// Entries covered by a signed checkpoint.
    pub sealed: u64,
    /// Entries after the latest checkpoint.
    pub unsealed: u64,
}

/// How the run ended, from `run.*` and `stop.gate` events.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunStatus {
    /// `running`, `finished`, `incomplete` or `stopped`.
    pub state: String,
    /// Required evidence still missing at finish (or at the last stop gate).
    pub missing_evidence: Vec<String>,
    /// Mode of the run (enforce, shadow, record).
    pub mode: Option<String>,
    /// Notable record events: recoveries, stop gates, kill switches.
    pub notes: Vec<Item>,
}

/// What a reviewer reads first: how the run ended and what needs their attention.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// `running`, `finished`, `incomplete` or `stopped`.
    pub status: String,
    /// Mode of the run (enforce, shadow, record).
    pub mode: Option<String>,
    /// The stop condition that halted the run, when one fired: "rule: reason".
    pub stop: Option<String>,
    /// The last test run: what ran and how it went.
    pub last_test: Option<String>,
    /// The last test run's result (`passed`, `failed`, …), when one is on record.
    pub last_test_result: Option<String>,
    /// Approval requests no reviewer has decided yet.
    pub approvals_pending: u64,
    /// Approvals granted by a reviewer.
    pub approvals_granted: u64,
    /// Approvals refused by a reviewer.
    pub approvals_denied: u64,
    /// Calls let through by a granted approval.
    pub approvals_used: u64,
    /// Calls refused (by mandate or by the agent itself).
    pub refusals: u64,
    /// Calls shadow mode would have refused and let through.
    pub would_refuse: u64,
    /// Calls that ran with no decision of mandate that let them.
    pub unguarded_calls: u64,
    /// Required evidence not on record.
    pub evidence_missing: Vec<String>,
    /// Whether `evidence_missing` was decided by the run (finish, stop gate) or read from
    /// the record so far (a run still open).
    pub evidence_checked_at: String,
    /// Files the run's calls changed.
    pub files_changed: u64,
}

/// One changed file as git shows it against the run's base commit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileChange {
    /// Repository-relative path.
    pub path: String,
    /// `modified`, `added`, `deleted`, or why no diff is shown (`withheld`, `unchanged`).
    pub status: String,
    /// The unified diff, redacted as the record is; empty when none is shown.
    pub diff: String,
    /// The entries of the calls that wrote the file.
    pub entries: Vec<u64>,
}

/// The diffs of the files the run changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    /// The commit the run started from (`git rev-parse HEAD` at `mandate start`).
    pub base_commit: Option<String>,
    /// Every file the run's calls changed, with its diff.
    pub files: Vec<FileChange>,
    /// Files git shows changed since the base commit that no call of the run wrote.
    pub outside_run: Vec<String>,
    /// Where the diffs come from: a `run.changes` entry, or git when the packet was made.
    pub source: String,
    /// The `run.changes` entry, when recorded.
    pub entries: Vec<u64>,
}

impl Changes {
    /// Read a `run.changes` event (or the same shape computed live).
    pub fn from_event(v: &Value, entries: Vec<u64>, source: String) -> Changes {
        let files = v
            .get("files")
            .and_then(Value::as_array)
            .map(|files| {
                files
                    .iter()
                    .map(|f| FileChange {
                        path: s(f, "path").to_owned(),
                        status: s(f, "status").to_owned(),
                        diff: s(f, "diff").to_owned(),
                        entries: f
                            .get("entries")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(Value::as_u64).collect())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Changes {
            base_commit: v
                .get("base_commit")
                .and_then(Value::as_str)
                .map(str::to_owned),
            files,
            outside_run: strings(v.get("outside_run")),
            source,
            entries,
        }
    }
}

/// The review packet, keys as in DESIGN.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewPacket {
    /// The run id from the genesis entry.
    pub run_id: Option<String>,
    /// The repository the run worked in (absolute); every path below is relative to it.
    pub repository: Option<String>,
    /// The commit the run started from.
    pub base_commit: Option<String>,
    /// What the reviewer reads first.
    pub summary: Summary,
    /// The diff of every file the run changed (absent when the record holds none and
    /// nobody asked git).
    pub changes: Option<Changes>,
    /// Verification status (absent when the packet was built without verifying).
    pub verification: Option<Verification>,
    /// How the run ended.
    pub status: RunStatus,
    /// The task as the contract states it.
    pub task_request: Vec<Item>,
    /// Who delegated the task.
    pub delegated_by: Vec<Item>,
    /// The agent identity, sessions, models and subagents.
    pub agent_identity: Vec<Item>,
    /// The contract's allow and block lists.
    pub permissions: Vec<Item>,
    /// Files read by calls that ran.
    pub files_inspected: Vec<Item>,
    /// Files written by calls that ran.
    pub files_changed: Vec<Item>,
    /// Tools called, with counts.
    pub tools_used: Vec<Item>,
    /// MCP servers called.
    pub mcp_servers_used: Vec<Item>,
    /// Shell commands that ran.
    pub commands_run: Vec<Item>,
    /// Calls denied or stopped (and shadow-mode would-denies).
    pub denied_actions: Vec<Item>,
    /// Approval requests and their outcome.
    pub approvals: Vec<Item>,
    /// Test runs and their parsed counts.
    pub tests: Vec<Item>,
    /// Test gaps stated by the agent.
    pub test_gaps: Vec<Item>,
    /// Assumptions stated by the agent.
    pub assumptions: Vec<Item>,
    /// Residual risks stated by the agent.
    pub residual_risks: Vec<Item>,
    /// The rollback note, every version.
    pub rollback_note: Vec<Item>,
    /// The reviewer's decisions.
    pub reviewer_decision: Vec<Item>,
    /// Calls that ran without a prior allow decision.
    pub unguarded_calls: Vec<Item>,
    /// One line per entry (kind, time, what), for the HTML packet's entry links.
    #[serde(skip)]
    pub index: BTreeMap<u64, String>,
}

/// The packet's keys in display order, with their titles.
pub const KEYS: &[(&str, &str)] = &[
    ("task_request", "Task request"),
    ("delegated_by", "Delegated by"),
    ("agent_identity", "Agent identity"),
    ("permissions", "Permissions"),
    ("files_inspected", "Files inspected"),
    ("files_changed", "Files changed"),
    ("tools_used", "Tools used"),
    ("mcp_servers_used", "MCP servers used"),
    ("commands_run", "Commands run"),
    ("denied_actions", "Denied actions"),
    ("approvals", "Approvals"),
    ("tests", "Tests"),
    ("test_gaps", "Test gaps"),
    ("assumptions", "Assumptions"),
    ("residual_risks", "Residual risks"),
    ("rollback_note", "Rollback note"),
    ("reviewer_decision", "Reviewer decision"),
    ("unguarded_calls", "Unguarded calls"),
];

impl ReviewPacket {
    /// The items under one of [`KEYS`].
    pub fn section(&self, key: &str) -> &[Item] {
        match key {
            "task_request" => &self.task_request,
            "delegated_by" => &self.delegated_by,
            "agent_identity" => &self.agent_identity,
            "permissions" => &self.permissions,
            "files_inspected" => &self.files_inspected,
            "files_changed" => &self.files_changed,
            "tools_used" => &self.tools_used,
            "mcp_servers_used" => &self.mcp_servers_used,
            "commands_run" => &self.commands_run,
            "denied_actions" => &self.denied_actions,
            "approvals" => &self.approvals,
            "tests" => &self.tests,
            "test_gaps" => &self.test_gaps,
            "assumptions" => &self.assumptions,
            "residual_risks" => &self.residual_risks,
            "rollback_note" => &self.rollback_note,
            "reviewer_decision" => &self.reviewer_decision,
            "unguarded_calls" => &self.unguarded_calls,
            _ => &[],
        }
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn witnessed(i: u64, text: String, detail: Value) -> Item {
    Item {
        basis: Basis::Witnessed,
        entries: vec![i],
        text,
        detail,
        diff: None,
    }
}

fn claimed(i: u64, text: String, detail: Value) -> Item {
    Item {
        basis: Basis::Claimed,
        entries: vec![i],
        text,
        detail,
        diff: None,
    }
}

struct Pre {
    input: Value,
    decision: String,
    enforced: bool,
    touches: Vec<(String, String)>,
}

#[derive(Default)]
struct Aggregate {
    entries: Vec<u64>,
    tools: Vec<String>,
    detail: Value,
}

/// Build the packet from a run's entries; pass the verification report to include it.
pub fn build(entries: &[Entry], verification: Option<&VerifyReport>) -> ReviewPacket {
    let mut p = ReviewPacket {
        run_id: None,
        // Paths are shown relative to the repository the run started in.
        repository: entries
            .iter()
            .find(|e| e.kind() == "run.start")
            .and_then(|e| e.value.get("workspace"))
            .and_then(Value::as_str)
            .map(|w| w.trim_end_matches('/').to_owned()),
        base_commit: None,
        summary: Summary::default(),
        changes: None,
        verification: verification.map(|r| Verification {
            ok: r.ok,
            summary: r.to_string(),
            sealed: r.sealed,
            unsealed: r.unsealed,
        }),
        status: RunStatus {
            state: "running".into(),
            ..RunStatus::default()
        },
        task_request: Vec::new(),
        delegated_by: Vec::new(),
        agent_identity: Vec::new(),
        permissions: Vec::new(),
        files_inspected: Vec::new(),
        files_changed: Vec::new(),
        tools_used: Vec::new(),
        mcp_servers_used: Vec::new(),
        commands_run: Vec::new(),
        denied_actions: Vec::new(),
        approvals: Vec::new(),
        tests: Vec::new(),
        test_gaps: Vec::new(),
        assumptions: Vec::new(),
        residual_risks: Vec::new(),
        rollback_note: Vec::new(),
        reviewer_decision: Vec::new(),
        unguarded_calls: Vec::new(),
        index: BTreeMap::new(),
    };
    let mut pres: HashMap<String, Pre> = HashMap::new();
    let mut inspected: BTreeMap<String, Aggregate> = BTreeMap::new();
    let mut changed: BTreeMap<String, Aggregate> = BTreeMap::new();
    let mut tools: BTreeMap<String, (Vec<u64>, u64, u64, u64)> = BTreeMap::new(); // entries, ran, denied, failed
    let mut mcp: BTreeMap<String, (Vec<u64>, Vec<String>)> = BTreeMap::new();
    // Approval ids requested, and those a reviewer decided.
    let mut requested: Vec<String> = Vec::new();
    // Calls refused by the hook, and those of them held for a reviewer (not refusals).
    let mut refused_ids: Vec<String> = Vec::new();
    let mut held_ids: Vec<String> = Vec::new();
    let mut decided: Vec<String> = Vec::new();
    let mut evidence_on_record: Vec<&str> = Vec::new();
    let mut evidence_required: Vec<String> = Vec::new();
    let mut evidence_decided = false;
    let root = p.repository.clone();
    let root = root.as_deref();

    for e in entries {
        let v = &e.value;
        let i = e.index;
        p.index.insert(i, index_line(e.kind(), v, root));
        match e.kind() {
            "record.create" => p.run_id = Some(s(v, "run_id").to_owned()),
            "record.recovery" => p.status.notes.push(witnessed(
                i,
                format!("the recorder recovered a cut-off append ({} bytes discarded)", v.get("discarded_bytes").cloned().unwrap_or(Value::Null)),
                v.clone(),
            )),
            "run.start" => {
                run_start(&mut p, i, v);
                p.base_commit = v.get("base_commit").and_then(Value::as_str).map(str::to_owned);
                evidence_required = strings(v.pointer("/contract/evidence_required"));
            }
            "run.changes" => {
                p.changes = Some(Changes::from_event(
                    v,
                    vec![i],
                    format!("recorded at the end of the run (entry {i})"),
                ));
            }
            "session.start" => p.agent_identity.push(witnessed(
                i,
                format!(
                    "{}session {} started ({}{})",
                    // The agent that ran the session, as its hook reported it.
                    v.get("agent")
                        .and_then(Value::as_str)
                        .map(|agent| match v.get("agent_version").and_then(Value::as_str) {
                            Some(version) => format!("{agent} {version}: "),
                            None => format!("{agent}: "),
                        })
                        .unwrap_or_default(),
                    s(v, "session_id"),
                    s(v, "source"),
                    v.get("model").and_then(Value::as_str).map(|m| format!(", model {m}")).unwrap_or_default()
                ),
                json!({"session_id": v.get("session_id"), "model": v.get("model"), "source": v.get("source"), "agent": v.get("agent"), "agent_version": v.get("agent_version")}),
            )),
            "subagent.start" => p.agent_identity.push(witnessed(
                i,
                format!("subagent {} ({}) started", s(v, "agent_id"), s(v, "agent_type")),
                json!({"agent_id": v.get("agent_id"), "agent_type": v.get("agent_type")}),
            )),
            "tool.pre" => {
                let decision = s(v, "decision").to_owned();
                let enforced = v.get("enforced").and_then(Value::as_bool).unwrap_or(true);
                let tool = s(v, "tool");
                let touches: Vec<(String, String)> = v
                    .get("touches")
                    .and_then(Value::as_array)
                    .map(|ts| {
                        ts.iter()
                            .map(|t| (s(t, "kind").to_owned(), s(t, "target").to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                if matches!(decision.as_str(), "deny" | "stop") {
                    let slot = tools.entry(tool.to_owned()).or_default();
                    slot.0.push(i);
                    slot.2 += 1;
                    if enforced {
                        refused_ids.push(s(v, "tool_use_id").to_owned());
                    } else {
                        p.summary.would_refuse += 1;
                    }
                    let shadow = if enforced { "" } else { " (shadow mode: would deny, allowed)" };
                    p.denied_actions.push(witnessed(
                        i,
                        format!(
                            "{decision}: {tool} {}{shadow}: {} [{}]",
                            call_summary(root, tool, v.get("input")),
                            s(v, "reason"),
                            rule_list(v)
                        ),
                        json!({"tool_use_id": v.get("tool_use_id"), "tool": tool, "decision": decision,
                               "rules": v.get("rules"), "reason": v.get("reason"), "enforced": enforced,
                               "touches": v.get("touches")}),
                    ));
                }
                if let Some(id) = v.get("tool_use_id").and_then(Value::as_str) {
                    pres.insert(id.to_owned(), Pre { input: v.get("input").cloned().unwrap_or(Value::Null), decision, enforced, touches });
                }
            }
            "tool.permission_request" => {
                if matches!(s(v, "decision"), "deny" | "stop") {
                    p.summary.refusals += 1;
                    p.denied_actions.push(witnessed(
                        i,
                        format!("permission request denied: {} {}: {}", s(v, "tool"), call_summary(root, s(v, "tool"), v.get("input")), s(v, "reason")),
                        v.clone(),
                    ));
                }
            }
            "tool.post" => tool_post(&mut p, i, v, &pres, &mut inspected, &mut changed, &mut tools, &mut mcp),
            "tool.refused_by_agent" => {
                // Refused before (or without) mandate's hook: by the agent's own
                // permission rules or input validation, as its transcript tells it.
                let tool = s(v, "tool");
                let slot = tools.entry(tool.to_owned()).or_default();
                slot.0.push(i);
                slot.2 += 1;
                p.summary.refusals += 1;
                let after = match s(v, "hook_decision") {
                    "" => String::new(),
                    d => format!(" after the hook's {d}"),
                };
                p.denied_actions.push(witnessed(
                    i,
                    format!(
                        "refused by {}{after}: {tool} {}: {}",
                        s(v, "refused_by"),
                        call_summary(root, tool, v.get("input")),
                        first_line(s(v, "reason"))
                    ),
                    json!({"tool_use_id": v.get("tool_use_id"), "tool": tool, "decision": "deny",
                           "by": v.get("by"), "refused_by": v.get("refused_by"), "reason": v.get("reason"),
                           "rule_source": v.get("rule_source"), "touches": v.get("touches"),
                           "agent_id": v.get("agent_id"), "source": "agent transcript"}),
                ));
            }
            "tool.unguarded" => tool_unguarded(&mut p, i, v, &mut inspected, &mut changed, &mut tools),
            "transcript.not_understood" | "transcript.unreadable" => p.status.notes.push(witnessed(
                i,
                format!(
                    "the agent's transcript `{}` was not understood{}: {} (calls it holds may be missing from this record)",
                    s(v, "source"),
                    v.get("lines").map(|n| format!(" ({n} lines)")).unwrap_or_default(),
                    s(v, "why")
                ),
                v.clone(),
            )),
            "policy.changed" => p.status.notes.push(witnessed(
                i,
                format!(
                    "the {} changed mid-run: decisions from entry {i} on were judged under digest {} (before: {})",
                    match s(v, "which") {
                        "contract" => "contract snapshot",
                        "policy" => "repository policy",
                        _ => "organisation policy",
                    },
                    s(v, "to").get(..12).unwrap_or(s(v, "to")),
                    s(v, "from").get(..12).unwrap_or(s(v, "from"))
                ),
                v.clone(),
            )),
            "record.gap" => p.status.notes.push(witnessed(
                i,
                format!(
                    "RECORD GAP: {} event(s) could not be recorded ({}): {}",
                    v.get("count").cloned().unwrap_or(json!(1)),
                    strings(v.get("events")).join(", "),
                    s(v, "error")
                ),
                v.clone(),
            )),
            "tool.failure" => {
                let tool = s(v, "tool");
                let slot = tools.entry(tool.to_owned()).or_default();
                slot.0.push(i);
                slot.3 += 1;
                if tool == "Bash" {
                    p.commands_run.push(witnessed(
                        i,
                        format!("`{}` (failed: {})", s(v.get("input").unwrap_or(&Value::Null), "command"), first_line(s(v, "error"))),
                        json!({"tool_use_id": v.get("tool_use_id"), "command": v.pointer("/input/command"), "error": v.get("error")}),
                    ));
                }
            }
            "test.run" => {
                let sum = v.get("summary").cloned().unwrap_or(Value::Null);
                let counts = if sum.is_object() {
                    format!(
                        "{} passed, {} failed, {} skipped ({})",
                        sum.get("passed").cloned().unwrap_or(json!(0)),
                        sum.get("failed").cloned().unwrap_or(json!(0)),
                        sum.get("skipped").cloned().unwrap_or(json!(0)),
                        s(&sum, "runner")
                    )
                } else {
                    "no summary recognised".to_owned()
                };
                let exit = v.get("exit_status").map(|x| format!(", exit status {x}")).unwrap_or_default();
                // How the result was known (mandate_record::test_evidence); older records
                // have no `result`.
                let result = match s(v, "result") {
                    "" => String::new(),
                    result => format!(" — {result} ({})", s(v, "known_by")),
                };
                let failed = v
                    .get("failed_tests")
                    .and_then(Value::as_array)
                    .filter(|names| !names.is_empty())
                    .map(|names| {
                        let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
                        format!("; failed: {}", names.join(", "))
                    })
                    .unwrap_or_default();
                let text = format!("`{}`: {counts}{exit}{result}{failed}", s(v, "command"));
                // Evidence of tests is a passing last run (as the run itself keeps it).
                match s(v, "result") {
                    "passed" => evidence_on_record.push("tests"),
                    "" => {}
                    _ => evidence_on_record.retain(|k| *k != "tests"),
                }
                p.summary.last_test_result = match s(v, "result") {
                    "" => None,
                    result => Some(result.to_owned()),
                };
                p.summary.last_test = Some(format!("`{}`: {counts}{failed} (entry {i})", s(v, "command")));
                p.tests.push(witnessed(i, text, v.clone()));
            }
            "evidence.assumption" => {
                evidence_on_record.push("assumptions");
                p.assumptions.push(claimed(i, s(v, "text").to_owned(), v.clone()));
            }
            "evidence.risk" => {
                evidence_on_record.push("residual_risks");
                p.residual_risks.push(claimed(i, s(v, "text").to_owned(), v.clone()));
            }
            "evidence.test_gap" => {
                evidence_on_record.push("test_gaps");
                p.test_gaps.push(claimed(i, s(v, "text").to_owned(), v.clone()));
            }
            "evidence.rollback" => {
                evidence_on_record.push("rollback_note");
                let revised = if p.rollback_note.is_empty() { "" } else { "REVISED: " };
                p.rollback_note.push(claimed(
                    i,
                    format!(
                        "{revised}change: {}; undo: {}; data risk: {}; trigger: {}; owner: {}; stop before: {}",
                        s(v, "change"), s(v, "undo"), s(v, "data_risk"), s(v, "trigger"), s(v, "owner"), s(v, "stop_before")
                    ),
                    v.clone(),
                ));
            }
            "review" => p.reviewer_decision.push(witnessed(
                i,
                format!("{} by {}: {}", s(v, "decision"), s(v, "reviewer"), s(v, "note")),
                v.clone(),
            )),
            kind @ ("approval.request" | "approval.granted" | "approval.denied" | "approval.used" | "approval.held") => {
                let id = s(v, "id").to_owned();
                held_ids.push(s(v, "tool_use_id").to_owned());
                match kind {
                    "approval.request" => requested.push(id.clone()),
                    "approval.granted" => {
                        p.summary.approvals_granted += 1;
                        decided.push(id.clone());
                    }
                    "approval.denied" => {
                        p.summary.approvals_denied += 1;
                        decided.push(id.clone());
                    }
                    "approval.used" => p.summary.approvals_used += 1,
                    _ => {}
                }
                let input = pres.get(s(v, "tool_use_id")).map(|pre| &pre.input);
                p.approvals.push(approval_item(root, kind, i, v, input));
            }
            "killswitch" => p.status.notes.push(witnessed(
                i,
                format!("kill switch: {} {} by {}: {}", s(v, "action"), s(v, "target"), s(v, "by"), s(v, "reason")),
                v.clone(),
            )),
            "stop.gate" => {
                p.status.missing_evidence = strings(v.get("missing"));
                evidence_decided = true;
                let missing = match strings(v.get("missing")) {
                    m if m.is_empty() => "nothing was missing".to_owned(),
                    m => format!("missing {}", m.join(", ")),
                };
                let attempt = v
                    .get("attempt")
                    .and_then(Value::as_u64)
                    .map(|n| format!(" (attempt {n})"))
                    .unwrap_or_default();
                let what = if v.get("blocked").and_then(Value::as_bool).unwrap_or(false) {
                    "held the agent's stop"
                } else if v.get("stopped").and_then(Value::as_bool).unwrap_or(false) {
                    "let the stopped run end"
                } else {
                    "let the agent stop"
                };
                p.status.notes.push(witnessed(i, format!("stop gate {what}{attempt}: {missing}"), v.clone()));
            }
            "run.stopped" => {
                p.summary.stop = Some(format!("{}: {}", s(v, "rule"), s(v, "reason")));
                p.status.state = status_after(&p.status.state, v).into();
                p.status.notes.push(witnessed(i, format!("run stopped by rule {}: {}", s(v, "rule"), s(v, "reason")), v.clone()));
            }
            "run.finish" => {
                p.status.state = status_after(&p.status.state, v).into();
                p.status.missing_evidence = strings(v.get("missing"));
                evidence_decided = true;
            }
            _ => {}
        }
    }
    p.files_inspected = finish_files(root, inspected);
    p.files_changed = finish_files(root, changed);
    for (tool, (entries, ran, denied, failed)) in tools {
        p.tools_used.push(Item {
            basis: Basis::Witnessed,
            entries,
            text: format!("{tool}: {ran} ran, {denied} denied, {failed} failed"),
            detail: json!({"tool": tool, "ran": ran, "denied": denied, "failed": failed}),
            diff: None,
        });
    }
    for (server, (entries, names)) in mcp {
        p.mcp_servers_used.push(Item {
            basis: Basis::Witnessed,
            entries,
            text: format!("{server}: {}", names.join(", ")),
            detail: json!({"server": server, "tools": names}),
            diff: None,
        });
    }
    p.summary.refusals += refused_ids
        .iter()
        .filter(|id| id.is_empty() || !held_ids.contains(id))
        .count() as u64;
    let pending = requested.iter().filter(|id| !decided.contains(id)).count();
    p.summary.approvals_pending = pending as u64;
    p.summary.status = p.status.state.clone();
    p.summary.mode = p.status.mode.clone();
    p.summary.unguarded_calls = p.unguarded_calls.len() as u64;
    p.summary.files_changed = p.files_changed.len() as u64;
    if evidence_decided {
        p.summary.evidence_missing = p.status.missing_evidence.clone();
        p.summary.evidence_checked_at = "at the end of the run".into();
    } else {
        // An open run: what the record holds so far.
        p.summary.evidence_missing = evidence_required
            .into_iter()
            .filter(|k| !evidence_on_record.contains(&k.as_str()))
            .collect();
        p.summary.evidence_checked_at = "so far (the run is still open)".into();
    }
    p
}

/// One line of the approvals section; a held write carries its diff.
fn approval_item(root: Option<&str>, kind: &str, i: u64, v: &Value, input: Option<&Value>) -> Item {
    let id = s(v, "id");
    let tool = s(v, "tool");
    let text = match kind {
        "approval.request" => {
            let reviewers = strings(v.get("reviewers"));
            let who = if reviewers.is_empty() {
                String::new()
            } else {
                format!(": {}", reviewers.join(", "))
            };
            let reason = match s(v, "reason") {
                "" => String::new(),
                r => format!(" ({})", first_line(r)),
            };
            let call = call_summary(root, tool, input);
            let call = if call.is_empty() {
                tool.to_owned()
            } else {
                format!("{tool} {call}")
            };
            format!(
                "approval {id} requested for {call}{reason}; reviewers {}{who}",
                s(v, "group")
            )
        }
        "approval.granted" | "approval.denied" => {
            let by = match s(v, "by") {
                "" => String::new(),
                b => format!(" by {b}"),
            };
            let note = match s(v, "reason") {
                "" => String::new(),
                r => format!(": {r}"),
            };
            format!(
                "approval {id} {}{by}{note}",
                kind.trim_start_matches("approval.")
            )
        }
        "approval.used" => format!("approval {id} let {tool} run (granted by {})", s(v, "by")),
        _ => format!("{tool} held: approval {id} is {}", s(v, "status")),
    };
    // The reviewer is shown the change itself, not a digest of it.
    let diff = v
        .get("preview")
        .and_then(Value::as_str)
        .filter(|_| matches!(tool, "Write" | "Edit" | "MultiEdit" | "NotebookEdit"))
        .map(|diff| {
            // The file's name in the diff's header, relative like every other path.
            diff.lines()
                .map(|line| match line.split_at_checked(4) {
                    Some((mark @ ("--- " | "+++ "), name)) => {
                        format!("{mark}{}", relative(root, name))
                    }
                    _ => line.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        });
    Item {
        basis: Basis::Witnessed,
        entries: vec![i],
        text,
        detail: v.clone(),
        diff,
    }
}

/// One line per record entry: its kind, time and what it was about.
fn index_line(kind: &str, v: &Value, root: Option<&str>) -> String {
    let tool = s(v, "tool");
    let what = if tool.is_empty() {
        String::new()
    } else {
        let call = call_summary(root, tool, v.get("input"));
        let decision = match s(v, "decision") {
            "" => String::new(),
            d => format!(" → {d}"),
        };
        format!(" {tool} {call}{decision}")
    };
    format!("{kind} {}{what}", s(v, "time"))
}

fn run_start(p: &mut ReviewPacket, i: u64, v: &Value) {
    let c = v.get("contract").cloned().unwrap_or(Value::Null);
    p.status.mode = v.get("mode").and_then(Value::as_str).map(str::to_owned);
    p.task_request.push(witnessed(
        i,
        format!("{}: {}", s(&c, "id"), s(&c, "request")),
        json!({"id": c.get("id"), "request": c.get("request"), "contract_digest": v.get("contract_digest")}),
    ));
    p.delegated_by.push(witnessed(
        i,
        format!(
            "{} (started by {}, OS user {})",
            s(&c, "delegated_by"),
            s(v, "user"),
            s(v, "os_user")
        ),
        json!({"delegated_by": c.get("delegated_by"), "user": v.get("user"), "os_user": v.get("os_user"), "risk_owner": c.get("risk_owner")}),
    ));
    p.agent_identity.push(witnessed(
        i,
        format!("agent `{}` as named by the contract", s(&c, "agent")),
        json!({"agent": c.get("agent")}),
    ));
    let mut text = String::new();
    for (label, key) in [("allow", "allow"), ("block", "block")] {
        if let Some(map) = c.get(key).and_then(Value::as_object) {
            for kind in ["read", "write", "execute", "call", "expose"] {
                let list = strings(map.get(kind));
                if !list.is_empty() {
                    let list: Vec<String> = list.iter().map(|x| format!("`{x}`")).collect();
                    let _ = write!(text, "{label} {kind}: {}; ", list.join(", "));
                }
            }
        }
    }
    p.permissions.push(witnessed(
        i,
        format!("{}mode {}", text, s(v, "mode")),
        json!({"allow": c.get("allow"), "block": c.get("block"), "mode": v.get("mode"),
               "evidence_required": c.get("evidence_required"), "rollback_required_before": c.get("rollback_required_before"),
               "contract_digest": v.get("contract_digest"), "policy_digest": v.get("policy_digest")}),
    ));
}

#[allow(clippy::too_many_arguments)]
fn tool_post(
    p: &mut ReviewPacket,
    i: u64,
    v: &Value,
    pres: &HashMap<String, Pre>,
    inspected: &mut BTreeMap<String, Aggregate>,
    changed: &mut BTreeMap<String, Aggregate>,
    tools: &mut BTreeMap<String, (Vec<u64>, u64, u64, u64)>,
    mcp: &mut BTreeMap<String, (Vec<u64>, Vec<String>)>,
) {
    let tool = s(v, "tool");
    let id = s(v, "tool_use_id");
    let input = v.get("input");
    let pre = pres.get(id);
    let slot = tools.entry(tool.to_owned()).or_default();
    slot.0.push(i);
    slot.1 += 1;
    match pre {
        None => p.unguarded_calls.push(witnessed(
            i,
            format!("{tool} {} ran with no prior decision", call_summary(p.repository.as_deref(), tool, input)),
            json!({"tool_use_id": id, "tool": tool, "input": input, "why": "no tool.pre for this tool_use_id"}),
        )),
        Some(pre) if pre.enforced && matches!(pre.decision.as_str(), "deny" | "stop") => {
            p.unguarded_calls.push(witnessed(
                i,
                format!("{tool} {} ran although it was denied", call_summary(p.repository.as_deref(), tool, input)),
                json!({"tool_use_id": id, "tool": tool, "input": input, "why": "tool.pre decided deny"}),
            ));
        }
        Some(pre) if pre.decision == "ask" => p.approvals.push(witnessed(
            i,
            format!("{tool} {} was asked about and then ran (approved in Claude Code)", call_summary(p.repository.as_deref(), tool, input)),
            json!({"tool_use_id": id, "tool": tool}),
        )),
        Some(_) => {}
    }
    if let Some(rest) = tool.strip_prefix("mcp__") {
        let (server, name) = rest.split_once("__").unwrap_or((rest, ""));
        let slot = mcp.entry(server.to_owned()).or_default();
        slot.0.push(i);
        if !slot.1.iter().any(|n| n == name) {
            slot.1.push(name.to_owned());
        }
    }
    // Touches come from the decision; without one, from the tool's input.
    let touches: Vec<(String, String)> = match pre {
        Some(pre) if !pre.touches.is_empty() => pre.touches.clone(),
        _ => fallback_touches(tool, input),
    };
    let after = after_digests(v);
    for (kind, target) in touches {
        match kind.as_str() {
            "read" => add_file(inspected, &target, i, tool, Value::Null),
            "write" => {
                let digest = after
                    .get(&target)
                    .cloned()
                    .unwrap_or_else(|| written_digest(tool, input));
                add_file(changed, &target, i, tool, digest);
            }
            _ => {}
        }
    }
    if tool == "Bash" {
        let cmd = input
            .and_then(|x| x.get("command"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let exit = v
            .pointer("/response/exit_code")
            .or_else(|| v.pointer("/response/exitCode"));
        let interrupted = v
            .pointer("/response/interrupted")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut text = format!("`{cmd}`");
        if let Some(x) = exit {
            let _ = write!(text, " (exit {x})");
        }
        if interrupted {
            text.push_str(" (interrupted)");
        }
        p.commands_run.push(witnessed(
            i,
            text,
            json!({"tool_use_id": id, "command": cmd, "exit_code": exit, "duration_ms": v.get("duration_ms")}),
        ));
    }
}

/// A call the agent's transcript shows ran with no decision of mandate that let it.
fn tool_unguarded(
    p: &mut ReviewPacket,
    i: u64,
    v: &Value,
    inspected: &mut BTreeMap<String, Aggregate>,
    changed: &mut BTreeMap<String, Aggregate>,
    tools: &mut BTreeMap<String, (Vec<u64>, u64, u64, u64)>,
) {
    let tool = s(v, "tool");
    let input = v.get("input");
    let slot = tools.entry(tool.to_owned()).or_default();
    slot.0.push(i);
    slot.1 += 1;
    p.unguarded_calls.push(witnessed(
        i,
        format!(
            "{tool} {} ran unguarded: {}",
            call_summary(p.repository.as_deref(), tool, input),
            s(v, "explanation")
        ),
        json!({"tool_use_id": v.get("tool_use_id"), "tool": tool, "input": input, "why": v.get("why"),
               "agent_id": v.get("agent_id"), "touches": v.get("touches"), "source": "agent transcript"}),
    ));
    let touches: Vec<(String, String)> = match v.get("touches").and_then(Value::as_array) {
        Some(ts) if !ts.is_empty() => ts
            .iter()
            .map(|t| (s(t, "kind").to_owned(), s(t, "target").to_owned()))
            .collect(),
        _ => fallback_touches(tool, input),
    };
    for (kind, target) in touches {
        match kind.as_str() {
            "read" => add_file(inspected, &target, i, tool, Value::Null),
            "write" => add_file(changed, &target, i, tool, written_digest(tool, input)),
            _ => {}
        }
    }
    if tool == "Bash" {
        let cmd = input
            .and_then(|x| x.get("command"))
            .and_then(Value::as_str)
            .unwrap_or("");
        p.commands_run.push(witnessed(
            i,
            format!("`{cmd}` (unguarded)"),
            json!({"tool_use_id": v.get("tool_use_id"), "command": cmd, "unguarded": true}),
        ));
    }
}

fn fallback_touches(tool: &str, input: Option<&Value>) -> Vec<(String, String)> {
    let Some(input) = input else {
        return Vec::new();
    };
    let path = ["file_path", "notebook_path", "path"]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str));
    match (tool, path) {
        ("Read" | "Glob" | "Grep" | "LS", Some(p)) => vec![("read".into(), p.into())],
        ("Write" | "Edit" | "MultiEdit" | "NotebookEdit", Some(p)) => {
            vec![("write".into(), p.into())]
        }
        _ => Vec::new(),
    }
}

/// `after: [{path, sha256, bytes}]` as written by the hook after a tool ran.
fn after_digests(v: &Value) -> HashMap<String, Value> {
    v.get("after")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|a| {
                    let path = a.get("path")?.as_str()?;
                    Some((
                        path.to_owned(),
                        json!({"sha256": a.get("sha256"), "bytes": a.get("bytes")}),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A Write's `content` digest is the file's digest after the call.
fn written_digest(tool: &str, input: Option<&Value>) -> Value {
    if tool == "Write"
        && let Some(d) = input.and_then(|x| x.get("content"))
        && d.get("sha256").is_some()
    {
        return d.clone();
    }
    Value::Null
}

fn add_file(map: &mut BTreeMap<String, Aggregate>, path: &str, i: u64, tool: &str, digest: Value) {
    let agg = map.entry(path.to_owned()).or_default();
    agg.entries.push(i);
    if !agg.tools.iter().any(|t| t == tool) {
        agg.tools.push(tool.to_owned());
    }
    if !digest.is_null() {
        agg.detail = digest; // the latest digest wins
    }
}

fn finish_files(root: Option<&str>, map: BTreeMap<String, Aggregate>) -> Vec<Item> {
    // Two spellings of one file (absolute and relative) are one line.
    let mut merged: BTreeMap<String, Aggregate> = BTreeMap::new();
    for (path, agg) in map {
        let slot = merged.entry(relative(root, &path).to_owned()).or_default();
        slot.entries.extend(agg.entries);
        for tool in agg.tools {
            if !slot.tools.contains(&tool) {
                slot.tools.push(tool);
            }
        }
        if !agg.detail.is_null() {
            slot.detail = agg.detail;
        }
    }
    merged
        .into_iter()
        .map(|(path, mut agg)| {
            agg.entries.sort_unstable();
            let sha = agg
                .detail
                .get("sha256")
                .and_then(Value::as_str)
                .map(|h| format!(" sha256:{}", h.get(..12).unwrap_or(h)))
                .unwrap_or_default();
            Item {
                basis: Basis::Witnessed,
                text: format!("`{path}` ({}){sha}", agg.tools.join(", ")),
                detail: json!({"path": path, "tools": agg.tools, "digest": agg.detail}),
                entries: agg.entries,
                diff: None,
            }
        })
        .collect()
}

/// `path` relative to the repository when it lies inside it.
pub fn relative<'a>(root: Option<&str>, path: &'a str) -> &'a str {
    match root {
        Some(root) if !root.is_empty() => match path.strip_prefix(root) {
            Some("") => ".",
            Some(rest) => rest.strip_prefix('/').unwrap_or(path),
            None => path,
        },
        _ => path,
    }
}

fn call_summary(root: Option<&str>, tool: &str, input: Option<&Value>) -> String {
    let Some(input) = input else {
        return String::new();
    };
    if tool.starts_with("mcp__") {
        // An MCP call's arguments are its shape: all of them, compact.
        let text = input.to_string();
        return format!("`{}`", bounded(&text, MAX_SUMMARY));
    }
    let field = match tool {
        "Bash" => "command",
        "WebFetch" => "url",
        "WebSearch" => "query",
        "Glob" | "Grep" => "pattern",
        _ => "file_path",
    };
    match input.get(field).and_then(Value::as_str) {
        Some(x) if field == "file_path" => format!("`{}`", relative(root, first_line(x))),
        Some(x) => format!("`{}`", every_line(x)),
        None => String::new(),
    }
}

/// How much of an MCP call's arguments a summary shows.
const MAX_SUMMARY: usize = 2000;

/// All lines of a command on one line, each kept whole: a command after a line break
/// stays visible (`⏎` marks the break).
fn every_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.join(" ⏎ ")
}

fn bounded(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}… ({} characters in all)", s.chars().count())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn rule_list(v: &Value) -> String {
    strings(v.get("rules")).join(", ")
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The packet as pretty JSON.
pub fn render_json(p: &ReviewPacket) -> String {
    serde_json::to_string_pretty(p).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// A run's status after one more of its events: `open` until it is stopped or finished;
/// `run.stopped` makes it "stopped", and a stopped run stays "stopped" when it is later
/// finished (that is what a reviewer must see first); `run.finish` makes an open run
/// "finished", or "incomplete" when evidence was missing. The packet, `mandate record
/// list` and the team server all fold a run's events through this one function, so
/// they never show a run differently.
pub fn status_after<'a>(current: &'a str, event: &Value) -> &'a str {
    let current = if current.is_empty() { "open" } else { current };
    match event.get("type").and_then(Value::as_str) {
        Some("run.stopped") => "stopped",
        Some("run.finish") if current != "stopped" => {
            if event
                .get("complete")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                "finished"
            } else {
                "incomplete"
            }
        }
        _ => current,
    }
}
