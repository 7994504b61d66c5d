//! The kill switch: what security has turned off, kept as an append-only log.
//!
//! `mandate disable TARGET` and `mandate enable TARGET` append one JSON line each to
//! `<records.dir>/killswitch.jsonl` (under a lock, synced), so who switched what, when
//! and why is never lost. The set in force is derived from that log and kept beside it in
//! `killswitch.json`, which is all the hook reads on a call: one small file. The derived
//! file names the log length it was derived from; when the log is longer (a writer died
//! between the two writes) the hook derives the set from the log itself.
//!
//! A target is an MCP server (`jira`), one tool (`jira/create_issue`), or a touch kind
//! (`read`, `write`, `execute`, `call`, `expose`).
//!
//! ```text
//! {"time":"…","action":"disable","target":"jira","by":"sec@example.com","os_user":"sec","reason":"…"}
//! ```

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ProjectError;
use crate::state::{create_private_dir, write_atomic};

pub const LOG_FILE: &str = "killswitch.jsonl";
pub const CURRENT_FILE: &str = "killswitch.json";

const KINDS: [&str; 5] = ["read", "write", "execute", "call", "expose"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Disable,
    Enable,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Disable => "disable",
            Action::Enable => "enable",
        }
    }
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub time: String,
    pub action: Action,
    pub target: String,
    pub by: String,
    pub os_user: String,
    #[serde(default)]
    pub reason: String,
}

/// A target that is off, and who turned it off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    pub target: String,
    pub by: String,
    pub os_user: String,
    pub reason: String,
    pub since: String,
}

/// The derived file the hook reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Current {
    /// Length in bytes of the log this was derived from.
    pub log_bytes: u64,
    pub disabled: Vec<Disabled>,
}

/// The kill switch of one record store.
pub struct KillSwitch {
    dir: PathBuf,
}

impl KillSwitch {
    pub fn new(records_dir: &Path) -> KillSwitch {
        KillSwitch {
            dir: records_dir.to_path_buf(),
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    pub fn current_path(&self) -> PathBuf {
        self.dir.join(CURRENT_FILE)
    }

    /// The targets in force, for the hook: one read of the derived file, one `stat` of
    /// the log. Nothing on disk means nothing is disabled; anything unreadable is an error
    /// the caller turns into a deny.
    pub fn disabled_targets(&self) -> Result<Vec<String>, ProjectError> {
        Ok(self
            .current()?
            .disabled
            .into_iter()
            .map(|d| d.target)
            .collect())
    }

    /// The set in force, with who and why.
    pub fn current(&self) -> Result<Current, ProjectError> {
        let log_path = self.log_path();
        let log_bytes = match std::fs::metadata(&log_path) {
            Ok(meta) => meta.len(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => {
                return Err(ProjectError::Read {
                    path: log_path,
                    source,
                });
            }
        };
        let path = self.current_path();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let current: Current = serde_json::from_slice(&bytes).map_err(|error| {
                    ProjectError::Invalid(format!(
                        "the kill-switch state `{}` is damaged ({error}); a kill_switch \
                         identity should run `mandate disabled` to rebuild it from the log",
                        path.display()
                    ))
                })?;
                if current.log_bytes == log_bytes {
                    return Ok(current);
                }
                self.derive()
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if log_bytes == 0 {
                    Ok(Current::default())
                } else {
                    self.derive()
                }
            }
            Err(source) => Err(ProjectError::Read { path, source }),
        }
    }

    /// Replay the log into the set in force.
    pub fn derive(&self) -> Result<Current, ProjectError> {
        let entries = self.entries()?;
        let log_bytes = match std::fs::metadata(self.log_path()) {
            Ok(meta) => meta.len(),
            Err(_) => 0,
        };
        Ok(Current {
            log_bytes,
            disabled: replay(&entries),
        })
    }

    /// Every entry of the log, oldest first. A damaged line is an error: the log is
    /// evidence, and a set derived from part of it could re-enable what is off.
    pub fn entries(&self) -> Result<Vec<Entry>, ProjectError> {
        let path = self.log_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(ProjectError::Read { path, source }),
        };
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, line)| {
                serde_json::from_str(line).map_err(|error| {
                    ProjectError::Invalid(format!(
                        "line {} of the kill-switch log `{}` is damaged ({error}); repair it \
                         from a backup before switching anything",
                        index + 1,
                        path.display()
                    ))
                })
            })
            .collect()
    }

    /// Append one action and rewrite the derived set, under the store's lock.
    pub fn append(&self, entry: &Entry) -> Result<Current, ProjectError> {
        create_private_dir(&self.dir)?;
        let _lock = lock(&self.dir.join("killswitch.lock"))?;
        let path = self.log_path();
        let error = |source| ProjectError::Write {
            path: path.clone(),
            source,
        };
        let mut line =
            serde_json::to_vec(entry).map_err(|e| ProjectError::Invalid(e.to_string()))?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(error)?;
        file.write_all(&line).map_err(error)?;
        file.sync_data().map_err(error)?;
        drop(file);
        let current = self.derive()?;
        let bytes = serde_json::to_vec_pretty(&current)
            .map_err(|e| ProjectError::Invalid(e.to_string()))?;
        write_atomic(&self.current_path(), &bytes)?;
        Ok(current)
    }
}

/// The set in force after these entries: a disable adds its target, an enable removes it.
pub fn replay(entries: &[Entry]) -> Vec<Disabled> {
    let mut off: BTreeMap<String, Disabled> = BTreeMap::new();
    for entry in entries {
        match entry.action {
            Action::Disable => {
                off.entry(entry.target.clone()).or_insert_with(|| Disabled {
                    target: entry.target.clone(),
                    by: entry.by.clone(),
                    os_user: entry.os_user.clone(),
                    reason: entry.reason.clone(),
                    since: entry.time.clone(),
                });
            }
            Action::Enable => {
                off.remove(&entry.target);
            }
        }
    }
    off.into_values().collect()
}

