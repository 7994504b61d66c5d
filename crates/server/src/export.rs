//! Continuous export: every entry the server holds, sent on to the tools a security team
//! already runs (`mandate serve --export otlp=URL`, `--export ocsf=FILE`, `--export
//! ocsf=URL`), and the HTTP plumbing the webhook ([`crate::webhook`]) shares.
//!
//! The records themselves are computed by `mandate_record::ocsf` and
//! `mandate_record::otel`, the code `mandate record export` runs on a developer's
//! machine, so the two agree. Here is only how they travel:
//!
//! - **OTLP**: OpenTelemetry logs over OTLP/HTTP in protobuf (`ExportLogsServiceRequest`
//!   from `opentelemetry-proto`, encoded by prost), POSTed to the URL given, or to
//!   `URL/v1/logs` when it has no path. One request per run and batch.
//! - **OCSF to a file**: JSON lines appended and fsynced.
//! - **OCSF to a URL**: the same lines POSTed as `application/x-ndjson` (Vector, Fluent
//!   Bit, Cribl and most SIEM HTTP inputs take it).
//!
//! # Nothing lost, nothing sent twice
//!
//! The database is the queue: `export_cursor` keeps, per destination and run, how many
//! entries were sent, and it moves only after the destination answered 2xx (or the file
//! was fsynced). So a collector that is down loses nothing: the exporter retries with
//! backoff (1 s doubling to [`MAX_BACKOFF`]) and says on stderr what failed and what it
//! will do, once per change of state. A restart resumes from the cursor. At most one
//! batch ([`BATCH`] entries, [`BATCH_BYTES`] of stored lines) is held in memory per
//! destination, however far behind it is.
//!
//! A file is exact: its length is kept with the cursor, in the same transaction, and a
//! restart cuts off lines written after the last commit (they are written again). Over
//! HTTP, a crash between the destination's 2xx and the cursor's commit sends that batch
//! again: every record carries a stable id (OCSF `metadata.uid`, the OTLP attributes
//! `mandate.run.id` and `mandate.entry.index`) to drop such a repeat by.
//!
//! Several server processes may share one PostgreSQL database: a destination is served
//! by one of them at a time, the one holding its lease in `export_sink` (renewed every
//! round, taken over [`LEASE`] after its holder stopped renewing).

use std::path::PathBuf;
use std::time::Duration;

use mandate_record::export::RunContext;
use serde_json::Value;
use sqlx::Row as _;

use crate::{Db, ServerError, now};

/// Entries per request (or per write to a file), at most.
pub const BATCH: usize = 1000;
/// Bytes of stored lines per request, at most (a batch always holds at least one entry).
pub const BATCH_BYTES: usize = 4 << 20;
/// How often an idle exporter looks for new entries.
pub const POLL: Duration = Duration::from_secs(1);
/// The longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long a destination's lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often the cursors of runs that are gone are removed.
const TIDY_EVERY: Duration = Duration::from_secs(3600);
/// How long one HTTP request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the entries go, as `--export` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    /// OpenTelemetry logs over OTLP/HTTP (protobuf).
    Otlp(String),
    /// OCSF JSON lines appended to a file.
    OcsfFile(PathBuf),
    /// OCSF JSON lines POSTed to a URL.
    OcsfHttp(String),
}

impl std::str::FromStr for Sink {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let is_url = |s: &str| s.starts_with("http://") || s.starts_with("https://");
        match text.split_once('=') {
            Some(("otlp", url)) if is_url(url) => Ok(Sink::Otlp(url.to_owned())),
            Some(("otlp", other)) => Err(format!(
                "`otlp={other}`: OTLP goes to a collector's URL, e.g. \
                 `otlp=http://collector:4318` (OTLP/HTTP, protobuf)"
            )),
            Some(("ocsf", url)) if is_url(url) => Ok(Sink::OcsfHttp(url.to_owned())),
            Some(("ocsf", "")) => Err("`ocsf=`: name a file or an http(s):// URL".to_owned()),
            Some(("ocsf", path)) => Ok(Sink::OcsfFile(PathBuf::from(path))),
            _ => Err(format!(
                "`{text}` is not an export: write `otlp=URL`, `ocsf=FILE` or `ocsf=URL`"
            )),
        }
    }
}

