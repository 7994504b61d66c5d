//! The team server, seen from a developer's machine: pushing run records to it, and
//! learning its kill list and its reviewers' approval decisions.
//!
//! With `records.server = "http://…"` in the policy, three things change:
//!
//! - **Pushing.** The local log stays the source of truth. What the server has not
//!   acknowledged is the spool: `<records.dir>/remote/cursor.json` remembers, per run,
//!   how many entries and which checkpoints the server holds, and a push sends the rest
//!   (exact stored lines, and signed notes). The hook never pushes itself: after it
//!   records an event it starts a detached `mandate push --background` at most once per
//!   [`PUSH_EVERY`], which pushes, waits [`PUSH_EVERY`], and pushes again until a round
//!   finds nothing new, so the last events of a session go out too. `mandate push` does
//!   the same by hand. A server that is down costs the hook nothing.
//! - **The kill list.** The hook merges the server's kill list with the local one. It
//!   keeps the server's answer in `<records.dir>/remote/sync.json` and asks again at
//!   most every [`REFRESH_EVERY`], with a short timeout ([`ASK_TIMEOUT`]). When the
//!   server cannot be reached, the last list it sent holds.
//! - **Approvals.** In the same request, the hook asks about the approval requests still
//!   pending in the local store (the server learns of them from the pushed
//!   `approval.request` entries), and writes the server's decisions into the local
//!   store, where the hook's usual approval logic finds them. When the server cannot be
//!   reached, no decision arrives: nothing new is approved.
//!
//! The token is `$MANDATE_TOKEN`, else the file `<records.dir>/server-token`.
//!
//! HTTP here is a few lines over `std::net`, with rustls for `https://` (the server's
//! certificate checked against `records.server_ca` or the system's roots); plain
//! `http://` only to a loopback address. No HTTP client library or async runtime: the
//! TLS code is linked into the hook binary but runs only when it asks the server, at
//! most once per [`REFRESH_EVERY`]. Every exchange has one total deadline and a cap on
//! the answer's size ([`MAX_RESPONSE_BYTES`], [`MAX_SYNC_BYTES`] for the hook's ask).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::approvals::{Approvals, Status};
use crate::state::create_private_dir;
use crate::{Project, ProjectError, expand_home};

/// How often the hook starts a background push, at most.
pub const PUSH_EVERY: Duration = Duration::from_secs(2);
/// How often the hook asks the server for its kill list and decisions, at most.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);
/// How long the hook waits for the server before it keeps the last known answer.
pub const ASK_TIMEOUT: Duration = Duration::from_millis(400);
/// Entries per push request.
pub const BATCH: usize = 1000;

const DIR: &str = "remote";
const CURSOR_FILE: &str = "cursor.json";
const SYNC_FILE: &str = "sync.json";
const STAMP_FILE: &str = "push.stamp";
const LOCK_FILE: &str = "push.lock";
const PENDING_FILE: &str = "push.pending";
const TOKEN_FILE: &str = "server-token";

/// A team server: where it is and how we sign in.
#[derive(Clone, Debug)]
pub struct Server {
    pub url: String,
    host: String,
    port: u16,
    prefix: String,
    tls: bool,
    /// A private CA's PEM file; `None` trusts the system's roots.
    ca: Option<PathBuf>,
    token: Option<String>,
}

/// A response: status and body.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The server's `error` text, or the body.
    pub fn error(&self) -> String {
        self.json()
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_string())
    }
}

/// The most a response may hold: an answer larger than this is refused, so a hostile
/// or broken server cannot make the hook buffer without end.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// The most the hook's sync answer may hold.
pub const MAX_SYNC_BYTES: usize = 1024 * 1024;

/// A plain or TLS connection.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

