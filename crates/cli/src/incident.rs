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
//! [`why`] over whole [`RunRecord`]s (in `mandate_report::incident`) is the reference
//! answer; the command answers from the local index instead ([`why_from_index`]),
//! reading only the few log entries a change needs, and `touched` from the index's rows,
//! counting every touch and listing the latest (`--all`: every one). `index_parity`
//! holds the two ways to one answer.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use mandate_policy::path::absolutize;
use mandate_project::Project;
use serde::Serialize;
use serde_json::{Value, json};

use mandate_search::{EventQuery, EventRow};

use mandate_report::incident::{CONTEXT_ITEMS, call_outcome, change_of, run_info_of};
pub use mandate_report::incident::{ContextItem, WhyReport, why};

use crate::event_index::LocalIndex;
use crate::metrics::{Outcome, RepoScope, RunRecord, display_target, parse_since, str_of};

/// Every touch in an area across runs: the rows of the local index (or the server's)
/// that [`mandate_search::EventQuery::path`] matches, oldest first.
///
/// An area an agent worked in has thousands of touches; the incident lead's first
/// questions are whether, how much, refused or not, and in which runs. So the answer
/// counts every touch and names every run, and lists the latest [`TOUCHES_LISTED`]
/// touches themselves unless `--all` asks for each one.
#[derive(Clone, Debug, Serialize)]
pub struct TouchedReport {
    pub glob: String,
    pub since: Option<String>,
    pub runs_searched: usize,
    /// Every touch that matched, listed or not.
    pub total: usize,
    pub went_ahead: usize,
    pub refused: usize,
    pub by_subagents: usize,
    /// Each run with a touch in the area, latest first.
    pub runs: Vec<RunTouches>,
    /// The touches listed (the latest ones, or all with `--all`), oldest first, each
    /// as [`touch_json`] shows it.
    pub touches: Vec<Value>,
    /// Earlier touches that matched but are not listed (`--all` lists them).
    pub not_listed: usize,
    /// More touches matched than one answer carries.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One run's touches in an area.
#[derive(Clone, Debug, Serialize)]
pub struct RunTouches {
    pub run: String,
    pub task: Option<String>,
    pub repository: Option<String>,
    pub touches: usize,
    pub refused: usize,
    pub first: String,
    pub last: String,
}

/// How many touches `touched` lists unless `--all` is given.
pub const TOUCHES_LISTED: usize = 50;

/// The answer of `touched` from the matching rows, newest first: every one counted,
/// the latest `listed` (all: `None`) listed.
pub fn touched_report(
    glob: &str,
    since: Option<String>,
    runs_searched: usize,
    rows: &[EventRow],
    listed: Option<usize>,
    truncated: bool,
) -> TouchedReport {
    let refused = rows.iter().filter(|r| r.outcome == "refused").count();
    let mut runs: Vec<RunTouches> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for row in rows {
        let position = *at.entry(row.run.as_str()).or_insert_with(|| {
            runs.push(RunTouches {
                run: row.run.clone(),
                task: row.task.clone(),
                repository: row.repository.clone(),
                touches: 0,
                refused: 0,
                first: row.time.clone(),
                last: row.time.clone(),
            });
            runs.len() - 1
        });
        if let Some(run) = runs.get_mut(position) {
            run.touches += 1;
            run.refused += usize::from(row.outcome == "refused");
            run.first.clone_from(&row.time);
        }
    }
    let shown = listed.map_or(rows.len(), |n| n.min(rows.len()));
    TouchedReport {
        glob: glob.to_string(),
        since,
        runs_searched,
        total: rows.len(),
        went_ahead: rows.len() - refused,
        refused,
        by_subagents: rows.iter().filter(|r| r.agent_id.is_some()).count(),
        runs,
        touches: rows.iter().take(shown).rev().map(touch_json).collect(),
        not_listed: rows.len() - shown,
        truncated,
    }
}

/// A row as `touched` and `events` print it: `target` as the incident lead reads it
/// (relative to the repository inside it), `recorded_target` as the record holds it.
pub fn touch_json(row: &EventRow) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.insert("target".into(), json!(row.shown_target()));
        object.insert("recorded_target".into(), json!(row.target));
    }
    value
}

