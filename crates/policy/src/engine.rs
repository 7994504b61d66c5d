//! The compiled policy: rules with ids, and the judgement of one tool call.
//!
//! Built once per process from the organisation policy, the repository policy and the
//! active contract; [`Engine::judge`] is then a total function from a call to a
//! [`Verdict`]. One precedence for everything: each touch takes the strictest rule that
//! matches it (stop > deny > ask > allow), a touch nothing matches takes the policy
//! default, and the call takes the strictest of its touches.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::carried::{self, Carried};
use crate::decision::{ApprovalNeed, Decision, JudgedTouch, Kind, ToolRun, Touch, Verdict};
use crate::format::{Contract, EvidenceKind, FormatError, McpServer, Mode, Policy, ToolClass};
use crate::glob::{CommandPattern, PathGlob};
use crate::path::{relative_segments, segments};
use crate::tools::touches_for_call;

/// What the file system can tell the evaluator. The core stays pure; the caller passes
/// the real file system, tests pass a fake one.
/// One name an archive or patch writes when unpacked: see [`Fs::archive_entries`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// As the archive holds it (`a/b.txt`, `../x`, `/etc/passwd`): before any component is
    /// stripped.
    pub name: String,
    pub kind: EntryKind,
}

/// What an [`ArchiveEntry`] makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A file (or a device, a pipe): written. A patch's deleted or renamed-away file too.
    File,
    Dir,
    /// A symbolic link holding this target.
    Symlink(String),
    /// A hard link to another member, named as the archive names it.
    Hardlink(String),
    /// Read, not written: the source of a patch's copy (`copy from`).
    Source,
}

pub trait Fs {
    /// The target of the symbolic link at `path` as written in the link, or `None` when
    /// `path` is not a link (or does not exist). [`crate::path::resolve`] walks paths
    /// with it.
    fn read_link(&self, path: &Path) -> Option<PathBuf>;
    fn is_dir(&self, path: &Path) -> bool;
    /// The existing paths a shell glob could name right now, or `None` when unknown.
    fn expand(&self, pattern: &Path) -> Option<Vec<PathBuf>>;
    /// Does some path at or under `dir` satisfy `test`? `None` when the tree is too large
    /// to check, which the evaluator treats as yes.
    fn tree_has(&self, dir: &Path, test: &dyn Fn(&Path) -> bool) -> Option<bool>;
    /// Where the symbolic links at or under `dir` lead, outside `dir`, links in what they
    /// lead to included: what a search of `dir` that follows links reads besides `dir`.
    /// `None` when the tree is too large to tell.
    fn links_under(&self, dir: &Path) -> Option<Vec<PathBuf>>;

    /// What unpacking the archive or patch at `path` writes, each name as the file holds
    /// it, in the file's order. `Err` says why that cannot be told (missing, unreadable,
    /// too large, a form mandate does not read); the evaluator then refuses the command.
    fn archive_entries(
        &self,
        path: &Path,
        format: mandate_shell::ArchiveFormat,
    ) -> Result<Vec<ArchiveEntry>, String> {
        let _ = (path, format);
        Err("the archive cannot be read here".to_string())
    }

    /// The top folder of the git work tree holding `dir`, if any.
    fn git_top(&self, dir: &Path) -> Option<PathBuf> {
        dir.ancestors()
            .find(|folder| self.is_dir(&folder.join(".git")))
            .map(Path::to_path_buf)
    }

    /// Does git hold a path at or under `path` that satisfies `test`, in the working tree,
    /// the index or any commit it keeps (every ref, the reflog, stashes)? `None` when
    /// unknown, which the evaluator treats as yes. Without a way to ask git, the working
    /// tree is all there is to look at.
    fn history_has(&self, top: &Path, path: &Path, test: &dyn Fn(&Path) -> bool) -> Option<bool> {
        let _ = top;
        self.tree_has(path, test)
    }

    /// The files with local changes (modified, staged, deleted, untracked) at or under
    /// `path` of the work tree at `top`, or `None` when unknown.
    fn git_changed(&self, top: &Path, path: &Path) -> Option<Vec<PathBuf>> {
        let _ = (top, path);
        None
    }

    /// The files the stash entry `entry` holds, or `None` when unknown.
    fn git_stashed(&self, top: &Path, entry: &str) -> Option<Vec<PathBuf>> {
        let _ = (top, entry);
        None
    }

    /// Where `PATH` finds the program `name`, or `None` when unknown. Only asked when a
    /// line runs a bare `mandate` (is it the installed binary?); unknown refuses it.
    fn program_on_path(&self, _name: &str) -> Option<PathBuf> {
        None
    }
}

/// A file system that knows nothing: every question gets the conservative answer.
pub struct NoFs;

impl Fs for NoFs {
    fn read_link(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
    fn is_dir(&self, _path: &Path) -> bool {
        false
    }
    fn expand(&self, _pattern: &Path) -> Option<Vec<PathBuf>> {
        None
    }
    fn tree_has(&self, _dir: &Path, _test: &dyn Fn(&Path) -> bool) -> Option<bool> {
        None
    }
    fn links_under(&self, _dir: &Path) -> Option<Vec<PathBuf>> {
        // It knows of no links at all (`read_link` says so too).
        Some(Vec::new())
    }
}

/// A file system that knows no file: links resolve to themselves and no folder holds
/// anything a rule names. For tests and examples judged in a repository known to be clean
/// (the tools a contract runs read the folders they are pointed at, which [`NoFs`] cannot
/// vouch for).
pub struct CleanFs;

impl Fs for CleanFs {
    fn read_link(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
    fn links_under(&self, _dir: &Path) -> Option<Vec<PathBuf>> {
        Some(Vec::new())
    }
    fn is_dir(&self, _path: &Path) -> bool {
        false
    }
    fn expand(&self, _pattern: &Path) -> Option<Vec<PathBuf>> {
        None
    }
    fn tree_has(&self, _dir: &Path, _test: &dyn Fn(&Path) -> bool) -> Option<bool> {
        Some(false)
    }
}

/// One call to judge.
pub struct Call<'a> {
    pub tool: &'a str,
    pub input: &'a Value,
    /// The working directory of the call (absolute).
    pub cwd: &'a Path,
}

/// Run state the decision depends on.
#[derive(Default)]
pub struct Context<'a> {
    /// A rollback note is on record for this run.
    pub rollback_note: bool,
    /// Kill-switch targets in force: `server`, `server/tool`, or a touch kind.
    pub disabled: &'a [String],
    /// MCP tools whose definition drifted from their pin: `server/tool`, or `server`
    /// for all its tools. Denied until an owner pins again.
    pub drifted: &'a [String],
    /// Values of sensitive data read earlier in the run, which may not leave
    /// ([`crate::carried`]); `None` where no run is being tracked.
    pub carried: Option<&'a Carried>,
}

/// How a Bash line runs the contract's test command ([`Engine::test_invocation`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestInvocation {
    /// The test command is the line's only command: what it printed and its exit status
    /// are the runner's.
    Alone { program: String, args: Vec<String> },
    /// Other commands share the line: they could print a summary or change the status.
    Accompanied { program: String },
}

/// The authority verbs of mandate the agent may never run.
pub const AUTHORITY_VERBS: &[&str] = &[
    "approve", "deny", "disable", "enable", "review", "start", "finish", "install", "amend",
    "init", "serve", "token", "mcp", "record",
];

/// The rule of a call refused for carrying sensitive data out ([`crate::carried`]).
pub const CARRIED_DATA_RULE: &str = "builtin.carried-data";

/// The rule of an MCP call refused for carrying what redaction takes for a secret.
pub const SECRET_ARGUMENT_RULE: &str = "builtin.secret-argument";

/// How deep in an MCP call's arguments values are looked at; deeper is refused.
const MAX_ARGUMENT_DEPTH: usize = 32;

/// Every object key and scalar of an MCP call's arguments as text (numbers and booleans
/// as JSON writes them); false when the value nests deeper than [`MAX_ARGUMENT_DEPTH`].
fn argument_texts<'a>(value: &'a Value, out: &mut Vec<&'a str>, depth: usize) -> bool {
    if depth > MAX_ARGUMENT_DEPTH {
        return false;
    }
    match value {
        Value::String(s) => {
            out.push(s);
            true
        }
        Value::Array(items) => items.iter().all(|v| argument_texts(v, out, depth + 1)),
        Value::Object(map) => map.iter().all(|(k, v)| {
            out.push(k);
            argument_texts(v, out, depth + 1)
        }),
        _ => true,
    }
}

/// Does `value`, as a whole, match a registry argument pattern? `*` stands for a run
/// (possibly empty) of ASCII letters, digits, `-`, `_` and `.`; `#` for a run of one or
/// more ASCII digits; everything else stands for itself. Nothing is trimmed or folded:
/// `BILL-*` admits `BILL-142`, never `BILL-142 tok_…` or `BILL-142\n`, and `BILL-#`
/// admits `BILL-142`, never `BILL-142tok`.
pub fn argument_value_matches(pattern: &str, value: &str) -> bool {
    #[derive(PartialEq)]
    enum Unit {
        Lit(char),
        /// Any run of word characters.
        Word,
        /// One digit.
        Digit,
        /// Any run of digits.
        Digits,
    }
    let mut units = Vec::new();
    for c in pattern.chars() {
        match c {
            '*' => units.push(Unit::Word),
            '#' => {
                units.push(Unit::Digit);
                units.push(Unit::Digits);
            }
            c => units.push(Unit::Lit(c)),
        }
    }
    let word_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    // `at[i]`: the pattern's first `i` units match what was read so far.
    let close = |at: &mut Vec<bool>| {
        // A run may be empty.
        for i in 0..units.len() {
            if at.get(i) == Some(&true)
                && matches!(units.get(i), Some(Unit::Word | Unit::Digits))
                && let Some(next) = at.get_mut(i + 1)
            {
                *next = true;
            }
        }
    };
    let mut at = vec![false; units.len() + 1];
    if let Some(first) = at.first_mut() {
        *first = true;
    }
    close(&mut at);
    for c in value.chars() {
        let mut next = vec![false; units.len() + 1];
        for (i, unit) in units.iter().enumerate() {
            if at.get(i) != Some(&true) {
                continue;
            }
            let (fits, stay) = match unit {
                Unit::Lit(l) => (*l == c, false),
                Unit::Word => (word_char(c), true),
                Unit::Digit => (c.is_ascii_digit(), false),
                Unit::Digits => (c.is_ascii_digit(), true),
            };
            if !fits {
                continue;
            }
            if let Some(slot) = next.get_mut(if stay { i } else { i + 1 }) {
                *slot = true;
            }
        }
        close(&mut next);
        if !next.contains(&true) {
            return false;
        }
        at = next;
    }
    at.last() == Some(&true)
}

/// Numbers carry data as well as strings do (a card number): their text, for the checks.
fn number_texts(value: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > MAX_ARGUMENT_DEPTH {
        return;
    }
    match value {
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| number_texts(v, out, depth + 1)),
        Value::Object(map) => map.values().for_each(|v| number_texts(v, out, depth + 1)),
        _ => {}
    }
}

/// Tools that only manage the agent's own conversation: no touch outside it.
const INTERNAL_TOOLS: &[&str] = &[
    "TodoWrite",
    "TodoRead",
    "ExitPlanMode",
    "EnterPlanMode",
    "TaskCreate",
    "TaskUpdate",
    "TaskGet",
    "TaskList",
    "AskUserQuestion",
    "ToolSearch",
    // Reading or stopping a background shell the hook already judged when it started.
    "BashOutput",
    "TaskOutput",
    "KillShell",
    "KillBash",
    "TaskStop",
];

#[derive(Clone, Debug)]
enum Matcher {
    /// Root-relative, absolute or home-relative path glob.
    Path { glob: PathGlob, anchor: Anchor },
    /// A command line pattern, or a tool or host name pattern.
    Text(CommandPattern),
    /// The first word is `mandate` and the verb is one of these.
    MandateVerb(&'static [&'static str]),
    /// An execute rule naming a tool mandate has a spec for, read as that tool's command.
    Program {
        rule: ProgramRule,
        /// The rule as a text pattern: block and approval rules also match by text.
        text: CommandPattern,
    },
}