impl Server {
    /// `https://host[:port][/prefix]`, or `http://…` to a loopback address (plain HTTP
    /// anywhere else would hand the token, the kill list and the approvals to whoever
    /// answers for the address).
    pub fn new(url: &str, token: Option<String>) -> Result<Server, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!(
                "records.server `{url}` is not an https:// (or loopback http://) URL"
            ));
        };
        let (authority, prefix) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("records.server `{url}`: `{port}` is not a port"))?,
            ),
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("records.server `{url}` names no host"));
        }
        if !tls && !is_loopback(host) {
            return Err(format!(
                "records.server `{url}`: plain http:// is accepted only to this machine \
                 (127.0.0.1, ::1, localhost); use https:// (with `records.server_ca` for a \
                 private CA)"
            ));
        }
        Ok(Server {
            url: url.trim_end_matches('/').to_string(),
            host: host.to_string(),
            port,
            prefix: prefix.trim_end_matches('/').to_string(),
            tls,
            ca: None,
            token,
        })
    }

    /// Trust only this CA (a PEM file) for the server's certificate.
    pub fn with_ca(mut self, ca: Option<PathBuf>) -> Server {
        self.ca = ca;
        self
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// One HTTP/1.1 request. `timeout` bounds the whole exchange (connecting, the TLS
    /// handshake, sending and the full answer), and the answer may hold at most
    /// [`MAX_RESPONSE_BYTES`].
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Response, String> {
        self.exchange(method, path, body, timeout, MAX_RESPONSE_BYTES)
    }

    fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Response, String> {
        let deadline = Instant::now() + timeout;
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    format!(
                        "{} did not answer within {} ms",
                        self.url,
                        timeout.as_millis()
                    )
                })
        };
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|error| {
                format!(
                    "{} is unreachable: its host name `{}` does not resolve ({error}); check \
                     `records.server` and this machine's DNS",
                    self.url, self.host
                )
            })?
            .next()
            .ok_or_else(|| {
                format!(
                    "{} is unreachable: its host name `{}` resolves to no address",
                    self.url, self.host
                )
            })?;
        let tcp = TcpStream::connect_timeout(&addr, left()?)
            .map_err(|error| self.connect_error(&error, timeout))?;
        tcp.set_nodelay(true).map_err(|error| error.to_string())?;
        // The socket's timeouts are moved to what is left before every read and write,
        // so a server that trickles cannot stretch the exchange past `timeout`.
        let socket = tcp.try_clone().map_err(|error| error.to_string())?;
        let arm = |socket: &TcpStream| -> Result<(), String> {
            let left = left()?;
            socket
                .set_read_timeout(Some(left))
                .and_then(|_| socket.set_write_timeout(Some(left)))
                .map_err(|error| error.to_string())
        };
        arm(&socket)?;
        let mut stream: Box<dyn Stream> = if self.tls {
            Box::new(self.tls_stream(tcp)?)
        } else {
            Box::new(tcp)
        };
        let payload = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n\
             Accept: application/json\r\nUser-Agent: mandate\r\n",
            self.prefix, self.host, self.port
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if body.is_some() {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                payload.len()
            ));
        }
        head.push_str("\r\n");
        let io = |error: std::io::Error| {
            if matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                format!(
                    "{} did not answer within {} ms",
                    self.url,
                    timeout.as_millis()
                )
            } else {
                format!("talking to {}: {error}", self.url)
            }
        };
        let mut request = head.into_bytes();
        request.extend_from_slice(payload.as_bytes());
        for part in request.chunks(64 * 1024) {
            arm(&socket)?;
            stream.write_all(part).map_err(io)?;
        }
        stream.flush().map_err(io)?;
        let mut raw = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            arm(&socket)?;
            let n = match stream.read(&mut chunk) {
                Ok(n) => n,
                // A server that closes without TLS's close_notify after a complete
                // answer (Connection: close) is common; the answer is judged whole below.
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(error) => return Err(io(error)),
            };
            if n == 0 {
                break;
            }
            raw.extend_from_slice(chunk.get(..n).unwrap_or_default());
            if raw.len() > max_bytes {
                return Err(format!(
                    "{} sent more than {} KiB; the answer is refused",
                    self.url,
                    max_bytes / 1024
                ));
            }
        }
        parse_response(&raw).ok_or_else(|| format!("{} sent a malformed response", self.url))
    }

    /// Why a connection could not be made, in words that say what to do.
    fn connect_error(&self, error: &std::io::Error, timeout: Duration) -> String {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::ConnectionRefused => format!(
                "connection refused by {}: nothing is listening there (the team server is not \
                 running, or `records.server` names the wrong port)",
                self.url
            ),
            ErrorKind::TimedOut | ErrorKind::WouldBlock => format!(
                "{} is unreachable: no answer to the connection within {} ms (the machine is \
                 down, or a network or firewall between here and there drops the traffic)",
                self.url,
                timeout.as_millis()
            ),
            _ => format!("{} is unreachable: {error}", self.url),
        }
    }

    /// The TLS session over `tcp`: the server's certificate must chain to the
    /// configured CA (or a system root) and name the host.
    fn tls_stream(
        &self,
        tcp: TcpStream,
    ) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
        let config = self.tls_config()?;
        let name = rustls_pki_types::ServerName::try_from(self.host.clone())
            .map_err(|error| format!("records.server `{}`: {error}", self.url))?;
        let mut connection = rustls::ClientConnection::new(config, name)
            .map_err(|error| format!("TLS to {}: {error}", self.url))?;
        let mut tcp = tcp;
        while connection.is_handshaking() {
            connection.complete_io(&mut tcp).map_err(|error| {
                format!(
                    "TLS to {} failed (is it the team server, with a certificate from {}?): \
                     {error}",
                    self.url,
                    self.ca
                        .as_ref()
                        .map(|ca| format!("the CA in `{}`", ca.display()))
                        .unwrap_or_else(|| "a CA this system trusts".to_string())
                )
            })?;
        }
        Ok(rustls::StreamOwned::new(connection, tcp))
    }

    fn tls_config(&self) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca {
            Some(ca) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                    .and_then(|certs| certs.collect::<Result<_, _>>())
                    .map_err(|error| format!("records.server_ca `{}`: {error}", ca.display()))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!(
                        "records.server_ca `{}` holds no usable CA certificate",
                        ca.display()
                    ));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(format!(
                        "this system has no trusted CA certificates to check {} against; \
                         name the server's CA with `records.server_ca`",
                        self.url
                    ));
                }
            }
        }
        #[expect(
            deprecated,
            reason = "ring builds with a C compiler alone (aws-lc-rs wants cmake); this link \
                      does not need post-quantum key exchange yet"
        )]
        let provider = rustls::crypto::ring::default_provider();
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS: {error}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(std::sync::Arc::new(config))
    }
}

