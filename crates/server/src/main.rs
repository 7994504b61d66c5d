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
        /// Requests per second one token may send, sustained, per server process (bursts
        /// of 10 s worth); 0 turns the limit off.
        #[arg(long, default_value_t = 50)]
        rate_limit: u32,
        /// Serve HTTPS with this certificate chain (PEM, leaf first).
        #[arg(long, requires = "tls_key", value_name = "PEM")]
        tls_cert: Option<std::path::PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert", value_name = "PEM")]
        tls_key: Option<std::path::PathBuf>,
        /// Send every entry on as it arrives (repeatable): `otlp=URL` (OpenTelemetry logs
        /// over OTLP/HTTP, protobuf; `/v1/logs` is added to a URL without a path),
        /// `ocsf=FILE` (OCSF JSON lines appended) or `ocsf=URL` (OCSF JSON lines POSTed).
        /// A destination that is down is retried; nothing is lost or sent twice.
        #[arg(long = "export", value_name = "KIND=DEST")]
        exports: Vec<mandate_server::export::Sink>,
        /// Post approvals requested and kill-switch changes to this URL as JSON a chat
        /// tool accepts (Slack-compatible `text`, plus the structured fields).
        #[arg(long, value_name = "URL")]
        webhook: Option<String>,
        /// A header for one kind of receiver (repeatable): `otlp=Authorization: Bearer
        /// TOKEN`, `ocsf=…`, `webhook=…`. `$MANDATE_EXPORT_HEADERS` (one per line) keeps
        /// secrets off the command line.
        #[arg(
            long = "export-header",
            value_name = "KIND=NAME: VALUE",
            env = "MANDATE_EXPORT_HEADERS",
            value_delimiter = '\n',
            hide_env_values = true
        )]
        export_headers: Vec<mandate_server::export::ExportHeader>,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The audit log: check its chain, or print it as JSON lines.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
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
enum AuditCommand {
    /// Check the chain; prints its size and Merkle root.
    Verify {
        #[arg(long, env = "MANDATE_DATABASE_URL")]
        database_url: String,
    },
    /// Print every line, as stored.
    Export {
        #[arg(long, env = "MANDATE_DATABASE_URL")]
        database_url: String,
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
        /// The projects the token acts in (repeat, or comma-separated; `*` for every
        /// project). Needed for every role but admin.
        #[arg(long = "project")]
        projects: Vec<String>,
        /// How long the token lives: `90d`, `12h`, `30m` (default: until revoked).
        #[arg(long)]
        expires: Option<String>,
        #[arg(long, env = "MANDATE_DATABASE_URL")]
        database_url: String,
    },
    /// List tokens (never the tokens themselves): id, user, role, projects, expiry,
    /// last use.
    List {
        #[arg(long)]
        user: Option<String>,
        #[arg(long, env = "MANDATE_DATABASE_URL")]
        database_url: String,
    },
    /// Revoke one token (`--id`, as `list` shows) or every token of a user (`--user`).
    Revoke {
        #[arg(long, required_unless_present = "id", conflicts_with = "id")]
        user: Option<String>,
        #[arg(long)]
        id: Option<String>,
        #[arg(long, env = "MANDATE_DATABASE_URL")]
        database_url: String,
    },
    /// Replace a token with a new one (same user, role and projects) and revoke it.
    Rotate {
        #[arg(long)]
        id: String,
        #[arg(long)]
        expires: Option<String>,
        #[arg(long, env = "MANDATE_DATABASE_URL")]
        database_url: String,
    },
}

/// Who acts from the command line: the operating-system user on the server's machine.
fn console_actor() -> String {
    format!(
        "console:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".to_string())
    )
}

