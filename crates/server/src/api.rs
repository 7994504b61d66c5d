//! The JSON API, and the queries the pages share with it.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET /healthz` | anyone | `ok` when the database answers |
//! | `GET /api/v1/whoami` | any token | the caller's e-mail, role and projects |
//! | `POST /api/v1/runs/{run}/entries` | a delegator of the run's project (own runs only) | push entries and checkpoints ([`crate::ingest`]) |
//! | `GET /api/v1/runs?user=&status=&task=&project=&agent=&mode=&decision=&review=&since=&until=&sort=&dir=&page=&per_page=` | any token | summaries of the runs the caller reads ([`crate::team::Visibility`]), one page ([`crate::runs`]) |
//! | `GET /api/v1/runs/{run}` | who reads the run | a run: summary, checkpoints, reviews |
//! | `GET /api/v1/runs/{run}/entries?from=&limit=` | who reads the run | stored lines, in order |
//! | `GET /api/v1/runs/{run}/verify` | who reads the run | the record crate's verifier over the stored copy |
//! | `POST /api/v1/runs/{run}/reviews` | a reviewer of the run's project | `{decision, note}` |
//! | `GET /api/v1/approvals?status=` | any token | approval requests of runs the caller reads |
//! | `POST /api/v1/approvals/{id}` | a member of the request's reviewer group in the team policy | `{run_id, digest, decision: approve\|deny, for_run, note}`: the run and the digest of the call must be the request's |
//! | `GET /api/v1/killswitch`, `POST …` | any / a kill-switch holder of the team policy | `{action: disable\|enable, target, reason}` |
//! | `POST /api/v1/killswitch/machine`, `GET …/machines` | any token / any | a change `mandate disable`/`enable` made on the caller's machine, `{machine, action, target, by, reason, time}`: in force there, not on the organisation's list |
//! | `POST /api/v1/machines/checks`, `GET /api/v1/machines?project=` | any token whose projects cover it / admin, security | what only a machine can check for readiness (hooks, managed settings, sandbox, agents), `{machine, project, workspace, checked_at, checks: [{id, status, detail}]}`, sent at its sync; the newest per user, machine and workspace |
//! | `GET /api/v1/exports` | admin | each `--export` destination and the `--webhook`: `delivering`, `retrying` or `stopped` (refused for good 5 times in a row), since when, the receiver's last answer |
//! | `GET /api/v1/registry`, `POST …` | any / security, admin | MCP servers the organisation vetted |
//! | `GET /api/v1/sync?approvals=ID,…&reviews_since=T` | any token | what hooks cache: the kill list, and decisions on requests of the caller's own runs; since `T` (the server's clock at the last answer), reviews of the caller's runs and the kill-switch changes (`kill_log`) |
//! | `GET /api/v1/metrics?project=&since=` | admin | the figures of `mandate metrics` over every machine's runs ([`crate::report`]; the organisation's at most every 30 s per process) |
//! | `GET /api/v1/readiness?project=` | admin | the rollout questions and checks of `mandate readiness` over the project's pushed runs |
//! | `GET /api/v1/policy`, `POST …` | any / security, admin (every-project token) | the team policy ([`crate::team`]), `{policy, base}` |
//! | `GET /api/v1/tokens`, `POST …` | own / admin | token listing (with last use) and creation |
//! | `POST /api/v1/tokens/{id}/revoke`, `…/rotate` | the token's user, admin | revocation and rotation |
//! | `GET /api/v1/keys`, `POST …` | admin | enrolled machine signing keys, and enrolment |
//! | `GET /api/v1/audit?from=&limit=`, `…/export`, `…/verify` | admin | the audit log ([`crate::audit`]) |

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::auth::caller;
use crate::ingest::{Push, Receipt, ingest};
use crate::team::{self, TeamPolicy, Visibility};
use crate::{AppState, Caller, Db, Role, ServerError, audit, now, random_id};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/runs", get(api_runs))
        .route("/api/v1/runs/{run}", get(api_run))
        .route(
            "/api/v1/runs/{run}/entries",
            post(api_push)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::limits::PUSH_BODY_LIMIT,
                ))
                .get(api_entries),
        )
        .route("/api/v1/runs/{run}/verify", get(api_verify))
        .route("/api/v1/runs/{run}/reviews", post(api_review))
        .route("/api/v1/approvals", get(api_approvals))
        .route("/api/v1/approvals/{id}", post(api_decide))
        .route("/api/v1/killswitch", get(api_killed).post(api_kill))
        .route("/api/v1/killswitch/machine", post(api_machine_kill))
        .route("/api/v1/killswitch/machines", get(api_machine_kills))
        .route("/api/v1/machines/checks", post(api_machine_checks))
        .route("/api/v1/machines", get(api_machines))
        .route("/api/v1/exports", get(api_exports))
        .route("/api/v1/registry", get(api_registry).post(api_register))
        .route("/api/v1/sync", get(api_sync))
        .route("/api/v1/metrics", get(api_metrics))
        .route("/api/v1/readiness", get(api_readiness))
        .route("/api/v1/policy", get(api_policy).post(api_push_policy))
        .route("/api/v1/tokens", get(api_tokens).post(api_create_token))
        .route("/api/v1/tokens/{id}/revoke", post(api_revoke_token))
        .route("/api/v1/tokens/{id}/rotate", post(api_rotate_token))
        .route("/api/v1/keys", get(api_keys).post(api_enroll_key))
        .route("/api/v1/audit", get(api_audit))
        .route("/api/v1/audit/export", get(api_audit_export))
        .route("/api/v1/audit/verify", get(api_audit_verify))
}

type ApiResult<T> = Result<Json<T>, ServerError>;

/// Bodies are parsed after the caller is known, so an anonymous request is told to sign
/// in, whatever it sent.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ServerError> {
    serde_json::from_slice(body)
        .map_err(|error| ServerError::BadRequest(format!("the request body: {error}")))
}

async fn healthz(State(state): State<AppState>) -> Result<&'static str, ServerError> {
    sqlx::query("SELECT 1").execute(&state.db.pool).await?;
    Ok("ok\n")
}

async fn whoami(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Value> {
    let who = caller(&state.db, &headers).await?;
    Ok(Json(json!({
        "email": who.email,
        "role": who.role.as_str(),
        "projects": who.scope.describe(),
        "token": who.token_id,
    })))
}

async fn api_push(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run): Path<String>,
    body: Bytes,
) -> ApiResult<Receipt> {
    let who = caller(&state.db, &headers).await?;
    let push: Push = parse(&body)?;
    Ok(Json(ingest(&state.db, &who, &run, push).await?))
}

