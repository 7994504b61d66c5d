//! `mandate why PATH` and `mandate touched GLOB`: the incident lead's questions, answered
//! from the run records alone.
//!
//! - `why`: which runs and which tool calls changed this file (a `write` touch on it,
//!   decided in `tool.pre`, followed by the call's `tool.post`), under which contract,
//!   delegated by whom, with which approvals, and what the agent had read, fetched or
//!   called just before in the same session: the context that fed the change. Attempts
//!   that never ran are listed too, so "it tried and was refused" is visible.
//! - `touched`: every read, write, run, call or send in an area, allowed or refused,
//!   across all runs, subagent calls included (`agent_id` marks them).
//!
//! Both are pure functions over [`RunRecord`]s; the commands only load and print.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use mandate_policy::glob::{PathGlob, wildcard_match};
use mandate_policy::path::{absolutize, relative_segments, segments};
use mandate_project::Project;
use mandate_project::records::event_type;
use serde::Serialize;
use serde_json::{Value, json};

use crate::metrics::{
    Outcome, RepoScope, RunRecord, display_target, load_scoped_runs, parse_since, str_of,
};

/// How many earlier context items (reads, fetches, calls) `why` shows per change.
const CONTEXT_ITEMS: usize = 8;

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
    let start = run.start();
    let field = |pointer: &str| {
        start
            .and_then(|s| s.pointer(pointer))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    RunInfo {
        run: run.id.clone(),
        repository: run.workspace().map(|w| w.display().to_string()),
        task: run.task().to_string(),
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
#[derive(Clone, Debug, Serialize)]
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
fn call_outcome(event: &Value, outcomes: &HashMap<&str, Outcome>) -> (Outcome, String) {
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

/// Which calls in `runs` changed `path` (absolute, normalised).
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
                let tool_use_id = opt(event, "tool_use_id");
                // The approvals this very call used, and the grants behind them.
                let used: Vec<&Value> = approvals
                    .iter()
                    .filter(|a| {
                        tool_use_id.is_some() && str_of(a, "tool_use_id") == tool_use_id.as_deref()
                    })
                    .copied()
                    .collect();
                let ids: Vec<&str> = used.iter().filter_map(|a| str_of(a, "id")).collect();
                let linked: Vec<Value> = approvals
                    .iter()
                    .filter(|a| {
                        used.iter().any(|u| std::ptr::eq(*u, **a))
                            || str_of(a, "id").is_some_and(|id| ids.contains(&id))
                    })
                    .map(|a| (*a).clone())
                    .collect();
                let mut approvals_here = linked;
                if let Some(need) = event.get("approval").filter(|v| !v.is_null()) {
                    approvals_here.push(json!({"type": "approval.needed", "need": need}));
                }
                let items = context.get(&session).cloned().unwrap_or_default();
                let skip = items.len().saturating_sub(CONTEXT_ITEMS);
                let change = Change {
                    run: info.clone(),
                    time: opt(event, "time").unwrap_or_default(),
                    session_id: opt(event, "session_id"),
                    agent_id: opt(event, "agent_id"),
                    agent_type: opt(event, "agent_type"),
                    tool_use_id,
                    tool: tool.clone(),
                    detail: call_detail(event),
                    decision: decision.clone(),
                    outcome,
                    rules: strings(event.get("rules")),
                    reason: opt(event, "reason").unwrap_or_default(),
                    approvals: approvals_here,
                    prompt: prompts.get(&session).cloned(),
                    context: items.into_iter().skip(skip).collect(),
                };
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

/// One touch in the area.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    pub run: String,
    /// The repository the run worked in.
    pub repository: Option<String>,
    pub task: String,
    pub time: String,
    pub session_id: Option<String>,
    pub agent_id: Option<String>,
    pub agent_type: Option<String>,
    pub tool: String,
    pub kind: String,
    pub target: String,
    pub decision: String,
    pub outcome: Outcome,
    pub rules: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TouchedReport {
    pub glob: String,
    pub since: Option<String>,
    pub runs_searched: usize,
    pub touches: Vec<Hit>,
}

/// The area an incident lead asks about: a path glob (relative to each run's repository,
/// or absolute), which also matches tool names and hosts (`mcp__jira__*`, `*.example.com`).
pub struct Area {
    source: String,
    glob: Option<PathGlob>,
    absolute: bool,
}

impl Area {
    pub fn new(source: &str) -> Result<Area> {
        if source.trim().is_empty() {
            bail!("an empty glob names nothing: give a path or glob, e.g. `customer_data/**`");
        }
        let glob = PathGlob::new(source).ok();
        Ok(Area {
            source: source.to_string(),
            glob,
            absolute: source.starts_with('/'),
        })
    }

    fn matches_path(&self, path: &Path, root: Option<&Path>) -> bool {
        let Some(glob) = &self.glob else {
            return false;
        };
        if self.absolute {
            return glob.matches(&segments(path));
        }
        root.and_then(|root| relative_segments(path, root))
            .is_some_and(|rel| !rel.is_empty() && glob.matches(&rel))
    }

    /// Does this touch fall in the area?
    fn matches(&self, kind: &str, target: &str, root: Option<&Path>) -> bool {
        match kind {
            "read" | "write" => self.matches_path(Path::new(target), root),
            "execute" => {
                // A command is in the area when one of its words names a path in it.
                wildcard_match(&self.source, target)
                    || target.split_whitespace().any(|word| {
                        let word = word.trim_matches(|c| c == '\'' || c == '"');
                        let base = root.unwrap_or(Path::new("/"));
                        (word.contains('/') || root.is_some_and(|r| r.join(word).exists()))
                            && self.matches_path(&absolutize(base, word, None), root)
                    })
            }
            _ => wildcard_match(&self.source, target),
        }
    }
}

/// Every touch in `area` across `runs`, at or after `since`.
pub fn touched(runs: &[RunRecord], area: &Area, since: Option<&str>) -> TouchedReport {
    let mut report = TouchedReport {
        glob: area.source.clone(),
        since: since.map(str::to_string),
        runs_searched: runs.len(),
        touches: Vec::new(),
    };
    for run in runs {
        let root = run.workspace();
        let outcomes = run.outcomes();
        for event in run.events.iter().filter(|e| is_call(event_type(e))) {
            let time = str_of(event, "time").unwrap_or("");
            if since.is_some_and(|s| time < s) {
                continue;
            }
            let judged_by_hook = event_type(event) == "tool.pre";
            let (outcome, call_decision) = call_outcome(event, &outcomes);
            for touch in call_touches(event) {
                let kind = str_of(&touch, "kind").unwrap_or("");
                let target = str_of(&touch, "target").unwrap_or("");
                if !area.matches(kind, target, root.as_deref()) {
                    continue;
                }
                let decision = if judged_by_hook {
                    str_of(&touch, "decision").unwrap_or("").to_string()
                } else {
                    call_decision.clone()
                };
                report.touches.push(Hit {
                    run: run.id.clone(),
                    repository: root.as_ref().map(|r| r.display().to_string()),
                    task: run.task().to_string(),
                    time: time.to_string(),
                    session_id: opt(event, "session_id"),
                    agent_id: opt(event, "agent_id"),
                    agent_type: opt(event, "agent_type"),
                    tool: str_of(event, "tool").unwrap_or("?").to_string(),
                    kind: kind.to_string(),
                    target: display_target(target, root.as_deref()),
                    outcome: if !judged_by_hook || decision == "allow" || outcome.ran() {
                        outcome
                    } else {
                        Outcome::Refused
                    },
                    decision,
                    rules: strings(touch.get("rules")),
                });
            }
        }
    }
    report
}

fn who(agent_id: Option<&String>, agent_type: Option<&String>) -> String {
    match (agent_id, agent_type) {
        (Some(id), Some(kind)) => format!("subagent {kind} ({id})"),
        (Some(id), None) => format!("subagent {id}"),
        _ => "main agent".to_string(),
    }
}

pub fn render_why_text(report: &WhyReport, root: Option<&Path>) -> String {
    let shown = display_target(&report.path, root);
    let mut out = String::new();
    if report.changes.is_empty() && report.attempts.is_empty() {
        let _ = writeln!(
            out,
            "no recorded tool call changed or tried to change {shown} ({} runs searched).\n\
             Changes made outside mandate's runs (by people, CI, or an agent without the hooks) \
             are not in these records: check `git log -- {shown}`.",
            report.runs_searched
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{shown}: changed by {} recorded tool call{}, {} more attempt{} did not run ({} runs searched)",
        report.changes.len(),
        if report.changes.len() == 1 { "" } else { "s" },
        report.attempts.len(),
        if report.attempts.len() == 1 { "" } else { "s" },
        report.runs_searched
    );
    for (title, list) in [
        ("CHANGED", &report.changes),
        ("ATTEMPTED, DID NOT RUN", &report.attempts),
    ] {
        for change in list.iter() {
            let _ = writeln!(
                out,
                "\n{title}  {}  {} {}",
                change.time, change.tool, change.detail
            );
            let _ = writeln!(
                out,
                "  run       {} (contract {}, delegated by {}) in {}",
                change.run.run,
                change.run.task,
                change.run.delegated_by,
                change
                    .run
                    .repository
                    .as_deref()
                    .unwrap_or("a repository the record does not name")
            );
            if !change.run.request.is_empty() {
                let _ = writeln!(out, "  task      {}", change.run.request);
            }
            let _ = writeln!(
                out,
                "  by        {} in session {}",
                who(change.agent_id.as_ref(), change.agent_type.as_ref()),
                change.session_id.as_deref().unwrap_or("?")
            );
            let _ = writeln!(
                out,
                "  decision  {} → {} [{}]",
                change.decision,
                change.outcome.as_str(),
                change.rules.join(", ")
            );
            if change.outcome == Outcome::Refused && !change.reason.is_empty() {
                let reason = change.reason.split(". ").next().unwrap_or(&change.reason);
                let _ = writeln!(out, "  reason    {reason}");
            }
            if change.approvals.is_empty() {
                let _ = writeln!(out, "  approvals none on record");
            }
            for approval in &change.approvals {
                let _ = writeln!(out, "  approval  {}", approval_line(approval));
            }
            if let Some(prompt) = &change.prompt {
                let _ = writeln!(out, "  prompt    {}", one_line(prompt, 160));
            }
            if change.context.is_empty() {
                let _ = writeln!(
                    out,
                    "  context   nothing read, fetched or called before it in this session"
                );
            } else {
                let _ = writeln!(
                    out,
                    "  context   (what the session had read, fetched or called just before)"
                );
            }
            for item in &change.context {
                let _ = writeln!(
                    out,
                    "    {}  {:<6} {}  ({}{})",
                    item.time,
                    item.kind,
                    display_target(&item.target, root),
                    item.tool,
                    if item.agent_id.is_some() {
                        ", subagent"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    out
}

fn approval_line(approval: &Value) -> String {
    let kind = str_of(approval, "type").unwrap_or("approval");
    let mut parts = vec![kind.to_string()];
    for key in ["approval_id", "id", "by", "reviewer", "group", "time"] {
        if let Some(v) = str_of(approval, key) {
            parts.push(format!("{key}={v}"));
        }
    }
    if let Some(need) = approval.get("need") {
        parts.push(need.to_string());
    }
    parts.join(" ")
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

pub fn render_touched_text(report: &TouchedReport) -> String {
    let mut out = String::new();
    let refused = report
        .touches
        .iter()
        .filter(|h| h.outcome == Outcome::Refused)
        .count();
    let runs: std::collections::BTreeSet<&str> =
        report.touches.iter().map(|h| h.run.as_str()).collect();
    let subagent = report
        .touches
        .iter()
        .filter(|h| h.agent_id.is_some())
        .count();
    if report.touches.is_empty() {
        let _ = writeln!(
            out,
            "no agent touched `{}`{} ({} runs searched): nothing read, written, run, called or sent there",
            report.glob,
            report
                .since
                .as_ref()
                .map(|s| format!(" since {s}"))
                .unwrap_or_default(),
            report.runs_searched
        );
        return out;
    }
    let _ = writeln!(
        out,
        "`{}`{}: {} touches in {} of {} runs: {} went ahead, {} refused; {} by subagents",
        report.glob,
        report
            .since
            .as_ref()
            .map(|s| format!(" since {s}"))
            .unwrap_or_default(),
        report.touches.len(),
        runs.len(),
        report.runs_searched,
        report.touches.len() - refused,
        refused,
        subagent
    );
    let mut current = "";
    for hit in &report.touches {
        if hit.run != current {
            current = &hit.run;
            let _ = writeln!(
                out,
                "\nrun {} ({}) in {}",
                hit.run,
                hit.task,
                hit.repository
                    .as_deref()
                    .unwrap_or("a repository the record does not name")
            );
        }
        let by = if hit.decision.starts_with("refused by") || hit.decision.starts_with("UNGUARDED")
        {
            format!(" [{}]", hit.decision)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {}  {:<11} {:<7} {}{by}  ({}, {}{})",
            hit.time,
            hit.outcome.as_str(),
            hit.kind,
            hit.target,
            hit.tool,
            who(hit.agent_id.as_ref(), hit.agent_type.as_ref()),
            hit.session_id
                .as_ref()
                .map(|s| format!(", session {s}"))
                .unwrap_or_default()
        );
    }
    out
}

/// The absolute, normalised path an incident lead means by `path`.
fn resolve(path: &str) -> Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    let absolute = absolutize(
        &cwd,
        path,
        std::env::var_os("HOME").map(PathBuf::from).as_deref(),
    );
    // Touch targets have symlinks of existing prefixes resolved; do the same.
    if let Ok(canonical) = std::fs::canonicalize(&absolute) {
        return Ok(canonical);
    }
    if let (Some(parent), Some(name)) = (absolute.parent(), absolute.file_name())
        && let Ok(parent) = std::fs::canonicalize(parent)
    {
        return Ok(parent.join(name));
    }
    Ok(absolute)
}

/// `mandate why PATH [--json]`.
pub fn why_command(path: &str, as_json: bool, scope: &RepoScope) -> Result<ExitCode> {
    let project = Project::discover(&std::env::current_dir()?, None)?;
    let (runs, _) = load_scoped_runs(&project, scope)?;
    let report = why(&runs, &resolve(path)?);
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_why_text(&report, Some(&project.root)));
    }
    Ok(ExitCode::SUCCESS)
}

/// `mandate touched GLOB [--since DATE] [--json]`.
pub fn touched_command(
    glob: &str,
    since: Option<&str>,
    as_json: bool,
    scope: &RepoScope,
) -> Result<ExitCode> {
    let since = since.map(parse_since).transpose()?;
    let project = Project::discover(&std::env::current_dir()?, None)?;
    let (runs, _) = load_scoped_runs(&project, scope)?;
    let report = touched(&runs, &Area::new(glob)?, since.as_deref());
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_touched_text(&report));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn record() -> RunRecord {
        RunRecord {
            id: "R1".into(),
            events: vec![
                json!({"type": "run.start", "time": "2026-01-01T00:00:00Z", "workspace": "/repo",
                       "user": "alice@example.com", "contract": {"id": "BILL-1", "request": "fix it"}}),
                json!({"type": "prompt", "session_id": "s", "prompt": "fix the filter"}),
                json!({"type": "tool.pre", "time": "2026-01-01T00:00:01Z", "session_id": "s", "tool_use_id": "t1",
                       "tool": "mcp__jira__get_issue", "decision": "allow",
                       "touches": [{"kind": "call", "target": "mcp__jira__get_issue", "decision": "allow", "rules": ["contract.allow.call[0]"]}]}),
                json!({"type": "tool.post", "session_id": "s", "tool_use_id": "t1"}),
                json!({"type": "tool.pre", "time": "2026-01-01T00:00:02Z", "session_id": "s", "tool_use_id": "t2",
                       "agent_id": "a1", "tool": "Read", "decision": "deny",
                       "touches": [{"kind": "read", "target": "/repo/customer_data/eu.csv", "decision": "deny", "rules": ["contract.block.read[0]"]}]}),
                json!({"type": "tool.pre", "time": "2026-01-01T00:00:03Z", "session_id": "s", "tool_use_id": "t3",
                       "tool": "Edit", "decision": "allow", "input": {"file_path": "/repo/f.py"},
                       "touches": [{"kind": "write", "target": "/repo/f.py", "decision": "allow", "rules": ["contract.allow.write[0]"]}]}),
                json!({"type": "tool.post", "session_id": "s", "tool_use_id": "t3"}),
            ],
        }
    }

    #[test]
    fn why_links_the_change_to_its_context() {
        let report = why(&[record()], Path::new("/repo/f.py"));
        assert_eq!(report.changes.len(), 1);
        let change = &report.changes[0];
        assert_eq!(change.run.task, "BILL-1");
        assert_eq!(change.prompt.as_deref(), Some("fix the filter"));
        assert_eq!(change.context.len(), 1, "the refused read is not context");
        assert_eq!(change.context[0].target, "mcp__jira__get_issue");
    }

    #[test]
    fn touched_finds_refused_subagent_reads_and_tools() {
        let report = touched(&[record()], &Area::new("customer_data/**").unwrap(), None);
        assert_eq!(report.touches.len(), 1);
        assert_eq!(report.touches[0].outcome, Outcome::Refused);
        assert_eq!(report.touches[0].agent_id.as_deref(), Some("a1"));
        let tools = touched(&[record()], &Area::new("mcp__jira__*").unwrap(), None);
        assert_eq!(tools.touches.len(), 1);
        let later = touched(
            &[record()],
            &Area::new("customer_data/**").unwrap(),
            Some("2026-01-02"),
        );
        assert!(later.touches.is_empty());
    }
}
