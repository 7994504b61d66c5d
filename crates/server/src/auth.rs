//! Who is calling: API tokens, roles, project scopes, and web sessions.
//!
//! A token is `mdt_` and 32 random bytes in hex. Only its SHA-256 is stored: the token
//! has 256 bits of entropy, so a plain hash is enough to make a stolen database useless
//! for signing in (no salt or slow hash needed; those protect low-entropy passwords).
//! Its public id, for listing and revoking, is the first 16 hex digits of that hash.
//! A token belongs to one e-mail address (normalised, so one person is one principal),
//! has one role, is scoped to projects, and may expire.
//!
//! The web pages take a token once at sign-in and open a short session for it: the
//! cookie carries a random session id, never the token, and ends after
//! [`SESSION_SECONDS`], at sign-out, or when the token is revoked. The JSON API takes
//! only `Authorization: Bearer`, never the cookie.
//!
//! Nothing anonymous reads or writes: every route but `/healthz` and the sign-in page
//! needs a token.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use sha2::{Digest, Sha256};
use sqlx::Row as _;

use crate::retention::rfc3339;
use crate::{Db, ServerError, hex, now};

/// The cookie that carries a signed-in browser's session id.
pub const COOKIE_NAME: &str = "mandate_session";

/// How long a web session lasts.
pub const SESSION_SECONDS: u64 = 8 * 3600;

/// How often a token's last-used time is written (it is read on every request).
const LAST_USED_EVERY_SECONDS: u64 = 60;

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

/// The projects a token may act in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Projects(Vec<String>),
}

impl Scope {
    pub fn covers(&self, project: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Projects(list) => list.iter().any(|p| p == project),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, Scope::All)
    }

    fn parse(stored: Option<&str>) -> Scope {
        let list: Vec<String> = stored
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        if list.iter().any(|p| p == "*") {
            Scope::All
        } else {
            Scope::Projects(list)
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Scope::All => "every project".to_string(),
            Scope::Projects(list) if list.is_empty() => "no project".to_string(),
            Scope::Projects(list) => list.join(", "),
        }
    }
}

/// How a caller signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer`.
    Token,
    /// A web session cookie.
    Session,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub email: String,
    pub role: Role,
    pub scope: Scope,
    /// The token's public id.
    pub token_id: String,
    pub via: Via,
}

impl Caller {
    /// Push run records (their own, in projects they delegate in).
    pub fn may_push(&self) -> bool {
        matches!(self.role, Role::Developer | Role::Admin)
    }

    /// Record reviews and decide approvals.
    pub fn may_review(&self) -> bool {
        matches!(self.role, Role::Reviewer | Role::Admin)
    }

    /// Pull the kill switch, edit the registry (the kill switch also needs the team
    /// policy's `kill_switch` list).
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

/// One person, one principal: e-mail addresses are trimmed and lower-cased.
pub fn normalise_email(email: &str) -> Result<String, ServerError> {
    let email = email.trim().to_lowercase();
    let well_formed = !email.is_empty()
        && !email.contains(char::is_whitespace)
        && email.split('@').count() == 2
        && !email.starts_with('@')
        && !email.ends_with('@')
        && email.len() <= 254;
    if well_formed {
        Ok(email)
    } else {
        Err(ServerError::BadRequest(format!(
            "`{email}` is not an e-mail address"
        )))
    }
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A token's public id: the start of its hash.
pub fn token_id(hash: &str) -> String {
    hash.chars().take(16).collect()
}

/// `90d`, `12h`, `30m`: how long a token lives.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: use e.g. 90d, 12h or 30m"))?;
    let seconds = match unit {
        "d" => n * 86_400,
        "h" => n * 3600,
        "m" => n * 60,
        _ => {
            return Err(format!(
                "`{text}` is not a duration: use e.g. 90d, 12h or 30m"
            ));
        }
    };
    if seconds == 0 {
        return Err("a token must live longer than 0".to_string());
    }
    Ok(Duration::from_secs(seconds))
}

/// What a new token is for.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub email: String,
    pub role: Role,
    /// Project names, or `*` for every project (admins always have every project).
    pub projects: Vec<String>,
    pub expires: Option<Duration>,
}

