//! The runs page: filters by user, task, project, agent, mode, decision, status, review
//! and date; sorting by any column; 50 runs a page; times written for people.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::HeaderMap;

use super::report::query;
use super::{PageResult, html, signed_in};
use crate::AppState;
use crate::api::RunFilter;
use crate::html::{badge, esc, page, status_badge, url};

/// Runs per page.
const PER_PAGE: u64 = 50;

/// `2026-12-07T23:41:05.123Z` as `2026-12-07 23:41:05 UTC`, with the exact time kept in
/// the element for a reader who wants it.
pub(crate) fn readable_time(time: &str) -> String {
    if time.is_empty() {
        return String::new();
    }
    let shown = match (time.get(..10), time.get(11..19)) {
        (Some(day), Some(clock)) if time.get(10..11) == Some("T") => {
            format!("{day} {clock} UTC")
        }
        _ => time.to_string(),
    };
    format!(
        "<time datetime=\"{0}\" title=\"{0}\">{1}</time>",
        esc(time),
        esc(&shown)
    )
}

/// The filter's fields as query pairs, the page and sort left out.
fn filter_pairs(f: &RunFilter) -> Vec<(&'static str, String)> {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    vec![
        ("user", v(&f.user)),
        ("task", v(&f.task)),
        ("status", v(&f.status)),
        ("denied", v(&f.denied)),
        ("project", v(&f.project)),
        ("agent", v(&f.agent)),
        ("mode", v(&f.mode)),
        ("decision", v(&f.decision)),
        ("review", v(&f.review)),
        ("since", v(&f.since)),
        ("until", v(&f.until)),
        (
            "per_page",
            Some(v(&f.per_page))
                .filter(|n| *n != PER_PAGE.to_string())
                .unwrap_or_default(),
        ),
    ]
}