/// An execute rule for a tool with a spec, compiled: what it admits (README, "Decisions").
#[derive(Clone, Debug)]
struct ProgramRule {
    tool: String,
    /// Path patterns, relative to the repository root unless absolute.
    paths: Vec<CommandPattern>,
    names: Vec<CommandPattern>,
    /// Unvetted parts the rule spells out.
    spelled: Vec<CommandPattern>,
    open: bool,
}

/// Why a [`ProgramRule`] does not admit a run, before it is written out.
enum Refusal<'r> {
    /// The run is another tool's.
    Tool(&'r str),
    /// A path (as rules name it) the rule's paths do not match.
    Path(Cow<'r, str>),
    /// A path, and the rule names none and is not open.
    NoPath(Cow<'r, str>),
    Name(&'r str),
    /// An unvetted part the rule does not spell out: why it is unvetted.
    Unvetted(&'r str),
}

impl ProgramRule {
    fn compile(shape: mandate_shell::RuleShape) -> Result<ProgramRule, String> {
        let patterns = |list: Vec<String>| -> Result<Vec<CommandPattern>, String> {
            list.iter()
                .map(|p| {
                    let p = p.strip_prefix("./").unwrap_or(p);
                    let p = if p.len() > 1 {
                        p.trim_end_matches('/')
                    } else {
                        p
                    };
                    CommandPattern::new(p)
                })
                .collect()
        };
        Ok(ProgramRule {
            tool: shape.tool,
            paths: patterns(shape.paths)?,
            names: patterns(shape.names)?,
            spelled: shape
                .spelled
                .iter()
                .map(|p| CommandPattern::new(p))
                .collect::<Result<_, _>>()?,
            open: shape.open,
        })
    }

    /// Does the rule admit this run? `Err` says why not, for the deny reason.
    fn admits(&self, run: &ToolRun, root: &Path) -> Result<(), String> {
        match self.refusal(run, root) {
            None => Ok(()),
            Some(refusal) => Err(self.explain(&refusal)),
        }
    }

    /// The first reason the rule does not admit the run, `None` when it does. The reason
    /// is written out only when a deny shows it ([`ProgramRule::explain`]): the engine
    /// asks every allow rule of the run's tool, and a 536-rule contract spent a twentieth
    /// of a Bash call formatting reasons nobody read.
    fn refusal<'r>(&self, run: &'r ToolRun, root: &Path) -> Option<Refusal<'r>> {
        if run.tool != self.tool {
            return Some(Refusal::Tool(&run.tool));
        }
        let paths: &[PathBuf] = if run.paths.is_empty() {
            run.default_path.as_slice()
        } else {
            &run.paths
        };
        if !self.paths.is_empty() {
            for path in paths {
                let shown = repository_path(path, root);
                if !self.paths.iter().any(|p| p.matches(&shown)) {
                    return Some(Refusal::Path(shown));
                }
            }
        } else if !self.open
            && let Some(path) = run.paths.first()
        {
            return Some(Refusal::NoPath(repository_path(path, root)));
        }
        if !self.names.is_empty() {
            if let Some(name) = run
                .names
                .iter()
                .find(|n| !self.names.iter().any(|p| p.matches(n)))
            {
                return Some(Refusal::Name(name));
            }
        } else if !self.open
            && let Some(name) = run.names.first()
        {
            return Some(Refusal::Name(name));
        }
        run.unvetted
            .iter()
            .find(|part| {
                !((self.open && part.is_passed_through())
                    || self.spelled.iter().any(|p| p.matches(&part.text)))
            })
            .map(|part| Refusal::Unvetted(&part.why))
    }

    /// A refusal as the deny reason says it.
    fn explain(&self, refusal: &Refusal<'_>) -> String {
        match refusal {
            Refusal::Tool(tool) => format!("it runs `{tool}`, not `{}`", self.tool),
            Refusal::Path(shown) => format!(
                "it points `{}` at `{shown}`, which the rule does not name",
                self.tool
            ),
            Refusal::NoPath(shown) => format!(
                "it points `{}` at `{shown}`, and the rule names no path (end it in `*` to allow any)",
                self.tool
            ),
            Refusal::Name(name) => format!("the rule does not name `{name}`"),
            Refusal::Unvetted(why) => format!("{why}, and the rule does not spell it out"),
        }
    }

    /// For block, stop and approval rules: does the run do what the rule names, whatever
    /// else it does?
    fn names_part_of(&self, run: &ToolRun, root: &Path) -> bool {
        if run.tool != self.tool {
            return false;
        }
        let paths = run.paths.iter().chain(run.default_path.iter());
        let path_hit = self.paths.is_empty()
            || paths
                .map(|p| repository_path(p, root))
                .any(|shown| self.paths.iter().any(|p| p.matches(&shown)));
        let name_hit = self.names.is_empty()
            || run
                .names
                .iter()
                .any(|n| self.names.iter().any(|p| p.matches(n)));
        path_hit && name_hit
    }
}

/// A path as rules name it: relative to the repository root (`.` for the root itself), or
/// absolute when it is outside.
fn repository_path<'p>(path: &'p Path, root: &Path) -> Cow<'p, str> {
    // The common case, a clean path below the root, is cut from the bytes:
    // `Path::strip_prefix` compares component by component and was most of what asking
    // 58 rules of one tool about a run cost. Anything else takes the component way.
    let bytes = path.as_os_str().as_encoded_bytes();
    let prefix = root.as_os_str().as_encoded_bytes();
    if prefix.last() != Some(&b'/')
        && let Some(rest) = bytes.strip_prefix(prefix)
        && let Some(rest) = rest.strip_prefix(b"/")
        && rest
            .split(|b| *b == b'/')
            .all(|part| !matches!(part, b"" | b"." | b".."))
        && let Ok(text) = std::str::from_utf8(rest)
    {
        return Cow::Borrowed(text);
    }
    // `display` of a UTF-8 path is its text; `to_str` gives it without the formatter.
    let shown = |path: &'p Path| match path.to_str() {
        Some(text) => Cow::Borrowed(text),
        None => Cow::Owned(path.display().to_string()),
    };
    match path.strip_prefix(root) {
        Ok(rest) if rest.as_os_str().is_empty() => Cow::Borrowed("."),
        Ok(rest) => shown(rest),
        Err(_) => shown(path),
    }
}

#[derive(Clone, Debug)]
enum Anchor {
    Root,
    Absolute,
    Home,
}

#[derive(Clone, Debug)]
struct Rule {
    id: RuleId,
    kind: Kind,
    effect: Decision,
    /// The rule's pattern as written, compiled on first use when the engine is lazy.
    item: Item,
    /// Boxed: a rule is built for every entry of every list on every call, and most are
    /// never compiled, so the rule itself stays small.
    matcher: OnceLock<Result<Box<Matcher>, String>>,
    /// What the rule is, for reasons: "blocked by the organisation policy".
    source: &'static str,
    /// Set on stop and approval rules: their stated reason.
    why: Option<Arc<str>>,
    /// Set on approval rules: the reviewer group.
    group: Option<Arc<str>>,
    /// For a path rule written from the repository root that surely compiles: the length
    /// of its plain first segment (`billing` of `billing/export/**`), 0 otherwise. A
    /// touch under another first folder cannot match it, so the rule is skipped without
    /// being compiled ([`Rule::cannot_match`]). Told from the text the first time a
    /// touch of the rule's kind asks, like the matcher.
    head: OnceLock<u16>,
    /// A built-in path rule's glob and anchor, compiled on first use like a listed rule's
    /// item (which, for built-ins, is what reasons show, not the glob).
    builtin_glob: Option<Box<(Box<str>, Anchor)>>,
}

/// A rule's pattern as written: a slice of one text that the rules of a list share, so a
/// 536-rule policy costs one allocation per list, not one per rule.
#[derive(Clone, Debug)]
struct Item {
    text: Arc<str>,
    start: usize,
    end: usize,
}

impl std::ops::Deref for Item {
    type Target = str;

    fn deref(&self) -> &str {
        self.text.get(self.start..self.end).unwrap_or_default()
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl From<&str> for Item {
    fn from(text: &str) -> Item {
        Item {
            text: Arc::from(text),
            start: 0,
            end: text.len(),
        }
    }
}

/// A rule's name in verdicts and reasons (`contract.allow.read[2]`). Written out only for
/// the rules that match a call: formatting hundreds of names that are never shown cost a
/// sixth of compiling a 500-rule policy.
#[derive(Clone, Debug)]
enum RuleId {
    Fixed(&'static str),
    /// Entry `index` of the `kind` list under `prefix`.
    Listed {
        prefix: Arc<str>,
        kind: Kind,
        index: usize,
    },
}

impl Rule {
    /// The compiled pattern, compiling it now if this is its first use.
    fn matcher(&self) -> Result<&Matcher, &str> {
        self.matcher
            .get_or_init(|| match &self.builtin_glob {
                Some(deferred) => {
                    let (source, anchor) = &**deferred;
                    PathGlob::new(source).map(|glob| {
                        Box::new(Matcher::Path {
                            glob,
                            anchor: anchor.clone(),
                        })
                    })
                }
                None => compile_matcher(self.kind, &self.item).map(Box::new),
            })
            .as_ref()
            .map(|matcher| &**matcher)
            .map_err(String::as_str)
    }

    fn compiled(matcher: Matcher) -> OnceLock<Result<Box<Matcher>, String>> {
        OnceLock::from(Ok(Box::new(matcher)))
    }

    /// Is it certain, without compiling the rule, that it matches no touch of this path?
    /// Only when the rule has a plain head and the path's first segment below the
    /// repository root is other plain text: every alternative of the glob then starts
    /// with a segment the path does not have, so it matches neither the path, nor a
    /// path under it, nor a shell pattern spelled there (each branch of
    /// [`Engine::rule_matches`] for a root-anchored glob needs that first segment).
    fn cannot_match(&self, split: &SplitPath<'_>) -> bool {
        let Some(first) = split.plain_first() else {
            return false;
        };
        let head = *self
            .head
            .get_or_init(|| plain_head_len(self.kind, &self.item));
        head > 0
            && self
                .item
                .get(..usize::from(head))
                .is_some_and(|head| head != first)
    }
}

/// See [`Rule::head`].
fn plain_head_len(kind: Kind, item: &str) -> u16 {
    // Anchored as `compile_matcher` anchors it: `/` and `~/` rules are not root-relative.
    let root_relative = !item.starts_with('/') && !item.starts_with("~/");
    if !matches!(kind, Kind::Read | Kind::Write) || !root_relative {
        return 0;
    }
    PathGlob::skippable_head(item)
        .and_then(|head| u16::try_from(head.len()).ok())
        .unwrap_or(0)
}

impl RuleId {
    fn is_builtin(&self) -> bool {
        matches!(self, RuleId::Fixed(id) if id.starts_with("builtin."))
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleId::Fixed(id) => f.write_str(id),
            RuleId::Listed {
                prefix,
                kind,
                index,
            } => write!(f, "{prefix}.{kind}[{index}]"),
        }
    }
}

/// A compiled policy and contract, ready to judge calls.
pub struct Engine {
    root: PathBuf,
    home: Option<PathBuf>,
    mode: Mode,
    default: Decision,
    rules: Vec<Rule>,
    registry: BTreeMap<String, McpServer>,
    reviewers: BTreeMap<String, Vec<String>>,
    rollback: Vec<(String, PathGlob)>,
    contract: Option<Contract>,
    /// The installed mandate binary (symlinks resolved): the only program accepted as
    /// mandate's evidence verb. `None` in a pure engine, which accepts a bare `mandate`.
    mandate_binary: Option<PathBuf>,
}

/// Where the policy pieces come from, for error messages and protection.
pub struct Sources<'a> {
    pub org: Option<(&'a Path, &'a Policy)>,
    pub repo: (&'a Path, &'a Policy),
    pub contract: Option<(&'a Path, &'a Contract)>,
    /// The repository root (absolute, symlinks resolved).
    pub root: &'a Path,
    pub home: Option<&'a Path>,
    /// Paths the agent may never write, beyond the built-in ones: the record store, the
    /// mandate binary, the organisation policy.
    pub protected: &'a [PathBuf],
}

impl Engine {
    pub fn new(sources: &Sources<'_>) -> Result<Engine, FormatError> {
        Engine::build(sources, true, true)
    }

