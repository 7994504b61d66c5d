//! Decisions, touches and the verdict that carries its evidence.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What happens to a call. Ordered from most to least permissive, so "the strictest
/// matching rule wins" is `max()`: stop > deny > ask > allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    /// A human must approve first.
    Ask,
    Deny,
    /// Deny, and halt the run until a new contract is started.
    Stop,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Ask => "ask",
            Decision::Deny => "deny",
            Decision::Stop => "stop",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The five kinds of touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Read,
    Write,
    Execute,
    Call,
    Expose,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Read,
        Kind::Write,
        Kind::Execute,
        Kind::Call,
        Kind::Expose,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Execute => "execute",
            Kind::Call => "call",
            Kind::Expose => "expose",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a call does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Touch {
    /// Read one path (absolute, normalised). May hold shell glob characters when a
    /// command names files by pattern.
    Read(PathBuf),
    /// Read a whole folder: a search or listing rooted there.
    ReadTree(PathBuf),
    /// Read the files under `dir` whose path below it matches `pattern` (a glob such as
    /// `**/*.go`): a `Glob` listing, a `Grep` narrowed by its `glob`, the Go files of a
    /// package pattern (`./...`). Judged by the files the folder holds now: a block
    /// refuses it when a file it covers matches the pattern, and the allow rules must
    /// cover every file that does.
    ReadMatching {
        dir: PathBuf,
        pattern: String,
    },
    /// Read what git holds at or under `path` (a file or a folder): the working copy, the
    /// index and every commit, so files deleted from the tree long ago as well (`git show
    /// REV:path`, `git log -p -- path`). `top` is the top of the work tree.
    ReadHistory {
        path: PathBuf,
        top: PathBuf,
    },
    Write(PathBuf),
    /// Write anywhere under a folder: `rm -r`, `tar x`, `git checkout -- .`.
    WriteTree(PathBuf),
    /// Run a command line that is not judged by its effects alone.
    Execute {
        line: String,
        program: String,
        args: Vec<String>,
        /// The command's effects are fully known (`cat`, `mkdir`, `git status`) and judged
        /// as reads, writes and network touches: it needs no execute rule, but block,
        /// stop and approval rules on commands still apply to it.
        known: bool,
        /// Set when the program is a tool mandate has a spec for: the run as its spec
        /// reads it. Execute rules naming that tool are compared with this, not the text.
        run: Option<Box<ToolRun>>,
    },
    /// A part of a shell line whose effect cannot be known; allowed only by an execute
    /// rule naming the exact command.
    Opaque {
        text: String,
        line: String,
        why: String,
    },
    /// Call a tool (MCP and other tools).
    Call {
        tool: String,
        input: serde_json::Value,
    },
    /// Data leaving the machine: a host, or `websearch`.
    Expose(String),
    /// A link that must not be made whatever the contract says: a symbolic link to a
    /// folder that holds it (paths through it climb anywhere). `link` is where it would
    /// go; `why` says what is wrong with it.
    Link {
        link: PathBuf,
        why: String,
    },
}

/// A run of a tool with a spec (`pytest`, `ruff check`, `npm run`, …), its paths made
/// absolute against the command's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolRun {
    pub tool: String,
    /// The path operands, absolute and normalised.
    pub paths: Vec<PathBuf>,
    /// The folder the tool works on when it was given no path.
    pub default_path: Option<PathBuf>,
    /// Operands that are names (test filters, targets, a script's name).
    pub names: Vec<String>,
    /// Parts only a rule that spells them out admits.
    pub unvetted: Vec<mandate_shell::Unvetted>,
}

impl Touch {
    pub fn kind(&self) -> Kind {
        match self {
            Touch::Read(_)
            | Touch::ReadTree(_)
            | Touch::ReadMatching { .. }
            | Touch::ReadHistory { .. } => Kind::Read,
            Touch::Write(_) | Touch::WriteTree(_) | Touch::Link { .. } => Kind::Write,
            Touch::Execute { .. } | Touch::Opaque { .. } => Kind::Execute,
            Touch::Call { .. } => Kind::Call,
            Touch::Expose(_) => Kind::Expose,
        }
    }

    /// The touched thing, as shown to people and written to the record.
    pub fn target(&self) -> String {
        match self {
            Touch::Read(path) | Touch::Write(path) => path.display().to_string(),
            Touch::ReadTree(path) | Touch::WriteTree(path) => format!("{}/**", path.display()),
            Touch::ReadMatching { dir, pattern } => format!("{}/{pattern}", dir.display()),
            Touch::ReadHistory { path, .. } => format!("git:{}/**", path.display()),
            Touch::Execute { line, .. } => line.clone(),
            Touch::Opaque { text, .. } => text.clone(),
            Touch::Call { tool, .. } => tool.clone(),
            Touch::Expose(target) => target.clone(),
            Touch::Link { link, .. } => link.display().to_string(),
        }
    }
}

/// A touch as judged: its decision and the rules behind it.
#[derive(Clone, Debug, Serialize)]
pub struct JudgedTouch {
    pub kind: Kind,
    pub target: String,
    pub decision: Decision,
    pub rules: Vec<String>,
    pub reason: String,
}

/// A reviewer approval the call needs before it may run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApprovalNeed {
    pub rule: String,
    /// The reviewer group, a key of `authority.reviewers`.
    pub group: String,
    pub reviewers: Vec<String>,
    pub reason: String,
}

/// The answer for one call: the decision and its evidence.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub decision: Decision,
    /// Ids of the rules that decided, strictest first.
    pub rules: Vec<String>,
    /// Why, written for the agent and the person reading the record.
    pub reason: String,
    pub touches: Vec<JudgedTouch>,
    /// Set when the decision is `ask` because a named reviewer group must approve.
    pub approval: Option<ApprovalNeed>,
}
