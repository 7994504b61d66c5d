//! A repository protected by mandate, as it is on disk.
//!
//! The policy core is pure; this crate does the I/O around it: it finds the repository
//! root, reads and layers the organisation and repository policies, keeps the active run
//! of the workspace (which contract is bound, whether the run was stopped), and answers
//! the file-system questions the evaluator asks ([`RealFs`]).
//!
//! Where things live:
//!
//! ```text
//! <repo>/mandate.toml                         the repository policy
//! $MANDATE_ORG_POLICY or /etc/mandate/policy.toml   the organisation policy (optional)
//! <records.dir>/runs/<run-id>/                 the run record (mandate-record)
//! <records.dir>/workspaces/<key>/state.json   the workspace's active run
//! <records.dir>/workspaces/<key>/contract.toml the contract as it was when the run started
//! <records.dir>/workspaces/<key>/marks/         events that could not be recorded ([`marks`])
//! <records.dir>/workspaces/<key>/sessions/      each session's place in its transcript
//! <records.dir>/keys/                         the signing key (mode 0600)
//! <records.dir>/killswitch.jsonl              the kill switch's append-only log
//! <records.dir>/killswitch.json               what is off now (derived; the hook reads it)
//! <records.dir>/approvals/<id>.json           named-reviewer approval requests
//! <records.dir>/mcp-pins/<server>.json        pinned MCP tool digests
//! <records.dir>/mcp-pins/drifted.json         tools whose definition drifted (the hook reads it)
//! ~/.cache/mandate/parsed/                    parsed policies and contracts ([`parsed`])
//! ```
//!
//! The contract is snapshotted at `mandate start`, so editing the file afterwards changes
//! nothing until the delegating user starts again.

pub mod approvals;
mod archive;
pub mod carried;
mod fs;
mod git;
pub mod killswitch;
pub mod machine_report;
pub mod marks;
pub mod mcp_config;
pub mod mcp_pins;
pub mod outbox;
pub mod parsed;
pub mod recorder;
pub mod records;
pub mod remote;
mod state;

pub use fs::RealFs;
pub use state::{ActiveRun, RunState, StartConfig, StopMark, create_private_dir, write_atomic};

use std::path::{Path, PathBuf};

use mandate_policy::format::{Contract, Policy};
use mandate_policy::{Engine, FormatError, Sources, parse_contract};

/// The file name of the repository policy.
pub const POLICY_FILE: &str = "mandate.toml";
/// The organisation policy, unless `MANDATE_ORG_POLICY` names another.
pub const ORG_POLICY_FILE: &str = "/etc/mandate/policy.toml";

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(
        "no mandate.toml found in `{0}` or above it: this repository is not protected by mandate; \
         run `mandate init` at its root"
    )]
    NoPolicy(PathBuf),
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{0}")]
    Invalid(String),
}

/// A repository's policies, loaded.
pub struct Project {
    pub root: PathBuf,
    pub policy_path: PathBuf,
    pub policy: Policy,
    pub policy_digest: String,
    pub org: Option<(PathBuf, Policy)>,
    /// The digest of the organisation policy's text, when there is one.
    pub org_digest: Option<String>,
    pub home: Option<PathBuf>,
}

impl Project {
    /// Find the repository: `root` when given, else the nearest folder at or above
    /// `start` that holds a `mandate.toml`.
    pub fn discover(start: &Path, root: Option<&Path>) -> Result<Project, ProjectError> {
        let root = match root {
            Some(root) => root.to_path_buf(),
            None => find_root(start).ok_or_else(|| ProjectError::NoPolicy(start.to_path_buf()))?,
        };
        let root = std::fs::canonicalize(&root).map_err(|source| ProjectError::Read {
            path: root.clone(),
            source,
        })?;
        let policy_path = root.join(POLICY_FILE);
        let text = read(&policy_path).map_err(|error| match error {
            ProjectError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ProjectError::NoPolicy(root.clone())
            }
            other => other,
        })?;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let (policy, policy_digest) = parsed::policy(home.as_deref(), &policy_path, &text)?;
        let org_path = std::env::var_os("MANDATE_ORG_POLICY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(ORG_POLICY_FILE));
        let mut org_digest = None;
        let org = match std::fs::read_to_string(&org_path) {
            Ok(text) => {
                let (org, digest) = parsed::policy(home.as_deref(), &org_path, &text)?;
                org_digest = Some(digest);
                Some((org_path.clone(), org))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(ProjectError::Read {
                    path: org_path,
                    source,
                });
            }
        };
        Ok(Project {
            policy_digest,
            root,
            policy_path,
            policy,
            org,
            org_digest,
            home,
        })
    }

    /// The digest of the organisation policy's text, or `none` when there is none.
    pub fn org_policy_digest(&self) -> String {
        self.org_digest
            .clone()
            .unwrap_or_else(|| "none".to_string())
    }

    /// Where run records live: `records.dir` (organisation first), `~` expanded.
    pub fn records_dir(&self) -> PathBuf {
        let configured = self
            .org
            .as_ref()
            .and_then(|(_, org)| org.records.dir.clone())
            .or_else(|| self.policy.records.dir.clone())
            .unwrap_or_else(|| "~/.local/share/mandate".to_string());
        expand_home(&configured, self.home.as_deref())
    }

    /// The folder holding this workspace's active-run state.
    pub fn workspace_dir(&self) -> PathBuf {
        let digest = sha256_hex(self.root.to_string_lossy().as_bytes());
        let key = digest.get(..16).unwrap_or(&digest).to_string();
        self.records_dir().join("workspaces").join(key)
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.records_dir().join("runs")
    }

