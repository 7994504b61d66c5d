//! getopt-style option parsing for the commands whose effects the analyser knows.
//!
//! A command is only "known" when every option it was given is understood: an option the
//! table does not list might take a value, write a file or run a program, so it makes the
//! command unknown (it then needs an execute rule). Option specs are written the getopt
//! way: `"n:c:qv"` for short options (a colon after a letter takes a value) and
//! `["lines=", "quiet"]` for long ones (`=` takes a value).

use crate::word::Word;

/// One parsed option: its name and its value, if it takes one.
#[derive(Clone, Debug)]
pub(crate) struct Opt {
    pub name: OptName,
    pub value: Option<Word>,
}

/// An option's name as the spec spells it: a short letter (`-n`) or a long name
/// (`--lines`, unambiguous prefixes completed). No text is built for it: the programs ask
/// by the written name (`"-n"`, `"--lines"`), and that is compared in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OptName {
    Short(char),
    Long(&'static str),
}

impl OptName {
    /// Is this the option written `name` (`-n`, `--lines`)?
    fn is(self, name: &str) -> bool {
        match self {
            OptName::Short(c) => {
                let mut chars = name.chars();
                chars.next() == Some('-') && chars.next() == Some(c) && chars.next().is_none()
            }
            OptName::Long(long) => name.strip_prefix("--") == Some(long),
        }
    }
}

/// The parsed command line of one command.
#[derive(Clone, Debug, Default)]
pub(crate) struct Parsed {
    pub opts: Vec<Opt>,
    pub operands: Vec<Word>,
    /// Options the spec does not list, as written.
    pub unknown: Vec<String>,
}

impl Parsed {
    pub fn has(&self, names: &[&str]) -> bool {
        self.opts
            .iter()
            .any(|o| names.iter().any(|name| o.name.is(name)))
    }

    pub fn values<'a>(&'a self, names: &'a [&'a str]) -> impl Iterator<Item = &'a Word> + 'a {
        self.opts
            .iter()
            .filter(move |o| names.iter().any(|name| o.name.is(name)))
            .filter_map(|o| o.value.as_ref())
    }
}

/// How a command's options are laid out.
#[derive(Clone, Copy)]
pub(crate) struct Spec {
    pub short: &'static str,
    pub long: &'static [&'static str],
    /// Options may follow operands (GNU); false stops at the first operand (POSIX).
    pub permute: bool,
}

impl Spec {
    pub const fn new(short: &'static str, long: &'static [&'static str]) -> Spec {
        Spec {
            short,
            long,
            permute: true,
        }
    }

    pub const fn posix(short: &'static str, long: &'static [&'static str]) -> Spec {
        Spec {
            short,
            long,
            permute: false,
        }
    }

    /// `Some(takes_value)` when the short option is listed.
    fn short_takes(&self, c: char) -> Option<bool> {
        let mut chars = self.short.chars().peekable();
        while let Some(s) = chars.next() {
            let takes = chars.peek() == Some(&':');
            if takes {
                chars.next();
            }
            if s == c {
                return Some(takes);
            }
        }
        None
    }

    /// `Some(takes_value)` when the long option is listed (unambiguous prefixes count).
    fn long_takes(&self, name: &str) -> Option<(&'static str, bool)> {
        let mut found = None;
        for entry in self.long {
            let (entry_name, takes) = match entry.strip_suffix('=') {
                Some(n) => (n, true),
                None => (*entry, false),
            };
            if entry_name == name {
                return Some((entry_name, takes));
            }
            if entry_name.starts_with(name) {
                if found.is_some() {
                    return None;
                }
                found = Some((entry_name, takes));
            }
        }
        found
    }
}

/// Parse `args` against `spec`.
pub(crate) fn parse(args: &[Word], spec: Spec) -> Parsed {
    let mut parsed = Parsed::default();
    let mut index = 0;
    let mut only_operands = false;
    while let Some(arg) = args.get(index) {
        index += 1;
        let text = arg.text.as_str();
        if only_operands || arg.unknown || text == "-" || !text.starts_with('-') {
            parsed.operands.push(arg.clone());
            if !spec.permute {
                only_operands = true;
            }
            continue;
        }
        if text == "--" {
            only_operands = true;
            continue;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            match spec.long_takes(name) {
                Some((full, true)) => {
                    let value = match inline {
                        Some(v) => Some(arg.with_text(v.to_string())),
                        None => {
                            index += 1;
                            args.get(index - 1).cloned()
                        }
                    };
                    parsed.opts.push(Opt {
                        name: OptName::Long(full),
                        value,
                    });
                }
                Some((full, false)) if inline.is_none() => parsed.opts.push(Opt {
                    name: OptName::Long(full),
                    value: None,
                }),
                _ => parsed.unknown.push(text.to_string()),
            }
            continue;
        }
        // A cluster of short options: `-rn`, `-n5`, `-A 3`.
        let cluster = text.get(1..).unwrap_or_default();
        for (at, c) in cluster.char_indices() {
            match spec.short_takes(c) {
                Some(true) => {
                    let rest = cluster.get(at + c.len_utf8()..).unwrap_or_default();
                    let value = if rest.is_empty() {
                        index += 1;
                        args.get(index - 1).cloned()
                    } else {
                        Some(arg.with_text(rest.to_string()))
                    };
                    parsed.opts.push(Opt {
                        name: OptName::Short(c),
                        value,
                    });
                    break;
                }
                Some(false) => parsed.opts.push(Opt {
                    name: OptName::Short(c),
                    value: None,
                }),
                None if c.is_ascii_digit() && spec.short_takes('#').is_some() => {
                    // `head -5`: a number as an option.
                    break;
                }
                None => {
                    parsed.unknown.push(format!("-{c}"));
                }
            }
        }
    }
    parsed
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Word> {
        line.split_whitespace().map(Word::literal).collect()
    }

    #[test]
    fn clusters_values_and_operands() {
        let spec = Spec::new("rnA:e:", &["include=", "recursive"]);
        let parsed = parse(
            &words("-rnA3 -e pat file --include=*.py dir --recursive"),
            spec,
        );
        assert!(parsed.has(&["-r"]) && parsed.has(&["-n"]) && parsed.has(&["--recursive"]));
        assert_eq!(parsed.values(&["-A"]).next().unwrap().text, "3");
        assert_eq!(parsed.values(&["-e"]).next().unwrap().text, "pat");
        assert_eq!(parsed.values(&["--include"]).next().unwrap().text, "*.py");
        let operands: Vec<&str> = parsed.operands.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(operands, ["file", "dir"]);
        assert!(parsed.unknown.is_empty());
    }

    #[test]
    fn unlisted_options_are_reported() {
        let parsed = parse(&words("-z --frobnicate x"), Spec::new("n", &[]));
        assert_eq!(parsed.unknown, ["-z", "--frobnicate"]);
    }

    #[test]
    fn double_dash_ends_options() {
        let parsed = parse(&words("-- -rf"), Spec::new("rf", &[]));
        assert_eq!(parsed.operands.len(), 1);
        assert!(parsed.opts.is_empty());
    }
}