    /// An engine that compiles each rule's pattern the first time a call needs it.
    ///
    /// For the hook, which judges one call per process: a `Read` compiles the read rules
    /// and no others (a third of a 500-rule policy). A pattern that does not compile
    /// refuses every call that needs it, naming the rule; [`Engine::new`] (used by
    /// `check` and `start`) reports it as a validation error with its file instead.
    pub fn new_lazy(sources: &Sources<'_>) -> Result<Engine, FormatError> {
        Engine::build(sources, false, true)
    }

    /// [`Engine::new_lazy`] for a contract the caller hands over (`sources.contract` is
    /// not read): the engine keeps it as it is instead of a copy. Copying a 536-rule
    /// contract and dropping the original was a twentieth of a hook call.
    pub fn new_lazy_owning(
        sources: &Sources<'_>,
        contract: Option<(&Path, Contract)>,
    ) -> Result<Engine, FormatError> {
        let (path, contract) = match contract {
            Some((path, contract)) => (Some(path), Some(contract)),
            None => (None, None),
        };
        let mut engine = Engine::build(
            &Sources {
                contract: path.zip(contract.as_ref()),
                ..*sources
            },
            false,
            false,
        )?;
        engine.contract = contract;
        Ok(engine)
    }

    /// `copy_contract`: keep a copy of `sources.contract` (else the caller sets it).
    fn build(
        sources: &Sources<'_>,
        eager: bool,
        copy_contract: bool,
    ) -> Result<Engine, FormatError> {
        let (repo_path, repo) = sources.repo;
        let mut rules = Vec::with_capacity(rule_count(sources));
        let mut mode = repo.mode.unwrap_or_default();
        let mut default = repo.default.unwrap_or_default().decision();
        let mut registry = repo.mcp.servers.clone();
        let mut reviewers = repo.authority.reviewers.clone();

        builtin_rules(sources, eager, &mut rules)?;

        if let Some((org_path, org)) = sources.org {
            // The organisation policy can only narrow: the stricter mode and default win,
            // its blocks apply, and its registry bounds the repository's.
            mode = mode.max(org.mode.unwrap_or(mode));
            default = default.max(org.default.map(|d| d.decision()).unwrap_or(default));
            add_lists(
                &mut rules,
                eager,
                org_path,
                "org.block",
                org.block.by_kind(),
                Decision::Deny,
                "blocked by the organisation policy",
                None,
                None,
            )?;
            if !org.mcp.servers.is_empty() {
                registry.retain(|name, _| org.mcp.servers.contains_key(name));
                for (name, org_server) in &org.mcp.servers {
                    let entry = registry
                        .entry(name.clone())
                        .or_insert_with(|| org_server.clone());
                    entry.disabled |= org_server.disabled;
                    for (tool, spec) in &org_server.tools {
                        if spec.class() == ToolClass::Write || spec.disabled() {
                            entry.tools.insert(tool.clone(), spec.clone());
                        }
                    }
                    entry
                        .tools
                        .retain(|tool, _| org_server.tools.contains_key(tool));
                    if entry.approval.is_none() {
                        entry.approval = org_server.approval.clone();
                    }
                }
            }
            for (group, members) in &org.authority.reviewers {
                reviewers
                    .entry(group.clone())
                    .or_insert_with(|| members.clone());
            }
        }

        add_lists(
            &mut rules,
            eager,
            repo_path,
            "policy.block",
            repo.block.by_kind(),
            Decision::Deny,
            "blocked by the repository policy",
            None,
            None,
        )?;

        for (name, server) in &registry {
            if let Some(group) = &server.approval
                && !reviewers.contains_key(group)
            {
                return Err(FormatError::new(
                    repo_path,
                    Some(format!("mcp.servers.{name}.approval")),
                    format!("reviewer group `{group}` is not defined in `authority.reviewers`"),
                ));
            }
        }

        let mut rollback = Vec::new();
        if let Some((contract_path, contract)) = sources.contract {
            add_lists(
                &mut rules,
                eager,
                contract_path,
                "contract.block",
                contract.block.by_kind(),
                Decision::Deny,
                "blocked by the contract",
                None,
                None,
            )?;
            add_lists(
                &mut rules,
                eager,
                contract_path,
                "contract.allow",
                contract.allow.by_kind(),
                Decision::Allow,
                "allowed by the contract",
                None,
                None,
            )?;
            for (index, stop) in contract.stop.iter().enumerate() {
                add_lists(
                    &mut rules,
                    eager,
                    contract_path,
                    &format!("contract.stop[{index}]"),
                    stop.by_kind(),
                    Decision::Stop,
                    "a stop condition of the contract",
                    Some(&stop.reason),
                    None,
                )?;
            }
            for (index, approval) in contract.approval.iter().enumerate() {
                if !reviewers.contains_key(&approval.reviewers) {
                    return Err(FormatError::new(
                        contract_path,
                        Some(format!("approval[{index}].reviewers")),
                        format!(
                            "reviewer group `{}` is not defined in `authority.reviewers` of {}",
                            approval.reviewers,
                            repo_path.display()
                        ),
                    ));
                }
                add_lists(
                    &mut rules,
                    eager,
                    contract_path,
                    &format!("contract.approval[{index}]"),
                    approval.by_kind(),
                    Decision::Ask,
                    "an approval rule of the contract",
                    Some(&approval.reason),
                    Some(&approval.reviewers),
                )?;
            }
            for (index, glob) in contract.rollback.required_before.iter().enumerate() {
                let id = format!("contract.rollback.required_before[{index}]");
                let compiled = PathGlob::new(glob).map_err(|message| {
                    FormatError::new(contract_path, Some(id.clone()), message)
                })?;
                rollback.push((id, compiled));
            }
        }

        Ok(Engine {
            root: sources.root.to_path_buf(),
            home: sources.home.map(Path::to_path_buf),
            mode,
            default,
            rules,
            registry,
            reviewers,
            rollback,
            contract: sources
                .contract
                .filter(|_| copy_contract)
                .map(|(_, c)| c.clone()),
            mandate_binary: None,
        })
    }

