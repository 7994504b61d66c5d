//! Appending events to a run's record.
//!
//! Every hook event of a run is appended before the hook answers; if the append fails,
//! the caller turns its decision into a deny. The log format, hashing and verification
//! belong to `mandate-record`; this module is the one place the rest of mandate appends
//! through, so the hot path has one shape.

use std::path::Path;

use serde_json::Value;

use crate::ProjectError;

/// Append one event to the run record in `run_dir`; returns its index in the log once
/// it is durable. Secrets are redacted and file contents digested before hashing.
pub fn append_event(run_dir: &Path, event: Value) -> Result<u64, ProjectError> {
    mandate_record::RunLog::append_to(run_dir, event).map_err(|error| {
        ProjectError::Invalid(format!(
            "cannot append to the run record `{}`: {error}",
            run_dir.display()
        ))
    })
}

/// Create a new run record.
pub fn create_run(run_dir: &Path, run_id: &str) -> Result<(), ProjectError> {
    mandate_record::RunLog::create(run_dir, run_id)
        .map(|_| ())
        .map_err(|error| {
            ProjectError::Invalid(format!(
                "cannot create the run record `{}`: {error}",
                run_dir.display()
            ))
        })
}

/// The checkpoint origin of a run: the log's identity in its signed notes.
pub fn origin(run_id: &str) -> String {
    format!("mandate.local/run/{run_id}")
}

/// Sign a checkpoint over everything in the run's log with the project's key (created on
/// first use, mode 0600, outside the workspace).
pub fn checkpoint(
    key_path: &Path,
    run_dir: &Path,
) -> Result<mandate_record::Checkpoint, ProjectError> {
    let invalid = |error: mandate_record::RecordError| {
        ProjectError::Invalid(format!(
            "cannot checkpoint the run record `{}`: {error}",
            run_dir.display()
        ))
    };
    let key = mandate_record::keys::load_or_create(key_path).map_err(invalid)?;
    let log = mandate_record::RunLog::open(run_dir).map_err(invalid)?;
    let run_id = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    log.checkpoint(&key, &origin(&run_id)).map_err(invalid)
}

/// The current time as RFC 3339 UTC with milliseconds, without a time crate.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let millis = now.subsec_millis();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// Milliseconds since the epoch as RFC 3339 UTC.
pub fn rfc3339_of_millis(millis: u128) -> String {
    let secs = u64::try_from(millis / 1000).unwrap_or(0);
    let ms = millis % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{ms:03}Z")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
    }
}
