//! `mandate install --agent codex|gemini|copilot|cursor|all`: each agent's hooks where
//! the agent really loads them for this user and repository, so they fire in a headless
//! run with no extra flags, plus the native backstops each agent offers, compiled from
//! the policy's and the active contract's hard blocks.
//!
//! | agent | hooks | made to run by | backstop |
//! |---|---|---|---|
//! | Codex | `REPO/.codex/hooks.json` (`--managed`: `/etc/codex/hooks.json`) | the project trusted and each mandate handler's hash trusted in `$CODEX_HOME/config.toml` (managed hooks need no trust) | `REPO/.codex/config.toml` sandbox (workspace-write, no network, no `/tmp`), `REPO/.codex/rules/mandate.rules` forbidden prefixes |
//! | Gemini | `REPO/.gemini/settings.json` (`--managed`: `/etc/gemini-cli/settings.json`) | the folder trusted in `~/.gemini/trustedFolders.json` | `~/.gemini/policies/mandate-REPO.toml` deny rules |
//! | Copilot | `~/.copilot/settings.json` `hooks` (user hooks need no folder trust) | — | `REPO/.mandate-copilot-flags`: the `--deny-tool` flags to launch with |
//! | Cursor | `REPO/.cursor/hooks.json` with `failClosed: true` | — | — |
//!
//! Installing is idempotent: mandate's own entries (recognised by `hook AGENT` in their
//! command) are replaced, everything else in those files is kept.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use mandate_agents::Agent;
use mandate_project::{Project, write_atomic};
use serde_json::{Map, Value, json};

use crate::agent_hook::AGENT_TIMEOUT_SECONDS;
use crate::install::{Blocks, hard_blocks, replaceable};

/// Codex's events and whether each is a tool event (those take a matcher).
pub(crate) const CODEX_EVENTS: &[(&str, &str, bool)] = &[
    ("SessionStart", "session_start", false),
    ("UserPromptSubmit", "user_prompt_submit", false),
    ("PreToolUse", "pre_tool_use", true),
    ("PermissionRequest", "permission_request", true),
    ("PostToolUse", "post_tool_use", true),
    ("SubagentStart", "subagent_start", false),
    ("SubagentStop", "subagent_stop", false),
    ("Stop", "stop", false),
    ("SessionEnd", "session_end", false),
];

pub(crate) const GEMINI_EVENTS: &[&str] = &[
    "SessionStart",
    "BeforeAgent",
    "BeforeTool",
    "AfterTool",
    "AfterAgent",
    "SessionEnd",
];

/// The program each agent installs on PATH, for `--agent all`.
pub fn program(agent: Agent) -> &'static str {
    match agent {
        Agent::Codex => "codex",
        Agent::Gemini => "gemini",
        Agent::Copilot => "copilot",
        Agent::Cursor => "cursor-agent",
    }
}

/// Everything an install needs, resolved once.
struct Target {
    project: Project,
    binary: PathBuf,
    home: PathBuf,
    managed: bool,
}

