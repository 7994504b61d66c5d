//! `mandate metrics` and `mandate touch-map`: what the records say about the rollout.
//!
//! Everything here is a pure function over run events (read through
//! `mandate_project::records`, the one reader of run records), so the numbers a security
//! lead sees are the numbers the tests check. The event fields used are the ones the hook
//! and the CLI write: `tool.pre` (`tool`, `touches[{kind,target,decision,rules}]`,
//! `decision`, `enforced`, `tool_use_id`), `tool.post` / `tool.failure`, `run.start`
//! (`contract`), `run.finish` (`complete`, `missing`), `run.stopped`, `stop.gate`,
//! `test.run`, `evidence.*`, `review`, `approval.*` and kill-switch events. A field that
//! is absent counts as nothing, never as a failure to report.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use mandate_policy::Kind;
use mandate_project::Project;
use mandate_project::records::{event_type, list_runs, read_events};
use serde::Serialize;
use serde_json::{Value, json};

use crate::report_html::{self, ReportFormat, escape};

/// One run's events.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub id: String,
    pub events: Vec<Value>,
}

impl RunRecord {
    pub fn start(&self) -> Option<&Value> {
        self.events.iter().find(|e| event_type(e) == "run.start")
    }

    /// The contract id the run was started with.
    pub fn task(&self) -> &str {
        self.start()
            .and_then(|e| e.pointer("/contract/id"))
            .and_then(Value::as_str)
            .unwrap_or("?")
    }

    /// The repository the run worked in.
    pub fn workspace(&self) -> Option<PathBuf> {
        self.start()
            .and_then(|e| e.get("workspace"))
            .and_then(Value::as_str)
            .map(PathBuf::from)
    }

    /// What became of each tool call, by `tool_use_id`.
    pub fn outcomes(&self) -> HashMap<&str, Outcome> {
        let mut outcomes = HashMap::new();
        for event in &self.events {
            let outcome = match event_type(event) {
                "tool.post" => Outcome::Ran,
                "tool.failure" => Outcome::Failed,
                _ => continue,
            };
            if let Some(id) = str_of(event, "tool_use_id") {
                outcomes.insert(id, outcome);
            }
        }
        outcomes
    }
}

/// What became of a tool call, from the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A `tool.post` followed: the call ran.
    Ran,
    /// A `tool.failure` followed: the call ran and failed.
    Failed,
    /// mandate refused it (and nothing ran).
    Refused,
    /// Allowed, but the record holds no result (the session ended, or Claude Code's own
    /// permission prompt declined it).
    NoResult,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ran => "ran",
            Outcome::Failed => "ran, failed",
            Outcome::Refused => "refused",
            Outcome::NoResult => "no result",
        }
    }

    pub fn ran(self) -> bool {
        matches!(self, Outcome::Ran | Outcome::Failed)
    }

    /// The outcome of the `tool.pre` event `pre`.
    pub fn of(pre: &Value, outcomes: &HashMap<&str, Outcome>) -> Outcome {
        if let Some(outcome) = str_of(pre, "tool_use_id").and_then(|id| outcomes.get(id)) {
            return *outcome;
        }
        if str_of(pre, "decision") == Some("allow") {
            Outcome::NoResult
        } else {
            Outcome::Refused
        }
    }
}

pub fn str_of<'a>(event: &'a Value, key: &str) -> Option<&'a str> {
    event.get(key).and_then(Value::as_str)
}

/// Every run under the project's records dir, oldest first, read through the one reader. A run that
/// cannot be read is reported on stderr and skipped, so one damaged run does not hide
/// the others.
pub fn load_runs(project: &Project) -> Vec<RunRecord> {
    let mut runs = Vec::new();
    for dir in list_runs(&project.records_dir()) {
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match read_events(&dir) {
            Ok(events) => runs.push(RunRecord { id, events }),
            Err(error) => eprintln!("mandate: skipping run `{id}`: {error}"),
        }
    }
    // Oldest first by when they started: run ids of the same second sort by their nonce.
    runs.sort_by(|a, b| {
        let started = |r: &RunRecord| r.start().map(time_of).unwrap_or("").to_string();
        started(a).cmp(&started(b)).then_with(|| a.id.cmp(&b.id))
    });
    runs
}

