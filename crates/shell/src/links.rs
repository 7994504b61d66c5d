//! The links a simple command makes: `ln`, `ln -s`, `cp -s`, `cp -l`, `link`.
//!
//! A link changes what later paths mean, so the caller judges each one (a symbolic link to
//! a folder that holds it makes `s/s/../..` climb anywhere) and resolves the rest of the
//! line as if the links already existed. Only the shape is read here; where the link and
//! its target really are is the caller's question (it has the file system).

use crate::options::{Spec, parse};
use crate::word::Word;

/// One link a command makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkMade {
    /// What the link points at, as written. A symbolic link's text is resolved from the
    /// link's folder (or from the working directory with `ln -r`); a hard link's source
    /// from the working directory.
    pub target: String,
    /// Where the link goes, as written: its own name, or an existing folder that receives
    /// it under the target's name (when `into_folder`).
    pub destination: String,
    /// `destination` is taken as a folder when it is one.
    pub into_folder: bool,
    /// A symbolic link (`ln -s`, `cp -s`); otherwise a hard link.
    pub symbolic: bool,
    /// `ln -r`: the target is named from the working directory and the link made relative.
    pub from_cwd: bool,
}

/// `ln`'s options, shared with `programs.rs`, which judges what the link reads and writes.
pub(crate) const LN_SHORT: &str = "bdfFinLPrsS:t:Tv";
pub(crate) const LN_LONG: &[&str] = &[
    "backup",
    "backup=",
    "directory",
    "force",
    "interactive",
    "logical",
    "no-dereference",
    "physical",
    "relative",
    "symbolic",
    "suffix=",
    "target-directory=",
    "no-target-directory",
    "verbose",
];

const CP_SHORT: &str = "aAbdfHilLnPprRsS:t:TuvxZ";
const CP_LONG: &[&str] = &[
    "archive",
    "attributes-only",
    "backup",
    "backup=",
    "copy-contents",
    "dereference",
    "force",
    "interactive",
    "link",
    "no-clobber",
    "no-dereference",
    "no-preserve=",
    "no-target-directory",
    "one-file-system",
    "parents",
    "preserve",
    "preserve=",
    "recursive",
    "reflink",
    "reflink=",
    "remove-destination",
    "sparse=",
    "strip-trailing-slashes",
    "suffix=",
    "symbolic-link",
    "target-directory=",
    "update",
    "update=",
    "verbose",
];

/// The links `program args…` makes (none for any other command).
pub fn links_made(program: &str, args: &[String]) -> Vec<LinkMade> {
    let name = program.rsplit('/').next().unwrap_or(program);
    let words: Vec<Word> = args.iter().map(|a| Word::literal(a)).collect();
    match name {
        "ln" => {
            let parsed = parse(&words, Spec::new(LN_SHORT, LN_LONG));
            let symbolic = parsed.has(&["-s", "--symbolic"]);
            let from_cwd = parsed.has(&["-r", "--relative"]);
            let no_folder = parsed.has(&["-T", "--no-target-directory"]);
            made(&parsed, symbolic, from_cwd, no_folder, true)
        }
        "cp" => {
            let parsed = parse(&words, Spec::new(CP_SHORT, CP_LONG));
            let symbolic = parsed.has(&["-s", "--symbolic-link"]);
            if !symbolic && !parsed.has(&["-l", "--link"]) {
                return Vec::new();
            }
            let no_folder = parsed.has(&["-T", "--no-target-directory"]);
            made(&parsed, symbolic, false, no_folder, false)
        }
        "link" => match args {
            [target, destination] => vec![LinkMade {
                target: target.clone(),
                destination: destination.clone(),
                into_folder: false,
                symbolic: false,
                from_cwd: false,
            }],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn made(
    parsed: &crate::options::Parsed,
    symbolic: bool,
    from_cwd: bool,
    no_folder: bool,
    lone_target_links_here: bool,
) -> Vec<LinkMade> {
    let mut operands: Vec<&Word> = parsed.operands.iter().collect();
    let folder = parsed
        .values(&["-t", "--target-directory"])
        .next()
        .map(|w| w.text.clone());
    let (destination, into_folder) = match folder {
        Some(dir) => (dir, true),
        None if operands.len() >= 2 => match operands.pop() {
            Some(last) => (last.text.clone(), !no_folder),
            None => return Vec::new(),
        },
        // `ln -s TARGET` links into the working directory under the target's name.
        None if lone_target_links_here => (".".to_string(), true),
        None => return Vec::new(),
    };
    operands
        .into_iter()
        .map(|target| LinkMade {
            target: target.text.clone(),
            destination: destination.clone(),
            into_folder,
            symbolic,
            from_cwd,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn links(line: &str) -> Vec<LinkMade> {
        let mut words = line.split_whitespace().map(str::to_string);
        let program = words.next().unwrap();
        links_made(&program, &words.collect::<Vec<_>>())
    }

    #[test]
    fn ln_shapes() {
        let one = &links("ln -s . s")[0];
        assert_eq!((one.target.as_str(), one.destination.as_str()), (".", "s"));
        assert!(one.symbolic && one.into_folder && !one.from_cwd);
        let hard = &links("ln ../../customer_data/eu.csv rows.csv")[0];
        assert!(!hard.symbolic);
        let lone = &links("ln -s ../docs")[0];
        assert_eq!(lone.destination, ".");
        let many = links("ln -sf -t dir a b");
        assert_eq!(many.len(), 2);
        assert_eq!(many[1].destination, "dir");
        assert!(!links("ln -sT a b")[0].into_folder);
        assert!(links("ln -sr a b")[0].from_cwd);
        assert!(links("ln --symbolic --relative a b")[0].from_cwd);
    }

    #[test]
    fn cp_and_link() {
        assert!(links("cp a b").is_empty());
        assert!(links("cp -s /r/a b")[0].symbolic);
        assert!(!links("cp -l a b")[0].symbolic);
        assert!(!links("cp --link a b")[0].symbolic);
        assert_eq!(links("cp -rs /r/a /r/b dir").len(), 2);
        assert_eq!(links("link a b")[0].destination, "b");
        assert!(links("link a").is_empty());
        assert!(links("cat a b").is_empty());
    }
}
