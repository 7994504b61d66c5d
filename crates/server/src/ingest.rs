//! Run-record entries pushed by developers' machines.
//!
//! The developer's local log stays the source of truth; the server keeps a copy it has
//! checked itself, so a reviewer does not have to trust the pusher's word:
//!
//! - who pushes is the token's user, and only into their own runs: the run's delegator is
//!   that user, whatever its entries say. A run belongs to the project its push names
//!   (`[records] project` in mandate.toml); the team policy must list the user as a
//!   delegator of that project, and the token must be scoped to it;
//! - the machine key is enrolled for the user and project at their first push; a push
//!   signed by another key is refused until an admin enrols it;
//! - the first push of a run pins its signer: the C2SP verifier key of the machine that
//!   recorded it. Every later checkpoint must be signed by that key;
//! - entries arrive in order, each as its exact stored line. Entry *n* must say `"i": n`,
//!   entry 0 must be the genesis entry naming the run, and entry *n*'s `prev` must be the
//!   RFC 6962 leaf hash of entry *n − 1*. A gap is refused with the count the server
//!   has, so the pusher resends from there;
//! - ingestion is idempotent by (run, index): the same line again is a duplicate and
//!   costs nothing; a *different* line at a stored index is a fork and the whole push is
//!   refused;
//! - a checkpoint must parse as a signed note, verify under the pinned key, cover no more
//!   entries than are stored, and carry the Merkle root of the stored prefix. Two
//!   checkpoints of one size with different roots are a fork.
//!
//! Pushes of one run are serialised by a row lock on the run (PostgreSQL) or the write
//! lock (SQLite), so two server processes may take pushes of the same run at once.

use std::collections::HashMap;

use mandate_record::checkpoint::{Checkpoint, parse_verifier_key};
use mandate_record::merkle::{self, Hash};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Any, Row as _, Transaction};

use crate::team::TeamPolicy;
use crate::{Caller, Db, ServerError, audit, hex, now};

/// The most entries one push may carry.
pub const MAX_BATCH: usize = 5000;

/// One push: entries from index `from` on, and checkpoints.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Push {
    /// The recorder's verifier key string (`<name>+<key id>+<base64 key>`).
    pub key: String,
    /// The index of the first entry in `entries`.
    #[serde(default)]
    pub from: u64,
    /// Exact stored lines, without their newline.
    #[serde(default)]
    pub entries: Vec<String>,
    /// Signed notes, as stored in `checkpoints/<size>`.
    #[serde(default)]
    pub checkpoints: Vec<String>,
    /// The project the run belongs to (`[records] project` in mandate.toml); needed for
    /// a run's first push, and must agree after.
    #[serde(default)]
    pub project: Option<String>,
}

/// What the server holds after a push.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Receipt {
    pub run_id: String,
    /// Entries stored for the run: the next push starts here.
    pub have: u64,
    pub accepted: u64,
    pub duplicates: u64,
    /// Entries covered by the largest verified checkpoint.
    pub sealed: u64,
    /// Sizes of the stored checkpoints.
    pub checkpoints: Vec<u64>,
}

