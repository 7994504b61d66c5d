//! The MCP servers Claude Code would start for a workspace, read from its configuration.
//!
//! Claude Code takes servers from four places (highest precedence first):
//!
//! ```text
//! managed   managed-mcp.json beside the managed settings file (/etc/claude-code/)
//! local     ~/.claude.json  projects.<workspace path>.mcpServers
//! project   <workspace>/.mcp.json  mcpServers      (each needs the user's approval)
//! user      ~/.claude.json  mcpServers             (every workspace)
//! ```
//!
//! A project server runs only once approved: `enableAllProjectMcpServers`, or its name in
//! `enabledMcpjsonServers`; `disabledMcpjsonServers` switches it off. Those keys live in
//! the settings files and in the workspace's entry of `~/.claude.json`. A managed
//! `deniedMcpServers` list switches servers off for everyone. `CLAUDE_CONFIG_DIR` moves
//! `~/.claude.json` and the user settings; `MANDATE_MANAGED_SETTINGS` and
//! `MANDATE_MANAGED_MCP` move the managed files (for tests).
//!
//! `${VAR}` and `${VAR:-default}` in commands, arguments, environment values, URLs and
//! headers are expanded as Claude Code does.
//!
//! This module only reads files; it never starts a server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mandate_policy::format::{McpServer, ToolClass};
use serde_json::Value;

pub const MANAGED_SETTINGS: &str = "/etc/claude-code/managed-settings.json";

/// Where a server's entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Managed,
    Local,
    Project,
    User,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Managed => "managed",
            Source::Local => "local",
            Source::Project => "project",
            Source::User => "user",
        }
    }
}

/// How Claude Code reaches the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
    Http {
        url: String,
        headers: BTreeMap<String, String>,
    },
    /// `sse` or a type this mandate does not speak.
    Other { kind: String },
}

impl Transport {
    /// A one-line description that shows no secrets (no environment values or headers).
    pub fn summary(&self) -> String {
        match self {
            Transport::Stdio { command, args, .. } => {
                let mut line = format!("stdio: {command}");
                for arg in args {
                    line.push(' ');
                    line.push_str(arg);
                }
                line
            }
            Transport::Http { url, .. } => format!("http: {url}"),
            Transport::Other { kind } => format!("{kind} (not supported by mandate's client)"),
        }
    }

    /// What identifies the server's code: command, arguments and URL, plus the *names*
    /// of its environment variables and headers (their values may be secrets).
    pub fn identity(&self) -> Value {
        match self {
            Transport::Stdio { command, args, env } => serde_json::json!({
                "type": "stdio", "command": command, "args": args,
                "env": env.keys().collect::<Vec<_>>(),
            }),
            Transport::Http { url, headers } => serde_json::json!({
                "type": "http", "url": url, "headers": headers.keys().collect::<Vec<_>>(),
            }),
            Transport::Other { kind } => serde_json::json!({ "type": kind }),
        }
    }
}

/// Whether Claude Code would start it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Activation {
    Active,
    /// A project server nobody approved yet: Claude Code will ask.
    AwaitingApproval,
    /// Switched off in `disabledMcpjsonServers` (the file that says so).
    DisabledInSettings(PathBuf),
    /// Named in the managed `deniedMcpServers`.
    DeniedByManaged,
}

impl Activation {
    pub fn describe(&self) -> String {
        match self {
            Activation::Active => "active".to_string(),
            Activation::AwaitingApproval => {
                "awaiting the user's approval in Claude Code".to_string()
            }
            Activation::DisabledInSettings(file) => {
                format!("disabled in `{}`", file.display())
            }
            Activation::DeniedByManaged => "denied by the managed settings".to_string(),
        }
    }

    pub fn may_run(&self) -> bool {
        matches!(self, Activation::Active | Activation::AwaitingApproval)
    }
}

/// One configured server entry.
#[derive(Clone, Debug)]
pub struct Configured {
    pub name: String,
    pub source: Source,
    pub file: PathBuf,
    pub transport: Transport,
    pub activation: Activation,
    /// A higher-precedence entry of the same name hides this one.
    pub shadowed: bool,
}

/// Everything found, and the files that could not be read.
#[derive(Debug, Default)]
pub struct Discovery {
    pub servers: Vec<Configured>,
    pub files_read: Vec<PathBuf>,
    pub problems: Vec<String>,
}

impl Discovery {
    /// The entry Claude Code would use for `name`.
    pub fn effective(&self, name: &str) -> Option<&Configured> {
        self.servers.iter().find(|s| s.name == name && !s.shadowed)
    }
}

/// Where the configuration files are.
#[derive(Clone, Debug)]
pub struct Locations {
    pub workspace: PathBuf,
    pub claude_json: Option<PathBuf>,
    pub user_settings: Option<PathBuf>,
    pub managed_settings: PathBuf,
    pub managed_mcp: PathBuf,
}