    /// Name the installed mandate binary (symlinks resolved): from then on only it, by
    /// its path or as a bare `mandate` that `PATH` resolves to it, is the evidence verb.
    pub fn with_mandate_binary(mut self, binary: PathBuf) -> Engine {
        self.mandate_binary = Some(binary);
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn contract(&self) -> Option<&Contract> {
        self.contract.as_ref()
    }

    pub fn registry(&self) -> &BTreeMap<String, McpServer> {
        &self.registry
    }

    pub fn reviewers(&self) -> &BTreeMap<String, Vec<String>> {
        &self.reviewers
    }

    /// The touches a call makes, without judging them.
    pub fn touches(&self, call: &Call<'_>, fs: &dyn Fs) -> Vec<Touch> {
        touches_for_call(
            call,
            self.home.as_deref(),
            fs,
            self.mandate_binary.as_deref(),
        )
    }

    /// Judge one call.
    pub fn judge(&self, call: &Call<'_>, context: &Context<'_>, fs: &dyn Fs) -> Verdict {
        let touches = self.touches(call, fs);
        let mut judged: Vec<JudgedTouch> = touches
            .iter()
            .map(|touch| self.judge_touch(touch, context, fs))
            .collect();
        if let Some(carried) = context.carried
            && let Some(touch) = self.carried_out(call, carried)
        {
            judged.push(touch);
        }
        self.verdict(call, judged)
    }

    /// A call that would send out a value of sensitive data read earlier in the run:
    /// through an MCP argument (except back to the server it came from), a URL, a web
    /// search or a command line.
    fn carried_out(&self, call: &Call<'_>, carried: &Carried) -> Option<JudgedTouch> {
        if carried.is_empty() {
            return None;
        }
        let field = |key: &str| call.input.get(key).and_then(Value::as_str);
        let (texts, to_server, channel): (Vec<&str>, Option<&str>, &str) = match call.tool {
            "Bash" => (
                field("command").into_iter().collect(),
                None,
                "a command line",
            ),
            "WebFetch" => (field("url").into_iter().collect(), None, "a URL"),
            "WebSearch" => (field("query").into_iter().collect(), None, "a web search"),
            tool => {
                let (server, _) = split_mcp_name(tool)?;
                let mut texts = Vec::new();
                if !argument_texts(call.input, &mut texts, 0) {
                    return None; // too deep: refused by the registry check
                }
                (texts, Some(server), "an MCP argument")
            }
        };
        let mut numbers = Vec::new();
        if to_server.is_some() {
            number_texts(call.input, &mut numbers, 0);
        }
        let hit = texts
            .iter()
            .copied()
            .chain(numbers.iter().map(String::as_str))
            .find_map(|text| carried.find(text, to_server))?;
        let label = carried
            .label(hit.label_hash())
            .unwrap_or("an earlier result");
        let origin = match hit.origin() {
            carried::Origin::BlockedPath => {
                format!("a value of `{label}`, a file a read block covers")
            }
            carried::Origin::McpServer => {
                let data = self
                    .registry
                    .get(label)
                    .and_then(|s| s.data.as_deref())
                    .unwrap_or("sensitive data");
                format!(
                    "a value read in this run from the MCP server `{label}` (its registry \
                     entry says it holds {data})"
                )
            }
        };
        Some(JudgedTouch {
            kind: Kind::Expose,
            target: format!("data from {label}"),
            decision: Decision::Deny,
            rules: vec![CARRIED_DATA_RULE.to_string()],
            reason: format!(
                "`{}` would send out, through {channel}, {origin}; data the contract marks sensitive may not leave through an MCP \
                 argument, a URL or a command line",
                call.tool
            ),
        })
    }

    fn verdict(&self, call: &Call<'_>, judged: Vec<JudgedTouch>) -> Verdict {
        let Some(decision) = judged.iter().map(|t| t.decision).max() else {
            return Verdict {
                decision: Decision::Allow,
                rules: vec!["builtin.no-effect".to_string()],
                reason: format!("`{}` touches nothing outside the session", call.tool),
                touches: judged,
                approval: None,
            };
        };
        let mut deciding: Vec<&JudgedTouch> =
            judged.iter().filter(|t| t.decision == decision).collect();
        // A named rule explains more than the default: put it first.
        deciding.sort_by_key(|t| t.rules.iter().any(|r| r == "policy.default"));
        let mut rules: Vec<String> = Vec::new();
        for touch in &deciding {
            for rule in &touch.rules {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
        let mut reasons: Vec<String> = Vec::new();
        for touch in &deciding {
            if !reasons.contains(&touch.reason) {
                reasons.push(touch.reason.clone());
            }
        }
        let approval = if decision == Decision::Ask {
            self.approval_for(&deciding)
        } else {
            None
        };
        let mut reason = reasons.join("; ");
        match decision {
            Decision::Allow => {}
            Decision::Ask => {
                if let Some(need) = &approval {
                    reason.push_str(&format!(
                        ". This needs approval by the `{}` reviewers ({}).",
                        need.group,
                        need.reviewers.join(", ")
                    ));
                } else {
                    reason.push_str(". A person must approve this call.");
                }
            }
            Decision::Deny => {
                // First line: what was refused and by which rule. Second line: what to do
                // instead. The whole box goes to the agent once, at session start.
                if rules.iter().all(|r| r == "policy.default") {
                    reason.push_str(".\n");
                } else {
                    reason.push_str(&format!(" (rule {}).\n", rules.join(", ")));
                }
                reason.push_str(&self.what_to_do(&deciding));
            }
            Decision::Stop => {
                reason.push_str(
                    ". The run is stopped: no further tool calls are allowed until the \
                     delegating user starts a new contract.",
                );
            }
        }
        Verdict {
            decision,
            rules,
            reason,
            touches: judged,
            approval,
        }
    }

    fn approval_for(&self, deciding: &[&JudgedTouch]) -> Option<ApprovalNeed> {
        deciding.iter().find_map(|touch| {
            touch.rules.iter().find_map(|id| {
                let (group, why) = self
                    .rules
                    .iter()
                    .find(|rule| rule.group.is_some() && rule.id.to_string() == *id)
                    .and_then(|rule| {
                        Some((
                            rule.group.as_deref()?.to_string(),
                            rule.why.as_deref().map(str::to_string),
                        ))
                    })
                    .or_else(|| self.registry_group(id))?;
                Some(ApprovalNeed {
                    rule: id.clone(),
                    reviewers: self.reviewers.get(&group).cloned().unwrap_or_default(),
                    group,
                    reason: why.unwrap_or_else(|| touch.reason.clone()),
                })
            })
        })
    }

    fn registry_group(&self, rule_id: &str) -> Option<(String, Option<String>)> {
        let rest = rule_id.strip_prefix("registry.")?;
        let server = rest.split('.').next()?;
        let group = self.registry.get(server)?.approval.clone()?;
        Some((group, None))
    }

    /// The second line of a denial: what the agent can do instead, for the kinds of touch
    /// that were refused: the allowed spelling of a command, the folders it may read or
    /// write, or whom to ask.
    fn what_to_do(&self, deciding: &[&JudgedTouch]) -> String {
        let Some(contract) = &self.contract else {
            return "No contract is active in this workspace: the delegating user must run \
                    `mandate start CONTRACT` before the agent can work."
                .to_string();
        };
        let ask = format!(
            "if the task needs it, stop and ask {} for a contract that allows it",
            contract.task.delegated_by
        );
        let blocked = deciding
            .iter()
            .all(|t| t.rules.iter().all(|r| r != "policy.default"));
        // A search of a folder that holds a blocked file: the search itself is fine once it
        // leaves those files out.
        let searches = deciding.iter().all(|t| {
            t.kind == Kind::Read && t.target.ends_with("/**") && !t.target.starts_with("git:")
        });
        if blocked && searches {
            return format!(
                "The folder holds files the policy blocks: search only the files you need, \
                 with a Grep `glob` (`*.go`), a Glob pattern (`**/*.go`) or a folder that \
                 holds no blocked file. Do not try to read the blocked files another way; {ask}."
            );
        }
        if blocked {
            return format!("Do not try to reach it another way; {ask}.");
        }
        let list = |items: &[String]| {
            items
                .iter()
                .take(6)
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut hints: Vec<String> = Vec::new();
        for kind in Kind::ALL {
            let open: Vec<&&JudgedTouch> = deciding
                .iter()
                .filter(|t| t.kind == kind && t.rules.iter().any(|r| r == "policy.default"))
                .collect();
            if open.is_empty() {
                continue;
            }
            let allowed: &[String] = match kind {
                Kind::Read => &contract.allow.read,
                Kind::Write => &contract.allow.write,
                Kind::Execute => &contract.allow.execute,
                Kind::Call => &contract.allow.call,
                Kind::Expose => &contract.allow.expose,
            };
            if kind == Kind::Execute {
                // The allowed spelling of the same program, where there is one.
                let programs: Vec<&str> = open
                    .iter()
                    .filter_map(|t| t.target.split_whitespace().next())
                    .collect();
                let same: Vec<String> = allowed
                    .iter()
                    .filter(|rule| {
                        rule.split_whitespace()
                            .next()
                            .is_some_and(|p| programs.contains(&p))
                    })
                    .cloned()
                    .collect();
                if !same.is_empty() {
                    hints.push(format!("the contract runs it as {}", list(&same)));
                    continue;
                }
            }
            let verb = match kind {
                Kind::Read => "read",
                Kind::Write => "write",
                Kind::Execute => "run",
                Kind::Call => "call",
                Kind::Expose => "send data to",
            };
            if allowed.is_empty() {
                hints.push(format!(
                    "contract {} lets you {verb} nothing",
                    contract.task.id
                ));
            } else {
                hints.push(format!(
                    "contract {} lets you {verb} {}",
                    contract.task.id,
                    list(allowed)
                ));
            }
        }
        let mut line = hints.join("; ");
        if let Some(first) = line.get(..1) {
            line = format!("{}{}", first.to_uppercase(), line.get(1..).unwrap_or(""));
        }
        format!("{line}; {ask}.")
    }

    /// The box in one paragraph, for the agent at session start.
    pub fn box_summary(&self) -> String {
        let Some(contract) = &self.contract else {
            return "No contract is active in this workspace: the delegating user must run \
                    `mandate start CONTRACT` before the agent can work."
                .to_string();
        };
        let mut parts = Vec::new();
        let list = |items: &[String]| {
            items
                .iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (verb, items) in [
            ("read", &contract.allow.read),
            ("write", &contract.allow.write),
            ("run", &contract.allow.execute),
            ("call", &contract.allow.call),
            ("send data to", &contract.allow.expose),
        ] {
            if !items.is_empty() {
                parts.push(format!("{verb} {}", list(items)));
            }
        }
        let scope = if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join("; ")
        };
        format!(
            "Your contract {} lets you {scope}. Work inside that box; if the task needs more, \
             stop and ask {} for a new contract instead of trying another way.",
            contract.task.id, contract.task.delegated_by
        )
    }

    fn judge_touch(&self, touch: &Touch, context: &Context<'_>, fs: &dyn Fs) -> JudgedTouch {
        if let Touch::Link { .. } = touch {
            // No rule can allow it: the link would undo every path rule at once.
            return JudgedTouch {
                kind: touch.kind(),
                target: touch.target(),
                decision: Decision::Deny,
                rules: vec!["builtin.links".to_string()],
                reason: self.describe(touch),
            };
        }
        let mut matched: Vec<(Decision, String, String)> = Vec::new();

        // Split the touched path once per anchor, not once per rule.
        let split = SplitPath::new(self, touch);
        // A protected name is decided after the loop: an allow rule naming the exact path
        // lifts it, whatever order the rules come in.
        let mut protected: Option<&Rule> = None;
        for rule in &self.rules {
            if rule.kind != touch.kind() || rule.cannot_match(&split) {
                continue;
            }
            let matcher = match rule.matcher() {
                Ok(matcher) => matcher,
                Err(message) => {
                    // Whatever the rule would have said, a rule that cannot be read refuses.
                    matched.push((
                        Decision::Deny,
                        rule.id.to_string(),
                        format!(
                            "the policy rule `{}` (`{}`) cannot be used: {message}; run \
                             `mandate check` and fix it",
                            rule.id, rule.item
                        ),
                    ));
                    continue;
                }
            };
            if self.rule_matches(rule, matcher, touch, &split, fs) {
                if matches!(rule.id, RuleId::Fixed(PROTECTED_NAME_RULE)) {
                    protected.get_or_insert(rule);
                    continue;
                }
                matched.push((
                    rule.effect,
                    rule.id.to_string(),
                    self.rule_reason(rule, touch),
                ));
            }
        }
        if let Touch::Write(path) = touch {
            self.read_block_matches(path, &split, fs, &mut matched);
        }
        if let Some(rule) = protected
            && !self.literal_allow(touch, &split, fs)
        {
            matched.push((
                rule.effect,
                rule.id.to_string(),
                format!(
                    "{} is {} (`{}`)",
                    self.describe(touch),
                    rule.source,
                    rule.item
                ),
            ));
        }

        if let Touch::Write(path) | Touch::WriteTree(path) = touch
            && !context.rollback_note
        {
            let tree = matches!(touch, Touch::WriteTree(_));
            for (id, glob) in &self.rollback {
                let hit = relative_segments(path, &self.root).is_some_and(|s| {
                    if tree {
                        glob.may_match_under(&s)
                    } else {
                        glob.matches(&s)
                    }
                });
                if hit {
                    matched.push((
                            Decision::Deny,
                            id.clone(),
                            format!(
                                "writing `{}` needs a rollback note on record first: run \
                                 `mandate evidence rollback --change TEXT --undo TEXT --data-risk TEXT \
                                 --trigger TEXT --owner TEXT --stop-before TEXT`, then retry",
                                self.display(path)
                            ),
                        ));
                }
            }
        }

        if let Touch::ReadMatching { dir, pattern } = touch
            && !matched.iter().any(|(d, _, _)| *d == Decision::Allow)
            && let Some(rules) = self.matching_allowed(dir, pattern, fs)
        {
            let rules = if rules.is_empty() {
                vec!["builtin.nothing-matches".to_string()]
            } else {
                rules
            };
            let reason = format!(
                "{} is allowed: the contract allows each of them",
                self.describe(touch)
            );
            for id in rules {
                matched.push((Decision::Allow, id, reason.clone()));
            }
        }

        if let Touch::Call { tool, input } = touch {
            self.registry_matches(tool, input, context, &mut matched);
            if INTERNAL_TOOLS.contains(&tool.as_str()) {
                matched.push((
                    Decision::Allow,
                    "builtin.internal-tool".to_string(),
                    format!("`{tool}` only manages the session itself"),
                ));
            }
            if tool == "Agent" || tool == "Task" {
                matched.push((
                    Decision::Allow,
                    "builtin.subagent".to_string(),
                    "a subagent's own calls are judged by the same contract".to_string(),
                ));
            }
        }

        let kind = touch.kind();
        if context.disabled.iter().any(|t| t == kind.as_str()) {
            matched.push((
                Decision::Deny,
                format!("killswitch.{kind}"),
                format!("every {kind} touch is disabled by the kill switch"),
            ));
        }

        if matched.is_empty()
            && let Touch::Execute { known: true, .. } = touch
        {
            return JudgedTouch {
                kind,
                target: touch.target(),
                decision: Decision::Allow,
                rules: vec!["builtin.known-effects".to_string()],
                reason: format!(
                    "{} is judged by what it reads, writes and sends",
                    self.describe(touch)
                ),
            };
        }
        let Some(decision) = matched.iter().map(|(d, _, _)| *d).max() else {
            let reason = match touch {
                Touch::Opaque { .. } => format!(
                    "{}, and no execute rule names this exact command",
                    self.describe(touch)
                ),
                Touch::Execute { run: Some(run), .. } => self.run_refusal(touch, run),
                _ => format!(
                    "{} is outside the contract (nothing allows it; the policy default is {})",
                    self.describe(touch),
                    self.default
                ),
            };
            return JudgedTouch {
                kind,
                target: touch.target(),
                decision: self.default,
                rules: vec!["policy.default".to_string()],
                reason,
            };
        };
        let deciding: Vec<&(Decision, String, String)> =
            matched.iter().filter(|(d, _, _)| *d == decision).collect();
        JudgedTouch {
            kind,
            target: touch.target(),
            decision,
            rules: deciding.iter().map(|(_, id, _)| id.clone()).collect(),
            reason: deciding
                .first()
                .map(|(_, _, reason)| reason.clone())
                .unwrap_or_default(),
        }
    }

    /// A write that creates or changes a path a read block covers is a write into a
    /// blocked area: programs the contract lets the agent run would read it, and the OS
    /// layer's read denials were listed before the file existed (`.env.local`, a new
    /// `secrets/` folder).
    fn read_block_matches(
        &self,
        path: &Path,
        split: &SplitPath<'_>,
        fs: &dyn Fs,
        matched: &mut Vec<(Decision, String, String)>,
    ) {
        let as_read = Touch::Read(path.to_path_buf());
        for rule in &self.rules {
            if rule.kind != Kind::Read || rule.effect < Decision::Deny || rule.cannot_match(split) {
                continue;
            }
            let Ok(matcher) = rule.matcher() else {
                continue;
            };
            if self.rule_matches(rule, matcher, &as_read, split, fs) {
                let pattern = match matcher {
                    Matcher::Path { glob, .. } => glob.as_str().to_string(),
                    _ => rule.item.to_string(),
                };
                matched.push((
                    Decision::Deny,
                    rule.id.to_string(),
                    format!(
                        "writing `{}` creates a path that a read block covers (`{pattern}`): \
                         the file would be readable to the programs the contract lets you run, \
                         since the OS layer only hides the blocked files that existed when the \
                         run started; pick a name outside the blocked areas",
                        self.display(path)
                    ),
                ));
            }
        }
    }

    /// Does an allow rule of the contract name exactly this written path, without a
    /// wildcard? Only a single-file write qualifies: a tree write (`rm -r`) never does.
    fn literal_allow(&self, touch: &Touch, split: &SplitPath<'_>, fs: &dyn Fs) -> bool {
        let Touch::Write(_) = touch else {
            return false;
        };
        self.rules.iter().any(|rule| {
            rule.kind == Kind::Write
                && rule.effect == Decision::Allow
                && matches!(&rule.id, RuleId::Listed { prefix, .. } if &**prefix == "contract.allow")
                && is_literal_pattern(&rule.item)
                && rule
                    .matcher()
                    .is_ok_and(|matcher| self.rule_matches(rule, matcher, touch, split, fs))
        })
    }

    /// An MCP call whose arguments carry what redaction takes for a secret is refused
    /// (the secret is not repeated in the reason); so is one nested too deep to look at.
    fn secret_arguments(
        &self,
        server_name: &str,
        tool_name: &str,
        input: &Value,
        matched: &mut Vec<(Decision, String, String)>,
    ) {
        let mut texts = Vec::new();
        if !argument_texts(input, &mut texts, 0) {
            matched.push((
                Decision::Deny,
                SECRET_ARGUMENT_RULE.to_string(),
                format!(
                    "the arguments of `{server_name}/{tool_name}` nest deeper than \
                     {MAX_ARGUMENT_DEPTH} levels, too deep to check what they carry"
                ),
            ));
            return;
        }
        let mut kinds: Vec<&str> = Vec::new();
        for text in texts {
            let Some(redacted) = mandate_record::redact::redact_str(text) else {
                continue;
            };
            for piece in redacted.split("[REDACTED:").skip(1) {
                let kind = piece.split(']').next().unwrap_or("secret");
                let id = mandate_record::redact::rule_ids()
                    .find(|id| *id == kind)
                    .unwrap_or("secret");
                if !kinds.contains(&id) {
                    kinds.push(id);
                }
            }
        }
        if !kinds.is_empty() {
            matched.push((
                Decision::Deny,
                SECRET_ARGUMENT_RULE.to_string(),
                format!(
                    "an argument of `{server_name}/{tool_name}` carries what looks like a \
                     secret ({}); secrets may not be sent to MCP tools",
                    kinds.join(", ")
                ),
            ));
        }
    }

    fn registry_matches(
        &self,
        tool: &str,
        input: &Value,
        context: &Context<'_>,
        matched: &mut Vec<(Decision, String, String)>,
    ) {
        let Some((server_name, tool_name)) = split_mcp_name(tool) else {
            return;
        };
        let Some(server) = self.registry.get(server_name) else {
            matched.push((
                Decision::Deny,
                "registry.unregistered".to_string(),
                format!(
                    "MCP server `{server_name}` is not in the registry (`[mcp.servers]` of \
                     mandate.toml): its owner, purpose and data are unknown, so its tools \
                     may not be called"
                ),
            ));
            return;
        };
        let disabled_by_switch = context
            .disabled
            .iter()
            .any(|t| t == server_name || *t == format!("{server_name}/{tool_name}"));
        if server.disabled || disabled_by_switch {
            matched.push((
                Decision::Deny,
                format!("registry.{server_name}.disabled"),
                format!("MCP server `{server_name}` is disabled by the kill switch"),
            ));
            return;
        }
        self.secret_arguments(server_name, tool_name, input, matched);
        let drifted = context
            .drifted
            .iter()
            .any(|t| t == server_name || *t == format!("{server_name}/{tool_name}"));
        if drifted {
            matched.push((
                Decision::Deny,
                format!("registry.{server_name}.tools.{tool_name}.drifted"),
                format!(
                    "the definition of `{server_name}/{tool_name}` changed since it was pinned \
                     (`mandate mcp verify` found the drift); it may not be called until the \
                     server's owner reviews it and runs `mandate mcp pin {server_name}`"
                ),
            ));
        }
        let Some(spec) = server.tools.get(tool_name) else {
            matched.push((
                Decision::Deny,
                format!("registry.{server_name}.unlisted"),
                format!(
                    "tool `{tool_name}` of MCP server `{server_name}` is not listed in the \
                     registry, so whether it reads or acts is unknown"
                ),
            ));
            return;
        };
        if spec.disabled() {
            matched.push((
                Decision::Deny,
                format!("registry.{server_name}.tools.{tool_name}.disabled"),
                format!("tool `{server_name}/{tool_name}` is disabled in the registry"),
            ));
        }
        if let Some(constraints) = spec.args() {
            for (arg, allowed) in constraints {
                // The whole value, as sent: a string, or a number or boolean as JSON
                // writes it; never a list or an object, never trimmed.
                let value = input.get(arg).and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
                    _ => None,
                });
                let ok = value.as_deref().is_some_and(|value| {
                    allowed
                        .iter()
                        .any(|pattern| argument_value_matches(pattern, value))
                });
                if !ok {
                    matched.push((
                        Decision::Deny,
                        format!("registry.{server_name}.tools.{tool_name}.args.{arg}"),
                        format!(
                            "argument `{arg}` of `{server_name}/{tool_name}` must be, as a \
                             whole, {} (registry constraint; `*` stands for letters, digits, \
                             `-`, `_` and `.` only, `#` for digits)",
                            allowed
                                .iter()
                                .map(|a| format!("`{a}`"))
                                .collect::<Vec<_>>()
                                .join(" or ")
                        ),
                    ));
                }
            }
        }
        if spec.class() == ToolClass::Write {
            match &server.approval {
                Some(group) => matched.push((
                    Decision::Ask,
                    format!("registry.{server_name}.tools.{tool_name}"),
                    format!(
                        "`{server_name}/{tool_name}` is a write-class MCP tool; the `{group}` \
                         reviewers approve its calls"
                    ),
                )),
                None => matched.push((
                    Decision::Deny,
                    format!("registry.{server_name}.tools.{tool_name}"),
                    format!(
                        "`{server_name}/{tool_name}` is a write-class MCP tool and the \
                         registry names no approval group for `{server_name}`"
                    ),
                )),
            }
        }
    }

    fn rule_matches(
        &self,
        rule: &Rule,
        matcher: &Matcher,
        touch: &Touch,
        split: &SplitPath<'_>,
        fs: &dyn Fs,
    ) -> bool {
        match (matcher, touch) {
            (Matcher::Path { glob, anchor }, Touch::Read(path) | Touch::Write(path)) => {
                let Some(segs) = split.get(anchor) else {
                    return false;
                };
                let wild = segs.iter().any(|s| has_glob_chars(s));
                if !wild {
                    return glob.matches(segs);
                }
                if rule.effect == Decision::Allow {
                    // Allowed only if the pattern text and everything it names now match.
                    glob.matches(segs)
                        && fs.expand(path).is_some_and(|paths| {
                            paths
                                .iter()
                                .all(|p| self.anchored(anchor, p).is_some_and(|s| glob.matches(&s)))
                        })
                } else {
                    glob.overlaps(segs)
                }
            }
            (Matcher::Path { glob, anchor }, Touch::ReadHistory { path, top }) => {
                let Some(segs) = split.get(anchor) else {
                    return rule.effect != Decision::Allow
                        && self.history_may_hold(rule, top, path, fs);
                };
                if rule.effect == Decision::Allow {
                    glob.covers_tree(segs)
                } else {
                    glob.may_match_under(segs) && self.history_may_hold(rule, top, path, fs)
                }
            }
            (Matcher::Path { glob, anchor }, Touch::ReadTree(dir) | Touch::WriteTree(dir)) => {
                let Some(segs) = split.get(anchor) else {
                    // The folder is above the anchor: a relative glob may match inside it.
                    return rule.effect != Decision::Allow && self.tree_may_hold(rule, dir, fs);
                };
                if rule.effect == Decision::Allow {
                    glob.covers_tree(segs)
                } else {
                    glob.may_match_under(segs) && self.tree_may_hold(rule, dir, fs)
                }
            }
            (Matcher::Path { glob, anchor }, Touch::ReadMatching { dir, pattern }) => {
                let segs = split.get(anchor);
                if rule.effect == Decision::Allow {
                    // One rule covering the whole folder; otherwise the rules together
                    // are asked file by file after the loop (`matching_allowed`).
                    return segs.is_some_and(|segs| glob.covers_tree(segs));
                }
                segs.is_none_or(|segs| glob.may_match_under(segs))
                    && self.matching_may_hold(rule, dir, pattern, fs)
            }
            (Matcher::Text(_), Touch::Execute { run: Some(_), .. })
                if rule.effect == Decision::Allow =>
            {
                // A tool with a spec is admitted only by a rule read as that tool's
                // command (`Matcher::Program`), never by how its text begins.
                false
            }
            (Matcher::Program { rule: program, .. }, Touch::Execute { run: Some(run), .. })
                if rule.effect == Decision::Allow =>
            {
                // Only whether: why not is written out for the deny reason alone.
                program.refusal(run, &self.root).is_none()
            }
            (
                Matcher::Program {
                    rule: program,
                    text,
                },
                Touch::Execute { line, run, .. },
            ) => {
                rule.effect != Decision::Allow
                    && (text.matches(line)
                        || run
                            .as_ref()
                            .is_some_and(|run| program.names_part_of(run, &self.root)))
            }
            (Matcher::Program { text: pattern, .. }, Touch::Opaque { text, line, .. }) => {
                if rule.effect == Decision::Allow {
                    pattern.is_exact() && (pattern.matches(line) || pattern.matches(text))
                } else {
                    pattern.matches(line) || pattern.matches(text)
                }
            }
            (Matcher::Text(pattern), Touch::Execute { line, .. }) => {
                // A `*` must not carry the command out of the folder the rule names:
                // `node scripts/*` does not allow `node scripts/../../tmp/evil.js`.
                if rule.effect == Decision::Allow
                    && climbs_out(line)
                    && !pattern.as_str().contains("..")
                {
                    return false;
                }
                pattern.matches(line)
            }
            (Matcher::Text(pattern), Touch::Opaque { text, line, .. }) => {
                if rule.effect == Decision::Allow {
                    // Only an exact command can vouch for a part nobody can analyse.
                    pattern.is_exact() && (pattern.matches(line) || pattern.matches(text))
                } else {
                    pattern.matches(line) || pattern.matches(text)
                }
            }
            (Matcher::MandateVerb(verbs), Touch::Execute { program, args, .. }) => {
                is_mandate(program) && first_verb(args).is_some_and(|verb| verbs.contains(&verb))
            }
            (Matcher::Text(pattern), Touch::Call { tool, .. }) => pattern.matches(tool),
            (Matcher::Text(pattern), Touch::Expose(target)) => pattern.matches(target),
            _ => false,
        }
    }

    /// Could the files under `dir` matching `pattern` include a path this rule matches?
    /// Asks the file system; a path the walk reaches outside `dir` (through a link) counts
    /// as matching the pattern.
    fn matching_may_hold(&self, rule: &Rule, dir: &Path, pattern: &str, fs: &dyn Fs) -> bool {
        let (Ok(Matcher::Path { glob, anchor }), Ok(filter)) =
            (rule.matcher(), PathGlob::new(pattern))
        else {
            return true;
        };
        let test = |path: &Path| {
            matches_below(&filter, dir, path)
                && self
                    .anchored(anchor, path)
                    .is_some_and(|segs| glob.matches(&segs))
        };
        fs.tree_has(dir, &test).unwrap_or(true)
    }

    /// Do the read allow rules together cover every file under `dir` that matches
    /// `pattern`? The ids of the rules that cover some of them, or `None` when one is
    /// left uncovered or the folder is too large to walk. A folder inside the repository
    /// with no such file is covered: listing nothing reveals nothing.
    fn matching_allowed(&self, dir: &Path, pattern: &str, fs: &dyn Fs) -> Option<Vec<String>> {
        let filter = PathGlob::new(pattern).ok()?;
        let used = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let uncovered = |path: &Path| {
            if !matches_below(&filter, dir, path) {
                return false;
            }
            let touch = Touch::Read(path.to_path_buf());
            let split = SplitPath::new(self, &touch);
            for rule in &self.rules {
                if rule.kind != Kind::Read || rule.effect != Decision::Allow {
                    continue;
                }
                if let Ok(matcher) = rule.matcher()
                    && self.rule_matches(rule, matcher, &touch, &split, fs)
                {
                    used.borrow_mut().insert(rule.id.to_string());
                    return false;
                }
            }
            true
        };
        if fs.tree_has(dir, &uncovered)? {
            return None;
        }
        let used: Vec<String> = used.into_inner().into_iter().collect();
        if used.is_empty() && relative_segments(dir, &self.root).is_none() {
            return None;
        }
        Some(used)
    }

    /// Could the tree at `dir` hold a path this rule matches? Asks the file system.
    fn tree_may_hold(&self, rule: &Rule, dir: &Path, fs: &dyn Fs) -> bool {
        let Ok(Matcher::Path { glob, anchor }) = rule.matcher() else {
            return true;
        };
        let test = |path: &Path| {
            self.anchored(anchor, path)
                .is_some_and(|segs| glob.matches(&segs))
        };
        fs.tree_has(dir, &test).unwrap_or(true)
    }

    /// Could git hold, under `path`, a file this rule matches? Asks git through the file
    /// system; unknown is yes.
    fn history_may_hold(&self, rule: &Rule, top: &Path, path: &Path, fs: &dyn Fs) -> bool {
        let Ok(Matcher::Path { glob, anchor }) = rule.matcher() else {
            return true;
        };
        let test = |found: &Path| {
            self.anchored(anchor, found)
                .is_some_and(|segs| glob.matches(&segs))
        };
        fs.history_has(top, path, &test).unwrap_or(true)
    }

    fn anchored<'p>(&self, anchor: &Anchor, path: &'p Path) -> Option<Vec<&'p str>> {
        match anchor {
            Anchor::Root => relative_segments(path, &self.root),
            Anchor::Absolute => Some(segments(path)),
            Anchor::Home => relative_segments(path, self.home.as_deref()?),
        }
    }

