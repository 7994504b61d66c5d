//! Claude Code's tools as touches.
//!
//! Tool names and input fields are Claude Code's (the de-facto vocabulary other agents'
//! hooks mirror). Each path is judged twice: as written (made absolute against the call's
//! working directory, `..` removed as text) and where the kernel takes it (every link
//! followed, `..` applied to where the links lead: [`crate::path::resolve`]). When the two
//! differ both are touches, so a deny matches either and an allow must match both.
//!
//! A shell line that makes links (`ln`, `cp -s`, `cp -l`) is judged as if they already
//! existed, as they will for the commands after them, and a symbolic link to a folder
//! that holds it is refused outright.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::decision::{ToolRun, Touch};
use crate::engine::{Call, Fs};
use crate::path::{absolutize, holds, resolve};
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
            Some(path) => push_path(&mut touches, PathTouch::Read, cwd, path, home, &[fs]),
            None => touches.push(malformed(call, "file_path")),
        },
        "Write" | "Edit" | "MultiEdit" => match string("file_path") {
            Some(path) => push_path(&mut touches, PathTouch::Write, cwd, path, home, &[fs]),
            None => touches.push(malformed(call, "file_path")),
        },
        "NotebookEdit" => match string("notebook_path") {
            Some(path) => push_path(&mut touches, PathTouch::Write, cwd, path, home, &[fs]),
            None => touches.push(malformed(call, "notebook_path")),
        },
        "Glob" => {
            let base = string("path").unwrap_or(".");
            let pattern = string("pattern").unwrap_or("**");
            // The search is rooted at the literal folders that lead the pattern, and lists
            // the names the rest of the pattern matches there.
            let root = if Path::new(pattern).is_absolute() {
                literal_prefix(pattern)
            } else {
                join_literal(base, pattern)
            };
            let kind = match pattern_below(pattern) {
                // Without a `/` the pattern may match at any depth (ripgrep's `--glob`).
                Some(rest) if !rest.contains('/') => PathTouch::Matching(format!("**/{rest}")),
                Some(rest) => PathTouch::Matching(rest),
                None => PathTouch::Tree,
            };
            push_path(&mut touches, kind, cwd, &root, home, &[fs]);
        }
        "Grep" => {
            let base = string("path").unwrap_or(".");
            let absolute =
                resolve(fs, cwd, base, home).unwrap_or_else(|_| absolutize(cwd, base, home));
            let kind = if fs.is_dir(&absolute) || base == "." {
                // `glob` narrows the search to the files it matches (ripgrep's `--glob`:
                // a pattern without `/` matches a name at any depth).
                match string("glob")
                    .and_then(grep_filter)
                    .or_else(|| string("type").and_then(grep_type))
                {
                    Some(filter) => PathTouch::Matching(filter),
                    None => PathTouch::Tree,
                }
            } else {
                PathTouch::Read
            };
            push_path(&mut touches, kind, cwd, base, home, &[fs]);
        }
        "LS" => {
            let base = string("path").unwrap_or(".");
            push_path(&mut touches, PathTouch::Read, cwd, base, home, &[fs]);
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

#[derive(Clone)]
enum PathTouch {
    Read,
    Tree,
    /// The files under the folder whose path below it matches the pattern.
    Matching(String),
    Write,
    WriteTree,
}

/// The touches of one path: where the kernel takes it on each of `views` of the file
/// system, and the path as written.
fn push_path(
    touches: &mut Vec<Touch>,
    kind: PathTouch,
    cwd: &Path,
    raw: &str,
    home: Option<&Path>,
    views: &[&dyn Fs],
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
    let make = |path: PathBuf| match &kind {
        PathTouch::Read => Touch::Read(path),
        PathTouch::Tree => Touch::ReadTree(path),
        PathTouch::Matching(pattern) => Touch::ReadMatching {
            dir: path,
            pattern: pattern.clone(),
        },
        PathTouch::Write => Touch::Write(path),
        PathTouch::WriteTree => Touch::WriteTree(path),
    };
    for fs in views {
        match resolve(*fs, cwd, raw, home) {
            Ok(real) => {
                if let PathTouch::Tree | PathTouch::Matching(_) = kind {
                    push_linked(touches, *fs, &real, raw);
                }
                let touch = make(real);
                if touch != make(lexical.clone()) && !touches.contains(&touch) {
                    touches.push(touch);
                }
            }
            Err(why) => touches.push(Touch::Opaque {
                text: raw.to_string(),
                line: raw.to_string(),
                why: why.to_string(),
            }),
        }
    }
    touches.push(make(lexical));
}

/// A search of `dir` that follows links reads where the links in it lead, too: each such
/// place is judged as a search of its own (a link into `customer_data/` makes a search of
/// the package a read of customer data).
fn push_linked(touches: &mut Vec<Touch>, fs: &dyn Fs, dir: &Path, raw: &str) {
    match fs.links_under(dir) {
        Some(targets) => {
            for target in targets {
                let touch = Touch::ReadTree(target);
                if !touches.contains(&touch) {
                    touches.push(touch);
                }
            }
        }
        None => touches.push(Touch::Opaque {
            text: raw.to_string(),
            line: raw.to_string(),
            why: "the folder is too large to tell where the links in it lead".to_string(),
        }),
    }
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

/// The part of a `Glob` pattern after its literal folders, when it is one `PathGlob` can
/// judge file by file (no `..`, no absolute part): `**/*.go` of `internal/**/*.go`.
fn pattern_below(pattern: &str) -> Option<String> {
    let segments: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let first_wild = segments
        .iter()
        .position(|s| s.contains(['*', '?', '[', '{']))?;
    let rest = segments.get(first_wild..)?;
    if rest.iter().any(|s| *s == ".." || *s == ".") {
        return None;
    }
    Some(rest.join("/"))
}

/// A `Grep` `glob` as a pattern below the searched folder. A pattern without `/` matches
/// a name at any depth, as ripgrep's `--glob` does; a negated or climbing one is not
/// judged file by file (the search is then judged as a search of the whole folder).
fn grep_filter(glob: &str) -> Option<String> {
    let glob = glob.trim();
    if glob.is_empty() || glob.starts_with('!') || glob.split('/').any(|s| s == "..") {
        return None;
    }
    let glob = glob.trim_start_matches("./").trim_start_matches('/');
    Some(if glob.contains('/') {
        glob.to_string()
    } else {
        format!("**/{glob}")
    })
}

/// A `Grep` `type` (ripgrep's `--type`) as a pattern below the searched folder, for the
/// types whose file set is one extension; any other type is judged as a search of the
/// whole folder.
fn grep_type(kind: &str) -> Option<String> {
    let extension = match kind {
        "go" => "go",
        "rust" => "rs",
        _ => return None,
    };
    Some(format!("**/*.{extension}"))
}

/// The folder and pattern of a `dir/**/rest` effect (the Go files of a package pattern:
/// `internal/**/*.go`), when the folder names no pattern and the rest is judged file by
/// file.
fn matching_root(path: &str) -> Option<(&str, String)> {
    let (root, rest) = path.split_once("/**/")?;
    if root.contains(['*', '?', '[']) || rest.is_empty() {
        return None;
    }
    let rest = format!("**/{rest}");
    pattern_below(&rest)?;
    Some((if root.is_empty() { "/" } else { root }, rest))
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
    // The links the line makes, as the commands after them will find them.
    let with_links = LinksMade::new(fs, &analysis.commands, cwd, home);
    let views: Vec<&dyn Fs> = if with_links.links.is_empty() {
        vec![fs]
    } else {
        vec![fs, &with_links]
    };
    for (index, simple) in analysis.commands.iter().enumerate() {
        // A command's own links are not there yet when it writes their names.
        with_links.except.set(Some(index));
        let dirs = match &simple.cwd {
            Some(dir) if dir.contains(['$', '`']) => {
                touches.push(Touch::Opaque {
                    text: format!("cd {dir}"),
                    line: command.to_string(),
                    why: "the directory holds an expansion whose value is unknown".to_string(),
                });
                continue;
            }
            Some(dir) => {
                // The analyser has already removed the `..` a logical `cd` removes as text;
                // what is left is resolved as `chdir` resolves it.
                let mut dirs = Vec::new();
                for view in &views {
                    match resolve(*view, cwd, dir, home) {
                        Ok(real) if !dirs.contains(&real) => dirs.push(real),
                        Ok(_) => {}
                        Err(why) => touches.push(Touch::Opaque {
                            text: format!("cd {dir}"),
                            line: command.to_string(),
                            why: why.to_string(),
                        }),
                    }
                }
                dirs
            }
            None => vec![cwd.to_path_buf()],
        };
        for dir in &dirs {
            for effect in &simple.effects {
                match effect {
                    // `dir/**` is the analyser's "everything under dir" (`grep -r`, `rm -r`):
                    // judged as a folder, like a search, not as a glob.
                    mandate_shell::Effect::Read(path) => {
                        match (tree_root(path), matching_root(path)) {
                            (Some(root), _) => {
                                push_path(touches, PathTouch::Tree, dir, root, home, &views)
                            }
                            (None, Some((root, rest))) => push_path(
                                touches,
                                PathTouch::Matching(rest),
                                dir,
                                root,
                                home,
                                &views,
                            ),
                            (None, None) => {
                                push_path(touches, PathTouch::Read, dir, path, home, &views)
                            }
                        }
                    }
                    mandate_shell::Effect::Write(path) => match tree_root(path) {
                        Some(root) => {
                            push_path(touches, PathTouch::WriteTree, dir, root, home, &views)
                        }
                        None => push_path(touches, PathTouch::Write, dir, path, home, &views),
                    },
                    mandate_shell::Effect::Network(target) => push_url(touches, target, command),
                    mandate_shell::Effect::Git {
                        what,
                        path,
                        from_top,
                    } => git_touches(touches, *what, path, *from_top, dir, home, fs),
                    mandate_shell::Effect::Unpack(unpack) => {
                        let before = analysis.commands.get(..index).unwrap_or_default();
                        unpack_touches(touches, unpack, before, dir, home, &views);
                    }
                }
            }
            for made in mandate_shell::links::links_made(&simple.program, &simple.args) {
                judge_link(touches, &made, dir, home, &views);
            }
        }
        // The tool's paths from where it runs (the line's own links aside).
        let dir = dirs.first().cloned().unwrap_or_else(|| cwd.to_path_buf());
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

/// The most names one archive may hold for its unpacking to be judged name by name.
const MAX_ARCHIVE_ENTRIES: usize = 5_000;

/// What unpacking an archive or a patch writes (`tar -x`, `unzip`, `git apply`): each name
/// it holds, read from the file now, judged as a write under the folder it is unpacked
/// into and where the kernel takes it (links already there followed). A link the archive
/// holds is judged as a link made there (`ln -s`), a hard link as a read of its source,
/// and a name under a link the archive makes itself is refused, since it is written
/// wherever that link leads. When the names cannot be read first — the archive comes from
/// the standard input, an earlier command of the line may write it, it is missing,
/// unreadable or too large — the command is refused.
fn unpack_touches(
    touches: &mut Vec<Touch>,
    unpack: &mandate_shell::Unpack,
    before: &[mandate_shell::SimpleCommand],
    dir: &Path,
    home: Option<&Path>,
    views: &[&dyn Fs],
) {
    use mandate_shell::ArchiveFormat;
    let fs = views.first().copied().unwrap_or(&crate::engine::NoFs);
    let what = match unpack.format {
        ArchiveFormat::Tar => "tar",
        ArchiveFormat::Zip => "unzip",
        ArchiveFormat::Patch => "git apply",
    };
    let Some(archive) = &unpack.archive else {
        refuse(
            touches,
            what,
            format!(
                "`{what}` writes the names its input holds, and mandate cannot read them \
                 before the command runs; save the archive or patch to a file and unpack it \
                 from there, as a command of its own"
            ),
        );
        return;
    };
    let path = match resolve(fs, dir, archive, home) {
        Ok(path) => path,
        Err(why) => return refuse(touches, archive, why.to_string()),
    };
    let written_before = before.iter().any(|command| {
        !command.known
            || command.effects.iter().any(|effect| match effect {
                mandate_shell::Effect::Write(written) => {
                    let base = command
                        .cwd
                        .as_deref()
                        .map_or_else(|| dir.to_path_buf(), |cwd| absolutize(dir, cwd, home));
                    resolve(fs, &base, written, home).is_ok_and(|w| w == path)
                        || absolutize(&base, written, home) == path
                }
                mandate_shell::Effect::Unpack(_) => true,
                _ => false,
            })
    });
    if written_before {
        return refuse(
            touches,
            archive,
            format!(
                "`{archive}` may be written by a command before `{what}` in the same line, so \
                 what it holds now is not what will be unpacked; unpack it as a command of its \
                 own"
            ),
        );
    }
    let entries = match fs.archive_entries(&path, unpack.format) {
        Ok(entries) => entries,
        Err(why) => {
            return refuse(
                touches,
                archive,
                format!(
                    "`{what}` writes the names `{archive}` holds, and they cannot be read \
                     first: {why}"
                ),
            );
        }
    };
    if entries.len() > MAX_ARCHIVE_ENTRIES {
        return refuse(
            touches,
            archive,
            format!(
                "`{archive}` holds {} names, more than the {MAX_ARCHIVE_ENTRIES} mandate \
                 judges one by one",
                entries.len()
            ),
        );
    }
    let into = |base: &Path| absolutize(base, &unpack.into, home);
    let mut bases = vec![into(dir)];
    if unpack.format == ArchiveFormat::Patch
        && let Some(top) = fs.git_top(dir)
        && top != dir
    {
        // git reads a git diff's names from the top of the work tree, a plain diff's from
        // the working directory: both are judged.
        bases.push(into(&top));
    }
    let mut links: Vec<String> = Vec::new();
    for entry in &entries {
        let Some(name) = member_name(&entry.name, unpack) else {
            continue;
        };
        if let Some(link) = links
            .iter()
            .find(|link| name.starts_with(&format!("{link}/")))
        {
            refuse(
                touches,
                &entry.name,
                format!(
                    "`{archive}` writes `{name}` through `{link}`, a link it makes itself, so \
                     it lands wherever that link leads"
                ),
            );
            continue;
        }
        for base in &bases {
            let at = base.join(&name);
            let at_text = at.to_string_lossy();
            match &entry.kind {
                crate::engine::EntryKind::Source => {
                    push_path(touches, PathTouch::Read, base, &name, home, views);
                }
                crate::engine::EntryKind::File | crate::engine::EntryKind::Dir => {
                    push_path(touches, PathTouch::Write, base, &name, home, views);
                }
                crate::engine::EntryKind::Symlink(target) => {
                    push_path(touches, PathTouch::Write, base, &name, home, views);
                    let made = mandate_shell::links::LinkMade {
                        target: target.clone(),
                        destination: at_text.into_owned(),
                        into_folder: false,
                        symbolic: true,
                        from_cwd: false,
                    };
                    judge_link(touches, &made, base, home, views);
                }
                crate::engine::EntryKind::Hardlink(source) => {
                    push_path(touches, PathTouch::Write, base, &name, home, views);
                    // tar names a hard link's source as a member, from the same folder.
                    let source = member_name(source, unpack).unwrap_or_else(|| source.clone());
                    push_path(touches, PathTouch::Read, base, &source, home, views);
                }
            }
        }
        if let crate::engine::EntryKind::Symlink(_) = entry.kind {
            links.push(name);
        }
    }
}

fn refuse(touches: &mut Vec<Touch>, text: &str, why: String) {
    touches.push(Touch::Opaque {
        text: text.to_string(),
        line: String::new(),
        why,
    });
}

/// The name a member is written under, relative to the folder unpacked into: leading `/`
/// removed (as tar and unzip do), the first `strip` components dropped, flattened to its
/// last component for `unzip -j`; `None` when the command leaves it out.
fn member_name(name: &str, unpack: &mandate_shell::Unpack) -> Option<String> {
    let parts: Vec<&str> = name
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    let limited = !unpack.members.is_empty()
        && !unpack
            .members
            .iter()
            .any(|m| m.contains(['*', '?', '[', '\\']));
    if limited {
        let joined = parts.join("/");
        let wanted = unpack.members.iter().any(|member| {
            let member = member.trim_start_matches("./").trim_end_matches('/');
            joined == member || joined.starts_with(&format!("{member}/"))
        });
        if !wanted {
            return None;
        }
    }
    let kept = parts.get(unpack.strip..)?;
    if kept.is_empty() {
        return None;
    }
    if unpack.flatten {
        return kept.last().map(|last| (*last).to_string());
    }
    Some(kept.join("/"))
}

/// Where a link made by a command in `dir` goes: the named folder plus the target's name
/// when the destination is a folder, otherwise the destination's own name in its folder
/// (the name itself is not followed: the link replaces it).
fn link_location(
    made: &mandate_shell::links::LinkMade,
    dir: &Path,
    home: Option<&Path>,
    fs: &dyn Fs,
) -> Option<PathBuf> {
    if made.destination.contains(['$', '`', '*', '?', '[']) {
        return None;
    }
    let destination = made.destination.trim_end_matches('/');
    let (folder, name) = match destination.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((folder, name)) => (folder, name),
        None if destination.is_empty() => ("/", "."),
        None => (".", destination),
    };
    let into = |folder: PathBuf| -> Option<PathBuf> {
        let target = Path::new(made.target.trim_end_matches('/')).file_name()?;
        Some(folder.join(target))
    };
    if name == "." || name == ".." || name == "~" {
        return into(resolve(fs, dir, &made.destination, home).ok()?);
    }
    if made.into_folder {
        let whole = resolve(fs, dir, &made.destination, home).ok()?;
        if fs.is_dir(&whole) {
            return into(whole);
        }
    }
    Some(resolve(fs, dir, folder, home).ok()?.join(name))
}

/// A symbolic link to the folder it sits in or to one above it is refused: through it,
/// `link/link/../..` climbs anywhere and a search that follows links never ends.
fn judge_link(
    touches: &mut Vec<Touch>,
    made: &mandate_shell::links::LinkMade,
    dir: &Path,
    home: Option<&Path>,
    views: &[&dyn Fs],
) {
    if !made.symbolic || made.target.contains(['$', '`']) {
        // A hard link is a read of its source: the command's effects say so already.
        return;
    }
    for fs in views {
        let Some(link) = link_location(made, dir, home, *fs) else {
            touches.push(Touch::Opaque {
                text: format!("a link at `{}`", made.destination),
                line: String::new(),
                why: "where the link goes is only known when the line runs".to_string(),
            });
            return;
        };
        let base = if made.from_cwd {
            dir.to_path_buf()
        } else {
            link.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.to_path_buf())
        };
        match resolve(*fs, &base, &made.target, home) {
            Ok(target) if holds(&target, &link) => {
                touches.push(Touch::Link {
                    why: format!(
                        "it would point at `{}`, a folder that holds the link, so paths \
                         through it could climb anywhere",
                        target.display()
                    ),
                    link,
                });
                return;
            }
            Ok(target) => {
                // What the link leads to is read through it: judged where it really is,
                // from the link's folder.
                if !target.as_os_str().is_empty() {
                    push_path(
                        touches,
                        PathTouch::Read,
                        &base,
                        &target.to_string_lossy(),
                        home,
                        &[*fs],
                    );
                }
            }
            Err(why) => touches.push(Touch::Opaque {
                text: made.target.clone(),
                line: String::new(),
                why: why.to_string(),
            }),
        }
    }
}

/// The file system with the symbolic links a line makes added, so that the commands after
/// them are judged on the tree they will meet.
struct LinksMade<'a> {
    fs: &'a dyn Fs,
    /// Where each link is, what it holds, and the index of the command that makes it.
    links: Vec<(PathBuf, PathBuf, usize)>,
    /// The command being judged, whose own links are left out.
    except: std::cell::Cell<Option<usize>>,
}

impl<'a> LinksMade<'a> {
    fn new(
        fs: &'a dyn Fs,
        commands: &[mandate_shell::SimpleCommand],
        cwd: &Path,
        home: Option<&Path>,
    ) -> LinksMade<'a> {
        let mut view = LinksMade {
            fs,
            links: Vec::new(),
            except: std::cell::Cell::new(None),
        };
        for (index, simple) in commands.iter().enumerate() {
            let made = mandate_shell::links::links_made(&simple.program, &simple.args);
            if made.is_empty() {
                continue;
            }
            let dir = match &simple.cwd {
                Some(dir) => match resolve(&view, cwd, dir, home) {
                    Ok(dir) => dir,
                    Err(_) => continue,
                },
                None => cwd.to_path_buf(),
            };
            for link in made.iter().filter(|m| m.symbolic) {
                if let Some(at) = link_location(link, &dir, home, &view) {
                    let target = if link.from_cwd {
                        absolutize(&dir, &link.target, home)
                    } else {
                        PathBuf::from(&link.target)
                    };
                    view.links.push((at, target, index));
                }
            }
        }
        view
    }
}

