//! Reading run records back: the runs under `records.dir` and their events.
//!
//! Reports (touch map, readiness, metrics, incident questions) and the team server read
//! records through this module only, so the storage format has one reader.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::ProjectError;

/// Every run directory under `<records.dir>/runs`, oldest first by name.
pub fn list_runs(records_dir: &Path) -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(records_dir.join("runs"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    runs
}

/// The events of one run, in log order.
pub fn read_events(run_dir: &Path) -> Result<Vec<Value>, ProjectError> {
    let entries = mandate_record::read_entries(run_dir).map_err(|error| {
        ProjectError::Invalid(format!(
            "cannot read the run record `{}`: {error}",
            run_dir.display()
        ))
    })?;
    Ok(entries.into_iter().map(|entry| entry.value).collect())
}

/// The `type` of an event.
pub fn event_type(event: &Value) -> &str {
    event.get("type").and_then(Value::as_str).unwrap_or("")
}
