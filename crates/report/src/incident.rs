//! `why`: which tool calls of a run changed a file (a `write` touch on it, decided in
//! `tool.pre`, followed by the call's `tool.post`), under which contract, delegated by
//! whom, with which approvals, and what the agent had read, fetched or called just
//! before in the same session, with the session's last prompt: the context that fed the
//! change. Attempts that never ran are listed too.
//!
//! A pure function over [`RunRecord`]s, shared by `mandate why` (over the local records)
//! and the team server (over the pushed ones), so the two tell the same story.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use crate::metrics::{Outcome, RunRecord, event_type, str_of};

/// How many earlier context items (reads, fetches, calls) `why` shows per change.
pub const CONTEXT_ITEMS: usize = 8;

/// Who, under what, in which run.
#[derive(Clone, Debug, Serialize)]
pub struct RunInfo {
    pub run: String,
    /// The repository the run worked in.
    pub repository: Option<String>,
    pub task: String,
    pub request: String,
    pub delegated_by: String,
    pub contract_digest: String,
}

fn run_info(run: &RunRecord) -> RunInfo {
    run_info_of(&run.id, run.start())
}

/// Who, under what, from a run's `run.start` entry.
pub fn run_info_of(run_id: &str, start: Option<&Value>) -> RunInfo {
    let field = |pointer: &str| {
        start
            .and_then(|s| s.pointer(pointer))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    RunInfo {
        run: run_id.to_string(),
        repository: start
            .and_then(|s| s.get("workspace"))
            .and_then(Value::as_str)
            .map(|w| std::path::PathBuf::from(w).display().to_string()),
        task: start
            .and_then(|s| s.pointer("/contract/id"))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
        request: field("/contract/request"),
        delegated_by: {
            let user = field("/user");
            if user.is_empty() {
                field("/contract/delegated_by")
            } else {
                user
            }
        },
        contract_digest: field("/contract_digest"),
    }
}

/// One thing the agent had taken in before a change.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ContextItem {
    pub time: String,
    pub kind: String,
    pub target: String,
    pub tool: String,
    pub agent_id: Option<String>,
}

/// One tool call that changed (or tried to change) the file.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    #[serde(flatten)]
    pub run: RunInfo,
    pub time: String,
    pub session_id: Option<String>,
    pub agent_id: Option<String>,
    pub agent_type: Option<String>,
    pub tool_use_id: Option<String>,
    pub tool: String,
    /// The command, for Bash; otherwise the file the tool named.
    pub detail: String,
    pub decision: String,
    pub outcome: Outcome,
    pub rules: Vec<String>,
    pub reason: String,
    pub approvals: Vec<Value>,
    /// The last prompt of the session before the change.
    pub prompt: Option<String>,
    pub context: Vec<ContextItem>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WhyReport {
    pub path: String,
    pub runs_searched: usize,
    /// Calls that ran and changed the file.
    pub changes: Vec<Change>,
    /// Calls that would have changed it but did not run (refused, or no result).
    pub attempts: Vec<Change>,
}

fn opt(event: &Value, key: &str) -> Option<String> {
    str_of(event, key).map(str::to_string)
}

