//! Readiness for the other agents: for each agent `mandate install --agent` set up for this
//! user and repository, whether its hooks are all there and run this mandate, whether its
//! native backstops are there, and what the agent itself leaves open.
//!
//! An agent counts as installed when anything `install --agent` writes for it is found
//! where install writes it (a hook naming this repository, its rules, policy or flags
//! file), so a hook file removed after an install fails the check instead of hiding the
//! agent. Agents with nothing installed are listed, not failed.

use std::path::{Path, PathBuf};

use mandate_agents::Agent;
use mandate_project::Project;
use serde_json::Value;

use crate::agent_hook::{AGENT_TIMEOUT_SECONDS, DEADLINE};
use crate::install_agents::{CODEX_EVENTS, GEMINI_EVENTS, codex_trust_hash, is_ours};
use crate::readiness::{Check, Status};

/// One installed agent, as found on disk.
pub struct Found {
    pub agent: Agent,
    /// What is wrong, each with where.
    pub problems: Vec<String>,
    /// What holds, each with where.
    pub holds: Vec<String>,
    pub sources: Vec<String>,
}

/// The installed agents, and the agents with nothing installed.
#[derive(Default)]
pub struct Agents {
    pub found: Vec<Found>,
    pub absent: Vec<Agent>,
}

fn title(agent: Agent) -> &'static str {
    match agent {
        Agent::Codex => "Codex CLI",
        Agent::Gemini => "Gemini CLI",
        Agent::Copilot => "Copilot CLI",
        Agent::Cursor => "Cursor",
    }
}

/// What the agent itself leaves open however mandate is installed, and how mandate closes
/// it where it can (README, "Other agents"; ../shared/research/other-agents.md).
pub fn left_open(agent: Agent) -> String {
    let deadline = DEADLINE.as_secs();
    let wait = AGENT_TIMEOUT_SECONDS;
    match agent {
        Agent::Codex => format!(
            "Codex lets a call run when a hook crashes, times out or answers with something that is not JSON, and treats \"ask\" as a failure: mandate's hook never crashes, refuses on its own after {deadline} s (Codex waits {wait} s) and never asks. `write_stdin` feeds a running shell with no hook at all: a command that starts a shell or interpreter reading its input is refused unless a contract allows `call = [\"write_stdin\"]`. `web_search` runs on the model provider's side and no hook sees it. `codex --ignore-rules`, `-c` overrides and `--dangerously-bypass-approvals-and-sandbox` drop the backstops (not the hooks)."
        ),
        Agent::Gemini => format!(
            "Gemini lets a call run when a hook crashes, times out or answers with something that is not JSON, and an \"ask\" hangs a headless run: mandate's hook refuses on its own after {deadline} s (Gemini waits {wait} s) and never asks. Calls inside a subagent carry nothing that names the subagent, so they are judged and recorded as the session's. The policy-engine deny rules are user-wide."
        ),
        Agent::Copilot => format!(
            "Copilot lets a call run when a hook times out or answers with something that is not JSON: mandate's hook refuses on its own after {deadline} s (Copilot waits {wait} s). The `--deny-tool` backstop holds only when Copilot is launched with those flags; a session launched without them has the hooks alone. `--managed` has no Copilot place."
        ),
        Agent::Cursor => "Cursor's hooks are written from its documentation with `failClosed: true` and are unverified against a real Cursor; mandate writes no native backstop for Cursor.".to_string(),
    }
}

fn read_json(path: &Path) -> Option<Value> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// The first word of a POSIX shell command (install single-quotes the binary).
fn program(command: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = command.trim_start().chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '\\' if !quoted => out.extend(chars.next()),
            c if c.is_whitespace() && !quoted => break,
            c => out.push(c),
        }
    }
    out
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Every handler object under `value` whose command (`command`, or Copilot's `bash`) is
/// one install wrote for `agent` and this repository.
fn ours<'a>(value: &'a Value, agent: Agent, root: &Path, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| ours(v, agent, root, out)),
        Value::Object(map) => {
            let command = map
                .get("command")
                .or_else(|| map.get("bash"))
                .and_then(Value::as_str);
            if command.is_some_and(|c| is_ours(c, agent, root)) {
                out.push(value);
            } else {
                map.values().for_each(|v| ours(v, agent, root, out));
            }
        }
        _ => {}
    }
}

