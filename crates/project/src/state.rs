//! The workspace's active run: which contract is bound, and what the hook must remember
//! between calls (the run was stopped, a rollback note is on record, how often the stop
//! gate blocked). Small, so every hook call can read it; updated under a file lock and
//! replaced atomically, so concurrent hooks (parallel subagents) never see half a file.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ProjectError;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    pub run_dir: PathBuf,
    /// The contract file as named at `mandate start`.
    pub contract_source: PathBuf,
    pub contract_digest: String,
    /// The repository and organisation policies the run is judged under (their digests;
    /// `none` without an organisation policy). A change is recorded as `policy.changed`.
    #[serde(default)]
    pub policy_digest: String,
    #[serde(default)]
    pub org_policy_digest: String,
    pub task_id: String,
    pub delegated_by: String,
    pub started_at: String,
    pub stopped: Option<StopMark>,
    /// Evidence kinds on record (`rollback_note`, `assumptions`, `residual_risks`,
    /// `test_gaps`, `tests`).
    #[serde(default)]
    pub evidence: BTreeSet<String>,
    /// Consecutive times the stop gate kept the agent from stopping.
    #[serde(default)]
    pub stop_gate_blocks: u32,
    #[serde(default)]
    pub incomplete: bool,
    #[serde(default)]
    pub finished: bool,
    /// The configuration `mandate start` ran with; `mandate evidence`, which the agent
    /// runs, refuses to work under any other.
    #[serde(default)]
    pub config: Option<StartConfig>,
}

/// What `mandate start` saw of the configuration that lives outside the repository.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartConfig {
    /// The organisation policy in force, if any.
    pub org_policy: Option<PathBuf>,
    /// The records directory.
    pub records_dir: PathBuf,
    /// The team server the records are pushed to, if any.
    pub server: Option<String>,
    /// The SHA-256 of the team-server token taken from the environment, if one was.
    pub env_token_sha256: Option<String>,
}

impl RunState {
    pub fn has_evidence(&self, kind: &str) -> bool {
        self.evidence.contains(kind)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StopMark {
    pub reason: String,
    pub rule: String,
    pub at: String,
}

/// The active-run files of one workspace.
pub struct ActiveRun {
    dir: PathBuf,
}

impl ActiveRun {
    pub fn new(workspace_dir: &Path) -> ActiveRun {
        ActiveRun {
            dir: workspace_dir.to_path_buf(),
        }
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn contract_path(&self) -> PathBuf {
        self.dir.join("contract.toml")
    }

    /// The active run, if any.
    pub fn load(&self) -> Result<Option<RunState>, ProjectError> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| {
                ProjectError::Invalid(format!(
                    "the active-run state `{}` is damaged ({error}); the delegating user \
                     should run `mandate start CONTRACT` again",
                    path.display()
                ))
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ProjectError::Read { path, source }),
        }
    }

    /// Bind a new run: the contract snapshot and a fresh state.
    pub fn begin(&self, state: &RunState, contract_text: &str) -> Result<(), ProjectError> {
        create_private_dir(&self.dir)?;
        let _lock = self.lock()?;
        write_atomic(&self.contract_path(), contract_text.as_bytes())?;
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|error| ProjectError::Invalid(error.to_string()))?;
        write_atomic(&self.state_path(), &bytes)
    }

    /// Change the state under the lock; returns the new state.
    pub fn update(
        &self,
        change: impl FnOnce(&mut RunState),
    ) -> Result<Option<RunState>, ProjectError> {
        let _lock = self.lock()?;
        let Some(mut state) = self.load()? else {
            return Ok(None);
        };
        let to_bytes = |state: &RunState| {
            serde_json::to_vec_pretty(state)
                .map_err(|error| ProjectError::Invalid(error.to_string()))
        };
        let before = to_bytes(&state)?;
        change(&mut state);
        let bytes = to_bytes(&state)?;
        // A change that changes nothing (a Stop of a run already marked incomplete, a
        // counter already at zero) leaves the file as it is: it is already on disk,
        // synced, and an fsync costs more than the rest of such a hook call.
        if bytes != before {
            write_atomic(&self.state_path(), &bytes)?;
        }
        Ok(Some(state))
    }

    fn lock(&self) -> Result<File, ProjectError> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| ProjectError::Write {
                path: path.clone(),
                source,
            })?;
        file.lock()
            .map_err(|source| ProjectError::Write { path, source })?;
        Ok(file)
    }
}

/// Create a folder readable only by its owner (records and keys live there).
pub fn create_private_dir(dir: &Path) -> Result<(), ProjectError> {
    std::fs::create_dir_all(dir).map_err(|source| ProjectError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Write a file by writing a temporary beside it, syncing, and renaming over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ProjectError> {
    let error = |source| ProjectError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut file = File::create(&tmp).map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.sync_all().map_err(error)?;
    std::fs::rename(&tmp, path).map_err(error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn state() -> RunState {
        RunState {
            run_id: "R-1".into(),
            task_id: "R".into(),
            delegated_by: "alice@example.com".into(),
            ..RunState::default()
        }
    }

    #[test]
    fn an_update_that_changes_nothing_leaves_the_file_alone() -> Result<(), ProjectError> {
        let dir = tempfile::tempdir().map_err(|e| ProjectError::Invalid(e.to_string()))?;
        let active = ActiveRun::new(dir.path());
        active.begin(&state(), "version = 1\n")?;
        let inode = || std::fs::metadata(active.state_path()).map(|m| m.ino()).ok();
        let first = inode();

        // Already zero: no rewrite (a rewrite renames a new file over the old one).
        active.update(|s| s.stop_gate_blocks = 0)?;
        assert_eq!(inode(), first);

        // A real change is written, and read back.
        active.update(|s| s.incomplete = true)?;
        assert_ne!(inode(), first);
        assert!(active.load()?.is_some_and(|s| s.incomplete));
        Ok(())
    }
}
