//! Shared pieces of the team-server suites (`server`, `sync`, `server_search`, `parity`,
//! `server_export`): the two binaries, a database of a test's own (SQLite in a temporary
//! folder, or a fresh PostgreSQL database dropped afterwards), `mandate-server serve`
//! started and waited for, its tokens, and Chromium for the page walks. Each suite keeps
//! its own machine and API helpers, since what they drive differs.
//!
//! PostgreSQL databases are made with `psql` on `$MANDATE_TEST_POSTGRES` (default
//! `postgres://root@127.0.0.1:5432`, trust auth). Without a reachable server a test says
//! it was SKIPPED, unless `MANDATE_E2E_REQUIRED` is set, in which case it fails.

#![allow(dead_code)] // each test file uses its own part of the support code

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The billing example's policy and contract, which every suite's repository starts from.
pub const POLICY: &str = include_str!("../../../../examples/billing/mandate.toml");
pub const CONTRACT: &str =
    include_str!("../../../../examples/billing/.mandate/contracts/BILL-142.toml");

pub fn mandate_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mandate"))
}

/// `mandate-server` beside `mandate`; built on demand when one suite runs alone.
pub fn server_bin() -> PathBuf {
    let path = mandate_bin().with_file_name("mandate-server");
    if !path.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "mandate-server"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p mandate-server");
    }
    path
}

/// Whether a missing PostgreSQL (or CA) fails the test instead of skipping it.
pub fn required() -> bool {
    std::env::var_os("MANDATE_E2E_REQUIRED").is_some_and(|v| !v.is_empty())
}

/// stdout and stderr of a finished command, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn psql(base: &str, db: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .arg(format!("{base}/{db}"))
        .args(["-Atq", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The server's database: a SQLite file, or a PostgreSQL database of this test's own
/// (dropped when this is).
pub enum Database {
    Sqlite(PathBuf),
    Postgres { base: String, name: String },
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Database {
    pub fn sqlite(dir: &Path) -> Database {
        Database::Sqlite(dir.join("server.db"))
    }

    /// A fresh database on the PostgreSQL server, or `None` (SKIPPED) without one.
    pub fn postgres(test: &str) -> Option<Database> {
        let base = std::env::var("MANDATE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432".into());
        if psql(&base, "postgres", "SELECT 1").is_err() {
            assert!(
                !required(),
                "{test}: no PostgreSQL server at {base}, and MANDATE_E2E_REQUIRED is set \
                 (.ci/run starts the machine's cluster)"
            );
            eprintln!(
                "SKIPPED {test}: no PostgreSQL server reachable at {base} (set \
                 MANDATE_TEST_POSTGRES, or start one; MANDATE_E2E_REQUIRED makes this a failure)"
            );
            return None;
        }
        let name = format!(
            "mandate_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        psql(&base, "postgres", &format!("CREATE DATABASE {name}")).unwrap();
        Some(Database::Postgres { base, name })
    }

    pub fn url(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite://{}", path.display()),
            Database::Postgres { base, name } => format!("{base}/{name}"),
        }
    }

    /// The link as a team would run it: PostgreSQL with `sslmode=verify-full` when
    /// `$MANDATE_TEST_POSTGRES_CA` names the cluster's CA, [`Database::url`] otherwise.
    pub fn verified_url(&self) -> String {
        match (self, std::env::var_os("MANDATE_TEST_POSTGRES_CA")) {
            (Database::Postgres { .. }, Some(ca)) => format!(
                "{}?sslmode=verify-full&sslrootcert={}",
                self.url(),
                PathBuf::from(ca).display()
            ),
            _ => self.url(),
        }
    }

    /// Run SQL on the database behind the server's back.
    pub fn execute(&self, sql: &str) {
        match self {
            Database::Postgres { base, name } => {
                psql(base, name, sql).unwrap();
            }
            Database::Sqlite(path) => {
                let out = Command::new("sqlite3").arg(path).arg(sql).output().unwrap();
                assert!(out.status.success(), "{out:?}");
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres { base, name } = self {
            let _ = psql(
                base,
                "postgres",
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// `mandate-server serve` on 127.0.0.1:`port` with `extra` arguments, once it said it
/// listens; that first line comes back with the process (it names http or https).
pub fn serve(database: &str, port: u16, extra: &[&str]) -> (Child, String) {
    serve_with_env(database, port, extra, &[])
}

/// [`serve`] with environment variables set for the server.
pub fn serve_with_env(
    database: &str,
    port: u16,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Child, String) {
    let mut child = Command::new(server_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", database])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening on"), "server said {line:?}");
    (child, line)
}

/// `mandate-server token create` for `user` in `role`; `extra` adds `--project …` and such.
pub fn create_token(database: &str, user: &str, role: &str, extra: &[&str]) -> String {
    let out = Command::new(server_bin())
        .args(["token", "create", "--user", user, "--role", role])
        .args(extra)
        .args(["--database-url", database])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Run a hook `command` (`mandate hook claude-code …`) with `event` on stdin: its
/// answer, or `null` when it printed no JSON.
pub fn hook_answer(command: &mut Command, event: &serde_json::Value) -> serde_json::Value {
    use std::io::Write as _;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(event.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Chromium and node, with the browser scripts' packages installed
/// (`scripts/install-browser-tests.sh`): the pages are driven through them.
pub struct Browser {
    chromium: PathBuf,
    scripts: PathBuf,
}

impl Browser {
    /// The browser, or `None` after saying why the test is SKIPPED; a missing browser fails
    /// the test instead when `MANDATE_E2E_REQUIRED` is set.
    pub fn ready() -> Option<Browser> {
        let chromium = PathBuf::from("/usr/bin/chromium");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        if !chromium.is_file() || Command::new("node").arg("--version").output().is_err() {
            assert!(
                !required(),
                "Chromium or node is missing and MANDATE_E2E_REQUIRED is set"
            );
            eprintln!("SKIPPED browser test: /usr/bin/chromium or node is missing");
            return None;
        }
        let install = Command::new("bash")
            .arg(manifest.join("../../scripts/install-browser-tests.sh"))
            .output()
            .unwrap();
        if !install.status.success() {
            assert!(
                !required(),
                "installing playwright-core failed: {}",
                text(&install)
            );
            eprintln!(
                "SKIPPED browser test: cannot install playwright-core: {}",
                text(&install)
            );
            return None;
        }
        Some(Browser {
            chromium,
            scripts: manifest.join("../server/tests/browser"),
        })
    }

    /// `node SCRIPT` in the browser scripts' folder, with Chromium, a profile under `dir`
    /// and screenshots kept where `$MANDATE_BROWSER_SHOTS` says (else under `dir`).
    pub fn script(&self, script: &str, dir: &Path) -> Command {
        let shots = std::env::var_os("MANDATE_BROWSER_SHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("shots"));
        let mut command = Command::new("node");
        command
            .arg(self.scripts.join(script))
            .env("SHOTS", shots)
            .env("CHROMIUM", &self.chromium)
            .env("USER_DATA_DIR", dir.join("chromium-profile"))
            .current_dir(&self.scripts);
        command
    }
}