    fn rule_reason(&self, rule: &Rule, touch: &Touch) -> String {
        let pattern = match rule.matcher() {
            Ok(Matcher::Path { glob, .. }) => glob.as_str().to_string(),
            Ok(Matcher::Text(pattern)) => pattern.as_str().to_string(),
            Ok(Matcher::MandateVerb(_)) => "mandate's authority verbs".to_string(),
            Ok(Matcher::Program { text, .. }) => text.as_str().to_string(),
            Err(_) => rule.item.to_string(),
        };
        let what = self.describe(touch);
        if rule.id.is_builtin() {
            return format!("{what} is {}", rule.source);
        }
        match (&rule.why, rule.effect) {
            (Some(why), Decision::Stop) => {
                format!("{what} meets a stop condition of the contract: {why} (`{pattern}`)")
            }
            (Some(why), _) => format!("{what} needs approval: {why} (`{pattern}`)"),
            (None, _) => format!("{what} is {} (`{pattern}`)", rule.source),
        }
    }

    fn describe(&self, touch: &Touch) -> String {
        match touch {
            Touch::Read(path) => format!("reading `{}`", self.display(path)),
            Touch::ReadTree(path) => format!("searching `{}`", self.display(path)),
            Touch::ReadMatching { dir, pattern } => format!(
                "reading the files matching `{pattern}` under `{}`",
                self.display(dir)
            ),
            Touch::ReadHistory { path, .. } => format!(
                "showing what git holds under `{}` (its history: every commit, the index and \
                 stashes, including files deleted since)",
                self.display(path)
            ),
            Touch::WriteTree(path) => format!("writing under `{}`", self.display(path)),
            Touch::Write(path) => format!("writing `{}`", self.display(path)),
            Touch::Execute { line, .. } => format!("running `{line}`"),
            Touch::Opaque { text, why, .. } => {
                format!("`{text}` cannot be analysed ({why})")
            }
            Touch::Call { tool, .. } => format!("calling `{tool}`"),
            Touch::Expose(target) if target == "websearch" => {
                "a web search (the query leaves the machine)".to_string()
            }
            Touch::Expose(target) => format!("sending data to `{target}`"),
            Touch::Link { link, why } => {
                format!("making `{}` a link is refused: {why}", self.display(link))
            }
        }
    }