impl Sink {
    /// The destination's name in the database and in messages.
    pub fn key(&self) -> String {
        match self {
            Sink::Otlp(url) => format!("otlp={url}"),
            Sink::OcsfFile(path) => format!("ocsf={}", path.display()),
            Sink::OcsfHttp(url) => format!("ocsf={url}"),
        }
    }

    /// The OTLP logs endpoint: the URL as given, or `/v1/logs` on it when it has no path.
    fn otlp_endpoint(url: &str) -> String {
        let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        if after_scheme.trim_end_matches('/').contains('/') {
            url.to_owned()
        } else {
            format!("{}/v1/logs", url.trim_end_matches('/'))
        }
    }
}

/// A header sent with every request to one kind of destination (`--export-header
/// otlp=Authorization: Bearer …`, or `$MANDATE_EXPORT_HEADERS`, one per line, which keeps
/// the secret off the command line): `otlp`, `ocsf` (over HTTP) or `webhook`. A header
/// goes only to its kind, so the collector's credential never reaches the chat.
#[derive(Clone, Debug)]
pub struct ExportHeader {
    pub kind: String,
    pub name: reqwest::header::HeaderName,
    pub value: reqwest::header::HeaderValue,
}

impl std::str::FromStr for ExportHeader {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage = "write it as KIND=NAME: VALUE, KIND being otlp, ocsf or webhook \
                     (`otlp=Authorization: Bearer TOKEN`)";
        let (kind, header) = text
            .split_once('=')
            .ok_or_else(|| format!("`--export-header` needs a destination kind: {usage}"))?;
        let kind = kind.trim();
        if !matches!(kind, "otlp" | "ocsf" | "webhook") {
            return Err(format!("`{kind}` is not a destination kind: {usage}"));
        }
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| format!("`--export-header` for {kind} has no `NAME: VALUE`: {usage}"))?;
        let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("`{}` is not a header name: {usage}", name.trim()))?;
        let mut value = reqwest::header::HeaderValue::from_str(value.trim()).map_err(|_| {
            format!("the value of header `{name}` has characters a header cannot carry")
        })?;
        // Never printed in a debug line.
        value.set_sensitive(true);
        Ok(ExportHeader {
            kind: kind.to_string(),
            name,
            value,
        })
    }
}

/// The headers of one kind of destination.
pub fn headers_for(kind: &str, headers: &[ExportHeader]) -> reqwest::header::HeaderMap {
    let mut map = reqwest::header::HeaderMap::new();
    for header in headers.iter().filter(|h| h.kind == kind) {
        map.append(header.name.clone(), header.value.clone());
    }
    map
}

/// Why a round could not send: said once, then retried.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot reach {destination}: {detail}")]
    Unreachable { destination: String, detail: String },
    #[error("{destination} answered {status}: {body}")]
    Refused {
        destination: String,
        status: u16,
        body: String,
    },
    #[error("cannot write {path}: {detail}")]
    File { path: String, detail: String },
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl From<sqlx::Error> for ExportError {
    fn from(error: sqlx::Error) -> Self {
        ExportError::Server(ServerError::Database(error))
    }
}

/// The HTTP client every exporter and the webhook use: rustls with ring and the
/// system's roots (as the server's own TLS), a total deadline per request.
pub fn http_client(headers: reqwest::header::HeaderMap) -> Result<reqwest::Client, ServerError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    #[expect(
        deprecated,
        reason = "ring, as the server's own TLS and the hook's link: it builds with a C \
                  compiler alone"
    )]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ServerError::Config(format!("TLS for exports: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("mandate-server/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .build()
        .map_err(|error| ServerError::Config(format!("cannot build the HTTP client: {error}")))
}

/// POST `body` to `url`; `Ok` on 2xx with the answer's bytes.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<Vec<u8>, ExportError> {
    let answer = client
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .map_err(|error| ExportError::Unreachable {
            destination: url.to_owned(),
            detail: error_chain(&error),
        })?;
    let status = answer.status();
    let bytes = answer.bytes().await.unwrap_or_default().to_vec();
    if status.is_success() {
        Ok(bytes)
    } else {
        let body: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
        Err(ExportError::Refused {
            destination: url.to_owned(),
            status: status.as_u16(),
            body,
        })
    }
}

/// An error and its causes, on one line (reqwest's top error says little).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Refusals in a row after which a destination is stopped: a 4xx other than 408 and 429
/// says the receiver will not take what is sent as it is (a missing or wrong credential,
/// a wrong path), and asking again does not change that.
pub const MAX_REFUSALS: u32 = 5;