fn link(f: &RunFilter, extra: &[(&'static str, String)]) -> String {
    let mut pairs = filter_pairs(f);
    pairs.extend_from_slice(extra);
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    format!("/runs{}", query(&borrowed))
}

fn select(name: &str, current: &Option<String>, options: &[(&str, &str)]) -> String {
    let current = current.as_deref().unwrap_or("");
    let mut out = format!("<select name=\"{name}\">");
    for (value, label) in options {
        let _ = write!(
            out,
            "<option value=\"{value}\"{}>{label}</option>",
            if *value == current { " selected" } else { "" }
        );
    }
    out.push_str("</select>");
    out
}

pub(super) async fn runs_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(mut filter): Query<RunFilter>,
) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    if filter.per_page.as_deref().is_none_or(str::is_empty) {
        filter.per_page = Some(PER_PAGE.to_string());
    }
    let listed = crate::runs::list(&state.db, &who, &filter).await?;
    let value = |v: &Option<String>| esc(v.as_deref().unwrap_or(""));
    let mut body = String::from(
        "<h1>Runs</h1><p class=\"sub\">The runs you may read (your own, and those of the \
         projects you review). A run is verified when a checkpoint signed by its delegator's \
         enrolled machine key covers it. Times are UTC.</p>",
    );
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/runs\">\
         <label>User <input type=\"text\" name=\"user\" value=\"{}\" placeholder=\"alice@example.com\"></label>\
         <label>Task or run <input type=\"text\" name=\"task\" value=\"{}\" placeholder=\"BILL-142\"></label>\
         <label>Project <input type=\"text\" name=\"project\" value=\"{}\" placeholder=\"billing\"></label>\
         <label>Agent <input type=\"text\" name=\"agent\" value=\"{}\" placeholder=\"claude-code\"></label>\
         <label>Mode {}</label><label>Decision {}</label><label>Status {}</label><label>Review {}</label>\
         <label>From <input type=\"date\" name=\"since\" value=\"{}\"></label>\
         <label>To <input type=\"date\" name=\"until\" value=\"{}\"></label>\
         <label class=\"check\"><input type=\"checkbox\" name=\"denied\" value=\"1\"{}> with denials</label>\
         <input type=\"hidden\" name=\"sort\" value=\"{}\"><input type=\"hidden\" name=\"dir\" value=\"{}\">\
         <button type=\"submit\">Filter</button> <a href=\"/runs\">clear</a></form>",
        value(&filter.user),
        value(&filter.task),
        value(&filter.project),
        value(&filter.agent),
        select(
            "mode",
            &filter.mode,
            &[
                ("", "any"),
                ("enforce", "enforce"),
                ("shadow", "shadow"),
                ("record", "record")
            ]
        ),
        select(
            "decision",
            &filter.decision,
            &[
                ("", "any"),
                ("allow", "an allow"),
                ("ask", "an ask"),
                ("deny", "a deny"),
                ("stop", "a stop"),
                ("would_deny", "a would-deny (shadow)"),
            ]
        ),
        select(
            "status",
            &filter.status,
            &[
                ("", "any"),
                ("open", "open"),
                ("finished", "finished"),
                ("incomplete", "incomplete"),
                ("stopped", "stopped"),
            ]
        ),
        select(
            "review",
            &filter.review,
            &[
                ("", "any"),
                ("none", "finished, not reviewed"),
                ("approve", "approved"),
                ("request-changes", "changes requested"),
                ("reject", "rejected"),
            ]
        ),
        value(&filter.since),
        value(&filter.until),
        if filter.denied.is_some() {
            " checked"
        } else {
            ""
        },
        value(&filter.sort),
        value(&filter.dir),
    );
    let _ = write!(
        body,
        "<p class=\"sub\" id=\"count\">{} run{} match · page {} of {}</p>",
        listed.total,
        if listed.total == 1 { "" } else { "s" },
        listed.page,
        listed.pages()
    );
    if listed.runs.is_empty() {
        body.push_str("<p class=\"notice\">No runs match.</p>");
    } else {
        let sort = filter.sort.clone().unwrap_or_else(|| "last".into());
        let dir = filter.dir.clone().unwrap_or_else(|| "desc".into());
        let header = |label: &str, key: &str, class: &str| -> String {
            let (next, mark) = if sort == key {
                if dir == "asc" {
                    ("desc", " ▲")
                } else {
                    ("asc", " ▼")
                }
            } else {
                ("desc", "")
            };
            format!(
                "<th{class}><a href=\"{}\" data-sort=\"{key}\">{label}{mark}</a></th>",
                esc(&link(
                    &filter,
                    &[("sort", key.to_string()), ("dir", next.to_string())]
                ))
            )
        };
        let _ = write!(
            body,
            "<table id=\"runs\"><tr><th>Run</th>{}<th>Project</th>{}{}<th>Review</th>{}{}\
             <th>Record</th>{}{}</tr>",
            header("Task", "task", ""),
            header("Delegated by", "user", ""),
            header("Status", "status", ""),
            header("Calls", "calls", " class=\"num\""),
            header("Denied", "denials", " class=\"num\""),
            header("Started", "started", ""),
            header("Last event", "last", ""),
        );
        for run in &listed.runs {
            let sealed = if run.sealed > 0 && run.sealed == run.entries {
                badge("ok", "sealed")
            } else if run.sealed > 0 {
                badge("warn", &format!("{}/{} sealed", run.sealed, run.entries))
            } else {
                badge("muted", "no checkpoint yet")
            };
            let _ = write!(
                body,
                "<tr><td><a href=\"/runs/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                url(&run.run_id),
                esc(&run.run_id),
                esc(run.task_id.as_deref().unwrap_or("")),
                esc(run.project.as_deref().unwrap_or("")),
                esc(run.delegated_by.as_deref().unwrap_or(&run.owner)),
                status_badge(&run.status),
                run.review
                    .as_deref()
                    .map(status_badge)
                    .unwrap_or_else(|| badge("muted", "not reviewed")),
                run.calls,
                run.denials,
                sealed,
                readable_time(run.started_at.as_deref().unwrap_or("")),
                readable_time(run.last_at.as_deref().unwrap_or("")),
            );
        }
        body.push_str("</table>");
        let sort_pairs = [("sort", sort.clone()), ("dir", dir.clone())];
        let page_link = |n: u64| {
            let mut extra = sort_pairs.to_vec();
            extra.push(("page", n.to_string()));
            esc(&link(&filter, &extra))
        };
        body.push_str("<p class=\"pager\">");
        if listed.page > 1 {
            let _ = write!(
                body,
                "<a href=\"{}\" rel=\"prev\">← previous page</a> ",
                page_link(listed.page - 1)
            );
        }
        if listed.page < listed.pages() {
            let _ = write!(
                body,
                "<a href=\"{}\" rel=\"next\">next page →</a>",
                page_link(listed.page + 1)
            );
        }
        body.push_str("</p>");
    }
    html(page("Runs", "/runs", Some(&who), &body))
}
