//! The web pages: sign-in, runs, one run, approvals, registry and kill switch,
//! readiness and metrics. Server-rendered HTML; forms post back and redirect.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::Value;

use mandate_record::packet::inline_markdown_html;

mod report;
mod runs;

use crate::api::{self, DecideForm, KillForm, Registered, ReviewForm};
use crate::auth::{self, COOKIE_NAME};
use crate::html::{badge, card, esc, page, status_badge, url};
use crate::{AppState, Caller, Role, ServerError, audit, team};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/runs") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/runs", get(runs::runs_page))
        .route("/runs/{run}", get(run_page))
        .route("/runs/{run}/review", post(review))
        .route("/approvals", get(approvals_page))
        .route("/approvals/{id}", post(decide))
        .route("/registry", get(registry_page).post(register))
        .route("/killswitch", post(kill))
        .route("/readiness", get(report::readiness_page))
        .route("/metrics", get(report::metrics_page))
        .route("/policy", get(policy_page))
        .route("/audit", get(audit_page))
}

/// A page's failure: not signed in goes to the sign-in page; anything else is shown.
struct PageError(ServerError);

impl From<ServerError> for PageError {
    fn from(error: ServerError) -> Self {
        PageError(error)
    }
}

impl From<sqlx::Error> for PageError {
    fn from(error: sqlx::Error) -> Self {
        PageError(ServerError::Database(error))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self.0 {
            ServerError::Unauthenticated => Redirect::to("/login").into_response(),
            error => {
                let body = format!(
                    "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/runs\">Back to the runs</a></p>",
                    error.status(),
                    esc(&error.to_string())
                );
                (error.status(), Html(page("Error", "", None, &body))).into_response()
            }
        }
    }
}

type PageResult = Result<Response, PageError>;

async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Caller, PageError> {
    Ok(auth::page_caller(&state.db, headers).await?)
}

fn html(body: String) -> PageResult {
    Ok(Html(body).into_response())
}

