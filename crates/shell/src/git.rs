//! git: which subcommands only read, which write the working tree, which reach the
//! network, and what each can reveal.
//!
//! Read-only subcommands that show metadata (`status`, `log --oneline`, `branch`) are
//! known and report reads of the paths they name. Subcommands that show or materialise
//! file content (`show`, `log -p`, `diff`, `blame`, `grep REV`, `cat-file`, `archive`,
//! `format-patch`, `ls-tree`, `checkout`/`restore`/`reset`/`stash` of paths) are judged by
//! what they can reveal, which is history, not a folder: they report
//! [`GitTouch::History`] for the pathspecs that limit them, resolved as git resolves them
//! (`REV:path`, `:path`, `:/path` and `:(top)path` from the top of the work tree, plain
//! pathspecs from the working directory, `-C` moving it), and for the whole repository
//! when nothing limits them (`git show HEAD~1`, `git log -p`, `git cat-file -p SHA`). A word
//! before `--` that git reads as a path when it exists and as a revision otherwise is
//! reported as [`GitTouch::Ambiguous`], for the caller to settle against the tree.
//! Subcommands that change the repository otherwise run hooks from `.git/hooks`, so they
//! are never known; those that reach a remote report it. `--git-dir`, `--work-tree` and
//! unknown options stay opaque.

use crate::programs::{Inner, Judgement, tree};
use crate::word::Word;
use crate::{Effect, GitTouch};

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
        // `a..b` is a range; `../x` is a path.
        || text.contains("..") && !text.split('/').any(|segment| segment == "..")
        || (text.len() >= 7 && text.len() <= 40 && text.chars().all(|c| c.is_ascii_hexdigit()))
        || matches!(
            text,
            "main" | "master" | "develop" | "FETCH_HEAD" | "ORIG_HEAD" | "MERGE_HEAD" | "@"
        )
}

/// An object name that holds a path: `REV:path`, `:path` (the index), `:N:path` (a merge
/// stage). The path is from the top of the work tree unless it starts with `./` or `../`.
/// `:/text` is not one: it names the commit whose message matches.
fn object_spec(word: &Word) -> Option<(String, bool)> {
    if word.unknown {
        return None;
    }
    let text = word.text.as_str();
    if text.starts_with(":/") || text.contains("://") || text.starts_with('-') {
        return None;
    }
    let (rev, path) = text.split_once(':')?;
    let path = if rev.is_empty() {
        // `:N:path` names a merge stage of the index.
        match path.split_once(':') {
            Some((stage, rest))
                if stage.len() == 1 && stage.chars().all(|c| c.is_ascii_digit()) =>
            {
                rest
            }
            _ => path,
        }
    } else {
        path
    };
    if path.starts_with("./") || path.starts_with("../") || path == "." || path == ".." {
        return Some((path.to_string(), false));
    }
    Some((path.to_string(), true))
}

/// A pathspec as git resolves it: `(path, from_top)`, the path relative to the working
/// directory or to the top of the work tree. `None` when the pathspec does not limit the
/// command to a folder (an exclusion, magic the analyser does not know): the caller
/// takes the whole repository.
fn pathspec(text: &str) -> Option<(String, bool)> {
    let (path, from_top) = if let Some(rest) = text.strip_prefix(":/") {
        (rest, true)
    } else if let Some(rest) = text.strip_prefix(":(") {
        let (magic, path) = rest.split_once(')')?;
        let mut top = false;
        for word in magic.split(',') {
            match word.trim() {
                "top" => top = true,
                "literal" | "glob" | "icase" => {}
                // `exclude` widens to everything else; `attr:` selects by attribute.
                _ => return None,
            }
        }
        (path, top)
    } else if text.starts_with(':') {
        // Short magic (`:!x`, `:^x`) and forms the analyser does not read.
        return None;
    } else {
        (text, false)
    };
    // A pathspec with wildcards matches across folders: its literal folders bound it.
    let literal: Vec<&str> = path
        .split('/')
        .take_while(|segment| !segment.contains(['*', '?', '[', '\\']))
        .collect();
    let mut path = if literal.len() < path.split('/').count() {
        literal.join("/")
    } else {
        path.trim_end_matches('/').to_string()
    };
    if path.is_empty() {
        path = ".".to_string();
    }
    Some((path, from_top))
}