pub fn install(
    agent: Agent,
    managed: bool,
    binary: Option<PathBuf>,
    allow_unsafe: bool,
) -> Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let project = Project::discover(&cwd, None)?;
    let binary = match binary {
        Some(binary) => std::path::absolute(binary)?,
        None => std::env::current_exe()?,
    };
    if !allow_unsafe && let Some(problem) = replaceable(&binary, &project.root) {
        bail!(
            "refusing to point the hooks at `{}`: {problem}. The agent could replace it and \
             run without a guard. Install mandate outside the repository, or pass \
             --allow-unsafe-binary if you accept that.",
            binary.display()
        );
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set: the agents' user settings live under it")?;
    let target = Target {
        project,
        binary,
        home,
        managed,
    };
    match agent {
        Agent::Codex => codex(&target),
        Agent::Gemini => gemini(&target),
        Agent::Copilot => copilot(&target),
        Agent::Cursor => cursor(&target),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// `'…'`-quoted for a POSIX shell (the agents run hook commands through one).
pub(crate) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn hook_command(target: &Target, agent: Agent, extra: &str) -> String {
    format!(
        "{} hook {} --root {}{extra}",
        quote(&target.binary.to_string_lossy()),
        agent.name(),
        quote(&target.project.root.to_string_lossy())
    )
}

/// Is this handler command one `install` wrote for `agent` and this repository?
pub(crate) fn is_ours(command: &str, agent: Agent, root: &Path) -> bool {
    command.contains(&format!(" hook {} ", agent.name()))
        && command.contains(&quote(&root.to_string_lossy()))
}

fn read_json(path: &Path) -> Result<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(json!({})),
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "`{}` is not valid JSON; fix it first (the agent would not read it either)",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(error) => Err(error).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    write_atomic(
        path,
        (serde_json::to_string_pretty(value)? + "\n").as_bytes(),
    )
    .with_context(|| format!("cannot write `{}`", path.display()))
}

/// `value[key]` as an object, made one if it is missing or something else.
fn object_at<'a>(
    value: &'a mut Map<String, Value>,
    key: &str,
) -> Result<&'a mut Map<String, Value>> {
    let entry = value.entry(key).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry
        .as_object_mut()
        .with_context(|| format!("`{key}` is not an object"))
}

/// `value[key]` as an array, made one if it is missing or something else.
fn array_at<'a>(value: &'a mut Map<String, Value>, key: &str) -> Result<&'a mut Vec<Value>> {
    let entry = value.entry(key).or_insert_with(|| json!([]));
    if !entry.is_array() {
        *entry = json!([]);
    }
    entry
        .as_array_mut()
        .with_context(|| format!("`{key}` is not an array"))
}

/// Does a matcher group (`{matcher?, hooks: [{command}]}`) hold one of our handlers?
fn group_is_ours(group: &Value, agent: Agent, root: &Path) -> bool {
    group
        .get("hooks")
        .and_then(Value::as_array)
        .is_some_and(|hooks| {
            hooks.iter().any(|h| {
                h.get("command")
                    .and_then(Value::as_str)
                    .is_some_and(|c| is_ours(c, agent, root))
            })
        })
}

// --- Codex -----------------------------------------------------------------------------

fn codex_home(target: &Target) -> PathBuf {
    std::env::var_os("CODEX_HOME")
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| target.home.join(".codex"))
}

/// The system layer Codex loads without trust; `MANDATE_CODEX_SYSTEM_DIR` overrides it
/// (tests).
fn codex_system_dir() -> PathBuf {
    std::env::var_os("MANDATE_CODEX_SYSTEM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/codex"))
}