fn who(agent_id: Option<&String>, agent_type: Option<&String>) -> String {
    match (agent_id, agent_type) {
        (Some(id), Some(kind)) => format!("subagent {kind} ({id})"),
        (Some(id), None) => format!("subagent {id}"),
        _ => "main agent".to_string(),
    }
}

/// The lines of a change's story after its decision: why it was refused, its approvals,
/// the session's last prompt and what the session had taken in just before (the same
/// for the local answer and the team server's).
fn tell_story(
    out: &mut String,
    refused_because: Option<&str>,
    approvals: &[Value],
    prompt: Option<&str>,
    context: &[ContextItem],
    root: Option<&Path>,
) {
    if let Some(reason) = refused_because.filter(|r| !r.is_empty()) {
        let reason = reason.split(". ").next().unwrap_or(reason);
        let _ = writeln!(out, "  reason    {reason}");
    }
    if approvals.is_empty() {
        let _ = writeln!(out, "  approvals none on record");
    }
    for approval in approvals {
        let _ = writeln!(out, "  approval  {}", approval_line(approval));
    }
    if let Some(prompt) = prompt {
        let _ = writeln!(out, "  prompt    {}", one_line(prompt, 160));
    }
    if context.is_empty() {
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
    for item in context {
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
            let refused = change.outcome == Outcome::Refused;
            tell_story(
                &mut out,
                refused.then_some(change.reason.as_str()),
                &change.approvals,
                change.prompt.as_deref(),
                &change.context,
                root,
            );
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

fn outcome_text(outcome: &str) -> &str {
    match outcome {
        "failed" => "ran, failed",
        "no_result" => "no result",
        other => other,
    }
}

pub fn render_touched_text(report: &TouchedReport) -> String {
    let mut out = String::new();
    let field = |hit: &Value, key: &str| hit.get(key).and_then(Value::as_str).map(str::to_string);
    let since = report
        .since
        .as_ref()
        .map(|s| format!(" since {s}"))
        .unwrap_or_default();
    if report.total == 0 {
        let _ = writeln!(
            out,
            "no agent touched `{}`{since} ({} runs searched): nothing read, written, run, called or sent there",
            report.glob, report.runs_searched
        );
        return out;
    }
    let _ = writeln!(
        out,
        "`{}`{since}: {} touches in {} of {} runs: {} went ahead, {} refused; {} by subagents",
        report.glob,
        report.total,
        report.runs.len(),
        report.runs_searched,
        report.went_ahead,
        report.refused,
        report.by_subagents
    );
    if report.not_listed > 0 {
        let _ = writeln!(
            out,
            "
by run, latest first:"
        );
        for run in report.runs.iter().take(RUNS_LISTED) {
            let _ = writeln!(
                out,
                "  {}  {} touches, {} refused, {} … {}  ({})",
                run.run,
                run.touches,
                run.refused,
                run.first,
                run.last,
                run.task.as_deref().unwrap_or("?")
            );
        }
        if report.runs.len() > RUNS_LISTED {
            let _ = writeln!(
                out,
                "  … and {} more runs (--json names every run)",
                report.runs.len() - RUNS_LISTED
            );
        }
        let _ = writeln!(
            out,
            "
the latest {} of the {} touches:",
            report.touches.len(),
            report.total
        );
    }
    let mut current = String::new();
    for hit in &report.touches {
        let run = field(hit, "run").unwrap_or_default();
        if run != current {
            let _ = writeln!(
                out,
                "\nrun {run} ({}) in {}",
                field(hit, "task").unwrap_or_else(|| "?".into()),
                field(hit, "repository")
                    .unwrap_or_else(|| "a repository the record does not name".into())
            );
            current = run;
        }
        let decision = field(hit, "decision").unwrap_or_default();
        let by = match decision.as_str() {
            "refused_by_agent" => format!(
                " [refused by {}]",
                field(hit, "refused_by").unwrap_or_else(|| "the agent itself".into())
            ),
            "unguarded" => " [UNGUARDED (no decision of mandate)]".to_string(),
            "would_deny" | "would_ask" => format!(" [shadow: {}]", decision.replace('_', " ")),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {}  {:<11} {:<7} {}{by}  ({}, {}{})",
            field(hit, "time").unwrap_or_default(),
            outcome_text(&field(hit, "outcome").unwrap_or_default()),
            field(hit, "kind").unwrap_or_default(),
            field(hit, "target").unwrap_or_default(),
            field(hit, "tool").unwrap_or_default(),
            who(
                field(hit, "agent_id").as_ref(),
                field(hit, "agent_type").as_ref()
            ),
            field(hit, "session_id")
                .map(|s| format!(", session {s}"))
                .unwrap_or_default()
        );
    }
    if report.not_listed > 0 {
        let _ = writeln!(
            out,
            "\n{} earlier touches are not listed: `mandate touched '{}' --all` lists all {} \
             (with --json, as JSON), or narrow it with --since",
            report.not_listed, report.glob, report.total
        );
    }
    if report.truncated {
        let _ = writeln!(
            out,
            "\n(more touches matched than one answer carries: narrow the glob or add --since)"
        );
    }
    out
}

/// How many runs the text of `touched` names when it lists only the latest touches.
const RUNS_LISTED: usize = 20;

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

/// The repository a scoped question covers in the local index: `None` for every
/// repository sharing the record store.
fn scope_repository(project: &Project, scope: &RepoScope) -> Result<Option<String>> {
    Ok(crate::metrics::scope_root(project, scope)?.map(|root| root.display().to_string()))
}

/// The local index of this project's record store, caught up with every log.
fn local_index(project: &Project) -> Result<LocalIndex> {
    let records = project.records_dir();
    let mut index = LocalIndex::open(&records)?;
    index.catch_up(&records)?;
    Ok(index)
}

/// `why` from the index: `rows` are the write touches of `target` it found; each call
/// behind them is read alone from its log, with the run's start, prompts and approvals
/// the index keeps and the session's context from its rows. The answer is
/// [`why`]'s over the whole runs (the parity test holds them to it); a run whose log no
/// longer lines up with the index is read whole instead.
pub fn why_from_index(
    index: &LocalIndex,
    runs_dir: &Path,
    target: &Path,
    rows: &[EventRow],
) -> Result<WhyReport> {
    // Each run's calls, with what became of each (all rows of a call share it).
    let mut calls: std::collections::BTreeMap<&str, std::collections::BTreeMap<u64, &str>> =
        Default::default();
    for row in rows {
        calls
            .entry(row.run.as_str())
            .or_default()
            .insert(row.idx, row.outcome.as_str());
    }
    let mut runs: Vec<(String, String, WhyReport)> = Vec::new();
    for (run_id, wanted) in calls {
        let read = why_of_run(index, runs_dir, target, run_id, &wanted);
        let (started, report) = match read {
            Ok(Some(found)) => found,
            // Out of step with its log: the reference, over the run read whole.
            _ => {
                let whole = load_named_runs(runs_dir, &BTreeSet::from([run_id.to_string()]));
                let started = whole
                    .first()
                    .and_then(RunRecord::start)
                    .and_then(|s| str_of(s, "time"))
                    .unwrap_or("")
                    .to_string();
                (started, why(&whole, target))
            }
        };
        runs.push((started, run_id.to_string(), report));
    }
    // In the order `why` reads runs: by start, then id.
    runs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut report = WhyReport {
        path: target.display().to_string(),
        runs_searched: 0,
        changes: Vec::new(),
        attempts: Vec::new(),
    };
    for (_, _, run) in runs {
        report.changes.extend(run.changes);
        report.attempts.extend(run.attempts);
    }
    Ok(report)
}

/// One run's part of [`why_from_index`], and the time it started; `None` when an entry
/// is not where the index says.
fn why_of_run(
    index: &LocalIndex,
    runs_dir: &Path,
    target: &Path,
    run_id: &str,
    wanted: &std::collections::BTreeMap<u64, &str>,
) -> Result<Option<(String, WhyReport)>> {
    use std::io::{Read as _, Seek as _};
    let kept = index.why_entries(run_id)?;
    let parse = |body: &Option<String>| -> Option<Value> {
        body.as_deref().and_then(|b| serde_json::from_str(b).ok())
    };
    let bodies: Vec<(u64, &str, &str, Option<Value>)> = kept
        .iter()
        .map(|e| (e.idx, e.kind.as_str(), e.session.as_str(), parse(&e.body)))
        .collect();
    let start = bodies
        .iter()
        .find(|(_, kind, _, _)| *kind == "run.start")
        .and_then(|(_, _, _, body)| body.as_ref());
    let info = run_info_of(run_id, start);
    let started = start
        .and_then(|s| str_of(s, "time"))
        .unwrap_or("")
        .to_string();
    let log_path = runs_dir.join(run_id).join(mandate_record::LOG_FILE);
    let mut log = std::fs::File::open(&log_path)?;
    let mut report = WhyReport {
        path: target.display().to_string(),
        runs_searched: 1,
        changes: Vec::new(),
        attempts: Vec::new(),
    };
    for (&idx, &outcome) in wanted {
        let Some((offset, len)) = kept.iter().find(|e| e.idx == idx).and_then(|e| e.place) else {
            return Ok(None);
        };
        let mut line = vec![0u8; len];
        log.seek(std::io::SeekFrom::Start(offset))?;
        log.read_exact(&mut line)?;
        let Ok(event) = serde_json::from_slice::<Value>(&line) else {
            return Ok(None);
        };
        if event.get("i").and_then(Value::as_u64) != Some(idx) {
            return Ok(None);
        }
        let session = str_of(&event, "session_id").unwrap_or("");
        // What became of it, as the rows have it (`why` finds the same result entry).
        let mut outcomes = HashMap::new();
        let result = match outcome {
            "ran" => Some(Outcome::Ran),
            "failed" => Some(Outcome::Failed),
            _ => None,
        };
        if let (Some(id), Some(result)) = (str_of(&event, "tool_use_id"), result) {
            outcomes.insert(id, result);
        }
        let (outcome, decision) = call_outcome(&event, &outcomes);
        let approvals: Vec<&Value> = bodies
            .iter()
            .filter(|(at, kind, _, _)| *at < idx && kind.starts_with("approval."))
            .filter_map(|(_, _, _, body)| body.as_ref())
            .collect();
        let prompt = bodies
            .iter()
            .filter(|(at, kind, from, _)| *at < idx && *kind == "prompt" && *from == session)
            .filter_map(|(_, _, _, body)| body.as_ref().and_then(|b| str_of(b, "prompt")))
            .next_back()
            .map(str::to_string);
        let context = index
            .context_before(run_id, session, idx, CONTEXT_ITEMS)?
            .into_iter()
            .map(|row| ContextItem {
                time: row.time,
                kind: row.kind,
                target: row.target,
                tool: row.tool,
                agent_id: row.agent_id,
            })
            .collect();
        let change = change_of(
            &info,
            &event,
            (outcome, decision),
            &approvals,
            prompt,
            context,
        );
        if outcome.ran() {
            report.changes.push(change);
        } else {
            report.attempts.push(change);
        }
    }
    Ok(Some((started, report)))
}

/// The runs the index names, loaded whole (the few a `why` answer is about).
fn load_named_runs(runs_dir: &Path, ids: &BTreeSet<String>) -> Vec<RunRecord> {
    let mut runs = Vec::new();
    for id in ids {
        let dir = runs_dir.join(id);
        match mandate_project::records::read_events(&dir) {
            Ok(events) => runs.push(RunRecord {
                id: id.clone(),
                events,
            }),
            Err(error) => eprintln!("mandate: skipping run `{id}`: {error}"),
        }
    }
    runs.sort_by(|a, b| {
        let started = |r: &RunRecord| {
            r.start()
                .and_then(|s| str_of(s, "time"))
                .unwrap_or("")
                .to_string()
        };
        started(a).cmp(&started(b)).then_with(|| a.id.cmp(&b.id))
    });
    runs
}

/// The team server of this repository's policy, to ask instead of the local records.
fn team_server(project: &Project) -> Result<mandate_project::remote::Server> {
    match mandate_project::remote::configured(project) {
        None => bail!(
            "no team server to ask: set `server = \"https://…\"` under [records] in \
             mandate.toml (or drop --server to answer from this machine's records)"
        ),
        Some(Err(error)) => bail!("the team server link is off: {error}"),
        Some(Ok(server)) if !server.has_token() => bail!(
            "no token for {}: set MANDATE_TOKEN or save one with `mandate token save` \
             (ask security or an admin for one)",
            server.url
        ),
        Some(Ok(server)) => Ok(server),
    }
}

/// GET `path` from the team server: the body, or what went wrong and what to do.
fn ask_server(server: &mandate_project::remote::Server, path: &str) -> Result<Vec<u8>> {
    let response = server
        .request("GET", path, None, std::time::Duration::from_secs(60))
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot reach the team server: {error}; check records.server and the \
                 network, or drop --server to answer from this machine's records"
            )
        })?;
    match response.status {
        200 => Ok(response.body),
        401 => bail!(
            "the team server does not know this token ({}): get a new one with \
             `mandate token save`",
            response.error()
        ),
        403 => bail!("the team server refused: {}", response.error()),
        status => bail!("the team server answered {status}: {}", response.error()),
    }
}