fn see_other(to: &str) -> PageResult {
    Ok(Redirect::to(to).into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

fn login_form(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        "Sign in",
        "",
        None,
        &format!(
            "<h1>Sign in</h1><p class=\"sub\">Paste the API token <code>mandate token create</code> \
             printed for you. It opens a session of a few hours; the token itself is not kept \
             in the browser.</p>{error}\
             <form method=\"post\" action=\"/login\" class=\"inline\">\
             <label>Token <input type=\"password\" name=\"token\" size=\"60\" autocomplete=\"off\" autofocus></label>\
             <button type=\"submit\">Sign in</button></form>"
        ),
    )
}

async fn login_page() -> Html<String> {
    Html(login_form(None))
}

async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> PageResult {
    let token = form.token.trim();
    match auth::open_session(&state.db, token).await? {
        Some((session, who)) => {
            audit::append(
                &state.db,
                &who.email,
                "signin",
                &who.token_id,
                serde_json::json!({"role": who.role.as_str()}),
            )
            .await?;
            let cookie = format!(
                "{COOKIE_NAME}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                auth::SESSION_SECONDS,
                if state.tls { "; Secure" } else { "" }
            );
            let mut response = Redirect::to("/runs").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            Ok(response)
        }
        None => {
            // The token is not logged, only that a sign-in failed and the start of its hash.
            audit::append(
                &state.db,
                "(anonymous)",
                "signin.failed",
                &auth::token_id(&auth::token_hash(token)),
                serde_json::json!({}),
            )
            .await?;
            Ok((
                StatusCode::UNAUTHORIZED,
                Html(login_form(Some(
                    "That token is not known to this server, has expired or was revoked.",
                ))),
            )
                .into_response())
        }
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(session) = auth::session_cookie(&headers) {
        let _ = auth::close_session(&state.db, &session).await;
    }
    let mut response = (StatusCode::SEE_OTHER, "").into_response();
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static("/login"));
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static("mandate_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// What a `tool.pre` entry shows in the timeline.
fn summarise(event: &Value) -> String {
    let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
    match text("type") {
        "tool.pre" => {
            let input = event.get("input").cloned().unwrap_or_default();
            let detail = input
                .get("command")
                .or_else(|| input.get("file_path"))
                .or_else(|| input.get("path"))
                .or_else(|| input.get("url"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| input.to_string());
            format!(
                "{} <code>{}</code> {} <span style=\"color:#5a6374\">{}</span>",
                esc(text("tool")),
                esc(&detail.chars().take(200).collect::<String>()),
                status_badge(text("decision")),
                inline_markdown_html(text("reason"))
            )
        }
        "tool.post" | "tool.failure" => esc(text("tool")),
        "prompt" => esc(&text("prompt").chars().take(200).collect::<String>()),
        "run.start" => esc(event
            .get("contract")
            .and_then(|c| c.get("request"))
            .and_then(Value::as_str)
            .unwrap_or("")),
        "review" => format!(
            "{} {}",
            esc(text("reviewer")),
            status_badge(text("decision"))
        ),
        "approval.request" | "approval.used" | "approval.held" => {
            format!(
                "{} {} {}",
                esc(text("id")),
                esc(text("tool")),
                esc(text("status"))
            )
        }
        "run.stopped" => format!(
            "{}: {}",
            esc(text("rule")),
            inline_markdown_html(text("reason"))
        ),
        kind if kind.starts_with("evidence.") => esc(text("text")),
        "test.run" => esc(text("command")),
        _ => String::new(),
    }
}

/// Timeline entries per page of a run: a run of any length is served in pages of this
/// many, never as one page of every entry.
const TIMELINE_PAGE: u64 = 500;

/// Denials listed on a run's page; the rest are one link away in the event log.
const DENIALS_SHOWN: usize = 200;

#[derive(Deserialize)]
struct RunPageQuery {
    #[serde(default)]
    page: Option<u64>,
}

/// The stored entries of a run whose kind `condition` selects (an SQL condition on
/// `kind`, fixed text), in order, parsed.
async fn entries_of(
    db: &crate::Db,
    run_id: &str,
    condition: &str,
) -> Result<Vec<Value>, ServerError> {
    use sqlx::Row as _;
    let rows = sqlx::query(&format!(
        "SELECT body FROM entries WHERE run_id = $1 AND ({condition}) ORDER BY idx"
    ))
    .bind(run_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| {
            row.try_get::<String, _>(0)
                .ok()
                .and_then(|line| serde_json::from_str(&line).ok())
                .unwrap_or(Value::Null)
        })
        .collect())
}

async fn run_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run_id): Path<String>,
    Query(asked): Query<RunPageQuery>,
) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    let run = api::readable_run(&state.db, &who, &run_id).await?;
    // What the summaries need (the start, the judged calls, the evidence), and one page
    // of the timeline.
    let events: Vec<Value> = entries_of(
        &state.db,
        &run_id,
        "kind IN ('run.start', 'tool.pre', 'test.run') OR kind LIKE 'evidence.%'",
    )
    .await?;
    let pages = u64::try_from(run.entries)
        .unwrap_or(0)
        .div_ceil(TIMELINE_PAGE)
        .max(1);
    let timeline_page = asked.page.unwrap_or(1).clamp(1, pages);
    let timeline: Vec<Value> = api::entries(
        &state.db,
        &run_id,
        (timeline_page - 1) * TIMELINE_PAGE,
        TIMELINE_PAGE,
    )
    .await?
    .iter()
    .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
    .collect();
    let report = crate::ingest::verify_stored(&state.db, &run_id).await?;
    let reviews = api::reviews(&state.db, &run_id).await?;
    let approvals = api::list_approvals(&state.db, &who, None, Some(&run_id)).await?;
    let enrolled = crate::ingest::signer_enrolled(&state.db, &run_id).await?;

    let mut body = format!(
        "<h1>Run {}</h1><p class=\"sub\">{}</p>",
        esc(&run.run_id),
        esc(run.request.as_deref().unwrap_or("")),
    );
    let verification = if report.ok && !enrolled {
        badge(
            "warn",
            "consistent, but its key is not enrolled for its delegator in this project",
        )
    } else if report.ok {
        if report.unsealed == 0 && report.sealed > 0 {
            badge("ok", "verified")
        } else if report.sealed > 0 {
            badge("warn", "verified; tail not yet sealed")
        } else {
            badge("warn", "chained; no checkpoint yet")
        }
    } else {
        badge("bad", "FAILED")
    };
    body.push_str("<div class=\"cards\">");
    body.push_str(&card(run.task_id.as_deref().unwrap_or("—"), "task"));
    body.push_str(&card(
        run.delegated_by.as_deref().unwrap_or(&run.owner),
        "delegated by",
    ));
    body.push_str(&card(&run.status, "status"));
    body.push_str(&card(&run.entries.to_string(), "entries"));
    body.push_str(&card(&run.calls.to_string(), "tool calls judged"));
    body.push_str(&card(&run.denials.to_string(), "denied"));
    body.push_str("</div>");

    // Verification status.
    let _ = write!(
        body,
        "<h2>Verification {verification}</h2><p>{}</p><p class=\"sub\">Signer pinned at the first \
         push: <code>{}</code>, pushed by {}. Checkpoints: {}.</p>",
        esc(&report.to_string()),
        esc(&run.signer),
        esc(&run.owner),
        if report.checkpoints.is_empty() {
            "none".to_string()
        } else {
            report
                .checkpoints
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        },
    );

    // Touch map: declared by the contract, observed in the record.
    let contract = events
        .iter()
        .find(|e| e.get("type").and_then(Value::as_str) == Some("run.start"))
        .and_then(|e| e.get("contract"))
        .cloned()
        .unwrap_or_default();
    let mut ran: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut refused: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for event in &events {
        if event.get("type").and_then(Value::as_str) != Some("tool.pre") {
            continue;
        }
        let allowed = event.get("decision").and_then(Value::as_str) == Some("allow");
        for touch in event
            .get("touches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = touch.get("kind").and_then(Value::as_str).unwrap_or("");
            let kind = ["read", "write", "execute", "call", "expose"]
                .into_iter()
                .find(|k| *k == kind)
                .unwrap_or("call");
            let target = touch
                .get("target")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if allowed {
                ran.entry(kind).or_default().insert(target);
            } else {
                refused.entry(kind).or_default().insert(target);
            }
        }
    }
    body.push_str(
        "<h2>Touch map</h2><p class=\"sub\">What the contract declares beside what the record \
         shows was done. Refused touches did not run.</p>\
         <table><tr><th>Kind</th><th>Declared: allow</th><th>Declared: block</th>\
         <th>Observed: ran</th><th>Observed: refused</th></tr>",
    );
    let list = |values: Option<&Value>| -> String {
        let items: Vec<String> = values
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|s| format!("<code>{}</code>", esc(s)))
            .collect();
        if items.is_empty() {
            "—".to_string()
        } else {
            items.join(" ")
        }
    };
    let set = |values: Option<&BTreeSet<String>>| -> String {
        match values {
            Some(values) if !values.is_empty() => values
                .iter()
                .take(40)
                .map(|s| format!("<code>{}</code>", esc(s)))
                .collect::<Vec<_>>()
                .join(" "),
            _ => "—".to_string(),
        }
    };
    for kind in ["read", "write", "execute", "call", "expose"] {
        let _ = write!(
            body,
            "<tr><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            list(contract.get("allow").and_then(|a| a.get(kind))),
            list(contract.get("block").and_then(|a| a.get(kind))),
            set(ran.get(kind)),
            set(refused.get(kind)),
        );
    }
    body.push_str("</table>");

    // Denials.
    let denials: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e.get("type").and_then(Value::as_str) == Some("tool.pre")
                && matches!(
                    e.get("decision").and_then(Value::as_str),
                    Some("deny" | "stop")
                )
        })
        .collect();
    let _ = write!(body, "<h2>Denials ({})</h2>", denials.len());
    if denials.is_empty() {
        body.push_str("<p class=\"sub\">None.</p>");
    } else {
        if denials.len() > DENIALS_SHOWN {
            let _ = write!(
                body,
                "<p class=\"sub\">The first {DENIALS_SHOWN}; <a href=\"/events?run={}&amp;decision=deny\">all of them in the event log</a>.</p>",
                url(&run.run_id)
            );
        }
        body.push_str("<table><tr><th class=\"num\">#</th><th>Call</th><th>Rules</th></tr>");
        for event in denials.into_iter().take(DENIALS_SHOWN) {
            let _ = write!(
                body,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                event.get("i").and_then(Value::as_u64).unwrap_or(0),
                summarise(event),
                list(event.get("rules")),
            );
        }
        body.push_str("</table>");
    }

    // Approvals.
    let _ = write!(body, "<h2>Approvals ({})</h2>", approvals.len());
    if approvals.is_empty() {
        body.push_str("<p class=\"sub\">None requested.</p>");
    } else {
        body.push_str(&approvals_table(&approvals, &who, false));
    }

    // Evidence.
    body.push_str("<h2>Evidence</h2>");
    let evidence: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("evidence.") || t == "test.run")
        })
        .collect();
    if evidence.is_empty() {
        body.push_str(
            "<p class=\"sub\">No rollback note, assumptions, risks, test gaps or test runs on \
             record.</p>",
        );
    } else {
        body.push_str("<table><tr><th>Kind</th><th>What the record holds</th></tr>");
        for event in evidence {
            let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
            let detail = match kind {
                "evidence.rollback" => ["change", "undo", "data_risk", "trigger", "owner"]
                    .iter()
                    .filter_map(|k| {
                        event
                            .get(*k)
                            .and_then(Value::as_str)
                            .map(|v| format!("<b>{k}</b>: {}", esc(v)))
                    })
                    .collect::<Vec<_>>()
                    .join("<br>"),
                "test.run" => format!(
                    "<code>{}</code> {}",
                    esc(event.get("command").and_then(Value::as_str).unwrap_or("")),
                    esc(&event
                        .get("summary")
                        .map(Value::to_string)
                        .unwrap_or_default())
                ),
                _ => esc(event.get("text").and_then(Value::as_str).unwrap_or("")),
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{detail}</td></tr>",
                esc(kind.trim_start_matches("evidence."))
            );
        }
        body.push_str("</table>");
    }

    // Reviews and the form.
    body.push_str("<h2>Review</h2>");
    for r in &reviews {
        let _ = write!(
            body,
            "<p class=\"review\">{} {} at {}{}{}</p>",
            status_badge(&r.decision),
            esc(&r.reviewer),
            esc(&r.created_at),
            if r.note.is_empty() {
                String::new()
            } else {
                format!(": {}", esc(&r.note))
            },
            if r.via == "record" {
                " <span class=\"sub\">(written into the run's record with <code>mandate \
                 review</code>; the name is the record's word, the server did not sign \
                 this reviewer in)</span>"
            } else {
                ""
            }
        );
    }
    if who.may_review() {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/runs/{}/review\" id=\"review\">\
             <label>Decision <select name=\"decision\"><option value=\"approve\">approve</option>\
             <option value=\"request-changes\">request changes</option>\
             <option value=\"reject\">reject</option></select></label>\
             <label>Note <textarea name=\"note\" placeholder=\"what you checked, what remains\"></textarea></label>\
             <p><button type=\"submit\">Record review</button></p></form>",
            url(&run.run_id)
        );
    } else if reviews.is_empty() {
        body.push_str(
            "<p class=\"sub\">Not reviewed yet. Reviewers record their decision here.</p>",
        );
    }

    // Timeline, one page at a time.
    let _ = write!(
        body,
        "<h2 id=\"timeline\">Timeline ({} entries{})</h2>",
        run.entries,
        if pages > 1 {
            format!(", page {timeline_page} of {pages}")
        } else {
            String::new()
        }
    );
    let pager = |body: &mut String| {
        if pages < 2 {
            return;
        }
        body.push_str("<p class=\"pager\">");
        if timeline_page > 1 {
            let _ = write!(
                body,
                "<a href=\"/runs/{}?page={}#timeline\" rel=\"prev\">← earlier entries</a> ",
                url(&run.run_id),
                timeline_page - 1
            );
        }
        if timeline_page < pages {
            let _ = write!(
                body,
                "<a href=\"/runs/{}?page={}#timeline\" rel=\"next\">later entries →</a>",
                url(&run.run_id),
                timeline_page + 1
            );
        }
        body.push_str("</p>");
    };
    pager(&mut body);
    body.push_str(
        "<table><tr><th class=\"num\">#</th><th>Time (UTC)</th><th>Event</th><th>Detail</th></tr>",
    );
    for event in &timeline {
        let _ = write!(
            body,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            event.get("i").and_then(Value::as_u64).unwrap_or(0),
            runs::readable_time(event.get("time").and_then(Value::as_str).unwrap_or("")),
            esc(event.get("type").and_then(Value::as_str).unwrap_or("")),
            summarise(event),
        );
    }
    body.push_str("</table>");
    pager(&mut body);
    html(page(
        &format!("Run {}", run.run_id),
        "/runs",
        Some(&who),
        &body,
    ))
}

