//! git: which subcommands only read, which write the working tree, which reach the
//! network.
//!
//! Read-only subcommands that show metadata (`status`, `log`, `branch`) are known and
//! report reads of the paths they name. Subcommands that show file content (`diff`,
//! `show`, `log -p`, `blame`, `grep`) read what they name, and the whole tree when they
//! name nothing. `REV:path` names a file in history: `git show HEAD:.env` reads `.env`.
//! Subcommands that change the repository run hooks from `.git/hooks`, so they are never
//! known; those that reach a remote report it.

use crate::Effect;
use crate::programs::{Inner, Judgement, tree};
use crate::word::Word;

/// Config keys whose values are commands or change what git runs.
fn dangerous_config(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let safe = key.starts_with("color.")
        || key.starts_with("user.")
        || key.starts_with("advice.")
        || key.starts_with("init.")
        || matches!(
            key.as_str(),
            "core.quotepath"
                | "log.showsignature"
                | "diff.noprefix"
                | "core.abbrev"
                | "log.decorate"
        );
    !safe
}

pub(crate) fn git(args: &[Word]) -> Judgement {
    let mut j = Judgement::default();
    let mut index = 0;
    let mut chdir: Option<Word> = None;
    while let Some(arg) = args.get(index) {
        let t = arg.text.as_str();
        if arg.unknown {
            j.opaque(format!("the git argument `{t}` is only known when it runs"));
            return j;
        }
        match t {
            "-C" => {
                chdir = args.get(index + 1).cloned();
                index += 2;
            }
            "-c" => {
                if let Some(setting) = args.get(index + 1)
                    && (setting.unknown
                        || dangerous_config(setting.text.split('=').next().unwrap_or("")))
                {
                    j.opaque(format!(
                        "`git -c {}` can make git run another program",
                        setting.text
                    ));
                    return j;
                }
                index += 2;
            }
            "--no-pager"
            | "-P"
            | "--paginate"
            | "-p"
            | "--no-replace-objects"
            | "--literal-pathspecs"
            | "--no-optional-locks"
            | "--bare"
            | "--glob-pathspecs"
            | "--noglob-pathspecs"
            | "--icase-pathspecs"
            | "--no-lazy-fetch"
            | "--no-advice" => index += 1,
            _ if t.starts_with("--git-dir")
                || t.starts_with("--work-tree")
                || t.starts_with("--exec-path")
                || t.starts_with("--namespace")
                || t.starts_with("--config-env")
                || t.starts_with("--super-prefix") =>
            {
                j.opaque(format!(
                    "`git {t}` points git at another repository or program"
                ));
                return j;
            }
            "--version" | "--help" | "-h" => {
                j.known = true;
                return j;
            }
            _ if t.starts_with('-') => {
                j.opaque(format!("`git {t}` is an option the analyser does not know"));
                return j;
            }
            _ => break,
        }
    }
    let rest: Vec<Word> = args.get(index..).map(<[_]>::to_vec).unwrap_or_default();
    if chdir.is_some() {
        // `git -C DIR sub …` is `sub …` run in DIR: hand it back with the folder.
        let mut words = vec![Word::literal("git")];
        words.extend(rest);
        j.transparent = true;
        j.known = true;
        j.inner.push(Inner::Command { words, chdir });
        return j;
    }
    let Some((sub, sub_args)) = rest.split_first() else {
        j.known = true;
        return j;
    };
    subcommand(&mut j, sub.text.as_str(), sub_args);
    j
}

