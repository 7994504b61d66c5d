//! Lexical path normalisation and the split into segments that globs match.

use std::path::{Component, Path, PathBuf};

/// Join `path` onto `base` unless it is absolute, expand a leading `~`, and resolve `.` and
/// `..` lexically. `..` above the file-system root stays at the root.
pub fn absolutize(base: &Path, path: &str, home: Option<&Path>) -> PathBuf {
    let joined = if path == "~" {
        home.map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"))
    } else if let Some(rest) = path.strip_prefix("~/") {
        home.map(|h| h.join(rest))
            .unwrap_or_else(|| PathBuf::from("/").join(rest))
    } else if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        base.join(path)
    };
    normalize(&joined)
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
pub fn relative_segments<'a>(path: &'a Path, base: &Path) -> Option<Vec<&'a str>> {
    let rest = path.strip_prefix(base).ok()?;
    Some(segments(rest))
}

/// The normal components of a path as strings (non-UTF-8 parts become `\u{FFFD}`-free
/// lossy text is not possible without allocation, so such components never match a glob).
pub fn segments(path: &Path) -> Vec<&str> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(part) => Some(part.to_str().unwrap_or("\u{0}")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
