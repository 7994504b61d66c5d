//! mandate itself on the agent's command line: the evidence verb and mandate's variables.
//!
//! `mandate evidence` is the one mandate verb the agent may run, and it runs outside the
//! OS sandbox (it appends to the record store, which sandboxed programs may not write).
//! So it is recognised narrowly, and everything else that looks like it is refused:
//!
//! - the program must be the installed binary: the exact path the hook runs as, or a
//!   bare `mandate` that `PATH` resolves to it. A file called `mandate` that the agent
//!   wrote (`billing/export/mandate evidence …`) is not it, whatever its name;
//! - the line must be that one command and nothing else, written as plain words: no
//!   variable assignments in front, no redirections, no wrappers (`env`, `nice`,
//!   `bash -c`), no expansions, no second command;
//! - `MANDATE_*` variables, which steer where mandate reads its policy, keeps its records
//!   and pushes them, may not be set, exported or even named on any command the agent
//!   runs: mandate's configuration comes from the delegating user's environment as
//!   `mandate start` saw it, never from the agent.
//!
//! This is the one place these rules live; the shell analyser's own handling of
//! environment variables (`crates/shell`) is separate and stays general.

use std::path::Path;

use mandate_shell::Analysis;

use crate::decision::Touch;
use crate::engine::Fs;
use crate::path::{resolve, resolve_path};

/// Why a line that names mandate's variables is refused.
const VARIABLES_WHY: &str = "it names a `MANDATE_*` variable: mandate's configuration (policy, \
     records, server, token) comes from the delegating user's environment, never from the \
     agent's command line";

/// Why a look-alike of the evidence verb is refused.
const EVIDENCE_WHY: &str = "mandate's evidence verb runs outside the OS sandbox, so it is \
     accepted only as the installed mandate binary, run alone on its line as plain words \
     (`mandate evidence KIND …`), with no variables, redirections, wrappers or expansions";

/// What the line does with mandate: refusals to add, and whether its one command is the
/// real evidence verb.
pub struct MandateOnLine {
    pub refusals: Vec<Touch>,
    /// The line is exactly one plain `mandate evidence …` of the installed binary.
    pub evidence: bool,
}

/// Look at a Bash line for mandate's verb and variables. `binary` is the installed
/// mandate (symlinks resolved); without it only a bare `mandate` on its own line counts.
pub fn inspect(
    command: &str,
    analysis: &Analysis,
    cwd: &Path,
    home: Option<&Path>,
    fs: &dyn Fs,
    binary: Option<&Path>,
) -> MandateOnLine {
    let mut refusals = Vec::new();
    if names_mandate_variable(command, analysis) {
        refusals.push(Touch::Opaque {
            text: command.to_string(),
            line: command.to_string(),
            why: VARIABLES_WHY.to_string(),
        });
    }
    let looks_like_evidence = analysis
        .commands
        .iter()
        .any(|c| named_mandate(&c.program) && c.args.iter().any(|a| a == "evidence"))
        || plain_words(command).is_some_and(|w| w.first().is_some_and(|p| named_mandate(p)));
    if !looks_like_evidence {
        return MandateOnLine {
            refusals,
            evidence: false,
        };
    }
    let evidence = is_exact_evidence(command, analysis, cwd, home, fs, binary);
    if !evidence {
        refusals.push(Touch::Opaque {
            text: command.to_string(),
            line: command.to_string(),
            why: EVIDENCE_WHY.to_string(),
        });
    }
    MandateOnLine { refusals, evidence }
}

/// A program word whose last path segment is `mandate`: a candidate, not yet the binary.
fn named_mandate(program: &str) -> bool {
    program.rsplit('/').next() == Some("mandate")
}

fn is_exact_evidence(
    command: &str,
    analysis: &Analysis,
    cwd: &Path,
    home: Option<&Path>,
    fs: &dyn Fs,
    binary: Option<&Path>,
) -> bool {
    let Some(words) = plain_words(command) else {
        return false;
    };
    let [simple] = analysis.commands.as_slice() else {
        return false;
    };
    if !analysis.opaque.is_empty() || simple.cwd.is_some() || !simple.effects.is_empty() {
        return false;
    }
    // The analyser and the plain reading must agree on every word: nothing was unwrapped,
    // expanded or split differently.
    let Some((program, args)) = words.split_first() else {
        return false;
    };
    if *program != simple.program || args != simple.args.as_slice() {
        return false;
    }
    if args.first().map(String::as_str) != Some("evidence") {
        return false;
    }
    is_installed_binary(program, cwd, home, fs, binary)
}

/// Is `program` (as written) the installed mandate binary?
fn is_installed_binary(
    program: &str,
    cwd: &Path,
    home: Option<&Path>,
    fs: &dyn Fs,
    binary: Option<&Path>,
) -> bool {
    let Some(binary) = binary else {
        // A pure engine knows no binary: only the bare name, never a path.
        return program == "mandate";
    };
    if program == "mandate" {
        return fs
            .program_on_path("mandate")
            .is_some_and(|found| resolve_path(fs, &found).is_ok_and(|real| real == binary));
    }
    if !program.contains('/') {
        return false;
    }
    resolve(fs, cwd, program, home).is_ok_and(|real| real == binary)
}