async fn review(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run_id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    api::record_review(&state.db, &who, &run_id, &form).await?;
    see_other(&format!("/runs/{}#review", url(&run_id)))
}

fn approvals_table(approvals: &[api::Approval], who: &Caller, with_run: bool) -> String {
    let mut out = String::from("<table><tr>");
    if with_run {
        out.push_str("<th>Run</th>");
    }
    out.push_str(
        "<th>Request</th><th>Call</th><th>Why it is held</th><th>Reviewers</th><th>Status</th></tr>",
    );
    for a in approvals {
        out.push_str("<tr>");
        if with_run {
            let _ = write!(
                out,
                "<td><a href=\"/runs/{}\">{}</a><br><span style=\"color:#5a6374\">by {}</span></td>",
                url(&a.run_id),
                esc(&a.run_id),
                esc(a.delegated_by.as_deref().unwrap_or(""))
            );
        }
        let input = a
            .input
            .as_deref()
            .and_then(|i| serde_json::from_str::<Value>(i).ok())
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_default();
        // The reviewer judges what the call does: the command, or the write's diff.
        let shown = match &a.preview {
            Some(preview) => format!(
                "<pre class=\"diff\">{}</pre><details><summary>input</summary><pre>{}</pre></details>",
                diff_lines(preview),
                esc(&input)
            ),
            None => format!("<pre>{}</pre>", esc(&input)),
        };
        let _ = write!(
            out,
            "<td><code>{}</code><br>{}</td><td>{}{}</td><td>{}</td><td>{} ({})</td><td>{}",
            esc(&a.id),
            esc(&a.requested_at),
            esc(&a.tool),
            shown,
            inline_markdown_html(a.reason.as_deref().unwrap_or("")),
            esc(&a.group),
            esc(&a.reviewers.join(", ")),
            status_badge(&a.status),
        );
        if let Some(by) = &a.decided_by {
            let _ = write!(
                out,
                "<br>by {}{}{}{}",
                esc(by),
                if a.decided_via.as_deref() == Some("record") {
                    " (with <code>mandate approve</code> on the machine; the record's word)"
                } else {
                    ""
                },
                if a.for_run { ", for the run" } else { "" },
                a.note
                    .as_deref()
                    .map(|n| format!(": {}", esc(n)))
                    .unwrap_or_default()
            );
        }
        if a.status == "pending" && who.may_review() && a.reviewers.contains(&who.email) {
            let _ = write!(
                out,
                "<form method=\"post\" action=\"/approvals/{id}\" class=\"inline\" style=\"margin-top:6px\">\
                 <input type=\"hidden\" name=\"run_id\" value=\"{run}\">\
                 <input type=\"hidden\" name=\"digest\" value=\"{digest}\">\
                 <input type=\"text\" name=\"note\" placeholder=\"note\" size=\"14\">\
                 <label class=\"check\"><input type=\"checkbox\" name=\"for_run\" value=\"true\"> for the run</label>\
                 <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
                 <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></form>",
                id = url(&a.id),
                run = esc(&a.run_id),
                digest = esc(&a.digest),
            );
        }
        out.push_str("</td></tr>");
    }
    out.push_str("</table>");
    out
}