fn touches(event: &Value) -> impl Iterator<Item = &Value> {
    event
        .get("touches")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn call_detail(event: &Value) -> String {
    let input = event.get("input");
    for key in [
        "command",
        "file_path",
        "notebook_path",
        "url",
        "query",
        "path",
        "pattern",
    ] {
        if let Some(text) = input.and_then(|i| i.get(key)).and_then(Value::as_str) {
            return text.to_string();
        }
    }
    String::new()
}

/// Is `event` one tool call of the record: judged by the hook (`tool.pre`), or found in
/// the agent's transcript, refused by the agent itself or run unguarded?
fn is_call(kind: &str) -> bool {
    matches!(
        kind,
        "tool.pre" | "tool.refused_by_agent" | "tool.unguarded"
    )
}

/// What became of a call event, and the decision to show for it.
pub fn call_outcome(event: &Value, outcomes: &HashMap<&str, Outcome>) -> (Outcome, String) {
    match event_type(event) {
        "tool.refused_by_agent" => (
            Outcome::Refused,
            format!(
                "refused by {}",
                str_of(event, "refused_by").unwrap_or("the agent itself")
            ),
        ),
        "tool.unguarded" => (
            if event.get("result").is_some() {
                Outcome::Ran
            } else {
                Outcome::NoResult
            },
            "UNGUARDED (no decision of mandate)".to_string(),
        ),
        _ => (
            Outcome::of(event, outcomes),
            opt(event, "decision").unwrap_or_default(),
        ),
    }
}

/// The touches of a call event: as judged, or (when no hook judged it) read off the
/// tool's input.
fn call_touches(event: &Value) -> Vec<Value> {
    let judged: Vec<Value> = touches(event).cloned().collect();
    if !judged.is_empty() {
        return judged;
    }
    let input = event.get("input");
    let field = |key: &str| input.and_then(|i| i.get(key)).and_then(Value::as_str);
    let tool = str_of(event, "tool").unwrap_or("");
    let (kind, target) = match tool {
        "Read" | "Glob" | "Grep" | "LS" => ("read", field("file_path").or(field("path"))),
        "Write" | "Edit" | "MultiEdit" => ("write", field("file_path")),
        "NotebookEdit" => ("write", field("notebook_path")),
        "Bash" => ("execute", field("command")),
        "WebFetch" => ("expose", field("url")),
        _ => ("call", Some(tool)),
    };
    target
        .map(|t| vec![json!({"kind": kind, "target": t})])
        .unwrap_or_default()
}

/// The change (or attempt) `event` made: its run, what became of it, the approvals it
/// used (of `approvals`, the run's approval entries before it), the session's last
/// prompt and the last [`CONTEXT_ITEMS`] of what the session took in before it.
pub fn change_of(
    info: &RunInfo,
    event: &Value,
    (outcome, decision): (Outcome, String),
    approvals: &[&Value],
    prompt: Option<String>,
    mut items: Vec<ContextItem>,
) -> Change {
    let tool_use_id = opt(event, "tool_use_id");
    // The approvals this very call used, and the grants behind them.
    let used: Vec<&Value> = approvals
        .iter()
        .filter(|a| tool_use_id.is_some() && str_of(a, "tool_use_id") == tool_use_id.as_deref())
        .copied()
        .collect();
    let ids: Vec<&str> = used.iter().filter_map(|a| str_of(a, "id")).collect();
    let mut approvals_here: Vec<Value> = approvals
        .iter()
        .filter(|a| {
            used.iter().any(|u| std::ptr::eq(*u, **a))
                || str_of(a, "id").is_some_and(|id| ids.contains(&id))
        })
        .map(|a| (*a).clone())
        .collect();
    if let Some(need) = event.get("approval").filter(|v| !v.is_null()) {
        approvals_here.push(json!({"type": "approval.needed", "need": need}));
    }
    let skip = items.len().saturating_sub(CONTEXT_ITEMS);
    items.drain(..skip);
    Change {
        run: info.clone(),
        time: opt(event, "time").unwrap_or_default(),
        session_id: opt(event, "session_id"),
        agent_id: opt(event, "agent_id"),
        agent_type: opt(event, "agent_type"),
        tool_use_id,
        tool: str_of(event, "tool").unwrap_or("?").to_string(),
        detail: call_detail(event),
        decision,
        outcome,
        rules: strings(event.get("rules")),
        reason: opt(event, "reason").unwrap_or_default(),
        approvals: approvals_here,
        prompt,
        context: items,
    }
}

/// Which calls in `runs` changed `path` (absolute, normalised): every entry of every
/// run read in order. The CLI's local index answers the same from a few entries; this
/// is its reference, and what it falls back to.
pub fn why(runs: &[RunRecord], path: &Path) -> WhyReport {
    let target = path.display().to_string();
    let mut report = WhyReport {
        path: target.clone(),
        runs_searched: runs.len(),
        changes: Vec::new(),
        attempts: Vec::new(),
    };
    for run in runs {
        let info = run_info(run);
        let outcomes = run.outcomes();
        // Per session: what was taken in so far, and the last prompt.
        let mut context: HashMap<String, Vec<ContextItem>> = HashMap::new();
        let mut prompts: HashMap<String, String> = HashMap::new();
        let mut approvals: Vec<&Value> = Vec::new();
        for event in &run.events {
            let session = str_of(event, "session_id").unwrap_or("").to_string();
            let kind = event_type(event);
            if kind == "prompt" {
                if let Some(text) = str_of(event, "prompt") {
                    prompts.insert(session, text.to_string());
                }
                continue;
            }
            if kind.starts_with("approval.") {
                approvals.push(event);
                continue;
            }
            if !is_call(kind) {
                continue;
            }
            let (outcome, decision) = call_outcome(event, &outcomes);
            let tool = str_of(event, "tool").unwrap_or("?").to_string();
            let event_touches = call_touches(event);
            let writes_it = event_touches.iter().any(|t| {
                str_of(t, "kind") == Some("write") && str_of(t, "target") == Some(target.as_str())
            });
            if writes_it {
                let change = change_of(
                    &info,
                    event,
                    (outcome, decision),
                    &approvals,
                    prompts.get(&session).cloned(),
                    context.get(&session).cloned().unwrap_or_default(),
                );
                if outcome.ran() {
                    report.changes.push(change);
                } else {
                    report.attempts.push(change);
                }
            }
            if outcome.ran() {
                for touch in &event_touches {
                    let kind = str_of(touch, "kind").unwrap_or("");
                    if matches!(kind, "read" | "call" | "expose") {
                        context
                            .entry(session.clone())
                            .or_default()
                            .push(ContextItem {
                                time: opt(event, "time").unwrap_or_default(),
                                kind: kind.to_string(),
                                target: str_of(touch, "target").unwrap_or("").to_string(),
                                tool: tool.clone(),
                                agent_id: opt(event, "agent_id"),
                            });
                    }
                }
            }
        }
    }
    report
}
