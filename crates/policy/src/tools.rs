//! Claude Code's tools as touches.
//!
//! Tool names and input fields are Claude Code's (the de-facto vocabulary other agents'
//! hooks mirror). Paths are made absolute against the call's working directory and
//! normalised; a symbolic link in an existing prefix adds the resolved path as a second
//! touch, so a deny matches either and an allow must match both.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::decision::{ToolRun, Touch};
use crate::engine::{Call, Fs};
use crate::path::absolutize;
use crate::url_target::url_host;
use mandate_shell::GitTouch;

/// The touches of one call. Never fails: input that cannot be understood becomes an
/// opaque touch, which only an exact execute rule allows.
pub fn touches_for_call(
    call: &Call<'_>,
    home: Option<&Path>,
    fs: &dyn Fs,
    mandate_binary: Option<&Path>,
) -> Vec<Touch> {
    let input = call.input;
    let cwd = call.cwd;
    let mut touches = Vec::new();
    let string = |key: &str| input.get(key).and_then(Value::as_str);
    match call.tool {
        "Read" => match string("file_path") {
            Some(path) => push_path(&mut touches, PathTouch::Read, cwd, path, home, fs),
            None => touches.push(malformed(call, "file_path")),
        },
        "Write" | "Edit" | "MultiEdit" => match string("file_path") {
            Some(path) => push_path(&mut touches, PathTouch::Write, cwd, path, home, fs),
            None => touches.push(malformed(call, "file_path")),
        },
        "NotebookEdit" => match string("notebook_path") {
            Some(path) => push_path(&mut touches, PathTouch::Write, cwd, path, home, fs),
            None => touches.push(malformed(call, "notebook_path")),
        },
        "Glob" => {
            let base = string("path").unwrap_or(".");
            let pattern = string("pattern").unwrap_or("**");
            // The search is rooted at the literal folders that lead the pattern.
            let root = if Path::new(pattern).is_absolute() {
                literal_prefix(pattern)
            } else {
                join_literal(base, pattern)
            };
            push_path(&mut touches, PathTouch::Tree, cwd, &root, home, fs);
        }
        "Grep" => {
            let base = string("path").unwrap_or(".");
            let absolute = absolutize(cwd, base, home);
            let kind = if fs.is_dir(&absolute) || base == "." {
                PathTouch::Tree
            } else {
                PathTouch::Read
            };
            push_path(&mut touches, kind, cwd, base, home, fs);
        }
        "LS" => {
            let base = string("path").unwrap_or(".");
            push_path(&mut touches, PathTouch::Read, cwd, base, home, fs);
        }
        "WebFetch" => match string("url") {
            Some(url) => push_url(&mut touches, url, url),
            None => touches.push(malformed(call, "url")),
        },
        "WebSearch" => touches.push(Touch::Expose("websearch".to_string())),
        "Bash" => match string("command") {
            Some(command) => bash_touches(&mut touches, command, cwd, home, fs, mandate_binary),
            None => touches.push(malformed(call, "command")),
        },
        tool => {
            // A URL handed to a tool is data leaving for that URL's host.
            if tool.starts_with("mcp__") {
                let mut strings = Vec::new();
                collect_strings(input, &mut strings, 0);
                for text in strings {
                    for url in crate::url_target::urls_in(text) {
                        push_url(&mut touches, url, tool);
                    }
                }
            }
            touches.push(Touch::Call {
                tool: tool.to_string(),
                input: input.clone(),
            })
        }
    }
    touches
}

#[derive(Clone, Copy)]
enum PathTouch {
    Read,
    Tree,
    Write,
    WriteTree,
}

