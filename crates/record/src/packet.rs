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

/// The review packet, keys as in DESIGN.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewPacket {
    /// The run id from the genesis entry.
    pub run_id: Option<String>,
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
    }
}

fn claimed(i: u64, text: String, detail: Value) -> Item {
    Item {
        basis: Basis::Claimed,
        entries: vec![i],
        text,
        detail,
    }
}

struct Pre {
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
    };
    let mut pres: HashMap<String, Pre> = HashMap::new();
    let mut inspected: BTreeMap<String, Aggregate> = BTreeMap::new();
    let mut changed: BTreeMap<String, Aggregate> = BTreeMap::new();
    let mut tools: BTreeMap<String, (Vec<u64>, u64, u64, u64)> = BTreeMap::new(); // entries, ran, denied, failed
    let mut mcp: BTreeMap<String, (Vec<u64>, Vec<String>)> = BTreeMap::new();

    for e in entries {
        let v = &e.value;
        let i = e.index;
        match e.kind() {
            "record.create" => p.run_id = Some(s(v, "run_id").to_owned()),
            "record.recovery" => p.status.notes.push(witnessed(
                i,
                format!("the recorder recovered a cut-off append ({} bytes discarded)", v.get("discarded_bytes").cloned().unwrap_or(Value::Null)),
                v.clone(),
            )),
            "run.start" => run_start(&mut p, i, v),
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
                    tools.entry(tool.to_owned()).or_default().2 += 1;
                    let shadow = if enforced { "" } else { " (shadow mode: would deny, allowed)" };
                    p.denied_actions.push(witnessed(
                        i,
                        format!(
                            "{decision}: {tool} {}{shadow}: {} [{}]",
                            call_summary(tool, v.get("input")),
                            s(v, "reason"),
                            rule_list(v)
                        ),
                        json!({"tool_use_id": v.get("tool_use_id"), "tool": tool, "decision": decision,
                               "rules": v.get("rules"), "reason": v.get("reason"), "enforced": enforced,
                               "touches": v.get("touches")}),
                    ));
                }
                if let Some(id) = v.get("tool_use_id").and_then(Value::as_str) {
                    pres.insert(id.to_owned(), Pre { decision, enforced, touches });
                }
            }
            "tool.permission_request" => {
                if matches!(s(v, "decision"), "deny" | "stop") {
                    p.denied_actions.push(witnessed(
                        i,
                        format!("permission request denied: {} {}: {}", s(v, "tool"), call_summary(s(v, "tool"), v.get("input")), s(v, "reason")),
                        v.clone(),
                    ));
                }
            }
            "tool.post" => tool_post(&mut p, i, v, &pres, &mut inspected, &mut changed, &mut tools, &mut mcp),
            "tool.refused_by_agent" => {
                // Refused before (or without) mandate's hook: by the agent's own
                // permission rules or input validation, as its transcript tells it.
                let tool = s(v, "tool");
                tools.entry(tool.to_owned()).or_default().2 += 1;
                let after = match s(v, "hook_decision") {
                    "" => String::new(),
                    d => format!(" after the hook's {d}"),
                };
                p.denied_actions.push(witnessed(
                    i,
                    format!(
                        "refused by {}{after}: {tool} {}: {}",
                        s(v, "refused_by"),
                        call_summary(tool, v.get("input")),
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
                tools.entry(tool.to_owned()).or_default().3 += 1;
                if tool == "Bash" {
                    p.commands_run.push(witnessed(
                        i,
                        format!("{} (failed: {})", s(v.get("input").unwrap_or(&Value::Null), "command"), first_line(s(v, "error"))),
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
                p.tests.push(witnessed(i, format!("`{}`: {counts}{exit}{result}{failed}", s(v, "command")), v.clone()));
            }
            "evidence.assumption" => p.assumptions.push(claimed(i, s(v, "text").to_owned(), v.clone())),
            "evidence.risk" => p.residual_risks.push(claimed(i, s(v, "text").to_owned(), v.clone())),
            "evidence.test_gap" => p.test_gaps.push(claimed(i, s(v, "text").to_owned(), v.clone())),
            "evidence.rollback" => {
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
            "approval.request" | "approval.granted" | "approval.denied" => {
                let what = e.kind().trim_start_matches("approval.");
                let by = v.get("by").and_then(Value::as_str).map(|b| format!(" by {b}")).unwrap_or_default();
                p.approvals.push(witnessed(i, format!("approval {} {what}{by}", s(v, "id")), v.clone()));
            }
            "killswitch" => p.status.notes.push(witnessed(
                i,
                format!("kill switch: {} {} by {}: {}", s(v, "action"), s(v, "target"), s(v, "by"), s(v, "reason")),
                v.clone(),
            )),
            "stop.gate" => {
                p.status.missing_evidence = strings(v.get("missing"));
                p.status.notes.push(witnessed(
                    i,
                    format!(
                        "stop gate {} (attempt {}): missing {}",
                        if v.get("blocked").and_then(Value::as_bool).unwrap_or(false) { "blocked the stop" } else { "let the run stop" },
                        v.get("attempt").cloned().unwrap_or(Value::Null),
                        strings(v.get("missing")).join(", ")
                    ),
                    v.clone(),
                ));
            }
            "run.stopped" => {
                p.status.state = "stopped".into();
                p.status.notes.push(witnessed(i, format!("run stopped by rule {}: {}", s(v, "rule"), s(v, "reason")), v.clone()));
            }
            "run.finish" => {
                let complete = v.get("complete").and_then(Value::as_bool).unwrap_or(false);
                p.status.state = if complete { "finished" } else { "incomplete" }.into();
                p.status.missing_evidence = strings(v.get("missing"));
            }
            _ => {}
        }
    }
    // Asked calls that ran were approved by the user in Claude Code.
    p.files_inspected = finish_files(inspected);
    p.files_changed = finish_files(changed);
    for (tool, (entries, ran, denied, failed)) in tools {
        p.tools_used.push(Item {
            basis: Basis::Witnessed,
            entries,
            text: format!("{tool}: {ran} ran, {denied} denied, {failed} failed"),
            detail: json!({"tool": tool, "ran": ran, "denied": denied, "failed": failed}),
        });
    }
    for (server, (entries, names)) in mcp {
        p.mcp_servers_used.push(Item {
            basis: Basis::Witnessed,
            entries,
            text: format!("{server}: {}", names.join(", ")),
            detail: json!({"server": server, "tools": names}),
        });
    }
    p
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
            format!("{tool} {} ran with no prior decision", call_summary(tool, input)),
            json!({"tool_use_id": id, "tool": tool, "input": input, "why": "no tool.pre for this tool_use_id"}),
        )),
        Some(pre) if pre.enforced && matches!(pre.decision.as_str(), "deny" | "stop") => {
            p.unguarded_calls.push(witnessed(
                i,
                format!("{tool} {} ran although it was denied", call_summary(tool, input)),
                json!({"tool_use_id": id, "tool": tool, "input": input, "why": "tool.pre decided deny"}),
            ));
        }
        Some(pre) if pre.decision == "ask" => p.approvals.push(witnessed(
            i,
            format!("{tool} {} was asked about and then ran (approved in Claude Code)", call_summary(tool, input)),
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
            call_summary(tool, input),
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

fn finish_files(map: BTreeMap<String, Aggregate>) -> Vec<Item> {
    map.into_iter()
        .map(|(path, agg)| {
            let sha = agg
                .detail
                .get("sha256")
                .and_then(Value::as_str)
                .map(|h| format!(" sha256:{}", h.get(..12).unwrap_or(h)))
                .unwrap_or_default();
            Item {
                basis: Basis::Witnessed,
                text: format!("{path} ({}){sha}", agg.tools.join(", ")),
                detail: json!({"path": path, "tools": agg.tools, "digest": agg.detail}),
                entries: agg.entries,
            }
        })
        .collect()
}

fn call_summary(tool: &str, input: Option<&Value>) -> String {
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

fn basis_tag(b: Basis) -> &'static str {
    match b {
        Basis::Witnessed => "witnessed",
        Basis::Claimed => "claimed",
    }
}

fn entry_refs(entries: &[u64]) -> String {
    let shown: Vec<String> = entries.iter().take(8).map(u64::to_string).collect();
    let more = if entries.len() > 8 {
        format!(" +{}", entries.len() - 8)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(","))
}

/// The packet as Markdown.
pub fn render_markdown(p: &ReviewPacket) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Review packet: run {}\n",
        p.run_id.as_deref().unwrap_or("(unknown)")
    );
    match &p.verification {
        Some(v) => {
            let _ = writeln!(out, "**Record verification:** {}\n", v.summary);
        }
        None => out.push_str("**Record verification:** not checked\n\n"),
    }
    if !p.unguarded_calls.is_empty() {
        let _ = writeln!(
            out,
            "**WARNING: {} call(s) ran unguarded**: no decision of mandate let them run, so a layer \
             of enforcement did not hold. See \"Unguarded calls\" below.\n",
            p.unguarded_calls.len()
        );
        for item in &p.unguarded_calls {
            let _ = writeln!(
                out,
                "- {} _(entry {})_",
                item.text.replace('\n', " "),
                entry_refs(&item.entries)
            );
        }
        out.push('\n');
    }
    let _ = write!(out, "**Run status:** {}", p.status.state);
    if let Some(mode) = &p.status.mode {
        let _ = write!(out, " (mode {mode})");
    }
    if !p.status.missing_evidence.is_empty() {
        let _ = write!(
            out,
            "; missing evidence: {}",
            p.status.missing_evidence.join(", ")
        );
    }
    out.push_str("\n\n");
    for item in &p.status.notes {
        let _ = writeln!(
            out,
            "- {} _(entry {})_",
            item.text,
            entry_refs(&item.entries)
        );
    }
    if !p.status.notes.is_empty() {
        out.push('\n');
    }
    out.push_str("Items marked **witnessed** were seen by the recorder; **claimed** items are the agent's own statements.\n");
    for (key, title) in KEYS {
        let items = p.section(key);
        let _ = writeln!(out, "\n## {title}\n");
        if items.is_empty() {
            out.push_str("_none recorded_\n");
        }
        for item in items {
            let _ = writeln!(
                out,
                "- [{}] {} _(entries {})_",
                basis_tag(item.basis),
                item.text.replace('\n', " "),
                entry_refs(&item.entries)
            );
        }
    }
    out
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The packet as one self-contained HTML page (inline CSS, no scripts, no external assets).
pub fn render_html(p: &ReviewPacket) -> String {
    let run = esc(p.run_id.as_deref().unwrap_or("(unknown)"));
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Review packet: run {run}</title><style>\
body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}}\
h1{{font-size:1.5rem}}h2{{font-size:1.1rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:1.6rem}}\
ul{{padding-left:1.2rem}}li{{margin:.25rem 0}}code{{background:#f3f4f6;padding:0 .2rem}}\
.tag{{display:inline-block;font-size:.75rem;border-radius:.6rem;padding:0 .45rem;margin-right:.4rem;font-weight:600}}\
.witnessed{{background:#dafbe1;color:#116329}}.claimed{{background:#fff8c5;color:#7d4e00}}\
.refs{{color:#656d76;font-size:.8rem}}.none{{color:#656d76;font-style:italic}}\
.status{{padding:.6rem .8rem;border-radius:.4rem;margin:.4rem 0}}.ok{{background:#dafbe1}}.bad{{background:#ffebe9}}\
</style></head><body>\n<h1>Review packet: run {run}</h1>\n"
    );
    match &p.verification {
        Some(v) => {
            let _ = writeln!(
                out,
                "<div class=\"status {}\"><strong>Record verification:</strong> {}</div>",
                if v.ok { "ok" } else { "bad" },
                esc(&v.summary)
            );
        }
        None => out.push_str(
            "<div class=\"status bad\"><strong>Record verification:</strong> not checked</div>\n",
        ),
    }
    if !p.unguarded_calls.is_empty() {
        let _ = writeln!(
            out,
            "<div class=\"status bad\"><strong>Warning: {} call(s) ran unguarded</strong>: no \
             decision of mandate let them run, so a layer of enforcement did not hold.<ul>",
            p.unguarded_calls.len()
        );
        for item in &p.unguarded_calls {
            let _ = writeln!(out, "<li>{}</li>", esc(&item.text));
        }
        out.push_str("</ul></div>\n");
    }
    let mut status = esc(&p.status.state);
    if let Some(mode) = &p.status.mode {
        let _ = write!(status, " (mode {})", esc(mode));
    }
    if !p.status.missing_evidence.is_empty() {
        let _ = write!(
            status,
            "; missing evidence: {}",
            esc(&p.status.missing_evidence.join(", "))
        );
    }
    let _ = writeln!(out, "<p><strong>Run status:</strong> {status}</p>");
    if !p.status.notes.is_empty() {
        out.push_str("<ul>\n");
        for item in &p.status.notes {
            let _ = writeln!(
                out,
                "<li>{} <span class=\"refs\">entry {}</span></li>",
                esc(&item.text),
                entry_refs(&item.entries)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str(
        "<p><span class=\"tag witnessed\">witnessed</span>seen by the recorder \
<span class=\"tag claimed\">claimed</span>stated by the agent</p>\n",
    );
    for (key, title) in KEYS {
        let items = p.section(key);
        let _ = writeln!(out, "<h2 id=\"{key}\">{title}</h2>");
        if items.is_empty() {
            out.push_str("<p class=\"none\">none recorded</p>\n");
            continue;
        }
        out.push_str("<ul>\n");
        for item in items {
            let tag = basis_tag(item.basis);
            let _ = writeln!(
                out,
                "<li><span class=\"tag {tag}\">{tag}</span>{} <span class=\"refs\">entries {}</span></li>",
                esc(&item.text),
                entry_refs(&item.entries)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}