fn ttl(text: Option<&str>) -> Result<Option<Duration>, mandate_server::ServerError> {
    text.map(mandate_server::auth::parse_ttl)
        .transpose()
        .map_err(mandate_server::ServerError::BadRequest)
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
                rate_limit,
                tls_cert,
                tls_key,
                exports,
                webhook,
                export_headers,
            } => {
                mandate_server::serve(Config {
                    listen,
                    database_url,
                    retention_days,
                    retention_every: Duration::from_secs(retention_every.max(1)),
                    tls: tls_cert.zip(tls_key),
                    rate_limit,
                    exports,
                    webhook,
                    export_headers,
                })
                .await
            }
            Command::Token {
                command:
                    TokenCommand::Create {
                        user,
                        role,
                        projects,
                        expires,
                        database_url,
                    },
            } => {
                let db = Db::connect(&database_url).await?;
                let new = mandate_server::auth::NewToken {
                    email: user,
                    role,
                    projects,
                    expires: ttl(expires.as_deref())?,
                };
                let (token, id) = mandate_server::auth::create_token(&db, &new).await?;
                mandate_server::audit::append(
                    &db,
                    &console_actor(),
                    "token.create",
                    &id,
                    serde_json::json!({"user": mandate_server::auth::normalise_email(&new.email)?,
                        "role": role.as_str(), "projects": new.projects, "expires": expires}),
                )
                .await?;
                println!("{token}");
                Ok(())
            }
            Command::Token {
                command: TokenCommand::List { user, database_url },
            } => {
                let db = Db::connect(&database_url).await?;
                let tokens = mandate_server::auth::list_tokens(&db, user.as_deref()).await?;
                println!("ID               USER  ROLE  PROJECTS  EXPIRES  LAST USED  STATE");
                for t in tokens {
                    println!(
                        "{}  {}  {}  {}  {}  {}  {}",
                        t.id,
                        t.email,
                        t.role,
                        t.projects.join(","),
                        t.expires_at.as_deref().unwrap_or("never"),
                        t.last_used_at.as_deref().unwrap_or("never"),
                        if t.revoked { "revoked" } else { "live" }
                    );
                }
                Ok(())
            }
            Command::Token {
                command:
                    TokenCommand::Revoke {
                        user,
                        id,
                        database_url,
                    },
            } => {
                let db = Db::connect(&database_url).await?;
                if let Some(id) = id {
                    let info = mandate_server::auth::revoke_id(&db, &id, None).await?;
                    mandate_server::audit::append(
                        &db,
                        &console_actor(),
                        "token.revoke",
                        &info.id,
                        serde_json::json!({"user": info.email}),
                    )
                    .await?;
                    println!("revoked token {} of {}", info.id, info.email);
                } else {
                    let user = user.unwrap_or_default();
                    let n = mandate_server::auth::revoke(&db, &user).await?;
                    mandate_server::audit::append(
                        &db,
                        &console_actor(),
                        "token.revoke",
                        &user,
                        serde_json::json!({"tokens": n}),
                    )
                    .await?;
                    println!("revoked {n} token(s) of {user}");
                }
                Ok(())
            }
            Command::Token {
                command:
                    TokenCommand::Rotate {
                        id,
                        expires,
                        database_url,
                    },
            } => {
                let db = Db::connect(&database_url).await?;
                let (token, new_id) =
                    mandate_server::auth::rotate(&db, &id, None, ttl(expires.as_deref())?).await?;
                mandate_server::audit::append(
                    &db,
                    &console_actor(),
                    "token.rotate",
                    &id,
                    serde_json::json!({"new": new_id}),
                )
                .await?;
                eprintln!("token {id} is revoked; its replacement is {new_id}:");
                println!("{token}");
                Ok(())
            }
            Command::Audit {
                command: AuditCommand::Verify { database_url },
            } => {
                let db = Db::connect(&database_url).await?;
                let check = mandate_server::audit::verify(&db).await?;
                for problem in &check.problems {
                    eprintln!("{problem}");
                }
                println!(
                    "{}: {} lines, root {}",
                    if check.ok { "intact" } else { "BROKEN" },
                    check.size,
                    check.root
                );
                if check.ok {
                    Ok(())
                } else {
                    Err(mandate_server::ServerError::Internal(
                        "the audit log's chain is broken".to_string(),
                    ))
                }
            }
            Command::Audit {
                command: AuditCommand::Export { database_url },
            } => {
                let db = Db::connect(&database_url).await?;
                let mut from = 0;
                loop {
                    let lines = mandate_server::audit::lines(&db, from, 10_000).await?;
                    if lines.is_empty() {
                        break;
                    }
                    from += lines.len() as u64;
                    for line in lines {
                        println!("{line}");
                    }
                }
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