fn push_path(
    touches: &mut Vec<Touch>,
    kind: PathTouch,
    cwd: &Path,
    raw: &str,
    home: Option<&Path>,
    fs: &dyn Fs,
) {
    if raw.contains(['$', '`']) || raw.contains('\0') {
        touches.push(Touch::Opaque {
            text: raw.to_string(),
            line: raw.to_string(),
            why: "the path holds an expansion whose value is unknown".to_string(),
        });
        return;
    }
    let lexical = absolutize(cwd, raw, home);
    let resolved = fs.resolve(&lexical);
    let make = |path: PathBuf| match kind {
        PathTouch::Read => Touch::Read(path),
        PathTouch::Tree => Touch::ReadTree(path),
        PathTouch::Write => Touch::Write(path),
        PathTouch::WriteTree => Touch::WriteTree(path),
    };
    if resolved != lexical {
        touches.push(make(resolved));
    }
    touches.push(make(lexical));
}

fn malformed(call: &Call<'_>, field: &str) -> Touch {
    Touch::Opaque {
        text: format!("{} without `{field}`", call.tool),
        line: String::new(),
        why: format!("the tool input has no string `{field}`"),
    }
}

/// The folders before the first segment with a glob character.
fn literal_prefix(pattern: &str) -> String {
    let mut out = Vec::new();
    for segment in pattern.split('/') {
        if segment.contains(['*', '?', '[', '{']) {
            break;
        }
        out.push(segment);
    }
    // The last literal segment of a pattern without wildcards names a file; keep it, a
    // tree search of a file is a read of that file.
    let joined = out.join("/");
    if joined.is_empty() && pattern.starts_with('/') {
        "/".to_string()
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

fn join_literal(base: &str, pattern: &str) -> String {
    let prefix = literal_prefix(pattern);
    if prefix == "." {
        base.to_string()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), prefix)
    }
}

/// The folder of a `dir/**` effect, when the folder itself names no pattern.
fn tree_root(path: &str) -> Option<&str> {
    let root = if path == "**" {
        "."
    } else {
        path.strip_suffix("/**")?
    };
    let root = if root.is_empty() { "/" } else { root };
    (!root.contains(['*', '?', '['])).then_some(root)
}

/// Every string inside a JSON value (depth-bounded: deeper input is refused elsewhere).
pub fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>, depth: usize) {
    if depth > 64 {
        return;
    }
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items
            .iter()
            .for_each(|v| collect_strings(v, out, depth + 1)),
        Value::Object(map) => map
            .values()
            .for_each(|v| collect_strings(v, out, depth + 1)),
        _ => {}
    }
}

/// Data sent to where `url` really goes ([`url_host`]), or a refusal when that is unclear.
fn push_url(touches: &mut Vec<Touch>, url: &str, line: &str) {
    match url_host(url) {
        Ok(host) => touches.push(Touch::Expose(host)),
        Err(why) => touches.push(Touch::Opaque {
            text: url.to_string(),
            line: line.to_string(),
            why,
        }),
    }
}

fn bash_touches(
    touches: &mut Vec<Touch>,
    command: &str,
    cwd: &Path,
    home: Option<&Path>,
    fs: &dyn Fs,
    mandate_binary: Option<&Path>,
) {
    let analysis = mandate_shell::analyze(command);
    // mandate's own verb and variables: one place, `mandate_verb`.
    let mandate = crate::mandate_verb::inspect(command, &analysis, cwd, home, fs, mandate_binary);
    touches.extend(mandate.refusals);
    for part in &analysis.opaque {
        touches.push(Touch::Opaque {
            text: part.text.clone(),
            line: command.to_string(),
            why: part.reason.clone(),
        });
    }
    for simple in &analysis.commands {
        let dir = match &simple.cwd {
            Some(dir) if dir.contains(['$', '`']) => {
                touches.push(Touch::Opaque {
                    text: format!("cd {dir}"),
                    line: command.to_string(),
                    why: "the directory holds an expansion whose value is unknown".to_string(),
                });
                continue;
            }
            Some(dir) => absolutize(cwd, dir, home),
            None => cwd.to_path_buf(),
        };
        for effect in &simple.effects {
            match effect {
                // `dir/**` is the analyser's "everything under dir" (`grep -r`, `rm -r`):
                // judged as a folder, like a search, not as a glob.
                mandate_shell::Effect::Read(path) => match tree_root(path) {
                    Some(root) => push_path(touches, PathTouch::Tree, &dir, root, home, fs),
                    None => push_path(touches, PathTouch::Read, &dir, path, home, fs),
                },
                mandate_shell::Effect::Write(path) => match tree_root(path) {
                    Some(root) => push_path(touches, PathTouch::WriteTree, &dir, root, home, fs),
                    None => push_path(touches, PathTouch::Write, &dir, path, home, fs),
                },
                mandate_shell::Effect::Network(target) => push_url(touches, target, command),
                mandate_shell::Effect::Git {
                    what,
                    path,
                    from_top,
                } => git_touches(touches, *what, path, *from_top, &dir, home, fs),
            }
        }
        let run = simple.invocation.as_ref().map(|invocation| {
            Box::new(ToolRun {
                tool: invocation.tool.clone(),
                paths: invocation
                    .paths
                    .iter()
                    .map(|p| absolutize(&dir, p, home))
                    .collect(),
                default_path: invocation
                    .default_path
                    .as_ref()
                    .map(|p| absolutize(&dir, p, home)),
                names: invocation.names.clone(),
                unvetted: invocation.unvetted.clone(),
            })
        });
        touches.push(Touch::Execute {
            line: simple.line(),
            program: simple.program.clone(),
            args: simple.args.clone(),
            known: simple.known,
            run,
        });
    }
}