/// Create a token; returns the token, which is shown once, and its id.
pub async fn create_token(db: &Db, new: &NewToken) -> Result<(String, String), ServerError> {
    let email = normalise_email(&new.email)?;
    let mut projects: Vec<String> = new
        .projects
        .iter()
        .flat_map(|p| p.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    if new.role == Role::Admin {
        projects = vec!["*".to_string()];
    }
    if projects.is_empty() {
        return Err(ServerError::BadRequest(format!(
            "a {} token is scoped to projects: name them with --project NAME (the `project` \
             of [records] in mandate.toml), or --project '*' for every project",
            new.role
        )));
    }
    for project in &projects {
        if project != "*" && !crate::team::valid_project(project) {
            return Err(ServerError::BadRequest(format!(
                "`{project}` is not a project name"
            )));
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| ServerError::Internal(format!("no randomness: {error}")))?;
    let token = format!("mdt_{}", hex(&bytes));
    let hash = token_hash(&token);
    let expires_at = new.expires.map(|ttl| rfc3339(SystemTime::now() + ttl));
    sqlx::query(
        "INSERT INTO tokens (hash, email, role, created_at, projects, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&hash)
    .bind(&email)
    .bind(new.role.as_str())
    .bind(now())
    .bind(serde_json::to_string(&projects).unwrap_or_default())
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok((token, token_id(&hash)))
}

/// One token as listed: never the token itself.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub email: String,
    pub role: String,
    pub projects: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

/// Tokens, newest first: every token (`email` `None`) or one person's.
pub async fn list_tokens(db: &Db, email: Option<&str>) -> Result<Vec<TokenInfo>, ServerError> {
    let email = match email {
        Some(e) => normalise_email(e)?,
        None => String::new(),
    };
    let rows = sqlx::query(
        "SELECT hash, email, role, projects, created_at, expires_at, last_used_at, revoked \
         FROM tokens WHERE ($1 = '' OR email = $1) ORDER BY created_at DESC LIMIT 1000",
    )
    .bind(&email)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let hash: String = row.try_get(0)?;
        let projects: Option<String> = row.try_get(3)?;
        out.push(TokenInfo {
            id: token_id(&hash),
            email: row.try_get(1)?,
            role: row.try_get(2)?,
            projects: projects
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default(),
            created_at: row.try_get(4)?,
            expires_at: row.try_get(5)?,
            last_used_at: row.try_get(6)?,
            revoked: row.try_get::<i64, _>(7)? != 0,
        });
    }
    Ok(out)
}

/// Revoke every token of `email`; returns how many were live.
pub async fn revoke(db: &Db, email: &str) -> Result<u64, ServerError> {
    let email = normalise_email(email)?;
    Ok(
        sqlx::query("UPDATE tokens SET revoked = 1 WHERE email = $1 AND revoked = 0")
            .bind(email)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}

/// Revoke one token by its id. `owner`, when given, must be the token's user.
pub async fn revoke_id(db: &Db, id: &str, owner: Option<&str>) -> Result<TokenInfo, ServerError> {
    let info = find_id(db, id).await?;
    if let Some(owner) = owner
        && owner != info.email
    {
        return Err(ServerError::Forbidden(format!(
            "token {id} is not {owner}'s: only its user or an admin revokes it"
        )));
    }
    sqlx::query("UPDATE tokens SET revoked = 1 WHERE hash LIKE $1")
        .bind(format!("{}%", info.id))
        .execute(&db.pool)
        .await?;
    Ok(TokenInfo {
        revoked: true,
        ..info
    })
}

/// The token whose id is `id` (exactly one).
async fn find_id(db: &Db, id: &str) -> Result<TokenInfo, ServerError> {
    let id = id.trim();
    if id.len() != 16 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ServerError::BadRequest(format!(
            "`{id}` is not a token id (16 hex digits, as `token list` shows)"
        )));
    }
    let all = list_tokens(db, None).await?;
    all.into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ServerError::NotFound(format!("there is no token {id}")))
}

/// Rotate: a new token with the same user, role and projects (and `expires`, or the
/// old lifetime's length), and the old one revoked. `owner` as for [`revoke_id`].
pub async fn rotate(
    db: &Db,
    id: &str,
    owner: Option<&str>,
    expires: Option<Duration>,
) -> Result<(String, String), ServerError> {
    let old = revoke_id(db, id, owner).await?;
    let role: Role = old.role.parse().map_err(ServerError::Internal)?;
    create_token(
        db,
        &NewToken {
            email: old.email,
            role,
            projects: old.projects,
            expires,
        },
    )
    .await
}

