//! The JSON API, and the queries the pages share with it.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET /healthz` | anyone | `ok` when the database answers |
//! | `GET /api/v1/whoami` | any token | the caller's e-mail and role |
//! | `POST /api/v1/runs/{run}/entries` | developer (own runs), admin | push entries and checkpoints ([`crate::ingest`]) |
//! | `GET /api/v1/runs?user=&status=&task=` | any token | run summaries |
//! | `GET /api/v1/runs/{run}` | any token | a run: summary, checkpoints, reviews |
//! | `GET /api/v1/runs/{run}/entries?from=&limit=` | any token | stored lines, in order |
//! | `GET /api/v1/runs/{run}/verify` | any token | the record crate's verifier over the stored copy |
//! | `POST /api/v1/runs/{run}/reviews` | reviewer, admin | `{decision, note}` |
//! | `GET /api/v1/approvals?status=` | any token | approval requests |
//! | `POST /api/v1/approvals/{id}` | a named reviewer | `{run_id, digest, decision: approve\|deny, for_run, note}`: the run and the digest of the call must be the request's |
//! | `GET /api/v1/killswitch`, `POST …` | any / security, admin | `{action: disable\|enable, target, reason}` |
//! | `GET /api/v1/registry`, `POST …` | any / security, admin | MCP servers the organisation vetted |
//! | `GET /api/v1/sync?approvals=ID,…` | any token | what hooks cache: the kill list, and decisions on requests of the caller's own runs |
//! | `GET /api/v1/metrics` | any token | counts per day, decisions, top denied rules |

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
use crate::{AppState, Caller, Db, ServerError, now, random_id};

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
        .route("/api/v1/registry", get(api_registry).post(api_register))
        .route("/api/v1/sync", get(api_sync))
        .route("/api/v1/metrics", get(api_metrics))
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
    Ok(Json(json!({"email": who.email, "role": who.role.as_str()})))
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
}

/// One row of the runs list.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub owner: String,
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

const RUN_COLUMNS: &str = "run_id, owner, task_id, request, delegated_by, agent, mode, status, \
    entries, sealed, calls, denials, started_at, last_at, signer, \
    (SELECT decision FROM reviews r WHERE r.run_id = runs.run_id ORDER BY created_at DESC LIMIT 1)";

fn run_summary(row: &AnyRow) -> Result<RunSummary, sqlx::Error> {
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
    })
}

/// Runs, newest first, filtered.
pub async fn list_runs(db: &Db, filter: &RunFilter) -> Result<Vec<RunSummary>, ServerError> {
    fn nonempty(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let user = nonempty(&filter.user).map(str::to_string);
    let status = nonempty(&filter.status).map(str::to_string);
    let task = nonempty(&filter.task).map(|t| format!("%{t}%"));
    let denied = nonempty(&filter.denied).is_some();
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs \
         WHERE ($1 = '' OR owner = $1 OR delegated_by = $1) \
         AND ($2 = '' OR status = $2) \
         AND ($3 = '' OR task_id LIKE $3 OR run_id LIKE $3) \
         AND ($4 = 0 OR denials > 0) \
         ORDER BY COALESCE(last_at, received_at) DESC LIMIT 500"
    );
    let rows = sqlx::query(&sql)
        .bind(user.unwrap_or_default())
        .bind(status.unwrap_or_default())
        .bind(task.unwrap_or_default())
        .bind(i64::from(denied))
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().map(run_summary).collect::<Result<_, _>>()?)
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

#[derive(Clone, Debug, Serialize)]
pub struct Review {
    pub reviewer: String,
    pub decision: String,
    pub note: String,
    pub created_at: String,
}

pub async fn reviews(db: &Db, run_id: &str) -> Result<Vec<Review>, ServerError> {
    let rows = sqlx::query(
        "SELECT reviewer, decision, note, created_at FROM reviews WHERE run_id = $1 \
         ORDER BY created_at",
    )
    .bind(run_id)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        out.push(Review {
            reviewer: row.try_get(0)?,
            decision: row.try_get(1)?,
            note: row.try_get(2)?,
            created_at: row.try_get(3)?,
        });
    }
    Ok(out)
}

async fn api_runs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<RunFilter>,
) -> ApiResult<Vec<RunSummary>> {
    caller(&state.db, &headers).await?;
    Ok(Json(list_runs(&state.db, &filter).await?))
}