fn git_effect(what: GitTouch, path: &str, from_top: bool) -> Effect {
    Effect::Git {
        what,
        path: path.to_string(),
        from_top,
    }
}

/// The whole repository's history.
fn whole_history(j: &mut Judgement) {
    j.effects.push(git_effect(GitTouch::History, ".", true));
}

/// Operands of a content-showing subcommand, sorted the way git reads them.
#[derive(Default)]
struct Operands {
    /// `REV:path` and friends: the path each names.
    objects: Vec<(String, bool)>,
    /// Revisions that name commits (`HEAD~1`, `main`, `a..b`).
    commits: usize,
    /// Revisions that may name any object, a blob included (an object id, `:/message`).
    any_object: bool,
    /// Pathspecs: after `--`, or magic (`:/x`), resolved.
    paths: Vec<(String, bool)>,
    /// Words before `--` that are a path when they exist and a revision otherwise.
    ambiguous: Vec<String>,
    /// A pathspec that does not limit the command.
    unlimited: bool,
}

fn operands(j: &mut Judgement, args: &[Word], value_options: &[&str]) -> (Operands, Vec<String>) {
    operands_with(j, args, value_options, true)
}

/// [`operands`]; with `revisions` false every word is a pathspec (`git restore`).
fn operands_with(
    j: &mut Judgement,
    args: &[Word],
    value_options: &[&str],
    revisions: bool,
) -> (Operands, Vec<String>) {
    let mut out = Operands::default();
    let mut options = Vec::new();
    let mut index = 0;
    let mut after_dashes = false;
    while let Some(arg) = args.get(index) {
        index += 1;
        let t = arg.text.as_str();
        if arg.unknown {
            j.opaque.push((
                Some(t.to_string()),
                format!("the git argument `{t}` is only known when it runs"),
            ));
            continue;
        }
        if !after_dashes && t == "--" {
            after_dashes = true;
            continue;
        }
        if !after_dashes && t.starts_with('-') {
            options.push(t.to_string());
            if value_options.contains(&t) {
                if let Some(value) = args.get(index) {
                    options.push(value.text.clone());
                }
                index += 1;
            }
            continue;
        }
        let magic = t.starts_with(":(") || t.starts_with(":!") || t.starts_with(":^");
        if after_dashes || magic || !revisions {
            match pathspec(t) {
                Some(spec) => out.paths.push(spec),
                None => out.unlimited = true,
            }
            continue;
        }
        if let Some(object) = object_spec(arg) {
            out.objects.push(object);
        } else if is_object_id(t) || t.starts_with(":/") || t.contains("^{") {
            out.any_object = true;
        } else if looks_like_revision(t) {
            out.commits += 1;
        } else {
            out.ambiguous.push(t.to_string());
        }
    }
    (out, options)
}

/// Hexadecimal words long enough to be an abbreviated object id.
fn is_object_id(text: &str) -> bool {
    text.len() >= 4 && text.len() <= 64 && text.chars().all(|c| c.is_ascii_hexdigit())
}

impl Operands {
    /// Report what a command showing these operands reveals. `commit_content`: the
    /// commits named (or `HEAD` when `implied_head`) are shown with their content,
    /// limited by the pathspecs.
    fn reveal(&self, j: &mut Judgement, commit_content: bool, implied_head: bool) {
        for (path, from_top) in &self.objects {
            if path.is_empty() {
                // `REV:` is the top tree.
                whole_history(j);
            } else {
                j.effects
                    .push(git_effect(GitTouch::History, path, *from_top));
            }
        }
        if self.any_object || self.unlimited {
            // Everything: nothing narrower needs reporting.
            whole_history(j);
            return;
        }
        let commits = self.commits > 0 || implied_head;
        if !commit_content || !commits && self.ambiguous.is_empty() {
            return;
        }
        if self.paths.is_empty() && self.ambiguous.is_empty() {
            if commits {
                whole_history(j);
            }
            return;
        }
        for (path, from_top) in &self.paths {
            j.effects
                .push(git_effect(GitTouch::History, path, *from_top));
        }
        for word in &self.ambiguous {
            let path = word.trim_end_matches('/');
            j.effects.push(git_effect(GitTouch::Ambiguous, path, false));
        }
    }
}