    /// Why no execute rule admits a run of a tool with a spec: the mismatch with the
    /// contract's rules for that tool, or that it names none.
    fn run_refusal(&self, touch: &Touch, run: &ToolRun) -> String {
        let mut rules = self.rules.iter().filter(|r| {
            r.kind == Kind::Execute && r.effect == Decision::Allow && !r.id.is_builtin()
        });
        let mismatch = rules.find_map(|r| match r.matcher() {
            Ok(Matcher::Program { rule, text }) if rule.tool == run.tool => {
                rule.admits(run, &self.root).err().map(|why| {
                    format!(
                        "the execute rule `{}` does not admit it: {why}",
                        text.as_str()
                    )
                })
            }
            _ => None,
        });
        match mismatch {
            Some(why) => format!(
                "{} is outside the contract: {why} (the policy default is {})",
                self.describe(touch),
                self.default
            ),
            None => format!(
                "{} is outside the contract: no execute rule names `{}` (the policy default \
                 is {})",
                self.describe(touch),
                run.tool,
                self.default
            ),
        }
    }

    /// A path relative to the repository when it is inside it.
    fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(rest) if rest.as_os_str().is_empty() => ".".to_string(),
            Ok(rest) => rest.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }

    /// The evidence the contract requires before the run may finish.
    pub fn required_evidence(&self) -> Vec<EvidenceKind> {
        self.contract
            .as_ref()
            .map(|c| c.evidence.require.clone())
            .unwrap_or_default()
    }

    /// Does this command line match one of the contract's test commands?
    /// How a line runs the contract's test command, if it does: alone (the one command
    /// of the line, so its output and exit status are the runner's), or with other
    /// commands that could print a summary of their own or change the exit status.
    pub fn test_invocation(&self, line: &str) -> Option<TestInvocation> {
        let contract = self.contract.as_ref()?;
        let analysis = mandate_shell::analyze(line);
        let test = analysis.commands.iter().find(|command| {
            let line = command.line();
            looks_like_test_runner(&command.program)
                && contract
                    .allow
                    .execute
                    .iter()
                    .any(|p| CommandPattern::new(p).is_ok_and(|p| p.matches(&line)))
        })?;
        if analysis.commands.len() == 1 && analysis.opaque.is_empty() {
            Some(TestInvocation::Alone {
                program: test.program.clone(),
                args: test.args.clone(),
            })
        } else {
            Some(TestInvocation::Accompanied {
                program: test.program.clone(),
            })
        }
    }

    pub fn is_test_command(&self, line: &str) -> bool {
        let Some(contract) = &self.contract else {
            return false;
        };
        let analysis = mandate_shell::analyze(line);
        analysis.commands.iter().any(|command| {
            let line = command.line();
            looks_like_test_runner(&command.program)
                && contract.allow.execute.iter().any(|p| {
                    match (&command.invocation, mandate_shell::rule_shape(p)) {
                        (Some(invocation), Some(shape)) => shape.tool == invocation.tool,
                        _ => CommandPattern::new(p).is_ok_and(|p| p.matches(&line)),
                    }
                })
        })
    }
}

/// A touched path split into segments under each anchor a rule may use.
struct SplitPath<'p> {
    root: Option<Vec<&'p str>>,
    absolute: Option<Vec<&'p str>>,
    home: Option<Vec<&'p str>>,
}

impl<'p> SplitPath<'p> {
    fn new(engine: &Engine, touch: &'p Touch) -> SplitPath<'p> {
        let path = match touch {
            Touch::Read(path)
            | Touch::Write(path)
            | Touch::ReadTree(path)
            | Touch::ReadMatching { dir: path, .. }
            | Touch::ReadHistory { path, .. }
            | Touch::WriteTree(path) => Some(path),
            _ => None,
        };
        SplitPath {
            root: path.and_then(|p| engine.anchored(&Anchor::Root, p)),
            absolute: path.map(|p| segments(p)),
            home: path.and_then(|p| engine.anchored(&Anchor::Home, p)),
        }
    }

    /// The first segment below the repository root, when it is plain text (no shell
    /// wildcard): what [`Rule::cannot_match`] compares a rule's plain head with.
    fn plain_first(&self) -> Option<&'p str> {
        let first = *self.root.as_ref()?.first()?;
        (!has_glob_chars(first)).then_some(first)
    }

    fn get(&self, anchor: &Anchor) -> Option<&[&'p str]> {
        match anchor {
            Anchor::Root => self.root.as_deref(),
            Anchor::Absolute => self.absolute.as_deref(),
            Anchor::Home => self.home.as_deref(),
        }
    }
}

fn looks_like_test_runner(program: &str) -> bool {
    let base = program.rsplit('/').next().unwrap_or(program);
    matches!(
        base,
        "pytest"
            | "cargo"
            | "go"
            | "jest"
            | "vitest"
            | "npm"
            | "npx"
            | "yarn"
            | "pnpm"
            | "make"
            | "tox"
            | "nox"
            | "python"
            | "python3"
            | "mvn"
            | "gradle"
            | "rspec"
            | "phpunit"
    )
}

/// Does a word of the command line hold a `..` path segment?
fn climbs_out(line: &str) -> bool {
    line.split_whitespace().any(|word| {
        word.trim_matches(|c| c == '\'' || c == '"')
            .split(['/', '='])
            .any(|segment| segment == "..")
    })
}

fn is_mandate(program: &str) -> bool {
    program.rsplit('/').next() == Some("mandate")
}

fn first_verb(args: &[String]) -> Option<&str> {
    args.iter()
        .map(String::as_str)
        .find(|a| !a.starts_with('-'))
}

/// `mcp__server__tool` into its parts.
pub fn split_mcp_name(tool: &str) -> Option<(&str, &str)> {
    let rest = tool.strip_prefix("mcp__")?;
    let (server, tool) = rest.split_once("__")?;
    if server.is_empty() || tool.is_empty() {
        return None;
    }
    Some((server, tool))
}

fn has_glob_chars(segment: &str) -> bool {
    segment.contains(['*', '?', '['])
}

/// How many rules `sources` make (built-ins counted generously), so the vector holding
/// them is allocated once: growing it by doubling touched twice the memory, page by page.
fn rule_count(sources: &Sources<'_>) -> usize {
    let lists = |lists: [(Kind, &[String]); 5]| lists.iter().map(|(_, l)| l.len()).sum::<usize>();
    // Built-ins: 22 protected paths (with the agents' configurations), the protected
    // names, the settings pattern and two verb rules. Counting 16 was 9 short, and the
    // vector doubled (a copy of every rule) near the end of a 536-rule policy.
    let mut count = 32 + PROTECTED_NAMES.len() + sources.protected.len();
    count += lists(sources.repo.1.block.by_kind());
    if let Some((_, org)) = sources.org {
        count += lists(org.block.by_kind());
    }
    if let Some((_, contract)) = sources.contract {
        count += lists(contract.block.by_kind()) + lists(contract.allow.by_kind());
        count += contract
            .stop
            .iter()
            .map(|r| lists(r.by_kind()))
            .sum::<usize>();
        count += contract
            .approval
            .iter()
            .map(|r| lists(r.by_kind()))
            .sum::<usize>();
    }
    count
}

