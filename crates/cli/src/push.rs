//! `mandate push`: send the run records the team server does not hold yet.
//!
//! The hook starts `mandate push --background` itself (see `mandate_project::remote`);
//! by hand, `mandate push` pushes once and says what happened.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow, bail};
use mandate_project::Project;
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
    let report = remote::push_all_checked(&server, &records, true);
    println!(
        "pushed {} entries and {} checkpoints of {} run(s) to {}",
        report.entries, report.checkpoints, report.runs, server.url
    );
    for error in &report.errors {
        eprintln!("mandate push: {error}");
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
