//! Metrics and the touch map: what the run records say about the rollout.
//!
//! Everything here is a pure function over run events, so the numbers a security lead
//! sees in `mandate metrics` and on the team server's metrics page are one computation,
//! and the numbers the tests check. The event fields used are the ones the hook and the
//! CLI write: `tool.pre` (`tool`, `touches[{kind,target,decision,rules}]`, `decision`,
//! `enforced`, `tool_use_id`), `tool.post` / `tool.failure`, `run.start` (`contract`),
//! `run.finish` (`complete`, `missing`), `run.stopped`, `stop.gate`, `test.run`,
//! `evidence.*`, `review`, `approval.*` and kill-switch events. A field that is absent
//! counts as nothing, never as a failure to report.
//!
//! The metrics add up per run: [`figures`] is one run's share, [`combine`] adds shares, and
//! [`compute`] is the two together. A reader that keeps each finished run's share
//! ([`RunFigures`], serialisable) answers without reading every event again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use mandate_policy::Kind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The `type` of an event.
pub fn event_type(event: &Value) -> &str {
    event.get("type").and_then(Value::as_str).unwrap_or("")
}

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

pub fn time_of(event: &Value) -> &str {
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
// ---------------------------------------------------------------------------------------
// Metrics

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolUse {
    pub calls: u64,
    pub allowed: u64,
    pub refused: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Approvals {
    pub requested: u64,
    pub granted: u64,
    pub denied: u64,
    pub used: u64,
    pub pending: u64,
    pub median_latency_seconds: Option<f64>,
    pub max_latency_seconds: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StopTrigger {
    pub run: String,
    pub time: String,
    pub rule: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub runs_finished: u64,
    pub runs_complete: u64,
    /// Evidence kinds missing at finish, with how many runs missed each.
    pub missing: BTreeMap<String, u64>,
    pub stop_gate_blocks: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tests {
    pub test_runs: u64,
    pub failing_runs: u64,
    pub test_gaps_recorded: u64,
    /// Finished runs whose contract required tests but which recorded no test run.
    pub runs_without_tests: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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

/// One run's share of the metrics: what [`combine`] adds up, and what a reader keeps per
/// finished run so that the next report need not read its events again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    pub run: String,
    /// The contract id the run was started with.
    pub task: String,
    /// `run.start` time, and the earliest and latest event times (`""` for an event
    /// without one): whether a `since` cuts through the run.
    pub started: String,
    pub earliest: String,
    pub latest: String,
    /// `run.start` fields the reports show: the repository, the OS account.
    pub workspace: Option<String>,
    pub os_user: Option<String>,
    /// The record holds a `tool.unguarded` event.
    pub unguarded_marked: bool,
    /// What the run started under (`run.start`): the contract file and digest, whether
    /// the policy's text is in the record, the MCP servers configured on the machine.
    pub contract_file: Option<String>,
    pub contract_digest: Option<String>,
    pub policy_digest: Option<String>,
    pub has_policy: bool,
    pub mcp_configured: Vec<String>,
    /// The run's counts, as [`Metrics`] of this run alone, without kill-switch events
    /// (counted once over all runs by [`combine`]) and with the rates left to it.
    pub counts: Metrics,
    /// Seconds from each approval request to its grant.
    pub latencies: Vec<f64>,
    /// Kill-switch actions written into the run: (key, day).
    pub kills: Vec<(String, Option<String>)>,
    /// Whether `counts` cover the events at or after some `since` only.
    pub since: Option<String>,
}

impl RunFigures {
    /// Whether this share, taken over all events, is exact for `since`: every event is
    /// at or after it. `None` when the run has nothing at or after it.
    pub fn covers(&self, since: Option<&str>) -> Option<bool> {
        match since {
            None => Some(true),
            Some(s) if self.latest.as_str() < s => None,
            Some(s) => Some(self.earliest.as_str() >= s),
        }
    }
}

/// The metrics over `runs` (events at or after `since`), plus kill-switch log entries
/// kept outside the runs.
pub fn compute(runs: &[RunRecord], kill_log: &[Value], since: Option<&str>) -> Metrics {
    let shares: Vec<RunFigures> = runs.iter().map(|run| figures(run, since)).collect();
    combine(&shares, kill_log, since)
}

fn bump(days: &mut BTreeMap<String, DayCounts>, d: Option<String>, f: &dyn Fn(&mut DayCounts)) {
    if let Some(d) = d {
        let entry = days.entry(d.clone()).or_insert_with(|| DayCounts {
            day: d,
            ..DayCounts::default()
        });
        f(entry);
    }
}

/// One run's share of the metrics over its events at or after `since`.
pub fn figures(run: &RunRecord, since: Option<&str>) -> RunFigures {
    let after = |event: &Value| since.is_none_or(|s| time_of(event) >= s);
    let start = run.start();
    let mut share = RunFigures {
        run: run.id.clone(),
        task: run.task().to_string(),
        started: start.map(time_of).unwrap_or("").to_string(),
        earliest: run
            .events
            .iter()
            .map(time_of)
            .min()
            .unwrap_or("")
            .to_string(),
        latest: run
            .events
            .iter()
            .map(time_of)
            .max()
            .unwrap_or("")
            .to_string(),
        workspace: start
            .and_then(|s| str_of(s, "workspace"))
            .map(str::to_string),
        os_user: start.and_then(|s| str_of(s, "os_user")).map(str::to_string),
        unguarded_marked: run.events.iter().any(|e| event_type(e) == "tool.unguarded"),
        contract_file: start
            .and_then(|s| str_of(s, "contract_file"))
            .map(str::to_string),
        contract_digest: start
            .and_then(|s| str_of(s, "contract_digest"))
            .map(str::to_string),
        policy_digest: start
            .and_then(|s| str_of(s, "policy_digest"))
            .map(str::to_string),
        has_policy: start.is_some_and(|s| str_of(s, "policy_text").is_some()),
        mcp_configured: start
            .and_then(|s| s.get("mcp_configured"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        since: since.map(str::to_string),
        ..RunFigures::default()
    };
    let m = &mut share.counts;
    let mut days: BTreeMap<String, DayCounts> = BTreeMap::new();
    let day = |event: &Value| -> Option<String> { day_of(event).map(str::to_string) };
    let events: Vec<&Value> = run.events.iter().filter(|e| after(e)).collect();
    if events.is_empty() {
        return share;
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
                let guarded = str_of(event, "tool_use_id").is_some_and(|id| decided.contains(id));
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
                            let start = requests
                                .get(&id)
                                .copied()
                                .or_else(|| str_of(event, "requested_at").and_then(parse_time_ms));
                            if let (Some(start), Some(end)) = (start, parse_time_ms(time_of(event)))
                            {
                                share.latencies.push((end - start) as f64 / 1000.0);
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
            // The same switch is written into every affected run: [`combine`] counts it
            // once.
            _ if is_kill_switch(kind) => share.kills.push((kill_key(event), d)),
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
        let tests_required = start
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
    m.days = days.into_values().collect();
    share
}

fn add_map<V: Default>(
    into: &mut BTreeMap<String, V>,
    from: &BTreeMap<String, V>,
    add: fn(&mut V, &V),
) {
    for (key, value) in from {
        add(into.entry(key.clone()).or_default(), value);
    }
}

/// The metrics over runs' shares (each taken with the same `since`, in the order the
/// report lists runs), plus kill-switch log entries kept outside the runs.
pub fn combine(shares: &[RunFigures], kill_log: &[Value], since: Option<&str>) -> Metrics {
    let after = |event: &Value| since.is_none_or(|s| time_of(event) >= s);
    let mut m = Metrics {
        since: since.map(str::to_string),
        ..Metrics::default()
    };
    let mut days: BTreeMap<String, DayCounts> = BTreeMap::new();
    let mut latencies: Vec<f64> = Vec::new();
    let mut kill_seen: BTreeSet<String> = BTreeSet::new();
    for share in shares {
        let c = &share.counts;
        m.runs += c.runs;
        m.runs_finished += c.runs_finished;
        m.runs_stopped += c.runs_stopped;
        m.runs_open += c.runs_open;
        m.tool_calls += c.tool_calls;
        m.subagent_calls += c.subagent_calls;
        add_map(&mut m.decisions, &c.decisions, |a, b| *a += b);
        m.refused += c.refused;
        m.would_refuse += c.would_refuse;
        let (a, b) = (&mut m.approvals, &c.approvals);
        a.requested += b.requested;
        a.granted += b.granted;
        a.denied += b.denied;
        a.used += b.used;
        a.pending += b.pending;
        m.stop_triggers.extend(c.stop_triggers.iter().cloned());
        m.unguarded_calls += c.unguarded_calls;
        m.refused_by_agent += c.refused_by_agent;
        m.record_gaps += c.record_gaps;
        m.transcripts_not_understood += c.transcripts_not_understood;
        m.box_moved_touches += c.box_moved_touches;
        m.box_moved_ran += c.box_moved_ran;
        m.evidence.runs_complete += c.evidence.runs_complete;
        add_map(&mut m.evidence.missing, &c.evidence.missing, |a, b| *a += b);
        m.evidence.stop_gate_blocks += c.evidence.stop_gate_blocks;
        m.tests.test_runs += c.tests.test_runs;
        m.tests.failing_runs += c.tests.failing_runs;
        m.tests.test_gaps_recorded += c.tests.test_gaps_recorded;
        m.tests
            .runs_without_tests
            .extend(c.tests.runs_without_tests.iter().cloned());
        add_map(&mut m.reviews, &c.reviews, |a, b| *a += b);
        m.runs_awaiting_review += c.runs_awaiting_review;
        add_map(&mut m.mcp_tools, &c.mcp_tools, |a, b| {
            a.calls += b.calls;
            a.allowed += b.allowed;
            a.refused += b.refused;
        });
        for day in &c.days {
            bump(&mut days, Some(day.day.clone()), &|t: &mut DayCounts| {
                t.allowed += day.allowed;
                t.refused += day.refused;
                t.would_refuse += day.would_refuse;
                t.unguarded += day.unguarded;
                t.box_moved += day.box_moved;
                t.approvals += day.approvals;
                t.stops += day.stops;
            });
        }
        latencies.extend(share.latencies.iter().copied());
        for (key, day) in &share.kills {
            if kill_seen.insert(key.clone()) {
                m.kill_switch_events += 1;
                bump(&mut days, day.clone(), &|t: &mut DayCounts| {
                    t.kill_switch += 1
                });
            }
        }
    }
    for event in kill_log.iter().filter(|e| after(e)) {
        if kill_seen.insert(kill_key(event)) {
            m.kill_switch_events += 1;
            bump(
                &mut days,
                day_of(event).map(str::to_string),
                &|c: &mut DayCounts| c.kill_switch += 1,
            );
        }
    }
    m.evidence.runs_finished = m.runs_finished;
    m.denial_rate = if m.tool_calls == 0 {
        0.0
    } else {
        (m.refused + m.would_refuse) as f64 / m.tool_calls as f64
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
/// One kill-switch action, however many runs it was written into.
fn kill_key(event: &Value) -> String {
    format!(
        "{}|{}|{}",
        str_of(event, "action").unwrap_or(""),
        time_of(event),
        str_of(event, "target").unwrap_or("")
    )
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

    #[test]
    fn shares_kept_as_json_add_up_to_the_metrics_of_the_events() {
        let inside = json!([{"kind": "read", "target": "/r/src/a", "decision": "allow", "rules": ["contract.allow.read[0]"]}]);
        let first = run(vec![
            pre("t1", "2026-01-01T00:00:01Z", "allow", inside.clone()),
            json!({"type": "approval.request", "time": "2026-01-01T00:00:00Z", "approval_id": "a1"}),
            json!({"type": "approval.granted", "time": "2026-01-01T00:01:30Z", "approval_id": "a1"}),
            json!({"type": "killswitch", "action": "disable", "time": "2026-01-01T00:02:00Z", "target": "jira"}),
            json!({"type": "run.stopped", "time": "2026-01-02T00:00:00Z", "rule": "stop[0]", "reason": "schema"}),
        ]);
        let mut second = run(vec![
            pre("t2", "2026-01-03T00:00:01Z", "deny", inside),
            json!({"type": "killswitch", "action": "disable", "time": "2026-01-01T00:02:00Z", "target": "jira"}),
            json!({"type": "run.finish", "time": "2026-01-03T00:00:04Z", "complete": true}),
        ]);
        second.id = "T-2-run".into();
        let runs = [first, second];
        let kept: Vec<RunFigures> = runs
            .iter()
            .map(|r| {
                let text = serde_json::to_string(&figures(r, None)).unwrap();
                serde_json::from_str(&text).unwrap()
            })
            .collect();
        assert_eq!(combine(&kept, &[], None), compute(&runs, &[], None));
        let m = combine(&kept, &[], None);
        assert_eq!(m.kill_switch_events, 1, "one switch written into two runs");
        assert_eq!(m.stop_triggers.len(), 1);
        assert_eq!(m.approvals.median_latency_seconds, Some(90.0));
        // A `since` after every event of a run leaves it out; one before all of them
        // takes the share as kept.
        assert_eq!(kept[0].covers(Some("2026-01-03")), None);
        assert_eq!(kept[1].covers(Some("2025-12-31")), Some(true));
        assert_eq!(kept[1].covers(Some("2026-01-03")), Some(false));
    }
}