/// Options that make `log`, `show` and `diff` follow content to other paths (renames,
/// copies): the pathspecs no longer bound what is shown.
fn follows_other_paths(options: &[String]) -> bool {
    options.iter().any(|o| {
        o == "--follow"
            || o.starts_with("-M")
            || o.starts_with("-C")
            || o.starts_with("--find-renames")
            || o.starts_with("--find-copies")
            || o.starts_with("-L")
    })
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
        | "ls-files" | "merge-base" | "rev-list" | "for-each-ref" | "count-objects"
        | "name-rev" | "check-ignore" | "check-attr" | "show-ref" | "var" | "version" | "help"
        | "cherry" | "show-branch" | "verify-commit" | "verify-tag" => {
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
            if sub == "rev-parse" {
                // `REV:path` names a committed file: its id is an oracle on it.
                for (path, from_top) in operands.iter().filter_map(object_spec) {
                    j.effects
                        .push(git_effect(GitTouch::History, &path, from_top));
                }
            }
            if matches!(sub, "status" | "ls-files" | "check-ignore" | "check-attr") {
                let paths: Vec<Word> = operands
                    .into_iter()
                    .filter(|p| object_spec(p).is_none())
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
        "log" | "whatchanged" | "show" | "diff" | "format-patch" => {
            let (ops, options) = operands(
                j,
                args,
                &[
                    "-n",
                    "--format",
                    "--pretty",
                    "--max-count",
                    "--since",
                    "--until",
                    "--author",
                    "--committer",
                    "--grep",
                    "--skip",
                    "--date",
                    "-U",
                    "--unified",
                    "--diff-filter",
                    "--relative",
                    "--color",
                    "-o",
                    "--output-directory",
                    "--subject-prefix",
                    "--in-reply-to",
                ],
            );
            j.known = sub != "format-patch";
            forbidden_output(j, &options);
            if sub == "diff" && options.iter().any(|o| o == "--no-index") {
                // Two files of the disk, compared outside git.
                for (path, _) in &ops.paths {
                    j.effects.push(Effect::Read(path.clone()));
                }
                for word in &ops.ambiguous {
                    j.effects.push(Effect::Read(word.clone()));
                }
                return;
            }
            if sub == "format-patch" {
                let stdout = options.iter().any(|o| o == "--stdout");
                if !stdout {
                    let dir = options
                        .iter()
                        .position(|o| o == "-o" || o == "--output-directory")
                        .and_then(|i| options.get(i + 1))
                        .map(|d| format!("{}/*.patch", d.trim_end_matches('/')))
                        .unwrap_or_else(|| "./*.patch".to_string());
                    j.effects.push(Effect::Write(dir));
                }
            }
            // `log` shows content only when asked; `show`, `diff` and `format-patch` do
            // unless told to show names and counts only.
            let content = match sub {
                "log" | "whatchanged" => shows_content(&options),
                _ => !summary_only(&options),
            };
            if content && follows_other_paths(&options) {
                whole_history(j);
            }
            if !content && matches!(sub, "log" | "whatchanged") {
                // Commit messages of the paths named: judged as reads of those paths.
                for (path, from_top) in &ops.paths {
                    if !from_top {
                        j.effects.push(Effect::Read(path.clone()));
                    } else {
                        j.effects.push(git_effect(GitTouch::History, path, true));
                    }
                }
                for word in &ops.ambiguous {
                    j.effects.push(Effect::Read(word.clone()));
                }
                return;
            }
            // `git diff` without revisions compares the tree with the index (or the index
            // with `HEAD`): it shows the files with local changes, nothing else.
            if sub == "diff"
                && content
                && ops.commits == 0
                && !ops.any_object
                && !ops.unlimited
                && ops.objects.is_empty()
                && !follows_other_paths(&options)
            {
                if ops.paths.is_empty() && ops.ambiguous.is_empty() {
                    j.effects.push(git_effect(GitTouch::Changed, ".", true));
                }
                for (path, from_top) in &ops.paths {
                    j.effects
                        .push(git_effect(GitTouch::Changed, path, *from_top));
                }
                // A path when it exists, else a revision compared with the tree.
                for word in &ops.ambiguous {
                    j.effects.push(git_effect(GitTouch::Ambiguous, word, false));
                }
                return;
            }
            // `git show REV:path` shows that file only; `git show` alone shows `HEAD`.
            let implied_head = !(sub == "show" && (!ops.objects.is_empty() || ops.any_object));
            ops.reveal(j, content, implied_head);
        }
        "blame" | "annotate" => {
            let (ops, options) = operands(
                j,
                args,
                &[
                    "-L",
                    "-S",
                    "--contents",
                    "--date",
                    "--ignore-rev",
                    "--ignore-revs-file",
                    "-C",
                    "-M",
                ],
            );
            j.known = true;
            for (index, option) in options.iter().enumerate() {
                if matches!(option.as_str(), "--contents" | "-S" | "--ignore-revs-file")
                    && let Some(file) = options.get(index + 1)
                {
                    j.effects.push(Effect::Read(file.clone()));
                }
            }
            // The file blamed, at each revision of its history.
            let mut named = false;
            for (path, from_top) in ops.paths.iter().chain(ops.objects.iter()) {
                named = true;
                j.effects
                    .push(git_effect(GitTouch::History, path, *from_top));
            }
            for word in &ops.ambiguous {
                named = true;
                j.effects.push(git_effect(GitTouch::History, word, false));
            }
            if !named || ops.any_object || ops.unlimited {
                whole_history(j);
            }
        }
        "grep" => {
            let (mut ops, options) = operands(
                j,
                args,
                &[
                    "-e",
                    "-f",
                    "--max-depth",
                    "-A",
                    "-B",
                    "-C",
                    "--color",
                    "-m",
                    "--max-count",
                    "--threads",
                ],
            );
            j.known = true;
            forbidden_output(j, &options);
            if options
                .iter()
                .any(|o| o == "-O" || o.starts_with("--open-files-in-pager"))
            {
                j.opaque
                    .push((None, "`git grep -O` opens a pager program".to_string()));
            }
            for (index, option) in options.iter().enumerate() {
                if option == "-f"
                    && let Some(file) = options.get(index + 1)
                {
                    j.effects.push(Effect::Read(file.clone()));
                }
            }
            // The first operand is the pattern unless `-e` or `-f` gave one.
            if !options.iter().any(|o| o == "-e" || o == "-f") && !ops.ambiguous.is_empty() {
                ops.ambiguous.remove(0);
            }
            let history = ops.commits > 0
                || ops.any_object
                || !ops.objects.is_empty()
                || options.iter().any(|o| o == "--cached");
            if history {
                // Revisions are searched under the working directory unless pathspecs say.
                for (path, from_top) in &ops.objects {
                    j.effects
                        .push(git_effect(GitTouch::History, path, *from_top));
                }
                if ops.any_object || ops.unlimited {
                    whole_history(j);
                }
                if ops.paths.is_empty() && ops.ambiguous.is_empty() {
                    j.effects.push(git_effect(GitTouch::History, ".", false));
                }
                for (path, from_top) in &ops.paths {
                    j.effects
                        .push(git_effect(GitTouch::History, path, *from_top));
                }
                for word in &ops.ambiguous {
                    j.effects.push(git_effect(GitTouch::Ambiguous, word, false));
                }
                return;
            }
            // The working tree under the working directory, or the pathspecs.
            if ops.unlimited {
                whole_history(j);
            }
            if ops.paths.is_empty() && ops.ambiguous.is_empty() {
                j.effects.push(Effect::Read("./**".to_string()));
            }
            for (path, from_top) in &ops.paths {
                if *from_top {
                    j.effects.push(git_effect(GitTouch::History, path, true));
                } else {
                    j.effects.push(Effect::Read(path.clone()));
                    j.effects.push(Effect::Read(format!("{path}/**")));
                }
            }
            for word in &ops.ambiguous {
                j.effects.push(Effect::Read(word.clone()));
                j.effects.push(Effect::Read(format!("{word}/**")));
            }
        }
        "cat-file" => {
            let (ops, options) = operands(j, args, &["--filters", "--path", "--textconv"]);
            j.known = true;
            if options
                .iter()
                .any(|o| o == "--textconv" || o == "--filters")
            {
                j.opaque
                    .push((None, format!("`git {sub}` runs the repository's filters")));
            }
            let metadata = options
                .iter()
                .any(|o| matches!(o.as_str(), "-t" | "-s" | "-e"));
            if options.iter().any(|o| o.starts_with("--batch")) {
                // Object names come on standard input.
                whole_history(j);
                return;
            }
            if metadata {
                return;
            }
            for (path, from_top) in &ops.objects {
                if path.is_empty() {
                    whole_history(j);
                } else {
                    j.effects
                        .push(git_effect(GitTouch::History, path, *from_top));
                }
            }
            // An object id, a tag or a name git resolves can be any blob.
            if ops.any_object
                || ops.commits > 0
                || ops.unlimited
                || ops
                    .ambiguous
                    .iter()
                    .any(|w| !matches!(w.as_str(), "blob" | "tree" | "commit" | "tag"))
            {
                whole_history(j);
            }
        }
        "ls-tree" => {
            let (ops, options) = operands(j, args, &["--format", "--abbrev"]);
            j.known = true;
            let from_top = options.iter().any(|o| o == "--full-tree");
            for (path, top) in &ops.objects {
                j.effects.push(git_effect(GitTouch::History, path, *top));
            }
            if ops.any_object || ops.unlimited {
                whole_history(j);
            }
            // The first word is the tree; the others are paths under the working directory.
            let paths: Vec<&String> = ops
                .ambiguous
                .iter()
                .skip(usize::from(
                    ops.commits == 0 && ops.objects.is_empty() && !ops.any_object,
                ))
                .collect();
            if paths.is_empty() && ops.paths.is_empty() {
                j.effects.push(git_effect(GitTouch::History, ".", from_top));
            }
            for path in paths {
                j.effects
                    .push(git_effect(GitTouch::History, path, from_top));
            }
            for (path, top) in &ops.paths {
                j.effects
                    .push(git_effect(GitTouch::History, path, *top || from_top));
            }
        }
        "stash" => stash(j, args),
        "checkout" | "restore" | "reset" => restore(j, sub, args),
        "difftool" => {
            j.known = false;
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
                    if (option == "-o" || option == "--output")
                        && let Some(file) = args
                            .iter()
                            .position(|w| w.text == *option)
                            .and_then(|i| args.get(i + 1))
                    {
                        j.effects.push(Effect::Write(file.text.clone()));
                    }
                }
                // The tree named and the paths after it: everything committed under them.
                let mut rest = operands.iter();
                match rest.next().map(|tree| (object_spec(tree), tree)) {
                    Some((Some((path, from_top)), _)) if !path.is_empty() => {
                        j.effects
                            .push(git_effect(GitTouch::History, &path, from_top));
                    }
                    _ => {
                        let paths: Vec<&Word> = rest.collect();
                        if paths.is_empty() {
                            whole_history(j);
                        }
                        for path in paths {
                            match pathspec(&path.text) {
                                Some((path, from_top)) => {
                                    j.effects
                                        .push(git_effect(GitTouch::History, &path, from_top))
                                }
                                None => whole_history(j),
                            }
                        }
                    }
                }
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
        "switch" | "merge" | "rebase" | "cherry-pick" | "revert" | "am" | "apply" | "clean"
        | "commit" | "init" | "worktree" | "gc" | "prune" | "repack" | "notes" | "bisect"
        | "sparse-checkout" | "maintenance" | "lfs" | "filter-branch" | "filter-repo"
        | "replace" | "update-index" | "update-ref" | "read-tree" | "checkout-index"
        | "hash-object" | "mergetool" | "fsck" => {
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
                "init" => {
                    // A new repository: its `.git` (config, hooks) inside the folder named.
                    let dir = named
                        .iter()
                        .find(|w| !w.unknown)
                        .map(|w| w.text.trim_end_matches('/').to_string())
                        .unwrap_or_else(|| ".".to_string());
                    if named.iter().any(|w| w.unknown) {
                        j.opaque.push((
                            None,
                            "the folder of `git init` is only known when it runs".to_string(),
                        ));
                    }
                    j.effects.push(Effect::Write(dir.clone()));
                    j.effects.push(Effect::Write(format!("{dir}/.git")));
                    j.effects.push(Effect::Write(format!("{dir}/.git/**")));
                }
                "apply" => apply(j, args),
                "am" => {
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

/// `git apply`: the files the patches name are written, read from each patch by the
/// caller ([`crate::ArchiveFormat::Patch`]); a patch from the standard input cannot be read
/// first, so that is opaque to the caller. Reports only (`--stat`, `--check`) write nothing.
/// `--3way` may run a merge driver the configuration names, so an execute rule decides.
fn apply(j: &mut Judgement, args: &[Word]) {
    let mut strip = 1;
    let mut into: Option<Word> = None;
    let mut patches = Vec::new();
    let mut report = false;
    let mut applies = false;
    let mut known = true;
    let mut after_dashes = false;
    for arg in args {
        let t = arg.text.as_str();
        if arg.unknown {
            j.opaque.push((
                Some(t.to_string()),
                format!("the git argument `{t}` is only known when it runs"),
            ));
            return;
        }
        if after_dashes || !t.starts_with('-') || t == "-" {
            patches.push(arg.clone());
            continue;
        }
        match t {
            "--" => after_dashes = true,
            "--stat" | "--numstat" | "--summary" | "--check" => report = true,
            "--apply" => applies = true,
            "-R"
            | "--reverse"
            | "--index"
            | "--cached"
            | "--intent-to-add"
            | "-N"
            | "-v"
            | "--verbose"
            | "-q"
            | "--quiet"
            | "--recount"
            | "--allow-empty"
            | "--ignore-whitespace"
            | "--ignore-space-change"
            | "--no-add"
            | "--unidiff-zero"
            | "--inaccurate-eof"
            | "-z"
            | "--allow-overlap" => {}
            "-3" | "--3way" => known = false,
            "--reject" => {
                j.opaque("`git apply --reject` writes `.rej` files beside the files it patches");
                return;
            }
            "--unsafe-paths" => {
                j.opaque("`git apply --unsafe-paths` writes outside the work tree");
                return;
            }
            _ if t.starts_with("--whitespace=")
                || t.starts_with("--include=")
                || t.starts_with("--exclude=")
                || t.starts_with("-C") => {}
            _ if t.starts_with("-p") && t.len() > 2 => {
                match t.strip_prefix("-p").and_then(|n| n.parse().ok()) {
                    Some(n) => strip = n,
                    None => {
                        j.opaque(format!(
                            "`git apply {t}`: the number of components is unclear"
                        ));
                        return;
                    }
                }
            }
            _ if t.starts_with("--directory=") => {
                into = t.strip_prefix("--directory=").map(Word::literal);
            }
            _ => {
                j.opaque(format!(
                    "`git apply {t}` is an option the analyser does not know; write it as \
                     `-pN` or `--directory=DIR` if that is what it is"
                ));
                return;
            }
        }
    }
    j.known = known;
    for patch in &patches {
        if patch.text != "-" {
            j.read(patch);
        }
    }
    if report && !applies {
        return;
    }
    if patches.is_empty() {
        patches.push(Word::literal("-"));
    }
    for patch in &patches {
        j.unpack(
            crate::ArchiveFormat::Patch,
            Some(patch),
            into.as_ref(),
            strip,
            &[],
            false,
        );
    }
}

/// `git stash`: saving puts the files with local changes back to their committed state
/// (they are written, and what git holds for them shows in the tree); applying writes the
/// files the entry holds; listing, dropping and clearing touch only git's own store.
fn stash(j: &mut Judgement, args: &[Word]) {
    let verb = args
        .first()
        .filter(|w| !w.text.starts_with('-'))
        .map(|w| w.text.as_str());
    let rest = if verb.is_some() {
        args.get(1..).unwrap_or(&[])
    } else {
        args
    };
    j.known = true;
    match verb {
        None | Some("push" | "save") => {
            let (ops, _) = operands(j, rest, &["-m", "--message", "--pathspec-from-file"]);
            if verb == Some("save") {
                // `save MESSAGE`: the words are the message, not paths.
                j.effects.push(git_effect(GitTouch::Revert, ".", true));
                return;
            }
            if ops.unlimited || ops.paths.is_empty() && ops.ambiguous.is_empty() {
                j.effects.push(git_effect(GitTouch::Revert, ".", true));
            }
            for (path, from_top) in &ops.paths {
                j.effects
                    .push(git_effect(GitTouch::Revert, path, *from_top));
            }
            for word in &ops.ambiguous {
                j.effects.push(git_effect(GitTouch::Revert, word, false));
            }
        }
        Some("list" | "drop" | "clear" | "create" | "store") => {}
        Some("show") => {
            let (ops, options) = operands(j, rest, &["-U", "--unified"]);
            if options.iter().any(|o| {
                matches!(
                    o.as_str(),
                    "-p" | "--patch" | "-u" | "--include-untracked" | "--only-untracked"
                ) || o.starts_with("-U")
            }) || !ops.objects.is_empty()
            {
                whole_history(j);
            }
        }
        Some("pop" | "apply") => {
            let (ops, _) = operands(j, rest, &[]);
            let entry = ops
                .ambiguous
                .first()
                .cloned()
                .unwrap_or_else(|| "stash@{0}".to_string());
            if ops.any_object || ops.commits > 0 || !ops.objects.is_empty() {
                // A commit or object id applied as a stash: anything it holds.
                j.effects.push(git_effect(GitTouch::Write, ".", true));
                whole_history(j);
                return;
            }
            j.effects.push(git_effect(GitTouch::Stash, &entry, true));
        }
        _ => {
            // `stash branch` and what the analyser does not know: the whole tree.
            j.known = false;
            j.effects.push(git_effect(GitTouch::Write, ".", true));
            whole_history(j);
        }
    }
}

/// `git checkout`, `git restore` and `git reset`: the paths they put back, and where the
/// content comes from. From the index or `HEAD` with no revision named, only the files
/// with local changes are written; from another revision, everything under the paths.
fn restore(j: &mut Judgement, sub: &str, args: &[Word]) {
    let (ops, options) = operands_with(
        j,
        args,
        &[
            "-s",
            "--source",
            "-b",
            "-B",
            "--orphan",
            "--conflict",
            "--pathspec-from-file",
            "-U",
        ],
        sub != "restore",
    );
    if options
        .iter()
        .any(|o| o.starts_with("--pathspec-from-file"))
    {
        j.opaque
            .push((None, format!("`git {sub}` reads its paths from a file")));
        return;
    }
    let source = options
        .iter()
        .position(|o| o == "-s" || o == "--source")
        .and_then(|i| options.get(i + 1))
        .cloned()
        .or_else(|| {
            options
                .iter()
                .find_map(|o| o.strip_prefix("--source=").map(str::to_string))
        });
    let worktree = match sub {
        // `--staged` alone changes only the index.
        "restore" => {
            !options.iter().any(|o| o == "--staged" || o == "-S")
                || options.iter().any(|o| o == "--worktree" || o == "-W")
        }
        "reset" => options
            .iter()
            .any(|o| matches!(o.as_str(), "--hard" | "--keep" | "--merge")),
        _ => true,
    };
    // Without `--`, a word `checkout` and `reset` are given may name a branch or commit
    // (the analyser cannot tell): judged as one. `restore` takes only paths.
    let mut targets: Vec<(String, bool)> = ops.paths.clone();
    let mut from_history = source.is_some() || ops.commits > 0 || ops.any_object;
    match sub {
        "restore" => targets.extend(ops.ambiguous.iter().map(|w| (w.clone(), false))),
        _ => from_history |= !ops.ambiguous.is_empty(),
    }
    if sub == "checkout"
        && targets.is_empty()
        && (from_history
            || options
                .iter()
                .any(|o| matches!(o.as_str(), "-b" | "-B" | "--orphan" | "--detach")))
    {
        // Switching branches or commits: the whole tree may change, and git runs the
        // post-checkout hook.
        j.known = false;
        j.effects.push(git_effect(GitTouch::Write, ".", true));
        whole_history(j);
        return;
    }
    j.known = true;
    if ops.unlimited || targets.is_empty() {
        targets = vec![(".".to_string(), true)];
    }
    for (path, from_top) in &targets {
        match (from_history, worktree) {
            (true, true) => {
                j.effects
                    .push(git_effect(GitTouch::History, path, *from_top));
                j.effects.push(git_effect(GitTouch::Write, path, *from_top));
            }
            // Only the index changes; what it holds is judged when something shows it.
            (_, false) => {}
            (false, true) => j
                .effects
                .push(git_effect(GitTouch::Revert, path, *from_top)),
        }
    }
    for (path, from_top) in &ops.objects {
        j.effects
            .push(git_effect(GitTouch::History, path, *from_top));
    }
}