impl ExportError {
    /// Will asking again not help?
    fn is_permanent(&self) -> bool {
        matches!(self, ExportError::Refused { status, .. }
            if (400..500).contains(status) && !matches!(status, 408 | 429))
    }
}

/// What a destination does after a failed round.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Try again after this long.
    Wait(Duration),
    /// Refused for good [`MAX_REFUSALS`] times in a row: send nothing more.
    Stop,
}

/// The retry schedule: 1 s doubling to [`MAX_BACKOFF`], reset by a success; a
/// destination that refuses for good [`MAX_REFUSALS`] times in a row is stopped.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    failing: Option<String>,
    refusals: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: Duration::from_secs(1),
            failing: None,
            refusals: 0,
        }
    }
}

impl Backoff {
    /// A round failed: say so (once per different message) and say what comes next.
    pub fn failed(&mut self, what: &str, error: &ExportError) -> Next {
        let message = error.to_string();
        self.refusals = if error.is_permanent() {
            self.refusals + 1
        } else {
            0
        };
        if self.refusals >= MAX_REFUSALS {
            eprintln!(
                "mandate-server: {what}: {message}; refused {MAX_REFUSALS} times in a row, so it \
                 is STOPPED: nothing more is sent to it, and nothing is lost (what it has not \
                 taken stays queued). Fix the receiver or the credentials it wants \
                 (`--export-header`), then restart mandate-server: it resumes where it stopped"
            );
            return Next::Stop;
        }
        let wait = self.next;
        if self.failing.as_deref() != Some(message.as_str()) {
            eprintln!(
                "mandate-server: {what}: {message}; nothing is lost, retrying (every {}s at most) \
                 until it answers{}",
                MAX_BACKOFF.as_secs(),
                if error.is_permanent() {
                    format!(", and stopping after {MAX_REFUSALS} such refusals in a row")
                } else {
                    String::new()
                }
            );
            self.failing = Some(message);
        }
        self.next = (self.next * 2).min(MAX_BACKOFF);
        Next::Wait(wait)
    }

    /// A round succeeded; `true` when it had been failing.
    pub fn succeeded(&mut self, what: &str) -> bool {
        self.next = Duration::from_secs(1);
        self.refusals = 0;
        if self.failing.take().is_some() {
            eprintln!("mandate-server: {what}: delivering again");
            return true;
        }
        false
    }

    /// After a round: its state in `export_sink` (`delivering`, `retrying`, `stopped`),
    /// written when it changes, and how long to wait (`None`: stop).
    pub async fn after(
        &mut self,
        db: &Db,
        sink: &str,
        what: &str,
        round: Result<usize, ExportError>,
    ) -> Option<Duration> {
        match round {
            Ok(sent) => {
                if self.succeeded(what) {
                    let _ = set_state(db, sink, "delivering", "").await;
                }
                Some(if sent == 0 { POLL } else { Duration::ZERO })
            }
            Err(error) => {
                let next = self.failed(what, &error);
                let state = if next == Next::Stop {
                    "stopped"
                } else {
                    "retrying"
                };
                let _ = set_state(db, sink, state, &error.to_string()).await;
                match next {
                    Next::Wait(wait) => Some(wait),
                    Next::Stop => None,
                }
            }
        }
    }
}

/// Keep what `sink` is doing where `GET /api/v1/exports` shows it.
async fn set_state(db: &Db, sink: &str, state: &str, detail: &str) -> Result<(), ServerError> {
    sqlx::query("UPDATE export_sink SET state = $2, detail = $3, state_since = $4 WHERE sink = $1")
        .bind(sink)
        .bind(state)
        .bind(detail)
        .bind(now())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Every destination this server's database knows: what it is doing, since when, and
/// the receiver's last answer.
pub async fn destinations(db: &Db) -> Result<Vec<serde_json::Value>, ServerError> {
    let rows = sqlx::query(
        "SELECT sink, since, state, detail, state_since FROM export_sink ORDER BY sink",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(serde_json::json!({
                "sink": row.try_get::<String, _>(0)?,
                "since": row.try_get::<String, _>(1)?,
                "state": row.try_get::<String, _>(2)?,
                "detail": row.try_get::<String, _>(3)?,
                "state_since": row.try_get::<String, _>(4)?,
            }))
        })
        .collect()
}

