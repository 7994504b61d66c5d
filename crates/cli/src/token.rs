//! `mandate token create` (on the server's machine: a new API token, printed once) and
//! `mandate token use` (on a developer's machine: keep the token where the hook and
//! `mandate push` find it).

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use mandate_project::Project;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user and print it (the server stores only its hash).
    Create {
        /// The user's e-mail address.
        #[arg(long)]
        user: String,
        /// developer (push own runs), reviewer (review, approve), security (kill switch,
        /// registry) or admin.
        #[arg(long)]
        role: String,
        /// The projects the token acts in (repeat; `*` for every project). Needed for
        /// every role but admin.
        #[arg(long = "project")]
        projects: Vec<String>,
        /// How long the token lives: `90d`, `12h`, `30m` (default: until revoked).
        #[arg(long)]
        expires: Option<String>,
        /// The server's database (default: the one `mandate serve` uses).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Keep a token for this machine's hooks and pushes in `<records.dir>/server-token`
    /// (`$MANDATE_TOKEN` takes precedence).
    Use {
        /// The token, as `mandate token create` printed it.
        token: String,
    },
}

pub fn token(command: TokenCommand) -> Result<ExitCode> {
    match command {
        TokenCommand::Create {
            user,
            role,
            projects,
            expires,
            database_url,
        } => {
            let binary = crate::serve::server_binary()?;
            let database_url = match database_url {
                Some(url) => url,
                None => crate::serve::default_database_url()?,
            };
            let mut args: Vec<String> = vec![
                "token".into(),
                "create".into(),
                "--user".into(),
                user,
                "--role".into(),
                role,
                "--database-url".into(),
                database_url,
            ];
            for project in projects {
                args.extend(["--project".into(), project]);
            }
            if let Some(expires) = expires {
                args.extend(["--expires".into(), expires]);
            }
            crate::serve::exec(&binary, &args)
        }
        TokenCommand::Use { token } => {
            let cwd = std::env::current_dir().context("no current directory")?;
            let project = Project::discover(&cwd, None)?;
            let dir = project.records_dir();
            mandate_project::create_private_dir(&dir)?;
            let path = dir.join("server-token");
            mandate_project::write_atomic(&path, format!("{}\n", token.trim()).as_bytes())?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot restrict `{}`", path.display()))?;
            }
            println!("saved the team server token in {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