fn codex(target: &Target) -> Result<()> {
    let root = &target.project.root;
    let hooks_path = if target.managed {
        codex_system_dir().join("hooks.json")
    } else {
        root.join(".codex/hooks.json")
    };
    // Codex's npm launcher tells the hook its version at run time; this is the fallback.
    let extra = agent_version("codex")
        .map(|v| format!(" --agent-version {}", quote(&v)))
        .unwrap_or_default();
    let command = hook_command(target, Agent::Codex, &extra);
    let mut hooks_file = read_json(&hooks_path)?;
    let Some(object) = hooks_file.as_object_mut() else {
        bail!("`{}` does not hold a JSON object", hooks_path.display());
    };
    let hooks = object_at(object, "hooks")?;
    // (snake event, group index, handler) of each mandate handler, for the trust hashes.
    let mut ours = Vec::new();
    for (event, snake, tool) in CODEX_EVENTS {
        let list = array_at(hooks, event)?;
        list.retain(|group| !group_is_ours(group, Agent::Codex, root));
        // Codex clamps SessionEnd hooks to 3 seconds, and hashes the clamped handler.
        let timeout = if *event == "SessionEnd" {
            3
        } else {
            AGENT_TIMEOUT_SECONDS
        };
        let handler = json!({ "type": "command", "command": command, "timeout": timeout });
        let group = if *tool {
            json!({ "matcher": "*", "hooks": [handler] })
        } else {
            json!({ "hooks": [handler] })
        };
        ours.push((*snake, list.len(), group.clone()));
        list.push(group);
    }
    write_json(&hooks_path, &hooks_file)?;
    let codex_home = codex_home(target);
    let config_path = codex_home.join("config.toml");
    if !target.managed {
        let workspace = target.project.workspace_dir();
        mandate_project::create_private_dir(&workspace)?;
        trust_codex_hooks(
            &config_path,
            root,
            &hooks_path,
            &ours,
            &workspace.join("codex-trusted-hooks.json"),
        )?;
    }
    let blocks = hard_blocks(&target.project)?;
    let project_config = root.join(".codex/config.toml");
    write_codex_sandbox(&project_config, target, &blocks)?;
    let rules_path = root.join(".codex/rules/mandate.rules");
    let rules = codex_rules(&blocks);
    if let Some(parent) = rules_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_atomic(&rules_path, rules.text.as_bytes())
        .with_context(|| format!("cannot write `{}`", rules_path.display()))?;
    println!(
        "installed mandate hooks for Codex CLI ({} events) in {}",
        CODEX_EVENTS.len(),
        hooks_path.display()
    );
    println!("  hook: {command}");
    if target.managed {
        println!("  managed: Codex runs system hooks without asking for trust");
    } else {
        println!(
            "  trusted: the repository and mandate's {} handlers, in {} (Codex skips hooks it does not trust)",
            ours.len(),
            config_path.display()
        );
    }
    println!(
        "  backstop: sandbox workspace-write without network in {}; {} forbidden command prefixes in {}",
        project_config.display(),
        rules.count,
        rules_path.display()
    );
    println!(
        "  not covered by a hook: `write_stdin` into a running shell (interactive shells are refused unless the contract allows `call = [\"write_stdin\"]`)"
    );
    Ok(())
}

