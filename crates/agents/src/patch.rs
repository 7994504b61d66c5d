//! The `apply_patch` format Codex CLI and Copilot CLI share, read into the files it
//! touches.
//!
//! ```text
//! *** Begin Patch
//! *** Add File: PATH          then lines starting with `+`
//! *** Delete File: PATH
//! *** Update File: PATH       then an optional `*** Move to: PATH`, then hunks:
//! @@ [context]                lines starting with ` `, `-` or `+`; `*** End of File`
//! *** End Patch
//! ```
//!
//! The reader is strict on purpose: a line it does not place exactly is an error, and
//! the adapter then hands the whole call to the policy as an unknown tool (refused by
//! default). A lenient reader could take a line for hunk content that the agent's own
//! parser takes for a file header (an indented `*** Add File:`), and a file would change
//! without being judged.

use std::fmt;

/// One file operation of a patch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOp {
    Add {
        path: String,
        content: String,
    },
    Delete {
        path: String,
    },
    Update {
        path: String,
        move_to: Option<String>,
        /// Each hunk as the text it replaces and the text it puts in its place.
        hunks: Vec<(String, String)>,
    },
}

impl FileOp {
    /// Every path the operation writes (a move writes both ends).
    pub fn paths(&self) -> Vec<&str> {
        match self {
            FileOp::Add { path, .. } | FileOp::Delete { path } => vec![path],
            FileOp::Update { path, move_to, .. } => {
                let mut paths = vec![path.as_str()];
                paths.extend(move_to.as_deref());
                paths
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "patch line {}: {}", self.line, self.message)
    }
}

const BEGIN: &str = "*** Begin Patch";
const END: &str = "*** End Patch";
const ADD: &str = "*** Add File: ";
const DELETE: &str = "*** Delete File: ";
const UPDATE: &str = "*** Update File: ";
const MOVE: &str = "*** Move to: ";
const END_OF_FILE: &str = "*** End of File";

/// Read a patch. Text around `*** Begin Patch` … `*** End Patch` (a heredoc's first and
/// last line) is not accepted: the caller strips what its agent wraps around it.
pub fn parse(text: &str) -> Result<Vec<FileOp>, PatchError> {
    let lines: Vec<&str> = text.lines().collect();
    let error = |line: usize, message: &str| PatchError {
        line: line + 1,
        message: message.to_string(),
    };
    let mut at = 0;
    // Blank lines before the first marker are harmless.
    while lines.get(at).is_some_and(|l| l.trim().is_empty()) {
        at += 1;
    }
    if lines.get(at).map(|l| l.trim_end()) != Some(BEGIN) {
        return Err(error(at, "a patch starts with `*** Begin Patch`"));
    }
    at += 1;
    let mut ops = Vec::new();
    loop {
        let Some(line) = lines.get(at) else {
            return Err(error(at, "the patch has no `*** End Patch`"));
        };
        let header = line.trim_end();
        if header == END {
            at += 1;
            break;
        }
        if let Some(path) = header.strip_prefix(ADD) {
            let path = file_path(path).ok_or_else(|| error(at, "`*** Add File:` names no path"))?;
            at += 1;
            let mut content = String::new();
            while let Some(line) = lines.get(at) {
                let Some(added) = line.strip_prefix('+') else {
                    break;
                };
                content.push_str(added);
                content.push('\n');
                at += 1;
            }
            ops.push(FileOp::Add { path, content });
        } else if let Some(path) = header.strip_prefix(DELETE) {
            let path =
                file_path(path).ok_or_else(|| error(at, "`*** Delete File:` names no path"))?;
            at += 1;
            ops.push(FileOp::Delete { path });
        } else if let Some(path) = header.strip_prefix(UPDATE) {
            let path =
                file_path(path).ok_or_else(|| error(at, "`*** Update File:` names no path"))?;
            at += 1;
            let mut move_to = None;
            if let Some(target) = lines.get(at).and_then(|l| l.trim_end().strip_prefix(MOVE)) {
                move_to = Some(
                    file_path(target).ok_or_else(|| error(at, "`*** Move to:` names no path"))?,
                );
                at += 1;
            }
            let mut hunks = Vec::new();
            let mut current: Option<(String, String)> = None;
            while let Some(line) = lines.get(at) {
                if line.starts_with("@@") {
                    hunks.extend(current.take());
                    current = Some((String::new(), String::new()));
                } else if line.trim_end() == END_OF_FILE {
                    // Belongs to the hunk before it.
                } else if let Some(rest) = line.strip_prefix(['-', '+', ' ']) {
                    // A hunk may start without `@@` when it is the file's first.
                    let (old, new) = current.get_or_insert_with(Default::default);
                    if !line.starts_with('+') {
                        old.push_str(rest);
                        old.push('\n');
                    }
                    if !line.starts_with('-') {
                        new.push_str(rest);
                        new.push('\n');
                    }
                    if line.starts_with(' ') && looks_like_marker(rest) {
                        return Err(error(
                            at,
                            "an indented `***` or `@@` line is ambiguous: is it context or a header?",
                        ));
                    }
                } else if line.is_empty() {
                    // An empty context line (editors strip the lone space).
                    let (old, new) = current.get_or_insert_with(Default::default);
                    old.push('\n');
                    new.push('\n');
                } else {
                    break;
                }
                at += 1;
            }
            hunks.extend(current);
            if hunks.is_empty() && move_to.is_none() {
                return Err(error(at, "`*** Update File:` has no hunk"));
            }
            ops.push(FileOp::Update {
                path,
                move_to,
                hunks,
            });
        } else if looks_like_marker(line) {
            return Err(error(
                at,
                &format!("`{}` is not a patch header", line.trim()),
            ));
        } else {
            return Err(error(
                at,
                "expected `*** Add File:`, `*** Delete File:`, `*** Update File:` or `*** End Patch`",
            ));
        }
    }
    if lines
        .get(at..)
        .is_some_and(|rest| rest.iter().any(|l| !l.trim().is_empty()))
    {
        return Err(error(at, "text after `*** End Patch`"));
    }
    if ops.is_empty() {
        return Err(error(at, "the patch changes no file"));
    }
    Ok(ops)
}

/// A header's path: trimmed, not empty.
fn file_path(raw: &str) -> Option<String> {
    let path = raw.trim();
    (!path.is_empty()).then(|| path.to_string())
}

/// A line that the agent's parser might read as a marker once it trims it.
fn looks_like_marker(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.starts_with("*** ") || trimmed.starts_with("@@")
}

/// The patch inside a shell heredoc the model may send instead of calling the tool:
/// `apply_patch <<'EOF'` … `EOF` (Codex intercepts that command and applies the patch).
/// `None` unless the whole command is exactly that.
pub fn from_heredoc(command: &str) -> Option<&str> {
    let command = command.trim();
    let (first, body) = command.split_once('\n')?;
    let first = first.trim();
    let rest = first.strip_prefix("apply_patch")?.trim_start();
    let delimiter = rest.strip_prefix("<<")?.trim_start();
    let delimiter = delimiter
        .strip_prefix('\'')
        .and_then(|d| d.strip_suffix('\''))
        .or_else(|| {
            delimiter
                .strip_prefix('"')
                .and_then(|d| d.strip_suffix('"'))
        })
        .unwrap_or(delimiter);
    if delimiter.is_empty()
        || !delimiter
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    let (patch, last) = body.rsplit_once('\n')?;
    (last.trim() == delimiter).then_some(patch)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn add_update_delete_and_move() {
        let ops = parse(
            "*** Begin Patch\n*** Add File: a.txt\n+one\n+two\n*** Delete File: old.txt\n\
             *** Update File: src/x.py\n*** Move to: src/y.py\n@@ def f():\n-    return 1\n\
             +    return 2\n     pass\n@@\n-a\n+b\n*** End of File\n*** End Patch\n",
        )
        .unwrap();
        assert_eq!(
            ops[0],
            FileOp::Add {
                path: "a.txt".into(),
                content: "one\ntwo\n".into()
            }
        );
        assert_eq!(
            ops[1],
            FileOp::Delete {
                path: "old.txt".into()
            }
        );
        assert_eq!(
            ops[2],
            FileOp::Update {
                path: "src/x.py".into(),
                move_to: Some("src/y.py".into()),
                hunks: vec![
                    (
                        "    return 1\n    pass\n".into(),
                        "    return 2\n    pass\n".into()
                    ),
                    ("a\n".into(), "b\n".into()),
                ],
            }
        );
        assert_eq!(ops[2].paths(), vec!["src/x.py", "src/y.py"]);
    }

    #[test]
    fn strict_about_what_it_cannot_place() {
        for bad in [
            "",
            "*** Add File: a\n+x\n*** End Patch\n",
            "*** Begin Patch\n*** Add File: a\n+x\n",
            "*** Begin Patch\n*** End Patch\n",
            "*** Begin Patch\n*** Update File: a\n@@\n-x\n+y\n  *** Add File: deploy/evil.sh\n*** End Patch\n",
            "*** Begin Patch\n *** Add File: deploy/evil.sh\n+x\n*** End Patch\n",
            "*** Begin Patch\n*** Add File: a\n+x\n*** Copy File: b\n*** End Patch\n",
            "*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\n*** Add File: b\n",
            "*** Begin Patch\n*** Add File:   \n+x\n*** End Patch\n",
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad:?}");
        }
    }

    #[test]
    fn heredoc_form() {
        let command =
            "apply_patch <<'EOF'\n*** Begin Patch\n*** Delete File: x\n*** End Patch\nEOF";
        let patch = from_heredoc(command).unwrap();
        assert_eq!(
            parse(patch).unwrap(),
            vec![FileOp::Delete { path: "x".into() }]
        );
        assert_eq!(
            from_heredoc("apply_patch <<EOF\n*** Begin Patch\nEOF; rm -rf /"),
            None
        );
        assert_eq!(from_heredoc("cat <<'EOF'\nx\nEOF"), None);
    }
}