/// What a git effect touches. Paths git reads from the top of the work tree are resolved
/// from there; without a work tree above the directory, from `/`, where nothing is
/// allowed (git would fail anyway, unless told of a repository another way, which the
/// analyser makes opaque).
fn git_touches(
    touches: &mut Vec<Touch>,
    what: GitTouch,
    path: &str,
    from_top: bool,
    dir: &Path,
    home: Option<&Path>,
    fs: &dyn Fs,
) {
    let top = fs.git_top(dir).unwrap_or_else(|| PathBuf::from("/"));
    if what == GitTouch::Stash {
        match fs.git_stashed(&top, path) {
            Some(files) => {
                for file in files {
                    history(touches, &top, file.clone());
                    touches.push(Touch::Write(file));
                }
            }
            None => {
                history(touches, &top, top.clone());
                touches.push(Touch::WriteTree(top));
            }
        }
        return;
    }
    if path.contains(['$', '`']) {
        touches.push(Touch::Opaque {
            text: path.to_string(),
            line: path.to_string(),
            why: "the git path holds an expansion whose value is unknown".to_string(),
        });
        return;
    }
    let base = if from_top { top.as_path() } else { dir };
    let target = absolutize(base, path, home);
    match what {
        GitTouch::History => history(touches, &top, target),
        GitTouch::Ambiguous => {
            // git takes the word as a path when it exists, else as a revision.
            let exists = fs.is_dir(&target) || fs.expand(&target).is_some_and(|p| !p.is_empty());
            history(touches, &top, if exists { target } else { top.clone() });
        }
        GitTouch::Write => {
            push_path(touches, PathTouch::Write, base, path, home, fs);
            push_path(touches, PathTouch::WriteTree, base, path, home, fs);
        }
        GitTouch::Revert => match fs.git_changed(&top, &target) {
            Some(files) => {
                for file in files {
                    history(touches, &top, file.clone());
                    touches.push(Touch::Write(file));
                }
            }
            None => {
                history(touches, &top, target.clone());
                touches.push(Touch::Write(target.clone()));
                touches.push(Touch::WriteTree(target));
            }
        },
        GitTouch::Changed => match fs.git_changed(&top, &target) {
            Some(files) => {
                for file in files {
                    history(touches, &top, file);
                }
            }
            None => history(touches, &top, target),
        },
        GitTouch::Stash => {}
    }
}

fn history(touches: &mut Vec<Touch>, top: &Path, path: PathBuf) {
    touches.push(Touch::ReadHistory {
        path,
        top: top.to_path_buf(),
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn glob_roots() {
        assert_eq!(
            join_literal(".", "billing/export/**/*.py"),
            "./billing/export"
        );
        assert_eq!(join_literal("src", "*.rs"), "src");
        assert_eq!(literal_prefix("/etc/**"), "/etc");
    }
}
