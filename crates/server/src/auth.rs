//! Who is calling: API tokens, roles, and the web sign-in cookie.
//!
//! A token is `mdt_` and 32 random bytes in hex. Only its SHA-256 is stored: the token
//! has 256 bits of entropy, so a plain hash is enough to make a stolen database useless
//! for signing in (no salt or slow hash needed; those protect low-entropy passwords).
//! The web pages take the same token once and keep it in an `HttpOnly`, `SameSite=Strict`
//! cookie, which also keeps other sites from posting forms as the user.
//!
//! Nothing anonymous reads or writes: every route but `/healthz` and the sign-in page
//! needs a token.

use std::fmt;
use std::str::FromStr;

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use sha2::{Digest, Sha256};
use sqlx::Row as _;

use crate::{Db, ServerError, hex, now};

/// The cookie that carries a signed-in browser's token.
pub const COOKIE_NAME: &str = "mandate_token";

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Pushes the records of their own runs.
    Developer,
    /// Reviews runs and decides approval requests they are named on.
    Reviewer,
    /// Pulls the kill switch and keeps the registry.
    Security,
    /// Everything.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Developer, Role::Reviewer, Role::Security, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Developer => "developer",
            Role::Reviewer => "reviewer",
            Role::Security => "security",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| {
                format!("unknown role `{text}`: use developer, reviewer, security or admin")
            })
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub email: String,
    pub role: Role,
}

impl Caller {
    /// Push run records (their own; an admin may push anyone's).
    pub fn may_push(&self) -> bool {
        matches!(self.role, Role::Developer | Role::Admin)
    }

    /// Record reviews and decide approvals.
    pub fn may_review(&self) -> bool {
        matches!(self.role, Role::Reviewer | Role::Admin)
    }

    /// Pull the kill switch, edit the registry.
    pub fn may_kill(&self) -> bool {
        matches!(self.role, Role::Security | Role::Admin)
    }

    pub fn require(&self, allowed: bool, what: &str) -> Result<(), ServerError> {
        if allowed {
            Ok(())
        } else {
            Err(ServerError::Forbidden(format!(
                "{} ({}) may not {what}",
                self.email, self.role
            )))
        }
    }
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Create a token for `email` with `role`; returns the token, which is shown once.
pub async fn create_token(db: &Db, email: &str, role: Role) -> Result<String, ServerError> {
    let email = email.trim();
    if email.is_empty() || email.contains(char::is_whitespace) || !email.contains('@') {
        return Err(ServerError::BadRequest(format!(
            "`{email}` is not an e-mail address"
        )));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| ServerError::Internal(format!("no randomness: {error}")))?;
    let token = format!("mdt_{}", hex(&bytes));
    sqlx::query("INSERT INTO tokens (hash, email, role, created_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash(&token))
        .bind(email)
        .bind(role.as_str())
        .bind(now())
        .execute(&db.pool)
        .await?;
    Ok(token)
}

/// Revoke every token of `email`; returns how many were live.
pub async fn revoke(db: &Db, email: &str) -> Result<u64, ServerError> {
    Ok(
        sqlx::query("UPDATE tokens SET revoked = 1 WHERE email = $1 AND revoked = 0")
            .bind(email.trim())
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}

/// Look a token up.
pub async fn lookup(db: &Db, token: &str) -> Result<Option<Caller>, ServerError> {
    let row = sqlx::query("SELECT email, role FROM tokens WHERE hash = $1 AND revoked = 0")
        .bind(token_hash(token))
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let email: String = row.try_get(0)?;
    let role: String = row.try_get(1)?;
    let role = role.parse().map_err(ServerError::Internal)?;
    Ok(Some(Caller { email, role }))
}

/// The token a request carries: `Authorization: Bearer …`, else the sign-in cookie.
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(token) = value.strip_prefix("Bearer ")
    {
        return Some(token.trim().to_string());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE_NAME).then(|| value.to_string())
        })
}

/// The caller of a request, or `Unauthenticated`.
pub async fn caller(db: &Db, headers: &HeaderMap) -> Result<Caller, ServerError> {
    let Some(token) = presented_token(headers) else {
        return Err(ServerError::Unauthenticated);
    };
    lookup(db, &token)
        .await?
        .ok_or(ServerError::Unauthenticated)
}
