//! Bash text to simple commands and their effects.
//!
//! This crate owns one question: what will a Bash command line do? It parses the line into
//! simple commands, unwraps wrappers, and reports for each one the program, its arguments
//! after quote removal, the paths it reads and writes and the network destinations it
//! reaches. Anything whose effect cannot be known from the text (an `eval`, a pipe into a
//! shell, inline interpreter code, an unresolved expansion in a command position) is
//! reported as an [`Opaque`] part, so the caller can deny it: the analyser never guesses
//! in the permissive direction.
//!
//! It is pure: no I/O, no environment. Paths are reported as written; resolving them
//! against the working directory is the caller's job.
//!
//! # The parser: tree-sitter-bash
//!
//! Two real Bash parsers exist in Rust: tree-sitter-bash (a C parse table driven by the
//! `tree-sitter` runtime; Codex's `codex-rs` uses this pair for the same job) and
//! `brush-parser` (pure Rust, part of the brush shell). We use tree-sitter-bash because:
//!
//! - **Fail-closed needs error nodes.** tree-sitter always returns a tree and marks what it
//!   could not parse with `ERROR` and `MISSING` nodes; any such node makes the whole line
//!   opaque. A parser that only returns `Err` would do too, but tree-sitter also tells us
//!   *where*, which the deny reason can name.
//! - **Fidelity.** The grammar covers here-docs, process substitution, `[[ ]]`, arithmetic,
//!   ANSI-C quoting and the other corners that bypasses use, and is exercised by every
//!   editor that highlights shell.
//! - **Start-up cost.** The hook is a fresh process per tool call with a ~2 ms budget. The
//!   grammar is static tables: creating a parser allocates a few KiB, nothing is built at
//!   start-up, and a 1 KiB line parses in tens of microseconds.
//! - **Size and build.** The bash grammar adds about 1–2 MB of tables and a C compile of one
//!   file (the `cc` crate) that takes seconds on two cores; brush-parser pulls a PEG parser
//!   generator and more crates for the same job.
//!
//! The cost is a C dependency (and `unsafe` inside the runtime, none in this crate).
//!
//! # In front of tree-sitter: the plain reader
//!
//! tree-sitter-bash spends about 1,200 instructions per byte, and (0.25.1) groups some
//! lines differently from Bash. A hand-written reader (`plain.rs`) therefore cuts each
//! line into its top-level statements itself and reads the plain ones (simple commands,
//! literal and quoted words, `&&`, `||`, `|`, file redirections) directly; every other
//! statement is parsed by tree-sitter on its own, and a line the cut is unsure of goes to
//! tree-sitter whole. Both paths give the same analysis (tests compare them over the corpus
//! and generated lines). Comparing them found three ways tree-sitter-bash's grouping misled
//! the walk, each a way to write outside a contract that the corpus now holds:
//!
//! - `cd /etc && echo x > passwd`: the tree hangs `> passwd` on the whole list, so the
//!   write was judged in the starting folder;
//! - `a | b | c && cd /etc; …`: the tree puts the `cd` inside the pipeline, where it was lost;
//! - `cd /etc && a > f | tee passwd`: the tree makes the list a pipeline element.
//!
//! The walk now flattens lists and pipelines into source order and regroups them by Bash's
//! rules (`Walker::operators`). A fourth misreading (after a three-command pipeline,
//! the next line's command read as arguments of its last command) is made opaque where it
//! can still happen (`Walker::check_line_breaks`).
//!
//! # Limits
//!
//! Lines over [`MAX_INPUT`] bytes, nesting deeper than [`MAX_DEPTH`], more than
//! [`MAX_COMMANDS`] simple commands, or a parse that takes longer than [`PARSE_BUDGET`] are
//! opaque. The analyser never panics (workspace lints deny the ways it could).
//!
//! # Speed
//!
//! Issue 3 asks for p99 ≤ 100 µs for commands under 1 KiB.
//! `cargo run --release -p mandate-shell --example p99 5000` times single calls, the way
//! the hook makes one call per process (quiet 2-core VM, 2026-12-07): every sample line of
//! `benches/lines.rs` has p99 ≤ 50 µs (the 744-byte line p50 34 µs, p99 49 µs; it was
//! 105 µs before the plain reader), and the 618 corpus commands p50 0.9 µs, p99 8.0 µs.
//! Issue 14's redesigns took the 744-byte line to ~50 µs p50; reading `for` loops and
//! `$NAME` words without tree-sitter and fewer allocations brought it to 22–24 µs p50 at
//! load 9–15 (409,834 instructions a call, from 687,494; `examples/line.rs` under
//! callgrind counts them, and does not depend on load).
//!
//! Text that is not Bash is outside that budget and timed apart: tree-sitter's error
//! recovery costs about a microsecond a byte (200 generated lines under 1 KiB that do not
//! parse: p50 63 µs, p99 224 µs; 1 KiB of garbage ~1.3 ms). Such a line is opaque, so the
//! hook refuses it; past [`PARSE_BUDGET`] the parse stops, which bounds a 64 KiB line of
//! garbage at ~53 ms. How the numbers got here: `BENCHMARKS.md`, "Shell analysis".
//!
//! # Fuzzing
//!
//! `crates/shell/fuzz` is a cargo-fuzz package (outside the workspace) with two targets:
//! `analyze` (no input panics or crashes) and `plain_agrees` (the plain reader and
//! tree-sitter give the same analysis). With a nightly toolchain and
//! `cargo install cargo-fuzz`:
//!
//! ```text
//! cd crates/shell/fuzz && cargo +nightly fuzz run plain_agrees -- -max_total_time=60
//! ```
//!
//! On stable they are only type-checked: `cargo check --manifest-path crates/shell/fuzz/Cargo.toml`.