async fn api_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run): Path<String>,
) -> ApiResult<Value> {
    caller(&state.db, &headers).await?;
    let summary = get_run(&state.db, &run).await?;
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
    caller(&state.db, &headers).await?;
    get_run(&state.db, &run).await?;
    let limit = page.limit.unwrap_or(1000).min(10_000);
    let lines = entries(&state.db, &run, page.from, limit).await?;
    Ok(Json(json!({"from": page.from, "entries": lines})))
}

async fn api_verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run): Path<String>,
) -> ApiResult<mandate_record::VerifyReport> {
    caller(&state.db, &headers).await?;
    Ok(Json(crate::ingest::verify_stored(&state.db, &run).await?))
}

/// A reviewer's decision on a run.
#[derive(Clone, Debug, Deserialize)]
pub struct ReviewForm {
    pub decision: String,
    #[serde(default)]
    pub note: String,
}

pub async fn record_review(
    db: &Db,
    who: &Caller,
    run_id: &str,
    form: &ReviewForm,
) -> Result<Review, ServerError> {
    who.require(who.may_review(), "review runs")?;
    let run = get_run(db, run_id).await?;
    if !matches!(
        form.decision.as_str(),
        "approve" | "reject" | "request-changes"
    ) {
        return Err(ServerError::BadRequest(format!(
            "`{}` is not a review decision: use approve, reject or request-changes",
            form.decision
        )));
    }
    if run.delegated_by.as_deref() == Some(who.email.as_str()) || run.owner == who.email {
        return Err(ServerError::Forbidden(format!(
            "{} delegated or pushed run `{run_id}` and may not review it",
            who.email
        )));
    }
    let review = Review {
        reviewer: who.email.clone(),
        decision: form.decision.clone(),
        note: form.note.trim().to_string(),
        created_at: now(),
    };
    sqlx::query(
        "INSERT INTO reviews (id, run_id, reviewer, decision, note, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(random_id("r-")?)
    .bind(run_id)
    .bind(&review.reviewer)
    .bind(&review.decision)
    .bind(&review.note)
    .bind(&review.created_at)
    .execute(&db.pool)
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
}

const APPROVAL_COLUMNS: &str = "id, run_id, tool, input, grp, reviewers, rule, reason, \
    delegated_by, requested_at, status, for_run, decided_by, decided_at, note, digest, preview";

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
    })
}

