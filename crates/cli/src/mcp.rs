//! `mandate mcp scan`, `mandate mcp pin` and `mandate mcp verify`.
//!
//! `scan` reads Claude Code's configuration for the workspace and holds every server it
//! would start against the registry. `pin` connects to one server as Claude Code would
//! (the same command, arguments and environment, or the same URL) and stores digests of
//! its tools; `verify` connects again and compares, and writes what drifted where the
//! hook reads it, so calls to a drifted tool are refused until an owner pins it again.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Subcommand;
use mandate_mcp::{Endpoint, Listing};
use mandate_policy::format::did_you_mean;
use mandate_project::approvals::canonical_json;
use mandate_project::mcp_config::{
    Configured, Discovery, Locations, Transport, discover, registry_gaps,
};
use mandate_project::mcp_pins::{Drift, Pin, Pins, ToolText, compare, digest_text, pin_tools};
use mandate_project::recorder::now_rfc3339;
use mandate_project::{Project, current_user, os_user};
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum McpCommand {
    /// Every MCP server configured for this workspace, held against the registry.
    Scan {
        /// Print JSON: each server, its registry entry and its pin.
        #[arg(long)]
        json: bool,
    },
    /// Connect to a server, list its tools and store their digests.
    Pin {
        /// The server's name in the MCP configuration and the registry.
        server: String,
        /// Seconds to wait for the server.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Connect to pinned servers again and report drift (exit 1 when anything changed).
    Verify {
        /// One server (default: every pinned server).
        server: Option<String>,
        /// Print JSON: each server and what drifted.
        #[arg(long)]
        json: bool,
        /// Seconds to wait for each server.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
}

pub fn run(command: McpCommand) -> Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let project = Project::discover(&cwd, None)?;
    match command {
        McpCommand::Scan { json } => scan(&project, json),
        McpCommand::Pin { server, timeout } => pin(&project, &server, timeout),
        McpCommand::Verify {
            server,
            json,
            timeout,
        } => verify(&project, server.as_deref(), json, timeout),
    }
}

fn discovery(project: &Project) -> Discovery {
    discover(&Locations::for_workspace(
        &project.root,
        project.home.as_deref(),
    ))
}

fn scan(project: &Project, as_json: bool) -> Result<ExitCode> {
    let engine = project.engine(None)?;
    let registry = engine.registry();
    let groups: Vec<&str> = engine.reviewers().keys().map(String::as_str).collect();
    let found = discovery(project);
    let pins = Pins::new(&project.records_dir());
    let drift = pins.drift_list()?;
    let mut problems: Vec<String> = found.problems.clone();
    let mut rows = Vec::new();
    for server in &found.servers {
        let mut issues = Vec::new();
        let mut notes = Vec::new();
        let entry = registry.get(&server.name);
        if server.shadowed {
            notes.push(format!(
                "hidden by a {} entry of the same name",
                found
                    .effective(&server.name)
                    .map(|e| e.source.as_str())
                    .unwrap_or("other")
            ));
        }
        match entry {
            None => issues.push(
                "not in the registry: its owner, purpose and data are unknown, and every call \
                 to it is denied"
                    .to_string(),
            ),
            Some(entry) => {
                issues.extend(registry_gaps(entry, &groups));
                if entry.disabled {
                    notes.push("disabled in the registry".to_string());
                }
            }
        }
        if matches!(server.transport, Transport::Other { .. }) {
            notes.push("mandate cannot connect to this transport, so it cannot be pinned".into());
        }
        let pinned = pins.load(&server.name)?;
        if entry.is_some() && pinned.is_none() {
            notes.push(format!("not pinned (`mandate mcp pin {}`)", server.name));
        }
        let drifted: Vec<&Drift> = drift
            .drifted
            .iter()
            .filter(|d| {
                d.target == server.name || d.target.starts_with(&format!("{}/", server.name))
            })
            .collect();
        for d in &drifted {
            issues.push(format!("drifted: {} ({})", d.target, d.change));
        }
        let counts = !server.shadowed && server.activation.may_run();
        if !counts && !issues.is_empty() {
            notes.push(format!(
                "would be a problem if it ran: {}",
                issues.join("; ")
            ));
            issues.clear();
        }
        for issue in &issues {
            problems.push(format!(
                "`{}` ({}): {issue}",
                server.name,
                server.source.as_str()
            ));
        }
        rows.push((server, entry.is_some(), issues, notes, pinned.is_some()));
    }
    let configured: Vec<&str> = found.servers.iter().map(|s| s.name.as_str()).collect();
    let registry_only: Vec<&String> = registry
        .keys()
        .filter(|name| !configured.contains(&name.as_str()))
        .collect();

    if as_json {
        let servers: Vec<Value> = rows
            .iter()
            .map(|(server, registered, issues, notes, pinned)| {
                json!({
                    "name": server.name,
                    "source": server.source.as_str(),
                    "file": server.file,
                    "transport": server.transport.summary(),
                    "activation": server.activation.describe(),
                    "shadowed": server.shadowed,
                    "registered": registered,
                    "pinned": pinned,
                    "problems": issues,
                    "notes": notes,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "workspace": project.root,
                "files_read": found.files_read,
                "servers": servers,
                "registry_not_configured": registry_only,
                "problems": problems,
                "ok": problems.is_empty(),
            }))?
        );
    } else {
        println!("MCP servers configured for {}:", project.root.display());
        if rows.is_empty() {
            println!("  none");
        }
        for (server, _, issues, notes, _) in &rows {
            println!(
                "  {:<16} {:<8} {}  [{}]",
                server.name,
                server.source.as_str(),
                server.transport.summary(),
                server.activation.describe()
            );
            println!("  {:<16} from {}", "", server.file.display());
            if issues.is_empty() {
                println!("  {:<16} registry: ok", "");
            }
            for issue in issues {
                println!("  {:<16} PROBLEM: {issue}", "");
            }
            for note in notes {
                println!("  {:<16} note: {note}", "");
            }
        }
        for problem in &found.problems {
            println!("PROBLEM: {problem}");
        }
        if !registry_only.is_empty() {
            println!(
                "registered but not configured here: {}",
                registry_only
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if problems.is_empty() {
            println!("ok: every configured server is registered and described");
        } else {
            println!(
                "{} problem(s): register each server in mandate.toml's [mcp.servers.NAME] with \
                 owner, purpose, data and tool classes, or remove it from Claude Code's \
                 configuration",
                problems.len()
            );
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// How to reach the server Claude Code would start under this name.
fn endpoint(project: &Project, configured: &Configured) -> Result<Endpoint> {
    match &configured.transport {
        Transport::Stdio { command, args, env } => {
            if command.is_empty() {
                bail!(
                    "`{}` in `{}` has no `command`",
                    configured.name,
                    configured.file.display()
                );
            }
            Ok(Endpoint::Stdio {
                command: command.clone(),
                args: args.clone(),
                env: env.clone(),
                cwd: Some(project.root.clone()),
            })
        }
        Transport::Http { url, headers } => Ok(Endpoint::Http {
            url: url.clone(),
            headers: headers.clone(),
        }),
        Transport::Other { kind } => bail!(
            "`{}` uses the `{kind}` transport; mandate's client speaks stdio and streamable HTTP",
            configured.name
        ),
    }
}

fn connect(project: &Project, server: &str, timeout: u64) -> Result<(Configured, Listing)> {
    let found = discovery(project);
    let Some(configured) = found.effective(server).cloned() else {
        let names: Vec<&str> = found.servers.iter().map(|s| s.name.as_str()).collect();
        let hint = did_you_mean(server, &names)
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        bail!(
            "no MCP server `{server}` is configured for this workspace (looked in {}){hint}",
            if found.files_read.is_empty() {
                "no configuration file found".to_string()
            } else {
                found
                    .files_read
                    .iter()
                    .map(|p| format!("`{}`", p.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    };
    let endpoint = endpoint(project, &configured)?;
    let listing = mandate_mcp::list_tools_via_binary(&endpoint, Duration::from_secs(timeout))
        .map_err(|error| anyhow::anyhow!("cannot list the tools of `{server}`: {error}"))?;
    Ok((configured, listing))
}

fn tool_texts(listing: &Listing) -> Vec<ToolText> {
    listing
        .tools
        .iter()
        .map(|t| ToolText {
            name: t.name.clone(),
            description: t.description.clone(),
            input_schema: t.input_schema.clone(),
        })
        .collect()
}

fn endpoint_digest(configured: &Configured) -> String {
    digest_text(&canonical_json(&configured.transport.identity()))
}

fn pin(project: &Project, server: &str, timeout: u64) -> Result<ExitCode> {
    let engine = project.engine(None)?;
    let registry = engine.registry();
    let Some(entry) = registry.get(server) else {
        let names: Vec<&str> = registry.keys().map(String::as_str).collect();
        let hint = did_you_mean(server, &names)
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        bail!(
            "`{server}` is not in the registry: add `[mcp.servers.{server}]` to {} (owner, \
             purpose, data, tools) before pinning it{hint}",
            project.policy_path.display()
        );
    };
    let Some(user) = current_user(&project.root) else {
        bail!("cannot tell who you are: set MANDATE_USER or git's user.email");
    };
    let mut allowed: Vec<String> = project.policy.authority.kill_switch.clone();
    if let Some((_, org)) = &project.org {
        allowed.extend(org.authority.kill_switch.iter().cloned());
    }
    if let Some(owner) = &entry.owner {
        allowed.push(owner.clone());
    }
    if !allowed.contains(&user) {
        bail!(
            "`{user}` may not pin `{server}`: its owner ({}) or an identity in \
             `authority.kill_switch` pins it",
            entry.owner.as_deref().unwrap_or("none registered")
        );
    }
    let (configured, listing) = connect(project, server, timeout)?;
    let texts = tool_texts(&listing);
    let pin = Pin {
        server: server.to_string(),
        pinned_at: now_rfc3339(),
        pinned_by: user.clone(),
        os_user: os_user(),
        endpoint: configured.transport.summary(),
        endpoint_digest: endpoint_digest(&configured),
        server_name: listing.server_name.clone(),
        server_version: listing.server_version.clone(),
        instructions_digest: listing.instructions.as_deref().map(digest_text),
        tools: pin_tools(&texts),
    };
    let pins = Pins::new(&project.records_dir());
    pins.save(&pin)?;
    println!(
        "pinned `{server}` ({} {}): {} tools, from {}",
        listing.server_name.as_deref().unwrap_or("?"),
        listing.server_version.as_deref().unwrap_or(""),
        pin.tools.len(),
        configured.transport.summary()
    );
    let unlisted: Vec<&String> = pin
        .tools
        .keys()
        .filter(|t| !entry.tools.contains_key(*t))
        .collect();
    if !unlisted.is_empty() {
        println!(
            "note: the registry does not classify {} (calls to them are denied until it does)",
            unlisted
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let missing: Vec<&String> = entry
        .tools
        .keys()
        .filter(|t| !pin.tools.contains_key(*t))
        .collect();
    if !missing.is_empty() {
        println!(
            "note: the server has no tool {} that the registry lists",
            missing
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "stored in {}",
        pins.dir().join(format!("{server}.json")).display()
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(
    project: &Project,
    server: Option<&str>,
    as_json: bool,
    timeout: u64,
) -> Result<ExitCode> {
    let pins = Pins::new(&project.records_dir());
    let servers: Vec<String> = match server {
        Some(server) => vec![server.to_string()],
        None => pins.pinned()?,
    };
    if servers.is_empty() {
        bail!("no MCP server is pinned yet: run `mandate mcp pin SERVER` first");
    }
    let mut failed = false;
    let mut report: BTreeMap<String, Value> = BTreeMap::new();
    for name in &servers {
        let Some(pin) = pins.load(name)? else {
            failed = true;
            let message = format!("`{name}` is not pinned: run `mandate mcp pin {name}`");
            report.insert(name.clone(), json!({"error": message}));
            continue;
        };
        let (configured, listing) = match connect(project, name, timeout) {
            Ok(connected) => connected,
            Err(error) => {
                // Unreachable is not drift: nothing new is refused, but verify fails.
                failed = true;
                report.insert(name.clone(), json!({"error": format!("{error:#}")}));
                continue;
            }
        };
        let changes = compare(
            &pin,
            &tool_texts(&listing),
            listing.instructions.as_deref(),
            &configured.transport.summary(),
            &endpoint_digest(&configured),
        );
        let now = now_rfc3339();
        let drift: Vec<Drift> = changes
            .iter()
            .filter_map(|c| {
                Some(Drift {
                    target: c.target(name)?,
                    change: c.describe(),
                    found_at: now.clone(),
                })
            })
            .collect();
        // The list the hook reads: this server's entries replaced by what was found now.
        pins.set_drift(name, drift.clone())?;
        if !changes.is_empty() {
            failed = true;
        }
        report.insert(
            name.clone(),
            json!({
                "pinned_at": pin.pinned_at,
                "pinned_by": pin.pinned_by,
                "changes": changes.iter().map(|c| c.describe()).collect::<Vec<_>>(),
                "refused": drift.iter().map(|d| d.target.clone()).collect::<Vec<_>>(),
            }),
        );
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for (name, entry) in &report {
            if let Some(error) = entry.get("error").and_then(Value::as_str) {
                println!("{name}: FAILED: {error}");
                continue;
            }
            let changes = entry
                .get("changes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if changes.is_empty() {
                println!(
                    "{name}: matches its pin ({} by {})",
                    entry
                        .get("pinned_at")
                        .and_then(Value::as_str)
                        .unwrap_or("?"),
                    entry
                        .get("pinned_by")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                );
                continue;
            }
            println!("{name}: DRIFT since it was pinned:");
            for change in &changes {
                println!("  - {}", change.as_str().unwrap_or(""));
            }
            let refused = entry
                .get("refused")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !refused.is_empty() {
                println!(
                    "  calls to {} are refused until the owner reviews the change and runs \
                     `mandate mcp pin {name}`",
                    refused
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