impl Locations {
    /// The locations for `workspace`, from the environment as Claude Code reads it.
    pub fn for_workspace(workspace: &Path, home: Option<&Path>) -> Locations {
        let config_dir = std::env::var_os("CLAUDE_CONFIG_DIR").map(PathBuf::from);
        let claude_json = match &config_dir {
            Some(dir) => Some(dir.join(".claude.json")),
            None => home.map(|h| h.join(".claude.json")),
        };
        let user_settings = match &config_dir {
            Some(dir) => Some(dir.join("settings.json")),
            None => home.map(|h| h.join(".claude/settings.json")),
        };
        let managed_settings = std::env::var_os("MANDATE_MANAGED_SETTINGS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(MANAGED_SETTINGS));
        let managed_mcp = std::env::var_os("MANDATE_MANAGED_MCP")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                managed_settings
                    .parent()
                    .unwrap_or(Path::new("/etc/claude-code"))
                    .join("managed-mcp.json")
            });
        Locations {
            workspace: workspace.to_path_buf(),
            claude_json,
            user_settings,
            managed_settings,
            managed_mcp,
        }
    }
}

/// Read every configuration file and list the servers.
pub fn discover(locations: &Locations) -> Discovery {
    let mut found = Discovery::default();
    let workspace_key = locations.workspace.to_string_lossy().to_string();

    let managed_mcp = read_json(&locations.managed_mcp, &mut found);
    let managed_settings = read_json(&locations.managed_settings, &mut found);
    let claude_json = locations
        .claude_json
        .as_ref()
        .and_then(|p| read_json(p, &mut found).map(|v| (p.clone(), v)));
    let project_file = locations.workspace.join(".mcp.json");
    let project_mcp = read_json(&project_file, &mut found);

    let mut settings: Vec<(PathBuf, Value)> = Vec::new();
    if let Some(value) = &managed_settings {
        settings.push((locations.managed_settings.clone(), value.clone()));
    }
    for path in [
        locations.user_settings.clone(),
        Some(locations.workspace.join(".claude/settings.json")),
        Some(locations.workspace.join(".claude/settings.local.json")),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(value) = read_json(&path, &mut found) {
            settings.push((path, value));
        }
    }
    let local_entry = claude_json.as_ref().and_then(|(path, v)| {
        Some((
            path.clone(),
            v.get("projects")?.get(&workspace_key)?.clone(),
        ))
    });
    if let Some((path, entry)) = &local_entry {
        settings.push((path.clone(), entry.clone()));
    }

    let mut enable_all = false;
    let mut enabled: BTreeSet<String> = BTreeSet::new();
    let mut disabled: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (path, value) in &settings {
        enable_all |= value
            .get("enableAllProjectMcpServers")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        enabled.extend(strings(value.get("enabledMcpjsonServers")));
        for name in strings(value.get("disabledMcpjsonServers")) {
            disabled.entry(name).or_insert_with(|| path.clone());
        }
    }
    let denied: BTreeSet<String> = managed_settings
        .as_ref()
        .and_then(|v| v.get("deniedMcpServers"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|item| item.get("serverName").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();

    let mut add = |source: Source, file: &Path, servers: Option<&Value>| {
        let Some(servers) = servers.and_then(Value::as_object) else {
            return;
        };
        for (name, entry) in servers {
            let activation = if denied.contains(name) {
                Activation::DeniedByManaged
            } else if source == Source::Project {
                if let Some(file) = disabled.get(name) {
                    Activation::DisabledInSettings(file.clone())
                } else if enable_all || enabled.contains(name) {
                    Activation::Active
                } else {
                    Activation::AwaitingApproval
                }
            } else {
                Activation::Active
            };
            found.servers.push(Configured {
                name: name.clone(),
                source,
                file: file.to_path_buf(),
                transport: transport(entry),
                activation,
                shadowed: false,
            });
        }
    };
    add(
        Source::Managed,
        &locations.managed_mcp,
        managed_mcp.as_ref().and_then(|v| v.get("mcpServers")),
    );
    if let Some((path, entry)) = &local_entry {
        add(Source::Local, path, entry.get("mcpServers"));
    }
    add(
        Source::Project,
        &project_file,
        project_mcp.as_ref().and_then(|v| v.get("mcpServers")),
    );
    if let Some((path, value)) = &claude_json {
        add(Source::User, path, value.get("mcpServers"));
    }

    let mut seen: BTreeSet<String> = BTreeSet::new();
    for server in &mut found.servers {
        // `servers` is in precedence order, so the first of a name is the one that runs.
        server.shadowed = !seen.insert(server.name.clone());
    }
    found
}

fn read_json(path: &Path, found: &mut Discovery) -> Option<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(value) => {
                found.files_read.push(path.to_path_buf());
                Some(value)
            }
            Err(error) => {
                found.problems.push(format!(
                    "`{}` is not valid JSON ({error}); its servers could not be checked",
                    path.display()
                ));
                None
            }
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            found
                .problems
                .push(format!("cannot read `{}`: {error}", path.display()));
            None
        }
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn transport(entry: &Value) -> Transport {
    let kind = entry
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            if entry.get("url").is_some() {
                "http".to_string()
            } else {
                "stdio".to_string()
            }
        });
    let map = |key: &str| -> BTreeMap<String, String> {
        entry
            .get(key)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), expand_env(v.as_str().unwrap_or_default())))
                    .collect()
            })
            .unwrap_or_default()
    };
    match kind.as_str() {
        "stdio" => Transport::Stdio {
            command: expand_env(entry.get("command").and_then(Value::as_str).unwrap_or("")),
            args: strings(entry.get("args"))
                .iter()
                .map(|a| expand_env(a))
                .collect(),
            env: map("env"),
        },
        "http" | "streamable-http" | "streamableHttp" => Transport::Http {
            url: expand_env(entry.get("url").and_then(Value::as_str).unwrap_or("")),
            headers: map("headers"),
        },
        other => Transport::Other {
            kind: other.to_string(),
        },
    }
}

