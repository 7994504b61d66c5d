//! What the hook could not record, remembered outside the record.
//!
//! Every event of a run is recorded, or the failure is remembered and the run's next
//! calls are refused until the delegating user has looked (`mandate status` shows it,
//! `readiness` fails on it, a new `mandate start` clears it). A failure to record is
//! usually a full or read-only file system, where the record and the active-run state
//! cannot be written either, so a failure is remembered as a **file whose name says it**:
//! creating an empty file needs no data block, and still works on a file system that has
//! no room left for content. The reason is written into the file when there is room.
//!
//! ```text
//! <workspace>/marks/unrecorded.<millis>.<pid>.<event>   an event that could not be recorded
//! <workspace>/marks/stopped.<millis>.<pid>.<rule>       a stop the state file could not keep
//! <workspace>/marks/noted.<n>                           the first n are in the record now
//! ```
//!
//! When the record store cannot take even an empty file (a read-only or vanished mount),
//! the mark is made in the same form in a fallback folder outside the store, under the
//! user's state folder: `~/.local/state/mandate/marks/<key of the workspace folder>`.
//! Marks are read from both, and a new run clears both. The agent may not write there
//! (it is one of the project's protected paths).

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A mark's time below this is milliseconds since the epoch (names written before marks
/// took microseconds); at or above it, microseconds. Milliseconds reach it in the year
/// 33658; microseconds passed it in 2001.
const MICROS_FROM: u128 = 1_000_000_000_000_000;

/// One remembered failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub kind: MarkKind,
    /// Milliseconds since the epoch when it was made.
    pub at_millis: u128,
    /// Microseconds since the epoch (a name written in milliseconds: those, × 1000).
    at_micros: u128,
    /// The event kind (`tool.post`) or the stop rule.
    pub what: String,
    /// Why, when there was room to write it.
    pub why: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    Unrecorded,
    Stopped,
}

impl Mark {
    /// One line for people.
    pub fn describe(&self) -> String {
        let why = self
            .why
            .as_deref()
            .filter(|w| !w.trim().is_empty())
            .map(|w| format!(": {}", w.trim()))
            .unwrap_or_default();
        match self.kind {
            MarkKind::Unrecorded => format!(
                "a `{}` event could not be recorded at {}{why}",
                self.what,
                crate::recorder::rfc3339_of_millis(self.at_millis)
            ),
            MarkKind::Stopped => format!(
                "the run was stopped by `{}` at {}{why}",
                self.what,
                crate::recorder::rfc3339_of_millis(self.at_millis)
            ),
        }
    }
}

/// The failure marks of one workspace.
pub struct Marks {
    dir: PathBuf,
    /// Where a mark goes when `dir` cannot take it (see the module's documentation).
    fallback: Option<PathBuf>,
}

/// The folder holding every workspace's fallback marks, under `home`.
pub fn fallback_root(home: &Path) -> PathBuf {
    home.join(".local")
        .join("state")
        .join("mandate")
        .join("marks")
}

impl Marks {
    pub fn new(workspace_dir: &Path) -> Marks {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        Marks::with_home(workspace_dir, home.as_deref())
    }

    /// The marks of `workspace_dir`, with the fallback folder under `home`.
    pub fn with_home(workspace_dir: &Path, home: Option<&Path>) -> Marks {
        let key = crate::sha256_hex(workspace_dir.to_string_lossy().as_bytes());
        Marks {
            dir: workspace_dir.join("marks"),
            fallback: home.map(|home| fallback_root(home).join(key.get(..16).unwrap_or(&key))),
        }
    }

    fn dirs(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.dir.as_path()).chain(self.fallback.as_deref())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Remember that an event of kind `event` could not be recorded.
    pub fn unrecorded(&self, event: &str, why: &str) -> std::io::Result<()> {
        self.make("unrecorded", event, why)
    }

    /// Remember that the run was stopped by `rule` (when the state file cannot keep it).
    pub fn stopped(&self, rule: &str, why: &str) -> std::io::Result<()> {
        self.make("stopped", rule, why)
    }

    /// Make the mark beside the record, or else in the fallback folder.
    fn make(&self, prefix: &str, what: &str, why: &str) -> std::io::Result<()> {
        match Self::make_in(&self.dir, prefix, what, why) {
            Ok(()) => Ok(()),
            Err(error) => match &self.fallback {
                Some(fallback) => Self::make_in(fallback, prefix, what, why).map_err(|also| {
                    std::io::Error::new(
                        error.kind(),
                        format!(
                            "`{}`: {error}; and the fallback `{}`: {also}",
                            self.dir.display(),
                            fallback.display()
                        ),
                    )
                }),
                None => Err(error),
            },
        }
    }

