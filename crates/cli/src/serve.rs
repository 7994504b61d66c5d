//! `mandate serve`: start the team server, which is its own binary (`mandate-server`,
//! installed beside `mandate`). The `mandate` binary is also the hook, and must not pay
//! for an async runtime and database drivers on every tool call; so it only finds the
//! server binary and hands over to it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use mandate_project::Project;

/// The `mandate-server` binary beside this one (`$MANDATE_SERVER_BIN` overrides).
pub fn server_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("MANDATE_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("cannot find the running mandate binary")?;
    let beside = exe
        .parent()
        .map(|dir| dir.join("mandate-server"))
        .unwrap_or_default();
    if beside.is_file() {
        return Ok(beside);
    }
    bail!(
        "the team server is a separate binary, `mandate-server`, and it is not beside `{}`: \
         build it with `cargo build --release -p mandate-server` (or `cargo install --path \
         crates/server`) so it lands next to mandate",
        exe.display()
    )
}

/// The project here, if there is one (the server does not need a repository).
fn project_here() -> Option<Project> {
    let cwd = std::env::current_dir().ok()?;
    Project::discover(&cwd, None).ok()
}

/// The zero-configuration database: `server.db` in the records directory.
pub fn default_database_url() -> Result<String> {
    let dir = match project_here() {
        Some(project) => project.records_dir(),
        None => mandate_project::expand_home(
            "~/.local/share/mandate",
            std::env::var_os("HOME").map(PathBuf::from).as_deref(),
        ),
    };
    mandate_project::create_private_dir(&dir)?;
    Ok(format!("sqlite://{}", dir.join("server.db").display()))
}

pub fn serve(
    listen: Option<&str>,
    database_url: Option<&str>,
    tls: Option<(&str, &str)>,
    exports: &[String],
    webhook: Option<&str>,
    export_headers: &[String],
) -> Result<ExitCode> {
    let binary = server_binary()?;
    let database_url = match database_url {
        Some(url) => url.to_string(),
        None => default_database_url()?,
    };
    let mut args: Vec<String> = vec!["serve".into(), "--database-url".into(), database_url];
    if let Some(listen) = listen {
        args.extend(["--listen".into(), listen.to_string()]);
    }
    if let Some((cert, key)) = tls {
        args.extend([
            "--tls-cert".into(),
            cert.to_string(),
            "--tls-key".into(),
            key.to_string(),
        ]);
    }
    // Checked by the server, which sends them (the hook binary links no exporter).
    for export in exports {
        args.extend(["--export".into(), export.clone()]);
    }
    for header in export_headers {
        args.extend(["--export-header".into(), header.clone()]);
    }
    if let Some(url) = webhook {
        args.extend(["--webhook".into(), url.to_string()]);
    }
    if let Some(days) = project_here().and_then(|p| {
        p.org
            .as_ref()
            .and_then(|(_, org)| org.records.retention_days)
            .or(p.policy.records.retention_days)
    }) {
        args.extend(["--retention-days".into(), days.to_string()]);
    }
    exec(&binary, &args)
}

/// Replace this process with `binary` (Unix), or run it and pass its exit code on.
pub fn exec(binary: &Path, args: &[String]) -> Result<ExitCode> {
    let mut command = std::process::Command::new(binary);
    command.args(args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let error = command.exec();
        bail!("cannot start `{}`: {error}", binary.display());
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("cannot start `{}`", binary.display()))?;
        Ok(ExitCode::from(
            u8::try_from(status.code().unwrap_or(2)).unwrap_or(2),
        ))
    }
}
