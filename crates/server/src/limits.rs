//! Limits on requests, so that a caller without a token costs the server next to
//! nothing and one with a token cannot hold it up:
//!
//! - every request that carries a body to the API is refused before its body is read
//!   unless its token is good ([`sign_in_first`]);
//! - bodies have a limit by route: [`PUSH_BODY_LIMIT`] for a push of run entries,
//!   [`API_BODY_LIMIT`] for the rest of the API, [`PAGE_BODY_LIMIT`] for the pages'
//!   forms (the sign-in form is the one body anyone may send);
//! - a request that has not been answered within [`REQUEST_TIMEOUT`] (a body sent one
//!   byte at a time, say) gets 408 and its connection is closed.
//!
//! Connections have their own limits in [`crate::listen`].

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::auth::caller;

/// The largest push of run entries.
pub const PUSH_BODY_LIMIT: usize = 64 * 1024 * 1024;
/// The largest body any other API request may send.
pub const API_BODY_LIMIT: usize = 1024 * 1024;
/// The largest form a page may post.
pub const PAGE_BODY_LIMIT: usize = 64 * 1024;
/// The longest a request may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Answer 408 to a request that takes longer than [`REQUEST_TIMEOUT`].
pub async fn deadline(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [(axum::http::header::CONNECTION, "close")],
            axum::Json(json!({"error": format!(
                "the request took longer than {} s and was dropped",
                REQUEST_TIMEOUT.as_secs()
            )})),
        )
            .into_response(),
    }
}

/// Check the token of an API request that carries a body before reading the body.
pub async fn sign_in_first(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let reads_only = matches!(*request.method(), Method::GET | Method::HEAD);
    if !reads_only
        && request.uri().path().starts_with("/api/")
        && let Err(error) = caller(&state.db, request.headers()).await
    {
        return (
            error.status(),
            [(axum::http::header::CONNECTION, "close")],
            axum::Json(json!({"error": error.to_string()})),
        )
            .into_response();
    }
    next.run(request).await
}