/// Look a token up (not revoked, not expired), and note that it was used.
pub async fn lookup(db: &Db, token: &str) -> Result<Option<Caller>, ServerError> {
    lookup_hash(db, &token_hash(token), Via::Token).await
}

async fn lookup_hash(db: &Db, hash: &str, via: Via) -> Result<Option<Caller>, ServerError> {
    let row = sqlx::query(
        "SELECT email, role, projects, expires_at, last_used_at FROM tokens \
         WHERE hash = $1 AND revoked = 0",
    )
    .bind(hash)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let email: String = row.try_get(0)?;
    let role: String = row.try_get(1)?;
    let projects: Option<String> = row.try_get(2)?;
    let expires_at: Option<String> = row.try_get(3)?;
    let last_used: Option<String> = row.try_get(4)?;
    let now_text = now();
    if expires_at
        .as_deref()
        .is_some_and(|e| e <= now_text.as_str())
    {
        return Ok(None);
    }
    let stale = rfc3339(SystemTime::now() - Duration::from_secs(LAST_USED_EVERY_SECONDS));
    if last_used.as_deref().is_none_or(|l| l < stale.as_str()) {
        sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE hash = $1")
            .bind(hash)
            .bind(&now_text)
            .execute(&db.pool)
            .await?;
    }
    let role: Role = role.parse().map_err(ServerError::Internal)?;
    Ok(Some(Caller {
        email,
        role,
        scope: if role == Role::Admin {
            Scope::All
        } else {
            Scope::parse(projects.as_deref())
        },
        token_id: token_id(hash),
        via,
    }))
}

/// Open a web session for a good token; returns the session id for the cookie.
pub async fn open_session(db: &Db, token: &str) -> Result<Option<(String, Caller)>, ServerError> {
    let Some(who) = lookup(db, token).await? else {
        return Ok(None);
    };
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| ServerError::Internal(format!("no randomness: {error}")))?;
    let session = format!("mds_{}", hex(&bytes));
    sqlx::query(
        "INSERT INTO sessions (hash, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash(&session))
    .bind(token_hash(token))
    .bind(now())
    .bind(rfc3339(
        SystemTime::now() + Duration::from_secs(SESSION_SECONDS),
    ))
    .execute(&db.pool)
    .await?;
    Ok(Some((session, who)))
}

/// End a session (sign-out).
pub async fn close_session(db: &Db, session: &str) -> Result<(), ServerError> {
    sqlx::query("DELETE FROM sessions WHERE hash = $1 OR expires_at < $2")
        .bind(token_hash(session))
        .bind(now())
        .execute(&db.pool)
        .await?;
    Ok(())
}

async fn session_caller(db: &Db, session: &str) -> Result<Option<Caller>, ServerError> {
    let row = sqlx::query("SELECT token_hash, expires_at FROM sessions WHERE hash = $1")
        .bind(token_hash(session))
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let token: String = row.try_get(0)?;
    let expires: String = row.try_get(1)?;
    if expires <= now() {
        return Ok(None);
    }
    lookup_hash(db, &token, Via::Session).await
}

/// The bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    Some(value.strip_prefix("Bearer ")?.trim().to_string())
}

/// The session id a browser's cookie carries.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE_NAME && !value.is_empty()).then(|| value.to_string())
        })
}

/// The caller of an API request: `Authorization: Bearer` only.
pub async fn caller(db: &Db, headers: &HeaderMap) -> Result<Caller, ServerError> {
    let Some(token) = bearer(headers) else {
        return Err(ServerError::Unauthenticated);
    };
    lookup(db, &token)
        .await?
        .ok_or(ServerError::Unauthenticated)
}

/// The caller of a page: the session cookie, else a bearer token.
pub async fn page_caller(db: &Db, headers: &HeaderMap) -> Result<Caller, ServerError> {
    if let Some(session) = session_cookie(headers)
        && let Some(who) = session_caller(db, &session).await?
    {
        return Ok(who);
    }
    caller(db, headers).await
}