mod env;
mod git;
pub mod links;
mod options;
mod plain;
mod programs;
mod sed;
mod specs;
mod walk;
mod word;

use std::time::Duration;

/// Longest line analysed; longer lines are opaque.
pub const MAX_INPUT: usize = 64 * 1024;
/// Deepest nesting of syntax (and of `bash -c` strings) analysed.
pub const MAX_DEPTH: usize = 48;
/// Most simple commands reported for one line.
pub const MAX_COMMANDS: usize = 512;
/// Longest time the parser may take before the line is declared opaque.
pub const PARSE_BUDGET: Duration = Duration::from_millis(50);

/// What a command line does, as far as the text tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Every simple command that would run, wrappers unwrapped, in source order. A command
    /// that may run in more than one directory (after a `cd` that may fail) appears once
    /// per directory.
    pub commands: Vec<SimpleCommand>,
    /// Parts of the line whose effect cannot be known.
    pub opaque: Vec<Opaque>,
}

impl Analysis {
    /// Nothing in the line is opaque.
    pub fn is_transparent(&self) -> bool {
        self.opaque.is_empty()
    }
}

/// One simple command after parsing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimpleCommand {
    /// The program as written after quote removal (`pytest`, `./pytest`, `/usr/bin/git`).
    pub program: String,
    /// Arguments after quote removal.
    pub args: Vec<String>,
    /// The working directory after the `cd`s earlier in the line, as written; `None` when
    /// the line has not changed directory.
    pub cwd: Option<String>,
    /// Reads, writes and network destinations of this command.
    pub effects: Vec<Effect>,
    /// True when `effects` is everything the command does (`cat`, `mkdir`, a redirect):
    /// such a command is judged by its effects and needs no execute rule.
    pub known: bool,
    /// Set when the program is one of the tools mandate has a spec for (`pytest`, `ruff
    /// check`, `npm run`, …): the command as its spec reads it, which execute rules naming
    /// that tool are compared with instead of the text.
    pub invocation: Option<Box<Invocation>>,
}

/// A run of a tool mandate has a spec for, read the way the tool reads its arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// The tool: `pytest` (also for `python -m pytest`), `ruff check`, `npm run`.
    pub tool: String,
    /// Operands that are paths, as written (relative to the command's folder).
    pub paths: Vec<String>,
    /// The path the tool works on when it is given none (`.`).
    pub default_path: Option<String>,
    /// Operands that are names, not paths: test filters, targets, goals, a script's name.
    pub names: Vec<String>,
    /// Parts the spec cannot judge: an execute rule admits the command only if it spells
    /// each of them out.
    pub unvetted: Vec<Unvetted>,
}

/// A part of a tool's command line that its spec cannot judge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unvetted {
    /// As a rule would spell it: `-p evil`, `--frobnicate`, `@args.txt`, `-- --watch`
    /// (passed through to a script), `NAME=value` (a variable set for the command).
    pub text: String,
    /// Why, for the person reading a deny.
    pub why: String,
}

impl Unvetted {
    /// Arguments passed through to a program without a spec (`npm test -- ARGS`, make's
    /// `VAR=value`): a rule whose last word ends in `*` admits them.
    pub fn is_passed_through(&self) -> bool {
        self.text.starts_with("-- ")
    }
}