/// Codex's trust hash of one handler group: SHA-256 over the canonical JSON (keys sorted,
/// no spaces) of `{event_name, matcher?, hooks: [{type, command, timeout, async}]}`.
/// Checked against the hashes Codex 0.169.0 itself reports (`hooks/list`).
pub fn codex_trust_hash(snake_event: &str, group: &Value) -> String {
    let mut identity = Map::new();
    identity.insert("event_name".into(), json!(snake_event));
    if let Some(matcher) = group.get("matcher") {
        identity.insert("matcher".into(), matcher.clone());
    }
    let handlers: Vec<Value> = group
        .get("hooks")
        .and_then(Value::as_array)
        .map(|hooks| {
            hooks
                .iter()
                .map(|h| {
                    json!({
                        "type": "command",
                        "command": h.get("command").cloned().unwrap_or_default(),
                        "timeout": h.get("timeout").and_then(Value::as_u64).unwrap_or(600).max(1),
                        "async": h.get("async").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    identity.insert("hooks".into(), Value::Array(handlers));
    let text = canonical_json(&Value::Object(identity));
    format!("sha256:{}", mandate_project::sha256_hex(text.as_bytes()))
}

/// JSON with object keys sorted at every depth and no whitespace.
fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String(k.clone()),
                        map.get(k).map(canonical_json).unwrap_or_default()
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(canonical_json)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        other => other.to_string(),
    }
}

/// Trust the repository and mandate's handlers in the user's Codex config, keeping
/// everything else in it (comments included).
fn trust_codex_hooks(
    config_path: &Path,
    root: &Path,
    hooks_path: &Path,
    ours: &[(&str, usize, Value)],
    installed_list: &Path,
) -> Result<()> {
    let text = match std::fs::read_to_string(config_path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read `{}`", config_path.display()));
        }
    };
    let mut doc: toml_edit::DocumentMut = text.parse().with_context(|| {
        format!(
            "`{}` is not valid TOML; fix it first",
            config_path.display()
        )
    })?;
    let root_key = root.to_string_lossy().into_owned();
    let projects = table_at(doc.as_table_mut(), "projects")?;
    let project = table_at(projects, &root_key)?;
    project.insert("trust_level", toml_edit::value("trusted"));
    let hooks = table_at(doc.as_table_mut(), "hooks")?;
    let state = table_at(hooks, "state")?;
    let prefix = format!("{}:", hooks_path.display());
    // Entries of mandate's earlier installs of this file (Codex rejects extra keys in
    // them, so the list is kept beside the run records instead).
    let stale = previous_trust_keys(installed_list);
    for key in stale.iter().filter(|k| k.starts_with(&prefix)) {
        state.remove(key);
    }
    let mut keys = Vec::new();
    for (snake, index, group) in ours {
        let key = format!("{prefix}{snake}:{index}:0");
        let entry = table_at(state, &key)?;
        entry.insert(
            "trusted_hash",
            toml_edit::value(codex_trust_hash(snake, group)),
        );
        keys.push(key);
    }
    write_atomic(
        installed_list,
        serde_json::to_string_pretty(&keys)?.as_bytes(),
    )?;
    if let Some(parent) = config_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_atomic(config_path, doc.to_string().as_bytes())
        .with_context(|| format!("cannot write `{}`", config_path.display()))
}

fn previous_trust_keys(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn table_at<'a>(table: &'a mut toml_edit::Table, key: &str) -> Result<&'a mut toml_edit::Table> {
    let item = table.entry(key).or_insert_with(|| {
        let mut table = toml_edit::Table::new();
        table.set_implicit(true);
        toml_edit::Item::Table(table)
    });
    item.as_table_mut()
        .with_context(|| format!("`{key}` in the Codex config is not a table"))
}

/// The sandbox settings in the repository's Codex config: writes only to the workspace
/// (and mandate's record store, which `mandate evidence` appends to), no network unless
/// the contract lets something out, no `/tmp`.
fn write_codex_sandbox(path: &Path, target: &Target, blocks: &Blocks) -> Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("`{}` is not valid TOML; fix it first", path.display()))?;
    doc.insert("sandbox_mode", toml_edit::value("workspace-write"));
    let sandbox = table_at(doc.as_table_mut(), "sandbox_workspace_write")?;
    sandbox.set_implicit(false);
    let mut roots = toml_edit::Array::new();
    roots.push(target.project.records_dir().to_string_lossy().into_owned());
    sandbox.insert("writable_roots", toml_edit::value(roots));
    sandbox.insert("network_access", toml_edit::value(blocks.expose_allowed));
    sandbox.insert("exclude_slash_tmp", toml_edit::value(true));
    sandbox.insert("exclude_tmpdir_env_var", toml_edit::value(true));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_atomic(path, doc.to_string().as_bytes())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

pub struct Rules {
    pub text: String,
    pub count: usize,
}

/// Codex execpolicy rules: each blocked command pattern whose leading words are literal
/// becomes a forbidden prefix (`git push*` → `["git", "push"]`); mandate's authority verbs
/// too. Patterns with pipes or a leading wildcard cannot be prefixes and stay with the hook.
pub fn codex_rules(blocks: &Blocks) -> Rules {
    let mut prefixes: Vec<(Vec<String>, String)> = Vec::new();
    for pattern in &blocks.execute {
        if pattern.contains(['|', ';', '&', '>', '<']) {
            continue;
        }
        let words: Vec<String> = pattern
            .split_whitespace()
            .map_while(|w| {
                let literal = w.trim_end_matches('*');
                (!literal.is_empty() && !literal.contains(['*', '?', '[']))
                    .then(|| literal.to_string())
            })
            .collect();
        if !words.is_empty() {
            prefixes.push((
                words,
                format!("blocked by the task contract or policy: `{pattern}`"),
            ));
        }
    }
    for verb in mandate_policy::engine::AUTHORITY_VERBS {
        prefixes.push((
            vec!["mandate".to_string(), (*verb).to_string()],
            "mandate's authority verbs are for people, not the agent".to_string(),
        ));
    }
    let mut text = String::from(
        "# Written by `mandate install --agent codex`; rewritten on each install.\n\
         # Forbidden command prefixes compiled from mandate.toml and the active contract:\n\
         # a second layer under mandate's hook.\n",
    );
    for (words, why) in &prefixes {
        let pattern: Vec<String> = words
            .iter()
            .map(|w| Value::String(w.clone()).to_string())
            .collect();
        text.push_str(&format!(
            "prefix_rule(pattern=[{}], decision=\"forbidden\", justification={})\n",
            pattern.join(", "),
            Value::String(format!("mandate: {why}"))
        ));
    }
    Rules {
        text,
        count: prefixes.len(),
    }
}

// --- Gemini ----------------------------------------------------------------------------

fn gemini(target: &Target) -> Result<()> {
    let root = &target.project.root;
    let settings_path = if target.managed {
        std::env::var_os("MANDATE_GEMINI_SYSTEM_SETTINGS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/gemini-cli/settings.json"))
    } else {
        root.join(".gemini/settings.json")
    };
    let version = agent_version("gemini");
    let extra = version
        .as_deref()
        .map(|v| format!(" --agent-version {}", quote(v)))
        .unwrap_or_default();
    let command = hook_command(target, Agent::Gemini, &extra);
    let mut settings = read_json(&settings_path)?;
    let Some(object) = settings.as_object_mut() else {
        bail!("`{}` does not hold a JSON object", settings_path.display());
    };
    let hooks = object_at(object, "hooks")?;
    for event in GEMINI_EVENTS {
        let list = array_at(hooks, event)?;
        list.retain(|group| !group_is_ours(group, Agent::Gemini, root));
        list.push(json!({
            "matcher": "*",
            "hooks": [{
                "type": "command",
                "name": "mandate",
                "command": command,
                // Milliseconds.
                "timeout": AGENT_TIMEOUT_SECONDS * 1000,
            }],
        }));
    }
    write_json(&settings_path, &settings)?;
    // Project hooks run only in a trusted folder.
    let trusted_path = target.home.join(".gemini/trustedFolders.json");
    if !target.managed {
        let mut trusted = read_json(&trusted_path)?;
        if let Some(object) = trusted.as_object_mut() {
            object.insert(root.to_string_lossy().into_owned(), json!("TRUST_FOLDER"));
        }
        write_json(&trusted_path, &trusted)?;
    }
    let blocks = hard_blocks(&target.project)?;
    let key = mandate_project::sha256_hex(root.to_string_lossy().as_bytes());
    let policy_path = target
        .home
        .join(".gemini/policies")
        .join(format!("mandate-{}.toml", key.get(..12).unwrap_or(&key)));
    let policy = gemini_policy(root, &blocks);
    if let Some(parent) = policy_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_atomic(&policy_path, policy.text.as_bytes())?;
    println!(
        "installed mandate hooks for Gemini CLI ({} events) in {}",
        GEMINI_EVENTS.len(),
        settings_path.display()
    );
    println!("  hook: {command}");
    if !target.managed {
        println!(
            "  trusted folder: {} in {}",
            root.display(),
            trusted_path.display()
        );
    }
    println!(
        "  backstop: {} policy-engine deny rules in {}",
        policy.count,
        policy_path.display()
    );
    println!(
        "  not covered: calls inside a subagent carry nothing that names the subagent (judged as the session's)"
    );
    Ok(())
}