/// Split into options and paths: everything after `--`, and operands that are not
/// revisions. Without `--`, git treats an operand as a path when it is not a revision;
/// the analyser cannot tell, so it counts every operand as a possible path.
fn paths(args: &[Word], value_options: &[&str]) -> (Vec<Word>, Vec<String>) {
    let mut paths = Vec::new();
    let mut options = Vec::new();
    let mut index = 0;
    let mut after_dashes = false;
    while let Some(arg) = args.get(index) {
        index += 1;
        if after_dashes || arg.unknown {
            paths.push(arg.clone());
            continue;
        }
        let t = arg.text.as_str();
        if t == "--" {
            after_dashes = true;
            continue;
        }
        if t.starts_with('-') {
            options.push(t.to_string());
            if value_options.contains(&t) {
                index += 1;
            }
            continue;
        }
        paths.push(arg.clone());
    }
    (paths, options)
}

/// `REV:path` reads `path` from history.
fn object_path(word: &Word) -> Option<Word> {
    if word.unknown {
        return None;
    }
    let (_, path) = word.text.split_once(':')?;
    if path.is_empty() || word.text.contains("://") {
        return None;
    }
    Some(Word::literal(path.trim_start_matches("./")))
}

fn read_paths(j: &mut Judgement, paths: &[Word], whole_tree_when_empty: bool) {
    let mut any = false;
    for path in paths {
        if let Some(object) = object_path(path) {
            j.effects.push(Effect::Read(object.text));
            any = true;
            continue;
        }
        if path.unknown {
            j.opaque.push((
                Some(path.text.clone()),
                format!(
                    "the git argument `{}` is only known when it runs",
                    path.text
                ),
            ));
            continue;
        }
        // Revisions look like paths; reporting them as reads only errs on the strict side,
        // except for the common revision forms, which are not files.
        if looks_like_revision(&path.text) {
            continue;
        }
        any = true;
        j.effects.push(Effect::Read(path.text.clone()));
        j.effects.push(Effect::Read(tree(path).text));
    }
    if !any && whole_tree_when_empty {
        j.effects.push(Effect::Read("./**".to_string()));
    }
}

fn looks_like_revision(text: &str) -> bool {
    text == "HEAD"
        || text.starts_with("HEAD~")
        || text.starts_with("HEAD^")
        || text.starts_with("HEAD@")
        || text.starts_with("origin/")
        || text.contains("..")
        || (text.len() >= 7 && text.len() <= 40 && text.chars().all(|c| c.is_ascii_hexdigit()))
        || matches!(
            text,
            "main" | "master" | "develop" | "FETCH_HEAD" | "ORIG_HEAD" | "MERGE_HEAD" | "@"
        )
}