/// Filters of the runs list.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RunFilter {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub denied: Option<String>,
    /// The project (the repository's `records.project`).
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    /// enforce | shadow | record
    #[serde(default)]
    pub mode: Option<String>,
    /// Runs with at least one call so decided: allow | deny | ask | stop | would_deny.
    #[serde(default)]
    pub decision: Option<String>,
    /// `none`: finished runs nobody reviewed yet; or a review decision.
    #[serde(default)]
    pub review: Option<String>,
    /// Runs active on or after / on or before this day or RFC 3339 time.
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
    /// last (default) | started | task | user | status | calls | denials | entries
    #[serde(default)]
    pub sort: Option<String>,
    /// asc | desc (default desc)
    #[serde(default)]
    pub dir: Option<String>,
    /// 1-based.
    #[serde(default)]
    pub page: Option<String>,
    /// Runs per page (at most 500).
    #[serde(default)]
    pub per_page: Option<String>,
}

/// One row of the runs list.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub owner: String,
    pub project: Option<String>,
    pub task_id: Option<String>,
    pub request: Option<String>,
    pub delegated_by: Option<String>,
    pub agent: Option<String>,
    pub mode: Option<String>,
    pub status: String,
    pub entries: i64,
    pub sealed: i64,
    pub calls: i64,
    pub denials: i64,
    pub started_at: Option<String>,
    pub last_at: Option<String>,
    pub signer: String,
    pub review: Option<String>,
}

pub(crate) const RUN_COLUMNS: &str = "run_id, owner, task_id, request, delegated_by, agent, mode, status, \
    entries, sealed, calls, denials, started_at, last_at, signer, \
    (SELECT decision FROM reviews r WHERE r.run_id = runs.run_id ORDER BY created_at DESC LIMIT 1), \
    project";

pub(crate) fn run_summary(row: &AnyRow) -> Result<RunSummary, sqlx::Error> {
    Ok(RunSummary {
        run_id: row.try_get(0)?,
        owner: row.try_get(1)?,
        task_id: row.try_get(2)?,
        request: row.try_get(3)?,
        delegated_by: row.try_get(4)?,
        agent: row.try_get(5)?,
        mode: row.try_get(6)?,
        status: row.try_get(7)?,
        entries: row.try_get(8)?,
        sealed: row.try_get(9)?,
        calls: row.try_get(10)?,
        denials: row.try_get(11)?,
        started_at: row.try_get(12)?,
        last_at: row.try_get(13)?,
        signer: row.try_get(14)?,
        review: row.try_get(15)?,
        project: row.try_get(16)?,
    })
}

/// Runs the caller reads, filtered, sorted and one page of them ([`crate::runs`]).
pub async fn list_runs(
    db: &Db,
    who: &Caller,
    filter: &RunFilter,
) -> Result<Vec<RunSummary>, ServerError> {
    Ok(crate::runs::list(db, who, filter).await?.runs)
}

/// A run the caller reads; one they may not read is "not found", as one that is not here.
pub async fn readable_run(db: &Db, who: &Caller, run_id: &str) -> Result<RunSummary, ServerError> {
    let run = get_run(db, run_id).await?;
    let policy = team::current(db).await?.policy;
    if Visibility::of(who, &policy).sees(&run.owner, run.project.as_deref()) {
        Ok(run)
    } else {
        Err(ServerError::NotFound(format!(
            "there is no run `{run_id}` that {} may read",
            who.email
        )))
    }
}

pub async fn get_run(db: &Db, run_id: &str) -> Result<RunSummary, ServerError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = $1");
    let row = sqlx::query(&sql)
        .bind(run_id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("there is no run `{run_id}`")))?;
    Ok(run_summary(&row)?)
}

/// The stored lines of a run from `from`, at most `limit`.
pub async fn entries(
    db: &Db,
    run_id: &str,
    from: u64,
    limit: u64,
) -> Result<Vec<String>, ServerError> {
    let rows = sqlx::query(
        "SELECT body FROM entries WHERE run_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3",
    )
    .bind(run_id)
    .bind(i64::try_from(from).unwrap_or(i64::MAX))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Review {
    /// The review's id: the server's, or the one `mandate review` wrote into the record.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub run_id: String,
    pub reviewer: String,
    pub decision: String,
    pub note: String,
    pub created_at: String,
    /// `server`: made here by the signed-in reviewer; `record`: written into the run's
    /// record on a machine, whose word the reviewer's name is.
    #[serde(default)]
    pub via: String,
}

const REVIEW_COLUMNS: &str = "id, run_id, reviewer, decision, note, created_at, via";

fn review_row(row: &AnyRow) -> Result<Review, sqlx::Error> {
    Ok(Review {
        id: row.try_get(0)?,
        run_id: row.try_get(1)?,
        reviewer: row.try_get(2)?,
        decision: row.try_get(3)?,
        note: row.try_get(4)?,
        created_at: row.try_get(5)?,
        via: row.try_get(6)?,
    })
}

pub async fn reviews(db: &Db, run_id: &str) -> Result<Vec<Review>, ServerError> {
    let rows = sqlx::query(&format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews WHERE run_id = $1 ORDER BY created_at, id"
    ))
    .bind(run_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(review_row).collect::<Result<_, _>>()?)
}

/// A review id a machine chose (`mandate review` writes it into the record and sends it
/// here, so both name one review): `r-` and up to 64 letters, digits or `-`.
pub fn valid_review_id(id: &str) -> bool {
    id.strip_prefix("r-").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 64
            && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

async fn api_runs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<RunFilter>,
) -> ApiResult<Vec<RunSummary>> {
    let who = caller(&state.db, &headers).await?;
    Ok(Json(list_runs(&state.db, &who, &filter).await?))
}

async fn api_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run): Path<String>,
) -> ApiResult<Value> {
    let who = caller(&state.db, &headers).await?;
    let summary = readable_run(&state.db, &who, &run).await?;
    let checkpoints: Vec<i64> =
        sqlx::query("SELECT size FROM checkpoints WHERE run_id = $1 ORDER BY size")
            .bind(&run)
            .fetch_all(&state.db.pool)
            .await?
            .iter()
            .map(|row| row.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()?;
    Ok(Json(json!({
        "run": summary,
        // "Verified" rests on this: the signer is a key enrolled for the run's delegator
        // in its project.
        "signer_enrolled": crate::ingest::signer_enrolled(&state.db, &run).await?,
        "checkpoints": checkpoints,
        "reviews": reviews(&state.db, &run).await?,
    })))
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    from: u64,
    #[serde(default)]
    limit: Option<u64>,
}

async fn api_entries(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Value> {
    let who = caller(&state.db, &headers).await?;
    readable_run(&state.db, &who, &run).await?;
    let limit = page.limit.unwrap_or(1000).min(10_000);
    let lines = entries(&state.db, &run, page.from, limit).await?;
    Ok(Json(json!({"from": page.from, "entries": lines})))
}

async fn api_verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run): Path<String>,
) -> ApiResult<mandate_record::VerifyReport> {
    let who = caller(&state.db, &headers).await?;
    readable_run(&state.db, &who, &run).await?;
    Ok(Json(crate::ingest::verify_stored(&state.db, &run).await?))
}

