//! What git holds, asked of git itself, for the evaluator's history questions.
//!
//! A git command that shows history (`git show REV:path`, `git log -p`) reveals files that
//! are no longer in the working tree, so a read block is judged against every path git
//! keeps: the commits of every ref and of the reflog (stashes included), the index and the
//! working tree. Stash and checkout of the working tree are judged by the files they
//! really write: the ones with local changes, or the ones a stash entry holds.
//!
//! Each question runs one git process with a deadline; a failure, a timeout or output that
//! cannot be read is "unknown", which the evaluator treats as the strict answer. Git runs
//! with the repository's configuration, but with the file-system monitor and optional
//! locks turned off, so the question neither starts a program nor takes a lock.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest a history question may take before the answer is "unknown".
const DEADLINE: Duration = Duration::from_secs(3);
/// The most output read from one question; more is "unknown".
const MAX_OUTPUT: usize = 64 * 1024 * 1024;

/// Run git in `top` with `args`; its standard output when it exits successfully in time.
fn run(top: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["-c", "core.fsmonitor=false", "-c", "core.quotePath=false"])
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let read = (&mut stdout)
            .take(MAX_OUTPUT as u64 + 1)
            .read_to_end(&mut out);
        read.ok().map(|_| out)
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < DEADLINE => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let out = reader.join().ok()??;
    (status.success() && out.len() <= MAX_OUTPUT).then_some(out)
}

/// NUL-separated paths relative to `top`, made absolute.
fn paths(top: &Path, out: &[u8]) -> Option<Vec<PathBuf>> {
    out.split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| std::str::from_utf8(p).ok().map(|p| top.join(p)))
        .collect()
}

/// `path` relative to `top`, as a pathspec git reads literally (`.` for the top itself).
fn literal_spec(top: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(top).ok()?.to_str()?;
    Some(if relative.is_empty() {
        ":(top,literal).".to_string()
    } else {
        format!(":(top,literal){relative}")
    })
}

/// Every path git keeps at or under `path`: in any commit of any ref or of the reflog,
/// and in the index. `None` when git cannot say.
pub fn history_paths(top: &Path, path: &Path) -> Option<Vec<PathBuf>> {
    let spec = literal_spec(top, path)?;
    let committed = run(
        top,
        &[
            "log",
            "--all",
            "--reflog",
            "--format=",
            "--name-only",
            "--no-renames",
            "-z",
            "--",
            &spec,
        ],
    )?;
    let indexed = run(top, &["ls-files", "-z", "--", &spec])?;
    let mut found = paths(top, &committed)?;
    found.extend(paths(top, &indexed)?);
    found.sort();
    found.dedup();
    Some(found)
}

/// The files with local changes at or under `path`: modified, staged, deleted or
/// untracked (not ignored).
pub fn changed(top: &Path, path: &Path) -> Option<Vec<PathBuf>> {
    let spec = literal_spec(top, path)?;
    let out = run(
        top,
        &[
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
            &spec,
        ],
    )?;
    let mut files = Vec::new();
    for entry in out.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        // `XY path`
        let name = entry.get(3..)?;
        files.push(top.join(std::str::from_utf8(name).ok()?));
    }
    Some(files)
}

/// The files a stash entry holds, tracked and untracked.
pub fn stashed(top: &Path, entry: &str) -> Option<Vec<PathBuf>> {
    if entry.starts_with('-') {
        return None;
    }
    let out = run(
        top,
        &[
            "stash",
            "show",
            "--name-only",
            "-z",
            "--include-untracked",
            "--no-renames",
            entry,
        ],
    )?;
    paths(top, &out)
}
