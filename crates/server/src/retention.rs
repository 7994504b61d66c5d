//! Retention: runs the server last received anything of more than `records.retention_days`
//! ago are removed with everything that hangs off them (entries, checkpoints, reviews,
//! approvals). The server's own receive time counts, never the times a pusher wrote into
//! its entries, so a run cannot date itself out of retention or into it. Every removal
//! is written to the audit log.
//!
//! A whole run goes or stays: deleting part of a log would break its chain and its
//! checkpoints. The job runs in every server process; deleting is idempotent, so
//! several processes on one database do not need to agree who runs it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Row as _;

use crate::{Db, ServerError};

/// The RFC 3339 day boundary `days` before now (`YYYY-MM-DDT00:00:00Z` is enough: a
/// string comparison against the stored RFC 3339 UTC times orders them correctly).
pub fn cutoff(days: u32, now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .saturating_sub(u64::from(days) * 86_400);
    let days_since_epoch = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days_since_epoch);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// `t` as RFC 3339 UTC with microseconds, as the record's own times are written.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Remove runs last received before `cutoff`; returns their ids.
pub async fn apply(db: &Db, cutoff: &str) -> Result<Vec<String>, ServerError> {
    let rows = sqlx::query(
        "SELECT run_id FROM runs WHERE COALESCE(last_received_at, received_at) < $1 \
         ORDER BY run_id",
    )
    .bind(cutoff)
    .fetch_all(&db.pool)
    .await?;
    let mut removed = Vec::new();
    for row in rows {
        let run_id: String = row.try_get(0)?;
        let mut tx = db.pool.begin().await?;
        for table in [
            "entries",
            "events",
            "checkpoints",
            "reviews",
            "approvals",
            "run_figures",
            "runs",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE run_id = $1"))
                .bind(&run_id)
                .execute(&mut *tx)
                .await?;
        }
        crate::audit::append_in(
            &mut tx,
            "mandate-server",
            "retention.remove",
            &run_id,
            serde_json::json!({"cutoff": cutoff}),
        )
        .await?;
        tx.commit().await?;
        removed.push(run_id);
    }
    Ok(removed)
}

/// The background job: apply retention now and then every `every`.
pub async fn job(db: Db, days: u32, every: Duration) {
    loop {
        match apply(&db, &cutoff(days, SystemTime::now())).await {
            Ok(removed) if !removed.is_empty() => {
                eprintln!(
                    "mandate-server: retention ({days} days) removed {} run(s): {}",
                    removed.len(),
                    removed.join(", ")
                );
            }
            Ok(_) => {}
            Err(error) => eprintln!("mandate-server: retention failed: {error}"),
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_is_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01T00:00:00Z
        assert_eq!(cutoff(0, t), "2026-01-01T00:00:00Z");
        assert_eq!(cutoff(1, t), "2025-12-31T00:00:00Z");
        assert_eq!(cutoff(365, t), "2025-01-01T00:00:00Z");
    }
}
