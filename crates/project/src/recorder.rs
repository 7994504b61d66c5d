//! Appending events to a run's record.
//!
//! Every hook event of a run is appended before the hook answers; if the append fails,
//! the caller turns its decision into a deny. The log format, hashing and verification
//! belong to `mandate-record`; this module is the one place the rest of mandate appends
//! through, so the hot path has one shape.

use std::path::Path;

use serde_json::Value;

use crate::ProjectError;

/// Append one event to the run record in `run_dir`; returns its index in the log.
///
/// Interim appender (one JSON line per event, under an exclusive lock, synced) until the
/// run-record crate's `RunLog` takes over.
pub fn append_event(run_dir: &Path, event: Value) -> Result<u64, ProjectError> {
    use std::io::Write;
    let path = run_dir.join("log.jsonl");
    let error = |source| ProjectError::Write {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(error)?;
    file.lock().map_err(error)?;
    let mut line = serde_json::to_vec(&event).map_err(|e| ProjectError::Invalid(e.to_string()))?;
    line.push(b'\n');
    file.write_all(&line).map_err(error)?;
    file.sync_data().map_err(error)?;
    Ok(0)
}

/// Create a new run record.
pub fn create_run(run_dir: &Path, _run_id: &str) -> Result<(), ProjectError> {
    crate::create_private_dir(run_dir)?;
    std::fs::File::create(run_dir.join("log.jsonl")).map_err(|source| ProjectError::Write {
        path: run_dir.to_path_buf(),
        source,
    })?;
    Ok(())
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
