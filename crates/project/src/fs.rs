//! The real file system, answering the evaluator's questions with bounded work.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mandate_policy::Fs;
use mandate_policy::glob::wildcard_match;
use mandate_policy::path::resolve_path;

/// How many entries a tree check or glob expansion may visit before it gives up (and the
/// evaluator takes the conservative answer).
const MAX_ENTRIES: usize = 20_000;

/// The file system as the kernel sees it; links are followed where the kernel would.
pub struct RealFs {
    root: PathBuf,
    /// What git keeps under a path, asked once per call however many rules need it.
    history: Mutex<Vec<(PathBuf, Option<Vec<PathBuf>>)>>,
    /// The walk of each folder a tree check searched, so that every rule asking about
    /// the same folder replays one walk instead of reading the folder again: a search of
    /// a folder met each read-block rule with its own walk (BENCHMARKS.md, "Issue 14").
    walks: Mutex<Vec<(PathBuf, Arc<Walk>)>>,
}

/// The paths a tree check of one folder tests, in the order it tests them, and how the
/// walk ended. [`RealFs::tree_has`] is this list replayed with the caller's test, so a
/// test that holds for an earlier path answers before the walk's end, as a walk that
/// stopped at the first hit would.
#[derive(Debug, PartialEq, Eq)]
struct Walk {
    tested: Vec<PathBuf>,
    /// `Some(false)` when the walk read the whole tree; `None` when it gave up (too many
    /// entries, or a link that could not be followed).
    end: Option<bool>,
}

