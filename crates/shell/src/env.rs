//! Environment variables set for a command, by allow-list.
//!
//! A variable set for a command (`VAR=x cmd`, `env VAR=x cmd`, `export`, `declare -x`,
//! `set -a`) can change what an allowed program runs, reads or writes: `PYTEST_ADDOPTS`
//! adds options, `PYTEST_PLUGINS` loads code, `RUFF_CACHE_DIR` moves a write, `GCONV_PATH`
//! makes the C library load modules. Listing the harmful ones never ends, so the list is
//! the other way round: a short list of variables that cannot change what runs, reads or
//! writes passes ([`HARMLESS`]); a few with a known meaning are judged by what they imply
//! (`PYTHONPATH=src` reads `src`, `PYTEST_ADDOPTS` is read with pytest's spec); anything
//! else makes the command opaque, unless the command is a tool with a spec and its execute
//! rule names the variable (`DJANGO_SETTINGS_MODULE=app.settings pytest tests*`).
//! mandate's own variables (`MANDATE_*`) are not judged here: the policy refuses any line
//! that names one, in one place (`crates/policy/src/mandate_verb.rs`).

use crate::programs::{Judgement, is_poison_variable};
use crate::specs;
use crate::word::Word;

/// Variables that cannot change what a program runs, reads or writes: locale, time zone,
/// terminal and colour, CI markers, and interpreter switches that only make output
/// plainer or stricter.
const HARMLESS: &[&str] = &[
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "COLORTERM",
    "PY_COLORS",
    "CI",
    "CONTINUOUS_INTEGRATION",
    "GITHUB_ACTIONS",
    "TF_IN_AUTOMATION",
    "DEBUG",
    "VERBOSE",
    "NODE_ENV",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PYTHONIOENCODING",
    "PYTHONHASHSEED",
    "PYTHONUTF8",
    "PYTHONFAULTHANDLER",
    "PYTHONDEVMODE",
    "PYTHONNOUSERSITE",
    "PYTHONSAFEPATH",
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
    "RUST_BACKTRACE",
    "RUST_LOG",
    "RUST_TEST_THREADS",
    "RUST_MIN_STACK",
    "CARGO_TERM_COLOR",
    "CARGO_TERM_VERBOSE",
    "CARGO_TERM_QUIET",
    "CARGO_INCREMENTAL",
    "GOOS",
    "GOARCH",
    "CGO_ENABLED",
    "GOMAXPROCS",
    "GOGC",
];

/// How a variable set in a command's environment is judged.
pub(crate) enum Verdict {
    /// It cannot change what runs, reads or writes.
    Harmless,
    /// It is judged by the reads and writes it implies.
    Implies(Judgement),
    /// Its effect is unknown. `nameable`: an execute rule for a tool with a spec may name
    /// it; otherwise (it changes which program runs) only an exact rule allows the line.
    Unknown { reason: String, nameable: bool },
}

/// Names that are environment variables when assigned bare: a name in capitals may be
/// inherited from the environment already, and assigning an inherited variable changes
/// what every later program sees; lower-case names are the shell's own, except these.
pub(crate) fn is_environment_name(name: &str) -> bool {
    let lower_env = matches!(
        name,
        "http_proxy" | "https_proxy" | "all_proxy" | "no_proxy" | "ftp_proxy"
    );
    let identifier = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    lower_env || (identifier && !name.bytes().any(|b| b.is_ascii_lowercase()))
}

/// Judge `name=value` set in a command's environment.
pub(crate) fn judge(name: &str, value: &Word) -> Verdict {
    if HARMLESS.contains(&name) || name.starts_with("LC_") {
        return Verdict::Harmless;
    }
    if is_poison_variable(name) {
        return Verdict::Unknown {
            reason: format!("`{name}=` changes which program runs or what it loads"),
            nameable: false,
        };
    }
    let unknown = |what: &str| Verdict::Unknown {
        reason: format!("`{name}=` {what}"),
        nameable: true,
    };
    match name {
        "PYTHONPATH" | "MYPYPATH" => {
            // Code is imported from each folder: judged as reading it.
            let mut j = Judgement::default();
            for part in value.text.split(':') {
                if part == format!("${name}") || part == format!("${{{name}}}") {
                    continue; // the value it already had
                }
                if part.contains('$') || part.contains('`') {
                    return unknown(
                        "adds a folder to the import path that is only known when the command runs",
                    );
                }
                let folder = if part.is_empty() { "." } else { part };
                j.read(&crate::programs::tree(&Word::literal(folder)));
            }
            Verdict::Implies(j)
        }
        "PYTEST_ADDOPTS" => {
            if value.unknown {
                return unknown("adds pytest options that are only known when the command runs");
            }
            let words: Vec<Word> = value.text.split_whitespace().map(Word::literal).collect();
            let Some((spec, _, _)) = specs::find("pytest", &[]) else {
                return unknown("adds pytest options");
            };
            let reading = specs::read(spec, &words, None);
            if let Some(part) = reading.invocation.unvetted.first() {
                return unknown(&format!("adds pytest options, and {}", part.why));
            }
            if !reading.invocation.paths.is_empty() {
                return unknown(
                    "adds paths for pytest to run, which its execute rule does not name",
                );
            }
            // Its reads and writes (not the default read of the folder, which the
            // command itself has).
            let mut j = reading.judgement;
            j.effects
                .retain(|e| e != &crate::Effect::Read("./**".to_string()));
            Verdict::Implies(j)
        }
        "PYTHONWARNINGS" => {
            if value.unknown || specs::warning_imports(&value.text) {
                unknown("names a warning category whose module Python imports")
            } else {
                Verdict::Harmless
            }
        }
        "COVERAGE_FILE" => write_path(value, name),
        "PYTHONPYCACHEPREFIX" => {
            let mut j = Judgement::default();
            j.write(&crate::programs::tree(value));
            Verdict::Implies(j)
        }
        "COVERAGE_RCFILE" => {
            let mut j = Judgement::default();
            j.read(value);
            Verdict::Implies(j)
        }
        _ => unknown(
            "is not on mandate's list of variables that cannot change what a program runs, \
             reads or writes",
        ),
    }
}

fn write_path(value: &Word, _name: &str) -> Verdict {
    let mut j = Judgement::default();
    j.write(value);
    Verdict::Implies(j)
}
