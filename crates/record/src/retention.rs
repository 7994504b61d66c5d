//! Retention: whole runs older than `records.retention_days` are removed.
//!
//! A run is the unit of retention. Removing part of a log would break verification of
//! what remains (and tlog practice is to refuse reads, never to cut a tree), so `prune`
//! only ever deletes complete run directories, and never one that is in use: a run
//! whose log is locked by a writer is skipped. A run's age is the modification time of
//! its log, i.e. its last append. Deletion first renames the directory to a hidden name,
//! so a crash mid-delete leaves no half-deleted run that looks like a run; hidden
//! leftovers are finished off on the next prune.

use crate::RecordError;
use crate::log::LOG_FILE;
use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const DELETING_PREFIX: &str = ".pruning-";

/// What `prune` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// Run directories removed.
    pub removed: Vec<PathBuf>,
    /// Runs past retention that were skipped because a writer holds their lock.
    pub busy: Vec<PathBuf>,
}

/// Remove the runs in `records_dir` whose last append is older than `retention_days`
/// before `now`. Directories without a `log.jsonl` are not runs and are left alone.
pub fn prune(
    records_dir: &Path,
    retention_days: u64,
    now: SystemTime,
) -> Result<Pruned, RecordError> {
    let io = |e| RecordError::io(records_dir, e);
    let cutoff = now
        .checked_sub(Duration::from_secs(retention_days.saturating_mul(86_400)))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut out = Pruned::default();
    let mut runs: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(records_dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with(DELETING_PREFIX) {
            fs::remove_dir_all(&path).map_err(|e| RecordError::io(&path, e))?;
            continue;
        }
        if name.starts_with('.') || !entry.file_type().map_err(io)?.is_dir() {
            continue;
        }
        runs.push(path);
    }
    runs.sort();
    for run in runs {
        let log = run.join(LOG_FILE);
        let Ok(meta) = fs::metadata(&log) else {
            continue;
        };
        let modified = meta.modified().map_err(|e| RecordError::io(&log, e))?;
        if modified >= cutoff {
            continue;
        }
        let file = File::open(&log).map_err(|e| RecordError::io(&log, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                out.busy.push(run);
                continue;
            }
            Err(TryLockError::Error(e)) => return Err(RecordError::io(&log, e)),
        }
        let name = run
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hidden = records_dir.join(format!("{DELETING_PREFIX}{name}"));
        fs::rename(&run, &hidden).map_err(|e| RecordError::io(&run, e))?;
        drop(file);
        crate::log::sync_dir(records_dir).map_err(io)?;
        fs::remove_dir_all(&hidden).map_err(|e| RecordError::io(&hidden, e))?;
        out.removed.push(run);
    }
    Ok(out)
}
