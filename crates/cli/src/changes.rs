//! What a run changed, as git shows it: the base commit recorded at `mandate start`, and
//! at `mandate finish` (or when an open run's packet is shown) the diff of every file the
//! run's calls wrote, redacted as the record is.
//!
//! Only files the run wrote get a diff; other files git shows changed since the base are
//! named, never shown, and a file a policy block keeps from being read is named with its
//! diff withheld: the packet must not become a way to read what the contract protects.

use std::path::Path;
use std::process::Command;

use mandate_policy::{Call, Context};
use mandate_project::{Project, RealFs};
use mandate_record::packet::ReviewPacket;
use serde_json::{Value, json};

/// The longest diff kept per file (the record digests strings over 64 KiB).
const DIFF_MAX_BYTES: usize = 32 * 1024;

fn git(root: &Path, args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// The commit the repository is at (`None` when it is not a git repository or has no
/// commit yet).
pub fn base_commit(root: &Path) -> Option<String> {
    match git(root, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])? {
        (true, out) => Some(out.trim().to_owned()).filter(|c| !c.is_empty()),
        _ => None,
    }
}

/// The `run.changes` event for a packet: the diff of each file the run changed.
pub fn changes_event(project: &Project, packet: &ReviewPacket) -> Value {
    let root = packet
        .repository
        .as_deref()
        .map(Path::new)
        .unwrap_or(&project.root);
    let base = packet.base_commit.clone();
    let withhold = withheld_reads(project);
    let mut files = Vec::new();
    let mut written: Vec<String> = Vec::new();
    for item in &packet.files_changed {
        let Some(path) = item.detail.get("path").and_then(Value::as_str) else {
            continue;
        };
        written.push(path.to_owned());
        let (status, diff) = if Path::new(path).is_absolute() {
            ("outside the repository".to_owned(), String::new())
        } else if withhold(path) {
            (
                "withheld: a policy block keeps this file from being read".to_owned(),
                String::new(),
            )
        } else {
            file_diff(root, base.as_deref(), path)
        };
        files.push(json!({"path": path, "status": status, "diff": diff, "entries": item.entries}));
    }
    let outside: Vec<String> = base
        .as_deref()
        .map(|base| changed_since(root, base))
        .unwrap_or_default()
        .into_iter()
        .filter(|f| !written.contains(f))
        .collect();
    json!({"type": "run.changes", "base_commit": base, "files": files, "outside_run": outside})
}

/// A judge of "would the policy refuse to read this?", from the policy alone: a file
/// under one of its read blocks gets no diff.
fn withheld_reads(project: &Project) -> impl Fn(&str) -> bool + '_ {
    let engine = project.engine(None).ok();
    move |path: &str| {
        let Some(engine) = &engine else {
            return true; // no policy to ask: show nothing
        };
        let input = json!({"file_path": path});
        let verdict = engine.judge(
            &Call {
                tool: "Read",
                input: &input,
                cwd: &project.root,
            },
            &Context {
                rollback_note: false,
                disabled: &[],
                drifted: &[],
                carried: None,
            },
            &RealFs::new(&project.root),
        );
        verdict
            .touches
            .iter()
            .any(|t| t.rules.iter().any(|r| r.contains("block")))
    }
}

/// (status, redacted diff) of one repository-relative path against `base`.
fn file_diff(root: &Path, base: Option<&str>, path: &str) -> (String, String) {
    let Some(base) = base else {
        return ("no base commit to compare with".to_owned(), String::new());
    };
    let args = [
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
        "--relative",
        base,
        "--",
        path,
    ];
    let mut diff = git(root, &args).map(|(_, out)| out).unwrap_or_default();
    if diff.is_empty() && root.join(path).is_file() {
        // Not in the base commit and not added to the index: a new file.
        let tracked =
            git(root, &["ls-files", "--error-unmatch", "--", path]).is_some_and(|(ok, _)| ok);
        if !tracked {
            diff = git(
                root,
                &["diff", "--no-color", "--no-index", "--", "/dev/null", path],
            )
            .map(|(_, out)| out)
            .unwrap_or_default();
        }
    }
    let status = if diff.is_empty() {
        "unchanged since the base commit"
    } else if diff.contains("\nnew file mode") || diff.starts_with("new file mode") {
        "added"
    } else if diff.contains("\ndeleted file mode") {
        "deleted"
    } else {
        "modified"
    };
    let diff = mandate_record::redact::redact_str(&diff).unwrap_or(diff);
    (status.to_owned(), cut(diff))
}

fn cut(mut text: String) -> String {
    if text.len() <= DIFF_MAX_BYTES {
        return text;
    }
    let mut end = DIFF_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("\n[… cut: the diff is longer than 32 KiB; `git diff` shows the rest]\n");
    text
}

/// Files git shows changed since `base`: tracked changes and new untracked files.
fn changed_since(root: &Path, base: &str) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for args in [
        &["diff", "--name-only", "--relative", "--no-renames", base][..],
        &["ls-files", "--others", "--exclude-standard"][..],
    ] {
        if let Some((true, out)) = git(root, args) {
            for line in out.lines().filter(|l| !l.is_empty()) {
                if !files.iter().any(|f| f == line) {
                    files.push(line.to_owned());
                }
            }
        }
    }
    files.sort();
    files
}