/// A reviewer's decision on a run.
#[derive(Clone, Debug, Deserialize)]
pub struct ReviewForm {
    pub decision: String,
    #[serde(default)]
    pub note: String,
    /// The id the machine wrote into the record with the same review, if any.
    #[serde(default)]
    pub id: Option<String>,
}

pub async fn record_review(
    db: &Db,
    who: &Caller,
    run_id: &str,
    form: &ReviewForm,
) -> Result<Review, ServerError> {
    who.require(
        who.may_review(),
        "review runs (a reviewer's or an admin's token)",
    )?;
    let run = readable_run(db, who, run_id).await?;
    let policy = team::current(db).await?.policy;
    let reviews_project = run.project.as_deref().is_some_and(|p| {
        who.scope.covers(p)
            && policy.project(p).is_some_and(|project| {
                project
                    .reviewers
                    .values()
                    .flatten()
                    .any(|e| e == &who.email)
            })
    });
    if !reviews_project {
        return Err(ServerError::Forbidden(format!(
            "{} is not a reviewer of project `{}` in the team policy, so may not review run \
             `{run_id}`",
            who.email,
            run.project.as_deref().unwrap_or("(none)")
        )));
    }
    if !matches!(
        form.decision.as_str(),
        "approve" | "reject" | "request-changes"
    ) {
        return Err(ServerError::BadRequest(format!(
            "`{}` is not a review decision: use approve, reject or request-changes",
            form.decision
        )));
    }
    if run.owner == who.email {
        return Err(ServerError::Forbidden(format!(
            "{} delegated or pushed run `{run_id}` and may not review it",
            who.email
        )));
    }
    let id = match form
        .id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
    {
        Some(id) if valid_review_id(id) => id.to_string(),
        Some(id) => {
            return Err(ServerError::BadRequest(format!(
                "`{id}` is not a review id (`r-` and up to 64 letters, digits or `-`)"
            )));
        }
        None => random_id("r-")?,
    };
    let review = Review {
        id: id.clone(),
        run_id: run_id.to_string(),
        reviewer: who.email.clone(),
        decision: form.decision.clone(),
        note: form.note.trim().to_string(),
        created_at: now(),
        via: "server".to_string(),
    };
    // The same review may have come first as a record entry (pushed before the machine
    // could reach the API): the signed-in reviewer confirms it, and their name is the one
    // kept. An id held by another run's review is refused.
    let held = sqlx::query("SELECT run_id, via FROM reviews WHERE id = $1")
        .bind(&id)
        .fetch_optional(&db.pool)
        .await?;
    match held {
        Some(row) => {
            let (held_run, via): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            if held_run != run_id {
                return Err(ServerError::Conflict {
                    message: format!("review id `{id}` belongs to another run"),
                    have: None,
                });
            }
            if via == "server" {
                // Sent again (an outbox retry whose first answer was lost): done.
                let row = sqlx::query(&format!(
                    "SELECT {REVIEW_COLUMNS} FROM reviews WHERE id = $1"
                ))
                .bind(&id)
                .fetch_one(&db.pool)
                .await?;
                return Ok(review_row(&row)?);
            }
            sqlx::query(
                "UPDATE reviews SET reviewer = $2, decision = $3, note = $4, via = 'server' \
                 WHERE id = $1",
            )
            .bind(&id)
            .bind(&review.reviewer)
            .bind(&review.decision)
            .bind(&review.note)
            .execute(&db.pool)
            .await?;
        }
        None => {
            sqlx::query(
                "INSERT INTO reviews (id, run_id, reviewer, decision, note, created_at, via) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'server')",
            )
            .bind(&id)
            .bind(run_id)
            .bind(&review.reviewer)
            .bind(&review.decision)
            .bind(&review.note)
            .bind(&review.created_at)
            .execute(&db.pool)
            .await?;
        }
    }
    audit::append(
        db,
        &who.email,
        "run.review",
        run_id,
        json!({"decision": review.decision, "note": review.note}),
    )
    .await?;
    Ok(review)
}

async fn api_review(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run): Path<String>,
    body: Bytes,
) -> ApiResult<Review> {
    let who = caller(&state.db, &headers).await?;
    let form: ReviewForm = parse(&body)?;
    Ok(Json(record_review(&state.db, &who, &run, &form).await?))
}

/// One approval request as the server holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub run_id: String,
    pub tool: String,
    pub input: Option<String>,
    /// sha256 of the call (tool and input, canonical JSON): a decision covers only it.
    pub digest: String,
    /// What the reviewer sees: the command, or the diff of the write.
    pub preview: Option<String>,
    pub group: String,
    pub reviewers: Vec<String>,
    pub rule: Option<String>,
    pub reason: Option<String>,
    pub delegated_by: Option<String>,
    pub requested_at: String,
    pub status: String,
    pub for_run: bool,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub note: Option<String>,
    /// `server`: decided here by the signed-in reviewer; `record`: decided on a machine
    /// (`mandate approve` there) and known from its pushed record.
    #[serde(default)]
    pub decided_via: Option<String>,
}

const APPROVAL_COLUMNS: &str = "id, run_id, tool, input, grp, reviewers, rule, reason, \
    delegated_by, requested_at, status, for_run, decided_by, decided_at, note, digest, preview, \
    decided_via";

fn approval(row: &AnyRow) -> Result<Approval, sqlx::Error> {
    let reviewers: String = row.try_get(5)?;
    Ok(Approval {
        id: row.try_get(0)?,
        run_id: row.try_get(1)?,
        tool: row.try_get(2)?,
        input: row.try_get(3)?,
        group: row.try_get(4)?,
        reviewers: serde_json::from_str(&reviewers).unwrap_or_default(),
        rule: row.try_get(6)?,
        reason: row.try_get(7)?,
        delegated_by: row.try_get(8)?,
        requested_at: row.try_get(9)?,
        status: row.try_get(10)?,
        for_run: row.try_get::<i64, _>(11)? != 0,
        decided_by: row.try_get(12)?,
        decided_at: row.try_get(13)?,
        note: row.try_get(14)?,
        digest: row.try_get(15)?,
        preview: row.try_get(16)?,
        decided_via: row.try_get(17)?,
    })
}

/// Approval requests of runs the caller reads, newest first.
pub async fn list_approvals(
    db: &Db,
    who: &Caller,
    status: Option<&str>,
    run_id: Option<&str>,
) -> Result<Vec<Approval>, ServerError> {
    let policy = team::current(db).await?.policy;
    let (visible, binds) = Visibility::of(who, &policy).sql(3);
    let sql = format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE ($1 = '' OR status = $1) \
         AND ($2 = '' OR run_id = $2) AND run_id IN (SELECT run_id FROM runs WHERE {visible}) \
         ORDER BY requested_at DESC LIMIT 500"
    );
    let mut query = sqlx::query(&sql)
        .bind(status.unwrap_or(""))
        .bind(run_id.unwrap_or(""));
    for bind in binds {
        query = query.bind(bind);
    }
    let rows = query.fetch_all(&db.pool).await?;
    Ok(rows.iter().map(approval).collect::<Result<_, _>>()?)
}