/// `localhost`, or an address of this machine's loopback interface.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(raw.get(..split)?).ok()?;
    let body = raw.get(split + 4..)?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let chunked = lines.any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("transfer-encoding:") && lower.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Some(Response { status, body })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(data.get(..line_end)?).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = data.get(line_end + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// The server URL the policy names: the organisation's setting wins.
pub fn server_url(project: &Project) -> Option<&str> {
    project
        .org
        .as_ref()
        .and_then(|(_, org)| org.records.server.as_deref())
        .or(project.policy.records.server.as_deref())
        .map(str::trim)
        .filter(|url| !url.is_empty())
}

/// The server the policy names, with the token and the CA to check it against.
pub fn configured(project: &Project) -> Option<Result<Server, String>> {
    let url = server_url(project)?;
    Some(server_ca(project).and_then(|ca| {
        Server::new(url, token(&project.records_dir())).map(|server| server.with_ca(ca))
    }))
}

/// `records.server_ca`, the organisation's first: an absolute path (or `~/…`) outside
/// the workspace, since a CA file the agent could rewrite would let it vouch for a
/// server of its own.
pub fn server_ca(project: &Project) -> Result<Option<PathBuf>, String> {
    let Some(text) = project
        .org
        .as_ref()
        .and_then(|(_, org)| org.records.server_ca.as_deref())
        .or(project.policy.records.server_ca.as_deref())
        .map(str::trim)
        .filter(|text| !text.is_empty())
    else {
        return Ok(None);
    };
    let path = expand_home(text, std::env::var_os("HOME").map(PathBuf::from).as_deref());
    if !path.is_absolute() {
        return Err(format!(
            "records.server_ca `{text}` must be an absolute path (or ~/…) outside the \
             repository"
        ));
    }
    if path.starts_with(&project.root) {
        return Err(format!(
            "records.server_ca `{text}` lies inside the repository, where the agent could \
             replace it; keep the CA file outside it"
        ));
    }
    Ok(Some(path))
}

/// What is wrong with the link to the team server, if anything: a URL or CA the client
/// cannot use, no token, or the last exchange failing. `None` without `records.server`
/// or when the last exchange worked. Shown by `mandate status`, `readiness`, and once
/// per session by the hook.
pub fn link_problem(project: &Project) -> Option<String> {
    let server = match configured(project)? {
        Ok(server) => server,
        Err(error) => {
            return Some(format!(
                "the team server link is off: {error}. The kill list stays as last known and \
                 no approval can arrive until it is fixed."
            ));
        }
    };
    if !server.has_token() {
        return Some(format!(
            "no token for the team server {}: set $MANDATE_TOKEN or run `mandate token use \
             TOKEN`. The kill list stays as last known and no approval can arrive.",
            server.url
        ));
    }
    let cache = read_sync_cache(&project.records_dir()).ok()?;
    cache.error.map(|error| {
        format!(
            "the team server {} did not answer the last time it was asked ({error}); {}",
            server.url,
            if cache.answered_at == 0 {
                "it has never answered here, so no kill list from it is in force".to_string()
            } else {
                format!(
                    "its kill list of {} s ago holds, and no approval arrives meanwhile",
                    unix_millis(SystemTime::now()).saturating_sub(cache.answered_at) / 1000
                )
            }
        )
    })
}

/// `$MANDATE_TOKEN`, else `<records.dir>/server-token`.
pub fn token(records_dir: &Path) -> Option<String> {
    if let Ok(token) = std::env::var("MANDATE_TOKEN")
        && !token.trim().is_empty()
    {
        return Some(token.trim().to_string());
    }
    std::fs::read_to_string(records_dir.join(TOKEN_FILE))
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn remote_dir(records_dir: &Path) -> PathBuf {
    records_dir.join(DIR)
}

/// Write a small file atomically (rename), without fsync: it is a cache or a cursor
/// the next push corrects, never evidence.
fn write_cache(path: &Path, bytes: &[u8]) -> Result<(), ProjectError> {
    let error = |source| ProjectError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(error)?;
    std::fs::rename(&tmp, path).map_err(error)
}

fn unix_millis(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------
// Pushing

/// What the server is known to hold of one run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunCursor {
    pub entries: u64,
    pub log_bytes: u64,
    pub checkpoints: Vec<u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Cursor {
    #[serde(default)]
    server: String,
    #[serde(default)]
    runs: BTreeMap<String, RunCursor>,
    /// When the cursor was last checked against what the server really holds (Unix
    /// seconds).
    #[serde(default)]
    reconciled_at: u64,
}

/// How often a background push checks the cursor against the server, so that data the
/// server lost (a restore from backup, a failover to a lagging replica) is sent again.
const RECONCILE_EVERY: Duration = Duration::from_secs(300);

/// The runs list answers at most this many runs; a run missing from a full list may
/// simply be older.
const RUNS_LIST_LIMIT: usize = 500;

/// Bring the cursor down to what the server holds: a run it holds fewer entries or
/// checkpoints of than the cursor says is pushed again from there, and a run it does
/// not hold at all is pushed whole. One request.
fn reconcile(server: &Server, cursor: &mut Cursor) -> Result<(), String> {
    if cursor.runs.is_empty() {
        return Ok(());
    }
    let response = server.request("GET", "/api/v1/runs", None, Duration::from_secs(10))?;
    if response.status != 200 {
        return Err(format!(
            "the server did not list its runs ({}): {}",
            response.status,
            response.error()
        ));
    }
    let listed = response.json();
    let listed = listed.as_array().cloned().unwrap_or_default();
    let held: BTreeMap<String, (u64, u64)> = listed
        .iter()
        .filter_map(|run| {
            Some((
                run.get("run_id")?.as_str()?.to_string(),
                (
                    run.get("entries")?.as_u64()?,
                    run.get("sealed").and_then(Value::as_u64).unwrap_or(0),
                ),
            ))
        })
        .collect();
    let complete_list = listed.len() < RUNS_LIST_LIMIT;
    for (run_id, known) in cursor.runs.iter_mut() {
        match held.get(run_id) {
            Some(&(entries, sealed)) => {
                if entries < known.entries {
                    known.entries = entries;
                    known.log_bytes = 0;
                }
                if known.checkpoints.iter().any(|&size| size > sealed) {
                    known.checkpoints.retain(|&size| size <= sealed);
                    known.log_bytes = 0;
                }
            }
            None if complete_list => *known = RunCursor::default(),
            None => {}
        }
    }
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The outcome of one push round.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PushReport {
    pub runs: usize,
    pub entries: u64,
    pub checkpoints: u64,
    pub errors: Vec<String>,
    /// Changes from the outbox the server took in this round.
    #[serde(default)]
    pub changes_sent: usize,
    /// Changes still waiting in the outbox.
    #[serde(default)]
    pub changes_waiting: usize,
}

impl PushReport {
    pub fn nothing_new(&self) -> bool {
        self.entries == 0
            && self.checkpoints == 0
            && self.changes_sent == 0
            && self.changes_waiting == 0
            && self.errors.is_empty()
    }
}

/// Push every run under `records_dir` that has entries or checkpoints the server does
/// not hold. Safe to run concurrently with the hook (it only reads the logs) and with
/// other pushes (the server is idempotent). Every [`RECONCILE_EVERY`] the cursor is
/// checked against what the server holds.
pub fn push_all(server: &Server, records_dir: &Path) -> PushReport {
    push_all_checked(server, records_dir, false)
}

/// [`push_all`], checking the cursor against the server first when `reconcile` is set
/// (what `mandate push` does), else when it is due.
pub fn push_all_checked(server: &Server, records_dir: &Path, reconcile_now: bool) -> PushReport {
    let mut report = PushReport::default();
    let cursor_path = remote_dir(records_dir).join(CURSOR_FILE);
    let mut cursor: Cursor = std::fs::read(&cursor_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    if cursor.server != server.url {
        // Another server: it holds nothing we know of.
        cursor = Cursor {
            server: server.url.clone(),
            runs: BTreeMap::new(),
            reconciled_at: 0,
        };
    }
    let due = unix_now().saturating_sub(cursor.reconciled_at) >= RECONCILE_EVERY.as_secs();
    if (reconcile_now || due) && !cursor.runs.is_empty() {
        match reconcile(server, &mut cursor) {
            Ok(()) => cursor.reconciled_at = unix_now(),
            Err(error) => report.errors.push(error),
        }
    }
    let runs = crate::records::list_runs(records_dir);
    if runs.is_empty() {
        drain_outbox(server, records_dir, &mut report);
        return report;
    }
    // The recorder's key signs the checkpoints; it is created at the first checkpoint,
    // so a run pushed before that creates it (as the recorder would).
    let key_path = records_dir.join("keys").join("signing.key");
    let key = match mandate_record::keys::load_or_create(&key_path) {
        Ok(key) => key,
        Err(error) => {
            report.errors.push(format!("the signing key: {error}"));
            drain_outbox(server, records_dir, &mut report);
            return report;
        }
    };
    for run_dir in runs {
        let Some(run_id) = run_dir.file_name().map(|n| n.to_string_lossy().to_string()) else {
            continue;
        };
        let known = cursor.runs.get(&run_id).cloned().unwrap_or_default();
        let log_bytes = std::fs::metadata(run_dir.join(mandate_record::LOG_FILE))
            .map(|m| m.len())
            .unwrap_or(0);
        let local_checkpoints = checkpoint_sizes(&run_dir);
        if log_bytes == known.log_bytes
            && local_checkpoints
                .iter()
                .all(|s| known.checkpoints.contains(s))
        {
            continue;
        }
        let origin = crate::recorder::origin(&run_id);
        let key_string =
            mandate_record::checkpoint::verifier_key_string(&origin, &key.verifying_key());
        match push_run(server, &run_dir, &run_id, &key_string, &known, log_bytes) {
            Ok((now, sent, sent_checkpoints)) => {
                report.runs += 1;
                report.entries += sent;
                report.checkpoints += sent_checkpoints;
                cursor.runs.insert(run_id, now);
            }
            Err(error) => report.errors.push(format!("run {run_id}: {error}")),
        }
    }
    if create_private_dir(&remote_dir(records_dir)).is_ok()
        && let Ok(bytes) = serde_json::to_vec_pretty(&cursor)
        && let Err(error) = write_cache(&cursor_path, &bytes)
    {
        report.errors.push(error.to_string());
    }
    drain_outbox(server, records_dir, &mut report);
    report
}

/// After the records (a review or a decision is about a run the server must hold), the
/// changes waiting in the outbox.
fn drain_outbox(server: &Server, records_dir: &Path, report: &mut PushReport) {
    report
        .errors
        .extend(crate::machine_report::send(server, records_dir));
    let drained = crate::outbox::drain(server, records_dir);
    report.changes_sent = drained.sent;
    report.changes_waiting = drained.waiting;
    report.errors.extend(drained.refused);
    if let Some(reason) = drained.blocked_by {
        report.errors.push(format!(
            "{} change(s) made on this machine wait for the team server: {reason}",
            drained.waiting
        ));
    }
}

fn checkpoint_sizes(run_dir: &Path) -> Vec<u64> {
    let mut sizes: Vec<u64> = std::fs::read_dir(run_dir.join(mandate_record::CHECKPOINT_DIR))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    sizes.sort_unstable();
    sizes
}

/// Push one run; returns the new cursor, entries sent and checkpoints sent.
fn push_run(
    server: &Server,
    run_dir: &Path,
    run_id: &str,
    key_string: &str,
    known: &RunCursor,
    log_bytes: u64,
) -> Result<(RunCursor, u64, u64), String> {
    let entries = mandate_record::read_entries(run_dir).map_err(|error| error.to_string())?;
    // The project the run belongs to, as its `run.start` recorded it from mandate.toml.
    let start = entries.iter().take(8).find_map(|e| {
        let value: Value = serde_json::from_slice(&e.bytes).ok()?;
        (value.get("type").and_then(Value::as_str) == Some("run.start")).then_some(value)
    });
    let Some(start) = start else {
        // Not started yet: the next round pushes it whole.
        return Ok((known.clone(), 0, 0));
    };
    let Some(project) = start
        .get("project")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(
            "the run names no project, so the team server cannot take it: set `project = \
             \"NAME\"` under [records] in mandate.toml (the name the team policy gives this \
             repository) for the next run"
                .to_string(),
        );
    };
    let path = format!("/api/v1/runs/{run_id}/entries");
    let timeout = Duration::from_secs(30);
    let mut from = known.entries.min(entries.len() as u64);
    let mut sent = 0u64;
    let mut have = known.entries;
    // Entries, in batches; the server's `have` steers where the next batch starts.
    for _ in 0..(entries.len() / BATCH + 3) {
        let start = usize::try_from(from).unwrap_or(usize::MAX);
        let batch: Vec<String> = entries
            .iter()
            .skip(start)
            .take(BATCH)
            .map(|e| String::from_utf8_lossy(&e.bytes).into_owned())
            .collect();
        if batch.is_empty() && have >= entries.len() as u64 {
            break;
        }
        let body = json!({"key": key_string, "from": from, "entries": batch, "project": project});
        let response = server.request("POST", &path, Some(&body), timeout)?;
        let reply = response.json();
        let server_has = reply.get("have").and_then(Value::as_u64);
        match (response.status, server_has) {
            (200, Some(n)) => {
                sent += reply.get("accepted").and_then(Value::as_u64).unwrap_or(0);
                have = n;
                from = n;
            }
            // A gap (the server lost or never had earlier entries): resend from there.
            (409, Some(n)) if n < from => {
                have = n;
                from = n;
            }
            (status, _) => {
                return Err(format!(
                    "the server refused the push ({status}): {}",
                    response.error()
                ));
            }
        }
        if have >= entries.len() as u64 {
            break;
        }
    }
    // Checkpoints the server does not hold yet.
    let local = checkpoint_sizes(run_dir);
    let missing: Vec<String> = local
        .iter()
        .filter(|s| !known.checkpoints.contains(s))
        .filter_map(|s| {
            std::fs::read_to_string(
                run_dir
                    .join(mandate_record::CHECKPOINT_DIR)
                    .join(s.to_string()),
            )
            .ok()
        })
        .collect();
    let mut sent_checkpoints = 0;
    let mut checkpoints = known.checkpoints.clone();
    if !missing.is_empty() {
        let body = json!({"key": key_string, "from": have, "entries": [],
                          "checkpoints": missing, "project": project});
        let response = server.request("POST", &path, Some(&body), timeout)?;
        if response.status != 200 {
            return Err(format!(
                "the server refused a checkpoint ({}): {}",
                response.status,
                response.error()
            ));
        }
        sent_checkpoints = missing.len() as u64;
        checkpoints = response
            .json()
            .get("checkpoints")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or(local);
    }
    let complete = have >= entries.len() as u64;
    Ok((
        RunCursor {
            entries: have,
            // Only a complete push lets the next round skip this run unread.
            log_bytes: if complete { log_bytes } else { 0 },
            checkpoints,
        },
        sent,
        sent_checkpoints,
    ))
}

/// `mandate push --background`: one pusher at a time per record store; push, wait
/// [`PUSH_EVERY`], push again, until a round after the first finds nothing new (or a few
/// failed rounds: the next hook call starts another).
///
/// A pusher started while another runs does not wait (a stuck server must not pile up
/// processes): it leaves word in `push.pending` and exits. The running pusher does not
/// stop while word is there, and looks for it once more after letting go of the lock;
/// the one leaving word also tries the lock once more after leaving it. So whichever
/// order the two take, some pusher reads the logs after the event that started the new
/// one.
pub fn push_in_background(server: &Server, records_dir: &Path) -> Result<PushReport, ProjectError> {
    let dir = remote_dir(records_dir);
    create_private_dir(&dir)?;
    let pending = dir.join(PENDING_FILE);
    let lock_path = dir.join(LOCK_FILE);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| ProjectError::Write {
            path: lock_path.clone(),
            source,
        })?;
    let mut total = PushReport::default();
    if lock.try_lock().is_err() {
        touch(&pending).map_err(|source| ProjectError::Write {
            path: pending.clone(),
            source,
        })?;
        if lock.try_lock().is_err() {
            return Ok(total);
        }
    }
    loop {
        let mut failures = 0;
        for round in 0..1000 {
            // What this round reads covers any word left before it.
            let _ = std::fs::remove_file(&pending);
            let report = push_all(server, records_dir);
            let idle = report.nothing_new();
            total.runs += report.runs;
            total.entries += report.entries;
            total.checkpoints += report.checkpoints;
            if report.errors.is_empty() {
                total.errors.clear();
            } else {
                failures += 1;
                total.errors = report.errors;
                if failures >= 5 {
                    let _ = lock.unlock();
                    return Ok(total);
                }
            }
            if idle && round >= 1 && !pending.exists() {
                break;
            }
            let _ = touch(&dir.join(STAMP_FILE));
            // A little longer than the hook's spawn interval: an event recorded while
            // we sleep either finds our stamp fresh (and our next round reads it) or
            // starts a pusher that leaves word.
            std::thread::sleep(PUSH_EVERY * (failures + 1) + Duration::from_millis(250));
        }
        let _ = lock.unlock();
        if !pending.exists() || lock.try_lock().is_err() {
            return Ok(total);
        }
    }
}

fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::write(path, unix_millis(SystemTime::now()).to_string())
}

/// The hook's call after it records an event: start a background push unless one was
/// started within [`PUSH_EVERY`]. Costs one `stat` when one was; a `fork`/`exec` when not.
/// Never fails the hook: the spool stays on disk for the next push.
pub fn recorded(project: &Project) {
    // The URL and CA only: the pusher reads the token itself.
    let Some(Ok(server)) = server_url(project).map(|url| Server::new(url, None)) else {
        return;
    };
    let Ok(ca) = server_ca(project) else {
        return;
    };
    let records = project.records_dir();
    let dir = remote_dir(&records);
    let stamp = dir.join(STAMP_FILE);
    let fresh = std::fs::metadata(&stamp)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < PUSH_EVERY);
    if fresh || create_private_dir(&dir).is_err() || touch(&stamp).is_err() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = std::process::Command::new(exe);
    command
        .arg("push")
        .arg("--background")
        .arg("--records-dir")
        .arg(&records)
        .arg("--server")
        .arg(&server.url);
    if let Some(ca) = &ca {
        command.arg("--server-ca").arg(ca);
    }
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // Its own process group: it outlives the hook, and signals meant for the hook's
        // group do not cut a push short.
        command.process_group(0);
    }
    let _ = command.spawn();
}

