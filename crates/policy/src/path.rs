//! Paths as the kernel resolves them, lexical normalisation, and the split into segments
//! that globs match.
//!
//! A path is judged where the kernel would take it: [`resolve`] walks it component by
//! component from the root, follows every symbolic link it meets (asking the [`Fs`]), and
//! applies `..` to where the walk really is, so `s/s/../../x` through a link `s -> .` is
//! two folders above `s`, not `x` next to it. [`absolutize`] is the path as written,
//! made absolute and normalised as text; callers judge both.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::engine::Fs;

/// The most symbolic links one resolution follows; Linux gives up at 40 (`ELOOP`).
pub const MAX_LINKS: usize = 40;

/// Why a path cannot be resolved before the command runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolvable {
    /// More than [`MAX_LINKS`] links on the way: a loop, or a chain built to tire the
    /// resolver.
    TooManyLinks,
    /// A pattern (`*/../x`) followed by `..`: where `..` lands depends on which entries
    /// the pattern names and whether they are links.
    PatternThenDotDot,
}

impl std::fmt::Display for Unresolvable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unresolvable::TooManyLinks => write!(
                f,
                "the path goes through more than {MAX_LINKS} symbolic links (a loop of links)"
            ),
            Unresolvable::PatternThenDotDot => write!(
                f,
                "`..` after a pattern lands wherever the entries the pattern names lead"
            ),
        }
    }
}

/// `path` joined onto `base` unless absolute, with a leading `~` expanded, and resolved
/// as the kernel resolves it: every symbolic link followed, `..` applied to where the
/// links really lead. A part that does not exist yet is taken as written (nothing below
/// a missing folder can be a link). `base` may itself hold links; it is resolved too.
pub fn resolve(
    fs: &dyn Fs,
    base: &Path,
    path: &str,
    home: Option<&Path>,
) -> Result<PathBuf, Unresolvable> {
    resolve_path(fs, &join(base, path, home))
}

/// [`resolve`] for an absolute path.
pub fn resolve_path(fs: &dyn Fs, path: &Path) -> Result<PathBuf, Unresolvable> {
    // Components still to walk, last first.
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, path);
    let mut out = PathBuf::from("/");
    let mut followed = 0usize;
    let mut pattern = false;
    while let Some(part) = pending.pop() {
        if part == ".." {
            if pattern {
                return Err(Unresolvable::PatternThenDotDot);
            }
            out.pop();
            continue;
        }
        out.push(&part);
        if pattern {
            continue;
        }
        if part.to_str().is_some_and(|p| p.contains(['*', '?', '['])) {
            // Which entries the pattern names is decided when it is expanded.
            pattern = true;
            continue;
        }
        if let Some(target) = fs.read_link(&out) {
            followed += 1;
            if followed > MAX_LINKS {
                return Err(Unresolvable::TooManyLinks);
            }
            out.pop();
            if target.is_absolute() {
                out = PathBuf::from("/");
            }
            push_components(&mut pending, &target);
        }
    }
    Ok(out)
}

/// Pushes the walkable components of `path` onto `pending` so that the first pops first.
fn push_components(pending: &mut Vec<OsString>, path: &Path) {
    let start = pending.len();
    for component in path.components() {
        match component {
            Component::Normal(part) => pending.push(part.to_os_string()),
            Component::ParentDir => pending.push(OsString::from("..")),
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
        }
    }
    if let Some(added) = pending.get_mut(start..) {
        added.reverse();
    }
}

/// `path` joined onto `base` unless absolute, with a leading `~` expanded; not normalised.
fn join(base: &Path, path: &str, home: Option<&Path>) -> PathBuf {
    if path == "~" {
        home.map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"))
    } else if let Some(rest) = path.strip_prefix("~/") {
        home.map(|h| h.join(rest))
            .unwrap_or_else(|| PathBuf::from("/").join(rest))
    } else if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        base.join(path)
    }
}

/// Is `dir` the folder `path` sits in, or one above it?
pub fn holds(dir: &Path, path: &Path) -> bool {
    path.parent().is_some_and(|parent| parent.starts_with(dir))
}

