//! `mandate metrics` and `mandate touch-map`: reading the records under `records.dir`
//! (through `mandate_project::records`, the one reader of run records) for the reports
//! of `mandate_report::metrics`, and rendering them as text, JSON or HTML.
//!
//! Each run's share of the metrics is kept in `<records.dir>/cache/figures/RUN.json`,
//! keyed by the length, modification and change times of the run's log: the log only
//! grows, so a run that has not changed since is not read again. The cache is a convenience, not
//! evidence (`mandate record verify` checks the records themselves); a cache file that
//! cannot be read or written is ignored and the run read in full.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use mandate_project::Project;
use mandate_project::records::{list_runs, read_events};
pub use mandate_report::metrics::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::report_html::{self, ReportFormat, escape};

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

/// The repository folder `scope` asks about; `None` for `--all-repos`.
pub fn scope_root(project: &Project, scope: &RepoScope) -> Result<Option<PathBuf>> {
    if scope.all_repos {
        return Ok(None);
    }
    Ok(Some(match &scope.repo {
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
    }))
}

/// Keep the runs of the repository `root` (all with `None`), by `workspace`, and name the
/// repositories kept (for the report's header). Runs that name no repository (records
/// older than the `workspace` field) are only in `--all-repos`.
fn scoped<T>(
    runs: Vec<T>,
    root: Option<PathBuf>,
    workspace: impl Fn(&T) -> Option<String>,
) -> (Vec<T>, Vec<String>) {
    let Some(wanted) = root else {
        let repositories: BTreeSet<String> = runs.iter().filter_map(&workspace).collect();
        return (runs, repositories.into_iter().collect());
    };
    // Many runs share a few repositories: resolve each folder once.
    let mut resolved: HashMap<String, PathBuf> = HashMap::new();
    let runs = runs
        .into_iter()
        .filter(|run| {
            workspace(run).is_some_and(|w| {
                *resolved
                    .entry(w)
                    .or_insert_with_key(|w| canonical(Path::new(w)))
                    == wanted
            })
        })
        .collect();
    (runs, vec![wanted.display().to_string()])
}

/// The figures of the runs `scope` asks about, and the repositories they belong to.
pub fn load_scoped_figures(
    project: &Project,
    scope: &RepoScope,
) -> Result<(Vec<RunFigures>, Vec<String>)> {
    let root = scope_root(project, scope)?;
    Ok(scoped(load_figures(project), root, |run| {
        run.workspace.clone()
    }))
}

/// What `<records.dir>/cache/figures/RUN.json` holds.
#[derive(Serialize, Deserialize)]
struct CachedFigures {
    /// [`FIGURES_VERSION`] when written: a cache of another version is read again.
    version: u32,
    /// The log's length in bytes, modification time (ns since 1970) and change time (s,
    /// ns; which the owner cannot set back) it was computed at.
    log_len: u64,
    log_modified: u128,
    log_changed: (i64, i64),
    figures: RunFigures,
}

/// Changes whenever what [`RunFigures`] holds changes.
const FIGURES_VERSION: u32 = 1;

type LogStamp = (u64, u128, (i64, i64));

fn log_stamp(run_dir: &Path) -> Option<LogStamp> {
    let meta = std::fs::metadata(run_dir.join(mandate_record::LOG_FILE)).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    #[cfg(unix)]
    let changed = {
        use std::os::unix::fs::MetadataExt as _;
        (meta.ctime(), meta.ctime_nsec())
    };
    #[cfg(not(unix))]
    let changed = (0, 0);
    Some((meta.len(), modified, changed))
}

/// One run's share of the metrics over all its events: from the cache when the log has
/// not changed since it was kept, else read (and kept).
fn run_figures(cache: &Path, run_dir: &Path, id: &str) -> Result<RunFigures> {
    let stamp = log_stamp(run_dir);
    let file = cache.join(format!("{id}.json"));
    if let Some((len, modified, changed)) = stamp
        && let Ok(bytes) = std::fs::read(&file)
        && let Ok(cached) = serde_json::from_slice::<CachedFigures>(&bytes)
        && cached.version == FIGURES_VERSION
        && cached.log_len == len
        && cached.log_modified == modified
        && cached.log_changed == changed
        && cached.figures.run == id
    {
        return Ok(cached.figures);
    }
    let events = read_events(run_dir)?;
    let figures = figures(
        &RunRecord {
            id: id.to_string(),
            events,
        },
        None,
    );
    // Kept only if the log did not change while it was read.
    if let Some((log_len, log_modified, log_changed)) =
        stamp.filter(|s| log_stamp(run_dir) == Some(*s))
    {
        let cached = CachedFigures {
            version: FIGURES_VERSION,
            log_len,
            log_modified,
            log_changed,
            figures: figures.clone(),
        };
        if let Ok(text) = serde_json::to_vec(&cached)
            && mandate_project::create_private_dir(cache).is_ok()
        {
            let temporary = cache.join(format!(".{id}.{}.tmp", std::process::id()));
            if std::fs::write(&temporary, text).is_ok() {
                let _ = std::fs::rename(&temporary, &file);
            }
        }
    }
    Ok(figures)
}

/// Every run's share of the metrics over all its events, oldest first (as
/// `mandate why`). A run that cannot be read is reported on stderr and skipped.
pub fn load_figures(project: &Project) -> Vec<RunFigures> {
    let records = project.records_dir();
    let cache = records.join("cache").join("figures");
    let mut runs = Vec::new();
    for dir in list_runs(&records) {
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match run_figures(&cache, &dir, &id) {
            Ok(figures) => runs.push(figures),
            Err(error) => eprintln!("mandate: skipping run `{id}`: {error}"),
        }
    }
    runs.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.run.cmp(&b.run)));
    runs
}

/// The metrics over `runs` from `since` on: a run whose events all fall at or after
/// `since` counts by its kept share; only a run that `since` cuts through is read again.
pub fn metrics_of(
    project: &Project,
    runs: &[RunFigures],
    kill_log: &[Value],
    since: Option<&str>,
) -> Metrics {
    let mut shares = Vec::with_capacity(runs.len());
    for run in runs {
        match run.covers(since) {
            None => {}
            Some(true) => shares.push(run.clone()),
            Some(false) => {
                let dir = project.runs_dir().join(&run.run);
                match read_events(&dir) {
                    Ok(events) => shares.push(figures(
                        &RunRecord {
                            id: run.run.clone(),
                            events,
                        },
                        since,
                    )),
                    Err(error) => eprintln!("mandate: skipping run `{}`: {error}", run.run),
                }
            }
        }
    }
    combine(&shares, kill_log, since)
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
    let root = scope_root(&project, scope)?;
    let (runs, repositories) = scoped(load_figures(&project), root, |run| run.workspace.clone());
    let kill_log = read_kill_log(&project.records_dir());
    let mut m = metrics_of(&project, &runs, &kill_log, since.as_deref());
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_is_a_day_or_a_time() {
        assert!(parse_since("2026-13-01").is_err());
        assert!(parse_since("yesterday").is_err());
        assert_eq!(parse_since("2026-01-31").unwrap(), "2026-01-31");
    }
}