#[derive(Deserialize)]
struct StatusQuery {
    #[serde(default)]
    status: Option<String>,
}

async fn api_approvals(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<StatusQuery>,
) -> ApiResult<Vec<Approval>> {
    let who = caller(&state.db, &headers).await?;
    Ok(Json(
        list_approvals(&state.db, &who, query.status.as_deref(), None).await?,
    ))
}

/// A reviewer's answer to an approval request.
#[derive(Clone, Debug, Deserialize)]
pub struct DecideForm {
    /// The run and the call digest the reviewer saw: the decision covers only them.
    #[serde(default)]
    pub run_id: String,
    #[serde(default)]
    pub digest: String,
    pub decision: String,
    #[serde(default)]
    pub for_run: Option<String>,
    #[serde(default)]
    pub note: String,
}

/// Decide a pending request: only a member of its reviewer group as the team policy
/// names it now (never as the pushed record names it), never the run's delegator (the
/// user whose token pushed it), and only once.
pub async fn decide(
    db: &Db,
    who: &Caller,
    id: &str,
    form: &DecideForm,
) -> Result<Approval, ServerError> {
    who.require(
        who.may_review(),
        "decide approval requests (a reviewer's or an admin's token)",
    )?;
    let status = match form.decision.as_str() {
        "approve" => "approved",
        "deny" => "denied",
        other => {
            return Err(ServerError::BadRequest(format!(
                "`{other}` is not an approval decision: use approve or deny"
            )));
        }
    };
    let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1");
    let request = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("there is no approval request `{id}`")))?;
    let request = approval(&request)?;
    if form.run_id != request.run_id || form.digest != request.digest {
        return Err(ServerError::Conflict {
            message: format!(
                "request {id} is for run `{}` and call `{}`; this decision names run `{}` and \
                 call `{}`, so it is refused: decide on what you were shown",
                request.run_id, request.digest, form.run_id, form.digest
            ),
            have: None,
        });
    }
    let run = get_run(db, &request.run_id).await?;
    let project = run.project.clone().unwrap_or_default();
    let policy = team::current(db).await?.policy;
    let group = policy
        .project(&project)
        .and_then(|p| p.reviewers.get(&request.group))
        .cloned()
        .unwrap_or_default();
    if !who.scope.covers(&project) || !group.iter().any(|r| r == &who.email) {
        return Err(ServerError::Forbidden(format!(
            "{} is not in the `{}` reviewer group of project `{project}` in the team policy \
             ({}), so may not decide request {id}",
            who.email,
            request.group,
            if group.is_empty() {
                "the policy names nobody; security sets it with POST /api/v1/policy".to_string()
            } else {
                group.join(", ")
            }
        )));
    }
    if run.owner == who.email {
        return Err(ServerError::Forbidden(format!(
            "{} delegated run `{}` and may not approve its calls",
            who.email, request.run_id
        )));
    }
    let for_run = form
        .for_run
        .as_deref()
        .is_some_and(|v| matches!(v, "true" | "on" | "1" | "yes"));
    let note = form.note.trim();
    let changed = sqlx::query(
        "UPDATE approvals SET status = $2, for_run = $3, decided_by = $4, decided_at = $5, \
         note = $6, decided_via = 'server' WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(status)
    .bind(i64::from(for_run))
    .bind(&who.email)
    .bind(now())
    .bind((!note.is_empty()).then(|| note.to_string()))
    .execute(&db.pool)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(ServerError::Conflict {
            message: format!("request {id} was already decided ({})", request.status),
            have: None,
        });
    }
    audit::append(
        db,
        &who.email,
        &format!("approval.{}", form.decision),
        id,
        json!({"run_id": request.run_id, "digest": request.digest, "tool": request.tool,
               "for_run": for_run, "note": note}),
    )
    .await?;
    let row = sqlx::query(&sql).bind(id).fetch_one(&db.pool).await?;
    Ok(approval(&row)?)
}

async fn api_decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Approval> {
    let who = caller(&state.db, &headers).await?;
    let form: DecideForm = parse(&body)?;
    Ok(Json(decide(&state.db, &who, &id, &form).await?))
}

/// A target that is off.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Killed {
    pub target: String,
    pub by: String,
    pub reason: String,
    pub since: String,
}

pub async fn killed(db: &Db) -> Result<Vec<Killed>, ServerError> {
    let rows = sqlx::query("SELECT target, by_user, reason, since FROM killed ORDER BY target")
        .fetch_all(&db.pool)
        .await?;
    let mut out = Vec::new();
    for row in rows {
        out.push(Killed {
            target: row.try_get(0)?,
            by: row.try_get(1)?,
            reason: row.try_get(2)?,
            since: row.try_get(3)?,
        });
    }
    Ok(out)
}

/// The kill switch: `disable` or `enable` a target.
#[derive(Clone, Debug, Deserialize)]
pub struct KillForm {
    pub action: String,
    pub target: String,
    #[serde(default)]
    pub reason: String,
}

/// Targets as the hook's kill list names them: an MCP server (`jira`), one tool
/// (`jira/create_issue`), or a touch kind (`read`, `write`, `execute`, `call`, `expose`).
pub fn valid_target(target: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 128
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match target.split_once('/') {
        Some((server, tool)) => part(server) && part(tool),
        None => part(target),
    }
}