/// What a target names, checked against the registry's servers and tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Kind(String),
    Server(String),
    Tool { server: String, tool: String },
}

/// Check a target the user typed. `servers` maps registered server names to their tools.
pub fn parse_target(raw: &str, servers: &BTreeMap<String, Vec<String>>) -> Result<Target, String> {
    let raw = raw.trim();
    if KINDS.contains(&raw) {
        return Ok(Target::Kind(raw.to_string()));
    }
    let names: Vec<&str> = servers.keys().map(String::as_str).collect();
    let unknown_server = |server: &str| {
        let mut message = format!(
            "`{server}` is neither a touch kind (read, write, execute, call, expose) nor an \
             MCP server in the registry"
        );
        if let Some(best) = mandate_policy::format::did_you_mean(server, &names) {
            message.push_str(&format!("; did you mean `{best}`?"));
        } else if !names.is_empty() {
            message.push_str(&format!("; the registry has {}", names.join(", ")));
        }
        message
    };
    match raw.split_once('/') {
        None => {
            if servers.contains_key(raw) {
                Ok(Target::Server(raw.to_string()))
            } else {
                Err(unknown_server(raw))
            }
        }
        Some((server, tool)) => {
            let Some(tools) = servers.get(server) else {
                return Err(unknown_server(server));
            };
            if tool.is_empty() || tool.contains('/') {
                return Err(format!(
                    "`{raw}` is not a target: write SERVER, SERVER/TOOL or a touch kind"
                ));
            }
            if !tools.iter().any(|t| t == tool) {
                // An unlisted tool is already denied; switching it off still documents intent.
                let listed: Vec<&str> = tools.iter().map(String::as_str).collect();
                if let Some(best) = mandate_policy::format::did_you_mean(tool, &listed) {
                    return Err(format!(
                        "`{server}` has no tool `{tool}` in the registry; did you mean \
                         `{server}/{best}`?"
                    ));
                }
            }
            Ok(Target::Tool {
                server: server.to_string(),
                tool: tool.to_string(),
            })
        }
    }
}

/// Append a `killswitch` event to the record of every active run of this record store,
/// so a reviewer of any of them sees when the box changed under it. Returns the runs
/// written and the failures.
pub fn record_in_active_runs(
    records_dir: &Path,
    event: &serde_json::Value,
) -> (Vec<String>, Vec<String>) {
    let mut written = Vec::new();
    let mut failed = Vec::new();
    let Ok(workspaces) = std::fs::read_dir(records_dir.join("workspaces")) else {
        return (written, failed);
    };
    for workspace in workspaces.flatten() {
        let active = crate::ActiveRun::new(&workspace.path());
        let Ok(Some(state)) = active.load() else {
            continue;
        };
        if state.finished {
            continue;
        }
        match crate::recorder::append_event(&state.run_dir, event.clone()) {
            Ok(_) => written.push(state.run_id.clone()),
            Err(error) => failed.push(format!(
                "could not write the kill-switch change into run {}: {error}",
                state.run_id
            )),
        }
    }
    (written, failed)
}

pub(crate) fn lock(path: &Path) -> Result<File, ProjectError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| ProjectError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    file.lock().map_err(|source| ProjectError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(file)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(action: Action, target: &str) -> Entry {
        Entry {
            time: "t".into(),
            action,
            target: target.into(),
            by: "sec@example.com".into(),
            os_user: "sec".into(),
            reason: "incident".into(),
        }
    }

    #[test]
    fn enable_removes_what_disable_added() {
        let entries = [
            entry(Action::Disable, "jira"),
            entry(Action::Disable, "write"),
            entry(Action::Enable, "jira"),
        ];
        let off = replay(&entries);
        assert_eq!(off.len(), 1);
        assert_eq!(off.first().unwrap().target, "write");
    }

    #[test]
    fn derived_file_follows_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let switch = KillSwitch::new(dir.path());
        assert!(switch.disabled_targets().unwrap().is_empty());
        switch.append(&entry(Action::Disable, "jira")).unwrap();
        assert_eq!(switch.disabled_targets().unwrap(), vec!["jira".to_string()]);
        // A writer that died after the log append: the hook still sees the new line.
        let mut log = OpenOptions::new()
            .append(true)
            .open(switch.log_path())
            .unwrap();
        let line = serde_json::to_string(&entry(Action::Disable, "expose")).unwrap();
        writeln!(log, "{line}").unwrap();
        assert_eq!(switch.disabled_targets().unwrap().len(), 2);
    }

    #[test]
    fn damaged_state_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let switch = KillSwitch::new(dir.path());
        switch.append(&entry(Action::Disable, "jira")).unwrap();
        std::fs::write(switch.current_path(), b"{not json").unwrap();
        assert!(switch.disabled_targets().is_err());
    }

    #[test]
    fn targets_are_checked_against_the_registry() {
        let mut servers = BTreeMap::new();
        servers.insert("jira".to_string(), vec!["get_issue".to_string()]);
        assert_eq!(
            parse_target("jira/get_issue", &servers).unwrap(),
            Target::Tool {
                server: "jira".into(),
                tool: "get_issue".into()
            }
        );
        assert_eq!(
            parse_target("expose", &servers).unwrap(),
            Target::Kind("expose".into())
        );
        let error = parse_target("jria", &servers).unwrap_err();
        assert!(error.contains("did you mean `jira`"), "{error}");
    }
}