// ---------------------------------------------------------------------------------
// The kill list and approval decisions

/// The hook's cache of the server's answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SyncCache {
    /// When the server last answered (Unix milliseconds; 0 = never).
    pub answered_at: u64,
    /// When the hook last asked, answered or not.
    pub asked_at: u64,
    /// The kill list as of `answered_at`.
    pub killed: Vec<String>,
    /// The last failure, if the last ask failed.
    #[serde(default)]
    pub error: Option<String>,
    /// The kill list as of `answered_at`, with who switched each target off, when and
    /// why (what `mandate disabled` shows).
    #[serde(default)]
    pub killed_by: Vec<ServerKill>,
    /// The server's clock at its last answer: the next ask wants reviews made since.
    #[serde(default)]
    pub server_time: Option<String>,
    /// The kill-switch changes of the last answer, by id: the next answer starts at the
    /// same instant and may carry them again.
    #[serde(default)]
    pub kill_seen: Vec<String>,
}

/// A target on the team server's kill list.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerKill {
    pub target: String,
    #[serde(default)]
    pub by: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub since: String,
}

pub fn sync_cache_path(records_dir: &Path) -> PathBuf {
    remote_dir(records_dir).join(SYNC_FILE)
}

/// Read the cache; a damaged cache is an error (the caller refuses the call).
pub fn read_sync_cache(records_dir: &Path) -> Result<SyncCache, ProjectError> {
    let path = sync_cache_path(records_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
            ProjectError::Invalid(format!(
                "the team server's cached kill list `{}` is damaged ({error}); delete it to \
                 fetch it again",
                path.display()
            ))
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(SyncCache::default()),
        Err(source) => Err(ProjectError::Read { path, source }),
    }
}

