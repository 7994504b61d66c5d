//! The metrics and readiness pages: the figures and questions of `mandate metrics` and
//! `mandate readiness` ([`crate::report`]), over every machine's pushed runs, each
//! figure linking to the runs and events behind it.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;

use super::{PageResult, html, signed_in};
use crate::api::{self, MetricsQuery};
use crate::html::{badge, bar_chart, esc, hbar_chart, page, url};
use crate::{AppState, Role};
use mandate_report::metrics::Metrics;
use mandate_report::readiness::Status;

/// A query string from (key, value) pairs, empty values left out.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// A figure and its label, linking to what is behind it.
fn linked_card(value: &str, label: &str, href: &str) -> String {
    format!(
        "<a class=\"card\" href=\"{}\"><div class=\"v\">{}</div><div class=\"l\">{}</div></a>",
        esc(href),
        esc(value),
        esc(label)
    )
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// `/events?…` for the metrics' scope (`/events` is the event log page).
fn events_link(scope: &MetricsQuery, extra: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("repo", scope.project.as_deref().unwrap_or("")),
        ("since", scope.since.as_deref().unwrap_or("")),
    ];
    pairs.extend_from_slice(extra);
    format!("/events{}", query(&pairs))
}

/// `/runs?…` for the metrics' scope.
fn runs_link(scope: &MetricsQuery, extra: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("project", scope.project.as_deref().unwrap_or("")),
        ("since", scope.since.as_deref().unwrap_or("")),
    ];
    pairs.extend_from_slice(extra);
    format!("/runs{}", query(&pairs))
}

pub(super) async fn metrics_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(scope): Query<MetricsQuery>,
) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    who.require(who.role == Role::Admin, "read the organisation's metrics")?;
    let m = api::cached_metrics(&state, &scope).await?;
    let projects = crate::report::projects(&state.db).await?;
    let mut body = String::from(
        "<h1>Metrics</h1><p class=\"sub\">The figures of <code>mandate metrics</code>, over the \
         runs every machine pushed here. Each figure links to the runs or events behind it.</p>",
    );
    body.push_str(&scope_form("/metrics", &projects, &scope, true));
    body.push_str(&metrics_body(&m, &scope));
    html(page("Metrics", "/metrics", Some(&who), &body))
}

/// The project and since filter of the metrics and readiness pages.
fn scope_form(action: &str, projects: &[String], scope: &MetricsQuery, since: bool) -> String {
    let current = scope.project.as_deref().unwrap_or("");
    let mut options = format!(
        "<option value=\"\"{}>every project</option>",
        if current.is_empty() { " selected" } else { "" }
    );
    for project in projects {
        let _ = write!(
            options,
            "<option value=\"{0}\"{1}>{0}</option>",
            esc(project),
            if project == current { " selected" } else { "" }
        );
    }
    format!(
        "<form class=\"filters\" method=\"get\" action=\"{action}\">\
         <label>Project <select name=\"project\">{options}</select></label>{}\
         <button type=\"submit\">Show</button></form>",
        if since {
            format!(
                "<label>Since <input type=\"date\" name=\"since\" value=\"{}\"></label>",
                esc(scope.since.as_deref().unwrap_or(""))
            )
        } else {
            String::new()
        }
    )
}