#[allow(clippy::too_many_arguments)]
fn add_lists(
    rules: &mut Vec<Rule>,
    eager: bool,
    file: &Path,
    prefix: &str,
    lists: [(Kind, &[String]); 5],
    effect: Decision,
    source: &'static str,
    why: Option<&str>,
    group: Option<&str>,
) -> Result<(), FormatError> {
    let prefix: Arc<str> = Arc::from(prefix);
    let why: Option<Arc<str>> = why.map(Arc::from);
    let group: Option<Arc<str>> = group.map(Arc::from);
    for (kind, items) in lists {
        if items.is_empty() {
            continue;
        }
        let text: Arc<str> = Arc::from(items.concat());
        let mut start = 0;
        for (index, item) in items.iter().enumerate() {
            let end = start + item.len();
            let shared = Item {
                text: text.clone(),
                start,
                end,
            };
            start = end;
            let id = RuleId::Listed {
                prefix: prefix.clone(),
                kind,
                index,
            };
            let matcher = OnceLock::new();
            if eager {
                let compiled = compile_matcher(kind, item)
                    .map_err(|message| FormatError::new(file, Some(id.to_string()), message))?;
                let _ = matcher.set(Ok(Box::new(compiled)));
            }
            rules.push(Rule {
                id,
                kind,
                effect,
                item: shared,
                matcher,
                source,
                why: why.clone(),
                group: group.clone(),
                head: OnceLock::new(),
                builtin_glob: None,
            });
        }
    }
    Ok(())
}

fn compile_matcher(kind: Kind, item: &str) -> Result<Matcher, String> {
    match kind {
        Kind::Read | Kind::Write => {
            let (anchor, rest) = if let Some(rest) = item.strip_prefix("~/") {
                (Anchor::Home, rest)
            } else if item.starts_with('/') {
                (Anchor::Absolute, item)
            } else {
                (Anchor::Root, item)
            };
            if rest.split('/').any(|s| s == "..") {
                return Err(format!(
                    "`{item}` uses `..`; write the path it means instead"
                ));
            }
            Ok(Matcher::Path {
                glob: PathGlob::new(rest)?,
                anchor,
            })
        }
        Kind::Execute => match mandate_shell::rule_shape(item) {
            Some(shape) => Ok(Matcher::Program {
                rule: ProgramRule::compile(shape)?,
                text: CommandPattern::new(item)?,
            }),
            None => Ok(Matcher::Text(CommandPattern::new(item)?)),
        },
        Kind::Call | Kind::Expose => Ok(Matcher::Text(CommandPattern::new(item)?)),
    }
}

/// Names protected at any depth of the repository: files an agent reads as instructions or
/// configuration, git's own files (hooks, config, a `.git` that points elsewhere), and files
/// other tools run commands from later (editor tasks, direnv, pre-commit, husky). A write to
/// one is refused unless an allow rule of the contract names that exact path without a
/// wildcard ([`Engine::literal_allow`]); a `**` written for ordinary code does not count.
pub const PROTECTED_NAMES: &[&str] = &[
    "CLAUDE.md",
    "CLAUDE.local.md",
    "AGENTS.md",
    "GEMINI.md",
    ".claude/**",
    ".mcp.json",
    ".cursor/**",
    ".github/copilot-instructions.md",
    ".github/hooks/**",
    ".codex/**",
    ".gemini/**",
    ".git/**",
    ".gitmodules",
    ".envrc",
    ".vscode/**",
    ".devcontainer/**",
    ".pre-commit-config.yaml",
    ".husky/**",
];

/// The id of the rules built from [`PROTECTED_NAMES`].
pub const PROTECTED_NAME_RULE: &str = "builtin.protected-name";

/// Does an allow rule's pattern name one path, with no wildcard or alternative?
pub fn is_literal_pattern(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '[', '{'])
}

/// Allow-write patterns of a contract that reach for a protected name with a wildcard
/// (`billing/**/CLAUDE.md`, `**/.claude/**`): each with the protected name it mentions.
/// Such a pattern does not lift the protection; `mandate check` says so.
pub fn protected_names_by_glob(contract: &Contract) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    for pattern in &contract.allow.write {
        if is_literal_pattern(pattern) {
            continue;
        }
        let segments: Vec<&str> = pattern.split('/').collect();
        for name in PROTECTED_NAMES {
            let first = name.split('/').next().unwrap_or(name);
            if segments.contains(&first) {
                found.push((pattern.clone(), *name));
                break;
            }
        }
    }
    found
}

/// Rules every engine has: the agent can never widen its own box.
///
/// Their globs are compiled when a write first asks (a Bash call that writes nothing
/// never needs them: compiling and formatting them was a twentieth of a 536-rule call),
/// but only when the text shows the glob surely compiles
/// ([`PathGlob::surely_compiles`]); any other is compiled here, and its error is the
/// engine's, as before.
fn builtin_rules(
    sources: &Sources<'_>,
    eager: bool,
    rules: &mut Vec<Rule>,
) -> Result<(), FormatError> {
    let root = sources.root;
    let mut protected: Vec<PathBuf> = vec![
        root.join("mandate.toml"),
        root.join(".mandate"),
        root.join(".mcp.json"),
        root.join(".claude/settings.json"),
        root.join(".claude/settings.local.json"),
        PathBuf::from("/etc/mandate"),
        PathBuf::from("/etc/claude-code"),
    ];
    // The other agents' hooks, trust and backstops (`mandate install --agent`).
    for agent_config in [
        ".codex",
        ".gemini",
        ".cursor",
        ".github/hooks",
        ".github/copilot",
    ] {
        protected.push(root.join(agent_config));
    }
    protected.push(PathBuf::from("/etc/codex"));
    protected.push(PathBuf::from("/etc/gemini-cli"));
    if let Some(home) = sources.home {
        protected.push(home.join(".claude/settings.json"));
        protected.push(home.join(".claude/settings.local.json"));
        protected.push(home.join(".claude.json"));
        protected.push(home.join(".config/mandate"));
        for agent_config in [".codex", ".gemini", ".copilot", ".cursor"] {
            protected.push(home.join(agent_config));
        }
    }
    protected.extend(sources.protected.iter().cloned());
    let path_rule = |id: &'static str,
                     item: &str,
                     source: String,
                     anchor: Anchor,
                     why: &'static str|
     -> Result<Rule, String> {
        let (matcher, builtin_glob) = if !eager && PathGlob::surely_compiles(&source) {
            (OnceLock::new(), Some(Box::new((source.into(), anchor))))
        } else {
            let glob = PathGlob::new(&source)?;
            (Rule::compiled(Matcher::Path { glob, anchor }), None)
        };
        Ok(Rule {
            id: RuleId::Fixed(id),
            kind: Kind::Write,
            effect: Decision::Deny,
            item: item.into(),
            matcher,
            source: why,
            why: None,
            group: None,
            head: OnceLock::from(0),
            builtin_glob,
        })
    };
    for path in protected {
        // `{path}/**`, without the formatter for a UTF-8 path.
        let source = match path.to_str() {
            Some(text) => [text, "/**"].concat(),
            None => format!("{}/**", path.display()),
        };
        let rule = path_rule(
            "builtin.self-protection",
            "",
            source,
            Anchor::Absolute,
            "protected: the agent may not change its own policy, contracts, Claude Code \
             settings or records",
        )
        .map_err(|message| {
            FormatError::new(sources.repo.0, Some("records.dir".to_string()), message)
        })?;
        rules.push(rule);
    }
    for name in PROTECTED_NAMES {
        let rule = path_rule(
            PROTECTED_NAME_RULE,
            name,
            ["**/", name].concat(),
            Anchor::Root,
            "protected at any depth: agent configuration, git's own files and files \
             that run commands later (a hook, an editor task, an environment \
             loader); writing one needs an allow rule that names this exact path",
        )
        .map_err(|message| {
            FormatError::new(
                sources.repo.0,
                None,
                format!("built-in `{name}`: {message}"),
            )
        })?;
        rules.push(rule);
    }
    // Claude Code's settings files by pattern too (settings.*.json variants).
    let settings = match root.to_str() {
        Some(text) => [text, "/.claude/settings*.json"].concat(),
        None => format!("{}/.claude/settings*.json", root.display()),
    };
    if let Ok(rule) = path_rule(
        "builtin.self-protection",
        "",
        settings,
        Anchor::Absolute,
        "protected: the agent may not change Claude Code's settings",
    ) {
        rules.push(rule);
    }
    rules.push(Rule {
        id: RuleId::Fixed("builtin.self-protection.verbs"),
        kind: Kind::Execute,
        effect: Decision::Deny,
        item: "".into(),
        matcher: Rule::compiled(Matcher::MandateVerb(AUTHORITY_VERBS)),
        source: "one of mandate's authority verbs, which only people may run",
        why: None,
        group: None,
        head: OnceLock::from(0),
        builtin_glob: None,
    });
    rules.push(Rule {
        id: RuleId::Fixed("builtin.evidence"),
        kind: Kind::Execute,
        effect: Decision::Allow,
        item: "".into(),
        matcher: Rule::compiled(Matcher::MandateVerb(&["evidence"])),
        source: "how the agent records its evidence",
        why: None,
        group: None,
        head: OnceLock::from(0),
        builtin_glob: None,
    });
    Ok(())
}

