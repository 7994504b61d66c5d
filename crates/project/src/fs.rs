//! The real file system, answering the evaluator's questions with bounded work.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
}

impl RealFs {
    pub fn new(root: &Path) -> RealFs {
        RealFs {
            root: root.to_path_buf(),
            history: Mutex::new(Vec::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
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
        if test(dir) {
            return Some(true);
        }
        // A search that follows links reads what the links in the tree lead to: a link is
        // tested by its name and by where it leads, and a linked folder is searched too
        // (each real folder once).
        let mut stack = vec![dir.to_path_buf()];
        let mut walked = std::collections::HashSet::new();
        let mut visited = 0usize;
        while let Some(next) = stack.pop() {
            if !walked.insert(next.clone()) {
                continue;
            }
            if test(&next) {
                return Some(true);
            }
            let Ok(entries) = std::fs::read_dir(&next) else {
                continue;
            };
            for entry in entries.flatten() {
                visited += 1;
                if visited > MAX_ENTRIES {
                    return None;
                }
                let path = entry.path();
                if test(&path) {
                    return Some(true);
                }
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_symlink() {
                    let real = resolve_path(self, &path).ok()?;
                    if test(&real) {
                        return Some(true);
                    }
                    if real.is_dir() {
                        stack.push(real);
                    }
                }
            }
        }
        Some(false)
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