/// Which repositories' runs a report covers. The record store is shared by every
/// repository whose policy names it, so an answer given in one repository covers only its
/// runs unless asked otherwise.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RepoScope {
    /// Only the runs of the repository at PATH (default: the repository you are in).
    #[arg(long, value_name = "PATH", conflicts_with = "all_repos")]
    pub repo: Option<PathBuf>,
    /// The runs of every repository that shares this record store.
    #[arg(long)]
    pub all_repos: bool,
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The runs `scope` asks about, and the repositories they belong to (for the report's
/// header). Runs that name no repository (records older than the `workspace` field)
/// are only in `--all-repos`.
pub fn load_scoped_runs(
    project: &Project,
    scope: &RepoScope,
) -> Result<(Vec<RunRecord>, Vec<String>)> {
    let runs = load_runs(project);
    if scope.all_repos {
        let repositories: BTreeSet<String> = runs
            .iter()
            .filter_map(RunRecord::workspace)
            .map(|w| w.display().to_string())
            .collect();
        return Ok((runs, repositories.into_iter().collect()));
    }
    let wanted = match &scope.repo {
        Some(path) => {
            let path = std::path::absolute(path)?;
            if !path.is_dir() {
                bail!(
                    "`--repo {}`: no such folder; give the root of a repository whose runs are in {}",
                    path.display(),
                    project.records_dir().display()
                );
            }
            canonical(&path)
        }
        None => canonical(&project.root),
    };
    let runs = runs
        .into_iter()
        .filter(|run| run.workspace().is_some_and(|w| canonical(&w) == wanted))
        .collect();
    Ok((runs, vec![wanted.display().to_string()]))
}

/// A `--since` value: `YYYY-MM-DD` or an RFC 3339 UTC time. Returned as the prefix that
/// record times (RFC 3339 UTC, fixed width) compare against as text.
pub fn parse_since(since: &str) -> Result<String> {
    let date = since.get(..10).unwrap_or("");
    let shape_ok = date.len() == 10
        && date.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok || parse_time_ms(&format!("{date}T00:00:00Z")).is_none() {
        bail!("`{since}` is not a date: write it as YYYY-MM-DD (UTC), e.g. 2026-01-31");
    }
    Ok(since.to_string())
}

/// Milliseconds since 1970 for an RFC 3339 UTC time (`2026-01-31T12:00:00.123Z`).
pub fn parse_time_ms(time: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> { time.get(range)?.parse().ok() };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let millis = match time.get(19..20) {
        Some(".") => {
            let digits: String = time
                .get(20..)?
                .chars()
                .take_while(char::is_ascii_digit)
                .chain("000".chars())
                .take(3)
                .collect();
            digits.parse::<i64>().ok()?
        }
        _ => 0,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

pub fn day_of(event: &Value) -> Option<&str> {
    str_of(event, "time").and_then(|t| t.get(..10))
}

fn time_of(event: &Value) -> &str {
    str_of(event, "time").unwrap_or("")
}

// ---------------------------------------------------------------------------------------
// The touch map

/// Where an observed touch sits against the declared map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// Allowed by the contract's own allow lists (or one of mandate's built-in no-effect
    /// allowances).
    Inside,
    /// Outside the declared map: the box moved, or tried to.
    Outside,
}

/// A touch is inside the declared map when the engine allowed it by a `contract.allow`
/// rule (or a built-in allowance such as a subagent start); anything else, refused or
/// not, is outside.
pub fn place(touch: &Value) -> Place {
    let allowed = str_of(touch, "decision") == Some("allow");
    let by_contract = touch
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|rule| rule.starts_with("contract.allow") || rule.starts_with("builtin."));
    if allowed && by_contract {
        Place::Inside
    } else {
        Place::Outside
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DeclaredEntry {
    pub pattern: String,
    /// Touches the record shows this entry allowed.
    pub used: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ObservedTouch {
    pub target: String,
    pub decision: String,
    pub outcome: Outcome,
    pub count: u64,
    /// The tool calls, first seen.
    pub tools: Vec<String>,
    /// True when a subagent made (one of) these touches.
    pub subagent: bool,
    pub rules: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KindMap {
    pub kind: &'static str,
    pub declared: Vec<DeclaredEntry>,
    pub blocked: Vec<String>,
    pub inside: Vec<ObservedTouch>,
    pub box_moved: Vec<ObservedTouch>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TouchMap {
    pub run: String,
    pub task: String,
    pub request: String,
    pub kinds: Vec<KindMap>,
}

impl TouchMap {
    pub fn moved_count(&self) -> usize {
        self.kinds.iter().map(|k| k.box_moved.len()).sum()
    }
}

fn list_at(contract: &Value, section: &str, kind: &str) -> Vec<String> {
    contract
        .get(section)
        .and_then(|a| a.get(kind))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The declared map (the contract at `run.start`) beside what the record observed.
pub fn touch_map(run: &RunRecord) -> TouchMap {
    let contract = run
        .start()
        .and_then(|e| e.get("contract"))
        .cloned()
        .unwrap_or(Value::Null);
    let outcomes = run.outcomes();
    let mut kinds: Vec<KindMap> = Kind::ALL
        .iter()
        .map(|kind| KindMap {
            kind: kind.as_str(),
            declared: list_at(&contract, "allow", kind.as_str())
                .into_iter()
                .map(|pattern| DeclaredEntry { pattern, used: 0 })
                .collect(),
            blocked: list_at(&contract, "block", kind.as_str()),
            inside: Vec::new(),
            box_moved: Vec::new(),
        })
        .collect();
    for event in run.events.iter().filter(|e| event_type(e) == "tool.pre") {
        let outcome = Outcome::of(event, &outcomes);
        let tool = str_of(event, "tool").unwrap_or("?");
        let subagent = event.get("agent_id").is_some_and(|a| !a.is_null());
        for touch in event
            .get("touches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = str_of(touch, "kind").unwrap_or("");
            let Some(map) = kinds.iter_mut().find(|k| k.kind == kind) else {
                continue;
            };
            let rules: Vec<String> = touch
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            for rule in &rules {
                let index = rule
                    .strip_prefix(&format!("contract.allow.{kind}["))
                    .and_then(|rest| rest.strip_suffix(']'))
                    .and_then(|n| n.parse::<usize>().ok());
                if let Some(entry) = index.and_then(|i| map.declared.get_mut(i)) {
                    entry.used += 1;
                }
            }
            let target = str_of(touch, "target").unwrap_or("").to_string();
            let decision = str_of(touch, "decision").unwrap_or("").to_string();
            let touch_outcome = if decision == "allow" || outcome.ran() {
                outcome
            } else {
                Outcome::Refused
            };
            let list = match place(touch) {
                Place::Inside => &mut map.inside,
                Place::Outside => &mut map.box_moved,
            };
            match list.iter_mut().find(|o| {
                o.target == target && o.decision == decision && o.outcome == touch_outcome
            }) {
                Some(seen) => {
                    seen.count += 1;
                    seen.subagent |= subagent;
                    if !seen.tools.iter().any(|t| t == tool) {
                        seen.tools.push(tool.to_string());
                    }
                }
                None => list.push(ObservedTouch {
                    target,
                    decision,
                    outcome: touch_outcome,
                    count: 1,
                    tools: vec![tool.to_string()],
                    subagent,
                    rules,
                }),
            }
        }
    }
    TouchMap {
        run: run.id.clone(),
        task: run.task().to_string(),
        request: contract
            .get("request")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        kinds,
    }
}

/// Show a path relative to the repository when it is inside it.
pub fn display_target(target: &str, root: Option<&Path>) -> String {
    match root.and_then(|root| Path::new(target).strip_prefix(root).ok()) {
        Some(rest) if !rest.as_os_str().is_empty() => rest.display().to_string(),
        _ => target.to_string(),
    }
}

pub fn render_touch_map(
    map: &TouchMap,
    root: Option<&Path>,
    observed: bool,
    format: ReportFormat,
) -> Result<String> {
    match format {
        ReportFormat::Json => Ok(serde_json::to_string_pretty(&touch_map_json(map))?),
        ReportFormat::Text => Ok(touch_map_text(map, root, observed)),
        ReportFormat::Html => Ok(touch_map_html(map, root, observed)),
    }
}

/// JSON: the five kinds by name, each with `declared`, `observed`, `box_moved`.
fn touch_map_json(map: &TouchMap) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("run".into(), json!(map.run));
    out.insert("task".into(), json!(map.task));
    for kind in &map.kinds {
        let observed: Vec<&ObservedTouch> = kind.inside.iter().chain(&kind.box_moved).collect();
        out.insert(
            kind.kind.into(),
            json!({
                "declared": kind.declared.iter().map(|d| d.pattern.clone()).collect::<Vec<_>>(),
                "declared_use": kind.declared,
                "blocked": kind.blocked,
                "observed": observed,
                "box_moved": kind.box_moved,
            }),
        );
    }
    Value::Object(out)
}

fn touch_line(touch: &ObservedTouch, root: Option<&Path>) -> String {
    let mut line = display_target(&touch.target, root);
    if touch.count > 1 {
        let _ = write!(line, " ×{}", touch.count);
    }
    let _ = write!(line, "  ({}", touch.tools.join(", "));
    if touch.subagent {
        line.push_str(", subagent");
    }
    line.push(')');
    line
}

fn touch_map_text(map: &TouchMap, root: Option<&Path>, observed: bool) -> String {
    let mut out = format!("touch map of run {} ({})\n", map.run, map.task);
    if !map.request.is_empty() {
        let _ = writeln!(out, "task: {}", map.request);
    }
    let moved = map.moved_count();
    let _ = writeln!(
        out,
        "{}",
        if moved == 0 {
            "the box held: every observed touch is inside the declared map".to_string()
        } else {
            format!(
                "THE BOX MOVED: {moved} touch target{} outside the declared map (below, marked !)",
                if moved == 1 { "" } else { "s" }
            )
        }
    );
    for kind in &map.kinds {
        let _ = writeln!(out, "\n{}", kind.kind.to_uppercase());
        if kind.declared.is_empty() {
            let _ = writeln!(out, "  declared  nothing");
        }
        for entry in &kind.declared {
            let _ = writeln!(
                out,
                "  declared  {:<40} {}",
                entry.pattern,
                match entry.used {
                    0 => "unused".to_string(),
                    1 => "used once".to_string(),
                    n => format!("used {n} times"),
                }
            );
        }
        if observed {
            for touch in &kind.inside {
                let _ = writeln!(out, "  observed  {}", touch_line(touch, root));
            }
        } else if !kind.inside.is_empty() {
            let _ = writeln!(
                out,
                "  observed  {} target{} inside (--observed lists them)",
                kind.inside.len(),
                if kind.inside.len() == 1 { "" } else { "s" }
            );
        }
        for touch in &kind.box_moved {
            let _ = writeln!(
                out,
                "! outside   {}: {}  [{}]",
                touch.outcome.as_str(),
                touch_line(touch, root),
                touch.rules.join(", ")
            );
        }
    }
    out
}

fn touch_map_html(map: &TouchMap, root: Option<&Path>, observed: bool) -> String {
    let moved = map.moved_count();
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>{} {}</p>",
        if moved == 0 {
            report_html::badge("ok", "the box held")
        } else {
            report_html::badge("bad", "the box moved")
        },
        escape(&if moved == 0 {
            "Every observed touch is inside the declared map.".to_string()
        } else {
            format!(
                "{moved} touch targets fell outside the declared map; refused attempts are marked refused."
            )
        })
    );
    let mut rows = Vec::new();
    for kind in &map.kinds {
        let declared = if kind.declared.is_empty() {
            "<em>nothing</em>".to_string()
        } else {
            kind.declared
                .iter()
                .map(|d| {
                    format!(
                        "<code>{}</code> <small>(used {}×)</small>",
                        escape(&d.pattern),
                        d.used
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let inside = if observed {
            kind.inside
                .iter()
                .map(|t| escape(&touch_line(t, root)))
                .collect::<Vec<_>>()
                .join("<br>")
        } else {
            format!("{} targets", kind.inside.len())
        };
        let outside = kind
            .box_moved
            .iter()
            .map(|t| {
                format!(
                    "{} {}",
                    report_html::badge(
                        if t.outcome.ran() { "bad" } else { "warn" },
                        t.outcome.as_str()
                    ),
                    escape(&touch_line(t, root))
                )
            })
            .collect::<Vec<_>>()
            .join("<br>");
        rows.push(vec![
            format!("<strong>{}</strong>", kind.kind),
            declared,
            inside,
            if outside.is_empty() {
                "—".to_string()
            } else {
                outside
            },
        ]);
    }
    body.push_str(&report_html::table(
        &[
            "kind",
            "declared (contract allow)",
            "observed inside",
            "the box moved",
        ],
        &rows,
    ));
    report_html::page(
        &format!("Touch map: {}", map.task),
        &format!("run {} · {}", map.run, map.request),
        &body,
    )
}

// ---------------------------------------------------------------------------------------
// Metrics

#[derive(Clone, Debug, Default, Serialize)]
pub struct DayCounts {
    pub day: String,
    pub allowed: u64,
    pub refused: u64,
    /// Decided "not allowed" but let through (shadow or record mode).
    pub would_refuse: u64,
    pub unguarded: u64,
    pub box_moved: u64,
    pub approvals: u64,
    pub stops: u64,
    pub kill_switch: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ToolUse {
    pub calls: u64,
    pub allowed: u64,
    pub refused: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Approvals {
    pub requested: u64,
    pub granted: u64,
    pub denied: u64,
    pub used: u64,
    pub pending: u64,
    pub median_latency_seconds: Option<f64>,
    pub max_latency_seconds: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StopTrigger {
    pub run: String,
    pub time: String,
    pub rule: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Evidence {
    pub runs_finished: u64,
    pub runs_complete: u64,
    /// Evidence kinds missing at finish, with how many runs missed each.
    pub missing: BTreeMap<String, u64>,
    pub stop_gate_blocks: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Tests {
    pub test_runs: u64,
    pub failing_runs: u64,
    pub test_gaps_recorded: u64,
    /// Finished runs whose contract required tests but which recorded no test run.
    pub runs_without_tests: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    pub since: Option<String>,
    /// The repositories whose runs are counted (`--repo`, `--all-repos`).
    pub repositories: Vec<String>,
    pub runs: u64,
    pub runs_finished: u64,
    pub runs_stopped: u64,
    pub runs_open: u64,
    pub tool_calls: u64,
    pub subagent_calls: u64,
    pub decisions: BTreeMap<String, u64>,
    pub refused: u64,
    pub would_refuse: u64,
    pub denial_rate: f64,
    pub approvals: Approvals,
    pub stop_triggers: Vec<StopTrigger>,
    pub unguarded_calls: u64,
    /// Calls the agent refused itself before any hook (its permission rules, its input
    /// validation), found in its transcript.
    pub refused_by_agent: u64,
    /// Events a hook could not record (`record.gap`).
    pub record_gaps: u64,
    /// Transcripts (or parts) the reconciliation could not read.
    pub transcripts_not_understood: u64,
    pub box_moved_touches: u64,
    pub box_moved_ran: u64,
    pub evidence: Evidence,
    pub tests: Tests,
    pub reviews: BTreeMap<String, u64>,
    pub runs_awaiting_review: u64,
    pub mcp_tools: BTreeMap<String, ToolUse>,
    pub kill_switch_events: u64,
    pub days: Vec<DayCounts>,
}

fn is_kill_switch(kind: &str) -> bool {
    kind == "killswitch" || kind.starts_with("killswitch.")
}

/// The metrics over `runs` (events at or after `since`), plus kill-switch log entries
/// kept outside the runs.
pub fn compute(runs: &[RunRecord], kill_log: &[Value], since: Option<&str>) -> Metrics {
    let after = |event: &Value| since.is_none_or(|s| time_of(event) >= s);
    let mut m = Metrics {
        since: since.map(str::to_string),
        ..Metrics::default()
    };
    let mut days: BTreeMap<String, DayCounts> = BTreeMap::new();
    let day = |event: &Value| -> Option<String> { day_of(event).map(str::to_string) };
    let bump =
        |days: &mut BTreeMap<String, DayCounts>, d: Option<String>, f: &dyn Fn(&mut DayCounts)| {
            if let Some(d) = d {
                let entry = days.entry(d.clone()).or_insert_with(|| DayCounts {
                    day: d,
                    ..DayCounts::default()
                });
                f(entry);
            }
        };
    let mut latencies: Vec<f64> = Vec::new();
    let mut kill_seen: BTreeSet<String> = BTreeSet::new();
    for run in runs {
        let events: Vec<&Value> = run.events.iter().filter(|e| after(e)).collect();
        if events.is_empty() {
            continue;
        }
        m.runs += 1;
        let finished = events.iter().find(|e| event_type(e) == "run.finish");
        let stopped = events.iter().any(|e| event_type(e) == "run.stopped");
        if finished.is_some() {
            m.runs_finished += 1;
        } else if !stopped {
            m.runs_open += 1;
        }
        if stopped {
            m.runs_stopped += 1;
        }
        let outcomes = run.outcomes();
        let mut decided: BTreeSet<&str> = BTreeSet::new();
        let mut requests: HashMap<String, i64> = HashMap::new();
        let mut granted_ids: BTreeSet<String> = BTreeSet::new();
        let mut requested_ids: BTreeSet<String> = BTreeSet::new();
        let mut has_test_run = false;
        let mut reviewed = false;
        for event in &events {
            let kind = event_type(event);
            let d = day(event);
            match kind {
                "tool.pre" => {
                    m.tool_calls += 1;
                    if event.get("agent_id").is_some_and(|a| !a.is_null()) {
                        m.subagent_calls += 1;
                    }
                    if let Some(id) = str_of(event, "tool_use_id") {
                        decided.insert(id);
                    }
                    let decision = str_of(event, "decision").unwrap_or("unknown");
                    *m.decisions.entry(decision.to_string()).or_default() += 1;
                    let outcome = Outcome::of(event, &outcomes);
                    let allowed = decision == "allow";
                    // Shadow and record modes decide without enforcing: a "would deny"
                    // is never a denial, whether or not its result reached the record.
                    let shadow = event.get("enforced") == Some(&json!(false));
                    let refused = !allowed && !shadow && !outcome.ran();
                    let would = !allowed && (shadow || outcome.ran());
                    if refused {
                        m.refused += 1;
                    }
                    if would {
                        m.would_refuse += 1;
                    }
                    let mut moved = 0u64;
                    for touch in event
                        .get("touches")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if place(touch) == Place::Outside {
                            moved += 1;
                            if outcome.ran() {
                                m.box_moved_ran += 1;
                            }
                        }
                    }
                    m.box_moved_touches += moved;
                    bump(&mut days, d, &|c: &mut DayCounts| {
                        if allowed {
                            c.allowed += 1;
                        } else if refused {
                            c.refused += 1;
                        } else {
                            c.would_refuse += 1;
                        }
                        c.box_moved += moved;
                    });
                    if let Some(tool) = str_of(event, "tool").filter(|t| t.starts_with("mcp__")) {
                        let use_ = m.mcp_tools.entry(tool.to_string()).or_default();
                        use_.calls += 1;
                        if allowed {
                            use_.allowed += 1;
                        } else if refused {
                            use_.refused += 1;
                        }
                    }
                }
                "tool.post" | "tool.failure" => {
                    let guarded =
                        str_of(event, "tool_use_id").is_some_and(|id| decided.contains(id));
                    if !guarded {
                        m.unguarded_calls += 1;
                        bump(&mut days, d, &|c: &mut DayCounts| c.unguarded += 1);
                    }
                }
                "tool.unguarded" => {
                    m.unguarded_calls += 1;
                    bump(&mut days, d, &|c: &mut DayCounts| c.unguarded += 1);
                }
                "tool.refused_by_agent" => m.refused_by_agent += 1,
                "record.gap" => {
                    m.record_gaps += event.get("count").and_then(Value::as_u64).unwrap_or(1);
                }
                "transcript.not_understood" | "transcript.unreadable" => {
                    m.transcripts_not_understood += 1;
                }
                "run.stopped" => {
                    m.stop_triggers.push(StopTrigger {
                        run: run.id.clone(),
                        time: time_of(event).to_string(),
                        rule: str_of(event, "rule").unwrap_or("").to_string(),
                        reason: str_of(event, "reason").unwrap_or("").to_string(),
                    });
                    bump(&mut days, d, &|c: &mut DayCounts| c.stops += 1);
                }
                "stop.gate" if event.get("blocked") == Some(&json!(true)) => {
                    m.evidence.stop_gate_blocks += 1;
                }
                "test.run" => {
                    has_test_run = true;
                    m.tests.test_runs += 1;
                    if event
                        .get("exit_status")
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                        != 0
                    {
                        m.tests.failing_runs += 1;
                    }
                }
                "evidence.test_gap" => m.tests.test_gaps_recorded += 1,
                "review" => {
                    reviewed = true;
                    let decision = str_of(event, "decision").unwrap_or("unknown");
                    *m.reviews.entry(decision.to_string()).or_default() += 1;
                }
                _ if kind.starts_with("approval.") => {
                    let id = approval_id(event);
                    match kind {
                        "approval.request" => {
                            m.approvals.requested += 1;
                            if let Some(id) = id {
                                requested_ids.insert(id.clone());
                                if let Some(t) = parse_time_ms(time_of(event)) {
                                    requests.insert(id, t);
                                }
                            }
                        }
                        "approval.granted" => {
                            m.approvals.granted += 1;
                            bump(&mut days, d, &|c: &mut DayCounts| c.approvals += 1);
                            if let Some(id) = id {
                                let start = requests.get(&id).copied().or_else(|| {
                                    str_of(event, "requested_at").and_then(parse_time_ms)
                                });
                                if let (Some(start), Some(end)) =
                                    (start, parse_time_ms(time_of(event)))
                                {
                                    latencies.push((end - start) as f64 / 1000.0);
                                }
                                granted_ids.insert(id);
                            }
                        }
                        "approval.denied" => {
                            m.approvals.denied += 1;
                            if let Some(id) = id {
                                granted_ids.insert(id);
                            }
                        }
                        "approval.used" => m.approvals.used += 1,
                        _ => {}
                    }
                }
                // The same switch is written into every affected run: count it once.
                _ if is_kill_switch(kind) && kill_seen.insert(kill_key(event)) => {
                    m.kill_switch_events += 1;
                    bump(&mut days, d, &|c: &mut DayCounts| c.kill_switch += 1);
                }
                _ => {}
            }
        }
        m.approvals.pending += requested_ids.difference(&granted_ids).count() as u64;
        if let Some(finish) = finished {
            if finish.get("complete") == Some(&json!(true)) {
                m.evidence.runs_complete += 1;
            }
            for missing in finish
                .get("missing")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                *m.evidence.missing.entry(missing.to_string()).or_default() += 1;
            }
            let tests_required = run
                .start()
                .and_then(|s| s.pointer("/contract/evidence_required"))
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|k| k == "tests"));
            if tests_required && !has_test_run {
                m.tests.runs_without_tests.push(run.id.clone());
            }
            if !reviewed {
                m.runs_awaiting_review += 1;
            }
        }
    }
    for event in kill_log.iter().filter(|e| after(e)) {
        if kill_seen.insert(kill_key(event)) {
            m.kill_switch_events += 1;
            bump(&mut days, day(event), &|c: &mut DayCounts| {
                c.kill_switch += 1
            });
        }
    }
    m.evidence.runs_finished = m.runs_finished;
    let judged = m.tool_calls.max(1) as f64;
    m.denial_rate = if m.tool_calls == 0 {
        0.0
    } else {
        (m.refused + m.would_refuse) as f64 / judged
    };
    latencies.sort_by(f64::total_cmp);
    m.approvals.median_latency_seconds = latencies.get(latencies.len() / 2).copied();
    m.approvals.max_latency_seconds = latencies.last().copied();
    m.days = days.into_values().collect();
    m
}

fn approval_id(event: &Value) -> Option<String> {
    ["approval_id", "id"]
        .iter()
        .find_map(|k| event.get(*k))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
}

/// The kill-switch log kept under `records.dir` by `mandate disable` / `enable`
/// (`killswitch.jsonl`, one JSON object per line; owned by `mandate_project::killswitch`),
/// as events of type `killswitch`. Absent or unreadable means none.
pub fn read_kill_log(records_dir: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(records_dir.join("killswitch.jsonl")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|mut value| {
            let object = value.as_object_mut()?;
            object.insert("type".into(), json!("killswitch"));
            Some(value)
        })
        .collect()
}

/// One kill-switch action, however many runs it was written into.
fn kill_key(event: &Value) -> String {
    format!(
        "{}|{}|{}",
        str_of(event, "action").unwrap_or(""),
        time_of(event),
        str_of(event, "target").unwrap_or("")
    )
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn latency(seconds: Option<f64>) -> String {
    match seconds {
        None => "—".to_string(),
        Some(s) if s < 120.0 => format!("{s:.0}s"),
        Some(s) if s < 7200.0 => format!("{:.0} min", s / 60.0),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

pub fn render_text(m: &Metrics) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mandate metrics{}",
        m.since
            .as_ref()
            .map(|s| format!(" since {s}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "repositories    {}",
        if m.repositories.is_empty() {
            "none on record".to_string()
        } else {
            m.repositories.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "\nruns            {} ({} finished, {} stopped, {} open)",
        m.runs, m.runs_finished, m.runs_stopped, m.runs_open
    );
    let _ = writeln!(
        out,
        "tool calls      {} ({} by subagents)",
        m.tool_calls, m.subagent_calls
    );
    let decisions: Vec<String> = m
        .decisions
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        out,
        "decisions       {}",
        if decisions.is_empty() {
            "none".to_string()
        } else {
            decisions.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "denial rate     {} ({} refused, {} would have been refused but ran in shadow/record mode)",
        percent(m.denial_rate),
        m.refused,
        m.would_refuse
    );
    let a = &m.approvals;
    let _ = writeln!(
        out,
        "approvals       {} requested, {} granted, {} denied, {} used, {} pending; latency median {}, max {}",
        a.requested,
        a.granted,
        a.denied,
        a.used,
        a.pending,
        latency(a.median_latency_seconds),
        latency(a.max_latency_seconds)
    );
    let _ = writeln!(out, "stop triggers   {}", m.stop_triggers.len());
    for stop in &m.stop_triggers {
        let _ = writeln!(
            out,
            "  {} {} {}: {}",
            stop.time, stop.run, stop.rule, stop.reason
        );
    }
    let _ = writeln!(
        out,
        "unguarded calls {}{}",
        m.unguarded_calls,
        if m.unguarded_calls > 0 {
            "  (ran with no decision on record: check the hooks are installed with onFailure: block)"
        } else {
            ""
        }
    );
    if m.refused_by_agent > 0 {
        let _ = writeln!(
            out,
            "refused by the agent itself {} (its own permission rules or input validation, before any hook)",
            m.refused_by_agent
        );
    }
    if m.record_gaps > 0 {
        let _ = writeln!(
            out,
            "RECORD GAPS     {} events could not be recorded (see `mandate status`)",
            m.record_gaps
        );
    }
    if m.transcripts_not_understood > 0 {
        let _ = writeln!(
            out,
            "transcripts not understood {} (calls in them may be missing from the records)",
            m.transcripts_not_understood
        );
    }
    let _ = writeln!(
        out,
        "box moved       {} touches outside the declared map ({} of them ran)",
        m.box_moved_touches, m.box_moved_ran
    );
    let e = &m.evidence;
    let missing: Vec<String> = e.missing.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
    let _ = writeln!(
        out,
        "evidence        {}/{} finished runs complete{}; stop gate held the agent {} times",
        e.runs_complete,
        e.runs_finished,
        if missing.is_empty() {
            String::new()
        } else {
            format!(" (missing: {})", missing.join(", "))
        },
        e.stop_gate_blocks
    );
    let t = &m.tests;
    let _ = writeln!(
        out,
        "tests           {} test runs ({} failing), {} test gaps recorded, {} finished runs without a test run",
        t.test_runs,
        t.failing_runs,
        t.test_gaps_recorded,
        t.runs_without_tests.len()
    );
    let reviews: Vec<String> = m.reviews.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        out,
        "reviews         {}; {} finished runs awaiting review",
        if reviews.is_empty() {
            "none".to_string()
        } else {
            reviews.join(", ")
        },
        m.runs_awaiting_review
    );
    let _ = writeln!(out, "kill switch     {} events", m.kill_switch_events);
    let _ = writeln!(
        out,
        "MCP tools       {}",
        if m.mcp_tools.is_empty() {
            "none called"
        } else {
            ""
        }
    );
    for (tool, use_) in &m.mcp_tools {
        let _ = writeln!(
            out,
            "  {tool:<40} {} calls, {} allowed, {} refused",
            use_.calls, use_.allowed, use_.refused
        );
    }
    if !m.days.is_empty() {
        let _ = writeln!(
            out,
            "\nper day         allowed refused would-refuse unguarded box-moved stops"
        );
        for d in &m.days {
            let _ = writeln!(
                out,
                "  {}    {:>7} {:>7} {:>12} {:>9} {:>9} {:>5}",
                d.day, d.allowed, d.refused, d.would_refuse, d.unguarded, d.box_moved, d.stops
            );
        }
    }
    out
}

pub fn render_html(m: &Metrics) -> String {
    let days: Vec<String> = m.days.iter().map(|d| d.day.clone()).collect();
    let series =
        |f: fn(&DayCounts) -> u64| -> Vec<f64> { m.days.iter().map(|d| f(d) as f64).collect() };
    let mut body = report_html::cards(&[
        (m.runs.to_string(), "runs"),
        (m.tool_calls.to_string(), "tool calls"),
        (percent(m.denial_rate), "denial rate"),
        (m.unguarded_calls.to_string(), "unguarded calls"),
        (m.box_moved_touches.to_string(), "box-moved touches"),
        (m.stop_triggers.len().to_string(), "stop triggers"),
        (
            format!("{}/{}", m.evidence.runs_complete, m.evidence.runs_finished),
            "runs with complete evidence",
        ),
        (m.kill_switch_events.to_string(), "kill-switch events"),
    ]);
    body.push_str("<h2>Over time</h2>");
    if days.is_empty() {
        body.push_str("<p>No runs recorded in this period.</p>");
    } else {
        body.push_str(&report_html::stacked_bars(
            "Tool calls per day, by decision",
            &days,
            &[
                ("allowed", series(|d| d.allowed)),
                ("refused", series(|d| d.refused)),
                ("would refuse (shadow)", series(|d| d.would_refuse)),
            ],
        ));
        let rate: Vec<Option<f64>> = m
            .days
            .iter()
            .map(|d| {
                let total = d.allowed + d.refused + d.would_refuse;
                (total > 0).then(|| 100.0 * (d.refused + d.would_refuse) as f64 / total as f64)
            })
            .collect();
        body.push_str(&report_html::lines(
            "Denial rate per day",
            "%",
            &days,
            &[("denial rate", rate)],
        ));
        body.push_str(&report_html::stacked_bars(
            "Warning signs per day",
            &days,
            &[
                ("box-moved touches", series(|d| d.box_moved)),
                ("unguarded calls", series(|d| d.unguarded)),
                ("stop triggers", series(|d| d.stops)),
                ("kill-switch events", series(|d| d.kill_switch)),
                ("approvals granted", series(|d| d.approvals)),
            ],
        ));
    }
    body.push_str("<h2>Decisions</h2>");
    let decisions: Vec<(String, f64)> = m
        .decisions
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    if decisions.is_empty() {
        body.push_str("<p>No tool calls recorded.</p>");
    } else {
        body.push_str(&report_html::ranking("Tool calls by decision", &decisions));
    }
    body.push_str("<h2>MCP tools</h2>");
    if m.mcp_tools.is_empty() {
        body.push_str("<p>No MCP tool was called.</p>");
    } else {
        let items: Vec<(String, f64)> = m
            .mcp_tools
            .iter()
            .map(|(k, v)| (k.clone(), v.calls as f64))
            .collect();
        body.push_str(&report_html::ranking("Calls per MCP tool", &items));
        let rows: Vec<Vec<String>> = m
            .mcp_tools
            .iter()
            .map(|(tool, u)| {
                vec![
                    format!("<code>{}</code>", escape(tool)),
                    format!("<span class=\"num\">{}</span>", u.calls),
                    u.allowed.to_string(),
                    u.refused.to_string(),
                ]
            })
            .collect();
        body.push_str(&report_html::table(
            &["tool", "calls", "allowed", "refused"],
            &rows,
        ));
    }
    body.push_str("<h2>Approvals, evidence, tests and reviews</h2>");
    let a = &m.approvals;
    let e = &m.evidence;
    let t = &m.tests;
    let missing: Vec<String> = e.missing.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
    let reviews: Vec<String> = m.reviews.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let rows = vec![
        vec![
            "approvals".to_string(),
            escape(&format!(
                "{} requested, {} granted, {} denied, {} used, {} pending · latency median {}, max {}",
                a.requested,
                a.granted,
                a.denied,
                a.used,
                a.pending,
                latency(a.median_latency_seconds),
                latency(a.max_latency_seconds)
            )),
        ],
        vec![
            "evidence".to_string(),
            escape(&format!(
                "{}/{} finished runs complete{} · the stop gate held the agent {} times",
                e.runs_complete,
                e.runs_finished,
                if missing.is_empty() {
                    String::new()
                } else {
                    format!("; missing {}", missing.join(", "))
                },
                e.stop_gate_blocks
            )),
        ],
        vec![
            "tests".to_string(),
            escape(&format!(
                "{} test runs ({} failing) · {} test gaps recorded · finished without a test run: {}",
                t.test_runs,
                t.failing_runs,
                t.test_gaps_recorded,
                if t.runs_without_tests.is_empty() {
                    "none".to_string()
                } else {
                    t.runs_without_tests.join(", ")
                }
            )),
        ],
        vec![
            "reviews".to_string(),
            escape(&format!(
                "{} · {} finished runs awaiting review",
                if reviews.is_empty() {
                    "none yet".to_string()
                } else {
                    reviews.join(", ")
                },
                m.runs_awaiting_review
            )),
        ],
    ];
    body.push_str(&report_html::table(
        &["measure", "what the records show"],
        &rows,
    ));
    if !m.stop_triggers.is_empty() {
        body.push_str("<h2>Stop triggers</h2>");
        let rows: Vec<Vec<String>> = m
            .stop_triggers
            .iter()
            .map(|s| {
                vec![
                    escape(&s.time),
                    escape(&s.run),
                    format!("<code>{}</code>", escape(&s.rule)),
                    mandate_record::packet::inline_markdown_html(&s.reason),
                ]
            })
            .collect();
        body.push_str(&report_html::table(
            &["time", "run", "rule", "reason"],
            &rows,
        ));
    }
    report_html::page(
        "mandate metrics",
        &format!(
            "{} runs{} · is the rollout working or getting risky?",
            m.runs,
            m.since
                .as_ref()
                .map(|s| format!(" since {s}"))
                .unwrap_or_default()
        ),
        &body,
    )
}

/// `mandate metrics [--since DATE] [--format …]`.
pub fn metrics(since: Option<&str>, format: ReportFormat, scope: &RepoScope) -> Result<ExitCode> {
    let since = since.map(parse_since).transpose()?;
    let project = Project::discover(&std::env::current_dir()?, None)?;
    let (runs, repositories) = load_scoped_runs(&project, scope)?;
    let kill_log = read_kill_log(&project.records_dir());
    let mut m = compute(&runs, &kill_log, since.as_deref());
    m.repositories = repositories;
    let out = match format {
        ReportFormat::Text => render_text(&m),
        ReportFormat::Json => serde_json::to_string_pretty(&m)? + "\n",
        ReportFormat::Html => render_html(&m),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn pre(id: &str, time: &str, decision: &str, touches: Value) -> Value {
        json!({"type": "tool.pre", "time": time, "tool_use_id": id, "tool": "Read",
               "decision": decision, "enforced": true, "touches": touches})
    }

    fn run(events: Vec<Value>) -> RunRecord {
        let mut all = vec![json!({"type": "run.start", "time": "2026-01-01T00:00:00Z",
            "contract": {"id": "T-1", "allow": {"read": ["src/**"]}, "evidence_required": ["tests"]}})];
        all.extend(events);
        RunRecord {
            id: "T-1-run".into(),
            events: all,
        }
    }

    #[test]
    fn times_parse_to_milliseconds() {
        assert_eq!(parse_time_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_time_ms("2026-01-02T00:00:00Z").unwrap()
                - parse_time_ms("2026-01-01T00:00:00Z").unwrap(),
            86_400_000
        );
        assert!(parse_since("2026-13-01").is_err());
        assert!(parse_since("yesterday").is_err());
        assert_eq!(parse_since("2026-01-31").unwrap(), "2026-01-31");
    }

    #[test]
    fn unguarded_refused_and_box_moved() {
        let inside = json!([{"kind": "read", "target": "/r/src/a", "decision": "allow", "rules": ["contract.allow.read[0]"]}]);
        let outside = json!([{"kind": "read", "target": "/r/.env", "decision": "deny", "rules": ["policy.block.read[0]"]}]);
        let r = run(vec![
            pre("t1", "2026-01-01T00:00:01Z", "allow", inside.clone()),
            json!({"type": "tool.post", "time": "2026-01-01T00:00:02Z", "tool_use_id": "t1"}),
            pre("t2", "2026-01-02T00:00:01Z", "deny", outside),
            json!({"type": "tool.post", "time": "2026-01-02T00:00:03Z", "tool_use_id": "t9"}),
            json!({"type": "run.finish", "time": "2026-01-02T00:00:04Z", "complete": false, "missing": ["tests"]}),
        ]);
        let m = compute(std::slice::from_ref(&r), &[], None);
        assert_eq!(m.tool_calls, 2);
        assert_eq!(m.refused, 1);
        assert_eq!(m.unguarded_calls, 1);
        assert_eq!(m.box_moved_touches, 1);
        assert_eq!(m.box_moved_ran, 0);
        assert_eq!(m.tests.runs_without_tests, vec!["T-1-run".to_string()]);
        assert_eq!(m.days.len(), 2);
        assert!((m.denial_rate - 0.5).abs() < 1e-9);
        let since = compute(std::slice::from_ref(&r), &[], Some("2026-01-02"));
        assert_eq!(since.tool_calls, 1);
        let map = touch_map(&r);
        assert_eq!(map.kinds[0].declared[0].used, 1);
        assert_eq!(map.kinds[0].box_moved[0].outcome, Outcome::Refused);
    }

    #[test]
    fn approval_latency_and_kill_switch_counted_once() {
        let r = run(vec![
            json!({"type": "approval.request", "time": "2026-01-01T00:00:00Z", "approval_id": "a1"}),
            json!({"type": "approval.granted", "time": "2026-01-01T00:01:30Z", "approval_id": "a1"}),
            json!({"type": "killswitch", "action": "disable", "time": "2026-01-01T00:02:00Z", "target": "jira"}),
        ]);
        let log = vec![
            json!({"type": "killswitch", "action": "disable", "time": "2026-01-01T00:02:00Z", "target": "jira"}),
        ];
        let m = compute(&[r], &log, None);
        assert_eq!(m.approvals.median_latency_seconds, Some(90.0));
        assert_eq!(m.approvals.pending, 0);
        assert_eq!(m.kill_switch_events, 1);
    }
}