fn subcommand(j: &mut Judgement, sub: &str, args: &[Word]) {
    let shows_content = |options: &[String]| {
        options.iter().any(|o| {
            matches!(
                o.as_str(),
                "-p" | "--patch"
                    | "-u"
                    | "--full-diff"
                    | "-L"
                    | "--word-diff"
                    | "--color-words"
                    | "--cc"
                    | "-c"
                    | "--raw"
                    | "--binary"
                    | "--ext-diff"
                    | "--textconv"
            ) || o.starts_with("-G")
                || o.starts_with("-S")
                || o.starts_with("--word-diff")
                || o.starts_with("-L")
        })
    };
    let summary_only = |options: &[String]| {
        options.iter().any(|o| {
            matches!(
                o.as_str(),
                "--stat"
                    | "--name-only"
                    | "--name-status"
                    | "--shortstat"
                    | "--numstat"
                    | "--summary"
                    | "--dirstat"
                    | "-s"
                    | "--no-patch"
                    | "--quiet"
                    | "--oneline"
            )
        }) && !shows_content(options)
    };
    let forbidden_output = |j: &mut Judgement, options: &[String]| {
        for option in options {
            if let Some(file) = option.strip_prefix("--output=") {
                j.effects.push(Effect::Write(file.to_string()));
            }
            if option == "--ext-diff"
                || option == "--textconv"
                || option.starts_with("--open-files-in-pager")
            {
                j.opaque
                    .push((None, format!("`git {option}` runs another program")));
            }
        }
    };
    match sub {
        "status" | "branch" | "tag" | "rev-parse" | "describe" | "shortlog" | "reflog"
        | "ls-files" | "ls-tree" | "merge-base" | "rev-list" | "for-each-ref" | "count-objects"
        | "name-rev" | "check-ignore" | "check-attr" | "show-ref" | "var" | "version" | "help"
        | "whatchanged" | "cherry" | "show-branch" | "verify-commit" | "verify-tag" => {
            let (operands, options) = paths(
                args,
                &[
                    "-n",
                    "--format",
                    "--sort",
                    "--max-count",
                    "--since",
                    "--until",
                    "--author",
                    "--grep",
                    "-m",
                    "--contains",
                    "--points-at",
                    "--merged",
                    "--no-merged",
                ],
            );
            j.known = true;
            // Branch and tag with operands or create/delete options change refs.
            if matches!(sub, "branch" | "tag")
                && (!operands.is_empty()
                    && !options.iter().any(|o| {
                        matches!(
                            o.as_str(),
                            "-l" | "--list"
                                | "--contains"
                                | "--merged"
                                | "--no-merged"
                                | "--points-at"
                        )
                    })
                    || options.iter().any(|o| {
                        matches!(
                            o.as_str(),
                            "-d" | "-D"
                                | "-m"
                                | "-M"
                                | "-c"
                                | "-C"
                                | "-f"
                                | "--force"
                                | "--delete"
                                | "--move"
                                | "--copy"
                                | "-a"
                                | "-s"
                                | "-u"
                                | "--set-upstream-to"
                                | "--unset-upstream"
                                | "--edit-description"
                        )
                    }))
            {
                j.known = false;
                j.effects.push(Effect::Write(".git/**".to_string()));
                return;
            }
            if sub == "whatchanged" && shows_content(&options) {
                read_paths(j, &operands, true);
                return;
            }
            if matches!(
                sub,
                "status" | "ls-files" | "ls-tree" | "check-ignore" | "check-attr"
            ) {
                let paths: Vec<Word> = operands
                    .into_iter()
                    .filter(|p| object_path(p).is_none())
                    .collect();
                for path in &paths {
                    if path.unknown {
                        j.opaque.push((
                            Some(path.text.clone()),
                            format!("the path `{}` is only known when it runs", path.text),
                        ));
                    }
                }
            }
        }
        "log" => {
            let (operands, options) = paths(
                args,
                &[
                    "-n",
                    "--format",
                    "--pretty",
                    "--max-count",
                    "--since",
                    "--until",
                    "--author",
                    "--grep",
                    "--skip",
                    "--date",
                ],
            );
            j.known = true;
            forbidden_output(j, &options);
            if shows_content(&options) {
                read_paths(j, &operands, true);
            } else {
                read_paths(j, &operands, false);
            }
        }
        "diff" | "show" | "blame" | "annotate" | "grep" | "cat-file" | "difftool" => {
            let (operands, options) = paths(
                args,
                &[
                    "-U",
                    "--unified",
                    "--format",
                    "--pretty",
                    "-L",
                    "-e",
                    "-f",
                    "--max-depth",
                    "-C",
                    "-A",
                    "-B",
                    "--color",
                    "--diff-filter",
                    "--relative",
                ],
            );
            j.known = sub != "difftool";
            forbidden_output(j, &options);
            if sub == "grep" {
                // The first operand is the pattern unless `-e` gave one.
                let has_e = options.iter().any(|o| o == "-e" || o == "-f");
                let operands: Vec<Word> = if has_e {
                    operands
                } else {
                    operands.into_iter().skip(1).collect()
                };
                read_paths(j, &operands, true);
                if options
                    .iter()
                    .any(|o| o == "-O" || o.starts_with("--open-files-in-pager"))
                {
                    j.opaque
                        .push((None, "`git grep -O` opens a pager program".to_string()));
                }
                return;
            }
            if sub == "cat-file" {
                let objects: Vec<Word> = operands
                    .into_iter()
                    .filter(|p| p.text != "blob" && p.text != "tree" && p.text != "commit")
                    .collect();
                read_paths(j, &objects, true);
                return;
            }
            if summary_only(&options) {
                read_paths(j, &operands, false);
            } else {
                read_paths(j, &operands, true);
            }
        }
        "config" => {
            let (operands, options) =
                paths(args, &["-f", "--file", "--blob", "--type", "--default"]);
            let reading = options.iter().any(|o| {
                matches!(
                    o.as_str(),
                    "--get"
                        | "--get-all"
                        | "--get-regexp"
                        | "-l"
                        | "--list"
                        | "--get-urlmatch"
                        | "--show-origin"
                        | "--show-scope"
                        | "--name-only"
                )
            }) || operands
                .first()
                .is_some_and(|w| matches!(w.text.as_str(), "get" | "list"))
                || operands.len() == 1;
            if reading {
                j.known = true;
                return;
            }
            let key = operands
                .iter()
                .find(|w| !matches!(w.text.as_str(), "set" | "unset" | "add" | "replace-all"))
                .map(|w| w.text.clone())
                .unwrap_or_default();
            if dangerous_config(&key) {
                j.opaque.push((
                    None,
                    format!("`git config {key}` can make later git commands run another program"),
                ));
            }
            let file = if options.iter().any(|o| o == "--global") {
                "~/.gitconfig"
            } else if options.iter().any(|o| o == "--system") {
                "/etc/gitconfig"
            } else {
                ".git/config"
            };
            j.effects.push(Effect::Write(file.to_string()));
        }
        "push" | "fetch" | "pull" | "clone" | "ls-remote" | "remote" | "submodule" | "archive"
        | "send-email" | "request-pull" | "svn" | "p4" => {
            let (operands, options) = paths(
                args,
                &[
                    "-o",
                    "--push-option",
                    "--depth",
                    "-b",
                    "--branch",
                    "--upload-pack",
                    "--receive-pack",
                    "--exec",
                    "--format",
                    "--prefix",
                    "--output",
                    "--remote",
                    "--origin",
                    "--template",
                    "--reference",
                    "-j",
                    "--jobs",
                    "--filter",
                    "--config",
                    "-c",
                    "--separate-git-dir",
                ],
            );
            if options.iter().any(|o| {
                o.starts_with("--upload-pack")
                    || o.starts_with("--receive-pack")
                    || o.starts_with("--exec")
                    || o.starts_with("--config")
                    || o == "-c"
                    || o.starts_with("--template")
            }) {
                j.opaque
                    .push((None, format!("`git {sub}` is told to run another program")));
            }
            if sub == "remote" {
                let verb = operands.first().map(|w| w.text.as_str()).unwrap_or("");
                if matches!(verb, "" | "-v" | "get-url")
                    || options.iter().any(|o| o == "-v") && operands.is_empty()
                {
                    j.known = true;
                    return;
                }
                if matches!(verb, "add" | "set-url" | "rename" | "remove" | "rm") {
                    j.effects.push(Effect::Write(".git/config".to_string()));
                    return;
                }
            }
            if sub == "archive" && !options.iter().any(|o| o.starts_with("--remote")) {
                for option in &options {
                    if let Some(file) = option.strip_prefix("--output=") {
                        j.effects.push(Effect::Write(file.to_string()));
                    }
                }
                j.effects.push(Effect::Read("./**".to_string()));
                return;
            }
            let remote = operands
                .iter()
                .find(|w| {
                    matches!(sub, "clone" | "ls-remote")
                        || !matches!(
                            w.text.as_str(),
                            "update"
                                | "show"
                                | "prune"
                                | "add"
                                | "init"
                                | "sync"
                                | "foreach"
                                | "status"
                        )
                })
                .map(|w| w.text.clone())
                .unwrap_or_else(|| "origin".to_string());
            j.effects.push(Effect::Network(remote));
            if sub == "clone" {
                let target = operands
                    .get(1)
                    .map(|w| w.text.clone())
                    .unwrap_or_else(|| ".".to_string());
                j.effects.push(Effect::Write(format!(
                    "{}/**",
                    target.trim_end_matches('/')
                )));
            }
            if matches!(sub, "pull" | "submodule") {
                j.effects.push(Effect::Write("./**".to_string()));
            }
        }
        "add" | "stage" => {
            let (operands, _) = paths(args, &["--chmod", "--pathspec-from-file"]);
            read_paths(j, &operands, true);
            j.effects.push(Effect::Write(".git/**".to_string()));
        }
        "rm" | "mv" => {
            let (operands, _) = paths(args, &[]);
            for path in &operands {
                if path.unknown {
                    j.opaque.push((
                        Some(path.text.clone()),
                        format!("the path `{}` is only known when it runs", path.text),
                    ));
                } else {
                    j.effects.push(Effect::Write(path.text.clone()));
                    j.effects.push(Effect::Write(tree(path).text));
                }
            }
        }
        "checkout" | "switch" | "restore" | "reset" | "stash" | "merge" | "rebase"
        | "cherry-pick" | "revert" | "am" | "apply" | "clean" | "commit" | "init" | "worktree"
        | "gc" | "prune" | "repack" | "notes" | "bisect" | "sparse-checkout" | "maintenance"
        | "lfs" | "filter-branch" | "filter-repo" | "replace" | "update-index" | "update-ref"
        | "read-tree" | "checkout-index" | "hash-object" | "mergetool" | "format-patch"
        | "fsck" => {
            let (operands, options) = paths(
                args,
                &[
                    "-m",
                    "-F",
                    "--file",
                    "-b",
                    "-B",
                    "-C",
                    "-c",
                    "--author",
                    "--date",
                    "-s",
                    "--strategy",
                    "-X",
                    "--strategy-option",
                    "--onto",
                    "--source",
                    "-o",
                    "--output-directory",
                    "--pathspec-from-file",
                    "--template",
                ],
            );
            for option in &options {
                if option == "-F" || option == "--file" {
                    // The message file is read; reported through operands below.
                }
            }
            // Paths named after `--` (or as operands of path-taking forms) are written;
            // without them the whole working tree may change.
            let named: Vec<&Word> = operands
                .iter()
                .filter(|w| !looks_like_revision(&w.text) && object_path(w).is_none())
                .collect();
            match sub {
                "commit" | "gc" | "prune" | "repack" | "notes" | "update-ref" | "hash-object"
                | "fsck" | "replace" | "bisect" => {
                    j.effects.push(Effect::Write(".git/**".to_string()));
                }
                "format-patch" => j.effects.push(Effect::Write("./*.patch".to_string())),
                "apply" | "am" => {
                    for patch in &named {
                        j.effects.push(Effect::Read(patch.text.clone()));
                    }
                    j.effects.push(Effect::Write("./**".to_string()));
                }
                _ if named.is_empty()
                    || matches!(
                        sub,
                        "merge"
                            | "rebase"
                            | "stash"
                            | "cherry-pick"
                            | "revert"
                            | "clean"
                            | "switch"
                            | "worktree"
                            | "init"
                            | "filter-branch"
                            | "filter-repo"
                            | "sparse-checkout"
                            | "lfs"
                    ) =>
                {
                    j.effects.push(Effect::Write("./**".to_string()));
                }
                _ => {
                    for path in named {
                        if path.unknown {
                            j.opaque.push((
                                Some(path.text.clone()),
                                format!("the path `{}` is only known when it runs", path.text),
                            ));
                        } else {
                            j.effects.push(Effect::Write(path.text.clone()));
                            j.effects.push(Effect::Write(tree(path).text));
                        }
                    }
                }
            }
            if sub == "lfs" {
                j.effects.push(Effect::Network("origin".to_string()));
            }
        }
        _ => {
            // Unknown subcommands and aliases: an execute rule decides.
            j.known = false;
        }
    }
}