/// Register `sink` (its `since` is the first time it was configured) and take or renew
/// its lease for `holder`. `true` when `holder` holds it.
pub async fn lease(db: &Db, sink: &str, holder: &str) -> Result<bool, ServerError> {
    let now_text = now();
    let until = crate::retention::rfc3339(std::time::SystemTime::now() + LEASE);
    let taken = sqlx::query(
        "INSERT INTO export_sink (sink, since, holder, lease_until, file_bytes) \
         VALUES ($1, $2, $3, $4, 0) \
         ON CONFLICT (sink) DO UPDATE SET holder = $3, lease_until = $4 \
         WHERE export_sink.holder = $3 OR export_sink.lease_until < $2",
    )
    .bind(sink)
    .bind(&now_text)
    .bind(holder)
    .bind(&until)
    .execute(&db.pool)
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// When `sink` was first configured: the webhook notifies of nothing older.
pub async fn since(db: &Db, sink: &str) -> Result<String, ServerError> {
    let row = sqlx::query("SELECT since FROM export_sink WHERE sink = $1")
        .bind(sink)
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get(0)?)
}

/// Start one background task per destination.
pub fn start(db: &Db, sinks: &[Sink], headers: &[ExportHeader]) -> Result<(), ServerError> {
    if sinks.is_empty() {
        return Ok(());
    }
    let holder = crate::random_id("exporter-")?;
    for sink in sinks {
        let kind = match sink {
            Sink::Otlp(_) => "otlp",
            Sink::OcsfHttp(_) | Sink::OcsfFile(_) => "ocsf",
        };
        let client = http_client(headers_for(kind, headers))?;
        tokio::spawn(run(db.clone(), sink.clone(), client, holder.clone()));
    }
    Ok(())
}

