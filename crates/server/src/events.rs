//! The incident questions over every pushed record: `why`, `touched` and the event
//! search, in the API and on the `/events` page.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET /api/v1/events?path=&command=&tool=&mcp=&user=&agent=&repo=&decision=&kind=&run=&since=&until=&page=&format=json\|csv` | any token | one page of matching events, newest first; with `format`, every match (up to [`EXPORT_LIMIT`]) as a JSON array or CSV, streamed as the database answers |
//! | `GET /api/v1/why?path=REL&repo=R` | any token | the calls that changed a repository-relative path (`changes`), and those that tried and did not run (`attempts`) |
//! | `GET /api/v1/touched?glob=G&since=&repo=R` | any token | every touch in an area, allowed or refused |
//! | `GET /events?…` | signed in | the searchable event log, same parameters, with CSV and JSON export links |
//!
//! The rows are [`mandate_search::EventRow`]s, made at ingest ([`catch_up`], called in
//! the push's transaction) and for records stored before the table existed by
//! [`backfill`]. A caller sees the events of the runs they may read
//! ([`crate::team::Visibility`]). Each query's SQL narrows with indexes; every row is
//! then decided by [`mandate_search::Compiled::matches`], the predicate the CLI's local
//! index uses too, so the server and the machines give the same answers.

use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use futures_util::TryStreamExt as _;
use mandate_search::{
    Cell, Compiled, EventQuery, EventRow, ORDER_BY, PAGE_SIZE, RunContext, row_from_values,
    row_values,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{Any, Row as _, Transaction};

use mandate_report::incident::{Change, why};
use mandate_report::metrics::RunRecord;

use crate::html::{badge, esc, page, url};
use crate::team::{self, Visibility};
use crate::{AppState, Caller, Db, ServerError, auth};

/// The most rows one export or one `why`/`touched` answer carries.
pub const EXPORT_LIMIT: usize = 100_000;

/// The most candidate rows one answer reads before it stops and asks for a narrower
/// search (the SQL lets through few rows the exact match then drops, so this is only
/// reached by globs the indexes cannot narrow).
const SCAN_LIMIT: usize = 2_000_000;

/// Rows per INSERT: 25 parameters each, under both databases' limits.
const ROWS_PER_INSERT: usize = 200;

/// Entries read per step of a catch-up.
const ENTRIES_PER_STEP: i64 = 5000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", get(api_events))
        .route("/api/v1/why", get(api_why))
        .route("/api/v1/touched", get(api_touched))
        .route("/events", get(events_page))
}

/// The indexes only PostgreSQL has, one for each branch of an area search
/// ([`Compiled::sql_branches`]) and for command text:
///
/// - `events_path_time`: repository-relative paths by prefix (`LIKE 'customer_data%'`,
///   `why`), with the time so that `--since` narrows inside the index;
/// - `events_call_target`: the targets of calls and exposures (tool names, hosts) by
///   prefix (`mcp__slack__*`), with the time;
/// - trigram indexes: `events_path_trgm` for path globs without a fixed prefix
///   (`**/eu1*.csv`), `events_execute_trgm` for the commands that name an area (only
///   commands: over every target, tool names and paths swelled each trigram's list),
///   `events_target_trgm` for absolute globs and tool names without a prefix, and
///   `events_command_trgm` for command text.
///
/// Without the `pg_trgm` extension the server still answers, by scanning. These are made
/// when the server starts; over an events table of millions of rows each takes from
/// seconds to minutes (BENCHMARKS.md), and writes to the table wait meanwhile.
pub async fn prepare(db: &Db) -> Result<(), ServerError> {
    match db.backend {
        crate::Backend::Sqlite => {
            sqlx::query("CREATE INDEX IF NOT EXISTS events_path ON events (path)")
                .execute(&db.pool)
                .await?;
        }
        crate::Backend::Postgres => {
            // Servers that start together take turns.
            let mut tx = db.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(8417019)")
                .execute(&mut *tx)
                .await?;
            for statement in [
                "CREATE INDEX IF NOT EXISTS events_path_time ON events (path text_pattern_ops, time)",
                // Its first column only, which events_path_time also has.
                "DROP INDEX IF EXISTS events_path",
                "CREATE INDEX IF NOT EXISTS events_call_target ON events \
                 (target text_pattern_ops, time) WHERE kind IN ('call', 'expose')",
            ] {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            let mut tx = db.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(8417019)")
                .execute(&mut *tx)
                .await?;
            let trigram = async {
                sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                    .execute(&mut *tx)
                    .await?;
                for (name, column, rows) in [
                    ("events_target_trgm", "target", ""),
                    ("events_command_trgm", "command", ""),
                    ("events_path_trgm", "path", ""),
                    ("events_execute_trgm", "target", " WHERE kind = 'execute'"),
                ] {
                    sqlx::query(&format!(
                        "CREATE INDEX IF NOT EXISTS {name} ON events USING gin ({column} gin_trgm_ops){rows}"
                    ))
                    .execute(&mut *tx)
                    .await?;
                }
                Ok::<_, sqlx::Error>(())
            }
            .await;
            match trigram {
                Ok(()) => tx.commit().await?,
                Err(error) => {
                    let _ = tx.rollback().await;
                    eprintln!(
                        "mandate-server: no trigram indexes ({error}); event searches by glob \
                         or command text will scan. A database superuser can run \
                         `CREATE EXTENSION pg_trgm` in this database, then restart the server."
                    );
                }
            }
        }
    }
    Ok(())
}

fn bind_cells<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    cells: Vec<Cell>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for cell in cells {
        query = match cell {
            Cell::Text(text) => query.bind(text),
            Cell::Int(int) => query.bind(int),
            Cell::Null => query.bind(None::<String>),
        };
    }
    query
}

