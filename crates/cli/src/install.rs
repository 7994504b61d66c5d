//! `mandate install`: Claude Code hooks with `onFailure: block`, and native deny rules.
//!
//! The hooks are the first layer; the `permissions.deny` rules compiled from the hard
//! blocks are a second layer that still holds if a hook is skipped. Installing is
//! idempotent: mandate's own entries are replaced, the user's other settings are kept.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use mandate_claude_code::protocol::EVENTS;
use mandate_project::{ActiveRun, Project, write_atomic};
use serde_json::{Map, Value, json};

/// Claude Code's managed settings file on Linux; `MANDATE_MANAGED_SETTINGS` overrides it
/// (tests, other platforms).
pub const MANAGED_SETTINGS: &str = "/etc/claude-code/managed-settings.json";

/// Seconds Claude Code waits for the hook before `onFailure: block` refuses the call.
const HOOK_TIMEOUT_SECONDS: u64 = 10;

const TOOL_EVENTS: &[&str] = &[
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "PostToolUseFailure",
];

pub fn install(managed: bool, binary: Option<PathBuf>, allow_unsafe: bool) -> Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let project = Project::discover(&cwd, None)?;
    let binary = match binary {
        Some(binary) => std::path::absolute(binary)?,
        None => std::env::current_exe()?,
    };
    if !allow_unsafe && let Some(problem) = replaceable(&binary, &project.root) {
        bail!(
            "refusing to point the hooks at `{}`: {problem}. The agent could replace it and \
                 run without a guard. Install mandate outside the repository (e.g. \
                 `cargo install --path crates/cli`), or pass --allow-unsafe-binary if you accept that.",
            binary.display()
        );
    }
    let settings_path = if managed {
        std::env::var_os("MANDATE_MANAGED_SETTINGS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(MANAGED_SETTINGS))
    } else {
        project.root.join(".claude/settings.json")
    };
    let mut settings: Value = match std::fs::read_to_string(&settings_path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "`{}` is not valid JSON; fix it first (Claude Code would ignore it too)",
                settings_path.display()
            )
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot read `{}`", settings_path.display()));
        }
    };
    let Some(object) = settings.as_object_mut() else {
        bail!("`{}` does not hold a JSON object", settings_path.display());
    };
    set_hooks(object, &binary, &project.root);
    let workspace = project.workspace_dir();
    let previous = read_previous_rules(&workspace);
    let rules = deny_rules(&project)?;
    set_deny_rules(object, &previous, &rules);
    let sandbox = apply_sandbox(object, &project, &binary)?;
    if let Some(parent) = settings_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let text = serde_json::to_string_pretty(&settings)? + "\n";
    write_atomic(&settings_path, text.as_bytes())?;
    mandate_project::create_private_dir(&workspace)?;
    write_atomic(
        &workspace.join("installed.json"),
        serde_json::to_string_pretty(&json!({
            "settings": settings_path,
            "binary": binary,
            "deny_rules": rules,
        }))?
        .as_bytes(),
    )?;
    println!(
        "installed mandate hooks for {} events in {}",
        EVENTS.len(),
        settings_path.display()
    );
    println!(
        "  hook: {} hook claude-code --root {}",
        binary.display(),
        project.root.display()
    );
    println!("  onFailure: block (a missing, crashing or slow hook refuses the call)");
    println!(
        "  {} native permissions.deny rules from the hard blocks",
        rules.len()
    );
    report_sandbox(sandbox.as_ref());
    if ActiveRun::new(&workspace).load()?.is_none() {
        println!(
            "next: `mandate start CONTRACT` to open a run; until then every tool call is refused"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Write the `sandbox` section for the active contract (unless the policy turns it off);
/// returns what was written.
pub fn apply_sandbox(
    settings: &mut Map<String, Value>,
    project: &Project,
    binary: &Path,
) -> Result<Option<Value>> {
    if project.policy.sandbox.enabled == Some(false) {
        settings.remove("sandbox");
        return Ok(None);
    }
    let active = ActiveRun::new(&project.workspace_dir());
    let contract = match active.load()?.filter(|s| !s.finished) {
        Some(_) => {
            let path = active.contract_path();
            Some(mandate_policy::parse_contract(
                &path,
                &mandate_project::read(&path)?,
            )?)
        }
        None => None,
    };
    let sandbox = crate::sandbox::sandbox_settings(project, contract.as_ref(), binary);
    settings.insert("sandbox".into(), sandbox.clone());
    Ok(Some(sandbox))
}

fn report_sandbox(sandbox: Option<&Value>) {
    let Some(sandbox) = sandbox else {
        println!("  sandbox: off (`[sandbox] enabled = false` in mandate.toml)");
        return;
    };
    let count = |key: &str| {
        sandbox
            .pointer(&format!("/filesystem/{key}"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    };
    println!(
        "  sandbox: on, fail-closed ({} paths unreadable, {} unwritable, network to {} domains)",
        count("denyRead"),
        count("denyWrite"),
        sandbox
            .pointer("/network/allowedDomains")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    );
    if cfg!(target_os = "linux") && !command_exists("bwrap") {
        println!(
            "  WARNING: bubblewrap (`bwrap`) is not installed, so Claude Code cannot start its \
             sandbox and will refuse every Bash call. Install it: `apt-get install bubblewrap socat`."
        );
    }
}

fn command_exists(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// After `mandate start`: bring the installed settings' sandbox in step with the new
/// contract. Does nothing when mandate was never installed here.
pub fn refresh_sandbox(project: &Project) -> Result<Option<PathBuf>> {
    let installed = project.workspace_dir().join("installed.json");
    let Ok(text) = std::fs::read_to_string(&installed) else {
        return Ok(None);
    };
    let record: Value = serde_json::from_str(&text)?;
    let Some(path) = record
        .get("settings")
        .and_then(Value::as_str)
        .map(PathBuf::from)
    else {
        return Ok(None);
    };
    let mut settings: Value = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not valid JSON", path.display()))?,
        Err(_) => return Ok(None),
    };
    let Some(object) = settings.as_object_mut() else {
        return Ok(None);
    };
    let binary = record
        .get("binary")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("mandate"));
    apply_sandbox(object, project, &binary)?;
    let rules = deny_rules(project)?;
    let previous = read_previous_rules(&project.workspace_dir());
    set_deny_rules(object, &previous, &rules);
    write_atomic(
        &path,
        (serde_json::to_string_pretty(&settings)? + "\n").as_bytes(),
    )?;
    let mut record = record;
    if let Some(object) = record.as_object_mut() {
        object.insert("deny_rules".into(), json!(rules));
    }
    write_atomic(
        &installed,
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    Ok(Some(path))
}

/// Why the agent could replace `binary`, if it could.
pub(crate) fn replaceable(binary: &Path, root: &Path) -> Option<String> {
    let canonical = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    if canonical.starts_with(root) {
        return Some("it is inside the repository the agent works in".to_string());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let writable = |path: &Path| {
            std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
        };
        if writable(&canonical) {
            return Some("the file is world-writable".to_string());
        }
        if let Some(parent) = canonical.parent()
            && writable(parent)
        {
            return Some(format!(
                "its folder `{}` is world-writable",
                parent.display()
            ));
        }
    }
    None
}

/// Is this settings entry one `mandate install` wrote? Recognised by the arguments it
/// writes (`hook claude-code …`), whatever the binary is called, or by a shell-form
/// command holding them.
fn is_mandate_hook(entry: &Value) -> bool {
    let hooks = entry.get("hooks").and_then(Value::as_array);
    hooks.is_some_and(|hooks| {
        hooks.iter().any(|hook| {
            let args: Vec<&str> = hook
                .get("args")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let command = hook.get("command").and_then(Value::as_str).unwrap_or("");
            args.starts_with(&["hook", "claude-code"]) || command.contains("hook claude-code")
        })
    })
}

fn set_hooks(settings: &mut Map<String, Value>, binary: &Path, root: &Path) {
    let hooks = settings.entry("hooks").or_insert_with(|| json!({}));
    if !hooks.is_object() {
        *hooks = json!({});
    }
    let Some(hooks) = hooks.as_object_mut() else {
        return;
    };
    for event in EVENTS {
        let list = hooks.entry(*event).or_insert_with(|| json!([]));
        if !list.is_array() {
            *list = json!([]);
        }
        let Some(list) = list.as_array_mut() else {
            continue;
        };
        list.retain(|entry| !is_mandate_hook(entry));
        let handler = json!({
            "type": "command",
            "command": binary,
            "args": ["hook", "claude-code", "--root", root],
            "timeout": HOOK_TIMEOUT_SECONDS,
            "onFailure": "block",
        });
        let entry = if TOOL_EVENTS.contains(event) {
            json!({ "matcher": "*", "hooks": [handler] })
        } else {
            json!({ "hooks": [handler] })
        };
        list.push(entry);
    }
}

fn read_previous_rules(workspace: &Path) -> Vec<String> {
    std::fs::read_to_string(workspace.join("installed.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v.get("deny_rules").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

fn set_deny_rules(settings: &mut Map<String, Value>, previous: &[String], rules: &[String]) {
    let permissions = settings.entry("permissions").or_insert_with(|| json!({}));
    if !permissions.is_object() {
        *permissions = json!({});
    }
    let Some(permissions) = permissions.as_object_mut() else {
        return;
    };
    let deny = permissions.entry("deny").or_insert_with(|| json!([]));
    if !deny.is_array() {
        *deny = json!([]);
    }
    let Some(deny) = deny.as_array_mut() else {
        return;
    };
    deny.retain(|rule| {
        rule.as_str()
            .is_none_or(|r| !previous.iter().any(|p| p == r))
    });
    for rule in rules {
        if !deny.iter().any(|r| r.as_str() == Some(rule)) {
            deny.push(json!(rule));
        }
    }
}

/// The hard blocks of the policies and the active contract, without what a stop
/// condition covers (a native layer refusing those would keep the hook from halting the
/// run): what every agent's native backstop is compiled from.
pub struct Blocks {
    pub read: Vec<String>,
    pub write: Vec<String>,
    pub execute: Vec<String>,
    pub call: Vec<String>,
    /// The contract lets something leave the machine (its `allow.expose` is not empty).
    pub expose_allowed: bool,
    /// The contract's write allows that name one exact path (they lift a protected name).
    pub literal_allows: Vec<String>,
}

pub fn hard_blocks(project: &Project) -> Result<Blocks> {
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    let mut executes = Vec::new();
    let mut calls = Vec::new();
    let mut add = |lists: &mandate_policy::format::TouchLists| {
        reads.extend(lists.read.iter().cloned());
        writes.extend(lists.write.iter().cloned());
        executes.extend(lists.execute.iter().cloned());
        calls.extend(lists.call.iter().cloned());
    };
    if let Some((_, org)) = &project.org {
        add(&org.block);
    }
    add(&project.policy.block);
    let active = ActiveRun::new(&project.workspace_dir());
    let mut stops = mandate_policy::format::TouchLists::default();
    let mut expose_allowed = false;
    let mut literal_allows: Vec<String> = Vec::new();
    if active.load()?.is_some_and(|s| !s.finished) {
        let path = active.contract_path();
        let text = mandate_project::read(&path)?;
        let contract = mandate_policy::parse_contract(&path, &text)?;
        add(&contract.block);
        expose_allowed = !contract.allow.expose.is_empty();
        literal_allows.extend(
            contract
                .allow
                .write
                .iter()
                .filter(|w| mandate_policy::is_literal_pattern(w))
                .cloned(),
        );
        for stop in &contract.stop {
            let lists = stop.lists();
            stops.read.extend(lists.read);
            stops.write.extend(lists.write);
            stops.execute.extend(lists.execute);
            stops.call.extend(lists.call);
        }
    }
    // Claude Code applies native rules before any hook runs: a native deny over a stop
    // condition's paths would refuse the call without the hook ever halting the run.
    // The hook still denies those calls; only the second layer steps back.
    reads.retain(|glob| !intercepts_stop(glob, &stops.read));
    writes.retain(|glob| !intercepts_stop(glob, &stops.write));
    executes.retain(|pattern| !stops.execute.contains(pattern));
    calls.retain(|pattern| !stops.call.contains(pattern));
    Ok(Blocks {
        read: reads,
        write: writes,
        execute: executes,
        call: calls,
        expose_allowed,
        literal_allows,
    })
}

/// Claude Code `permissions.deny` rules from the hard blocks of the policies and the
/// active contract, plus mandate's own protected files.
pub fn deny_rules(project: &Project) -> Result<Vec<String>> {
    let Blocks {
        read: reads,
        write: mut writes,
        execute: executes,
        call: calls,
        literal_allows,
        ..
    } = hard_blocks(project)?;
    for protected in [
        "mandate.toml",
        ".mandate/**",
        ".mcp.json",
        ".claude/settings.json",
        ".claude/settings.local.json",
    ] {
        writes.push(protected.to_string());
    }
    // Names protected at any depth, unless the contract lifts one by naming its exact path
    // (a native deny would refuse that call before the hook could allow it).
    for name in mandate_policy::PROTECTED_NAMES {
        let node = name.trim_end_matches("/**");
        let lifted = literal_allows.iter().any(|allow| {
            allow == node
                || allow.ends_with(&format!("/{node}"))
                || allow.starts_with(&format!("{node}/"))
                || allow.contains(&format!("/{node}/"))
        });
        if !lifted {
            writes.push(format!("**/{name}"));
        }
    }
    let mut rules = Vec::new();
    for glob in reads {
        rules.push(format!("Read({})", claude_path(&glob)));
    }
    for glob in writes {
        rules.push(format!("Edit({})", claude_path(&glob)));
    }
    rules.push(format!(
        "Edit({})",
        claude_path(&format!("{}/**", project.records_dir().display()))
    ));
    for pattern in executes {
        // Claude Code splits compound commands itself; a pipeline pattern cannot match a
        // single command, and mandate's hook judges pipelines anyway.
        if !pattern.contains(['|', ';', '&']) {
            rules.push(format!("Bash({pattern})"));
        }
    }
    for pattern in calls {
        // Claude Code accepts globs in tool names only after a literal `mcp__<server>__`.
        let literal_server = pattern
            .strip_prefix("mcp__")
            .and_then(|rest| rest.split_once("__"))
            .is_some_and(|(server, _)| !server.contains('*'));
        if !pattern.contains('*') || literal_server {
            rules.push(pattern);
        }
    }
    let mut unique = Vec::new();
    for rule in rules {
        if !unique.contains(&rule) {
            unique.push(rule);
        }
    }
    Ok(unique)
}

/// Would the native rule for `glob` refuse a typical path of one of the `stops` globs?
/// The probe replaces each wildcard of the stop glob with a plain name, so
/// `**/migrations/**` probes `x/migrations/x`: `**/migrations/**` and `**/*` intercept
/// it, `deploy/**` does not (and keeps its native rule).
fn intercepts_stop(glob: &str, stops: &[String]) -> bool {
    let Ok(compiled) = mandate_policy::glob::PathGlob::new(glob) else {
        return false;
    };
    stops.iter().any(|stop| {
        let probe: Vec<String> = stop
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.replace("**", "x").replace(['*', '?'], "x"))
            .collect();
        let probe: Vec<&str> = probe.iter().map(String::as_str).collect();
        stop == glob || compiled.matches(&probe)
    })
}

/// A mandate glob as a Claude Code path rule: root-relative globs are anchored at the
/// settings source (`/path`), absolute ones at the file-system root (`//path`).
fn claude_path(glob: &str) -> String {
    if let Some(rest) = glob.strip_prefix('/') {
        format!("//{rest}")
    } else if glob.starts_with("~/") {
        glob.to_string()
    } else {
        format!("/{}", glob.trim_start_matches("./"))
    }
}
