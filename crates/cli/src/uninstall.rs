//! `mandate uninstall [--agent NAME|all] [--managed]`: take out what `mandate install`
//! wrote for an agent — its hook entries, the native deny rules, the sandbox settings,
//! the agent's rules and policy files — and nothing else. Other hooks and settings in
//! the same files stay as they are. What install changed that cannot be told apart from
//! the user's own settings (a folder marked trusted) is named, not removed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use mandate_agents::Agent;
use mandate_project::{Project, write_atomic};
use serde_json::Value;

/// What one agent's uninstall did, for the report.
#[derive(Default)]
struct Done {
    changed: Vec<String>,
    removed: Vec<String>,
    left: Vec<String>,
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("`{}` is not valid JSON; fix it first", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    write_atomic(
        path,
        (serde_json::to_string_pretty(value)? + "\n").as_bytes(),
    )
    .with_context(|| format!("cannot write `{}`", path.display()))
}

fn remove_file(path: &Path, done: &mut Done) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            done.removed.push(path.display().to_string());
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot remove `{}`", path.display())),
    }
}

/// `'…'`-quoted as install writes the root into other agents' hook commands.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Is this handler one `mandate install` wrote? `hook AGENT` in its command or args (for
/// the other agents also naming this repository's root).
fn is_ours(handler: &Value, agent: &str, root: Option<&Path>) -> bool {
    let command = handler.get("command").and_then(Value::as_str).unwrap_or("");
    let args: Vec<&str> = handler
        .get("args")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let names_hook =
        args.starts_with(&["hook", agent]) || command.contains(&format!(" hook {agent}"));
    names_hook
        && root.is_none_or(|root| {
            command.contains(&quote(&root.to_string_lossy()))
                || args.iter().any(|a| Path::new(a) == root)
        })
}

/// Remove our handlers anywhere under `value`, and the matcher groups they leave empty.
/// Returns how many handlers went.
fn remove_ours(value: &mut Value, agent: &str, root: Option<&Path>) -> usize {
    let mut removed = 0;
    match value {
        Value::Array(items) => {
            items.retain_mut(|item| {
                if is_ours(item, agent, root) {
                    removed += 1;
                    return false;
                }
                let had_hooks = item
                    .get("hooks")
                    .and_then(Value::as_array)
                    .is_some_and(|h| !h.is_empty());
                removed += remove_ours(item, agent, root);
                // A group whose only handlers were ours goes too.
                !(had_hooks
                    && item
                        .get("hooks")
                        .and_then(Value::as_array)
                        .is_some_and(Vec::is_empty))
            });
        }
        Value::Object(map) => {
            for child in map.values_mut() {
                removed += remove_ours(child, agent, root);
            }
            // Event lists left empty.
            if let Some(Value::Object(hooks)) = map.get_mut("hooks") {
                hooks.retain(|_, list| !list.as_array().is_some_and(Vec::is_empty));
            }
            if map
                .get("hooks")
                .is_some_and(|h| h.as_object().is_some_and(|o| o.is_empty()))
            {
                map.remove("hooks");
            }
        }
        _ => {}
    }
    removed
}

/// Take our handlers out of one JSON settings file.
fn hooks_file(path: &Path, agent: &str, root: Option<&Path>, done: &mut Done) -> Result<()> {
    let Some(mut value) = read_json(path)? else {
        return Ok(());
    };
    let removed = remove_ours(&mut value, agent, root);
    if removed > 0 {
        write_json(path, &value)?;
        done.changed.push(format!(
            "{}: {removed} mandate hook handlers removed",
            path.display()
        ));
    }
    Ok(())
}