/// `${VAR}` and `${VAR:-default}` from the environment; an unset variable without a
/// default expands to nothing.
pub fn expand_env(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(rest.get(..start).unwrap_or(""));
        let after = rest.get(start + 2..).unwrap_or("");
        let Some(end) = after.find('}') else {
            out.push_str(rest.get(start..).unwrap_or(""));
            return out;
        };
        let inner = after.get(..end).unwrap_or("");
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match std::env::var(name) {
            Ok(value) => out.push_str(&value),
            Err(_) => out.push_str(default.unwrap_or("")),
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// What a registry entry lacks for security to know the server: owner, purpose, data,
/// tool classes, and an approval group when it has write-class tools.
pub fn registry_gaps(server: &McpServer, reviewer_groups: &[&str]) -> Vec<String> {
    let mut gaps = Vec::new();
    let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
    if blank(&server.owner) {
        gaps.push("no `owner`".to_string());
    }
    if blank(&server.purpose) {
        gaps.push("no `purpose`".to_string());
    }
    if blank(&server.data) {
        gaps.push("no `data` (what it exposes)".to_string());
    }
    if server.tools.is_empty() {
        gaps.push("no `tools` with their classes (read or write)".to_string());
    }
    let writes: Vec<&String> = server
        .tools
        .iter()
        .filter(|(_, spec)| spec.class() == ToolClass::Write)
        .map(|(name, _)| name)
        .collect();
    match &server.approval {
        None if !writes.is_empty() => gaps.push(format!(
            "write-class tools ({}) but no `approval` group, so every call to them is denied",
            writes
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Some(group) if !reviewer_groups.contains(&group.as_str()) => gaps.push(format!(
            "`approval = \"{group}\"` names no group of `authority.reviewers`"
        )),
        _ => {}
    }
    gaps
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sources_precedence_and_activation() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join(".claude")).unwrap();
        std::fs::write(
            ws.join(".mcp.json"),
            json!({"mcpServers": {
                "jira": {"command": "jira-mcp", "args": ["--x"]},
                "wiki": {"type": "http", "url": "http://127.0.0.1:1/mcp"},
                "off": {"command": "off"}
            }})
            .to_string(),
        )
        .unwrap();
        std::fs::write(
            ws.join(".claude/settings.json"),
            json!({"enabledMcpjsonServers": ["jira"], "disabledMcpjsonServers": ["off"]})
                .to_string(),
        )
        .unwrap();
        let claude_json = dir.path().join(".claude.json");
        std::fs::write(
            &claude_json,
            json!({
                "mcpServers": {"notes": {"command": "notes"}},
                "projects": {ws.to_string_lossy(): {"mcpServers": {"jira": {"command": "local-jira"}}}}
            })
            .to_string(),
        )
        .unwrap();
        let locations = Locations {
            workspace: ws.clone(),
            claude_json: Some(claude_json),
            user_settings: None,
            managed_settings: dir.path().join("none.json"),
            managed_mcp: dir.path().join("none-mcp.json"),
        };
        let found = discover(&locations);
        let jira = found.effective("jira").unwrap();
        assert_eq!(jira.source, Source::Local);
        assert_eq!(
            found
                .servers
                .iter()
                .filter(|s| s.name == "jira" && s.shadowed)
                .count(),
            1
        );
        assert_eq!(
            found.effective("wiki").unwrap().activation,
            Activation::AwaitingApproval
        );
        assert!(matches!(
            found.effective("off").unwrap().activation,
            Activation::DisabledInSettings(_)
        ));
        assert_eq!(found.effective("notes").unwrap().source, Source::User);
    }

    #[test]
    fn env_expansion() {
        // PATH is always set; a made-up name is not.
        assert_eq!(expand_env("${MANDATE_SURELY_UNSET_VAR:-x}/y"), "x/y");
        assert_eq!(expand_env("a${MANDATE_SURELY_UNSET_VAR}b"), "ab");
        assert!(!expand_env("${PATH}").is_empty());
    }
}