/// How long the cache is trusted: [`REFRESH_EVERY`], or `$MANDATE_SERVER_REFRESH_MS`.
fn refresh_every() -> Duration {
    std::env::var("MANDATE_SERVER_REFRESH_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(REFRESH_EVERY)
}

/// The hook's one question while it builds the kill list: the targets the team server
/// has switched off. Without `records.server`, nothing. With it, the cached answer,
/// refreshed first when older than [`REFRESH_EVERY`]; on the way, decisions on pending
/// approval requests are written into the local store. A server that cannot be
/// reached leaves the last known list in force.
pub fn server_kill_list(project: &Project) -> Result<Vec<String>, ProjectError> {
    if server_url(project).is_none() {
        return Ok(Vec::new());
    }
    let records = project.records_dir();
    let cache = read_sync_cache(&records)?;
    let now = unix_millis(SystemTime::now());
    let age = Duration::from_millis(now.saturating_sub(cache.asked_at));
    if age < refresh_every() {
        return Ok(cache.killed);
    }
    match configured(project) {
        Some(Ok(server)) => Ok(sync(&server, &records, cache, ASK_TIMEOUT).killed),
        // A misconfigured link: the last known list holds, nothing new arrives, and the
        // reason is kept where `status`, `readiness` and the session's start show it.
        Some(Err(error)) => {
            let mut cache = cache;
            cache.asked_at = now;
            cache.error = Some(error);
            write_sync_cache(&records, &cache);
            Ok(cache.killed)
        }
        None => Ok(cache.killed),
    }
}

fn write_sync_cache(records_dir: &Path, cache: &SyncCache) {
    if create_private_dir(&remote_dir(records_dir)).is_ok()
        && let Ok(bytes) = serde_json::to_vec(cache)
    {
        let _ = write_cache(&sync_cache_path(records_dir), &bytes);
    }
}

/// Ask the server now; write the cache and any approval decisions. Returns the cache.
pub fn sync(
    server: &Server,
    records_dir: &Path,
    mut cache: SyncCache,
    timeout: Duration,
) -> SyncCache {
    let now = unix_millis(SystemTime::now());
    cache.asked_at = now;
    let approvals = Approvals::new(records_dir);
    let pending: Vec<String> = approvals
        .list()
        .map(|list| {
            list.into_iter()
                .filter(|r| r.status == Status::Pending)
                .map(|r| r.id)
                .collect()
        })
        .unwrap_or_default();
    let path = format!(
        "/api/v1/sync?approvals={}&reviews_since={}",
        pending.join(","),
        cache.server_time.as_deref().unwrap_or("")
    );
    let answer = server.exchange("GET", &path, None, timeout, MAX_SYNC_BYTES);
    // The next ask waits a full period after this one ended, however long it took:
    // a slow server costs at most one deadline per period.
    cache.asked_at = unix_millis(SystemTime::now());
    match answer {
        Ok(response) if response.status == 200 => {
            let reply = response.json();
            let had_answer = cache.answered_at != 0;
            cache.answered_at = now;
            cache.error = None;
            let killed_by: Vec<ServerKill> = reply
                .get("killed")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|k| serde_json::from_value(k.clone()).ok())
                        .collect()
                })
                .unwrap_or_default();
            match reply.get("kill_log").and_then(Value::as_array) {
                Some(log) => {
                    if had_answer {
                        record_kill_log(records_dir, &server.url, log, &cache.kill_seen);
                    }
                    cache.kill_seen = log
                        .iter()
                        .filter_map(|c| c.get("id").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect();
                }
                // A server without the log: what changed between the two lists.
                None if had_answer => {
                    record_kill_changes(records_dir, &cache.killed_by, &killed_by)
                }
                None => {}
            }
            cache.killed = killed_by.iter().map(|k| k.target.clone()).collect();
            cache.killed_by = killed_by;
            if let Some(time) = reply.get("time").and_then(Value::as_str) {
                cache.server_time = Some(time.to_string());
            }
            for review in reply
                .get("reviews")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                apply_review(records_dir, review);
            }
            for decision in reply
                .get("approvals")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                apply_decision(&approvals, decision);
            }
        }
        Ok(response) => {
            cache.error = Some(format!("{}: {}", response.status, response.error()));
        }
        Err(error) => cache.error = Some(error),
    }
    write_sync_cache(records_dir, &cache);
    cache
}