fn claude_code(project: &Project, managed: bool, done: &mut Done) -> Result<()> {
    let settings_path = if managed {
        std::env::var_os("MANDATE_MANAGED_SETTINGS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(crate::install::MANAGED_SETTINGS))
    } else {
        project.root.join(".claude/settings.json")
    };
    let installed_path = project.workspace_dir().join("installed.json");
    let installed = read_json(&installed_path)?.unwrap_or(Value::Null);
    let rules: Vec<&str> = installed
        .get("deny_rules")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(mut settings) = read_json(&settings_path)? {
        let handlers = remove_ours(&mut settings, "claude-code", None);
        let mut rules_removed = 0;
        let mut sandbox = false;
        if let Some(object) = settings.as_object_mut() {
            if let Some(Value::Object(permissions)) = object.get_mut("permissions") {
                if let Some(Value::Array(deny)) = permissions.get_mut("deny") {
                    let before = deny.len();
                    deny.retain(|r| r.as_str().is_none_or(|r| !rules.contains(&r)));
                    rules_removed = before - deny.len();
                    if deny.is_empty() {
                        permissions.remove("deny");
                    }
                }
                if permissions.is_empty() {
                    object.remove("permissions");
                }
            }
            // Install writes the whole sandbox section from the contract.
            sandbox = handlers > 0 && object.remove("sandbox").is_some();
        }
        if handlers > 0 || rules_removed > 0 {
            write_json(&settings_path, &settings)?;
            done.changed.push(format!(
                "{}: {handlers} hook handlers, {rules_removed} native deny rules{} removed",
                settings_path.display(),
                if sandbox {
                    ", the sandbox settings"
                } else {
                    ""
                }
            ));
        }
    }
    if !managed {
        remove_file(&installed_path, done)?;
    }
    Ok(())
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set: the agents' user settings live under it")
}

fn other(agent: Agent, project: &Project, managed: bool, done: &mut Done) -> Result<()> {
    let root = project.root.as_path();
    let name = agent.name();
    let workspace = project.workspace_dir();
    match agent {
        Agent::Codex => {
            let system = std::env::var_os("MANDATE_CODEX_SYSTEM_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/etc/codex"));
            let hooks = if managed {
                system.join("hooks.json")
            } else {
                root.join(".codex/hooks.json")
            };
            hooks_file(&hooks, name, Some(root), done)?;
            // The trust entries install added for our handlers.
            let listed = workspace.join("codex-trusted-hooks.json");
            let keys: Vec<String> = read_json(&listed)?
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            let codex_home = std::env::var_os("CODEX_HOME")
                .map(PathBuf::from)
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(home()?.join(".codex"));
            let config = codex_home.join("config.toml");
            if !keys.is_empty()
                && let Ok(text) = std::fs::read_to_string(&config)
            {
                let mut doc: toml_edit::DocumentMut = text
                    .parse()
                    .with_context(|| format!("`{}` is not valid TOML", config.display()))?;
                let mut removed = 0;
                if let Some(state) = doc
                    .get_mut("hooks")
                    .and_then(|h| h.get_mut("state"))
                    .and_then(toml_edit::Item::as_table_like_mut)
                {
                    for key in &keys {
                        removed += usize::from(state.remove(key).is_some());
                    }
                }
                write_atomic(&config, doc.to_string().as_bytes())?;
                done.changed.push(format!(
                    "{}: {removed} hook trust entries removed",
                    config.display()
                ));
                done.left.push(format!(
                    "{}: the repository stays a trusted Codex project (`projects.\"{}\"`)",
                    config.display(),
                    root.display()
                ));
            }
            remove_file(&listed, done)?;
            let project_config = root.join(".codex/config.toml");
            if let Ok(text) = std::fs::read_to_string(&project_config) {
                let mut doc: toml_edit::DocumentMut = text
                    .parse()
                    .with_context(|| format!("`{}` is not valid TOML", project_config.display()))?;
                let mode = doc.remove("sandbox_mode").is_some();
                let table = doc.remove("sandbox_workspace_write").is_some();
                if mode || table {
                    write_atomic(&project_config, doc.to_string().as_bytes())?;
                    done.changed.push(format!(
                        "{}: the sandbox settings removed",
                        project_config.display()
                    ));
                }
            }
            remove_file(&root.join(".codex/rules/mandate.rules"), done)?;
        }
        Agent::Gemini => {
            let settings = if managed {
                std::env::var_os("MANDATE_GEMINI_SYSTEM_SETTINGS")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/etc/gemini-cli/settings.json"))
            } else {
                root.join(".gemini/settings.json")
            };
            hooks_file(&settings, name, Some(root), done)?;
            let key = mandate_project::sha256_hex(root.to_string_lossy().as_bytes());
            let policy = home()?
                .join(".gemini/policies")
                .join(format!("mandate-{}.toml", key.get(..12).unwrap_or(&key)));
            remove_file(&policy, done)?;
            if !managed {
                done.left.push(format!(
                    "{}: the repository stays a trusted Gemini folder",
                    home()?.join(".gemini/trustedFolders.json").display()
                ));
            }
        }
        Agent::Copilot => {
            let copilot_home = std::env::var_os("COPILOT_HOME")
                .map(PathBuf::from)
                .unwrap_or(home()?.join(".copilot"));
            hooks_file(&copilot_home.join("settings.json"), name, Some(root), done)?;
            remove_file(&workspace.join("copilot-flags"), done)?;
        }
        Agent::Cursor => {
            hooks_file(&root.join(".cursor/hooks.json"), name, Some(root), done)?;
        }
    }
    Ok(())
}

/// `mandate uninstall`.
pub fn uninstall(agent: &str, managed: bool) -> Result<ExitCode> {
    let project = Project::discover(&std::env::current_dir()?, None)?;
    let agents: Vec<&str> = match agent {
        "all" => std::iter::once("claude-code")
            .chain(Agent::ALL.iter().map(|a| a.name()))
            .collect(),
        "claude-code" => vec!["claude-code"],
        other if Agent::from_name(other).is_some() => vec![other],
        other => {
            bail!("unknown agent `{other}`: use claude-code, codex, gemini, copilot, cursor or all")
        }
    };
    for name in agents {
        let mut done = Done::default();
        match Agent::from_name(name) {
            Some(agent) => other(agent, &project, managed, &mut done)?,
            None => claude_code(&project, managed, &mut done)?,
        }
        if done.changed.is_empty() && done.removed.is_empty() {
            println!("{name}: nothing of mandate's was installed");
            continue;
        }
        println!("{name}: uninstalled");
        for line in &done.changed {
            println!("  changed: {line}");
        }
        for path in &done.removed {
            println!("  removed: {path}");
        }
        for line in &done.left {
            println!("  left:    {line}");
        }
    }
    println!(
        "the agents now run without mandate's hooks: no call is judged or recorded until `mandate install`"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_our_handlers_and_the_groups_they_empty_go() {
        let root = Path::new("/r");
        let mut hooks = json!({"hooks": {
            "PreToolUse": [
                {"matcher": "*", "hooks": [{"type": "command", "command": "'/bin/mandate' hook codex --root '/r'"}]},
                {"matcher": "Bash", "hooks": [{"type": "command", "command": "my-linter"}]},
                {"matcher": "*", "hooks": [{"type": "command", "command": "'/bin/mandate' hook codex --root '/other'"}]}
            ],
            "Stop": [{"hooks": [{"type": "command", "command": "'/bin/mandate' hook codex --root '/r'"}]}]
        }, "model": "x"});
        assert_eq!(remove_ours(&mut hooks, "codex", Some(root)), 2);
        assert_eq!(hooks["hooks"]["PreToolUse"].as_array().unwrap().len(), 2);
        assert!(hooks["hooks"].get("Stop").is_none());
        assert_eq!(hooks["model"], "x");
    }
}