impl RealFs {
    pub fn new(root: &Path) -> RealFs {
        RealFs {
            root: root.to_path_buf(),
            history: Mutex::new(Vec::new()),
            walks: Mutex::new(Vec::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The walk of `dir`, read once per `RealFs` (one call's judgement); `None` only when
    /// the memo cannot be locked, which the caller treats as an unknown tree.
    fn walk(&self, dir: &Path) -> Option<Arc<Walk>> {
        let mut walks = self.walks.lock().ok()?;
        if let Some((_, walk)) = walks.iter().find(|(walked, _)| walked == dir) {
            return Some(walk.clone());
        }
        let walk = Arc::new(self.read_tree(dir));
        walks.push((dir.to_path_buf(), walk.clone()));
        Some(walk)
    }

    /// Every path a search of `dir` that follows links reads: a link is tested by its name
    /// and by where it leads, and a linked folder is searched too (each real folder once).
    fn read_tree(&self, dir: &Path) -> Walk {
        let mut tested = vec![dir.to_path_buf()];
        let mut stack = vec![dir.to_path_buf()];
        let mut walked = std::collections::HashSet::new();
        let mut visited = 0usize;
        while let Some(next) = stack.pop() {
            if !walked.insert(next.clone()) {
                continue;
            }
            tested.push(next.clone());
            let Ok(entries) = std::fs::read_dir(&next) else {
                continue;
            };
            for entry in entries.flatten() {
                visited += 1;
                if visited > MAX_ENTRIES {
                    return Walk { tested, end: None };
                }
                let path = entry.path();
                tested.push(path.clone());
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_symlink() {
                    let Ok(real) = resolve_path(self, &path) else {
                        return Walk { tested, end: None };
                    };
                    tested.push(real.clone());
                    if real.is_dir() {
                        stack.push(real);
                    }
                }
            }
        }
        Walk {
            tested,
            end: Some(false),
        }
    }
}

impl Fs for RealFs {
    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        std::fs::read_link(path).ok()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn program_on_path(&self, name: &str) -> Option<PathBuf> {
        // As the shell looks it up: the first executable file of that name on `PATH`.
        use std::os::unix::fs::PermissionsExt;
        // A relative entry (`.`, empty) before the match depends on the directory the
        // command runs in: unknown.
        let paths = std::env::var_os("PATH")?;
        for dir in std::env::split_paths(&paths) {
            if !dir.is_absolute() {
                return None;
            }
            let candidate = dir.join(name);
            if std::fs::metadata(&candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            {
                return Some(candidate);
            }
        }
        None
    }

    fn expand(&self, pattern: &Path) -> Option<Vec<PathBuf>> {
        let mut current = vec![PathBuf::from("/")];
        let mut visited = 0usize;
        for component in pattern.components().skip(1) {
            let part = component.as_os_str().to_str()?;
            let mut next = Vec::new();
            if part.contains(['*', '?', '[']) {
                for dir in &current {
                    let Ok(entries) = std::fs::read_dir(dir) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        visited += 1;
                        if visited > MAX_ENTRIES {
                            return None;
                        }
                        let name = entry.file_name();
                        let Some(name) = name.to_str() else {
                            // A name that is not UTF-8 cannot be judged: unknown.
                            return None;
                        };
                        let hidden_ok = !name.starts_with('.') || part.starts_with('.');
                        if hidden_ok && wildcard_match(part, name) {
                            next.push(dir.join(name));
                        }
                    }
                }
            } else {
                next = current.iter().map(|dir| dir.join(part)).collect();
            }
            current = next;
        }
        // What each name really is: a name that is a link (or sits under one) is judged
        // where it leads as well.
        let mut named = Vec::new();
        for path in current {
            if std::fs::symlink_metadata(&path).is_err() {
                continue;
            }
            let real = resolve_path(self, &path).ok()?;
            if real != path {
                named.push(real);
            }
            named.push(path);
        }
        Some(named)
    }

    fn tree_has(&self, dir: &Path, test: &dyn Fn(&Path) -> bool) -> Option<bool> {
        let walk = self.walk(dir)?;
        if walk.tested.iter().any(|path| test(path)) {
            return Some(true);
        }
        walk.end
    }

    fn links_under(&self, dir: &Path) -> Option<Vec<PathBuf>> {
        let mut targets: Vec<PathBuf> = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        let mut walked = std::collections::HashSet::new();
        let mut visited = 0usize;
        let root = resolve_path(self, dir).ok()?;
        while let Some(next) = stack.pop() {
            if !walked.insert(next.clone()) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&next) else {
                continue;
            };
            for entry in entries.flatten() {
                visited += 1;
                if visited > MAX_ENTRIES {
                    return None;
                }
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_symlink() {
                    let real = resolve_path(self, &path).ok()?;
                    if !real.starts_with(&root) && !targets.contains(&real) {
                        targets.push(real.clone());
                    }
                    if real.is_dir() && !real.starts_with(&root) {
                        stack.push(real);
                    }
                }
            }
        }
        Some(targets)
    }

    fn git_top(&self, dir: &Path) -> Option<PathBuf> {
        // A `.git` folder, or a `.git` file (worktrees, submodules).
        dir.ancestors()
            .find(|folder| folder.join(".git").exists())
            .map(Path::to_path_buf)
    }

    fn history_has(&self, top: &Path, path: &Path, test: &dyn Fn(&Path) -> bool) -> Option<bool> {
        if self.tree_has(path, test)? {
            return Some(true);
        }
        let mut cache = self.history.lock().ok()?;
        let kept = match cache.iter().find(|(asked, _)| asked == path) {
            Some((_, kept)) => kept.clone(),
            None => {
                let kept = crate::git::history_paths(top, path);
                cache.push((path.to_path_buf(), kept.clone()));
                kept
            }
        }?;
        Some(kept.iter().any(|p| test(p)))
    }

    fn git_changed(&self, top: &Path, path: &Path) -> Option<Vec<PathBuf>> {
        crate::git::changed(top, path)
    }

    fn git_stashed(&self, top: &Path, entry: &str) -> Option<Vec<PathBuf>> {
        crate::git::stashed(top, entry)
    }

    fn archive_entries(
        &self,
        path: &Path,
        format: mandate_policy::ArchiveFormat,
    ) -> Result<Vec<mandate_policy::ArchiveEntry>, String> {
        crate::archive::entries(path, format)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn named(name: &'static str) -> impl Fn(&Path) -> bool {
        move |path: &Path| path.file_name().is_some_and(|n| n == name)
    }

    /// A tree check answers as a search that follows links: a file deep in the folder, a
    /// file in a folder a link leads to outside it, a link's own name and its target's.
    #[test]
    fn a_tree_check_sees_nested_files_and_what_links_lead_to() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("work");
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/deep.txt"), "x").unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.key"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("a/elsewhere")).unwrap();
        let fs = RealFs::new(root.path());
        assert_eq!(fs.tree_has(&dir, &named("deep.txt")), Some(true));
        assert_eq!(fs.tree_has(&dir, &named("secret.key")), Some(true));
        assert_eq!(fs.tree_has(&dir, &named("elsewhere")), Some(true));
        assert_eq!(fs.tree_has(&dir, &named("outside")), Some(true));
        assert_eq!(fs.tree_has(&dir, &named("work")), Some(true));
        assert_eq!(fs.tree_has(&dir, &named("absent.txt")), Some(false));
        // A link that leads nowhere real cannot be judged: unknown, unless a rule matched
        // a path the search met before it.
        std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
        let fs = RealFs::new(root.path());
        assert_eq!(fs.tree_has(&dir, &named("absent.txt")), None);
        assert_eq!(fs.tree_has(&dir, &named("work")), Some(true));
    }

    /// Every rule asking about one folder gets the answer of one walk: a file made after
    /// the first question is not read again by the same judgement (a new `RealFs` is).
    #[test]
    fn one_folder_is_walked_once_per_judgement() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("work");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("one.txt"), "x").unwrap();
        let fs = RealFs::new(root.path());
        assert_eq!(fs.tree_has(&dir, &named("one.txt")), Some(true));
        std::fs::write(dir.join("two.txt"), "x").unwrap();
        assert_eq!(fs.tree_has(&dir, &named("two.txt")), Some(false));
        assert_eq!(fs.walks.lock().unwrap().len(), 1);
        assert_eq!(
            RealFs::new(root.path()).tree_has(&dir, &named("two.txt")),
            Some(true)
        );
    }

    /// Past the entry bound the answer is unknown, unless a path met before it matched.
    #[test]
    fn a_tree_too_large_is_unknown_after_the_bound() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("big");
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..=MAX_ENTRIES {
            std::fs::write(dir.join(format!("f{i}")), "").unwrap();
        }
        let fs = RealFs::new(root.path());
        assert_eq!(fs.tree_has(&dir, &named("absent")), None);
        assert_eq!(fs.tree_has(&dir, &named("big")), Some(true));
        let walk = fs.walk(&dir).unwrap();
        assert_eq!(walk.end, None);
        // The folder twice (asked, then read), then the entries up to the bound.
        assert_eq!(walk.tested.len(), 2 + MAX_ENTRIES);
    }
}
