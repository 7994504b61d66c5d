//! `mandate-server`: the team server's own binary. `mandate serve` and
//! `mandate token create` start it, so the `mandate` binary (which is also the hook)
//! never links tokio or the database drivers.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mandate_server::{Config, Db, Role};

#[derive(Parser)]
#[command(name = "mandate-server", version, about = "The mandate team server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and the pages.
    Serve {
        /// Address to listen on (port 0 picks a free port; the bound address is printed).
        #[arg(long, default_value = "127.0.0.1:8417")]
        listen: SocketAddr,
        /// `sqlite://PATH` (created if missing) or `postgres://…`.
        #[arg(long, env = "MANDATE_DATABASE_URL")]
        database_url: String,
        /// Remove runs whose last entry is older than this many days.
        #[arg(long)]
        retention_days: Option<u32>,
        /// How often the retention job runs, in seconds.
        #[arg(long, default_value_t = 3600)]
        retention_every: u64,
        /// Serve HTTPS with this certificate chain (PEM, leaf first).
        #[arg(long, requires = "tls_key", value_name = "PEM")]
        tls_cert: Option<std::path::PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert", value_name = "PEM")]
        tls_key: Option<std::path::PathBuf>,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Apply retention once and exit.
    Retention {
        #[arg(long, env = "MANDATE_DATABASE_URL")]
        database_url: String,
        #[arg(long)]
        days: u32,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it (only its hash is stored).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        role: Role,
        #[arg(long, env = "MANDATE_DATABASE_URL")]
        database_url: String,
    },
    /// Revoke every token of a user.
    Revoke {
        #[arg(long)]
        user: String,
        #[arg(long, env = "MANDATE_DATABASE_URL")]
        database_url: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mandate-server: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                listen,
                database_url,
                retention_days,
                retention_every,
                tls_cert,
                tls_key,
            } => {
                mandate_server::serve(Config {
                    listen,
                    database_url,
                    retention_days,
                    retention_every: Duration::from_secs(retention_every.max(1)),
                    tls: tls_cert.zip(tls_key),
                })
                .await
            }
            Command::Token {
                command:
                    TokenCommand::Create {
                        user,
                        role,
                        database_url,
                    },
            } => {
                let db = Db::connect(&database_url).await?;
                let token = mandate_server::auth::create_token(&db, &user, role).await?;
                println!("{token}");
                Ok(())
            }
            Command::Token {
                command: TokenCommand::Revoke { user, database_url },
            } => {
                let db = Db::connect(&database_url).await?;
                let n = mandate_server::auth::revoke(&db, &user).await?;
                println!("revoked {n} token(s) of {user}");
                Ok(())
            }
            Command::Retention { database_url, days } => {
                let db = Db::connect(&database_url).await?;
                let cutoff = mandate_server::retention::cutoff(days, std::time::SystemTime::now());
                let removed = mandate_server::retention::apply(&db, &cutoff).await?;
                println!(
                    "removed {} run(s) last active before {cutoff}",
                    removed.len()
                );
                for run in removed {
                    println!("  {run}");
                }
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mandate-server: {error}");
            ExitCode::from(2)
        }
    }
}