/// A unified diff, escaped, with added and removed lines marked for the style sheet.
fn diff_lines(diff: &str) -> String {
    let mut out = String::new();
    for line in diff.split_inclusive('\n') {
        let class = match line.chars().next() {
            Some('+') if !line.starts_with("+++") => "add",
            Some('-') if !line.starts_with("---") => "del",
            Some('@') => "hunk",
            _ => "",
        };
        if class.is_empty() {
            out.push_str(&esc(line));
        } else {
            let _ = write!(out, "<span class=\"{class}\">{}</span>", esc(line));
        }
    }
    out
}

async fn approvals_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    let pending = api::list_approvals(&state.db, &who, Some("pending"), None).await?;
    let all = api::list_approvals(&state.db, &who, None, None).await?;
    let decided: Vec<api::Approval> = all.into_iter().filter(|a| a.status != "pending").collect();
    let mut body = String::from(
        "<h1>Approvals</h1><p class=\"sub\">Calls a contract holds for a named reviewer. The \
         hook lets the exact call through once it learns of an approval (or, granted for the \
         run, every time the same call comes again). While the server cannot be reached, no \
         approval reaches a hook.</p>",
    );
    let _ = write!(body, "<h2>Pending ({})</h2>", pending.len());
    if pending.is_empty() {
        body.push_str("<p class=\"notice\">Nothing is waiting.</p>");
    } else {
        body.push_str(&approvals_table(&pending, &who, true));
    }
    let _ = write!(body, "<h2>Decided ({})</h2>", decided.len());
    if !decided.is_empty() {
        body.push_str(&approvals_table(&decided, &who, true));
    }
    html(page("Approvals", "/approvals", Some(&who), &body))
}

