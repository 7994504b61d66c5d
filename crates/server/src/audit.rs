//! The audit log: every administrative and security action (sign-ins and failed
//! sign-ins, tokens, the kill switch, the registry, the team policy, approvals, reviews,
//! key enrolments, retention), one line each.
//!
//! Each line is canonical JSON `{"i", "prev", "time", "actor", "action", "target",
//! "detail"}` whose `prev` is the RFC 6962 leaf hash of the line before it: the record
//! crate's own chain. Lines are only ever inserted. A changed, removed or reordered line
//! breaks the chain at that point ([`verify`]); the Merkle root over every leaf (also
//! the record crate's) is the value to write down elsewhere, so that a rewrite of the
//! whole tail shows too.
//!
//! An action and its line are written in one transaction where the action is a database
//! change, so neither lands without the other.

use mandate_record::merkle::{self, Hash};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{Any, Row as _, Transaction};

use crate::{Db, ServerError, hex, now};

/// Lock the head of the chain (and, on SQLite, take the write lock) for this transaction.
pub async fn lock_head(tx: &mut Transaction<'static, Any>) -> Result<(), ServerError> {
    sqlx::query("UPDATE audit_head SET size = size WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Append one line inside `tx`.
pub async fn append_in(
    tx: &mut Transaction<'static, Any>,
    actor: &str,
    action: &str,
    target: &str,
    detail: Value,
) -> Result<(), ServerError> {
    lock_head(tx).await?;
    let row = sqlx::query("SELECT size, leaf FROM audit_head WHERE id = 1")
        .fetch_one(&mut **tx)
        .await?;
    let size: i64 = row.try_get(0)?;
    let prev: String = row.try_get(1)?;
    let time = now();
    let line = json!({
        "i": size,
        "prev": if prev.is_empty() { Value::Null } else { Value::String(prev) },
        "time": time,
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail,
    });
    let bytes = mandate_record::canonical::to_vec(&line)
        .map_err(|error| ServerError::Internal(format!("an audit line: {error}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|error| ServerError::Internal(format!("an audit line: {error}")))?;
    let leaf = hex(&merkle::leaf_hash(text.as_bytes()));
    sqlx::query(
        "INSERT INTO audit (seq, time, actor, action, target, line, leaf) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(size)
    .bind(&time)
    .bind(actor)
    .bind(action)
    .bind(target)
    .bind(&text)
    .bind(&leaf)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET size = $1, leaf = $2 WHERE id = 1")
        .bind(size + 1)
        .bind(&leaf)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Append one line in a transaction of its own.
pub async fn append(
    db: &Db,
    actor: &str,
    action: &str,
    target: &str,
    detail: Value,
) -> Result<(), ServerError> {
    let mut tx = db.pool.begin().await?;
    append_in(&mut tx, actor, action, target, detail).await?;
    tx.commit().await?;
    Ok(())
}

/// Stored lines from `from` on, at most `limit`, in order.
pub async fn lines(db: &Db, from: u64, limit: u64) -> Result<Vec<String>, ServerError> {
    let rows = sqlx::query("SELECT line FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2")
        .bind(i64::try_from(from).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|row| Ok(row.try_get::<String, _>(0)?))
        .collect()
}

/// What [`verify`] found.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AuditCheck {
    pub ok: bool,
    pub size: u64,
    /// Hex RFC 6962 Merkle root over every line's leaf hash.
    pub root: String,
    pub problems: Vec<String>,
}

/// Check the whole chain: indexes in order from 0, each `prev` the leaf hash of the line
/// before, each stored leaf the hash of its line, and the head naming the last one.
pub async fn verify(db: &Db) -> Result<AuditCheck, ServerError> {
    let rows = sqlx::query("SELECT seq, line, leaf FROM audit ORDER BY seq")
        .fetch_all(&db.pool)
        .await?;
    let head = sqlx::query("SELECT size, leaf FROM audit_head WHERE id = 1")
        .fetch_one(&db.pool)
        .await?;
    let head_size: i64 = head.try_get(0)?;
    let head_leaf: String = head.try_get(1)?;
    let mut problems = Vec::new();
    let mut leaves: Vec<Hash> = Vec::with_capacity(rows.len());
    let mut prev: Option<String> = None;
    for (n, row) in rows.iter().enumerate() {
        let seq: i64 = row.try_get(0)?;
        let line: String = row.try_get(1)?;
        let stored_leaf: String = row.try_get(2)?;
        let leaf = merkle::leaf_hash(line.as_bytes());
        let leaf_hex = hex(&leaf);
        let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if i64::try_from(n).ok() != Some(seq) || value.get("i").and_then(Value::as_i64) != Some(seq)
        {
            problems.push(format!("line {n} is out of place (it says {seq})"));
        }
        if leaf_hex != stored_leaf {
            problems.push(format!("line {seq} was changed after it was written"));
        }
        let says = value
            .get("prev")
            .and_then(Value::as_str)
            .map(str::to_string);
        if says != prev {
            problems.push(format!(
                "line {seq} does not chain to the line before it (a line was removed, \
                 changed or inserted)"
            ));
        }
        prev = Some(leaf_hex);
        leaves.push(leaf);
    }
    if i64::try_from(rows.len()).ok() != Some(head_size)
        || prev.clone().unwrap_or_default() != head_leaf
    {
        problems.push(format!(
            "the log holds {} lines but its head says {head_size}",
            rows.len()
        ));
    }
    Ok(AuditCheck {
        ok: problems.is_empty(),
        size: leaves.len() as u64,
        root: hex(&merkle::root(&leaves)),
        problems,
    })
}
