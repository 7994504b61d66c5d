//! Claude Code's OS sandbox, compiled from the policy and the active contract.
//!
//! Hooks judge tool calls, not what an allowed program does once it runs: `pytest` runs
//! whatever `conftest.py` the agent wrote. Claude Code's sandbox (bubblewrap on Linux,
//! Seatbelt on macOS) holds inside those programs, so mandate keeps it in step with the
//! task's box:
//!
//! - read blocks become `filesystem.denyRead`, write blocks and mandate's protected files
//!   `filesystem.denyWrite`, write scope outside the repository `filesystem.allowWrite`;
//! - the record store and signing key are unreadable and unwritable;
//! - the expose scope becomes `network.allowedDomains` (empty: nothing leaves);
//! - `failIfUnavailable` and `allowUnsandboxedCommands: false`, so a missing sandbox
//!   refuses commands instead of running them bare.
//!
//! The sandbox takes paths, not mandate's globs, so globs are expanded against the
//! repository when the settings are written (`mandate install`, `mandate start`). A
//! blocked file created later would be unknown to the sandbox until the next start, so the
//! hook refuses every write that creates a path a read block covers (issue 14, item 6);
//! what a program the agent may run does with the files it reads is listed by `mandate
//! check` ([`program_files_report`]). What the sandbox cannot express — "write only here" inside the working
//! directory — stays with the hook.

use std::path::{Path, PathBuf};

use mandate_policy::format::{Contract, TouchLists};
use mandate_policy::glob::PathGlob;
use mandate_project::Project;
use serde_json::{Value, json};

/// How many files a glob may expand to before the folder holding them is denied whole.
const MAX_EXPANSION: usize = 2_000;

/// The `sandbox` settings object for the project and contract.
pub fn sandbox_settings(project: &Project, contract: Option<&Contract>, binary: &Path) -> Value {
    let mut blocks: Vec<&TouchLists> = Vec::new();
    if let Some((_, org)) = &project.org {
        blocks.push(&org.block);
    }
    blocks.push(&project.policy.block);
    if let Some(contract) = contract {
        blocks.push(&contract.block);
    }
    let mut deny_read: Vec<String> = Vec::new();
    let mut deny_write: Vec<String> = Vec::new();
    for lists in &blocks {
        for glob in &lists.read {
            deny_read.extend(expand(project, glob));
        }
        for glob in &lists.write {
            deny_write.extend(expand(project, glob));
        }
    }
    if let Some(contract) = contract {
        for stop in &contract.stop {
            for glob in &stop.write {
                deny_write.extend(expand(project, glob));
            }
        }
    }
    let records = project.records_dir();
    deny_read.push(path_string(
        &project
            .key_path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or(records.clone()),
    ));
    deny_write.push(path_string(&records));
    if let Some(home) = &project.home {
        // Parsed policies and contracts: what the hook reads instead of the files.
        deny_write.push(path_string(&mandate_project::parsed::cache_dir(home)));
    }
    for protected in ["mandate.toml", ".mandate", ".mcp.json", ".claude"] {
        deny_write.push(path_string(&project.root.join(protected)));
    }
    deny_write.extend(protected_names(project));
    if let Some((org, _)) = &project.org {
        deny_write.push(path_string(org));
    }
    let mut allow_write: Vec<String> = Vec::new();
    let mut domains: Vec<String> = Vec::new();
    if let Some(contract) = contract {
        for glob in &contract.allow.write {
            // Inside the repository writes are already possible; only outside paths need adding.
            if glob.starts_with('/') || glob.starts_with("~/") {
                allow_write.extend(expand(project, glob));
            }
        }
        for target in &contract.allow.expose {
            if target != "websearch" {
                domains.push(target.clone());
            }
        }
    }
    dedupe(&mut deny_read);
    dedupe(&mut deny_write);
    dedupe(&mut allow_write);
    dedupe(&mut domains);
    // `mandate evidence` appends to the record store, which sandboxed programs may not
    // write; the hook only lets it run alone on its line.
    let excluded = vec![
        "mandate evidence *".to_string(),
        format!("{} evidence *", binary.display()),
    ];
    json!({
        "enabled": true,
        "failIfUnavailable": true,
        "allowUnsandboxedCommands": false,
        "excludedCommands": excluded,
        "filesystem": {
            "denyRead": deny_read,
            "denyWrite": deny_write,
            "allowWrite": allow_write,
        },
        "network": { "allowedDomains": domains },
    })
}