/// The project the server files this repository's runs under, unless every repository
/// is asked about.
fn server_repo(project: &Project, scope: &RepoScope) -> Result<Option<String>> {
    if scope.all_repos {
        return Ok(None);
    }
    if scope.repo.is_some() {
        bail!(
            "`--repo` names a folder on this machine, which the team server does not know: \
             ask from inside that repository, or use --all-repos"
        );
    }
    Ok(project.policy.records.project.clone())
}

/// `mandate why PATH [--json] [--server]`.
pub fn why_command(path: &str, as_json: bool, scope: &RepoScope, server: bool) -> Result<ExitCode> {
    let project = Project::discover(&std::env::current_dir()?, None)?;
    let target = resolve(path)?;
    if server {
        return why_on_server(&project, &target, as_json, scope);
    }
    let repository = scope_repository(&project, scope)?;
    let index = local_index(&project)?;
    let query = EventQuery {
        file: Some(target.display().to_string()),
        kind: Some("write".to_string()),
        ..EventQuery::default()
    };
    let (rows, _) = index.find(&query, repository.as_deref(), 0, usize::MAX)?;
    let mut report = why_from_index(&index, &project.runs_dir(), &target, &rows)?;
    report.runs_searched = index.runs(repository.as_deref())?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_why_text(&report, Some(&project.root)));
    }
    Ok(ExitCode::SUCCESS)
}

