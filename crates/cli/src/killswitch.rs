//! `mandate disable`, `mandate enable` and `mandate disabled`: the kill switch.
//!
//! Only identities in `authority.kill_switch` (of the repository or the organisation
//! policy) may switch. Each action is appended to the store's log and written into the
//! record of every active run that keeps its records in the same store, so a reviewer
//! of any of those runs sees when the box changed under it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use mandate_project::killswitch::{Action, Entry, KillSwitch, parse_target};
use mandate_project::mcp_pins::Pins;
use mandate_project::recorder::{append_event, now_rfc3339};
use mandate_project::{ActiveRun, Project, current_user, os_user};
use serde_json::json;

fn project_here() -> Result<Project> {
    let cwd = std::env::current_dir()?;
    Ok(Project::discover(&cwd, None)?)
}

/// Who may use the kill switch: the repository's list and the organisation's.
fn kill_switch_identities(project: &Project) -> Vec<String> {
    let mut list = project.policy.authority.kill_switch.clone();
    if let Some((_, org)) = &project.org {
        for who in &org.authority.kill_switch {
            if !list.contains(who) {
                list.push(who.clone());
            }
        }
    }
    list
}

/// The person at the keyboard, if the kill switch is theirs to use.
fn authorised(project: &Project, verb: &str) -> Result<String> {
    let Some(user) = current_user(&project.root) else {
        bail!(
            "cannot tell who you are: set MANDATE_USER or git's user.email to an identity \
             listed in `authority.kill_switch`"
        );
    };
    let allowed = kill_switch_identities(project);
    if !allowed.contains(&user) {
        bail!(
            "`{user}` may not {verb} anything: `authority.kill_switch` in {} lists {}",
            project.policy_path.display(),
            if allowed.is_empty() {
                "nobody".to_string()
            } else {
                allowed.join(", ")
            }
        );
    }
    Ok(user)
}

fn registry_tools(project: &Project) -> Result<BTreeMap<String, Vec<String>>> {
    let engine = project.engine(None)?;
    Ok(engine
        .registry()
        .iter()
        .map(|(name, server)| (name.clone(), server.tools.keys().cloned().collect()))
        .collect())
}

pub fn disable(target: &str, reason: &str) -> Result<ExitCode> {
    switch(Action::Disable, target, reason)
}

pub fn enable(target: &str, reason: Option<&str>) -> Result<ExitCode> {
    switch(Action::Enable, target, reason.unwrap_or(""))
}

fn switch(action: Action, target: &str, reason: &str) -> Result<ExitCode> {
    let project = project_here()?;
    let user = authorised(&project, action.as_str())?;
    if action == Action::Disable && reason.trim().is_empty() {
        bail!("say why with `--reason TEXT`: the reason goes into the log and every run's record");
    }
    let target = match action {
        // Checked against the registry, so a typo cannot leave the real target on.
        Action::Disable => {
            parse_target(target, &registry_tools(&project)?).map_err(anyhow::Error::msg)?;
            target.trim().to_string()
        }
        Action::Enable => target.trim().to_string(),
    };
    let records = project.records_dir();
    let switch = KillSwitch::new(&records);
    let current = switch.current()?;
    let existing = current.disabled.iter().find(|d| d.target == target);
    match (action, existing) {
        (Action::Disable, Some(off)) => {
            println!(
                "`{target}` is already disabled (by {} since {}: {})",
                off.by, off.since, off.reason
            );
            return Ok(ExitCode::SUCCESS);
        }
        (Action::Enable, None) => {
            let list: Vec<&str> = current.disabled.iter().map(|d| d.target.as_str()).collect();
            bail!(
                "`{target}` is not disabled; what is off: {}",
                if list.is_empty() {
                    "nothing".to_string()
                } else {
                    list.join(", ")
                }
            );
        }
        _ => {}
    }
    let entry = Entry {
        time: now_rfc3339(),
        action,
        target: target.clone(),
        by: user.clone(),
        os_user: os_user(),
        reason: reason.to_string(),
    };
    switch.append(&entry)?;
    match action {
        Action::Disable => println!(
            "disabled `{target}`: the next tool call that touches it is denied, in every \
             workspace keeping its records in {}",
            records.display()
        ),
        Action::Enable => println!("enabled `{target}` again"),
    }
    let (written, failed) = write_into_active_runs(&records, &entry);
    if !written.is_empty() {
        println!(
            "written into the record of {} active run(s): {}",
            written.len(),
            written.join(", ")
        );
    }
    for failure in &failed {
        eprintln!("warning: {failure}");
    }
    Ok(tell_server(&project, |server| {
        mandate_project::remote::switch(server, action.as_str(), &target, reason).map(|_| ())
    }))
}