fn command_of(handler: &Value) -> &str {
    handler
        .get("command")
        .or_else(|| handler.get("bash"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The hooks file of one agent: `None` when it holds none of mandate's handlers for this
/// repository; otherwise what is wrong with them (empty when nothing is).
fn hook_problems(
    path: &Path,
    events: &[&str],
    agent: Agent,
    root: &Path,
    binary: &Path,
) -> Option<Vec<String>> {
    let file = read_json(path)?;
    let hooks = file.get("hooks")?;
    let mut all = Vec::new();
    ours(hooks, agent, root, &mut all);
    if all.is_empty() {
        return None;
    }
    let mut missing = Vec::new();
    let mut elsewhere = Vec::new();
    let mut open = Vec::new();
    for event in events {
        let mut handlers = Vec::new();
        if let Some(list) = hooks.get(*event) {
            ours(list, agent, root, &mut handlers);
        }
        if handlers.is_empty() {
            missing.push(*event);
        }
        for handler in handlers {
            let program = program(command_of(handler));
            if !same_file(Path::new(&program), binary) && !elsewhere.contains(&program) {
                elsewhere.push(program);
            }
            if agent == Agent::Cursor && handler.get("failClosed") != Some(&Value::Bool(true)) {
                open.push(*event);
            }
        }
    }
    let mut problems = Vec::new();
    let at = path.display();
    if !missing.is_empty() {
        problems.push(format!(
            "{at} has no mandate hook for {}",
            missing.join(", ")
        ));
    }
    for program in elsewhere {
        problems.push(format!(
            "the hooks in {at} run `{program}`, not this mandate (`{}`)",
            binary.display()
        ));
    }
    if !open.is_empty() {
        problems.push(format!(
            "{at}: hooks without `failClosed: true` (fail open) for {}",
            open.join(", ")
        ));
    }
    Some(problems)
}

/// Codex skips project hooks it does not trust: the project trusted and each of mandate's
/// handler groups' hashes in `$CODEX_HOME/config.toml`.
fn codex_trust(config: &Path, hooks_path: &Path, root: &Path) -> Vec<String> {
    let fail = |why: String| vec![format!("{why}, so Codex skips the project hooks")];
    let Some(doc) = std::fs::read_to_string(config)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
    else {
        return fail(format!("{} is missing or not TOML", config.display()));
    };
    let trusted = doc
        .get("projects")
        .and_then(|p| p.get(root.to_string_lossy().as_ref()))
        .and_then(|p| p.get("trust_level"))
        .and_then(|t| t.as_str())
        == Some("trusted");
    if !trusted {
        return fail(format!(
            "{} does not mark {} trusted",
            config.display(),
            root.display()
        ));
    }
    let state = doc.get("hooks").and_then(|h| h.get("state"));
    let file = read_json(hooks_path).unwrap_or_default();
    let mut untrusted = Vec::new();
    for (event, snake, _) in CODEX_EVENTS {
        let groups = file
            .get("hooks")
            .and_then(|h| h.get(*event))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (index, group) in groups.iter().enumerate() {
            let mut handlers = Vec::new();
            ours(group, Agent::Codex, root, &mut handlers);
            if handlers.is_empty() {
                continue;
            }
            let key = format!("{}:{snake}:{index}:0", hooks_path.display());
            let hash = state
                .and_then(|s| s.get(&key))
                .and_then(|e| e.get("trusted_hash"))
                .and_then(|h| h.as_str());
            if hash != Some(codex_trust_hash(snake, group).as_str()) {
                untrusted.push(*event);
            }
        }
    }
    if untrusted.is_empty() {
        Vec::new()
    } else {
        fail(format!(
            "{} trusts no current hash for the {} hooks",
            config.display(),
            untrusted.join(", ")
        ))
    }
}

/// Look for each agent's hooks and backstops where `mandate install --agent` writes them.
pub fn gather(project: &Project) -> Agents {
    let root = &project.root;
    let binary = std::env::current_exe().unwrap_or_default();
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let workspace = project.workspace_dir();
    let mut agents = Agents::default();
    for agent in Agent::ALL {
        let mut found = Found {
            agent,
            problems: Vec::new(),
            holds: Vec::new(),
            sources: Vec::new(),
        };
        // (hooks file, needs trust) in the order install prefers them.
        let (places, events): (Vec<(PathBuf, bool)>, Vec<&str>) = match agent {
            Agent::Codex => (
                vec![
                    (root.join(".codex/hooks.json"), true),
                    (
                        std::env::var_os("MANDATE_CODEX_SYSTEM_DIR")
                            .map(PathBuf::from)
                            .unwrap_or_else(|| PathBuf::from("/etc/codex"))
                            .join("hooks.json"),
                        false,
                    ),
                ],
                CODEX_EVENTS.iter().map(|(e, _, _)| *e).collect(),
            ),
            Agent::Gemini => (
                vec![
                    (root.join(".gemini/settings.json"), true),
                    (
                        std::env::var_os("MANDATE_GEMINI_SYSTEM_SETTINGS")
                            .map(PathBuf::from)
                            .unwrap_or_else(|| PathBuf::from("/etc/gemini-cli/settings.json")),
                        false,
                    ),
                ],
                GEMINI_EVENTS.to_vec(),
            ),
            Agent::Copilot => (
                std::env::var_os("COPILOT_HOME")
                    .map(PathBuf::from)
                    .or_else(|| home.as_ref().map(|h| h.join(".copilot")))
                    .map(|dir| vec![(dir.join("settings.json"), false)])
                    .unwrap_or_default(),
                mandate_agents::copilot::EVENTS.to_vec(),
            ),
            Agent::Cursor => (
                vec![(root.join(".cursor/hooks.json"), false)],
                mandate_agents::cursor::EVENTS.to_vec(),
            ),
        };
        // Backstops: (file, what it is), present or not.
        let backstops: Vec<(PathBuf, &str)> = match agent {
            Agent::Codex => vec![
                (
                    root.join(".codex/config.toml"),
                    "sandbox (workspace-write, no network unless the contract lets something out)",
                ),
                (
                    root.join(".codex/rules/mandate.rules"),
                    "forbidden command prefixes",
                ),
            ],
            Agent::Gemini => {
                let key = mandate_project::sha256_hex(root.to_string_lossy().as_bytes());
                home.as_ref()
                    .map(|h| {
                        vec![(
                            h.join(".gemini/policies")
                                .join(format!("mandate-{}.toml", key.get(..12).unwrap_or(&key))),
                            "policy-engine deny rules",
                        )]
                    })
                    .unwrap_or_default()
            }
            Agent::Copilot => vec![(
                workspace.join("copilot-flags"),
                "`--deny-tool` flags to launch Copilot with",
            )],
            Agent::Cursor => Vec::new(),
        };
        let hooks: Vec<(PathBuf, bool, Option<Vec<String>>)> = places
            .into_iter()
            .map(|(path, trust)| {
                let problems = hook_problems(&path, &events, agent, root, &binary);
                (path, trust, problems)
            })
            .collect();
        let trust_marker = workspace.join("codex-trusted-hooks.json");
        let installed = hooks.iter().any(|(_, _, p)| p.is_some())
            || backstops.iter().any(|(path, _)| path.is_file())
            || (agent == Agent::Codex && trust_marker.is_file());
        if !installed {
            agents.absent.push(agent);
            continue;
        }
        // The hooks hold if one place has them all, running this mandate (and trusted,
        // where the agent asks for trust).
        let mut hook_ok = false;
        let mut hook_problems_seen = Vec::new();
        for (path, trust, problems) in &hooks {
            found.sources.push(path.display().to_string());
            let Some(problems) = problems else { continue };
            let mut problems = problems.clone();
            let mut trusted_in = None;
            if *trust && problems.is_empty() {
                match agent {
                    Agent::Codex => {
                        let config = std::env::var_os("CODEX_HOME")
                            .filter(|p| !p.is_empty())
                            .map(PathBuf::from)
                            .or_else(|| home.as_ref().map(|h| h.join(".codex")))
                            .unwrap_or_default()
                            .join("config.toml");
                        problems.extend(codex_trust(&config, path, root));
                        trusted_in = Some(config);
                    }
                    Agent::Gemini => {
                        let file = home
                            .as_ref()
                            .map(|h| h.join(".gemini/trustedFolders.json"))
                            .unwrap_or_default();
                        let trusted = read_json(&file).is_some_and(|t| {
                            t.get(root.to_string_lossy().as_ref())
                                .and_then(Value::as_str)
                                == Some("TRUST_FOLDER")
                        });
                        if !trusted {
                            problems.push(format!(
                                "{} does not trust {}, so Gemini skips the project hooks",
                                file.display(),
                                root.display()
                            ));
                        }
                        trusted_in = Some(file);
                    }
                    _ => {}
                }
            }
            if problems.is_empty() {
                hook_ok = true;
                found.holds.push(format!(
                    "all {} events in {} run this mandate{}",
                    events.len(),
                    path.display(),
                    trusted_in
                        .map(|t| format!(" (trusted in {})", t.display()))
                        .unwrap_or_default()
                ));
                break;
            }
            hook_problems_seen.extend(problems);
        }
        if !hook_ok {
            if hook_problems_seen.is_empty() {
                let at: Vec<String> = hooks
                    .iter()
                    .map(|(p, _, _)| p.display().to_string())
                    .collect();
                found.problems.push(format!(
                    "no mandate hook for this repository in {}",
                    at.join(" or ")
                ));
            } else {
                found.problems.extend(hook_problems_seen);
            }
        }
        for (path, what) in &backstops {
            found.sources.push(path.display().to_string());
            let present = match agent {
                Agent::Codex if what.starts_with("sandbox") => std::fs::read_to_string(path)
                    .ok()
                    .and_then(|t| t.parse::<toml::Table>().ok())
                    .and_then(|t| {
                        t.get("sandbox_mode")
                            .and_then(|m| m.as_str().map(str::to_string))
                    })
                    .is_some_and(|m| m == "workspace-write"),
                _ => path.is_file(),
            };
            if present {
                found
                    .holds
                    .push(format!("backstop: {what} in {}", path.display()));
            } else {
                found
                    .problems
                    .push(format!("backstop missing: {what} in {}", path.display()));
            }
        }
        if backstops.is_empty() {
            found
                .holds
                .push("no native backstop to install".to_string());
        }
        agents.found.push(found);
    }
    agents
}

/// One check per installed agent, and one line naming the agents not installed.
pub fn checks(agents: &Agents) -> Vec<Check> {
    let mut out = Vec::new();
    for found in &agents.found {
        let agent = found.agent;
        let name = agent.name();
        let (id, check) = match agent {
            Agent::Codex => (
                "agent_codex",
                "Codex CLI: hooks run this mandate, backstops in place",
            ),
            Agent::Gemini => (
                "agent_gemini",
                "Gemini CLI: hooks run this mandate, backstops in place",
            ),
            Agent::Copilot => (
                "agent_copilot",
                "Copilot CLI: hooks run this mandate, backstops in place",
            ),
            Agent::Cursor => (
                "agent_cursor",
                "Cursor: hooks run this mandate with failClosed",
            ),
        };
        let ok = found.problems.is_empty();
        let detail = if ok {
            format!(
                "{}: {}. Left open by {} itself: {}",
                title(agent),
                found.holds.join("; "),
                title(agent),
                left_open(agent)
            )
        } else {
            format!(
                "{}: {}. Fix: `mandate install --agent {name}`{}. Left open by {} itself: {}",
                title(agent),
                found.problems.join("; "),
                if agent == Agent::Cursor {
                    ""
                } else {
                    " (after `mandate start`, so the backstops follow the contract)"
                },
                title(agent),
                left_open(agent)
            )
        };
        out.push(Check {
            id,
            check,
            status: if ok { Status::Pass } else { Status::Fail },
            detail,
            source: found.sources.join("; "),
        });
    }
    if !agents.absent.is_empty() {
        let names: Vec<String> = agents
            .absent
            .iter()
            .map(|a| format!("{} (`mandate install --agent {}`)", title(*a), a.name()))
            .collect();
        out.push(Check {
            id: "agents_not_installed",
            check: "other agents not installed for this repository",
            status: Status::NotChecked,
            detail: format!(
                "nothing of mandate's found for {}; used here, they would run without mandate's hooks",
                names.join(", ")
            ),
            source: "where `mandate install --agent NAME` writes each agent's hooks".to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install_agents::quote;

    #[test]
    fn the_program_of_a_quoted_command() {
        assert_eq!(
            program("'/opt/my dir/mandate' hook codex --root '/r'"),
            "/opt/my dir/mandate"
        );
        assert_eq!(program("/usr/bin/mandate hook cursor"), "/usr/bin/mandate");
        assert_eq!(program(&quote("/a'b/mandate")), "/a'b/mandate");
    }
}