fn metrics_body(m: &Metrics, scope: &MetricsQuery) -> String {
    let mut body = String::from("<div class=\"cards\">");
    let cards = [
        (m.runs.to_string(), "runs", runs_link(scope, &[])),
        (
            m.tool_calls.to_string(),
            "tool calls judged",
            events_link(scope, &[]),
        ),
        (
            percent(m.denial_rate),
            "denial rate",
            events_link(scope, &[("decision", "deny")]),
        ),
        (
            m.refused.to_string(),
            "refused",
            events_link(scope, &[("decision", "deny")]),
        ),
        (
            m.would_refuse.to_string(),
            "would refuse (shadow)",
            events_link(scope, &[("decision", "would_deny")]),
        ),
        (
            m.unguarded_calls.to_string(),
            "unguarded calls",
            runs_link(scope, &[("sort", "calls")]),
        ),
        (
            m.box_moved_touches.to_string(),
            "box-moved touches",
            events_link(scope, &[("decision", "deny")]),
        ),
        (
            m.stop_triggers.len().to_string(),
            "stop triggers",
            runs_link(scope, &[("status", "stopped")]),
        ),
        (
            format!("{}/{}", m.evidence.runs_complete, m.evidence.runs_finished),
            "finished runs with complete evidence",
            runs_link(scope, &[("status", "incomplete")]),
        ),
        (
            m.runs_awaiting_review.to_string(),
            "finished runs awaiting review",
            runs_link(scope, &[("review", "none")]),
        ),
        (
            m.approvals.pending.to_string(),
            "approvals pending",
            "/approvals".to_string(),
        ),
        (
            m.kill_switch_events.to_string(),
            "kill-switch events",
            "/registry".to_string(),
        ),
    ];
    for (value, label, href) in &cards {
        body.push_str(&linked_card(value, label, href));
    }
    body.push_str("</div>");
    let labels: Vec<String> = m
        .days
        .iter()
        .map(|d| d.day.get(5..).unwrap_or(&d.day).to_string())
        .collect();
    body.push_str("<div class=\"grid2\" style=\"margin-top:14px\">");
    let series = |f: fn(&mandate_report::metrics::DayCounts) -> u64| -> Vec<i64> {
        m.days
            .iter()
            .map(|d| i64::try_from(f(d)).unwrap_or(i64::MAX))
            .collect()
    };
    body.push_str(&bar_chart(
        "Tool calls per day, by decision",
        &labels,
        &[
            ("allowed", "#8fa9dc", series(|d| d.allowed)),
            ("refused", "#d0574b", series(|d| d.refused)),
            ("would refuse", "#e0a040", series(|d| d.would_refuse)),
        ],
    ));
    body.push_str(&bar_chart(
        "Warning signs per day",
        &labels,
        &[
            ("box moved", "#d0574b", series(|d| d.box_moved)),
            ("unguarded", "#7a4bd0", series(|d| d.unguarded)),
            ("stops", "#333", series(|d| d.stops)),
        ],
    ));
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let decisions: Vec<(String, i64, i64)> = m
        .decisions
        .iter()
        .map(|(d, n)| (d.clone(), count(*n), 0))
        .collect();
    body.push_str(&hbar_chart("Decisions", &decisions, "calls", ""));
    let tools: Vec<(String, i64, i64)> = m
        .mcp_tools
        .iter()
        .map(|(t, u)| (t.clone(), count(u.calls), count(u.refused)))
        .collect();
    body.push_str(&hbar_chart("MCP tools", &tools, "calls", "refused"));
    body.push_str("</div>");
    // Every figure of `mandate metrics`, each with where to look.
    body.push_str(
        "<h2>All figures</h2><table><tr><th>Figure</th><th class=\"num\">Value</th>\
         <th>Behind it</th></tr>",
    );
    let a = &m.approvals;
    let rows: Vec<(String, String, String)> = vec![
        (
            "runs (finished · stopped · open)".into(),
            format!("{} · {} · {}", m.runs_finished, m.runs_stopped, m.runs_open),
            runs_link(scope, &[]),
        ),
        (
            "tool calls by subagents".into(),
            m.subagent_calls.to_string(),
            events_link(scope, &[]),
        ),
        (
            "approvals requested · granted · denied · used · pending".into(),
            format!(
                "{} · {} · {} · {} · {}",
                a.requested, a.granted, a.denied, a.used, a.pending
            ),
            "/approvals".into(),
        ),
        (
            "approval latency median · max (s)".into(),
            format!(
                "{} · {}",
                a.median_latency_seconds
                    .map(|s| format!("{s:.0}"))
                    .unwrap_or_else(|| "—".into()),
                a.max_latency_seconds
                    .map(|s| format!("{s:.0}"))
                    .unwrap_or_else(|| "—".into())
            ),
            "/approvals".into(),
        ),
        (
            "refused by the agent itself".into(),
            m.refused_by_agent.to_string(),
            runs_link(scope, &[]),
        ),
        (
            "events that could not be recorded".into(),
            m.record_gaps.to_string(),
            runs_link(scope, &[]),
        ),
        (
            "transcripts not understood".into(),
            m.transcripts_not_understood.to_string(),
            runs_link(scope, &[]),
        ),
        (
            "box-moved touches that ran".into(),
            m.box_moved_ran.to_string(),
            events_link(scope, &[("decision", "would_deny")]),
        ),
        (
            "stop gate held the agent".into(),
            m.evidence.stop_gate_blocks.to_string(),
            runs_link(scope, &[("status", "incomplete")]),
        ),
        (
            "test runs (failing) · test gaps".into(),
            format!(
                "{} ({}) · {}",
                m.tests.test_runs, m.tests.failing_runs, m.tests.test_gaps_recorded
            ),
            runs_link(scope, &[]),
        ),
        (
            "reviews".into(),
            m.reviews
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            runs_link(scope, &[]),
        ),
    ];
    for (label, value, href) in rows {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"num\">{}</td><td><a href=\"{}\">runs and events</a></td></tr>",
            esc(&label),
            esc(&value),
            esc(&href)
        );
    }
    body.push_str("</table>");
    if !m.stop_triggers.is_empty() {
        body.push_str("<h2>Stop triggers</h2><table><tr><th>Time</th><th>Run</th><th>Rule</th><th>Reason</th></tr>");
        for stop in &m.stop_triggers {
            let _ = write!(
                body,
                "<tr><td>{}</td><td><a href=\"/runs/{}\">{}</a></td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&stop.time),
                url(&stop.run),
                esc(&stop.run),
                esc(&stop.rule),
                esc(&stop.reason)
            );
        }
        body.push_str("</table>");
    }
    if !m.tests.runs_without_tests.is_empty() {
        body.push_str("<h2>Finished runs without a test run</h2><ul class=\"plain\">");
        for run in &m.tests.runs_without_tests {
            let _ = write!(
                body,
                "<li><a href=\"/runs/{}\">{}</a></li>",
                url(run),
                esc(run)
            );
        }
        body.push_str("</ul>");
    }
    body
}