/// With `records.server` set, the team server is where every machine's hooks learn of a
/// decision: tell it too. Exit 1 when it could not be told.
pub fn tell_server(
    project: &Project,
    send: impl FnOnce(&mandate_project::remote::Server) -> Result<(), String>,
) -> ExitCode {
    match mandate_project::remote::configured(project) {
        None => ExitCode::SUCCESS,
        Some(Ok(server)) => match send(&server) {
            Ok(()) => {
                println!("the team server {} has it too", server.url);
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!(
                    "warning: the team server {} did not take it ({error}); it holds on this \
                     machine only. Retry when the server is reachable.",
                    server.url
                );
                ExitCode::from(1)
            }
        },
        Some(Err(error)) => {
            eprintln!(
                "warning: records.server is not usable ({error}); this holds on this machine only"
            );
            ExitCode::from(1)
        }
    }
}

/// Append a `killswitch` event to every active run of this record store.
fn write_into_active_runs(records: &Path, entry: &Entry) -> (Vec<String>, Vec<String>) {
    let mut written = Vec::new();
    let mut failed = Vec::new();
    let Ok(workspaces) = std::fs::read_dir(records.join("workspaces")) else {
        return (written, failed);
    };
    for workspace in workspaces.flatten() {
        let active = ActiveRun::new(&workspace.path());
        let Ok(Some(state)) = active.load() else {
            continue;
        };
        if state.finished {
            continue;
        }
        let event = json!({
            "type": "killswitch",
            "time": entry.time,
            "action": entry.action.as_str(),
            "target": entry.target,
            "by": entry.by,
            "os_user": entry.os_user,
            "reason": entry.reason,
        });
        match append_event(&state.run_dir, event) {
            Ok(_) => written.push(state.run_id.clone()),
            Err(error) => failed.push(format!(
                "could not write the kill-switch action into run {}: {error}",
                state.run_id
            )),
        }
    }
    (written, failed)
}

pub fn disabled(json: bool) -> Result<ExitCode> {
    let project = project_here()?;
    let records = project.records_dir();
    let current = KillSwitch::new(&records).current()?;
    let engine = project.engine(None)?;
    let mut in_registry = Vec::new();
    for (name, server) in engine.registry() {
        if server.disabled {
            in_registry.push(name.clone());
        }
        for (tool, spec) in &server.tools {
            if spec.disabled() {
                in_registry.push(format!("{name}/{tool}"));
            }
        }
    }
    let drifted = Pins::new(&records).drift_list()?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "kill_switch": current.disabled,
                "registry": in_registry,
                "drifted": drifted.drifted,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if current.disabled.is_empty() {
        println!("kill switch: nothing is disabled");
    } else {
        println!(
            "kill switch (log: {}):",
            KillSwitch::new(&records).log_path().display()
        );
        for off in &current.disabled {
            println!(
                "  {:<24} by {} ({}) since {}: {}",
                off.target, off.by, off.os_user, off.since, off.reason
            );
        }
    }
    if !in_registry.is_empty() {
        println!(
            "disabled in the registry (mandate.toml): {}",
            in_registry.join(", ")
        );
    }
    if !drifted.drifted.is_empty() {
        println!("refused until pinned again (MCP drift):");
        for drift in &drifted.drifted {
            println!("  {:<24} {}", drift.target, drift.change);
        }
    }
    Ok(ExitCode::SUCCESS)
}
