//! `mandate push`: send the run records the team server does not hold yet.
//!
//! The hook starts `mandate push --background` itself (see `mandate_project::remote`);
//! by hand, `mandate push` pushes once and says what happened.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use mandate_project::Project;
use mandate_project::outbox;
use mandate_project::remote::{self, Server};

pub fn push(
    background: bool,
    records_dir: Option<&str>,
    server: Option<&str>,
    server_ca: Option<&str>,
) -> Result<ExitCode> {
    let given_ca = server_ca.map(remote::records_dir_from);
    let (records, server) = match (records_dir, server) {
        // The background pusher the hook starts: everything on the command line.
        (Some(dir), Some(url)) => {
            let records = remote::records_dir_from(dir);
            let server = Server::new(url, remote::token(&records))
                .map_err(|e| anyhow!(e))?
                .with_ca(given_ca);
            (records, server)
        }
        _ => {
            let cwd = std::env::current_dir().context("no current directory")?;
            let project = Project::discover(&cwd, None)?;
            // What only this machine can check goes with this sync.
            crate::readiness::keep_checks_of(&project);
            let records: PathBuf = records_dir
                .map(remote::records_dir_from)
                .unwrap_or_else(|| project.records_dir());
            let ca = match given_ca {
                Some(ca) => Some(ca),
                None => remote::server_ca(&project).map_err(|e| anyhow!(e))?,
            };
            let url = match server {
                Some(url) => url.to_string(),
                None => match remote::configured(&project) {
                    Some(Ok(server)) => server.url,
                    Some(Err(error)) => bail!(error),
                    None => bail!(
                        "no team server is configured: set `server = \"https://…\"` under \
                         [records] in mandate.toml"
                    ),
                },
            };
            let server = Server::new(&url, remote::token(&records))
                .map_err(|e| anyhow!(e))?
                .with_ca(ca);
            (records, server)
        }
    };
    if !server.has_token() {
        bail!("no token for the team server: set $MANDATE_TOKEN or run `mandate token use TOKEN`");
    }
    if background {
        remote::push_in_background(&server, &records)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Asked for by hand: first check what the server really holds (it may have been
    // restored from a backup), so whatever it lost goes again.
    // First what the server changed meanwhile (its kill list, decisions, reviews): what
    // that writes into this machine's records goes up with this push.
    let cache = remote::read_sync_cache(&records).unwrap_or_default();
    let cache = remote::sync(&server, &records, cache, Duration::from_secs(5));
    if let Some(error) = &cache.error {
        eprintln!("mandate push: the team server's kill list and decisions: {error}");
    }
    let report = remote::push_all_checked(&server, &records, true);
    println!(
        "pushed {} entries and {} checkpoints of {} run(s) to {}",
        report.entries, report.checkpoints, report.runs, server.url
    );
    if report.changes_sent > 0 {
        println!(
            "sent {} change(s) made on this machine (reviews, approval decisions, kill switch)",
            report.changes_sent
        );
    }
    for error in &report.errors {
        eprintln!("mandate push: {error}");
    }
    for line in waiting_lines(&records) {
        println!("{line}");
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What still waits for the team server, and what it refused, one line each (nothing when
/// the outbox is empty). For `mandate push` and `mandate status`.
pub fn waiting_lines(records: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let waiting = outbox::waiting(records);
    if !waiting.is_empty() {
        lines.push(format!(
            "waiting for the team server: {} change(s) made on this machine",
            waiting.len()
        ));
        for change in &waiting {
            lines.push(format!(
                "  {} (made {}, {} attempt(s); last: {})",
                change.what,
                change.made_at,
                change.attempts,
                change.last_error.as_deref().unwrap_or("not tried yet")
            ));
        }
    }
    let refused = outbox::refused(records);
    if !refused.is_empty() {
        lines.push(format!(
            "refused by the team server ({} change(s); they hold on this machine only, and \
             are in {}):",
            refused.len(),
            outbox::outbox_dir(records).join("refused").display()
        ));
        for change in &refused {
            lines.push(format!(
                "  {}: {}",
                change.what,
                change.last_error.as_deref().unwrap_or("refused")
            ));
        }
    }
    lines
}

/// Ask the team server now (kill list, decisions, reviews), with a short deadline; the
/// server's URL and the cache afterwards. `None` without a usable `records.server`.
pub fn sync_now(project: &Project) -> Option<(String, remote::SyncCache)> {
    let server = remote::configured(project)?.ok()?;
    let records = project.records_dir();
    let cache = remote::read_sync_cache(&records).ok()?;
    if !server.has_token() {
        return Some((server.url.clone(), cache));
    }
    let cache = remote::sync(&server, &records, cache, Duration::from_secs(3));
    Some((server.url.clone(), cache))
}

/// After a CLI command that may have recorded something: start a background push, as
/// the hook does. Silent and free without `records.server`.
pub fn after_command() {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(project) = Project::discover(&cwd, None)
    {
        remote::recorded(&project);
    }
}