/// A row of the team server's `why`, with the story it tells of the change (as the local
/// `why` does; empty from a server that does not tell it).
#[derive(serde::Deserialize)]
struct ToldRow {
    #[serde(flatten)]
    row: EventRow,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    context: Vec<ContextItem>,
    #[serde(default)]
    request: String,
    #[serde(default)]
    approvals: Vec<Value>,
    #[serde(default)]
    reason: String,
}

fn why_on_server(
    project: &Project,
    target: &Path,
    as_json: bool,
    scope: &RepoScope,
) -> Result<ExitCode> {
    let Ok(relative) = target.strip_prefix(&project.root) else {
        bail!(
            "{} is outside this repository ({}): the team server knows files by their path \
             in the repository",
            target.display(),
            project.root.display()
        );
    };
    let relative = relative.display().to_string();
    let server = team_server(project)?;
    let mut path = format!(
        "/api/v1/why?path={}",
        mandate_search::percent_encode(&relative)
    );
    if let Some(repo) = server_repo(project, scope)? {
        path.push_str(&format!("&repo={}", mandate_search::percent_encode(&repo)));
    }
    let body = ask_server(&server, &path)?;
    let answer: Value = serde_json::from_slice(&body)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = |key: &str| -> Vec<ToldRow> {
        answer
            .get(key)
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    };
    let (changes, attempts) = (rows("changes"), rows("attempts"));
    let searched = answer
        .get("runs_searched")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if changes.is_empty() && attempts.is_empty() {
        println!(
            "no recorded tool call on {} changed or tried to change {relative} ({searched} runs \
             searched).\nChanges made outside mandate's runs (by people, CI, or an agent without \
             the hooks) are not in these records: check `git log -- {relative}`.",
            server.url
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{relative} on {}: changed by {} recorded tool calls, {} more attempts did not run \
         ({searched} runs searched)",
        server.url,
        changes.len(),
        attempts.len()
    );
    let mut out = String::new();
    for (title, list) in [("CHANGED", &changes), ("ATTEMPTED, DID NOT RUN", &attempts)] {
        for told in list {
            let row = &told.row;
            println!(
                "\n{title}  {}  {} {}",
                row.time,
                row.tool,
                row.command.as_deref().unwrap_or(row.shown_target())
            );
            println!(
                "  run       {} (contract {}, delegated by {}) in {}",
                row.run,
                row.task.as_deref().unwrap_or("?"),
                row.user.as_deref().unwrap_or("?"),
                row.project
                    .as_deref()
                    .or(row.repository.as_deref())
                    .unwrap_or("a repository the record does not name")
            );
            println!(
                "  by        {} in session {}",
                who(row.agent_id.as_ref(), row.agent_type.as_ref()),
                row.session_id.as_deref().unwrap_or("?")
            );
            if !told.request.is_empty() {
                println!("  task      {}", told.request);
            }
            println!(
                "  decision  {} → {} [{}]",
                row.decision,
                outcome_text(&row.outcome),
                row.rules.join(", ")
            );
            out.clear();
            tell_story(
                &mut out,
                (row.outcome == "refused").then_some(told.reason.as_str()),
                &told.approvals,
                told.prompt.as_deref(),
                &told.context,
                None,
            );
            print!("{out}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `mandate touched GLOB [--since DATE] [--json] [--server]`.
pub fn touched_command(
    glob: &str,
    since: Option<&str>,
    as_json: bool,
    all: bool,
    scope: &RepoScope,
    server: bool,
) -> Result<ExitCode> {
    let listed = (!all).then_some(TOUCHES_LISTED);
    if glob.trim().is_empty() {
        bail!("an empty glob names nothing: give a path or glob, e.g. `customer_data/**`");
    }
    let since = since.map(parse_since).transpose()?;
    let project = Project::discover(&std::env::current_dir()?, None)?;
    let report = if server {
        let server = team_server(&project)?;
        let mut path = format!(
            "/api/v1/touched?glob={}",
            mandate_search::percent_encode(glob)
        );
        if let Some(since) = &since {
            path.push_str(&format!("&since={}", mandate_search::percent_encode(since)));
        }
        if let Some(repo) = server_repo(&project, scope)? {
            path.push_str(&format!("&repo={}", mandate_search::percent_encode(&repo)));
        }
        let answer: Value = serde_json::from_slice(&ask_server(&server, &path)?)?;
        let mut rows: Vec<EventRow> = answer
            .get("touches")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        // The server lists them oldest first.
        rows.reverse();
        touched_report(
            glob,
            since,
            answer
                .get("runs_searched")
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0),
            &rows,
            listed,
            answer.get("truncated").and_then(Value::as_bool) == Some(true),
        )
    } else {
        let repository = scope_repository(&project, scope)?;
        let index = local_index(&project)?;
        let query = EventQuery {
            path: Some(glob.to_string()),
            since: since.clone(),
            ..EventQuery::default()
        };
        let (rows, truncated) = index.find(&query, repository.as_deref(), 0, TOUCHED_LIMIT)?;
        touched_report(
            glob,
            since,
            index.runs(repository.as_deref())?,
            &rows,
            listed,
            truncated,
        )
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_touched_text(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// The most touches one `touched` answer lists (the server's export limit).
const TOUCHED_LIMIT: usize = 100_000;

/// How `mandate events` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventsFormat {
    Text,
    Json,
    Csv,
}

/// `mandate events [filters] [--page N] [--format …] [--server]`: the event search.
pub fn events_command(
    query: EventQuery,
    page: usize,
    format: EventsFormat,
    scope: &RepoScope,
    server: bool,
) -> Result<ExitCode> {
    let query = query.tidy();
    query
        .compile()
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    if page == 0 {
        bail!("`--page 0`: pages count from 1");
    }
    let project = Project::discover(&std::env::current_dir()?, None)?;
    // A page of text, or every match (up to the export limit) as JSON or CSV.
    let (skip, take) = match format {
        EventsFormat::Text => (
            (page - 1) * mandate_search::PAGE_SIZE,
            mandate_search::PAGE_SIZE,
        ),
        _ => (0, TOUCHED_LIMIT),
    };
    let (rows, more) = if server {
        let server = team_server(&project)?;
        let mut scoped = query.clone();
        if scoped.repo.is_none() {
            scoped.repo = server_repo(&project, scope)?;
        }
        let mut path = format!("/api/v1/events?{}", scoped.to_query_string());
        match format {
            EventsFormat::Text => path.push_str(&format!("&page={page}")),
            EventsFormat::Json => path.push_str("&format=json"),
            EventsFormat::Csv => {
                path.push_str("&format=csv");
                let body = ask_server(&server, &path)?;
                print!("{}", String::from_utf8_lossy(&body));
                return Ok(ExitCode::SUCCESS);
            }
        }
        let answer: Value = serde_json::from_slice(&ask_server(&server, &path)?)?;
        let list = if format == EventsFormat::Json {
            answer.clone()
        } else {
            answer.get("events").cloned().unwrap_or(Value::Null)
        };
        let rows: Vec<EventRow> = serde_json::from_value(list).unwrap_or_default();
        (
            rows,
            answer.get("more").and_then(Value::as_bool) == Some(true),
        )
    } else {
        let repository = scope_repository(&project, scope)?;
        let index = local_index(&project)?;
        index.find(&query, repository.as_deref(), skip, take)?
    };
    match format {
        EventsFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        EventsFormat::Csv => print!("{}", mandate_search::to_csv(&rows)),
        EventsFormat::Text => {
            if rows.is_empty() {
                println!("no recorded tool call matches (page {page})");
            }
            for row in &rows {
                println!(
                    "{}  {:<10} {:<12} {:<7} {}  {} ({}, run {})",
                    row.time,
                    row.decision,
                    outcome_text(&row.outcome),
                    row.kind,
                    row.shown_target(),
                    row.tool,
                    row.user.as_deref().unwrap_or("?"),
                    row.run
                );
            }
            if more {
                println!("… more on page {}: --page {}", page + 1, page + 1);
            }
        }
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
        let rows = mandate_search::rows_of_run("R1", &record().events);
        let area = |glob: &str, since: Option<&str>| -> Vec<EventRow> {
            let query = EventQuery {
                path: Some(glob.into()),
                since: since.map(str::to_string),
                ..EventQuery::default()
            };
            let compiled = query.compile().unwrap();
            rows.iter()
                .filter(|r| compiled.matches(r))
                .cloned()
                .collect()
        };
        let hits = area("customer_data/**", None);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].outcome, "refused");
        assert_eq!(hits[0].agent_id.as_deref(), Some("a1"));
        assert_eq!(touch_json(&hits[0])["target"], "customer_data/eu.csv");
        assert_eq!(area("mcp__jira__*", None).len(), 1);
        assert!(area("customer_data/**", Some("2026-01-02")).is_empty());
    }
}