/// Gemini policy-engine rules from the hard blocks: blocked command prefixes, blocked
/// paths for the file tools (relative or absolute), web tools when nothing may be exposed.
pub fn gemini_policy(root: &Path, blocks: &Blocks) -> Rules {
    let mut text = String::from(
        "# Written by `mandate install --agent gemini`; rewritten on each install.\n\
         # Deny rules compiled from mandate.toml and the active contract: a second layer\n\
         # under mandate's hook.\n",
    );
    let mut count = 0;
    let mut rule = |body: String| {
        text.push_str("\n[[rule]]\n");
        text.push_str(&body);
        count += 1;
    };
    for pattern in &blocks.execute {
        if pattern.contains(['|', ';', '&', '>', '<']) {
            continue;
        }
        let prefix: Vec<&str> = pattern
            .split_whitespace()
            .map_while(|w| {
                let literal = w.trim_end_matches('*');
                (!literal.is_empty() && !literal.contains(['*', '?', '['])).then_some(literal)
            })
            .collect();
        if prefix.is_empty() {
            continue;
        }
        rule(format!(
            "toolName = \"run_shell_command\"\ncommandPrefix = {}\ndecision = \"deny\"\npriority = 900\ndenyMessage = {}\n",
            Value::String(prefix.join(" ")),
            Value::String(format!(
                "mandate: `{pattern}` is blocked by the task contract or policy"
            ))
        ));
    }
    // Gemini refuses patterns it suspects of catastrophic backtracking (a quantified
    // group): one rule for the relative path as the model wrote it, one for the absolute.
    let root_text = regex_escape(&root.to_string_lossy());
    for (tools, globs, what) in [
        (
            "[\"read_file\", \"read_many_files\"]",
            &blocks.read,
            "reading",
        ),
        ("[\"write_file\", \"replace\"]", &blocks.write, "writing"),
    ] {
        for glob in globs {
            let Some(regex) = glob_regex(glob) else {
                continue;
            };
            for prefix in [String::new(), format!("{root_text}/")] {
                let args = format!("\"file_path\":\"{prefix}{regex}\"");
                rule(format!(
                    "toolName = {tools}\nargsPattern = {}\ndecision = \"deny\"\npriority = 900\ndenyMessage = {}\n",
                    Value::String(args),
                    Value::String(format!(
                        "mandate: {what} `{glob}` is blocked by the task contract or policy"
                    ))
                ));
            }
        }
    }
    if !blocks.expose_allowed {
        rule(
            "toolName = [\"web_fetch\", \"google_web_search\"]\ndecision = \"deny\"\npriority = 900\n\
             denyMessage = \"mandate: the task contract lets nothing leave the machine\"\n"
                .to_string(),
        );
    }
    Rules { text, count }
}