    pub fn key_path(&self) -> PathBuf {
        self.records_dir().join("keys").join("signing.key")
    }

    /// The configuration outside the repository this process runs with, as `mandate
    /// start` records it.
    pub fn start_config(&self) -> StartConfig {
        StartConfig {
            org_policy: self.org.as_ref().map(|(path, _)| path.clone()),
            records_dir: self.records_dir(),
            server: remote::server_url(self).map(str::to_string),
            env_token_sha256: std::env::var("MANDATE_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(|t| sha256_hex(t.trim().as_bytes())),
        }
    }

    /// Paths the agent may never write beyond the built-in ones.
    pub fn protected_paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.records_dir()];
        if let Some(home) = &self.home {
            paths.push(parsed::cache_dir(home));
            // Where a failure to record is remembered when the record store takes nothing.
            paths.push(marks::fallback_root(home));
        }
        if let Some((org, _)) = &self.org {
            paths.push(org.clone());
        }
        if let Ok(exe) = std::env::current_exe() {
            paths.push(exe);
        }
        // Codex's user config (hook trust, sandbox, rules) when it is not under HOME.
        for variable in ["CODEX_HOME", "COPILOT_HOME"] {
            if let Some(dir) = std::env::var_os(variable).filter(|d| !d.is_empty()) {
                paths.push(PathBuf::from(dir));
            }
        }
        paths
    }

    /// Compile the policies and `contract` into an engine.
    pub fn engine(&self, contract: Option<(&Path, &Contract)>) -> Result<Engine, ProjectError> {
        self.build_engine(contract, Engine::new)
    }

    /// The engine the hook uses: each rule compiled when a call first needs it
    /// ([`Engine::new_lazy`]).
    /// The contract is handed over: the engine keeps it ([`Engine::new_lazy_owning`]).
    pub fn hook_engine(&self, contract: Option<(&Path, Contract)>) -> Result<Engine, ProjectError> {
        self.build_engine(None, |sources| Engine::new_lazy_owning(sources, contract))
    }

    fn build_engine(
        &self,
        contract: Option<(&Path, &Contract)>,
        build: impl FnOnce(&Sources<'_>) -> Result<Engine, FormatError>,
    ) -> Result<Engine, ProjectError> {
        let protected = self.protected_paths();
        let engine = build(&Sources {
            org: self.org.as_ref().map(|(p, o)| (p.as_path(), o)),
            repo: (&self.policy_path, &self.policy),
            contract,
            root: &self.root,
            home: self.home.as_deref(),
            protected: &protected,
        })?;
        // The evidence verb is this binary: the hook runs as the path `install` wrote.
        Ok(
            match std::env::current_exe().and_then(std::fs::canonicalize) {
                Ok(binary) => engine.with_mandate_binary(binary),
                Err(_) => engine.with_mandate_binary(PathBuf::from("/nonexistent/mandate")),
            },
        )
    }

    /// Load a contract file and check its examples against this project's policies.
    pub fn load_contract(&self, path: &Path) -> Result<(Contract, String), ProjectError> {
        let text = read(path)?;
        let contract = parse_contract(path, &text)?;
        let engine = self.engine(Some((path, &contract)))?;
        let failures = engine.check_examples(&RealFs::new(&self.root));
        if let Some(first) = failures.first() {
            let list = failures
                .iter()
                .map(|f| {
                    format!(
                        "example {} ({}): expected {}, got {}: {}",
                        f.index + 1,
                        f.tool,
                        f.expected,
                        f.got,
                        f.reason
                    )
                })
                .collect::<Vec<_>>()
                .join("\n  ");
            return Err(ProjectError::Format(FormatError::new(
                path,
                Some(format!("example[{}]", first.index)),
                format!("the contract misjudges its own examples:\n  {list}"),
            )));
        }
        Ok((contract, text))
    }
}

/// The nearest folder at or above `start` with a `mandate.toml`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(POLICY_FILE).is_file())
        .map(Path::to_path_buf)
}

pub fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ if path == "~" => home.map(Path::to_path_buf).unwrap_or_default(),
        _ => PathBuf::from(path),
    }
}

pub fn read(path: &Path) -> Result<String, ProjectError> {
    std::fs::read_to_string(path).map_err(|source| ProjectError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    mandate_record::digest::sha256_hex(bytes)
}

/// The identity of the person at the keyboard: `MANDATE_USER`, else git's `user.email`.
pub fn current_user(root: &Path) -> Option<String> {
    if let Ok(user) = std::env::var("MANDATE_USER")
        && !user.trim().is_empty()
    {
        return Some(user.trim().to_string());
    }
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["config", "user.email"])
        .output()
        .ok()?;
    let email = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (!email.is_empty()).then_some(email)
}

/// The operating-system user, recorded beside the claimed identity.
pub fn os_user() -> String {
    if let Ok(user) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        return user;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata("/proc/self") {
            let uid = meta.uid();
            let name = std::fs::read_to_string("/etc/passwd")
                .ok()
                .and_then(|passwd| {
                    passwd.lines().find_map(|line| {
                        let mut fields = line.split(':');
                        let name = fields.next()?;
                        let id = fields.nth(1)?;
                        (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
                    })
                });
            return name.unwrap_or_else(|| format!("uid {uid}"));
        }
    }
    "unknown".to_string()
}