async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    rows: &[EventRow],
) -> Result<(), ServerError> {
    let columns = mandate_search::COLUMNS;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = format!("INSERT INTO events ({}) VALUES ", columns.join(", "));
        for n in 0..chunk.len() {
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..columns.len() {
                if c > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "${}", n * columns.len() + c + 1);
            }
            sql.push(')');
        }
        sql.push_str(" ON CONFLICT (run_id, idx, n) DO NOTHING");
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = bind_cells(query, row_values(row));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Turn the entries of `run_id` not yet indexed into rows. Runs inside the push's
/// transaction, after its entries are stored and the run's row is locked, so pushes and
/// the backfill of one run never index the same entry twice.
pub async fn catch_up(tx: &mut Transaction<'static, Any>, run_id: &str) -> Result<(), ServerError> {
    let row = sqlx::query("SELECT indexed, entries, owner, project FROM runs WHERE run_id = $1")
        .bind(run_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(()) };
    let (mut indexed, entries): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    if indexed >= entries {
        return Ok(());
    }
    let mut context = RunContext::new(run_id);
    // Who the run belongs to is who pushed it, whatever its entries say.
    context.user = Some(row.try_get::<String, _>(2)?);
    context.project = row.try_get(3)?;
    if indexed > 0 {
        let start = sqlx::query(
            "SELECT body FROM entries WHERE run_id = $1 AND kind = 'run.start' ORDER BY idx LIMIT 1",
        )
        .bind(run_id)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(start) = start
            && let Ok(value) = serde_json::from_str::<Value>(&start.try_get::<String, _>(0)?)
        {
            context.learn(&value);
        }
    }
    while indexed < entries {
        let bodies = sqlx::query(
            "SELECT idx, body FROM entries WHERE run_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3",
        )
        .bind(run_id)
        .bind(indexed)
        .bind(ENTRIES_PER_STEP)
        .fetch_all(&mut **tx)
        .await?;
        if bodies.is_empty() {
            break;
        }
        let mut rows: Vec<EventRow> = Vec::new();
        let mut updates: Vec<(String, &'static str)> = Vec::new();
        for body in &bodies {
            let idx: i64 = body.try_get(0)?;
            indexed = idx + 1;
            let Ok(value) = serde_json::from_str::<Value>(&body.try_get::<String, _>(1)?) else {
                continue;
            };
            if context.learn(&value) {
                continue;
            }
            if let Some((id, outcome)) = mandate_search::outcome_of(&value) {
                let mut pending = false;
                for row in rows
                    .iter_mut()
                    .filter(|r| r.tool_use_id.as_deref() == Some(id.as_str()))
                {
                    mandate_search::apply_outcome(row, outcome);
                    pending = true;
                }
                if !pending {
                    updates.push((id, outcome));
                }
                continue;
            }
            rows.extend(mandate_search::rows_of(
                &context,
                u64::try_from(idx).unwrap_or(0),
                &value,
            ));
        }
        insert_rows(tx, &rows).await?;
        for (id, outcome) in updates {
            sqlx::query(
                "UPDATE events SET outcome = $3 WHERE run_id = $1 AND tool_use_id = $2 \
                 AND event = 'tool.pre'",
            )
            .bind(run_id)
            .bind(id)
            .bind(outcome)
            .execute(&mut **tx)
            .await?;
        }
    }
    sqlx::query("UPDATE runs SET indexed = $2 WHERE run_id = $1")
        .bind(run_id)
        .bind(indexed.max(entries))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Index the runs stored before the events table, or left behind; run once at start.
pub async fn backfill(db: Db) {
    let runs = sqlx::query("SELECT run_id FROM runs WHERE indexed < entries ORDER BY run_id")
        .fetch_all(&db.pool)
        .await;
    let runs: Vec<String> = match runs {
        Ok(rows) => rows
            .iter()
            .filter_map(|row| row.try_get::<String, _>(0).ok())
            .collect(),
        Err(error) => {
            eprintln!("mandate-server: cannot list the runs to index: {error}");
            return;
        }
    };
    for run_id in runs {
        let result = async {
            let mut tx = db.pool.begin().await?;
            // The row lock a push takes: the push and this never index at once.
            sqlx::query("UPDATE runs SET indexed = indexed WHERE run_id = $1")
                .bind(&run_id)
                .execute(&mut *tx)
                .await?;
            catch_up(&mut tx, &run_id).await?;
            tx.commit().await?;
            Ok::<_, ServerError>(())
        }
        .await;
        if let Err(error) = result {
            eprintln!(
                "mandate-server: cannot index the events of run `{run_id}`: {error}; the next \
                 push of the run, or a restart, tries again"
            );
        }
    }
}

fn row_of(row: &AnyRow) -> Result<Option<EventRow>, sqlx::Error> {
    let mut cells = Vec::with_capacity(mandate_search::COLUMNS.len());
    for (i, name) in mandate_search::COLUMNS.iter().enumerate() {
        cells.push(if matches!(*name, "idx" | "n") {
            Cell::Int(row.try_get::<i64, _>(i)?)
        } else {
            match row.try_get::<Option<String>, _>(i)? {
                Some(text) => Cell::Text(text),
                None => Cell::Null,
            }
        });
    }
    Ok(row_from_values(cells))
}

/// One answer: the rows, whether more match, and a note when the search stopped early.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Found {
    pub rows: Vec<EventRow>,
    pub more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How the candidates of an area search are selected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One SELECT, the area's kinds ORed: for a page, PostgreSQL walks the time index
    /// backwards until the page is full, which beats fetching every match of a broad
    /// area (`customer_data/**`, page 1: 120 ms against 300-500 ms at ten million rows).
    Page,
    /// One SELECT per branch of [`Compiled::sql_branches`], joined by `UNION ALL`: for a
    /// whole answer (`why`, `touched`, exports), PostgreSQL answers the area's paths,
    /// commands and tool names each with its own index; ORed into one bitmap, the
    /// trigram scans over every target and a bitmap of the time index cost over a
    /// second at ten million rows (BENCHMARKS.md).
    Whole,
}

/// The SELECT of the candidate rows of `query` the caller may read, and its parameters;
/// ORDER BY and LIMIT are the caller's. Callers run it unprepared (`persistent(false)`):
/// PostgreSQL then plans it with the values bound, which a prefix `LIKE` needs to use
/// its index (a prepared statement may switch to a generic plan that cannot).
async fn candidates(
    db: &Db,
    who: &Caller,
    compiled: &Compiled<'_>,
    shape: Shape,
) -> Result<(String, Vec<String>), ServerError> {
    let (branches, mut binds) = match shape {
        Shape::Page => {
            let (condition, binds) = compiled.sql(1);
            (vec![condition], binds)
        }
        Shape::Whole => compiled.sql_branches(1),
    };
    let policy = team::current(db).await?.policy;
    let visibility = Visibility::of(who, &policy);
    let visible = if matches!(visibility, Visibility::All) {
        String::new()
    } else {
        let (sql, more) = visibility.sql(binds.len() + 1);
        binds.extend(more);
        format!(" AND run_id IN (SELECT run_id FROM runs WHERE {sql})")
    };
    let columns = mandate_search::COLUMNS.join(", ");
    let sql = branches
        .iter()
        .map(|condition| format!("SELECT {columns} FROM events WHERE {condition}{visible}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    Ok((sql, binds))
}

/// The rows the caller may read that answer `query`, newest first: `take` of them after
/// skipping `skip`.
pub async fn find(
    db: &Db,
    who: &Caller,
    query: &EventQuery,
    skip: usize,
    take: usize,
) -> Result<Found, ServerError> {
    let compiled: Compiled<'_> = query
        .compile()
        .map_err(|error| ServerError::BadRequest(error.to_string()))?;
    let shape = if take > PAGE_SIZE {
        Shape::Whole
    } else {
        Shape::Page
    };
    let (select, binds) = candidates(db, who, &compiled, shape).await?;
    // A whole answer is one query, read as the database sends it; a page reads batches
    // (each one further on skips what the last read: fine for the first pages, which are
    // the ones asked for; for a whole answer of tens of thousands of rows it cost
    // seconds to minutes).
    let batch = match shape {
        Shape::Whole => SCAN_LIMIT + 1,
        Shape::Page => (skip + take + 1).clamp(200, 5000),
    };
    let sql = format!(
        "{select} ORDER BY {ORDER_BY} LIMIT {batch} OFFSET ${}",
        binds.len() + 1
    );
    let mut found = Found::default();
    let mut matched = 0usize;
    let mut offset = 0usize;
    loop {
        let mut statement = sqlx::query(&sql).persistent(false);
        for bind in &binds {
            statement = statement.bind(bind.as_str());
        }
        let mut rows = statement
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch(&db.pool);
        let mut fetched = 0usize;
        while let Some(row) = rows.try_next().await? {
            fetched += 1;
            let Some(row) = row_of(&row)? else { continue };
            if !compiled.matches(&row) {
                continue;
            }
            matched += 1;
            if matched <= skip {
                continue;
            }
            if found.rows.len() == take {
                found.more = true;
                return Ok(found);
            }
            found.rows.push(row);
        }
        if fetched < batch {
            return Ok(found);
        }
        offset += fetched;
        if offset >= SCAN_LIMIT {
            found.more = true;
            found.note = Some(format!(
                "the search stopped after {SCAN_LIMIT} candidate events: narrow it (a path \
                 with a fixed folder, a tool, a user, a repository or a time range)"
            ));
            return Ok(found);
        }
    }
}

/// The query string of a search, as the page and the API take it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SearchParams {
    #[serde(flatten)]
    pub query: EventQuery,
    #[serde(default)]
    pub page: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
}

fn page_number(page: Option<&str>) -> Result<usize, ServerError> {
    match page.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(1),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1 && *n <= 100_000)
            .ok_or_else(|| {
                ServerError::BadRequest(format!("`page={text}` is not a page number (1, 2, …)"))
            }),
    }
}