async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<DecideForm>,
) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    api::decide(&state.db, &who, &id, &form).await?;
    see_other("/approvals")
}

async fn registry_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    let killed = api::killed(&state.db).await?;
    let registry = api::full_registry(&state.db).await?;
    let on_machines = api::machine_kills(&state.db).await?;
    let observed = sqlx::query(
        "SELECT tool, COUNT(*) FROM entries WHERE kind = 'tool.pre' AND tool LIKE 'mcp%' \
         GROUP BY tool ORDER BY tool",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let mut body = String::from(
        "<h1>Registry and kill switch</h1><p class=\"sub\">What is switched off here reaches \
         every hook that talks to this server within seconds; a hook that cannot reach the \
         server keeps the last kill list it saw.</p>",
    );
    let _ = write!(body, "<h2>Switched off ({})</h2>", killed.len());
    if killed.is_empty() {
        body.push_str("<p class=\"notice\">Nothing is switched off.</p>");
    } else {
        body.push_str(
            "<table><tr><th>Target</th><th>By</th><th>Since</th><th>Why</th><th></th></tr>",
        );
        for k in &killed {
            let _ = write!(
                body,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>",
                esc(&k.target),
                esc(&k.by),
                esc(&k.since),
                esc(&k.reason)
            );
            if who.may_kill() {
                let _ = write!(
                    body,
                    "<form method=\"post\" action=\"/killswitch\" class=\"inline\">\
                     <input type=\"hidden\" name=\"action\" value=\"enable\">\
                     <input type=\"hidden\" name=\"target\" value=\"{}\">\
                     <button type=\"submit\">Enable</button></form>",
                    esc(&k.target)
                );
            }
            body.push_str("</td></tr>");
        }
        body.push_str("</table>");
    }
    if who.may_kill() {
        body.push_str(
            "<form method=\"post\" action=\"/killswitch\" class=\"filters\" id=\"disable\" style=\"margin-top:12px\">\
             <input type=\"hidden\" name=\"action\" value=\"disable\">\
             <label>Target <input type=\"text\" name=\"target\" placeholder=\"jira, jira/create_issue or write\"></label>\
             <label>Why <input type=\"text\" name=\"reason\" size=\"40\" placeholder=\"what happened\"></label>\
             <button type=\"submit\" class=\"secondary\">Disable</button></form>",
        );
    }
    // Switched off on one machine by its own `mandate disable`: in force there only.
    let _ = write!(
        body,
        "<h2 id=\"machines\">Switched off on machines ({})</h2>",
        on_machines.len()
    );
    if on_machines.is_empty() {
        body.push_str("<p class=\"sub\">No machine reports a target of its own switched off.</p>");
    } else {
        body.push_str(
            "<p class=\"sub\">Reported by the machines (<code>mandate disable</code> there): in \
             force on that machine, not on the organisation's list above.</p>\
             <table><tr><th>Target</th><th>Machine</th><th>Reported by</th><th>Switched by</th>\
             <th>Since</th><th>Why</th></tr>",
        );
        for k in &on_machines {
            let _ = write!(
                body,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&k.target),
                esc(&k.machine),
                esc(&k.owner),
                esc(&k.by),
                esc(&k.time),
                esc(&k.reason)
            );
        }
        body.push_str("</table>");
    }
    let _ = write!(body, "<h2>Registered MCP servers ({})</h2>", registry.len());
    if !registry.is_empty() {
        body.push_str(
            "<table><tr><th>Server</th><th>Owner</th><th>Purpose</th><th>Data exposed</th>\
             <th>Access</th><th>Registered in</th><th>Updated</th></tr>",
        );
        for r in &registry {
            let off = if killed.iter().any(|k| k.target == r.name) {
                badge("bad", "off")
            } else if r.disabled {
                badge("bad", "off in mandate.toml")
            } else {
                String::new()
            };
            let source = match &r.project {
                Some(project) => format!(
                    "mandate.toml of project <code>{}</code>{}",
                    esc(project),
                    r.run_id
                        .as_deref()
                        .map(|run| format!(
                            " (run <a href=\"/runs/{}\">{}</a>)",
                            url(run),
                            esc(run)
                        ))
                        .unwrap_or_default()
                ),
                None => "this server".to_string(),
            };
            let access = if r.tools.is_empty() {
                esc(&r.access)
            } else {
                r.tools
                    .iter()
                    .map(|(tool, class)| format!("{}: {}", esc(tool), esc(class)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = write!(
                body,
                "<tr><td><code>{}</code> {off}</td><td>{}</td><td>{}</td><td>{}</td><td>{access}</td><td>{source}</td><td>{} by {}</td></tr>",
                esc(&r.name),
                esc(&r.owner),
                esc(&r.purpose),
                esc(&r.data),
                esc(&r.updated_at),
                esc(&r.updated_by)
            );
        }
        body.push_str("</table>");
    }
    if who.may_kill() {
        body.push_str(
            "<form method=\"post\" action=\"/registry\" class=\"filters\" style=\"margin-top:12px\">\
             <label>Server <input type=\"text\" name=\"name\" size=\"10\"></label>\
             <label>Owner <input type=\"text\" name=\"owner\" size=\"18\"></label>\
             <label>Purpose <input type=\"text\" name=\"purpose\" size=\"22\"></label>\
             <label>Data exposed <input type=\"text\" name=\"data\" size=\"22\"></label>\
             <label>Access <select name=\"access\"><option>read</option><option>write</option></select></label>\
             <button type=\"submit\">Register</button></form>",
        );
    }
    body.push_str("<h2>MCP tools seen in the records</h2>");
    if observed.is_empty() {
        body.push_str("<p class=\"sub\">None yet.</p>");
    } else {
        body.push_str("<table><tr><th>Tool</th><th class=\"num\">Calls judged</th></tr>");
        for row in &observed {
            use sqlx::Row as _;
            let tool: String = row.try_get(0)?;
            let count: i64 = row.try_get(1)?;
            let _ = write!(
                body,
                "<tr><td><code>{}</code></td><td class=\"num\">{count}</td></tr>",
                esc(&tool)
            );
        }
        body.push_str("</table>");
    }
    html(page(
        "Registry and kill switch",
        "/registry",
        Some(&who),
        &body,
    ))
}

async fn kill(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<KillForm>,
) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    api::switch(&state.db, &who, &form).await?;
    see_other("/registry")
}

async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(entry): Form<Registered>,
) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    api::register(&state.db, &who, &entry).await?;
    see_other("/registry")
}