/// The organisation's kill-switch changes since the last answer, each written once into
/// the record of every active run here, with who made it, when, and on which server: the
/// record shows why calls started (or stopped) being refused, even for a target switched
/// off and on again between two syncs.
fn record_kill_log(records_dir: &Path, server: &str, log: &[Value], seen: &[String]) {
    for change in log {
        let text = |key: &str| change.get(key).and_then(Value::as_str).unwrap_or("");
        if seen.iter().any(|id| id == text("id")) {
            continue;
        }
        let event = json!({
            "type": "killswitch",
            "action": text("action"),
            "target": text("target"),
            "by": text("by"),
            "reason": text("reason"),
            "changed_at": text("time"),
            "change_id": text("id"),
            "server": server,
            "source": "team server",
        });
        let _ = crate::killswitch::record_in_active_runs(records_dir, &event);
    }
}

/// Kill-switch changes made on a server that keeps no log for its machines, written into
/// the record of every active run here: what changed between its last two lists.
fn record_kill_changes(records_dir: &Path, before: &[ServerKill], after: &[ServerKill]) {
    let mut changes = Vec::new();
    for kill in after {
        if !before.iter().any(|k| k.target == kill.target) {
            changes.push(("disable", kill.clone()));
        }
    }
    for kill in before {
        if !after.iter().any(|k| k.target == kill.target) {
            changes.push(("enable", kill.clone()));
        }
    }
    for (action, kill) in changes {
        let event = json!({
            "type": "killswitch",
            "action": action,
            "target": kill.target,
            "by": if action == "disable" { kill.by.as_str() } else { "" },
            "reason": if action == "disable" { kill.reason.as_str() } else { "" },
            "since": kill.since,
            "source": "team server",
        });
        let _ = crate::killswitch::record_in_active_runs(records_dir, &event);
    }
}