/// One destination, forever: send what is new, wait, retry on failure.
async fn run(db: Db, sink: Sink, client: reqwest::Client, holder: String) {
    let key = sink.key();
    let what = format!("export to {key}");
    let mut backoff = Backoff::default();
    let mut held = false;
    let mut tidied = std::time::Instant::now();
    loop {
        if tidied.elapsed() > TIDY_EVERY {
            // Runs removed by retention leave their cursors behind.
            let _ = sqlx::query(
                "DELETE FROM export_cursor WHERE sink = $1 \
                 AND run_id NOT IN (SELECT run_id FROM runs)",
            )
            .bind(&key)
            .execute(&db.pool)
            .await;
            tidied = std::time::Instant::now();
        }
        let round = async {
            if !lease(&db, &key, &holder).await? {
                held = false;
                return Ok(None);
            }
            if !held {
                if let Sink::OcsfFile(path) = &sink {
                    reconcile_file(&db, &key, path).await?;
                }
                held = true;
            }
            send_some(&db, &sink, &client).await.map(Some)
        };
        let wait = match round.await {
            Ok(None) => LEASE / 2,
            Ok(Some(sent)) => backoff
                .after(&db, &key, &what, Ok(sent))
                .await
                .unwrap_or(POLL),
            Err(error) => match backoff.after(&db, &key, &what, Err(error)).await {
                Some(wait) => wait,
                None => return,
            },
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The runs with entries `sink` has not sent, and how far it got in each.
async fn pending(db: &Db, sink: &str) -> Result<Vec<(RunContext, i64)>, ServerError> {
    let rows = sqlx::query(
        "SELECT r.run_id, COALESCE(c.sent, 0), r.delegated_by, r.owner, r.agent, r.task_id, \
         r.mode, r.project FROM runs r \
         LEFT JOIN export_cursor c ON c.sink = $1 AND c.run_id = r.run_id \
         WHERE r.entries > COALESCE(c.sent, 0) ORDER BY r.run_id LIMIT 64",
    )
    .bind(sink)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let text = |i: usize| -> Result<Option<String>, sqlx::Error> {
            Ok(row
                .try_get::<Option<String>, _>(i)?
                .filter(|s| !s.is_empty()))
        };
        let mut ctx = RunContext::new(&row.try_get::<String, _>(0)?);
        ctx.user = text(2)?.or(text(3)?);
        ctx.agent = text(4)?;
        ctx.task = text(5)?;
        ctx.mode = text(6)?;
        ctx.project = text(7)?;
        out.push((ctx, row.try_get::<i64, _>(1)?));
    }
    Ok(out)
}

/// The next batch of one run's entries from `from` on: (index, stored line, parsed).
async fn batch(db: &Db, run_id: &str, from: i64) -> Result<Vec<(u64, String, Value)>, ServerError> {
    let rows = sqlx::query(
        "SELECT idx, body FROM entries WHERE run_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3",
    )
    .bind(run_id)
    .bind(from)
    .bind(i64::try_from(BATCH).unwrap_or(1000))
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for row in rows {
        let body: String = row.try_get(1)?;
        bytes += body.len();
        if bytes > BATCH_BYTES && !out.is_empty() {
            break;
        }
        let index = u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0);
        let value = serde_json::from_str(&body).unwrap_or(Value::Null);
        out.push((index, body, value));
    }
    Ok(out)
}

/// Move `sink`'s cursor for `run_id` to `sent` (and the file's length, for a file).
async fn advance(
    db: &Db,
    sink: &str,
    run_id: &str,
    sent: i64,
    file_bytes: Option<i64>,
) -> Result<(), ServerError> {
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO export_cursor (sink, run_id, sent) VALUES ($1, $2, $3) \
         ON CONFLICT (sink, run_id) DO UPDATE SET sent = $3",
    )
    .bind(sink)
    .bind(run_id)
    .bind(sent)
    .execute(&mut *tx)
    .await?;
    if let Some(bytes) = file_bytes {
        sqlx::query("UPDATE export_sink SET file_bytes = $2 WHERE sink = $1")
            .bind(sink)
            .bind(bytes)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One round: a batch of every run with something new. Returns how many entries went.
async fn send_some(db: &Db, sink: &Sink, client: &reqwest::Client) -> Result<usize, ExportError> {
    let key = sink.key();
    let mut sent = 0;
    for (ctx, from) in pending(db, &key).await? {
        let entries = batch(db, &ctx.run_id, from).await?;
        let Some(last) = entries.last().map(|(index, _, _)| *index) else {
            continue;
        };
        let next = i64::try_from(last + 1).unwrap_or(i64::MAX);
        match sink {
            Sink::Otlp(url) => {
                let request = otlp_request(&ctx, &entries);
                let endpoint = Sink::otlp_endpoint(url);
                let answer = post(
                    client,
                    &endpoint,
                    "application/x-protobuf",
                    prost::Message::encode_to_vec(&request),
                )
                .await?;
                report_partial_success(&endpoint, &ctx.run_id, &answer);
                advance(db, &key, &ctx.run_id, next, None).await?;
            }
            Sink::OcsfHttp(url) => {
                let body = ocsf_lines(&ctx, &entries);
                post(client, url, "application/x-ndjson", body.into_bytes()).await?;
                advance(db, &key, &ctx.run_id, next, None).await?;
            }
            Sink::OcsfFile(path) => {
                let body = ocsf_lines(&ctx, &entries);
                let length = append(path, body.into_bytes()).await?;
                advance(db, &key, &ctx.run_id, next, Some(length)).await?;
            }
        }
        sent += entries.len();
    }
    Ok(sent)
}

fn ocsf_lines(ctx: &RunContext, entries: &[(u64, String, Value)]) -> String {
    let mut body = String::new();
    for (index, line, value) in entries {
        body.push_str(&mandate_record::ocsf::event(ctx, *index, value, Some(line)).to_string());
        body.push('\n');
    }
    body
}

/// Append `bytes` to the file and fsync it; returns its new length.
async fn append(path: &std::path::Path, bytes: Vec<u8>) -> Result<i64, ExportError> {
    let path = path.to_owned();
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || -> std::io::Result<i64> {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        file.write_all(&bytes)?;
        file.sync_data()?;
        Ok(i64::try_from(file.metadata()?.len()).unwrap_or(i64::MAX))
    })
    .await
    .map_err(|error| ExportError::File {
        path: shown.clone(),
        detail: error.to_string(),
    })?
    .map_err(|error| ExportError::File {
        path: shown,
        detail: error.to_string(),
    })
}

/// After a restart (or a takeover), cut the file back to what the cursor says was
/// written: lines past it were written but not committed, and will be written again. A
/// file shorter than that was rotated or truncated by someone else: keep appending.
async fn reconcile_file(db: &Db, sink: &str, path: &std::path::Path) -> Result<(), ExportError> {
    let row = sqlx::query("SELECT file_bytes FROM export_sink WHERE sink = $1")
        .bind(sink)
        .fetch_one(&db.pool)
        .await?;
    let committed = u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0);
    let path = path.to_owned();
    let shown = path.display().to_string();
    let now_len = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(file) => {
                let len = file.metadata()?.len();
                if len > committed {
                    file.set_len(committed)?;
                    file.sync_data()?;
                    Ok(committed)
                } else {
                    Ok(len)
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(error) => Err(error),
        }
    })
    .await
    .map_err(|error| ExportError::File {
        path: shown.clone(),
        detail: error.to_string(),
    })?
    .map_err(|error| ExportError::File {
        path: shown,
        detail: error.to_string(),
    })?;
    if now_len < committed {
        sqlx::query("UPDATE export_sink SET file_bytes = $2 WHERE sink = $1")
            .bind(sink)
            .bind(i64::try_from(now_len).unwrap_or(0))
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

/// A collector that accepted the request but rejected some records: they cannot be sent
/// again with any hope (the specification says not to retry), so say so and go on.
fn report_partial_success(endpoint: &str, run_id: &str, answer: &[u8]) {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
    let Ok(response) = <ExportLogsServiceResponse as prost::Message>::decode(answer) else {
        return;
    };
    if let Some(partial) = response.partial_success
        && partial.rejected_log_records > 0
    {
        eprintln!(
            "mandate-server: the collector at {endpoint} rejected {} log record(s) of run \
             {run_id}: {}; they stay in the server's record (mandate record export \
             --format otel writes them again)",
            partial.rejected_log_records, partial.error_message
        );
    }
}

/// One run's batch as an OTLP `ExportLogsServiceRequest`.
pub fn otlp_request(
    ctx: &RunContext,
    entries: &[(u64, String, Value)],
) -> opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
    use mandate_record::otel::{self, AttributeValue};
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
    };
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    let any = |value: &AttributeValue| AnyValue {
        value: Some(match value {
            AttributeValue::Text(s) => any_value::Value::StringValue(s.clone()),
            AttributeValue::Int(i) => any_value::Value::IntValue(*i),
            AttributeValue::Bool(b) => any_value::Value::BoolValue(*b),
            AttributeValue::List(items) => any_value::Value::ArrayValue(ArrayValue {
                values: items
                    .iter()
                    .map(|s| AnyValue {
                        value: Some(any_value::Value::StringValue(s.clone())),
                    })
                    .collect(),
            }),
        }),
    };
    let attributes = |list: &[(String, AttributeValue)]| -> Vec<KeyValue> {
        list.iter()
            .map(|(key, value)| KeyValue {
                key: key.clone(),
                value: Some(any(value)),
                ..Default::default()
            })
            .collect()
    };
    let records = entries
        .iter()
        .map(|(index, line, value)| {
            let record = otel::log_record(ctx, *index, value, Some(line));
            LogRecord {
                time_unix_nano: record.time_unix_nano,
                observed_time_unix_nano: record.time_unix_nano,
                severity_number: record.severity_number,
                severity_text: record.severity_text.to_owned(),
                event_name: record.event_name,
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(record.body)),
                }),
                attributes: attributes(&record.attributes),
                ..Default::default()
            }
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: attributes(&otel::resource_attributes()),
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: otel::SCOPE.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn exports_as_typed() {
        assert_eq!(
            "otlp=http://c:4318".parse::<Sink>().unwrap(),
            Sink::Otlp("http://c:4318".into())
        );
        assert_eq!(
            "ocsf=/var/log/mandate.jsonl".parse::<Sink>().unwrap(),
            Sink::OcsfFile("/var/log/mandate.jsonl".into())
        );
        assert_eq!(
            "ocsf=https://siem/in".parse::<Sink>().unwrap(),
            Sink::OcsfHttp("https://siem/in".into())
        );
        assert!("otlp=/tmp/x".parse::<Sink>().is_err());
        assert!("splunk=x".parse::<Sink>().is_err());
    }

    #[test]
    fn otlp_goes_to_v1_logs_unless_a_path_is_given() {
        assert_eq!(
            Sink::otlp_endpoint("http://c:4318"),
            "http://c:4318/v1/logs"
        );
        assert_eq!(
            Sink::otlp_endpoint("http://c:4318/"),
            "http://c:4318/v1/logs"
        );
        assert_eq!(
            Sink::otlp_endpoint("https://c/otlp/v1/logs"),
            "https://c/otlp/v1/logs"
        );
    }
}