/// Does the line set, export or name a `MANDATE_*` variable, however it is quoted?
fn names_mandate_variable(command: &str, analysis: &Analysis) -> bool {
    let unquoted: String = command
        .chars()
        .filter(|c| !matches!(c, '\'' | '"' | '\\'))
        .collect();
    unquoted.contains("MANDATE_")
        || analysis.commands.iter().any(|c| {
            c.program.contains("MANDATE_") || c.args.iter().any(|a| a.contains("MANDATE_"))
        })
        || analysis.opaque.iter().any(|o| o.text.contains("MANDATE_"))
}

/// The words of a line that is one simple command of plain words (bare words without
/// shell syntax, single-quoted text, double-quoted text without expansions), after
/// quote removal; `None` for anything else.
pub fn plain_words(line: &str) -> Option<Vec<String>> {
    const SPECIAL: &[char] = &[
        ';', '&', '|', '<', '>', '(', ')', '$', '`', '\\', '*', '?', '[', ']', '{', '}', '~', '#',
        '!', '\n', '\r',
    ];
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.trim_matches([' ', '\t']).chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        other => word.push(other),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' | '\\' | '!' => return None,
                        other => word.push(other),
                    }
                }
            }
            c if SPECIAL.contains(&c) || c.is_control() => return None,
            c => {
                // `NAME=value` in front of the program is an assignment, not a word.
                if c == '=' && words.is_empty() {
                    return None;
                }
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    (!words.is_empty()).then_some(words)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn plain_words_take_quotes_and_refuse_syntax() {
        assert_eq!(
            plain_words("mandate evidence assumption 'EU means \"EU\"'").unwrap(),
            ["mandate", "evidence", "assumption", "EU means \"EU\""]
        );
        assert_eq!(
            plain_words("mandate  evidence risk \"a; b\"").unwrap(),
            ["mandate", "evidence", "risk", "a; b"]
        );
        for line in [
            "X=1 mandate evidence risk a",
            "mandate evidence risk a > /tmp/x",
            "mandate evidence risk a; ls",
            "mandate evidence risk \"$HOME\"",
            "mandate evidence risk `id`",
            "mandate evidence risk a\nls",
            "mandate evidence risk a 2>&1",
            "mandate evidence risk 'unterminated",
            "mandate evidence risk \\\nx",
        ] {
            assert!(plain_words(line).is_none(), "{line}");
        }
    }

    struct PathFs {
        found: Option<PathBuf>,
    }
    impl Fs for PathFs {
        fn read_link(&self, _: &Path) -> Option<PathBuf> {
            None
        }
        fn links_under(&self, _: &Path) -> Option<Vec<PathBuf>> {
            Some(Vec::new())
        }
        fn is_dir(&self, _: &Path) -> bool {
            false
        }
        fn expand(&self, _: &Path) -> Option<Vec<PathBuf>> {
            None
        }
        fn tree_has(&self, _: &Path, _: &dyn Fn(&Path) -> bool) -> Option<bool> {
            None
        }
        fn program_on_path(&self, _: &str) -> Option<PathBuf> {
            self.found.clone()
        }
    }

    fn check(line: &str, found: Option<&str>) -> MandateOnLine {
        let fs = PathFs {
            found: found.map(PathBuf::from),
        };
        let analysis = mandate_shell::analyze(line);
        inspect(
            line,
            &analysis,
            Path::new("/repo"),
            None,
            &fs,
            Some(Path::new("/opt/bin/mandate")),
        )
    }

    #[test]
    fn only_the_installed_binary_is_the_evidence_verb() {
        let ok = check("mandate evidence risk x", Some("/opt/bin/mandate"));
        assert!(ok.evidence && ok.refusals.is_empty());
        let ok = check("/opt/bin/mandate evidence risk x", None);
        assert!(ok.evidence && ok.refusals.is_empty());
        for (line, found) in [
            (
                "mandate evidence risk x",
                Some("/repo/billing/export/mandate"),
            ),
            ("mandate evidence risk x", None),
            (
                "billing/export/mandate evidence risk x",
                Some("/opt/bin/mandate"),
            ),
            ("./mandate evidence risk x", Some("/opt/bin/mandate")),
            ("/tmp/mandate evidence risk x", Some("/opt/bin/mandate")),
        ] {
            let seen = check(line, found);
            assert!(!seen.evidence && !seen.refusals.is_empty(), "{line}");
        }
    }

    #[test]
    fn anything_riding_along_is_refused() {
        for line in [
            "MANDATE_ORG_POLICY=.env mandate evidence risk x",
            "HOME=/tmp mandate evidence risk x",
            "env mandate evidence risk x",
            "mandate evidence risk x > billing/export/out",
            "mandate evidence risk x && ls",
            "bash -c 'mandate evidence risk x'",
            "mandate evidence risk \"$(cat .env)\"",
            "cd billing && mandate evidence risk x",
        ] {
            let seen = check(line, Some("/opt/bin/mandate"));
            assert!(!seen.evidence && !seen.refusals.is_empty(), "{line}");
        }
    }

    #[test]
    fn mandate_variables_are_refused_on_any_command() {
        for line in [
            "MANDATE_TOKEN=x pytest billing/export/tests",
            "export MANDATE_ORG_POLICY=/tmp/p.toml",
            "env 'MANDATE_SERVER'=x ls",
            "echo $MANDATE_TOKEN",
            "env MAN\"DATE\"_TOKEN=x ls",
        ] {
            assert!(!check(line, None).refusals.is_empty(), "{line}");
        }
        assert!(
            check("pytest billing/export/tests -q", None)
                .refusals
                .is_empty()
        );
    }
}
