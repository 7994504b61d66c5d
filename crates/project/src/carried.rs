//! The active run's fingerprints of sensitive data ([`mandate_policy::carried`]): kept in
//! the active-run folder, outside the repository, beside `state.json`.
//!
//! `mandate start` writes them fresh (the blocked files that exist); the hook appends the
//! distinctive values of each result of a registered MCP server with `data` (PostToolUse)
//! and reads them to judge calls that send data out (PreToolUse). Appends are single
//! writes of whole entries to a file opened for appending, so hooks running side by side
//! do not interleave; a cut entry at the end is ignored on reading.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use mandate_policy::carried::{self, Carried, Origin};

use crate::state::write_atomic;

/// The fingerprint file and the file naming their origins.
fn paths(workspace_dir: &Path) -> (PathBuf, PathBuf) {
    (
        workspace_dir.join("carried"),
        workspace_dir.join("carried.origins"),
    )
}

/// The run's fingerprints, or `None` when none were kept (a run started before this
/// existed). An unreadable or damaged file is an error: the caller refuses.
pub fn load(workspace_dir: &Path) -> Result<Option<Carried>, String> {
    let (prints, origins) = paths(workspace_dir);
    let bytes = match std::fs::read(&prints) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read `{}`: {error}", prints.display())),
    };
    let parsed = Carried::parse(&bytes)
        .map_err(|error| format!("`{}` is damaged: {error}", prints.display()))?;
    let labels = match std::fs::read_to_string(&origins) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(format!("cannot read `{}`: {error}", origins.display())),
    };
    Ok(Some(parsed.with_labels(&labels)))
}

fn random_key() -> Result<u64, String> {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|error| format!("no randomness for the key: {error}"))?;
    Ok(u64::from_le_bytes(seed))
}

/// Start the run's fingerprints afresh with `values` (value, origin label) of blocked
/// files. Returns how many were kept.
pub fn begin(workspace_dir: &Path, values: &[(String, String)]) -> Result<usize, String> {
    let (prints, origins) = paths(workspace_dir);
    let mut carried = Carried::new(random_key()?);
    let mut bytes = Carried::header(carried.key());
    let mut labels = String::new();
    for (value, label) in values {
        if carried.len() >= carried::MAX_ENTRIES {
            break;
        }
        let Some(print) = carried.fingerprint(value, Origin::BlockedPath, label) else {
            continue;
        };
        if carried.contains(&print) {
            continue;
        }
        carried.insert(print);
        bytes.extend_from_slice(&Carried::encode(&print));
        let line = Carried::origin_line(label);
        if !labels.contains(&line) {
            labels.push_str(&line);
        }
    }
    write_atomic(&origins, labels.as_bytes()).map_err(|error| error.to_string())?;
    write_atomic(&prints, &bytes).map_err(|error| error.to_string())?;
    Ok(carried.len())
}

/// What [`add`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Added {
    /// New values remembered.
    pub kept: usize,
    /// Values not remembered because the run's set is full.
    pub dropped: usize,
}

/// Remember `values` read from the MCP server `server` (its registry entry names its
/// data).
pub fn add(workspace_dir: &Path, server: &str, values: &[&str]) -> Result<Added, String> {
    let (prints, origins) = paths(workspace_dir);
    let mut carried = match load(workspace_dir)? {
        Some(carried) => carried,
        None => {
            let key = random_key()?;
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&prints)
            {
                Ok(mut file) => file
                    .write_all(&Carried::header(key))
                    .map_err(|error| format!("cannot write `{}`: {error}", prints.display()))?,
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => {
                    return Err(format!("cannot create `{}`: {error}", prints.display()));
                }
            }
            load(workspace_dir)?.ok_or_else(|| format!("`{}` vanished", prints.display()))?
        }
    };
    let mut bytes = Vec::new();
    let mut added = Added::default();
    for value in values {
        let Some(print) = carried.fingerprint(value, Origin::McpServer, server) else {
            continue;
        };
        if carried.contains(&print) {
            continue;
        }
        if carried.len() >= carried::MAX_ENTRIES {
            added.dropped += 1;
            continue;
        }
        carried.insert(print);
        bytes.extend_from_slice(&Carried::encode(&print));
        added.kept += 1;
    }
    if bytes.is_empty() {
        return Ok(added);
    }
    if carried.label(carried::label_hash(server)).is_none() {
        append(&origins, Carried::origin_line(server).as_bytes())?;
    }
    append(&prints, &bytes)?;
    Ok(added)
}

fn append(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|error| format!("cannot open `{}`: {error}", path.display()))?;
    file.write_all(bytes)
        .map_err(|error| format!("cannot append to `{}`: {error}", path.display()))
}