/// Join `path` onto `base` unless it is absolute, expand a leading `~`, and resolve `.` and
/// `..` lexically. `..` above the file-system root stays at the root.
pub fn absolutize(base: &Path, path: &str, home: Option<&Path>) -> PathBuf {
    normalize(&join(base, path, home))
}

/// Resolve `.` and `..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
        }
    }
    out
}

/// The segments of `path` below `base`, or `None` when it is not under `base`.
///
/// The engine asks this for every rule and every path a search meets, so the usual case
/// is read from the bytes: `path` spelled as `base` and then a `/` (or nothing) is under
/// it, with the rest cut at the slashes as [`Path::components`] would cut it. Anything
/// else takes [`Path::strip_prefix`].
pub fn relative_segments<'a>(path: &'a Path, base: &Path) -> Option<Vec<&'a str>> {
    let bytes = path.as_os_str().as_encoded_bytes();
    let prefix = base.as_os_str().as_encoded_bytes();
    if let Some(rest) = bytes.strip_prefix(prefix)
        && (rest.is_empty() || rest.first() == Some(&b'/') || prefix.last() == Some(&b'/'))
    {
        return Some(byte_segments(rest));
    }
    let rest = path.strip_prefix(base).ok()?;
    Some(segments(rest))
}

/// The normal components of a path as strings (non-UTF-8 parts become `\u{FFFD}`-free
/// lossy text is not possible without allocation, so such components never match a glob).
pub fn segments(path: &Path) -> Vec<&str> {
    byte_segments(path.as_os_str().as_encoded_bytes())
}