    fn make_in(dir: &Path, prefix: &str, what: &str, why: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        // Microseconds, so that two marks of one call (an unrecorded event, then a stop)
        // list in the order they were made; names written with milliseconds still read.
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        let what: String = what
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let path = dir.join(format!("{prefix}.{micros}.{}.{what}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        // The name is the mark; the reason is a bonus when there is room for it.
        let _ = file.write_all(why.as_bytes());
        let _ = file.sync_all();
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Every mark of both folders, oldest first. An unreadable marks folder: an error,
    /// so the caller fails closed.
    pub fn list(&self) -> std::io::Result<Vec<Mark>> {
        let mut marks = Vec::new();
        for dir in self.dirs() {
            Self::list_in(dir, &mut marks)?;
        }
        marks.sort_by(|a, b| a.at_micros.cmp(&b.at_micros).then(a.what.cmp(&b.what)));
        Ok(marks)
    }

    fn list_in(dir: &Path, marks: &mut Vec<Mark>) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            let mut parts = name.splitn(4, '.');
            let kind = match parts.next() {
                Some("unrecorded") => MarkKind::Unrecorded,
                Some("stopped") => MarkKind::Stopped,
                _ => continue,
            };
            let at_micros = parts
                .next()
                .and_then(|m| m.parse::<u128>().ok())
                .map(|t| if t < MICROS_FROM { t * 1000 } else { t })
                .unwrap_or(0);
            let _pid = parts.next();
            let what = parts.next().unwrap_or("").to_string();
            let why = std::fs::read_to_string(entry.path())
                .ok()
                .filter(|w| !w.is_empty());
            marks.push(Mark {
                kind,
                at_millis: at_micros / 1000,
                at_micros,
                what,
                why,
            });
        }
        Ok(())
    }

    /// How many `unrecorded` marks are already written into the record (`record.gap`).
    pub fn noted(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .strip_prefix("noted.")
                            .and_then(|n| n.parse::<usize>().ok())
                    })
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// The first `count` `unrecorded` marks are in the record now.
    pub fn set_noted(&self, count: usize) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(format!("noted.{count}")))
            .map(|_| ())
    }

    /// Forget every mark of both folders (a new run starts).
    pub fn clear(&self) -> std::io::Result<()> {
        for dir in self.dirs() {
            match std::fs::remove_dir_all(dir) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_listed_oldest_first_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let marks = Marks::new(dir.path());
        assert!(marks.list().unwrap().is_empty());
        marks.unrecorded("tool.post", "no space left").unwrap();
        marks.stopped("stop[0]", "").unwrap();
        let listed = marks.list().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].kind, MarkKind::Unrecorded);
        assert_eq!(listed[0].what, "tool.post");
        assert_eq!(listed[0].why.as_deref(), Some("no space left"));
        assert!(
            listed[0]
                .describe()
                .contains("`tool.post` event could not be recorded")
        );
        assert_eq!(listed[1].what, "stop_0_");
        marks.clear().unwrap();
        assert!(marks.list().unwrap().is_empty());
    }

    #[test]
    fn marks_made_in_one_millisecond_keep_their_order_and_old_names_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let marks = Marks::with_home(dir.path(), None);
        // Same millisecond, the later one first by name: time decides, not the name.
        let at = dir.path().join("marks");
        std::fs::create_dir_all(&at).unwrap();
        std::fs::write(at.join("stopped.1765000000000001.7.stop_0_"), "").unwrap();
        std::fs::write(at.join("unrecorded.1765000000000900.7.tool.post"), "").unwrap();
        // Written in milliseconds by an older mandate, a millisecond earlier.
        std::fs::write(at.join("unrecorded.1764999999999.7.tool.pre"), "").unwrap();
        let listed = marks.list().unwrap();
        let order: Vec<_> = listed.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(order, ["tool.pre", "stop_0_", "tool.post"]);
        assert_eq!(listed[0].at_millis, 1_764_999_999_999);
        assert_eq!(listed[1].at_millis, 1_765_000_000_000);
        assert_eq!(listed[2].at_millis, 1_765_000_000_000);
    }

    #[test]
    fn a_store_that_takes_no_mark_leaves_it_in_the_fallback_folder() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        // The marks folder is a link to nowhere: no mark can be created in it.
        let workspace = dir.path().join("workspace");
        std::fs::create_dir_all(&workspace).unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone/marks"), workspace.join("marks")).unwrap();
        let marks = Marks::with_home(&workspace, Some(&home));
        marks.stopped("stop[0]", "read-only").unwrap();
        let listed = marks.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].kind, MarkKind::Stopped);
        assert!(fallback_root(&home).read_dir().unwrap().next().is_some());
        // Another workspace does not see it.
        let other = Marks::with_home(&dir.path().join("other"), Some(&home));
        assert!(other.list().unwrap().is_empty());
        // Without a fallback the failure is an error the caller states.
        assert!(
            Marks::with_home(&workspace, None)
                .unrecorded("x", "y")
                .is_err()
        );
        marks.clear().unwrap();
        assert!(marks.list().unwrap().is_empty());
    }
}