#[derive(Deserialize)]
pub(super) struct ReadinessQuery {
    #[serde(default)]
    project: Option<String>,
}

pub(super) async fn readiness_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(asked): Query<ReadinessQuery>,
) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    who.require(who.role == Role::Admin, "read the organisation's readiness")?;
    let projects = crate::report::projects(&state.db).await?;
    let project = asked
        .project
        .clone()
        .filter(|p| !p.trim().is_empty())
        .or_else(|| match projects.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        });
    let mut body = String::from(
        "<h1>Readiness</h1><p class=\"sub\">The rollout questions of <code>mandate readiness</code>, \
         answered from the runs every machine of the project pushed here: the policy and \
         contracts they started under, their events, and this server's kill-switch log. An \
         unanswered question means the rollout is still an experiment.</p>",
    );
    let scope = MetricsQuery {
        project: project.clone(),
        since: None,
    };
    body.push_str(&scope_form("/readiness", &projects, &scope, false));
    let Some(project) = project else {
        body.push_str("<p class=\"notice\">Choose a project: each has its own policy.</p>");
        return html(page("Readiness", "/readiness", Some(&who), &body));
    };
    let r = match crate::report::readiness(&state.db, &project).await? {
        Ok(r) => r,
        Err(why) => {
            let _ = write!(body, "<p class=\"notice\">{}</p>", esc(&why));
            return html(page("Readiness", "/readiness", Some(&who), &body));
        }
    };
    let answered = r.questions.iter().filter(|q| q.answered).count();
    let failed = r.checks.iter().filter(|c| c.status == Status::Fail).count();
    let _ = write!(
        body,
        "<p>{} {answered} of {} questions answered · {failed} of {} checks failing</p>",
        if r.verdict == "ready" {
            badge("ok", "ready")
        } else {
            badge("bad", "still an experiment")
        },
        r.questions.len(),
        r.checks.len()
    );
    body.push_str(
        "<h2>Rollout questions</h2><table><tr><th>#</th><th>Question and answer</th>\
         <th>Status</th><th>Source</th></tr>",
    );
    for q in &r.questions {
        let _ = write!(
            body,
            "<tr id=\"q{}\"><td>{}</td><td><strong>{}</strong><br>{}</td><td>{}</td><td><small>{}</small></td></tr>",
            q.id,
            q.id,
            esc(q.question),
            code_spans(&q.answer),
            if q.answered {
                badge("ok", "answered")
            } else {
                badge("bad", "unanswered")
            },
            esc(&q.source)
        );
    }
    body.push_str(
        "</table><h2>Checks</h2><table><tr><th>Check</th><th>Status</th><th>Source</th></tr>",
    );
    for c in &r.checks {
        let class = status_class(c.status);
        let _ = write!(
            body,
            "<tr id=\"check-{}\"><td><strong>{}</strong><br>{}</td><td>{}</td><td><small>{}</small></td></tr>",
            esc(c.id),
            esc(c.check),
            code_spans(&c.detail),
            badge(class, c.status.as_str()),
            esc(&c.source)
        );
    }
    body.push_str("</table>");
    // Which machines the machine checks come from, and how fresh each report is.
    body.push_str(
        "<h2>Machines</h2><p class=\"sub\">What only a machine can check, as each reported it \
         at its last sync (<code>mandate push</code>, <code>start</code> or \
         <code>readiness</code> there).</p>",
    );
    if r.machines.is_empty() {
        body.push_str("<p class=\"notice\">No machine of this project has reported yet.</p>");
    } else {
        body.push_str(
            "<table id=\"machines\"><tr><th>User</th><th>Machine and workspace</th>\
             <th>Checked</th><th>Checks</th></tr>",
        );
        for m in &r.machines {
            let checks: Vec<String> = m
                .checks
                .iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        esc(&c.id),
                        badge(status_class(c.status), c.status.as_str())
                    )
                })
                .collect();
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}<br><small>{}</small></td><td>{}</td><td>{}</td></tr>",
                esc(&m.user),
                esc(&m.machine),
                esc(&m.workspace),
                esc(&crate::pages::runs::readable_time(&m.checked_at)),
                checks.join(" · ")
            );
        }
        body.push_str("</table>");
    }
    let _ = write!(
        body,
        "<p><a href=\"/metrics{}\">The figures behind question 14</a> · \
         <a href=\"/runs{}\">the runs</a></p>",
        query(&[("project", &project)]),
        query(&[("project", &project)])
    );
    html(page("Readiness", "/readiness", Some(&who), &body))
}

/// The badge colour of a check's status.
fn status_class(status: Status) -> &'static str {
    match status {
        Status::Pass => "ok",
        Status::Fail => "bad",
        Status::NotChecked => "muted",
    }
}

/// Code spans written `like this` in answers become `<code>`.
fn code_spans(text: &str) -> String {
    let mut out = String::new();
    for (index, part) in esc(text).split('`').enumerate() {
        if index % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}