/// What [`Path::components`] calls normal, on Unix: the parts between slashes that are
/// not empty, `.` or `..`. The bytes cut are a path's, at ASCII `/`, so each part is the
/// text of one component (or not UTF-8, then `\u{0}`, which no glob matches).
fn byte_segments(bytes: &[u8]) -> Vec<&str> {
    bytes
        .split(|b| *b == b'/')
        .filter(|part| !matches!(*part, b"" | b"." | b".."))
        .map(|part| std::str::from_utf8(part).unwrap_or("\u{0}"))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The byte reading gives what `Path::components` gives, over paths spelled every way
    /// a path can be (doubled, trailing and `.` slashes, `..`, non-UTF-8 names).
    #[test]
    fn segments_from_bytes_agree_with_components() {
        use std::os::unix::ffi::OsStrExt;
        fn reference<'a>(path: &'a Path, base: &Path) -> Option<Vec<&'a str>> {
            let rest = path.strip_prefix(base).ok()?;
            Some(
                rest.components()
                    .filter_map(|component| match component {
                        Component::Normal(part) => Some(part.to_str().unwrap_or("\u{0}")),
                        _ => None,
                    })
                    .collect(),
            )
        }
        let parts = [
            "", "/", "//", "a", "b", ".", "..", "ab", ".a", "a.", "\u{e9}",
        ];
        let mut paths: Vec<Vec<u8>> = vec![b"/r/\xff/x".to_vec(), b"\xfe".to_vec()];
        for one in parts {
            for two in parts {
                for three in parts {
                    paths.push(format!("{one}/{two}{three}").into_bytes());
                    paths.push(format!("{one}{two}/{three}").into_bytes());
                    paths.push(format!("/{one}/{two}/{three}").into_bytes());
                }
            }
        }
        let bases: Vec<&[u8]> = vec![
            b"", b"/", b"/a", b"/a/", b"/a/.", b"/a/..", b"a", b"a/b", b"/a//b", b"//a", b".",
            b"/\xff",
        ];
        for path in &paths {
            let path = Path::new(std::ffi::OsStr::from_bytes(path));
            assert_eq!(
                segments(path),
                reference(path, Path::new("")).unwrap(),
                "{path:?}"
            );
            for base in &bases {
                let base = Path::new(std::ffi::OsStr::from_bytes(base));
                assert_eq!(
                    relative_segments(path, base),
                    reference(path, base),
                    "{path:?} under {base:?}"
                );
            }
        }
    }

    #[test]
    fn dot_dot_and_home() {
        let base = Path::new("/repo/billing/export");
        assert_eq!(
            absolutize(base, "../../.env", None),
            PathBuf::from("/repo/.env")
        );
        assert_eq!(
            absolutize(base, "~/.ssh/id_rsa", Some(Path::new("/home/a"))),
            PathBuf::from("/home/a/.ssh/id_rsa")
        );
        assert_eq!(absolutize(base, "/../../etc", None), PathBuf::from("/etc"));
        assert_eq!(
            absolutize(base, "./a/./b", None),
            PathBuf::from("/repo/billing/export/a/b")
        );
    }

    /// A file system of links only: every other path exists or not, it does not matter.
    struct Links(Vec<(&'static str, &'static str)>);

    impl Fs for Links {
        fn read_link(&self, path: &Path) -> Option<PathBuf> {
            self.0
                .iter()
                .find(|(link, _)| Path::new(link) == path)
                .map(|(_, target)| PathBuf::from(target))
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
            None
        }
    }

    fn kernel(fs: &Links, base: &str, path: &str) -> Result<PathBuf, Unresolvable> {
        resolve(fs, Path::new(base), path, Some(Path::new("/home/a")))
    }

    #[test]
    fn dot_dot_after_a_link_climbs_from_where_the_link_leads() {
        let fs = Links(vec![("/repo/billing/export/s", ".")]);
        let base = "/repo/billing/export";
        assert_eq!(
            kernel(&fs, base, "s/s/../../customer_data/eu.csv"),
            Ok(PathBuf::from("/repo/customer_data/eu.csv"))
        );
        // As text the same path stays in the folder.
        assert_eq!(
            absolutize(Path::new(base), "s/s/../../customer_data/eu.csv", None),
            PathBuf::from("/repo/billing/export/customer_data/eu.csv")
        );
        let fs = Links(vec![("/repo/billing/export/d", "../../docs/billing")]);
        assert_eq!(
            kernel(&fs, base, "d/../../.env"),
            Ok(PathBuf::from("/repo/.env"))
        );
        assert_eq!(
            kernel(&fs, base, "d/export.md"),
            Ok(PathBuf::from("/repo/docs/billing/export.md"))
        );
    }

    #[test]
    fn links_in_links_absolute_links_and_the_base() {
        let fs = Links(vec![
            ("/repo/a/c2", "c1"),
            ("/repo/a/c1", "/data"),
            ("/work", "/repo"),
        ]);
        assert_eq!(kernel(&fs, "/work/a", "c2/x"), Ok(PathBuf::from("/data/x")));
        assert_eq!(
            kernel(&fs, "/work/a", "../a/./c2/../y"),
            Ok(PathBuf::from("/y"))
        );
        assert_eq!(kernel(&fs, "/work", "~/x"), Ok(PathBuf::from("/home/a/x")));
        // Missing parts are taken as written.
        assert_eq!(
            kernel(&fs, "/work", "new/dir/../f"),
            Ok(PathBuf::from("/repo/new/f"))
        );
    }

    #[test]
    fn loops_and_patterns_before_dot_dot_are_unresolvable() {
        let fs = Links(vec![("/r/a", "b"), ("/r/b", "a")]);
        assert_eq!(kernel(&fs, "/r", "a/x"), Err(Unresolvable::TooManyLinks));
        let fs = Links(vec![]);
        assert_eq!(
            kernel(&fs, "/r", "*/../x"),
            Err(Unresolvable::PatternThenDotDot)
        );
        assert_eq!(kernel(&fs, "/r", "x/*.py"), Ok(PathBuf::from("/r/x/*.py")));
    }

    #[test]
    fn holding_folders() {
        assert!(holds(Path::new("/r/a"), Path::new("/r/a/s")));
        assert!(holds(Path::new("/"), Path::new("/r/a/s")));
        assert!(!holds(Path::new("/r/a/s"), Path::new("/r/a/s")));
        assert!(!holds(Path::new("/r/b"), Path::new("/r/a/s")));
    }

    #[test]
    fn relative() {
        let path = PathBuf::from("/repo/a/b");
        assert_eq!(
            relative_segments(&path, Path::new("/repo")),
            Some(vec!["a", "b"])
        );
        assert_eq!(relative_segments(&path, Path::new("/other")), None);
    }
}