/// A run id names a directory on the pusher's machine; keep it to a safe alphabet.
pub fn valid_run_id(run_id: &str) -> bool {
    !run_id.is_empty()
        && run_id.len() <= 200
        && !run_id.starts_with('.')
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

struct Parsed {
    index: u64,
    line: String,
    leaf: Hash,
    value: Value,
}

/// Take one push. All or nothing: a refused push changes nothing.
pub async fn ingest(
    db: &Db,
    caller: &Caller,
    run_id: &str,
    push: Push,
) -> Result<Receipt, ServerError> {
    caller.require(caller.may_push(), "push run records")?;
    if !valid_run_id(run_id) {
        return Err(ServerError::BadRequest(format!(
            "`{run_id}` is not a run id (letters, digits, `-`, `_`, `.`)"
        )));
    }
    if push.entries.len() > MAX_BATCH {
        return Err(ServerError::BadRequest(format!(
            "a push carries at most {MAX_BATCH} entries; this one has {}",
            push.entries.len()
        )));
    }
    let (key_name, key) = parse_verifier_key(&push.key)
        .map_err(|error| ServerError::BadRequest(error.to_string()))?;

    // Check what can be checked without the database first.
    let mut parsed = Vec::with_capacity(push.entries.len());
    for (offset, line) in push.entries.into_iter().enumerate() {
        let index = push.from + offset as u64;
        let value: Value = serde_json::from_str(&line).map_err(|error| {
            ServerError::BadRequest(format!("entry {index} is not JSON: {error}"))
        })?;
        if value.get("i").and_then(Value::as_u64) != Some(index) {
            return Err(ServerError::BadRequest(format!(
                "entry {index} does not say `\"i\": {index}`"
            )));
        }
        if index == 0 {
            let genesis = value.get("type").and_then(Value::as_str) == Some("record.create")
                && value.get("run_id").and_then(Value::as_str) == Some(run_id);
            if !genesis {
                return Err(ServerError::BadRequest(format!(
                    "entry 0 is not the genesis entry of run `{run_id}`"
                )));
            }
        }
        let leaf = merkle::leaf_hash(line.as_bytes());
        parsed.push(Parsed {
            index,
            line,
            leaf,
            value,
        });
    }
    let mut notes = Vec::with_capacity(push.checkpoints.len());
    for note in &push.checkpoints {
        let checkpoint = Checkpoint::parse(note)
            .map_err(|error| ServerError::BadRequest(format!("a checkpoint: {error}")))?;
        if checkpoint.origin != key_name {
            return Err(ServerError::BadRequest(format!(
                "the checkpoint's origin `{}` is not the key's name `{key_name}`",
                checkpoint.origin
            )));
        }
        checkpoint.verify(&key).map_err(|error| {
            ServerError::BadRequest(format!(
                "the checkpoint of size {} does not verify: {error}",
                checkpoint.size
            ))
        })?;
        notes.push(checkpoint);
    }

    let pushed_project = push
        .project
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    if let Some(project) = pushed_project
        && !crate::team::valid_project(project)
    {
        return Err(ServerError::BadRequest(format!(
            "`{project}` is not a project name (letters, digits, `-`, `_`, `.`, `/`)"
        )));
    }
    let policy = crate::team::current(db).await?.policy;
    let mut tx = db.pool.begin().await?;
    let received = now();
    // Create the run on its first push, then lock its row: on PostgreSQL the UPDATE
    // takes a row lock, on SQLite it takes the write lock before anything is read. The
    // delegator is the token's user, never what the entries claim.
    sqlx::query(
        "INSERT INTO runs (run_id, owner, signer, received_at, project, delegated_by) \
         VALUES ($1, $2, $3, $4, $5, $2) ON CONFLICT (run_id) DO NOTHING",
    )
    .bind(run_id)
    .bind(&caller.email)
    .bind(&push.key)
    .bind(&received)
    .bind(pushed_project)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE runs SET last_received_at = $2 WHERE run_id = $1")
        .bind(run_id)
        .bind(&received)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query("SELECT owner, signer, entries, project FROM runs WHERE run_id = $1")
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await?;
    let owner: String = row.try_get(0)?;
    let signer: String = row.try_get(1)?;
    let have = u64::try_from(row.try_get::<i64, _>(2)?).unwrap_or(0);
    let project: Option<String> = row.try_get(3)?;
    if owner != caller.email {
        return Err(ServerError::Forbidden(format!(
            "run `{run_id}` was pushed by {owner}; {} may push only their own runs",
            caller.email
        )));
    }
    let Some(project) = project else {
        return Err(ServerError::BadRequest(format!(
            "run `{run_id}` names no project: set `project = \"NAME\"` under [records] in the \
             repository's mandate.toml (the name the team policy uses), then push again"
        )));
    };
    if let Some(pushed) = pushed_project
        && pushed != project
    {
        return Err(ServerError::Conflict {
            message: format!(
                "run `{run_id}` belongs to project `{project}`; this push names `{pushed}`"
            ),
            have: Some(have),
        });
    }
    may_delegate(caller, &policy, &project)?;
    if signer != push.key {
        return Err(ServerError::Conflict {
            message: format!(
                "run `{run_id}` is signed by `{signer}`; this push names another key, so it \
                 is refused"
            ),
            have: Some(have),
        });
    }
    enrolled_or_first(&mut tx, caller, &project, &push.key).await?;
    if push.from > have {
        return Err(ServerError::Conflict {
            message: format!(
                "the server holds {have} entries of run `{run_id}`; send from entry {have}"
            ),
            have: Some(have),
        });
    }

    // Stored leaves the batch must agree with: the overlap, and the predecessor.
    let first_needed = push.from.saturating_sub(1);
    let last_stored = have.min(push.from + parsed.len() as u64).max(push.from);
    let stored = leaves_between(&mut tx, run_id, first_needed, last_stored).await?;
    let mut previous: Option<Hash> = if push.from == 0 {
        None
    } else {
        stored.get(&(push.from - 1)).copied()
    };
    let mut fresh = Vec::new();
    let mut duplicates = 0u64;
    for entry in &parsed {
        if entry.index > 0 {
            let want = previous.map(|h| hex(&h));
            let prev = entry.value.get("prev").and_then(Value::as_str);
            if want.as_deref() != prev {
                return Err(ServerError::Conflict {
                    message: format!(
                        "entry {} of run `{run_id}` does not chain to entry {}: its `prev` is \
                         not that entry's leaf hash",
                        entry.index,
                        entry.index - 1
                    ),
                    have: Some(have),
                });
            }
        }
        match stored.get(&entry.index) {
            Some(leaf) if *leaf == entry.leaf => duplicates += 1,
            Some(_) => {
                return Err(ServerError::Conflict {
                    message: format!(
                        "fork refused: the server holds a different entry {} for run `{run_id}`",
                        entry.index
                    ),
                    have: Some(have),
                });
            }
            None => fresh.push(entry),
        }
        previous = Some(entry.leaf);
    }
    insert_entries(&mut tx, run_id, &fresh).await?;
    let have_now = have + fresh.len() as u64;
    derive(&mut tx, run_id, &fresh, &policy, &project).await?;

    // Checkpoints, against the stored prefix.
    let mut leaves: Option<Vec<Hash>> = None;
    for checkpoint in &notes {
        if checkpoint.size > have_now {
            return Err(ServerError::Conflict {
                message: format!(
                    "the checkpoint covers {} entries; the server holds {have_now}",
                    checkpoint.size
                ),
                have: Some(have_now),
            });
        }
        if leaves.is_none() {
            leaves = Some(all_leaves(&mut tx, run_id).await?);
        }
        let prefix = leaves
            .as_deref()
            .and_then(|l| l.get(..usize::try_from(checkpoint.size).ok()?))
            .ok_or_else(|| ServerError::Internal("stored leaves are missing".into()))?;
        if merkle::root(prefix) != checkpoint.root {
            return Err(ServerError::Conflict {
                message: format!(
                    "the checkpoint of size {} does not match the stored entries: its root \
                     differs",
                    checkpoint.size
                ),
                have: Some(have_now),
            });
        }
        let existing = sqlx::query("SELECT root FROM checkpoints WHERE run_id = $1 AND size = $2")
            .bind(run_id)
            .bind(i64::try_from(checkpoint.size).unwrap_or(i64::MAX))
            .fetch_optional(&mut *tx)
            .await?;
        match existing {
            Some(row) => {
                let root: String = row.try_get(0)?;
                if root != hex(&checkpoint.root) {
                    return Err(ServerError::Conflict {
                        message: format!(
                            "fork refused: another checkpoint of size {} is stored",
                            checkpoint.size
                        ),
                        have: Some(have_now),
                    });
                }
            }
            None => {
                sqlx::query(
                    "INSERT INTO checkpoints (run_id, size, root, note, received_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(run_id)
                .bind(i64::try_from(checkpoint.size).unwrap_or(i64::MAX))
                .bind(hex(&checkpoint.root))
                .bind(&checkpoint.note)
                .bind(&received)
                .execute(&mut *tx)
                .await?;
            }
        }
    }

    // The summary moves by what this push added (pushes of a run are serialised, so
    // counting only the fresh entries is exact and does not rescan the run).
    let calls = fresh.iter().filter(|e| kind_of(e) == "tool.pre").count();
    let denials = fresh
        .iter()
        .filter(|e| {
            kind_of(e) == "tool.pre"
                && matches!(
                    e.value.get("decision").and_then(Value::as_str),
                    Some("deny" | "stop")
                )
        })
        .count();
    let started = fresh
        .iter()
        .find(|e| e.index == 0)
        .and_then(|e| e.value.get("time").and_then(Value::as_str));
    let last = fresh
        .iter()
        .filter_map(|e| e.value.get("time").and_then(Value::as_str))
        .max();
    sqlx::query(
        "UPDATE runs SET entries = $2, calls = calls + $3, denials = denials + $4, \
         started_at = COALESCE(started_at, $5), \
         last_at = CASE WHEN last_at IS NULL OR last_at < $6 THEN $6 ELSE last_at END, \
         sealed = (SELECT COALESCE(MAX(size), 0) FROM checkpoints WHERE run_id = $1) \
         WHERE run_id = $1",
    )
    .bind(run_id)
    .bind(i64::try_from(have_now).unwrap_or(i64::MAX))
    .bind(i64::try_from(calls).unwrap_or(0))
    .bind(i64::try_from(denials).unwrap_or(0))
    .bind(started)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    // The incident questions' rows, in the same transaction: what is stored is searchable.
    crate::events::catch_up(&mut tx, run_id).await?;
    let sizes = sqlx::query("SELECT size FROM checkpoints WHERE run_id = $1 ORDER BY size")
        .bind(run_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            row.try_get::<i64, _>(0)
                .map(|s| u64::try_from(s).unwrap_or(0))
        })
        .collect::<Result<Vec<u64>, _>>()?;
    tx.commit().await?;
    Ok(Receipt {
        run_id: run_id.to_string(),
        have: have_now,
        accepted: fresh.len() as u64,
        duplicates,
        sealed: sizes.last().copied().unwrap_or(0),
        checkpoints: sizes,
    })
}

async fn leaves_between(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    from: u64,
    to: u64,
) -> Result<HashMap<u64, Hash>, ServerError> {
    let mut out = HashMap::new();
    let rows =
        sqlx::query("SELECT idx, leaf FROM entries WHERE run_id = $1 AND idx >= $2 AND idx < $3")
            .bind(run_id)
            .bind(i64::try_from(from).unwrap_or(i64::MAX))
            .bind(i64::try_from(to).unwrap_or(i64::MAX))
            .fetch_all(&mut **tx)
            .await?;
    for row in rows {
        let idx: i64 = row.try_get(0)?;
        let leaf: String = row.try_get(1)?;
        out.insert(u64::try_from(idx).unwrap_or(0), parse_hash(&leaf)?);
    }
    Ok(out)
}

async fn all_leaves(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
) -> Result<Vec<Hash>, ServerError> {
    let rows = sqlx::query("SELECT leaf FROM entries WHERE run_id = $1 ORDER BY idx")
        .bind(run_id)
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|row| parse_hash(&row.try_get::<String, _>(0)?))
        .collect()
}