/// A review a reviewer made on the server, of a run of this machine: written into the
/// run's record here (once: its id is looked for first), so `mandate record show` says
/// what the server's pages say. The server knows it was the signed-in reviewer.
fn apply_review(records_dir: &Path, review: &Value) {
    let text = |key: &str| review.get(key).and_then(Value::as_str).unwrap_or("");
    let (id, run_id) = (text("id"), text("run_id"));
    let valid_run = !run_id.is_empty()
        && !run_id.starts_with('.')
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if id.is_empty() || !valid_run {
        return;
    }
    let run_dir = records_dir.join("runs").join(run_id);
    if !run_dir.join(mandate_record::LOG_FILE).is_file() {
        return;
    }
    let known = crate::records::read_events(&run_dir)
        .map(|events| {
            events.iter().any(|e| {
                e.get("type").and_then(Value::as_str) == Some("review")
                    && e.get("review_id").and_then(Value::as_str) == Some(id)
            })
        })
        .unwrap_or(true);
    if known {
        return;
    }
    let appended = crate::recorder::append_event(
        &run_dir,
        json!({
            "type": "review",
            "review_id": id,
            "reviewer": text("reviewer"),
            "decision": text("decision"),
            "note": text("note"),
            "reviewed_at": text("created_at"),
            "source": "team server",
        }),
    );
    // Sealed as `mandate review` seals its own: a finished run stays verifiable whole.
    if appended.is_ok() {
        let _ =
            crate::recorder::checkpoint(&records_dir.join("keys").join("signing.key"), &run_dir);
    }
}