/// A mandate path glob as a regex over the path text, or `None` for shapes that do not
/// translate (`{a,b}`).
fn glob_regex(glob: &str) -> Option<String> {
    if glob.contains(['{', '[']) || glob.starts_with('~') {
        return None;
    }
    let mut out = String::new();
    let mut chars = glob.trim_start_matches("./").chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                // Any depth, the folder separator included (a backstop may refuse a little
                // more than the glob says, never less).
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                out.push_str("[^\"]*");
            }
            '*' => out.push_str("[^/\"]*"),
            '?' => out.push_str("[^/\"]"),
            other => out.push_str(&regex_escape(&other.to_string())),
        }
    }
    Some(out)
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `PROGRAM --version`'s first version-looking word, if the program is on PATH.
fn agent_version(program: &str) -> Option<String> {
    let output = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(|w| w.trim_end_matches('.'))
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('.'))
        .map(str::to_string)
}

// --- Copilot ---------------------------------------------------------------------------

fn copilot(target: &Target) -> Result<()> {
    let root = &target.project.root;
    let copilot_home = std::env::var_os("COPILOT_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.home.join(".copilot"));
    let settings_path = copilot_home.join("settings.json");
    let mut settings = read_json(&settings_path)?;
    let Some(object) = settings.as_object_mut() else {
        bail!("`{}` does not hold a JSON object", settings_path.display());
    };
    let hooks = object_at(object, "hooks")?;
    for event in mandate_agents::copilot::EVENTS {
        let command = hook_command(target, Agent::Copilot, &format!(" --event {event}"));
        let list = array_at(hooks, event)?;
        list.retain(|entry| {
            !entry
                .get("bash")
                .and_then(Value::as_str)
                .is_some_and(|c| is_ours(c, Agent::Copilot, root))
        });
        list.push(
            json!({ "type": "command", "bash": command, "timeoutSec": AGENT_TIMEOUT_SECONDS }),
        );
    }
    write_json(&settings_path, &settings)?;
    let blocks = hard_blocks(&target.project)?;
    let flags = copilot_flags(&blocks);
    let flags_path = target.project.workspace_dir().join("copilot-flags");
    mandate_project::create_private_dir(&target.project.workspace_dir())?;
    write_atomic(&flags_path, (flags.join(" ") + "\n").as_bytes())?;
    println!(
        "installed mandate hooks for Copilot CLI ({} events) in {} (user hooks: no folder trust needed; they judge sessions under {} only)",
        mandate_agents::copilot::EVENTS.len(),
        settings_path.display(),
        root.display()
    );
    println!("  backstop: launch with these flags (Copilot takes them only on the command line):");
    println!("    copilot {}", flags.join(" "));
    println!("  (also in {})", flags_path.display());
    Ok(())
}

/// Copilot `--deny-tool` flags from the hard blocks (deny beats `--allow-all-tools`).
pub fn copilot_flags(blocks: &Blocks) -> Vec<String> {
    let mut flags = Vec::new();
    for pattern in &blocks.execute {
        if pattern.contains(['|', ';', '&', '>', '<']) {
            continue;
        }
        let words: Vec<&str> = pattern
            .split_whitespace()
            .map_while(|w| {
                let literal = w.trim_end_matches('*');
                (!literal.is_empty() && !literal.contains(['*', '?', '['])).then_some(literal)
            })
            .collect();
        if let Some((first, rest)) = words.split_first() {
            let spec = if rest.is_empty() {
                format!("shell({first}:*)")
            } else {
                format!("shell({})", words.join(" "))
            };
            flags.push(format!("--deny-tool={}", quote(&spec)));
        }
    }
    for glob in &blocks.write {
        flags.push(format!("--deny-tool={}", quote(&format!("write({glob})"))));
    }
    if !blocks.expose_allowed {
        flags.push("--deny-tool='url'".to_string());
    }
    flags
}

// --- Cursor ----------------------------------------------------------------------------

fn cursor(target: &Target) -> Result<()> {
    let root = &target.project.root;
    let path = root.join(".cursor/hooks.json");
    let command = hook_command(target, Agent::Cursor, "");
    let mut file = read_json(&path)?;
    let Some(object) = file.as_object_mut() else {
        bail!("`{}` does not hold a JSON object", path.display());
    };
    object.insert("version".into(), json!(1));
    let hooks = object_at(object, "hooks")?;
    for event in mandate_agents::cursor::EVENTS {
        let list = array_at(hooks, event)?;
        list.retain(|entry| {
            !entry
                .get("command")
                .and_then(Value::as_str)
                .is_some_and(|c| is_ours(c, Agent::Cursor, root))
        });
        list.push(json!({
            "command": command,
            "timeout": AGENT_TIMEOUT_SECONDS,
            "failClosed": true,
        }));
    }
    write_json(&path, &file)?;
    println!(
        "installed mandate hooks for Cursor ({} events) in {} with failClosed (from Cursor's documentation; not run here)",
        mandate_agents::cursor::EVENTS.len(),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codex_trust_hashes_match_what_codex_reports() {
        // Reported by Codex 0.169.0's app-server (`hooks/list`) for these handlers.
        let handler = json!({ "type": "command", "command": "/bin/echo hi", "timeout": 10 });
        let pre = json!({ "matcher": "*", "hooks": [handler.clone()] });
        assert_eq!(
            codex_trust_hash("pre_tool_use", &pre),
            "sha256:4003d4f9078034eae4264c8db16d7ab90aa3e7e2d9c9aeee51de35d669ed65c4"
        );
        let stop = json!({ "hooks": [handler] });
        assert_eq!(
            codex_trust_hash("stop", &stop),
            "sha256:ed5a4c40e459ea0dd9c08daf34047b19bd8c4b0f28e0da591daea9ba45aba57a"
        );
    }

    #[test]
    fn glob_regexes() {
        assert_eq!(
            glob_regex("customer_data/**").unwrap(),
            "customer_data/[^\"]*"
        );
        assert_eq!(glob_regex("**/.env*").unwrap(), "[^\"]*\\.env[^/\"]*");
    }
}