pub async fn switch(db: &Db, who: &Caller, form: &KillForm) -> Result<Vec<Killed>, ServerError> {
    who.require(
        who.may_kill(),
        "set the organisation's kill list (a security or admin token whose user the team \
         policy's `kill_switch` names; an admin issues such tokens). A change made on one \
         machine is reported with POST /api/v1/killswitch/machine instead",
    )?;
    if who.role != Role::Admin {
        let policy = team::current(db).await?.policy;
        if !policy.kill_switch.iter().any(|e| e == &who.email) {
            return Err(ServerError::Forbidden(format!(
                "{} does not hold the kill switch: the team policy's `kill_switch` list does \
                 not name them (an admin or security changes it with POST /api/v1/policy)",
                who.email
            )));
        }
    }
    let target = form.target.trim();
    if !valid_target(target) {
        return Err(ServerError::BadRequest(format!(
            "`{target}` is not a kill-switch target: an MCP server (`jira`), a tool \
             (`jira/create_issue`) or a touch kind (`write`)"
        )));
    }
    let time = now();
    let mut tx = db.pool.begin().await?;
    match form.action.as_str() {
        "disable" => {
            sqlx::query(
                "INSERT INTO killed (target, by_user, reason, since) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (target) DO NOTHING",
            )
            .bind(target)
            .bind(&who.email)
            .bind(form.reason.trim())
            .bind(&time)
            .execute(&mut *tx)
            .await?;
        }
        "enable" => {
            sqlx::query("DELETE FROM killed WHERE target = $1")
                .bind(target)
                .execute(&mut *tx)
                .await?;
        }
        other => {
            return Err(ServerError::BadRequest(format!(
                "`{other}` is not a kill-switch action: use disable or enable"
            )));
        }
    }
    sqlx::query(
        "INSERT INTO killswitch_log (id, time, action, target, by_user, reason) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(random_id("k-")?)
    .bind(&time)
    .bind(&form.action)
    .bind(target)
    .bind(&who.email)
    .bind(form.reason.trim())
    .execute(&mut *tx)
    .await?;
    audit::append_in(
        &mut tx,
        &who.email,
        &format!("killswitch.{}", form.action),
        target,
        json!({"reason": form.reason.trim()}),
    )
    .await?;
    tx.commit().await?;
    killed(db).await
}

async fn api_killed(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Vec<Killed>> {
    caller(&state.db, &headers).await?;
    Ok(Json(killed(&state.db).await?))
}

async fn api_kill(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Vec<Killed>> {
    let who = caller(&state.db, &headers).await?;
    let form: KillForm = parse(&body)?;
    Ok(Json(switch(&state.db, &who, &form).await?))
}

/// A kill-switch change made on one machine, as the machine reported it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MachineKill {
    /// The reporting token's user (set by the server).
    #[serde(default)]
    pub owner: String,
    /// The machine and record store it holds on (`host:records dir`).
    pub machine: String,
    pub action: String,
    pub target: String,
    /// Who the machine says switched it (its `authority.kill_switch` identity).
    #[serde(default)]
    pub by: String,
    #[serde(default)]
    pub reason: String,
    /// When the machine says it happened.
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub received_at: String,
}

/// Targets switched off on machines, newest report per machine and target.
pub async fn machine_kills(db: &Db) -> Result<Vec<MachineKill>, ServerError> {
    let rows = sqlx::query(
        "SELECT owner, machine, target, action, by_user, reason, time, received_at \
         FROM machine_kills WHERE action = 'disable' ORDER BY target, owner, machine",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        out.push(MachineKill {
            owner: row.try_get(0)?,
            machine: row.try_get(1)?,
            target: row.try_get(2)?,
            action: row.try_get(3)?,
            by: row.try_get(4)?,
            reason: row.try_get(5)?,
            time: row.try_get(6)?,
            received_at: row.try_get(7)?,
        });
    }
    Ok(out)
}

/// Any signed-in machine reports its own kill-switch changes: who switched what there is
/// the machine's word (its policy's `authority.kill_switch` let them), kept under the
/// token's user and apart from the organisation's list, which only a kill-switch holder
/// sets. Reports arrive in order per machine; an older one never undoes a newer one.
pub async fn report_machine_kill(
    db: &Db,
    who: &Caller,
    report: &MachineKill,
) -> Result<(), ServerError> {
    let target = report.target.trim();
    if !valid_target(target) {
        return Err(ServerError::BadRequest(format!(
            "`{target}` is not a kill-switch target"
        )));
    }
    if !matches!(report.action.as_str(), "disable" | "enable") {
        return Err(ServerError::BadRequest(format!(
            "`{}` is not a kill-switch action: use disable or enable",
            report.action
        )));
    }
    let machine = report.machine.trim();
    if machine.is_empty() || machine.len() > 300 {
        return Err(ServerError::BadRequest(
            "name the machine (`host:records dir`, at most 300 characters)".to_string(),
        ));
    }
    let time = if report.time.trim().is_empty() {
        now()
    } else {
        report.time.trim().to_string()
    };
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO machine_kills (owner, machine, target, action, by_user, reason, time, \
         received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (owner, machine, target) DO UPDATE SET action = excluded.action, \
         by_user = excluded.by_user, reason = excluded.reason, time = excluded.time, \
         received_at = excluded.received_at WHERE machine_kills.time <= excluded.time",
    )
    .bind(&who.email)
    .bind(machine)
    .bind(target)
    .bind(&report.action)
    .bind(report.by.trim())
    .bind(report.reason.trim())
    .bind(&time)
    .bind(now())
    .execute(&mut *tx)
    .await?;
    audit::append_in(
        &mut tx,
        &who.email,
        &format!("killswitch.machine.{}", report.action),
        target,
        json!({"machine": machine, "by": report.by.trim(), "reason": report.reason.trim(),
               "time": time}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn api_machine_kill(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Vec<MachineKill>> {
    let who = caller(&state.db, &headers).await?;
    let report: MachineKill = parse(&body)?;
    report_machine_kill(&state.db, &who, &report).await?;
    Ok(Json(machine_kills(&state.db).await?))
}

async fn api_machine_kills(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Vec<MachineKill>> {
    caller(&state.db, &headers).await?;
    Ok(Json(machine_kills(&state.db).await?))
}

/// A machine's report of the readiness checks only it can make.
#[derive(Clone, Debug, Deserialize)]
pub struct MachineChecks {
    pub machine: String,
    pub project: String,
    pub workspace: String,
    pub checked_at: String,
    pub checks: Vec<mandate_report::machines::ReportedCheck>,
}

/// Keep a machine's report, as the token's user: only for a project the token covers,
/// only the checks readiness knows, and never an older report over a newer one.
pub async fn report_machine_checks(
    db: &Db,
    who: &Caller,
    report: &MachineChecks,
) -> Result<(), ServerError> {
    let project = report.project.trim();
    if project.is_empty() || !who.scope.covers(project) {
        return Err(ServerError::Forbidden(format!(
            "{}'s token does not cover project `{project}`, so it may not report a machine              of that project (an admin issues a token with `--project {project}`)",
            who.email
        )));
    }
    let machine = report.machine.trim();
    let workspace = report.workspace.trim();
    if machine.is_empty() || machine.len() > 300 || workspace.is_empty() || workspace.len() > 1000 {
        return Err(ServerError::BadRequest(
            "name the machine (`host:records dir`, at most 300 characters) and the workspace              (at most 1,000)"
                .to_string(),
        ));
    }
    if mandate_report::metrics::parse_time_ms(&report.checked_at).is_none() {
        return Err(ServerError::BadRequest(format!(
            "`checked_at` `{}` is not an RFC 3339 time",
            report.checked_at
        )));
    }
    let checks: Vec<&mandate_report::machines::ReportedCheck> = report
        .checks
        .iter()
        .filter(|c| mandate_report::machines::title(&c.id).is_some())
        .collect();
    if checks.iter().any(|c| c.detail.len() > 4000) {
        return Err(ServerError::BadRequest(
            "a check's detail is longer than 4,000 characters".to_string(),
        ));
    }
    let text = serde_json::to_string(&checks).map_err(|e| ServerError::Internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO machine_checks (owner, machine, workspace, project, checked_at,          received_at, checks) VALUES ($1, $2, $3, $4, $5, $6, $7)          ON CONFLICT (owner, machine, workspace) DO UPDATE SET project = excluded.project,          checked_at = excluded.checked_at, received_at = excluded.received_at,          checks = excluded.checks WHERE machine_checks.checked_at <= excluded.checked_at",
    )
    .bind(&who.email)
    .bind(machine)
    .bind(workspace)
    .bind(project)
    .bind(report.checked_at.trim())
    .bind(now())
    .bind(&text)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The newest report of each machine of `project`, by user and machine.
pub async fn machine_reports(
    db: &Db,
    project: &str,
) -> Result<Vec<mandate_report::machines::MachineReport>, ServerError> {
    let rows = sqlx::query(
        "SELECT owner, machine, workspace, checked_at, received_at, checks FROM machine_checks          WHERE project = $1 ORDER BY owner, machine, workspace",
    )
    .bind(project)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let checks: String = row.try_get(5)?;
        out.push(mandate_report::machines::MachineReport {
            user: row.try_get(0)?,
            machine: row.try_get(1)?,
            workspace: row.try_get(2)?,
            checked_at: row.try_get(3)?,
            received_at: row.try_get(4)?,
            checks: serde_json::from_str(&checks).unwrap_or_default(),
        });
    }
    Ok(out)
}

async fn api_machine_checks(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Value> {
    let who = caller(&state.db, &headers).await?;
    let report: MachineChecks = parse(&body)?;
    report_machine_checks(&state.db, &who, &report).await?;
    Ok(Json(json!({"kept": true, "received_at": now()})))
}

async fn api_machines(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ReadinessQuery>,
) -> ApiResult<Vec<mandate_report::machines::MachineReport>> {
    let who = caller(&state.db, &headers).await?;
    who.require(
        who.may_kill() && who.scope.covers(&query.project),
        "read the machines' reports (a security or admin token)",
    )?;
    Ok(Json(machine_reports(&state.db, &query.project).await?))
}

/// The export destinations and webhook: what each is doing (`delivering`, `retrying`,
/// `stopped`), since when, and the receiver's last answer.
async fn api_exports(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Vec<Value>> {
    let who = caller(&state.db, &headers).await?;
    who.require(
        who.role == Role::Admin,
        "read the state of the exports (an admin's token)",
    )?;
    Ok(Json(crate::export::destinations(&state.db).await?))
}

/// One MCP server: vetted here by security, or registered in a project's mandate.toml.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Registered {
    pub name: String,
    pub owner: String,
    pub purpose: String,
    pub data: String,
    pub access: String,
    #[serde(default)]
    pub updated_by: String,
    #[serde(default)]
    pub updated_at: String,
    /// `team server` (edited here) or `mandate.toml` (a project's `[mcp.servers]`, as
    /// its newest pushed run started under it).
    #[serde(default = "team_server")]
    pub source: String,
    /// The project whose mandate.toml registers it.
    #[serde(default)]
    pub project: Option<String>,
    /// Tool name to class (`read` / `write`), as mandate.toml lists them.
    #[serde(default)]
    pub tools: std::collections::BTreeMap<String, String>,
    /// The reviewer group mandate.toml names for write-class calls.
    #[serde(default)]
    pub approval: Option<String>,
    /// Switched off in mandate.toml (`disabled = true`).
    #[serde(default)]
    pub disabled: bool,
    /// The run whose start carried the mandate.toml entry.
    #[serde(default)]
    pub run_id: Option<String>,
}

fn team_server() -> String {
    "team server".to_string()
}

/// What the projects' mandate.toml files register, as their newest pushed runs carried
/// them.
pub async fn declared(db: &Db) -> Result<Vec<Registered>, ServerError> {
    let rows = sqlx::query(
        "SELECT project, name, body, run_id, declared_by, seen_at FROM declared_mcp \
         ORDER BY name, project",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let body: String = row.try_get(2)?;
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let text = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let tools: std::collections::BTreeMap<String, String> = body
            .get("tools")
            .and_then(Value::as_object)
            .map(|tools| {
                tools
                    .iter()
                    .map(|(name, spec)| {
                        let class = spec
                            .as_str()
                            .or_else(|| spec.get("class").and_then(Value::as_str))
                            .unwrap_or("write");
                        (name.clone(), class.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let access = if tools.values().any(|c| c != "read") {
            "write"
        } else {
            "read"
        };
        out.push(Registered {
            name: row.try_get(1)?,
            owner: text("owner"),
            purpose: text("purpose"),
            data: text("data"),
            access: access.to_string(),
            updated_by: row.try_get(4)?,
            updated_at: row.try_get(5)?,
            source: "mandate.toml".to_string(),
            project: Some(row.try_get(0)?),
            tools,
            approval: body
                .get("approval")
                .and_then(Value::as_str)
                .map(str::to_string),
            disabled: body
                .get("disabled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            run_id: Some(row.try_get(3)?),
        });
    }
    Ok(out)
}

/// Security's registry and what the projects' mandate.toml files register, side by side.
pub async fn full_registry(db: &Db) -> Result<Vec<Registered>, ServerError> {
    let mut all = registry(db).await?;
    all.extend(declared(db).await?);
    Ok(all)
}

pub async fn registry(db: &Db) -> Result<Vec<Registered>, ServerError> {
    let rows = sqlx::query(
        "SELECT name, owner, purpose, data, access, updated_by, updated_at FROM registry \
         ORDER BY name",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        out.push(Registered {
            name: row.try_get(0)?,
            owner: row.try_get(1)?,
            purpose: row.try_get(2)?,
            data: row.try_get(3)?,
            access: row.try_get(4)?,
            updated_by: row.try_get(5)?,
            updated_at: row.try_get(6)?,
            source: team_server(),
            project: None,
            tools: Default::default(),
            approval: None,
            disabled: false,
            run_id: None,
        });
    }
    Ok(out)
}

pub async fn register(db: &Db, who: &Caller, entry: &Registered) -> Result<(), ServerError> {
    who.require(who.may_kill(), "edit the registry")?;
    if !valid_target(&entry.name) || entry.name.contains('/') {
        return Err(ServerError::BadRequest(format!(
            "`{}` is not an MCP server name",
            entry.name
        )));
    }
    if !matches!(entry.access.as_str(), "read" | "write") {
        return Err(ServerError::BadRequest(
            "access is `read` or `write`".to_string(),
        ));
    }
    let before = registry(db)
        .await?
        .into_iter()
        .find(|r| r.name == entry.name);
    let mut tx = db.pool.begin().await?;
    audit::append_in(
        &mut tx,
        &who.email,
        "registry.set",
        &entry.name,
        json!({"before": before, "after": {"owner": entry.owner.trim(), "purpose": entry.purpose.trim(),
               "data": entry.data.trim(), "access": entry.access}}),
    )
    .await?;
    sqlx::query("DELETE FROM registry WHERE name = $1")
        .bind(&entry.name)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO registry (name, owner, purpose, data, access, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&entry.name)
    .bind(entry.owner.trim())
    .bind(entry.purpose.trim())
    .bind(entry.data.trim())
    .bind(&entry.access)
    .bind(&who.email)
    .bind(now())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn api_registry(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Vec<Registered>> {
    caller(&state.db, &headers).await?;
    Ok(Json(full_registry(&state.db).await?))
}

async fn api_register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Vec<Registered>> {
    let who = caller(&state.db, &headers).await?;
    let entry: Registered = parse(&body)?;
    register(&state.db, &who, &entry).await?;
    Ok(Json(full_registry(&state.db).await?))
}

#[derive(Deserialize)]
struct SyncQuery {
    #[serde(default)]
    approvals: Option<String>,
    /// Reviews made here since this time (the `time` of the caller's last answer).
    #[serde(default)]
    reviews_since: Option<String>,
}

/// What a hook caches: the kill list, and decisions on the requests it asks about; and
/// reviews reviewers made here of the caller's own runs, which the machine writes into
/// its copy of the record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sync {
    pub time: String,
    pub killed: Vec<Killed>,
    pub approvals: Vec<Approval>,
    #[serde(default)]
    pub reviews: Vec<Review>,
    /// The organisation's kill-switch changes since `reviews_since` (each once, by id),
    /// so a machine writes every change made between its syncs into its records: who,
    /// when, what.
    #[serde(default)]
    pub kill_log: Vec<KillChange>,
}

/// One change of the organisation's kill list, as `killswitch_log` keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KillChange {
    pub id: String,
    pub time: String,
    pub action: String,
    pub target: String,
    pub by: String,
    pub reason: String,
}

async fn api_sync(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<SyncQuery>,
) -> ApiResult<Sync> {
    let who = caller(&state.db, &headers).await?;
    let ids: Vec<&str> = query
        .approvals
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .take(200)
        .collect();
    let mut approvals = Vec::new();
    // Only requests of the caller's own runs: a hook learns decisions on its own calls,
    // and nobody learns another run's by naming its id.
    let sql = format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1 AND run_id IN \
         (SELECT run_id FROM runs WHERE owner = $2)"
    );
    for id in ids {
        if let Some(row) = sqlx::query(&sql)
            .bind(id)
            .bind(&who.email)
            .fetch_optional(&state.db.pool)
            .await?
        {
            approvals.push(approval(&row)?);
        }
    }
    let time = now();
    let mut reviews = Vec::new();
    if let Some(since) = query.reviews_since.as_deref() {
        let rows = sqlx::query(&format!(
            "SELECT {REVIEW_COLUMNS} FROM reviews WHERE via = 'server' AND created_at >= $1 \
             AND run_id IN (SELECT run_id FROM runs WHERE owner = $2) \
             ORDER BY created_at, id LIMIT 200"
        ))
        .bind(since)
        .bind(&who.email)
        .fetch_all(&state.db.pool)
        .await?;
        reviews = rows.iter().map(review_row).collect::<Result<_, _>>()?;
    }
    let mut kill_log = Vec::new();
    if let Some(since) = query.reviews_since.as_deref() {
        let rows = sqlx::query(
            "SELECT id, time, action, target, by_user, reason FROM killswitch_log \
             WHERE time >= $1 ORDER BY time, id LIMIT 200",
        )
        .bind(since)
        .fetch_all(&state.db.pool)
        .await?;
        for row in rows {
            kill_log.push(KillChange {
                id: row.try_get(0)?,
                time: row.try_get(1)?,
                action: row.try_get(2)?,
                target: row.try_get(3)?,
                by: row.try_get(4)?,
                reason: row.try_get(5)?,
            });
        }
    }
    Ok(Json(Sync {
        time,
        killed: killed(&state.db).await?,
        approvals,
        reviews,
        kill_log,
    }))
}

/// How long computed metrics are served before they are computed again.
pub const METRICS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// What `/api/v1/metrics` and the metrics page are asked for.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MetricsQuery {
    /// One project's runs (default: every project's).
    #[serde(default)]
    pub project: Option<String>,
    /// Events at or after this day (`YYYY-MM-DD`) or RFC 3339 time.
    #[serde(default)]
    pub since: Option<String>,
}

impl MetricsQuery {
    fn project(&self) -> Option<&str> {
        self.project
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// `since`, checked as the CLI checks `--since`.
    pub fn since(&self) -> Result<Option<&str>, ServerError> {
        let Some(since) = self
            .since
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            return Ok(None);
        };
        let day = since.get(..10).unwrap_or("");
        if mandate_report::metrics::parse_time_ms(&format!("{day}T00:00:00Z")).is_none() {
            return Err(ServerError::BadRequest(format!(
                "`since={since}` is not a date: write it as YYYY-MM-DD (UTC), e.g. 2026-01-31"
            )));
        }
        Ok(Some(since))
    }
}

/// The organisation's metrics (every project, all time), at most [`METRICS_FRESH_FOR`]
/// old: one request computes them at a time (the others wait for its answer). Asked for
/// one project or a `since`, they are computed for the request, from each run's kept
/// share ([`crate::report`]).
pub async fn cached_metrics(
    state: &AppState,
    query: &MetricsQuery,
) -> Result<mandate_report::metrics::Metrics, ServerError> {
    let since = query.since()?;
    if query.project().is_some() || since.is_some() {
        return crate::report::metrics(&state.db, query.project(), since).await;
    }
    let mut cache = state.metrics.lock().await;
    if let Some((at, metrics)) = cache.as_ref()
        && at.elapsed() < METRICS_FRESH_FOR
    {
        return Ok(metrics.clone());
    }
    let fresh = crate::report::metrics(&state.db, None, None).await?;
    *cache = Some((std::time::Instant::now(), fresh.clone()));
    Ok(fresh)
}

async fn api_metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<MetricsQuery>,
) -> ApiResult<mandate_report::metrics::Metrics> {
    let who = caller(&state.db, &headers).await?;
    who.require(who.role == Role::Admin, "read the organisation's metrics")?;
    Ok(Json(cached_metrics(&state, &query).await?))
}

#[derive(Deserialize)]
struct ReadinessQuery {
    project: String,
}

/// Readiness of one project over every machine's pushed records.
async fn api_readiness(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ReadinessQuery>,
) -> ApiResult<mandate_report::readiness::Readiness> {
    let who = caller(&state.db, &headers).await?;
    who.require(who.role == Role::Admin, "read the organisation's readiness")?;
    match crate::report::readiness(&state.db, &query.project).await? {
        Ok(readiness) => Ok(Json(readiness)),
        Err(why) => Err(ServerError::NotFound(format!(
            "readiness of project `{}` cannot be answered here: {why}",
            query.project
        ))),
    }
}

// ---------------------------------------------------------------------------------
// The team policy

async fn api_policy(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Value> {
    caller(&state.db, &headers).await?;
    let current = team::current(&state.db).await?;
    let history: Vec<Value> = team::history(&state.db)
        .await?
        .into_iter()
        .map(|(version, by, at)| json!({"version": version, "by": by, "at": at}))
        .collect();
    Ok(Json(json!({
        "version": current.version,
        "by": current.by,
        "at": current.at,
        "policy": current.policy,
        "history": history,
    })))
}

/// A new version of the team policy; `base`, when given, must be the version in force.
#[derive(Deserialize)]
struct PolicyPush {
    policy: TeamPolicy,
    #[serde(default)]
    base: Option<i64>,
}

async fn api_push_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<team::Versioned> {
    let who = caller(&state.db, &headers).await?;
    let push: PolicyPush = parse(&body)?;
    Ok(Json(
        team::push(&state.db, &who, push.policy, push.base).await?,
    ))
}

// ---------------------------------------------------------------------------------
// Tokens

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    user: Option<String>,
}

/// An admin lists everyone's tokens (or one user's); anyone else their own.
async fn api_tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> ApiResult<Vec<crate::auth::TokenInfo>> {
    let who = caller(&state.db, &headers).await?;
    let user = if who.role == Role::Admin {
        query.user.filter(|u| !u.trim().is_empty())
    } else {
        Some(who.email.clone())
    };
    Ok(Json(
        crate::auth::list_tokens(&state.db, user.as_deref()).await?,
    ))
}

#[derive(Deserialize)]
struct TokenForm {
    user: String,
    role: String,
    #[serde(default)]
    projects: Vec<String>,
    /// `90d`, `12h`, `30m`.
    #[serde(default)]
    expires: Option<String>,
}

fn ttl(text: Option<&str>) -> Result<Option<std::time::Duration>, ServerError> {
    text.map(crate::auth::parse_ttl)
        .transpose()
        .map_err(ServerError::BadRequest)
}

async fn api_create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Value> {
    let who = caller(&state.db, &headers).await?;
    who.require(who.role == Role::Admin, "create tokens")?;
    let form: TokenForm = parse(&body)?;
    let role: Role = form.role.parse().map_err(ServerError::BadRequest)?;
    let new = crate::auth::NewToken {
        email: form.user,
        role,
        projects: form.projects,
        expires: ttl(form.expires.as_deref())?,
    };
    let (token, id) = crate::auth::create_token(&state.db, &new).await?;
    audit::append(
        &state.db,
        &who.email,
        "token.create",
        &id,
        json!({"user": crate::auth::normalise_email(&new.email)?, "role": role.as_str(),
               "projects": new.projects, "expires": form.expires}),
    )
    .await?;
    Ok(Json(json!({"token": token, "id": id})))
}

/// Only the token's user or an admin revokes or rotates it.
fn token_owner(who: &Caller) -> Option<&str> {
    (who.role != Role::Admin).then_some(who.email.as_str())
}

async fn api_revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<crate::auth::TokenInfo> {
    let who = caller(&state.db, &headers).await?;
    let info = crate::auth::revoke_id(&state.db, &id, token_owner(&who)).await?;
    audit::append(
        &state.db,
        &who.email,
        "token.revoke",
        &info.id,
        json!({"user": info.email}),
    )
    .await?;
    Ok(Json(info))
}

#[derive(Deserialize, Default)]
struct RotateForm {
    #[serde(default)]
    expires: Option<String>,
}

async fn api_rotate_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Value> {
    let who = caller(&state.db, &headers).await?;
    let form: RotateForm = if body.is_empty() {
        RotateForm::default()
    } else {
        parse(&body)?
    };
    let (token, new_id) = crate::auth::rotate(
        &state.db,
        &id,
        token_owner(&who),
        ttl(form.expires.as_deref())?,
    )
    .await?;
    audit::append(
        &state.db,
        &who.email,
        "token.rotate",
        &id,
        json!({"new": new_id}),
    )
    .await?;
    Ok(Json(json!({"token": token, "id": new_id, "revoked": id})))
}

// ---------------------------------------------------------------------------------
// Machine signing keys

async fn api_keys(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Vec<Value>> {
    let who = caller(&state.db, &headers).await?;
    who.require(who.role == Role::Admin, "list enrolled keys")?;
    Ok(Json(crate::ingest::enrolled_keys(&state.db).await?))
}

#[derive(Deserialize)]
struct KeyForm {
    user: String,
    project: String,
    /// The base64 Ed25519 public key, or a whole verifier key string.
    key: String,
    /// `enroll` (default) or `revoke`.
    #[serde(default)]
    action: Option<String>,
}

async fn api_enroll_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Vec<Value>> {
    let who = caller(&state.db, &headers).await?;
    who.require(who.role == Role::Admin, "enroll signing keys")?;
    let form: KeyForm = parse(&body)?;
    let revoke = match form.action.as_deref().unwrap_or("enroll") {
        "enroll" => false,
        "revoke" => true,
        other => {
            return Err(ServerError::BadRequest(format!(
                "`{other}` is not a key action: use enroll or revoke"
            )));
        }
    };
    crate::ingest::set_key(
        &state.db,
        &who,
        &form.user,
        &form.project,
        &form.key,
        revoke,
    )
    .await?;
    Ok(Json(crate::ingest::enrolled_keys(&state.db).await?))
}

// ---------------------------------------------------------------------------------
// The audit log

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    from: u64,
    #[serde(default)]
    limit: Option<u64>,
}

async fn api_audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Value> {
    let who = caller(&state.db, &headers).await?;
    who.require(who.role == Role::Admin, "read the audit log")?;
    let limit = query.limit.unwrap_or(1000).min(10_000);
    let lines: Vec<Value> = audit::lines(&state.db, query.from, limit)
        .await?
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
        .collect();
    Ok(Json(json!({"from": query.from, "entries": lines})))
}

/// The whole log as JSON lines, exactly as stored (each line's leaf hash is what the
/// next line's `prev` names).
async fn api_audit_export(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ServerError> {
    use axum::response::IntoResponse as _;
    let who = caller(&state.db, &headers).await?;
    who.require(who.role == Role::Admin, "export the audit log")?;
    let mut out = String::new();
    let mut from = 0u64;
    loop {
        let lines = audit::lines(&state.db, from, 10_000).await?;
        if lines.is_empty() {
            break;
        }
        from += lines.len() as u64;
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    audit::append(
        &state.db,
        &who.email,
        "audit.export",
        "audit",
        json!({"lines": from}),
    )
    .await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/x-ndjson; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

async fn api_audit_verify(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<audit::AuditCheck> {
    let who = caller(&state.db, &headers).await?;
    who.require(who.role == Role::Admin, "verify the audit log")?;
    Ok(Json(audit::verify(&state.db).await?))
}