/// A fresh review id (`r-` and 32 hex digits): the record entry and the API call carry
/// the same one, so the server holds one review.
pub fn new_review_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: time and process make it unique enough for a label.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        return format!("r-{nanos:x}-{:x}", std::process::id());
    }
    format!(
        "r-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// This machine and record store, as the team server lists them (`host:records dir`).
pub fn machine_name(records_dir: &Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this machine".to_string());
    format!("{host}:{}", records_dir.display())
}

/// Write one server decision into the local store, if the request is still pending
/// there and the decision names the request's own run and call: an id alone never
/// carries a decision from one call (or run) to another, whatever the server says.
fn apply_decision(approvals: &Approvals, decision: &Value) {
    let text = |key: &str| {
        decision
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (Some(id), Some(status), Some(run_id), Some(digest)) =
        (text("id"), text("status"), text("run_id"), text("digest"))
    else {
        return;
    };
    let status = match status.as_str() {
        "approved" | "used" => Status::Approved,
        "denied" => Status::Denied,
        _ => return,
    };
    let _ = approvals.update(&id, |request| {
        if request.status != Status::Pending {
            return Err("already decided".to_string());
        }
        if request.run_id != run_id || request.digest != digest {
            return Err(format!(
                "the team server's decision on {id} is for run {run_id}, call {digest}; the \
                 request here is run {}, call {}",
                request.run_id, request.digest
            ));
        }
        request.status = status;
        request.decided_by = text("decided_by");
        request.decided_at = text("decided_at");
        request.decided_os_user = Some("team server".to_string());
        request.note = text("note");
        request.for_run = decision
            .get("for_run")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(())
    });
}

/// `mandate disable` / `enable` with `records.server`, for the organisation's kill list
/// (every machine's hooks follow it): pulled as the token's user, whose role and place
/// in the team policy's `kill_switch` the server checks. Kept in the outbox while the
/// server cannot be reached.
pub fn switch(
    server: &Server,
    records_dir: &Path,
    action: &str,
    target: &str,
    reason: &str,
) -> crate::outbox::Delivery {
    let body = json!({"action": action, "target": target, "reason": reason});
    crate::outbox::deliver(
        server,
        records_dir,
        crate::outbox::Change::new(
            &format!("the organisation-wide {action} of `{target}`"),
            "POST",
            "/api/v1/killswitch",
            body,
        ),
    )
}

/// A kill-switch change made on this machine, reported to the server (any token may
/// report its own machine's changes; they are listed apart from the organisation's
/// list). Kept in the outbox while the server cannot be reached.
pub fn report_machine_kill(
    server: &Server,
    records_dir: &Path,
    entry: &crate::killswitch::Entry,
) -> crate::outbox::Delivery {
    let body = json!({
        "machine": machine_name(records_dir),
        "action": entry.action.as_str(),
        "target": entry.target,
        "by": entry.by,
        "reason": entry.reason,
        "time": entry.time,
    });
    crate::outbox::deliver(
        server,
        records_dir,
        crate::outbox::Change::new(
            &format!(
                "this machine's {} of `{}`",
                entry.action.as_str(),
                entry.target
            ),
            "POST",
            "/api/v1/killswitch/machine",
            body,
        ),
    )
}

/// A reviewer's decision on one held call: the request, and the run and call it covers.
#[derive(Clone, Copy, Debug)]
pub struct Decision<'a> {
    pub id: &'a str,
    pub run_id: &'a str,
    pub digest: &'a str,
    pub approve: bool,
    pub for_run: bool,
    pub note: &'a str,
}

/// `mandate approve` / `deny` with `records.server`: decide on the server, which checks
/// that the token's user is a named reviewer; hooks learn of it on their next ask. Kept
/// in the outbox while the server cannot be reached.
pub fn decide(server: &Server, records_dir: &Path, d: &Decision<'_>) -> crate::outbox::Delivery {
    let Decision {
        id,
        run_id,
        digest,
        approve,
        for_run,
        note,
    } = *d;
    // The decision names the run and the call it covers; the server checks both.
    let body = json!({
        "run_id": run_id,
        "digest": digest,
        "decision": if approve { "approve" } else { "deny" },
        "for_run": if for_run { "true" } else { "false" },
        "note": note,
    });
    crate::outbox::deliver(
        server,
        records_dir,
        crate::outbox::Change::new(
            &format!(
                "the decision `{}` on approval request {id}",
                if approve { "approve" } else { "deny" }
            ),
            "POST",
            &format!("/api/v1/approvals/{id}"),
            body,
        ),
    )
}

/// `mandate review` with `records.server`: the review, under the id the record carries,
/// as the token's user (the server checks they review the run's project and did not
/// delegate it). Kept in the outbox while the server cannot be reached.
pub fn review(
    server: &Server,
    records_dir: &Path,
    run_id: &str,
    review_id: &str,
    decision: &str,
    note: &str,
) -> crate::outbox::Delivery {
    crate::outbox::deliver(
        server,
        records_dir,
        crate::outbox::Change::new(
            &format!("the review `{decision}` of run {run_id}"),
            "POST",
            &format!("/api/v1/runs/{run_id}/reviews"),
            json!({"id": review_id, "decision": decision, "note": note}),
        ),
    )
}

/// The records directory a path names, `~` expanded (for `mandate push --records-dir`).
pub fn records_dir_from(text: &str) -> PathBuf {
    expand_home(text, std::env::var_os("HOME").map(PathBuf::from).as_deref())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let s = Server::new("http://127.0.0.1:8417", None).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.prefix.as_str()),
            ("127.0.0.1", 8417, "")
        );
        let s = Server::new("http://localhost/team/", None).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.prefix.as_str()),
            ("localhost", 80, "/team")
        );
        let s = Server::new("https://mandate.internal/team", None).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mandate.internal", 443, true)
        );
        // Plain http only to this machine.
        for url in ["http://localhost:1", "http://[::1]:1", "http://127.0.0.2"] {
            assert!(Server::new(url, None).is_ok(), "{url}");
        }
        let refused = Server::new("http://mandate.internal:8417", None).unwrap_err();
        assert!(refused.contains("https://"), "{refused}");
        assert!(Server::new("http://10.0.0.1", None).is_err());
        assert!(Server::new("ftp://x", None).is_err());
    }

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"ok".as_slice()));
        let r = parse_response(
            b"HTTP/1.1 409 Conflict\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (409, b"abcde".as_slice()));
        assert!(parse_response(b"garbage").is_none());
    }
}
