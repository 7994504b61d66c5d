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

/// What a command line does, as far as the text tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Every simple command that would run, wrappers unwrapped, in source order.
    pub commands: Vec<SimpleCommand>,
    /// Parts of the line whose effect cannot be known.
    pub opaque: Vec<Opaque>,
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
/// caller matches the pattern against the paths it could name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Read(String),
    Write(String),
    /// A host name, or a URL when one was given.
    Network(String),
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
///
/// This first version only understands a single simple command made of plain words;
/// anything else is opaque. The real parser replaces it.
pub fn analyze(source: &str) -> Analysis {
    let trimmed = source.trim();
    let plain = !trimmed.is_empty()
        && trimmed.len() <= 4096
        && trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " -_./=,:@+%".contains(c));
    if !plain {
        return Analysis {
            commands: Vec::new(),
            opaque: vec![Opaque {
                text: trimmed.to_string(),
                reason: "this analyser only understands a single plain command".to_string(),
            }],
        };
    }
    let mut words = trimmed.split_whitespace().map(str::to_string);
    let program = words.next().unwrap_or_default();
    Analysis {
        commands: vec![SimpleCommand {
            program,
            args: words.collect(),
            cwd: None,
            effects: Vec::new(),
            known: false,
        }],
        opaque: Vec::new(),
    }
}