async fn policy_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    let current = team::current(&state.db).await?;
    let history = team::history(&state.db).await?;
    let mut body = String::from(
        "<h1>Team policy</h1><p class=\"sub\">Who delegates runs in each project, who reviews \
         its held calls and reads its runs, and who holds the kill switch. Security or an admin \
         pushes a new version with <code>POST /api/v1/policy</code>; what a run's record says \
         about its reviewers or delegator is never taken.</p>",
    );
    if current.version == 0 {
        body.push_str(
            "<p class=\"notice\">No policy yet: nobody but an admin may push, approve or pull \
             the kill switch.</p>",
        );
    } else {
        let _ = write!(
            body,
            "<h2>Version {} <span class=\"sub\">by {} at {}</span></h2>",
            current.version,
            esc(current.by.as_deref().unwrap_or("")),
            esc(current.at.as_deref().unwrap_or(""))
        );
        let _ = write!(
            body,
            "<p>Kill switch: {}</p>",
            esc(&current.policy.kill_switch.join(", "))
        );
        body.push_str(
            "<table><tr><th>Project</th><th>Delegators</th><th>Reviewer groups</th>\
             <th>Security</th></tr>",
        );
        for (name, project) in &current.policy.projects {
            let groups: Vec<String> = project
                .reviewers
                .iter()
                .map(|(g, m)| format!("<b>{}</b>: {}", esc(g), esc(&m.join(", "))))
                .collect();
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                esc(&project.delegators.join(", ")),
                groups.join("<br>"),
                esc(&project.security.join(", "))
            );
        }
        body.push_str("</table>");
    }
    if !history.is_empty() {
        body.push_str("<h2>Versions</h2><table><tr><th>Version</th><th>By</th><th>At</th></tr>");
        for (version, by, at) in history {
            let _ = write!(
                body,
                "<tr><td>{version}</td><td>{}</td><td>{}</td></tr>",
                esc(&by),
                esc(&at)
            );
        }
        body.push_str("</table>");
    }
    html(page("Team policy", "/policy", Some(&who), &body))
}