/// An execute rule read the way the command it names would be read: see [`rule_shape`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleShape {
    /// The tool the rule names (`pytest`, `ruff check`, `npm run`).
    pub tool: String,
    /// Path patterns (relative to the repository root, `*` any run of characters).
    pub paths: Vec<String>,
    /// Name patterns (test filters, targets, scripts).
    pub names: Vec<String>,
    /// Unvetted parts the rule spells out, as [`Unvetted::text`] patterns.
    pub spelled: Vec<String>,
    /// The rule's last word ends in `*`: any operands when it names none, and arguments
    /// passed through to scripts.
    pub open: bool,
}

/// Read an execute rule pattern (v1 syntax) as a command of a tool mandate has a spec
/// for. `None` when it names no such tool, or is not a plain list of words (quotes,
/// operators, expansions): such a rule stays a text pattern.
pub fn rule_shape(pattern: &str) -> Option<RuleShape> {
    specs::rule_shape(pattern)
}

impl SimpleCommand {
    /// The command as one line, `program args…` joined by single spaces: what execute
    /// rules are matched against.
    pub fn line(&self) -> String {
        let mut line = self.program.clone();
        for arg in &self.args {
            line.push(' ');
            line.push_str(arg);
        }
        line
    }
}

/// One effect of a simple command. Paths may hold glob characters (`cat .e*`): the
/// caller matches the pattern against the paths it could name. A path ending in `/**`
/// means every path under the folder before it (`grep -r x src` reads `src/**`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Read(String),
    Write(String),
    /// A host name, or a URL when one was given.
    Network(String),
    /// What git reveals or writes, by path: see [`GitTouch`]. `path` is relative to the
    /// working directory, or to the top of the git work tree when `from_top` is set (git
    /// resolves `REV:path`, `:path`, `:/path` and `:(top)path` from there). A `path`
    /// ending in `**` names everything under the folder before it.
    Git {
        what: GitTouch,
        path: String,
        from_top: bool,
    },
    /// Files an archive or a patch holds, written under a folder (`tar -x`, `unzip`,
    /// `git apply`): their names are in the file, not in the line, so the caller reads it.
    Unpack(Unpack),
}

/// An archive or patch unpacked by a command: see [`Effect::Unpack`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpack {
    pub format: ArchiveFormat,
    /// The archive or patch as written; `None` when it comes from the standard input or
    /// its name is only known when the line runs.
    pub archive: Option<String>,
    /// The folder the names are taken from, as written (`.` when none is named).
    pub into: String,
    /// Leading components removed from each name (`tar --strip-components`, `git apply -p`).
    pub strip: usize,
    /// Only these members, and what is under them, are written; every member when empty.
    /// A member with wildcards limits nothing.
    pub members: Vec<String>,
    /// Each member is written under its last component alone (`unzip -j`).
    pub flatten: bool,
}

/// What [`Unpack::archive`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// A tar archive, compressed or not (`tar -x` reads either).
    Tar,
    Zip,
    /// A unified or git diff (`git apply`): names after `a/`/`b/`, renames, copies, links.
    Patch,
}

/// The kinds of [`Effect::Git`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GitTouch {
    /// Shows or materialises what git holds for the path: the working copy, the index and
    /// every commit (`git show`, `log -p`, `diff REV`, `cat-file`, `archive`, `blame`).
    /// A file deleted from the tree long ago is still there.
    History,
    /// Writes the path (`git checkout REV -- path`, `git reset --hard`).
    Write,
    /// Puts the files with local changes at or under the path back to their committed
    /// state (`git checkout -- path`, `git restore path`, `git stash`): only those are
    /// written, and what they held in git is shown into the working tree.
    Revert,
    /// Writes the files a stash entry holds (`git stash pop`); `path` is the entry
    /// (`stash@{0}`), not a path.
    Stash,
    /// Shows the files with local changes at or under the path, as they are and as git
    /// holds them (`git diff` without revisions): each is a read of what git holds for it.
    Changed,
    /// A word git reads as a path when it exists in the working tree and as a revision
    /// otherwise (`git show NAME`, `git log -p NAME`): as a path, its [`GitTouch::History`];
    /// as a revision, the history of the whole repository.
    Ambiguous,
}

/// A part of the line whose effect cannot be known from the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opaque {
    /// The source text of the part.
    pub text: String,
    /// Why it cannot be known, written for the person reading a deny.
    pub reason: String,
}

/// Analyse one Bash command line. Never panics; input too large or too deep is opaque.
pub fn analyze(source: &str) -> Analysis {
    walk::analyze(source, false)
}

/// [`analyze`] with every statement parsed by tree-sitter, never by the plain reader, for
/// the fuzz target that compares the two (`fuzz/fuzz_targets/plain_agrees.rs`).
#[doc(hidden)]
pub fn analyze_with_tree_sitter(source: &str) -> Analysis {
    walk::analyze(source, true)
}
