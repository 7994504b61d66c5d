//! The team server: run records from every developer, reviewers' approvals, the
//! registry and kill switch, and the dashboards, over HTTP.
//!
//! This is the only crate with async code and a database. The hook never links it: the
//! `mandate` binary starts the separate `mandate-server` binary for `mandate serve`, and
//! talks to a running server through a few blocking HTTP calls in `mandate-project`'s
//! `remote` module.
//!
//! - [`db`]: SQLite (the zero-configuration default) or PostgreSQL, one schema.
//! - [`auth`]: API tokens (stored as SHA-256; roles, project scopes, expiry), web sessions.
//! - [`team`]: the team policy kept here: projects, delegators, reviewer groups,
//!   kill-switch holders; who reads which runs.
//! - [`audit`]: the append-only, hash-chained log of administrative actions.
//! - [`ingest`]: run-record entries pushed by developers' machines, checked entry by entry
//!   (index, chain, RFC 6962 leaf hash) and checkpoint by checkpoint (Ed25519 signature
//!   by the key pinned at the first push, Merkle root); forks are refused.
//! - [`api`]: the JSON API; [`pages`]: the server-rendered pages.
//! - [`report`]: metrics and readiness over every machine's records, computed by
//!   `mandate_report` as the CLI computes them.
//! - [`events`]: `why`, `touched` and the event search over every pushed record (API and
//!   the `/events` page), from an events table filled at ingest.
//! - [`retention`]: the job that removes runs older than `records.retention_days`.
//! - [`export`]: every entry sent on as OCSF or OpenTelemetry logs (`--export`);
//!   [`webhook`]: approvals requested and kill-switch changes posted to a chat (`--webhook`).
//!
//! No state lives in the process: every request reads the database, so several
//! processes can serve one PostgreSQL database behind a load balancer.

pub mod api;
pub mod audit;
pub mod auth;
pub mod db;
pub mod events;
pub mod export;
mod html;
pub mod ingest;
pub mod limits;
pub mod listen;
pub mod pages;
pub mod report;
pub mod retention;
pub mod runs;
pub mod team;
pub mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use auth::{Caller, Role, Scope};
pub use db::{Backend, Db};

/// What a server process is started with.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    /// Runs whose last entry is older than this many days are removed; `None` keeps all.
    pub retention_days: Option<u32>,
    /// How often the retention job runs.
    pub retention_every: Duration,
    /// Serve HTTPS with this certificate chain and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Requests per second one token may send, sustained (bursts of
    /// [`limits::RATE_BURST_SECONDS`] times as many); 0 turns the limit off.
    pub rate_limit: u32,
    /// Where every entry is sent as it arrives (`--export`).
    pub exports: Vec<export::Sink>,
    /// Where approvals requested and kill-switch changes are posted (`--webhook`).
    pub webhook: Option<String>,
    /// Headers for the exports' and the webhook's receivers (`--export-header`).
    pub export_headers: Vec<export::ExportHeader>,
}

/// Shared by every request: the pool, whether the server speaks TLS, and the per-token
/// rate limiter.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub tls: bool,
    pub limiter: std::sync::Arc<limits::RateLimiter>,
    /// The organisation's counts, computed by one request at a time and kept for
    /// [`api::METRICS_FRESH_FOR`], so readers of `/metrics` and `/readiness` cannot keep
    /// the database busy.
    pub metrics: std::sync::Arc<
        tokio::sync::Mutex<Option<(std::time::Instant, mandate_report::metrics::Metrics)>>,
    >,
}

/// Everything a request can fail with; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("sign in first: send `Authorization: Bearer TOKEN` (see `mandate token create`)")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The request contradicts what is stored (a fork, a gap, a different key).
    #[error("{message}")]
    Conflict { message: String, have: Option<u64> },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Internal(String),
}

impl ServerError {
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServerError::Conflict { .. } => StatusCode::CONFLICT,
            ServerError::Database(_) | ServerError::Config(_) | ServerError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let body = match &self {
            ServerError::Conflict {
                have: Some(have), ..
            } => json!({"error": self.to_string(), "have": have}),
            _ => json!({"error": self.to_string()}),
        };
        (self.status(), axum::Json(body)).into_response()
    }
}

/// The whole application: API and pages, under the limits of [`limits`].
pub fn router(state: AppState) -> Router {
    use axum::extract::DefaultBodyLimit;
    api::routes()
        .layer(DefaultBodyLimit::max(limits::API_BODY_LIMIT))
        .merge(pages::routes().layer(DefaultBodyLimit::max(limits::PAGE_BODY_LIMIT)))
        .merge(events::routes().layer(DefaultBodyLimit::max(limits::PAGE_BODY_LIMIT)))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::sign_in_first,
        ))
        .layer(axum::middleware::from_fn(limits::same_origin))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::security_headers,
        ))
        .layer(axum::middleware::from_fn(limits::deadline))
        .with_state(state)
}

/// Serve until SIGINT or SIGTERM. The retention job runs in the background.
pub async fn serve(config: Config) -> Result<(), ServerError> {
    // Read the certificate before anything else: a bad one stops the server at once.
    let tls = match &config.tls {
        Some((cert, key)) => Some(listen::tls_acceptor(cert, key)?),
        None => None,
    };
    let db = Db::connect(&config.database_url).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| {
            ServerError::Config(format!("cannot listen on {}: {error}", config.listen))
        })?;
    let local = listener
        .local_addr()
        .map_err(|error| ServerError::Internal(error.to_string()))?;
    // The line tests and scripts wait for: the address actually bound (port 0 works).
    println!(
        "mandate-server listening on {}://{local}",
        if tls.is_some() { "https" } else { "http" }
    );
    // Records stored before the events table existed are indexed in the background.
    tokio::spawn(events::backfill(db.clone()));
    if let Some(days) = config.retention_days {
        tokio::spawn(retention::job(db.clone(), days, config.retention_every));
    }
    export::start(&db, &config.exports, &config.export_headers)?;
    if let Some(url) = &config.webhook {
        webhook::start(&db, url, &config.export_headers)?;
    }
    let app = router(AppState {
        db,
        tls: tls.is_some(),
        limiter: std::sync::Arc::new(limits::RateLimiter::new(config.rate_limit)),
        metrics: std::sync::Arc::new(tokio::sync::Mutex::new(None)),
    });
    listen::run(listener, app, tls, shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The current time, RFC 3339 UTC.
pub(crate) fn now() -> String {
    mandate_record::now_rfc3339()
}

/// A random identifier: `prefix` and 16 bytes of hex.
pub(crate) fn random_id(prefix: &str) -> Result<String, ServerError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|error| ServerError::Internal(format!("no randomness: {error}")))?;
    Ok(format!("{prefix}{}", hex(&bytes)))
}
