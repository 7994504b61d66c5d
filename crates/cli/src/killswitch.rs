//! `mandate disable`, `mandate enable` and `mandate disabled`: the kill switch.
//!
//! Only identities in `authority.kill_switch` (of the repository or the organisation
//! policy) may switch. Each action is appended to the store's log and written into the
//! record of every active run that keeps its records in the same store, so a reviewer
//! of any of those runs sees when the box changed under it.
//!
//! With a team server (`records.server`), two things are told to it:
//!
//! - **this machine's change**, always (`POST /api/v1/killswitch/machine`): any token
//!   may report what was switched on its own machine. The server lists it apart from the
//!   organisation's list, so security sees that a machine turned something off, and a
//!   developer's token cannot switch anything off for everyone else;
//! - **the organisation's kill list**, which every machine's hooks follow: changed only
//!   when the token's user may (a security or admin token whose user the team policy's
//!   `kill_switch` names). Otherwise the refusal says what the token lacks and who
//!   holds the switch.
//!
//! A server that cannot be reached gets both later (the outbox; `mandate push` and
//! `mandate status` show what waits). `mandate disabled` shows the local list and the
//! server's, as of the last sync.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Result, bail};
use mandate_project::killswitch::{Action, Entry, KillSwitch, parse_target, record_in_active_runs};
use mandate_project::mcp_pins::Pins;
use mandate_project::recorder::now_rfc3339;
use mandate_project::{Project, current_user, os_user};
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
    let existing = current
        .disabled
        .iter()
        .find(|d| d.target == target)
        .cloned();
    // The server's list as it is now, so an enable finds what the web switched off.
    let _ = crate::push::sync_now(&project);
    // Off on the team server only (switched on the web or on another machine).
    let on_server = mandate_project::remote::read_sync_cache(&records)
        .map(|cache| cache.killed.iter().any(|k| k == &target))
        .unwrap_or(false);
    let entry = Entry {
        time: now_rfc3339(),
        action,
        target: target.clone(),
        by: user.clone(),
        os_user: os_user(),
        reason: reason.to_string(),
    };
    match (action, &existing) {
        (Action::Disable, Some(off)) => {
            // Already off here: the server is still told, in case it never was.
            println!(
                "`{target}` is already disabled on this machine (by {} since {}: {})",
                off.by, off.since, off.reason
            );
        }
        (Action::Enable, None) if !on_server => {
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
        (Action::Enable, None) => {}
        _ => {
            switch.append(&entry)?;
            match action {
                Action::Disable => println!(
                    "disabled `{target}`: the next tool call that touches it is denied, in \
                     every workspace keeping its records in {}",
                    records.display()
                ),
                Action::Enable => println!("enabled `{target}` again on this machine"),
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
            let (written, failed) = record_in_active_runs(&records, &event);
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
        }
    }
    let changed_here = match action {
        Action::Disable => true,
        Action::Enable => existing.is_some(),
    };
    let org_wide = action == Action::Disable || on_server;
    Ok(tell_server_of_switch(
        &project,
        &entry,
        changed_here,
        org_wide,
    ))
}

/// With `records.server` set: report this machine's change, and change the
/// organisation's list where the token may. Exit 1 only when the server refused both,
/// or the link is unusable; a change waiting for an unreachable server is kept (exit 0,
/// said).
fn tell_server_of_switch(
    project: &Project,
    entry: &Entry,
    changed_here: bool,
    org_wide: bool,
) -> ExitCode {
    use mandate_project::outbox::Delivery;
    let server = match mandate_project::remote::configured(project) {
        None => return ExitCode::SUCCESS,
        Some(Ok(server)) => server,
        Some(Err(error)) => {
            eprintln!(
                "warning: records.server is not usable ({error}); this holds on this machine \
                 only until it is fixed"
            );
            return ExitCode::from(1);
        }
    };
    let records = project.records_dir();
    let mut refused = 0;
    if changed_here {
        match mandate_project::remote::report_machine_kill(&server, &records, entry) {
            Delivery::Sent(_) => println!(
                "the team server {} lists this machine's change (its registry page, \
                 \"switched off on machines\")",
                server.url
            ),
            Delivery::Queued(reason) => println!(
                "the team server cannot take this machine's change yet ({reason}); it is kept \
                 and sent by the next push (`mandate push` sends it now and shows what waits)"
            ),
            Delivery::Refused(reason) => {
                refused += 1;
                eprintln!("warning: {reason}");
            }
        }
    }
    let action = entry.action.as_str();
    if !org_wide {
        return if refused > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        };
    }
    match mandate_project::remote::switch(&server, &records, action, &entry.target, &entry.reason) {
        Delivery::Sent(_) => println!(
            "the organisation's kill list on {} has it: every machine's hooks follow it at \
             their next sync",
            server.url
        ),
        Delivery::Queued(reason) => println!(
            "the organisation's kill list on {} is not changed yet ({reason}); the change is \
             kept and sent by the next push",
            server.url
        ),
        Delivery::Refused(reason) => {
            refused += 1;
            let holders = kill_switch_holders(&server);
            println!(
                "the organisation's kill list is unchanged: {reason}{}. This machine's change \
                 holds here{}.",
                holders
                    .map(|h| format!(
                        ". The team policy's `kill_switch` names {h}: ask them to {action} it \
                         for everyone"
                    ))
                    .unwrap_or_default(),
                if changed_here {
                    " and is reported to the server"
                } else {
                    ""
                }
            );
        }
    }
    if refused == 2 || (!changed_here && refused == 1) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Who holds the organisation's kill switch, from the team policy (any token reads it).
fn kill_switch_holders(server: &mandate_project::remote::Server) -> Option<String> {
    let response = server
        .request(
            "GET",
            "/api/v1/policy",
            None,
            std::time::Duration::from_secs(5),
        )
        .ok()?;
    let names: Vec<String> = response
        .json()
        .pointer("/policy/kill_switch")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

/// With `records.server` set, a change the team server must learn through its API (an
/// approval decision, a review): say whether it has it, waits for it, or refused it.
/// Exit 1 when refused or the link is unusable.
pub fn tell_server(
    project: &Project,
    send: impl FnOnce(&mandate_project::remote::Server) -> mandate_project::outbox::Delivery,
) -> ExitCode {
    use mandate_project::outbox::Delivery;
    match mandate_project::remote::configured(project) {
        None => ExitCode::SUCCESS,
        Some(Ok(server)) => match send(&server) {
            Delivery::Sent(_) => {
                println!("the team server {} has it too", server.url);
                ExitCode::SUCCESS
            }
            Delivery::Queued(reason) => {
                println!(
                    "the team server cannot take it yet ({reason}); it is kept and sent by the \
                     next push (`mandate push` sends it now and shows what waits)"
                );
                ExitCode::SUCCESS
            }
            Delivery::Refused(reason) => {
                eprintln!("warning: {reason}");
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

pub fn disabled(json: bool) -> Result<ExitCode> {
    let project = project_here()?;
    let records = project.records_dir();
    let current = KillSwitch::new(&records).current()?;
    // The team server's list as it is now (or as last known, said so).
    let server = crate::push::sync_now(&project);
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
                "team_server": server.as_ref().map(|(url, cache)| json!({
                    "url": url,
                    "kill_switch": cache.killed_by,
                    "as_of": cache.server_time,
                    "problem": cache.error,
                })),
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
    if let Some((url, cache)) = &server {
        if let Some(problem) = &cache.error {
            println!("team server {url}: not reachable now ({problem}); its last known list:");
        }
        if cache.killed_by.is_empty() {
            println!("team server {url}: nothing is disabled for the organisation");
        } else {
            println!("team server {url} (every machine's hooks follow it):");
            for off in &cache.killed_by {
                println!(
                    "  {:<24} by {} since {}: {}",
                    off.target, off.by, off.since, off.reason
                );
            }
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
