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
//! - a request that changes anything and comes from a browser must come from this
//!   server's own pages: its `Origin` (or, without one, its `Referer`) names this host,
//!   and a request signed in by the session cookie must carry one of them
//!   ([`same_origin`]); `SameSite` alone lets a page on a sibling port or subdomain
//!   post as the user;
//! - every answer carries the standard security headers ([`security_headers`]);
//! - one token sends at most `--rate-limit` requests per second, sustained, to one
//!   process, with bursts of [`RATE_BURST_SECONDS`] worth ([`rate_limit`]); past that it
//!   gets 429 and `Retry-After`. Hooks ask at most every 2 s and push in batches, so
//!   only a runaway or hostile client meets the limit.
//!
//! Connections have their own limits in [`crate::listen`].

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::auth::{bearer, caller, session_cookie};

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

/// Whether `source` (an `Origin` or `Referer` value) is this server, as the request's
/// `Host` names it (host and port; either scheme, so a proxy that ends TLS in front of
/// the server works).
fn same_host(source: &str, host: &str) -> bool {
    let Some(rest) = source
        .strip_prefix("https://")
        .or_else(|| source.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && authority.eq_ignore_ascii_case(host)
}

/// Refuse a state-changing request from another origin: a browser sends `Origin` with
/// every POST, so a form or `fetch` on any other page (another port or subdomain, which
/// `SameSite` lets through) is refused, and so is one signed in by the session cookie
/// that names no origin at all. Bearer-token clients (the hook, `mandate push`) send no
/// `Origin` and carry no ambient credential, so they pass.
pub async fn same_origin(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let text = |name: axum::http::header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let host = text(axum::http::header::HOST).unwrap_or_default();
    let origin = text(axum::http::header::ORIGIN).filter(|o| o != "null");
    let referer = text(axum::http::header::REFERER);
    let cookie_only = session_cookie(headers).is_some() && bearer(headers).is_none();
    let foreign = match (&origin, &referer) {
        (Some(origin), _) => !same_host(origin, &host),
        (None, Some(referer)) => !same_host(referer, &host),
        // No origin at all: fine for a bearer client, not for a browser's cookie (and
        // an opaque `Origin: null` is treated as none).
        (None, None) => cookie_only || headers.get(axum::http::header::ORIGIN).is_some(),
    };
    if foreign {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": format!(
                "refused: this request to change something came from {}, not from this \
                 server's own pages ({host}); open the page on this server and submit it there",
                origin.or(referer).unwrap_or_else(|| "a page that named no origin".to_string())
            )})),
        )
            .into_response();
    }
    next.run(request).await
}

/// The standard security headers on every answer: no sniffing, no framing, no scripts,
/// forms only to this server, nothing cached (pages show prompts and commands), and HSTS
/// over TLS.
pub async fn security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    use axum::http::HeaderValue;
    use axum::http::header;
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if state.tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// A burst may hold this many seconds' worth of requests.
pub const RATE_BURST_SECONDS: f64 = 10.0;

/// Buckets kept at most; past that, full (idle) ones are dropped.
const MAX_BUCKETS: usize = 10_000;

/// A token bucket per presented bearer token (keyed by its hash, so no token is held in
/// memory). Per process: several processes behind a balancer each allow the rate.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    buckets: std::sync::Mutex<std::collections::HashMap<String, (f64, std::time::Instant)>>,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second),
            buckets: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Take one request from `key`'s bucket; `Err(seconds to wait)` when it is empty.
    pub fn take(&self, key: &str) -> Result<(), u64> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let burst = self.per_second * RATE_BURST_SECONDS;
        let now = std::time::Instant::now();
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let per_second = self.per_second;
            buckets.retain(|_, (level, at)| {
                *level + now.duration_since(*at).as_secs_f64() * per_second < burst
            });
        }
        let (level, at) = buckets.entry(key.to_string()).or_insert((burst, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * self.per_second).min(burst);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *level) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

/// Refuse a token's request past its rate with 429 and `Retry-After`.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(token) = bearer(request.headers())
        && let Err(wait) = state.limiter.take(&crate::auth::token_hash(&token))
    {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, wait.to_string())],
            axum::Json(json!({"error": format!(
                "this token sent more requests than the server takes ({} a second, in bursts \
                 of {} s); wait {wait} s and send fewer",
                state.limiter.per_second, RATE_BURST_SECONDS
            )})),
        )
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_burst_then_waits() {
        let limiter = RateLimiter::new(2);
        for _ in 0..20 {
            assert_eq!(limiter.take("a"), Ok(()));
        }
        assert!(limiter.take("a").is_err(), "past the burst");
        assert_eq!(
            limiter.take("b"),
            Ok(()),
            "another token has its own bucket"
        );
        assert_eq!(RateLimiter::new(0).take("a"), Ok(()), "0 is off");
    }
}