pub async fn list_approvals(
    db: &Db,
    status: Option<&str>,
    run_id: Option<&str>,
) -> Result<Vec<Approval>, ServerError> {
    let sql = format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE ($1 = '' OR status = $1) \
         AND ($2 = '' OR run_id = $2) ORDER BY requested_at DESC LIMIT 500"
    );
    let rows = sqlx::query(&sql)
        .bind(status.unwrap_or(""))
        .bind(run_id.unwrap_or(""))
        .fetch_all(&db.pool)
        .await?;
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
    caller(&state.db, &headers).await?;
    Ok(Json(
        list_approvals(&state.db, query.status.as_deref(), None).await?,
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

/// Decide a pending request: only a member of its reviewer group, never the delegating
/// user, and only once.
pub async fn decide(
    db: &Db,
    who: &Caller,
    id: &str,
    form: &DecideForm,
) -> Result<Approval, ServerError> {
    who.require(who.may_review(), "decide approval requests")?;
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
    if !request.reviewers.iter().any(|r| r == &who.email) {
        return Err(ServerError::Forbidden(format!(
            "{} is not in the `{}` reviewer group of request {id} ({})",
            who.email,
            request.group,
            request.reviewers.join(", ")
        )));
    }
    if request.delegated_by.as_deref() == Some(who.email.as_str()) {
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
         note = $6 WHERE id = $1 AND status = 'pending'",
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
    who.require(who.may_kill(), "use the kill switch")?;
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

/// One vetted MCP server.
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
    let mut tx = db.pool.begin().await?;
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
    Ok(Json(registry(&state.db).await?))
}

async fn api_register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Vec<Registered>> {
    let who = caller(&state.db, &headers).await?;
    let entry: Registered = parse(&body)?;
    register(&state.db, &who, &entry).await?;
    Ok(Json(registry(&state.db).await?))
}

#[derive(Deserialize)]
struct SyncQuery {
    #[serde(default)]
    approvals: Option<String>,
}

/// What a hook caches: the kill list, and decisions on the requests it asks about.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sync {
    pub time: String,
    pub killed: Vec<Killed>,
    pub approvals: Vec<Approval>,
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
    Ok(Json(Sync {
        time: now(),
        killed: killed(&state.db).await?,
        approvals,
    }))
}

/// Counts for the metrics page.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    pub runs: i64,
    pub entries: i64,
    pub calls: i64,
    pub denials: i64,
    pub verified_runs: i64,
    pub reviewed_runs: i64,
    pub pending_approvals: i64,
    /// (day, runs started, tool calls, denials), oldest first.
    pub per_day: Vec<(String, i64, i64, i64)>,
    /// (decision, count) over every `tool.pre`.
    pub decisions: Vec<(String, i64)>,
    /// (tool, calls, denials), most used first.
    pub tools: Vec<(String, i64, i64)>,
    pub delegators: Vec<(String, i64)>,
}

pub async fn metrics(db: &Db) -> Result<Metrics, ServerError> {
    let one = |sql: &'static str| async move {
        let row = sqlx::query(sql).fetch_one(&db.pool).await?;
        Ok::<i64, ServerError>(row.try_get::<i64, _>(0)?)
    };
    let mut m = Metrics {
        runs: one("SELECT COUNT(*) FROM runs").await?,
        entries: one("SELECT COALESCE(CAST(SUM(entries) AS BIGINT), 0) FROM runs").await?,
        calls: one("SELECT COALESCE(CAST(SUM(calls) AS BIGINT), 0) FROM runs").await?,
        denials: one("SELECT COALESCE(CAST(SUM(denials) AS BIGINT), 0) FROM runs").await?,
        verified_runs: one("SELECT COUNT(*) FROM runs WHERE sealed > 0").await?,
        reviewed_runs: one("SELECT COUNT(DISTINCT run_id) FROM reviews").await?,
        pending_approvals: one("SELECT COUNT(*) FROM approvals WHERE status = 'pending'").await?,
        ..Metrics::default()
    };
    let rows = sqlx::query(
        "SELECT SUBSTR(time, 1, 10) AS day, \
         CAST(SUM(CASE WHEN kind = 'record.create' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN kind = 'tool.pre' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN kind = 'tool.pre' AND decision IN ('deny', 'stop') THEN 1 ELSE 0 END) AS BIGINT) \
         FROM entries WHERE time IS NOT NULL GROUP BY SUBSTR(time, 1, 10) ORDER BY day DESC LIMIT 30",
    )
    .fetch_all(&db.pool)
    .await?;
    for row in rows.iter().rev() {
        m.per_day.push((
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        ));
    }
    let rows = sqlx::query(
        "SELECT decision, COUNT(*) FROM entries WHERE kind = 'tool.pre' AND decision IS NOT NULL \
         GROUP BY decision ORDER BY decision",
    )
    .fetch_all(&db.pool)
    .await?;
    for row in rows {
        m.decisions.push((row.try_get(0)?, row.try_get(1)?));
    }
    let rows = sqlx::query(
        "SELECT tool, COUNT(*), \
         CAST(SUM(CASE WHEN decision IN ('deny', 'stop') THEN 1 ELSE 0 END) AS BIGINT) \
         FROM entries WHERE kind = 'tool.pre' AND tool IS NOT NULL \
         GROUP BY tool ORDER BY COUNT(*) DESC LIMIT 15",
    )
    .fetch_all(&db.pool)
    .await?;
    for row in rows {
        m.tools
            .push((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
    }
    let rows = sqlx::query(
        "SELECT delegated_by, COUNT(*) FROM runs WHERE delegated_by IS NOT NULL \
         GROUP BY delegated_by ORDER BY COUNT(*) DESC LIMIT 20",
    )
    .fetch_all(&db.pool)
    .await?;
    for row in rows {
        m.delegators.push((row.try_get(0)?, row.try_get(1)?));
    }
    Ok(m)
}

async fn api_metrics(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Metrics> {
    caller(&state.db, &headers).await?;
    Ok(Json(metrics(&state.db).await?))
}