async fn audit_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let who = signed_in(&state, &headers).await?;
    who.require(who.role == Role::Admin, "read the audit log")?;
    let check = audit::verify(&state.db).await?;
    let from = check.size.saturating_sub(500);
    let lines = audit::lines(&state.db, from, 500).await?;
    let mut body = format!(
        "<h1>Audit log</h1><p class=\"sub\">Every administrative and security action, \
         append-only: each line names the hash of the one before. Export it with \
         <code>GET /api/v1/audit/export</code>; keep the root below elsewhere to notice a \
         rewrite.</p><p>{} {} lines, root <code>{}</code></p>",
        if check.ok {
            badge("ok", "chain intact")
        } else {
            badge("bad", "chain broken")
        },
        check.size,
        esc(&check.root)
    );
    for problem in &check.problems {
        let _ = write!(body, "<p class=\"error\">{}</p>", esc(problem));
    }
    body.push_str(
        "<table><tr><th>#</th><th>Time</th><th>Who</th><th>Action</th><th>Target</th>\
         <th>Detail</th></tr>",
    );
    for line in lines.iter().rev() {
        let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let field = |k: &str| esc(v.get(k).and_then(Value::as_str).unwrap_or(""));
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            v.get("i").and_then(Value::as_u64).unwrap_or(0),
            field("time"),
            field("actor"),
            field("action"),
            field("target"),
            esc(&v.get("detail").map(Value::to_string).unwrap_or_default())
        );
    }
    body.push_str("</table>");
    html(page("Audit log", "/audit", Some(&who), &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_renders_its_markdown_as_the_packet_does() {
        let event = serde_json::json!({
            "type": "tool.pre",
            "tool": "Read",
            "input": {"file_path": ".env"},
            "decision": "deny",
            "reason": "reading `.env` is blocked by policy (`**/.env*`) <script>",
        });
        let shown = summarise(&event);
        assert!(
            shown
                .contains("reading <code>.env</code> is blocked by policy (<code>**/.env*</code>)"),
            "{shown}"
        );
        assert!(
            !shown.contains('`') && !shown.contains("<script>"),
            "{shown}"
        );
        let stopped = serde_json::json!({
            "type": "run.stopped",
            "rule": "contract.stop[0]",
            "reason": "writing `prod.tf` meets a stop condition",
        });
        assert!(summarise(&stopped).contains("<code>prod.tf</code>"));
    }
}