/// The files and folders with a protected name ([`mandate_policy::PROTECTED_NAMES`]) that
/// exist in the repository now, at any depth. The repository's own `.git` stays writable
/// to git (commits, stashes and checkouts write its objects, index and refs) except for
/// what makes git run programs: its config, hooks and info folder. A protected name
/// created after this runs is refused by the hook; the sandbox sees it at the next start.
fn protected_names(project: &Project) -> Vec<String> {
    let mut found = Vec::new();
    for name in mandate_policy::PROTECTED_NAMES {
        let node = name.trim_end_matches("/**");
        for path in expand(project, &format!("**/{node}")) {
            if Path::new(&path) == project.root.join(".git") {
                for inner in ["config", "hooks", "info", "modules"] {
                    let inner = project.root.join(".git").join(inner);
                    if inner.exists() {
                        found.push(path_string(&inner));
                    }
                }
                continue;
            }
            found.push(path);
        }
    }
    found
}

fn dedupe(items: &mut Vec<String>) {
    let mut seen = Vec::new();
    items.retain(|item| {
        if seen.contains(item) {
            false
        } else {
            seen.push(item.clone());
            true
        }
    });
}

fn path_string(path: &Path) -> String {
    path.display().to_string()
}

/// The absolute paths a mandate glob names: its literal leading folder when the rest is
/// `**`, else every existing match (bounded), else the literal prefix.
pub fn expand(project: &Project, glob: &str) -> Vec<String> {
    let (base, rest) = if let Some(rest) = glob.strip_prefix("~/") {
        (
            project.home.clone().unwrap_or_else(|| PathBuf::from("/")),
            rest,
        )
    } else if let Some(rest) = glob.strip_prefix('/') {
        (PathBuf::from("/"), rest)
    } else {
        (project.root.clone(), glob.trim_start_matches("./"))
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let literal: Vec<&str> = segments
        .iter()
        .take_while(|s| !s.contains(['*', '?', '[', '{']))
        .copied()
        .collect();
    let prefix = literal.iter().fold(base.clone(), |path, s| path.join(s));
    let remainder = segments.get(literal.len()..).unwrap_or(&[]);
    if remainder.is_empty() || remainder.iter().all(|s| *s == "**") {
        return vec![path_string(&prefix)];
    }
    let Ok(compiled) = PathGlob::new(rest) else {
        return vec![path_string(&prefix)];
    };
    let mut found = Vec::new();
    let mut stack = vec![prefix.clone()];
    let mut visited = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            visited += 1;
            if visited > 50_000 || found.len() > MAX_EXPANSION {
                // Too many to list: deny the whole folder the glob starts from.
                return vec![path_string(&prefix)];
            }
            let path = entry.path();
            let relative: Vec<&str> = path
                .strip_prefix(&base)
                .map(|p| p.iter().filter_map(|c| c.to_str()).collect())
                .unwrap_or_default();
            if compiled.matches(&relative) {
                found.push(path_string(&path));
                continue;
            }
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && entry.file_name() != ".git" && compiled.may_match_under(&relative) {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The files under the read blocks of the policies and `contract` that exist now, with
/// their distinctive values (`mandate_policy::carried::distinctive`): what `mandate start`
/// fingerprints so that none of it leaves through a later call. Bounded: at most
/// [`MAX_SENSITIVE_FILES`] files, the first [`MAX_SENSITIVE_BYTES`] of each; binary files
/// are skipped.
pub fn blocked_values(project: &Project, contract: &Contract) -> Vec<(String, String)> {
    let mut globs: Vec<&String> = Vec::new();
    if let Some((_, org)) = &project.org {
        globs.extend(&org.block.read);
    }
    globs.extend(&project.policy.block.read);
    globs.extend(&contract.block.read);
    let mut files: Vec<PathBuf> = Vec::new();
    for glob in globs {
        for found in expand(project, glob) {
            let mut stack = vec![PathBuf::from(found)];
            while let Some(path) = stack.pop() {
                if files.len() >= MAX_SENSITIVE_FILES {
                    break;
                }
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    if let Ok(entries) = std::fs::read_dir(&path) {
                        stack.extend(entries.flatten().map(|e| e.path()));
                    }
                } else if meta.is_file() && !files.contains(&path) {
                    files.push(path);
                }
            }
        }
    }
    let mut values = Vec::new();
    for file in files {
        let Ok(handle) = std::fs::File::open(&file) else {
            continue;
        };
        let mut bytes = Vec::new();
        if std::io::Read::read_to_end(
            &mut std::io::Read::take(handle, MAX_SENSITIVE_BYTES),
            &mut bytes,
        )
        .is_err()
            || bytes.iter().take(8192).any(|b| *b == 0)
        {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        let label = file
            .strip_prefix(&project.root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for value in mandate_policy::carried::distinctive(&text, true) {
            values.push((value.to_string(), label.clone()));
        }
    }
    values
}

/// The most blocked files `mandate start` fingerprints.
const MAX_SENSITIVE_FILES: usize = 500;
/// How much of each it reads.
const MAX_SENSITIVE_BYTES: u64 = 256 * 1024;

/// Programs that load code from the folders they run in.
const CODE_LOADERS: &[&str] = &[
    "pytest", "python", "python3", "tox", "nox", "make", "npm", "npx", "yarn", "pnpm", "node",
    "cargo", "go", "mvn", "gradle", "bash", "sh", "ruby", "rake", "bundle", "jest", "vitest",
    "php", "perl",
];

/// The warning for a contract that lets the agent write code and run programs that load
/// it: one warning naming every such execute rule.
pub fn write_then_execute(contract: &Contract) -> Vec<String> {
    if contract.allow.write.is_empty() {
        return Vec::new();
    }
    let loaders: Vec<String> = contract
        .allow
        .execute
        .iter()
        .filter(|pattern| {
            let program = pattern.split_whitespace().next().unwrap_or("");
            CODE_LOADERS.contains(&program.rsplit('/').next().unwrap_or(program))
        })
        .map(|pattern| format!("`{pattern}`"))
        .collect();
    if loaders.is_empty() {
        return Vec::new();
    }
    let writes: Vec<String> = contract
        .allow
        .write
        .iter()
        .map(|w| format!("`{w}`"))
        .collect();
    vec![format!(
        "the contract lets the agent write {} and run {}, which can load code from what it \
         wrote (a conftest.py, a Makefile, a package script, a Go test). The hook cannot see \
         inside those programs. The OS sandbox mandate writes (`mandate install`) still keeps \
         them from reading blocked paths, writing blocked or protected paths and reaching \
         hosts outside the expose scope; it does not keep them from writing other files of \
         the working directory.",
        writes.join(", "),
        loaders.join(", ")
    )]
}

/// Files that change what a program does, by program: the file name and what the program
/// does with it.
const PROGRAM_FILES: &[(&str, &[(&str, &str)])] = &[
    (
        "pytest",
        &[
            ("conftest.py", "runs it as code when it collects tests"),
            (
                "pytest.ini",
                "takes options from it (`addopts`, plugins with `-p`)",
            ),
            (
                "pyproject.toml",
                "takes options from `[tool.pytest.ini_options]`",
            ),
            ("setup.cfg", "takes options from `[tool:pytest]`"),
            ("tox.ini", "takes options from `[pytest]`"),
        ],
    ),
    (
        "ruff",
        &[
            (
                "ruff.toml",
                "takes its settings from it (`extend` can point elsewhere)",
            ),
            (".ruff.toml", "takes its settings from it"),
            ("pyproject.toml", "takes its settings from `[tool.ruff]`"),
        ],
    ),
    (
        "npm",
        &[(
            "package.json",
            "runs its `scripts` (and `pre`/`post` scripts) as shell commands",
        )],
    ),
    (
        "yarn",
        &[("package.json", "runs its `scripts` as shell commands")],
    ),
    (
        "pnpm",
        &[("package.json", "runs its `scripts` as shell commands")],
    ),
    (
        "make",
        &[("Makefile", "runs its recipes as shell commands")],
    ),
];

/// For `mandate check`: the files in the contract's write scope that change what a program
/// its execute rules allow does, which of them exist now, and what the OS layer does and
/// does not hold for them. Empty when the contract lets the agent run none of these
/// programs or write none of these files.
pub fn program_files_report(project: &Project, contract: &Contract) -> Vec<String> {
    let writable: Vec<PathGlob> = contract
        .allow
        .write
        .iter()
        .filter_map(|glob| PathGlob::new(glob).ok())
        .collect();
    let mut lines = Vec::new();
    let mut seen_programs: Vec<&str> = Vec::new();
    for pattern in &contract.allow.execute {
        let program = pattern.split_whitespace().next().unwrap_or("");
        let base = program.rsplit('/').next().unwrap_or(program);
        let Some((name, files)) = PROGRAM_FILES.iter().find(|(name, _)| *name == base) else {
            continue;
        };
        if seen_programs.contains(name) {
            continue;
        }
        seen_programs.push(name);
        for (file, what) in *files {
            // Where the agent may put this file: a write glob that can hold it.
            let scopes: Vec<&String> = contract
                .allow
                .write
                .iter()
                .zip(&writable)
                .filter(|(_, glob)| {
                    let probe = glob
                        .as_str()
                        .split('/')
                        .map(|s| {
                            if s.contains(['*', '?', '[', '{']) {
                                "x"
                            } else {
                                s
                            }
                        })
                        .collect::<Vec<_>>();
                    let mut probe: Vec<&str> =
                        probe.into_iter().take_while(|s| *s != "x").collect();
                    probe.push(file);
                    glob.matches(&probe)
                })
                .map(|(text, _)| text)
                .collect();
            if scopes.is_empty() {
                continue;
            }
            let existing = expand(project, &format!("**/{file}"));
            let inside: Vec<String> = existing
                .iter()
                .filter_map(|path| {
                    let relative = Path::new(path).strip_prefix(&project.root).ok()?;
                    let segments: Vec<&str> = relative.iter().filter_map(|c| c.to_str()).collect();
                    writable
                        .iter()
                        .any(|glob| glob.matches(&segments))
                        .then(|| relative.display().to_string())
                })
                .collect();
            lines.push(format!(
                "`{file}`, which the agent may write under {}{}: `{name}` {what}",
                scopes
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if inside.is_empty() {
                    " (none there now)".to_string()
                } else {
                    format!(
                        " (there now: {})",
                        inside
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ));
        }
    }
    if !lines.is_empty() {
        lines.push(
            "what the OS layer holds for them: the sandbox `mandate install` and `mandate \
             start` write keeps such a program from reading the blocked files (those that \
             existed when it was written; the hook refuses creating new ones), from writing \
             blocked or protected paths and from reaching hosts outside the expose scope. \
             It does not keep the program from running the code and commands these files \
             name, from writing anywhere else the agent may write, or from reading files \
             that no read block covers, inside or outside the repository."
                .to_string(),
        );
    }
    lines
}
