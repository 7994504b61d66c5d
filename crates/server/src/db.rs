//! The database: one connection pool over SQLite or PostgreSQL, and its migrations.
//!
//! Both back ends run the same SQL (`$1` placeholders, `BIGINT` and `TEXT` columns,
//! `ON CONFLICT DO NOTHING`), through sqlx's `Any` driver, so there is one query per
//! question and no per-database branch in the handlers. Everything a request needs is
//! in the database: several server processes can share one PostgreSQL database.

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor as _};

use crate::ServerError;

/// The migrations, oldest first. Never edit one that has shipped: add the next.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "approvals bound",
        include_str!("../migrations/0002_approvals_bound.sql"),
    ),
    (
        3,
        "identity and teams",
        include_str!("../migrations/0003_identity.sql"),
    ),
    (
        4,
        "run figures",
        include_str!("../migrations/0004_run_figures.sql"),
    ),
    (5, "export", include_str!("../migrations/0005_export.sql")),
    (6, "events", include_str!("../migrations/0006_events.sql")),
    (
        7,
        "one truth across machines",
        include_str!("../migrations/0007_one_truth.sql"),
    ),
    (
        8,
        "machine checks",
        include_str!("../migrations/0008_machine_checks.sql"),
    ),
    (
        9,
        "export state",
        include_str!("../migrations/0009_export_state.sql"),
    ),
];

/// An open database.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// Which database the URL named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Db {
    /// Connect and bring the schema up to date. `sqlite://PATH` creates the file;
    /// `postgres://…` needs an existing database.
    pub async fn connect(url: &str) -> Result<Db, ServerError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(ServerError::Config(format!(
                "the database URL `{url}` is neither `sqlite://PATH` nor `postgres://…`"
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let options = AnyPoolOptions::new()
            .max_connections(match backend {
                // SQLite serialises writers anyway; a few readers are enough.
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10));
        let options = if backend == Backend::Sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|error| ServerError::Config(format!("cannot open the database: {error}")))?;
        let db = Db { pool, backend };
        db.migrate().await?;
        crate::events::prepare(&db).await?;
        Ok(db)
    }

    /// Apply pending migrations. sqlx takes an advisory lock on PostgreSQL, so servers
    /// that start together do not race.
    async fn migrate(&self) -> Result<(), ServerError> {
        let migrations: Vec<Migration> = MIGRATIONS
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            ignore_missing: false,
            locking: true,
            no_tx: false,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|error| ServerError::Config(format!("cannot migrate the database: {error}")))
    }
}