/// Does `path`, below `dir`, match `filter`? A path outside `dir` (where a link in it
/// leads) is taken to match: what it is called there says nothing.
fn matches_below(filter: &PathGlob, dir: &Path, path: &Path) -> bool {
    match relative_segments(path, dir) {
        Some(segs) => filter.matches(&segs),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use serde_json::json;

    /// A file system in which every folder holds every name and every pattern names a
    /// file: the tree and history checks of block rules all run to the glob.
    struct FullFs;

    impl Fs for FullFs {
        fn read_link(&self, _path: &Path) -> Option<PathBuf> {
            None
        }
        fn is_dir(&self, _path: &Path) -> bool {
            true
        }
        fn expand(&self, pattern: &Path) -> Option<Vec<PathBuf>> {
            Some(vec![pattern.to_path_buf()])
        }
        fn tree_has(&self, dir: &Path, test: &dyn Fn(&Path) -> bool) -> Option<bool> {
            // The folder itself and a few names under it that block rules are made of.
            let names = [
                ".env",
                "secrets/x",
                "id_rsa.pem",
                "prod-1/a",
                "credentials.json",
            ];
            Some(test(dir) || names.iter().any(|name| test(&dir.join(name))))
        }
        fn links_under(&self, _dir: &Path) -> Option<Vec<PathBuf>> {
            Some(Vec::new())
        }
    }

    fn engines(policy: &str, contract: Option<&str>) -> (Engine, Engine) {
        let root = Path::new("/repo");
        let policy_path = root.join("mandate.toml");
        let contract_path = root.join(".mandate/contracts/c.toml");
        let policy = crate::parse_policy(&policy_path, policy).unwrap();
        let contract = contract.map(|text| crate::parse_contract(&contract_path, text).unwrap());
        let build = || {
            Engine::new_lazy(&Sources {
                org: None,
                repo: (&policy_path, &policy),
                contract: contract.as_ref().map(|c| (contract_path.as_path(), c)),
                root,
                home: Some(Path::new("/home/dev")),
                protected: &[],
            })
            .unwrap()
        };
        let mut reference = build();
        for rule in &mut reference.rules {
            rule.head = OnceLock::from(0);
        }
        (build(), reference)
    }

    /// Both engines give the same whole verdict on every call: the corpus commands
    /// (marked `true`) once, where trees hold everything; the file calls under each file
    /// system.
    fn same_verdicts(
        engine: &Engine,
        reference: &Engine,
        calls: &[(&str, serde_json::Value, &str, bool)],
    ) {
        for (index, fs) in [&FullFs as &dyn Fs, &CleanFs, &NoFs]
            .into_iter()
            .enumerate()
        {
            for (tool, input, cwd, _) in calls.iter().filter(|c| index == 0 || !c.3) {
                let call = Call {
                    tool,
                    input,
                    cwd: Path::new(cwd),
                };
                let got = engine.judge(&call, &Context::default(), fs);
                let want = reference.judge(&call, &Context::default(), fs);
                assert_eq!(
                    serde_json::to_value(&got).unwrap(),
                    serde_json::to_value(&want).unwrap(),
                    "{tool} {input}"
                );
            }
        }
    }

    /// Calls over many first folders, spelled every way a tool spells them; the corpus
    /// commands (`Bash` from `billing/export`) are marked `true`.
    fn calls() -> Vec<(&'static str, serde_json::Value, &'static str, bool)> {
        let tree = include_str!("../tests/corpus/tree.txt");
        let mut paths: Vec<String> = tree
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        for extra in [
            ".",
            "billing",
            "billing/export/filter.py",
            "services/svc003/src/a.py",
            "services/svc003/fixtures/prod-1/x.json",
            "vault/svc001/key",
            "infra/svc002/main.tf",
            "customer_data/eu.csv",
            "libs/lib38/x/y.py",
            "bil*/export/x.py",
            "*/x",
            "docs/billing/readme.md",
            "/etc/passwd",
            "/repo/../etc/hosts",
            "~/.ssh/id_rsa",
            ".github/workflows/ci.yml",
            "billing/.env",
        ] {
            paths.push(extra.to_string());
        }
        let mut calls = Vec::new();
        for path in &paths {
            calls.push(("Read", json!({ "file_path": path }), "/repo", false));
            let write = json!({ "file_path": path, "content": "x" });
            calls.push(("Write", write, "/repo", false));
            let search = json!({ "pattern": "x", "path": path });
            calls.push(("Grep", search, "/repo", false));
            let matching = json!({ "pattern": "x", "path": path, "glob": "*.py" });
            calls.push(("Grep", matching, "/repo", false));
            let listing = json!({ "pattern": "**/*.env", "path": path });
            calls.push(("Glob", listing, "/repo", false));
            let remove = json!({ "command": format!("rm -r {path}") });
            calls.push(("Bash", remove, "/repo", false));
            let show = json!({ "command": format!("git show HEAD:{path}") });
            calls.push(("Bash", show, "/repo/billing", false));
            let search = json!({ "command": format!("grep -r x {path} > out.txt") });
            calls.push(("Bash", search, "/repo/billing/export", false));
        }
        for file in [
            "billing",
            "billing-git",
            "billing-programs",
            "billing-protected",
            "webapp",
        ] {
            let text = std::fs::read_to_string(format!(
                "{}/tests/corpus/{file}.toml",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let value: toml::Value = toml::from_str(&text).unwrap();
            for case in value["case"].as_array().unwrap() {
                let command = case["command"].as_str().unwrap();
                let input = json!({ "command": command });
                calls.push(("Bash", input, "/repo/billing/export", true));
            }
        }
        calls
    }

    /// Skipping rules by their plain first segment changes no verdict: the hook's engine
    /// judges every call as one that tries every rule, on the billing, corpus and
    /// 536-rule policies, whatever the file system holds.
    /// The path a rule sees, cut from the bytes, is what the component-wise cut gives,
    /// over paths spelled every way a path can be.
    #[test]
    fn repository_paths_cut_from_the_bytes_agree_with_strip_prefix() {
        use std::os::unix::ffi::OsStrExt;
        fn reference(path: &Path, root: &Path) -> String {
            match path.strip_prefix(root) {
                Ok(rest) if rest.as_os_str().is_empty() => ".".to_string(),
                Ok(rest) => rest.display().to_string(),
                Err(_) => path.display().to_string(),
            }
        }
        let parts = ["", "/", "//", "a", "b", ".", "..", "ab", ".a", "\u{e9}"];
        let mut paths: Vec<Vec<u8>> = vec![b"/r/\xff/x".to_vec(), b"/r/a/\xfe".to_vec()];
        for one in parts {
            for two in parts {
                for three in parts {
                    paths.push(format!("/r{one}/{two}{three}").into_bytes());
                    paths.push(format!("/r/{one}{two}/{three}").into_bytes());
                    paths.push(format!("{one}/{two}/{three}").into_bytes());
                }
            }
        }
        let roots: Vec<&[u8]> = vec![b"/", b"/r", b"/r/", b"/r/a", b"/r//a", b"/r/.", b"r"];
        for path in &paths {
            let path = Path::new(std::ffi::OsStr::from_bytes(path));
            for root in &roots {
                let root = Path::new(std::ffi::OsStr::from_bytes(root));
                assert_eq!(
                    repository_path(path, root),
                    reference(path, root),
                    "{path:?} under {root:?}"
                );
            }
        }
    }

    #[test]
    fn rules_skipped_by_their_first_segment_change_no_verdict() {
        let sets = [
            (
                include_str!("../../../examples/billing/mandate.toml"),
                Some(include_str!(
                    "../../../examples/billing/.mandate/contracts/BILL-142.toml"
                )),
            ),
            (
                include_str!("../../../bench/fixtures/rules-500/mandate.toml"),
                Some(include_str!(
                    "../../../bench/fixtures/rules-500/BILL-500.toml"
                )),
            ),
            (
                include_str!("../tests/corpus/contracts/policy.toml"),
                Some(include_str!("../tests/corpus/contracts/webapp.toml")),
            ),
            (include_str!("../tests/corpus/contracts/policy.toml"), None),
        ];
        let calls = calls();
        let mut skipped_some = false;
        for (policy, contract) in sets {
            let (engine, reference) = engines(policy, contract);
            skipped_some |= engine
                .rules
                .iter()
                .any(|r| plain_head_len(r.kind, &r.item) > 0);
            same_verdicts(&engine, &reference, &calls);
        }
        assert!(skipped_some);
    }

    /// The built-in rules compiled when a write first asks judge every call as the
    /// built-ins compiled with the engine: the lazy engine against the eager one (which
    /// also tries every rule), over the policies and the calls above plus writes of
    /// every protected path and name, with protected paths of the caller's.
    #[test]
    fn builtin_rules_compiled_on_first_use_change_no_verdict() {
        let sets = [
            (
                include_str!("../../../examples/billing/mandate.toml"),
                Some(include_str!(
                    "../../../examples/billing/.mandate/contracts/BILL-142.toml"
                )),
            ),
            (
                include_str!("../../../bench/fixtures/rules-500/mandate.toml"),
                Some(include_str!(
                    "../../../bench/fixtures/rules-500/BILL-500.toml"
                )),
            ),
            (include_str!("../tests/corpus/contracts/policy.toml"), None),
        ];
        let mut calls = calls();
        for path in [
            "/repo/mandate.toml",
            "/repo/.mandate/contracts/c.toml",
            "/repo/.mcp.json",
            "/repo/.claude/settings.json",
            "/repo/.claude/settings.local.json",
            "/repo/.claude/settings.x.json",
            "/repo/.codex/config.toml",
            "/repo/.github/hooks/pre.json",
            "/home/dev/.claude/settings.json",
            "/home/dev/.claude.json",
            "/home/dev/.config/mandate/x",
            "/home/dev/.local/share/mandate/runs/x",
            "/home/dev/.cache/mandate/parsed/x",
            "/etc/mandate/policy.toml",
            "/etc/codex/x",
            "billing/export/CLAUDE.md",
            "billing/export/.claude/settings.json",
            "billing/export/.git/hooks/pre-commit",
            "billing/export/.envrc",
            "billing/.husky/pre-commit",
        ] {
            let write = json!({ "file_path": path, "content": "x" });
            calls.push(("Write", write, "/repo", false));
            let bash = json!({ "command": format!("echo x > {path}") });
            calls.push(("Bash", bash, "/repo/billing/export", false));
        }
        let protected = [
            PathBuf::from("/home/dev/.local/share/mandate"),
            PathBuf::from("/home/dev/.cache/mandate/parsed"),
        ];
        let root = Path::new("/repo");
        let policy_path = root.join("mandate.toml");
        let contract_path = root.join(".mandate/contracts/c.toml");
        let mut deferred = 0;
        for (policy, contract) in sets {
            let policy = crate::parse_policy(&policy_path, policy).unwrap();
            let contract =
                contract.map(|text| crate::parse_contract(&contract_path, text).unwrap());
            let sources = Sources {
                org: None,
                repo: (&policy_path, &policy),
                contract: contract.as_ref().map(|c| (contract_path.as_path(), c)),
                root,
                home: Some(Path::new("/home/dev")),
                protected: &protected,
            };
            let lazy = Engine::new_lazy(&sources).unwrap();
            let eager = Engine::new(&sources).unwrap();
            deferred += lazy
                .rules
                .iter()
                .filter(|r| r.builtin_glob.is_some())
                .count();
            assert!(eager.rules.iter().all(|r| r.builtin_glob.is_none()));
            same_verdicts(&lazy, &eager, &calls);
        }
        assert!(deferred > 3 * 40, "{deferred}");
    }

    /// A built-in glob that might not compile (a protected path 70 folders deep) is
    /// compiled with the engine, and the engine reports it, lazy or not.
    #[test]
    fn a_builtin_glob_that_might_not_compile_is_compiled_with_the_engine() {
        let deep = PathBuf::from(format!("/r{}", "/d".repeat(70)));
        let root = Path::new("/repo");
        let policy_path = root.join("mandate.toml");
        let policy = crate::parse_policy(&policy_path, "version = 1\n").unwrap();
        let protected = [deep];
        let sources = Sources {
            org: None,
            repo: (&policy_path, &policy),
            contract: None,
            root,
            home: None,
            protected: &protected,
        };
        let lazy = Engine::new_lazy(&sources).err().map(|e| e.to_string());
        let eager = Engine::new(&sources).err().map(|e| e.to_string());
        assert!(lazy.is_some());
        assert_eq!(lazy, eager);
    }

    /// Each listed rule's item, a slice of its list's shared text, is the entry as written.
    #[test]
    fn each_rule_of_a_list_keeps_its_entry_as_written() {
        let policy = include_str!("../../../bench/fixtures/rules-500/mandate.toml");
        let text = include_str!("../../../bench/fixtures/rules-500/BILL-500.toml");
        let (engine, _) = engines(policy, Some(text));
        let contract = engine.contract().unwrap();
        let mut checked = 0;
        for rule in &engine.rules {
            let RuleId::Listed {
                prefix,
                kind,
                index,
            } = &rule.id
            else {
                continue;
            };
            let lists = match &**prefix {
                "contract.allow" => contract.allow.by_kind(),
                "contract.block" => contract.block.by_kind(),
                _ => continue,
            };
            let list = lists.iter().find(|(k, _)| k == kind).unwrap().1;
            assert_eq!(&*rule.item, list[*index].as_str());
            checked += 1;
        }
        assert!(checked > 300, "{checked}");
    }

    /// A rule that does not compile is never skipped: it refuses every call of its kind,
    /// under any first folder, as it did when every rule was compiled.
    #[test]
    fn a_rule_that_does_not_compile_still_refuses_everything_of_its_kind() {
        let too_wide = format!("deploy/{}", "{a,b}".repeat(7));
        for broken in ["deploy/../x", too_wide.as_str()] {
            let policy = format!("version = 1\n[block]\nread = [\"{broken}\"]\n");
            let (engine, _) = engines(&policy, None);
            let listed = engine
                .rules
                .iter()
                .filter(|r| matches!(r.id, RuleId::Listed { .. }));
            assert_eq!(listed.clone().count(), 1);
            assert!(listed.clone().all(|r| plain_head_len(r.kind, &r.item) == 0));
            let input = json!({ "file_path": "billing/export/filter.py" });
            let verdict = engine.judge(
                &Call {
                    tool: "Read",
                    input: &input,
                    cwd: Path::new("/repo"),
                },
                &Context::default(),
                &NoFs,
            );
            assert_eq!(verdict.decision, Decision::Deny, "{broken}");
            assert!(
                verdict.reason.contains("cannot be used"),
                "{}",
                verdict.reason
            );
        }
    }
}