fn kind_of(entry: &Parsed) -> &str {
    entry
        .value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(crate) fn parse_hash(text: &str) -> Result<Hash, ServerError> {
    let bad = || ServerError::Internal(format!("a stored hash `{text}` is damaged"));
    if text.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = text.get(i * 2..i * 2 + 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Rows per INSERT statement (8 parameters each; well under both databases' limits).
const ROWS_PER_INSERT: usize = 200;

async fn insert_entries(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    entries: &[&Parsed],
) -> Result<(), ServerError> {
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO entries (run_id, idx, leaf, kind, time, tool, decision, body) VALUES ",
        );
        for n in 0..chunk.len() {
            let p = n * 8;
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7,
                p + 8
            ));
        }
        let mut query = sqlx::query(&sql);
        for entry in chunk {
            let text = |key: &str| {
                entry
                    .value
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            query = query
                .bind(run_id)
                .bind(i64::try_from(entry.index).unwrap_or(i64::MAX))
                .bind(hex(&entry.leaf))
                .bind(text("type").unwrap_or_default())
                .bind(text("time"))
                .bind(text("tool"))
                .bind(text("decision"))
                .bind(entry.line.as_str());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Only a delegator of the project, with a token scoped to it, pushes its runs.
fn may_delegate(caller: &Caller, policy: &TeamPolicy, project: &str) -> Result<(), ServerError> {
    if !caller.scope.covers(project) {
        return Err(ServerError::Forbidden(format!(
            "this token of {} is scoped to {}, not to project `{project}`",
            caller.email,
            caller.scope.describe()
        )));
    }
    let listed = policy
        .project(project)
        .is_some_and(|p| p.delegators.iter().any(|d| d == &caller.email));
    if !listed {
        return Err(ServerError::Forbidden(format!(
            "{} is not a delegator of project `{project}` in the team policy, so may not push \
             its runs; security or an admin adds them (POST /api/v1/policy)",
            caller.email
        )));
    }
    Ok(())
}

/// The key part of a verifier key string (`<name>+<id>+<base64 key>`).
/// A bare key (no `+`-separated name) is taken whole. Base64 may itself hold `+`, so
/// only the first two separators count.
fn key_blob(key: &str) -> &str {
    let key = key.trim();
    let mut parts = key.splitn(3, '+');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(blob)) => blob,
        _ => key,
    }
}

async fn enrolled_keys_of(
    tx: &mut Transaction<'static, Any>,
    email: &str,
    project: &str,
) -> Result<Vec<sqlx::any::AnyRow>, ServerError> {
    Ok(
        sqlx::query("SELECT key, revoked FROM signing_keys WHERE email = $1 AND project = $2")
            .bind(email)
            .bind(project)
            .fetch_all(&mut **tx)
            .await?,
    )
}

/// The machine key must be enrolled for the user and project; the first push of a user
/// in a project enrols the key it is signed with.
async fn enrolled_or_first(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
    project: &str,
    key: &str,
) -> Result<(), ServerError> {
    let blob = key_blob(key);
    let mut rows = enrolled_keys_of(tx, &caller.email, project).await?;
    if rows.is_empty() {
        // Two first pushes at once (two runs of one user): the audit log's head lock
        // orders them, and the second sees what the first enrolled.
        audit::lock_head(tx).await?;
        rows = enrolled_keys_of(tx, &caller.email, project).await?;
    }
    if rows.is_empty() {
        sqlx::query(
            "INSERT INTO signing_keys (email, project, key, enrolled_at, enrolled_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email, project, key) DO NOTHING",
        )
        .bind(&caller.email)
        .bind(project)
        .bind(blob)
        .bind(now())
        .bind(&caller.email)
        .execute(&mut **tx)
        .await?;
        audit::append_in(
            tx,
            &caller.email,
            "key.enroll",
            &format!("{}/{project}", caller.email),
            serde_json::json!({"key": blob, "how": "first push"}),
        )
        .await?;
        return Ok(());
    }
    for row in rows {
        let (stored, revoked): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if stored == blob && revoked == 0 {
            return Ok(());
        }
    }
    Err(ServerError::Forbidden(format!(
        "this machine's signing key ({blob}) is not enrolled for {} in project `{project}`: \
         an admin enrols it (POST /api/v1/keys) before its runs are taken",
        caller.email
    )))
}

/// Enrolled keys, for admins.
pub async fn enrolled_keys(db: &Db) -> Result<Vec<Value>, ServerError> {
    let rows = sqlx::query(
        "SELECT email, project, key, enrolled_at, enrolled_by, revoked FROM signing_keys \
         ORDER BY email, project, enrolled_at",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        out.push(serde_json::json!({
            "user": row.try_get::<String, _>(0)?,
            "project": row.try_get::<String, _>(1)?,
            "key": row.try_get::<String, _>(2)?,
            "enrolled_at": row.try_get::<String, _>(3)?,
            "enrolled_by": row.try_get::<String, _>(4)?,
            "revoked": row.try_get::<i64, _>(5)? != 0,
        }));
    }
    Ok(out)
}

/// An admin enrols a key for a user and project, or revokes one.
pub async fn set_key(
    db: &Db,
    who: &Caller,
    user: &str,
    project: &str,
    key: &str,
    revoke: bool,
) -> Result<(), ServerError> {
    let user = crate::auth::normalise_email(user)?;
    if !crate::team::valid_project(project) {
        return Err(ServerError::BadRequest(format!(
            "`{project}` is not a project name"
        )));
    }
    let blob = key_blob(key);
    if blob.is_empty() || blob.len() > 200 {
        return Err(ServerError::BadRequest("that is not a key".to_string()));
    }
    let mut tx = db.pool.begin().await?;
    if revoke {
        sqlx::query(
            "UPDATE signing_keys SET revoked = 1 WHERE email = $1 AND project = $2 AND key = $3",
        )
        .bind(&user)
        .bind(project)
        .bind(blob)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO signing_keys (email, project, key, enrolled_at, enrolled_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email, project, key) DO NOTHING",
        )
        .bind(&user)
        .bind(project)
        .bind(blob)
        .bind(now())
        .bind(&who.email)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE signing_keys SET revoked = 0 WHERE email = $1 AND project = $2 AND key = $3",
        )
        .bind(&user)
        .bind(project)
        .bind(blob)
        .execute(&mut *tx)
        .await?;
    }
    audit::append_in(
        &mut tx,
        &who.email,
        if revoke { "key.revoke" } else { "key.enroll" },
        &format!("{user}/{project}"),
        serde_json::json!({"key": blob}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether the key a run is signed with is enrolled (and not revoked) for its owner in
/// its project: what "verified" rests on.
pub async fn signer_enrolled(db: &Db, run_id: &str) -> Result<bool, ServerError> {
    let row = sqlx::query("SELECT owner, project, signer FROM runs WHERE run_id = $1")
        .bind(run_id)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(false) };
    let (owner, project, signer): (String, Option<String>, String) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let Some(project) = project else {
        return Ok(false);
    };
    Ok(sqlx::query(
        "SELECT 1 FROM signing_keys WHERE email = $1 AND project = $2 AND key = $3 AND revoked = 0",
    )
    .bind(owner)
    .bind(project)
    .bind(key_blob(&signer))
    .fetch_optional(&db.pool)
    .await?
    .is_some())
}

/// Keep the run's summary and the approval queue in step with new entries. The
/// reviewers of a held call are the team policy's group for the run's project; the
/// record's own list of reviewers is not taken.
async fn derive(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    entries: &[&Parsed],
    policy: &TeamPolicy,
    project: &str,
) -> Result<(), ServerError> {
    let mut inputs: HashMap<String, Value> = HashMap::new();
    // The run's status moves by the record crate's one rule, as the packet's and the
    // CLI's do: a stopped run stays "stopped" when it is finished afterwards.
    let before: String = sqlx::query("SELECT status FROM runs WHERE run_id = $1")
        .bind(run_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
    let mut status = before.clone();
    for entry in entries {
        let v = &entry.value;
        let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
        status = mandate_record::packet::status_after(&status, v).to_string();
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "run.start" => {
                if let Some(named) = text("project")
                    && named != project
                {
                    return Err(ServerError::Conflict {
                        message: format!(
                            "run `{run_id}` says it belongs to project `{named}`, but it is \
                             pushed to project `{project}`"
                        ),
                        have: None,
                    });
                }
                let contract = v.get("contract").cloned().unwrap_or_default();
                let field = |key: &str| {
                    contract
                        .get(key)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                // The delegator stays the pushing token's user: a contract's
                // `delegated_by` is the pusher's word only.
                sqlx::query(
                    "UPDATE runs SET task_id = $2, request = $3, agent = $4, mode = $5 \
                     WHERE run_id = $1",
                )
                .bind(run_id)
                .bind(field("id"))
                .bind(field("request"))
                .bind(field("agent"))
                .bind(text("mode"))
                .execute(&mut **tx)
                .await?;
                if let Some(servers) = v.get("mcp_servers").and_then(Value::as_object) {
                    declare_mcp(tx, run_id, project, servers).await?;
                }
            }
            "tool.pre" => {
                if let (Some(id), Some(input)) = (text("tool_use_id"), v.get("input")) {
                    inputs.insert(id, input.clone());
                }
            }
            "approval.request" => {
                let Some(id) = text("id") else { continue };
                let digest = text("digest").unwrap_or_default();
                claim_approval_id(tx, run_id, &id, &digest).await?;
                let mut input = text("tool_use_id").and_then(|t| inputs.get(&t).cloned());
                if input.is_none()
                    && let Some(tool_use_id) = text("tool_use_id")
                {
                    input = earlier_input(tx, run_id, entry.index, &tool_use_id).await?;
                }
                let delegated: Option<String> =
                    sqlx::query("SELECT delegated_by FROM runs WHERE run_id = $1")
                        .bind(run_id)
                        .fetch_one(&mut **tx)
                        .await?
                        .try_get(0)?;
                sqlx::query(
                    "INSERT INTO approvals (id, run_id, tool, input, digest, grp, reviewers, \
                     rule, reason, delegated_by, requested_at, status, preview) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', $12) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(&id)
                .bind(run_id)
                .bind(text("tool").unwrap_or_default())
                .bind(input.map(|i| i.to_string()))
                .bind(&digest)
                .bind(text("group").unwrap_or_default())
                .bind({
                    let group = text("group").unwrap_or_default();
                    Value::from(
                        policy
                            .project(project)
                            .and_then(|p| p.reviewers.get(&group))
                            .cloned()
                            .unwrap_or_default(),
                    )
                    .to_string()
                })
                .bind(text("rule"))
                .bind(text("reason"))
                .bind(delegated)
                .bind(text("time").unwrap_or_else(now))
                .bind(text("preview"))
                .execute(&mut **tx)
                .await?;
            }
            // A decision taken on a machine (`mandate approve` / `deny` there) and the
            // hook's use of it: the record says who decided; the queue shows it, marked
            // as the record's word. A decision the server already holds is kept.
            "approval.granted" | "approval.denied" | "approval.used" => {
                let Some(id) = text("id") else { continue };
                let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
                let for_run = v.get("for_run").and_then(Value::as_bool).unwrap_or(false);
                let decided = if kind == "approval.denied" {
                    "denied"
                } else {
                    "approved"
                };
                // Pending here means the server never took a decision: the record's is
                // the one that was made.
                sqlx::query(
                    "UPDATE approvals SET status = $3, for_run = $4, decided_by = $5, \
                     decided_at = $6, note = $7, decided_via = 'record' \
                     WHERE id = $1 AND run_id = $2 AND status = 'pending'",
                )
                .bind(&id)
                .bind(run_id)
                .bind(decided)
                .bind(i64::from(for_run))
                .bind(text("by"))
                .bind(text("time"))
                .bind(text("reason"))
                .execute(&mut **tx)
                .await?;
                if kind == "approval.used" {
                    sqlx::query(
                        "UPDATE approvals SET status = 'used' WHERE id = $1 AND run_id = $2 \
                         AND status = 'approved' AND for_run = 0",
                    )
                    .bind(&id)
                    .bind(run_id)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            // A review written into the record (`mandate review` on the machine that
            // holds the run, or a server review the machine's sync wrote back). The
            // review's id ties it to the same review made through the API.
            "review" => {
                let decision = text("decision").unwrap_or_default();
                if !matches!(decision.as_str(), "approve" | "reject" | "request-changes") {
                    continue;
                }
                let id = text("review_id")
                    .filter(|id| crate::api::valid_review_id(id))
                    .unwrap_or_else(|| format!("rec-{run_id}-{}", entry.index));
                sqlx::query(
                    "INSERT INTO reviews (id, run_id, reviewer, decision, note, created_at, via) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'record') ON CONFLICT (id) DO NOTHING",
                )
                .bind(&id)
                .bind(run_id)
                .bind(text("reviewer").unwrap_or_default())
                .bind(&decision)
                .bind(text("note").unwrap_or_default())
                .bind(text("time").unwrap_or_else(now))
                .execute(&mut **tx)
                .await?;
            }
            _ => {}
        }
    }
    if status != before {
        set_status(tx, run_id, &status).await?;
    }
    Ok(())
}

/// The `[mcp.servers]` of the project's mandate.toml, as a run's start carried them:
/// kept per project and server name, the newest start's word winning.
async fn declare_mcp(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    project: &str,
    servers: &serde_json::Map<String, Value>,
) -> Result<(), ServerError> {
    let owner: String = sqlx::query("SELECT owner FROM runs WHERE run_id = $1")
        .bind(run_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
    for (name, body) in servers {
        if !crate::api::valid_target(name) || name.contains('/') {
            continue;
        }
        sqlx::query(
            "INSERT INTO declared_mcp (project, name, body, run_id, declared_by, seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project, name) DO UPDATE SET \
             body = excluded.body, run_id = excluded.run_id, \
             declared_by = excluded.declared_by, seen_at = excluded.seen_at",
        )
        .bind(project)
        .bind(name)
        .bind(body.to_string())
        .bind(run_id)
        .bind(&owner)
        .bind(now())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The characters of an approval id after `a-`, and how many a new one has: 130 random
/// bits, as the hook makes them (`mandate_project::approvals`).
const APPROVAL_ID_ALPHABET: &str = "abcdefghijkmnpqrstuvwxyz23456789";
const APPROVAL_ID_LEN: usize = 26;

/// An approval id belongs to one request: one run, one call. A request that names an
/// id already held by another run or another call is refused (the whole push, so the
/// pusher says why), never dropped: dropping it would hand the held call whatever
/// decision the other request has. Ids too short to be unguessable are refused too.
async fn claim_approval_id(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    id: &str,
    digest: &str,
) -> Result<(), ServerError> {
    let well_formed = id.strip_prefix("a-").is_some_and(|rest| {
        rest.len() == APPROVAL_ID_LEN && rest.chars().all(|c| APPROVAL_ID_ALPHABET.contains(c))
    });
    if !well_formed {
        return Err(ServerError::BadRequest(format!(
            "approval request `{}` in run `{run_id}` does not have a random {APPROVAL_ID_LEN}-\
             character id (`a-` and {APPROVAL_ID_LEN} of `{APPROVAL_ID_ALPHABET}`); update \
             mandate on this machine",
            id.chars().take(40).collect::<String>()
        )));
    }
    if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ServerError::BadRequest(format!(
            "approval request `{id}` in run `{run_id}` names no call digest"
        )));
    }
    let existing = sqlx::query("SELECT run_id, digest FROM approvals WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(row) = existing {
        let (held_run, held_digest): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        if held_run != run_id || held_digest != digest {
            return Err(ServerError::Conflict {
                message: format!(
                    "approval request id `{id}` is already taken by another request; run \
                     `{run_id}` may not reuse it, so this push is refused"
                ),
                have: None,
            });
        }
    }
    Ok(())
}

async fn set_status(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    status: &str,
) -> Result<(), ServerError> {
    sqlx::query("UPDATE runs SET status = $2 WHERE run_id = $1")
        .bind(run_id)
        .bind(status)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn earlier_input(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    before: u64,
    tool_use_id: &str,
) -> Result<Option<Value>, ServerError> {
    let rows = sqlx::query(
        "SELECT body FROM entries WHERE run_id = $1 AND kind = 'tool.pre' AND idx < $2 \
         ORDER BY idx DESC LIMIT 20",
    )
    .bind(run_id)
    .bind(i64::try_from(before).unwrap_or(i64::MAX))
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let body: String = row.try_get(0)?;
        let Ok(value) = serde_json::from_str::<Value>(&body) else {
            continue;
        };
        if value.get("tool_use_id").and_then(Value::as_str) == Some(tool_use_id) {
            return Ok(value.get("input").cloned());
        }
    }
    Ok(None)
}

/// Verify a run as stored, with the record crate's own verifier: the entries and
/// checkpoints are written to a scratch directory exactly as the recorder lays them out.
pub async fn verify_stored(
    db: &Db,
    run_id: &str,
) -> Result<mandate_record::VerifyReport, ServerError> {
    let signer: String = sqlx::query("SELECT signer FROM runs WHERE run_id = $1")
        .bind(run_id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("there is no run `{run_id}`")))?
        .try_get(0)?;
    let (_, key) = parse_verifier_key(&signer)
        .map_err(|error| ServerError::Internal(format!("the pinned key: {error}")))?;
    let bodies: Vec<String> =
        sqlx::query("SELECT body FROM entries WHERE run_id = $1 ORDER BY idx")
            .bind(run_id)
            .fetch_all(&db.pool)
            .await?
            .iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
    let notes: Vec<(i64, String)> =
        sqlx::query("SELECT size, note FROM checkpoints WHERE run_id = $1 ORDER BY size")
            .bind(run_id)
            .fetch_all(&db.pool)
            .await?
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
    tokio::task::spawn_blocking(
        move || -> Result<mandate_record::VerifyReport, ServerError> {
            let scratch = tempfile::tempdir()
                .map_err(|error| ServerError::Internal(format!("no scratch directory: {error}")))?;
            let dir = scratch.path().join("run");
            let io =
                |error: std::io::Error| ServerError::Internal(format!("scratch copy: {error}"));
            std::fs::create_dir_all(dir.join(mandate_record::CHECKPOINT_DIR)).map_err(io)?;
            let mut log = String::with_capacity(bodies.iter().map(|b| b.len() + 1).sum());
            for body in &bodies {
                log.push_str(body);
                log.push('\n');
            }
            std::fs::write(dir.join(mandate_record::LOG_FILE), log).map_err(io)?;
            for (size, note) in &notes {
                std::fs::write(
                    dir.join(mandate_record::CHECKPOINT_DIR)
                        .join(size.to_string()),
                    note,
                )
                .map_err(io)?;
            }
            Ok(mandate_record::verify(&dir, &key))
        },
    )
    .await
    .map_err(|error| ServerError::Internal(error.to_string()))?
}