/// An export's format.
#[derive(Clone, Copy)]
enum Format {
    Csv,
    Json,
}

impl Format {
    fn parse(format: &str) -> Result<Format, ServerError> {
        match format {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(ServerError::BadRequest(format!(
                "`format={other}` is not an export format: use csv or json"
            ))),
        }
    }
}

/// Bytes an export gathers before it sends them.
const EXPORT_CHUNK: usize = 64 * 1024;

/// Every match of `query` the caller may read (up to [`EXPORT_LIMIT`]), newest first, as
/// CSV or a JSON array, streamed: one query whose rows are written as PostgreSQL sends
/// them, never the whole answer in memory. The CSV header (or the `[`) goes out before
/// the query runs. What cannot be known until the end is said by ending the transfer
/// early, so that no client takes a cut export for a whole one: a database error, more
/// than [`EXPORT_LIMIT`] matches, or more than [`SCAN_LIMIT`] candidates (the status is
/// sent by then; the server's log says which).
async fn export(
    db: &Db,
    who: &Caller,
    query: EventQuery,
    format: Format,
) -> Result<Response, ServerError> {
    let compiled = query
        .compile()
        .map_err(|error| ServerError::BadRequest(error.to_string()))?;
    let (select, binds) = candidates(db, who, &compiled, Shape::Whole).await?;
    let sql = format!("{select} ORDER BY {ORDER_BY} LIMIT {}", SCAN_LIMIT + 1);
    let (sender, receiver) =
        tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(4);
    let pool = db.pool.clone();
    tokio::spawn(async move {
        let result = export_rows(&pool, &sql, &binds, &query, format, &sender).await;
        if let Err(error) = result {
            eprintln!("mandate-server: an event export was cut short: {error}");
            let _ = sender.send(Err(std::io::Error::other(error))).await;
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let (kind, name) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "events.csv"),
        Format::Json => ("application/json", "events.json"),
    };
    let mut response = axum::body::Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Write the export's rows into `sender`; an error cuts the transfer. A client that went
/// away ends it quietly.
async fn export_rows(
    pool: &sqlx::AnyPool,
    sql: &str,
    binds: &[String],
    query: &EventQuery,
    format: Format,
    sender: &tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>,
) -> Result<(), String> {
    let compiled = query.compile().map_err(|error| error.to_string())?;
    let mut chunk = String::with_capacity(EXPORT_CHUNK + 4096);
    match format {
        Format::Csv => {
            chunk.push_str(mandate_search::CSV_HEADER);
            chunk.push_str("\r\n");
        }
        Format::Json => chunk.push('['),
    }
    // The first byte before the query's first row.
    if sender
        .send(Ok(std::mem::take(&mut chunk).into()))
        .await
        .is_err()
    {
        return Ok(());
    }
    let mut statement = sqlx::query(sql).persistent(false);
    for bind in binds {
        statement = statement.bind(bind.as_str());
    }
    let mut rows = statement.fetch(pool);
    let (mut scanned, mut written) = (0usize, 0usize);
    while let Some(row) = rows.try_next().await.map_err(|error| error.to_string())? {
        scanned += 1;
        if scanned > SCAN_LIMIT {
            return Err(format!(
                "more than {SCAN_LIMIT} candidate events: narrow the search (a path with a \
                 fixed folder, a tool, a user, a repository or a time range)"
            ));
        }
        let Some(row) = row_of(&row).map_err(|error| error.to_string())? else {
            continue;
        };
        if !compiled.matches(&row) {
            continue;
        }
        if written == EXPORT_LIMIT {
            return Err(format!(
                "more than {EXPORT_LIMIT} events match, more than one export carries: \
                 narrow the search (a time range, a user, a repository)"
            ));
        }
        match format {
            Format::Csv => mandate_search::csv_row(&mut chunk, &row),
            Format::Json => {
                if written > 0 {
                    chunk.push(',');
                }
                let text = serde_json::to_string(&row).map_err(|error| error.to_string())?;
                chunk.push_str(&text);
            }
        }
        written += 1;
        if chunk.len() >= EXPORT_CHUNK
            && sender
                .send(Ok(std::mem::take(&mut chunk).into()))
                .await
                .is_err()
        {
            return Ok(());
        }
    }
    if let Format::Json = format {
        chunk.push(']');
    }
    let _ = sender.send(Ok(chunk.into())).await;
    Ok(())
}

async fn api_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Result<Response, ServerError> {
    let who = auth::caller(&state.db, &headers).await?;
    let query = params.query.tidy();
    if let Some(format) = params.format.as_deref().filter(|f| !f.is_empty()) {
        return export(&state.db, &who, query, Format::parse(format)?).await;
    }
    let page = page_number(params.page.as_deref())?;
    let found = find(&state.db, &who, &query, (page - 1) * PAGE_SIZE, PAGE_SIZE).await?;
    Ok(axum::Json(json!({
        "query": query,
        "page": page,
        "per_page": PAGE_SIZE,
        "more": found.more,
        "note": found.note,
        "events": found.rows,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct WhyParams {
    path: String,
    #[serde(default)]
    repo: Option<String>,
}

async fn api_why(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<WhyParams>,
) -> Result<axum::Json<Value>, ServerError> {
    let who = auth::caller(&state.db, &headers).await?;
    let path = params.path.trim();
    if path.is_empty() {
        return Err(ServerError::BadRequest(
            "name the file: `path=billing/export/filter.py` (relative to the repository)"
                .to_string(),
        ));
    }
    let query = EventQuery {
        file: Some(path.to_string()),
        kind: Some("write".to_string()),
        repo: params.repo,
        ..EventQuery::default()
    }
    .tidy();
    let found = find(&state.db, &who, &query, 0, EXPORT_LIMIT).await?;
    let (mut changes, mut attempts): (Vec<EventRow>, Vec<EventRow>) = found
        .rows
        .into_iter()
        .partition(|row| matches!(row.outcome.as_str(), "ran" | "failed"));
    // Oldest first, as a story is told.
    changes.reverse();
    attempts.reverse();
    let stories = stories(&state.db, path, changes.iter().chain(&attempts)).await?;
    let told =
        |rows: &[EventRow]| -> Vec<Value> { rows.iter().map(|r| tell(r, &stories)).collect() };
    Ok(axum::Json(json!({
        "path": path,
        "repo": query.repo,
        "runs_searched": runs_visible(&state.db, &who).await?,
        "changes": told(&changes),
        "attempts": told(&attempts),
        "truncated": found.more,
    })))
}

/// What the local `mandate why` tells of each change, told here from the same pushed
/// events by the same function (`mandate_report::incident::why`): each run that the
/// index names is read once, with the file at its place in that run's workspace.
async fn stories(
    db: &Db,
    path: &str,
    rows: impl Iterator<Item = &EventRow>,
) -> Result<Vec<Change>, ServerError> {
    let runs: std::collections::BTreeSet<&str> = rows.map(|row| row.run.as_str()).collect();
    let mut out = Vec::new();
    for run in runs {
        let record = RunRecord {
            id: run.to_string(),
            events: crate::report::events(db, run).await?,
        };
        let Some(workspace) = record.workspace() else {
            continue;
        };
        let target = mandate_policy::path::absolutize(&workspace, path, None);
        let report = why(std::slice::from_ref(&record), &target);
        out.extend(report.changes);
        out.extend(report.attempts);
    }
    Ok(out)
}

/// A row of the index with its story: the session's last prompt, what it had read and
/// called just before, the contract's request, the approvals, the refusal's reason.
fn tell(row: &EventRow, stories: &[Change]) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or(Value::Null);
    let story = stories.iter().find(|c| {
        c.run.run == row.run
            && match (&c.tool_use_id, &row.tool_use_id) {
                (Some(a), Some(b)) => a == b,
                _ => c.time == row.time && c.tool == row.tool,
            }
    });
    if let (Some(story), Some(fields)) = (story, value.as_object_mut()) {
        for (key, told) in [
            ("prompt", json!(story.prompt)),
            ("context", json!(story.context)),
            ("request", json!(story.run.request)),
            ("delegated_by", json!(story.run.delegated_by)),
            ("contract_digest", json!(story.run.contract_digest)),
            ("approvals", json!(story.approvals)),
            ("detail", json!(story.detail)),
            ("reason", json!(story.reason)),
        ] {
            fields.insert(key.to_string(), told);
        }
    }
    value
}

#[derive(Deserialize)]
struct TouchedParams {
    glob: String,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    repo: Option<String>,
}

async fn api_touched(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<TouchedParams>,
) -> Result<axum::Json<Value>, ServerError> {
    let who = auth::caller(&state.db, &headers).await?;
    if params.glob.trim().is_empty() {
        return Err(ServerError::BadRequest(
            "an empty glob names nothing: give a path or glob, e.g. `customer_data/**`".to_string(),
        ));
    }
    let query = EventQuery {
        path: Some(params.glob.clone()),
        since: params.since,
        repo: params.repo,
        ..EventQuery::default()
    }
    .tidy();
    let found = find(&state.db, &who, &query, 0, EXPORT_LIMIT).await?;
    let mut touches = found.rows;
    touches.reverse();
    Ok(axum::Json(json!({
        "glob": params.glob,
        "since": query.since,
        "repo": query.repo,
        "runs_searched": runs_visible(&state.db, &who).await?,
        "touches": touches,
        "truncated": found.more,
        "note": found.note,
    })))
}

async fn runs_visible(db: &Db, who: &Caller) -> Result<i64, ServerError> {
    let policy = team::current(db).await?.policy;
    let (visible, binds) = Visibility::of(who, &policy).sql(1);
    let sql = format!("SELECT COUNT(*) FROM runs WHERE {visible}");
    let mut query = sqlx::query(&sql);
    for bind in binds {
        query = query.bind(bind);
    }
    Ok(query.fetch_one(&db.pool).await?.try_get::<i64, _>(0)?)
}

fn decision_badge(decision: &str) -> String {
    let class = match decision {
        "allow" => "ok",
        "deny" | "stop" | "unguarded" => "bad",
        "ask" | "would_deny" | "would_ask" => "warn",
        _ => "muted",
    };
    badge(class, &decision.replace('_', " "))
}

const DECISION_CHOICES: &[&str] = &[
    "",
    "allow",
    "ask",
    "deny",
    "stop",
    "would_deny",
    "would_ask",
    "refused_by_agent",
    "unguarded",
];

async fn events_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Response {
    let who = match auth::page_caller(&state.db, &headers).await {
        Ok(who) => who,
        Err(ServerError::Unauthenticated) => return Redirect::to("/login").into_response(),
        Err(error) => return page_error(&error, None),
    };
    let query = params.query.clone().tidy();
    let page_no = match page_number(params.page.as_deref()) {
        Ok(n) => n,
        Err(error) => return page_error(&error, Some(&who)),
    };
    let found = find(
        &state.db,
        &who,
        &query,
        (page_no - 1) * PAGE_SIZE,
        PAGE_SIZE,
    )
    .await;
    let found = match found {
        Ok(found) => found,
        Err(error) => return page_error(&error, Some(&who)),
    };
    Html(page(
        "Events",
        "/events",
        Some(&who),
        &events_body(&query, page_no, &found),
    ))
    .into_response()
}

fn page_error(error: &ServerError, who: Option<&Caller>) -> Response {
    let body = format!(
        "<h1>Events</h1><p class=\"error\">{}</p><p><a href=\"/events\">Start a new search</a></p>",
        esc(&error.to_string())
    );
    (error.status(), Html(page("Events", "/events", who, &body))).into_response()
}

fn events_body(query: &EventQuery, page_no: usize, found: &Found) -> String {
    let value = |v: &Option<String>| esc(v.as_deref().unwrap_or(""));
    let mut body = String::from(
        "<h1>Events</h1><p class=\"sub\">Every tool call of the runs you may read, one line \
         per touch, newest first. A path glob also matches tool names, hosts and the files a \
         command names. Shadow-mode verdicts show as <em>would deny</em>, apart from real \
         denials.</p>",
    );
    let options: String = DECISION_CHOICES
        .iter()
        .map(|d| {
            let selected = if query.decision.as_deref().unwrap_or("") == *d {
                " selected"
            } else {
                ""
            };
            format!(
                "<option value=\"{d}\"{selected}>{}</option>",
                if d.is_empty() {
                    "any".to_string()
                } else {
                    d.replace('_', " ")
                }
            )
        })
        .collect();
    let field = |name: &str, label: &str, v: &Option<String>, hint: &str| {
        format!(
            "<label>{label} <input type=\"text\" name=\"{name}\" value=\"{}\" placeholder=\"{hint}\"></label>",
            value(v)
        )
    };
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/events\">{}{}{}{}{}{}{}{}{}{}\
         <label>Decision <select name=\"decision\">{options}</select></label>\
         <button type=\"submit\">Search</button> <a href=\"/events\">clear</a></form>",
        field("path", "Path glob", &query.path, "customer_data/**"),
        field("command", "Command", &query.command, "git push"),
        field("tool", "Tool", &query.tool, "Bash"),
        field("mcp", "MCP server", &query.mcp, "jira"),
        field("user", "User", &query.user, "alice@example.com"),
        field("agent", "Agent", &query.agent, "claude-code"),
        field("repo", "Repository", &query.repo, "billing"),
        field("run", "Run", &query.run, ""),
        field("since", "Since", &query.since, "2026-01-31"),
        field("until", "Until", &query.until, "2026-02-28T12:00:00Z"),
    );
    let base = query.to_query_string();
    let link = |extra: &str| {
        if base.is_empty() {
            format!("?{extra}")
        } else {
            format!("?{base}&{extra}")
        }
    };
    let _ = write!(
        body,
        "<p class=\"sub\">Export what matches: <a href=\"/api/v1/events{}\">CSV</a> · \
         <a href=\"/api/v1/events{}\">JSON</a> (up to {EXPORT_LIMIT} events)</p>",
        esc(&link("format=csv")),
        esc(&link("format=json")),
    );
    if let Some(note) = &found.note {
        let _ = write!(body, "<p class=\"notice\">{}</p>", esc(note));
    }
    if found.rows.is_empty() {
        body.push_str("<p class=\"notice\">No events match.</p>");
    } else {
        body.push_str(
            "<table><tr><th>Time (UTC)</th><th>Run</th><th>User</th><th>Agent</th><th>Tool</th>\
             <th>Touch</th><th>Target</th><th>Decision</th><th>Outcome</th><th>Rules</th></tr>",
        );
        for row in &found.rows {
            let agent = match (&row.agent_type, &row.agent_id) {
                (Some(kind), _) => format!("{} › {kind}", row.agent.as_deref().unwrap_or("")),
                (None, Some(id)) => format!("{} › {id}", row.agent.as_deref().unwrap_or("")),
                _ => row.agent.clone().unwrap_or_default(),
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td><a href=\"/runs/{}\">{}</a></td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&readable_time(&row.time)),
                url(&row.run),
                esc(&row.run),
                esc(row.user.as_deref().unwrap_or("")),
                esc(&agent),
                esc(&row.tool),
                esc(&row.kind),
                esc(row.shown_target()),
                decision_badge(&row.decision),
                esc(&row.outcome.replace('_', " ")),
                esc(&row.rules.join(", ")),
            );
        }
        body.push_str("</table>");
    }
    body.push_str("<p class=\"pager\">");
    if page_no > 1 {
        let _ = write!(
            body,
            "<a href=\"/events{}\">← newer</a> ",
            esc(&link(&format!("page={}", page_no - 1)))
        );
    }
    let _ = write!(body, "page {page_no}");
    if found.more {
        let _ = write!(
            body,
            " <a href=\"/events{}\">older →</a>",
            esc(&link(&format!("page={}", page_no + 1)))
        );
    }
    body.push_str("</p>");
    body
}

/// `2026-01-31T12:00:00.123Z` as `2026-01-31 12:00:00`.
fn readable_time(time: &str) -> String {
    match (time.get(..10), time.get(11..19)) {
        (Some(day), Some(clock)) => format!("{day} {clock}"),
        _ => time.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! The SQL only narrows; [`Compiled::matches`] decides. So every answer of [`find`] and
    //! of the streamed [`export`] must be exactly the rows `matches` takes from all of
    //! them: a branch of the `UNION ALL` that lost rows (a wrong prefix, a condition
    //! on the wrong kind, a bind numbered wrongly) fails here, on SQLite and on
    //! PostgreSQL (`$MANDATE_TEST_POSTGRES`, skipped without one unless
    //! `MANDATE_E2E_REQUIRED` is set).
    use super::*;
    use crate::auth::{Role, Scope, Via};

    fn row(n: u64, time: &str, repo: &str, tool: &str, kind: &str, target: &str) -> EventRow {
        let (repository, project, user) = match repo {
            "a" => ("/home/a/src/proj1", "proj1", "alice@example.com"),
            _ => ("/home/b/work/proj2", "proj2", "bob@example.com"),
        };
        // A read or write names a repository-relative file.
        let file = matches!(kind, "read" | "write");
        let refused = n.is_multiple_of(3);
        EventRow {
            run: format!("RUN-{repo}"),
            idx: n,
            n: 0,
            time: time.to_string(),
            event: "tool.pre".to_string(),
            tool_use_id: Some(format!("toolu_{n}")),
            tool: tool.to_string(),
            mcp: mandate_search::mcp_server(tool),
            kind: kind.to_string(),
            target: if file {
                format!("{repository}/{target}")
            } else {
                target.to_string()
            },
            path: file.then(|| target.to_string()),
            command: (kind == "execute").then(|| target.to_string()),
            decision: if refused { "deny" } else { "allow" }.to_string(),
            outcome: if refused { "refused" } else { "ran" }.to_string(),
            rules: vec!["contract.allow.read[0]".to_string()],
            user: Some(user.to_string()),
            agent: Some("claude-code".to_string()),
            repository: Some(repository.to_string()),
            project: Some(project.to_string()),
            mode: Some("enforce".to_string()),
            ..EventRow::default()
        }
    }

    fn rows() -> Vec<EventRow> {
        let mut rows = Vec::new();
        for (repo, day) in [
            ("a", "2026-03-01"),
            ("b", "2026-11-20"),
            ("a", "2026-11-30"),
        ] {
            for (tool, kind, target) in [
                ("Read", "read", "customer_data/eu1.csv"),
                ("Read", "read", "customer_data"),
                ("Read", "read", "customer_dataX/eu1.csv"),
                ("Read", "read", "customer_data/sub/eu12.csv"),
                ("Write", "write", "deploy/prod.yaml"),
                ("Write", "write", "deploy/sub/prod.yaml"),
                ("Edit", "write", "deploy"),
                ("Write", "write", "data_1/100%.csv"),
                ("Write", "write", "dataX1/100X.csv"),
                ("Write", "write", "src/module1/a.py"),
                ("Read", "read", "src/module10/a.py"),
                ("Read", "read", "src/module1"),
                ("Bash", "execute", "pytest src/module1/tests -q"),
                ("Bash", "execute", "cat ./customer_data/eu2.csv"),
                (
                    "Bash",
                    "execute",
                    "cat /home/a/src/proj1/customer_data/eu3.csv",
                ),
                ("Bash", "execute", "sed -n 1p customer_data/eu1.csv"),
                ("Bash", "execute", "git push origin main"),
                ("Bash", "execute", "cat deploy/prod.yaml"),
                (
                    "mcp__slack__post_message",
                    "call",
                    "mcp__slack__post_message",
                ),
                ("mcp__slackbot__post", "call", "mcp__slackbot__post"),
                ("mcp__jira__get_issue", "call", "mcp__jira__get_issue"),
                ("WebFetch", "expose", "https://docs.example.com/page"),
                ("WebFetch", "expose", "docs.example.com"),
            ] {
                let n = rows.len() as u64 + 2;
                let time = format!("{day}T10:{:02}:00.000Z", n % 60);
                rows.push(row(n, &time, repo, tool, kind, target));
            }
        }
        rows
    }

    fn queries() -> Vec<EventQuery> {
        let area = |glob: &str| EventQuery {
            path: Some(glob.to_string()),
            ..EventQuery::default()
        };
        let mut list: Vec<EventQuery> = [
            "customer_data/**",
            "customer_data",
            "customer_data/*",
            "customer_data/eu1.csv",
            "deploy/**",
            "deploy/*",
            "**/eu1*.csv",
            "**/*.csv",
            "data_1/**",
            "data_1/100%.csv",
            "src/module1/**",
            "./src/module1/**/*.py",
            "src/module1/**/tests",
            "mcp__slack__*",
            "mcp__*",
            "*slack*",
            "https://docs.example.com/*",
            "docs.example.com",
            "git push*",
            "/home/a/src/proj1/customer_data/**",
            "/home/b/work/proj2/deploy/*",
        ]
        .into_iter()
        .map(area)
        .collect();
        for (glob, since, repo, decision) in [
            ("customer_data/**", Some("2026-11-01"), None, None),
            ("deploy/**", None, Some("proj2"), None),
            ("deploy/**", None, Some("proj1"), Some("deny")),
            ("**/eu1*.csv", Some("2026-11-20"), None, None),
            ("mcp__slack__*", Some("2026-11-25"), None, None),
            ("mcp__*", None, Some("work/proj2"), Some("allow")),
        ] {
            list.push(EventQuery {
                since: since.map(str::to_string),
                repo: repo.map(str::to_string),
                decision: decision.map(str::to_string),
                ..area(glob)
            });
        }
        list.push(EventQuery {
            file: Some("deploy/prod.yaml".to_string()),
            kind: Some("write".to_string()),
            ..EventQuery::default()
        });
        list.push(EventQuery {
            command: Some("cat".to_string()),
            until: Some("2026-11-20".to_string()),
            ..EventQuery::default()
        });
        list.push(EventQuery {
            tool: Some("mcp__slack*".to_string()),
            ..EventQuery::default()
        });
        list.push(EventQuery {
            decision: Some("deny".to_string()),
            since: Some("2026-03-01".to_string()),
            until: Some("2026-11-20".to_string()),
            ..EventQuery::default()
        });
        list.push(EventQuery::default());
        list
    }

    /// What tells rows apart in a failure's message.
    fn keys(rows: &[EventRow]) -> Vec<String> {
        rows.iter()
            .map(|row| format!("{} {} {} {}", row.run, row.idx, row.kind, row.target))
            .collect()
    }

    fn admin() -> Caller {
        Caller {
            email: "root@example.com".to_string(),
            role: Role::Admin,
            scope: Scope::All,
            token_id: "test".to_string(),
            via: Via::Token,
        }
    }

    async fn answers_are_the_reference_filters(db: &Db) {
        let all = rows();
        let mut tx = db.pool.begin().await.unwrap();
        insert_rows(&mut tx, &all).await.unwrap();
        tx.commit().await.unwrap();
        let who = admin();
        for query in queries() {
            let compiled = query.compile().unwrap();
            let mut expected: Vec<EventRow> = all
                .iter()
                .filter(|row| compiled.matches(row))
                .cloned()
                .collect();
            mandate_search::sort_rows(&mut expected);
            let found = find(db, &who, &query, 0, 1000).await.unwrap();
            assert_eq!(keys(&found.rows), keys(&expected), "find {query:?}");
            assert_eq!(found.rows, expected, "find {query:?}");
            assert!(!found.more);
            // Paged: the second page of three is the same slice.
            let page = find(db, &who, &query, 3, 3).await.unwrap();
            let slice: Vec<EventRow> = expected.iter().skip(3).take(3).cloned().collect();
            assert_eq!(keys(&page.rows), keys(&slice), "page 2 of {query:?}");
            assert_eq!(page.more, expected.len() > 6, "more, {query:?}");
            // The streamed exports say the same.
            for (format, whole) in [
                (Format::Csv, mandate_search::to_csv(&expected)),
                (Format::Json, serde_json::to_string(&expected).unwrap()),
            ] {
                let response = export(db, &who, query.clone(), format).await.unwrap();
                let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .unwrap();
                assert_eq!(String::from_utf8_lossy(&body), whole, "export {query:?}");
            }
        }
        // The reference finds what these queries are about, so none passes by being empty.
        for glob in [
            "customer_data/**",
            "mcp__slack__*",
            "**/eu1*.csv",
            "deploy/*",
        ] {
            let query = EventQuery {
                path: Some(glob.to_string()),
                ..EventQuery::default()
            };
            assert!(find(db, &who, &query, 0, 1000).await.unwrap().rows.len() >= 3);
        }
    }

    #[tokio::test]
    async fn sqlite_answers_are_the_reference_filters() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("server.db").display());
        let db = Db::connect(&url).await.unwrap();
        answers_are_the_reference_filters(&db).await;
    }

    /// A database of the test's own on `$MANDATE_TEST_POSTGRES`, dropped when done.
    struct Scratch {
        base: String,
        name: String,
    }

    fn psql(base: &str, sql: &str) -> bool {
        std::process::Command::new("psql")
            .arg(format!("{base}/postgres"))
            .args(["-Atq", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .is_ok_and(|out| out.status.success())
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let name = &self.name;
            psql(
                &self.base,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }

    #[tokio::test]
    async fn postgres_answers_are_the_reference_filters() {
        let base = std::env::var("MANDATE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432".into());
        if !psql(&base, "SELECT 1") {
            let required = std::env::var_os("MANDATE_E2E_REQUIRED").is_some_and(|v| !v.is_empty());
            assert!(
                !required,
                "no PostgreSQL at {base}, and MANDATE_E2E_REQUIRED is set"
            );
            eprintln!("SKIPPED: no PostgreSQL server reachable at {base}");
            return;
        }
        let scratch = Scratch {
            name: format!("mandate_events_sql_{}", std::process::id()),
            base,
        };
        assert!(psql(
            &scratch.base,
            &format!("CREATE DATABASE {}", scratch.name)
        ));
        // The indexes, not a scan of a few dozen rows, must answer: a prefix range or a
        // partial index that misses rows shows here.
        assert!(psql(
            &scratch.base,
            &format!("ALTER DATABASE {} SET enable_seqscan = off", scratch.name)
        ));
        let db = Db::connect(&format!("{}/{}", scratch.base, scratch.name))
            .await
            .unwrap();
        answers_are_the_reference_filters(&db).await;
        db.pool.close().await;
    }
}