impl Fs for LinksMade<'_> {
    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        // The latest link made at a path wins (`ln -sf`).
        let except = self.except.get();
        match self
            .links
            .iter()
            .rev()
            .find(|(at, _, by)| at == path && Some(*by) != except)
        {
            Some((_, target, _)) => Some(target.clone()),
            None => self.fs.read_link(path),
        }
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.fs.is_dir(path)
    }
    fn expand(&self, pattern: &Path) -> Option<Vec<PathBuf>> {
        self.fs.expand(pattern)
    }
    fn tree_has(&self, dir: &Path, test: &dyn Fn(&Path) -> bool) -> Option<bool> {
        self.fs.tree_has(dir, test)
    }
    fn links_under(&self, dir: &Path) -> Option<Vec<PathBuf>> {
        self.fs.links_under(dir)
    }
    fn program_on_path(&self, name: &str) -> Option<PathBuf> {
        self.fs.program_on_path(name)
    }
    fn git_top(&self, dir: &Path) -> Option<PathBuf> {
        self.fs.git_top(dir)
    }
    fn history_has(&self, top: &Path, path: &Path, test: &dyn Fn(&Path) -> bool) -> Option<bool> {
        self.fs.history_has(top, path, test)
    }
    fn git_changed(&self, top: &Path, path: &Path) -> Option<Vec<PathBuf>> {
        self.fs.git_changed(top, path)
    }
    fn git_stashed(&self, top: &Path, entry: &str) -> Option<Vec<PathBuf>> {
        self.fs.git_stashed(top, entry)
    }
    fn archive_entries(
        &self,
        path: &Path,
        format: mandate_shell::ArchiveFormat,
    ) -> Result<Vec<crate::engine::ArchiveEntry>, String> {
        self.fs.archive_entries(path, format)
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
            push_path(touches, PathTouch::Write, base, path, home, &[fs]);
            push_path(touches, PathTouch::WriteTree, base, path, home, &[fs]);
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
