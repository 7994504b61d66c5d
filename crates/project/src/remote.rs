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
//! HTTP here is a few lines over `std::net`: plain `http://` only (put TLS in front
//! with a local proxy), so the hook binary links no HTTP client, TLS stack or runtime.

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

impl Server {
    /// `http://host[:port][/prefix]`.
    pub fn new(url: &str, token: Option<String>) -> Result<Server, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            if url.starts_with("https://") {
                format!(
                    "records.server `{url}`: mandate speaks plain http to the team server; put \
                     a local TLS proxy in front and name it with http://"
                )
            } else {
                format!("records.server `{url}` is not an http:// URL")
            }
        })?;
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
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("records.server `{url}` names no host"));
        }
        Ok(Server {
            url: url.trim_end_matches('/').to_string(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            prefix: prefix.trim_end_matches('/').to_string(),
            token,
        })
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// One HTTP/1.1 request; `timeout` bounds connecting and each read and write.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Response, String> {
        let started = Instant::now();
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|error| format!("cannot resolve {}: {error}", self.host))?
            .next()
            .ok_or_else(|| format!("cannot resolve {}", self.host))?;
        let mut stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|error| format!("cannot reach {}: {error}", self.url))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|_| stream.set_write_timeout(Some(timeout)))
            .and_then(|_| stream.set_nodelay(true))
            .map_err(|error| error.to_string())?;
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
        let io = |error: std::io::Error| format!("talking to {}: {error}", self.url);
        stream.write_all(head.as_bytes()).map_err(io)?;
        stream.write_all(payload.as_bytes()).map_err(io)?;
        let mut raw = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut chunk).map_err(io)?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(chunk.get(..n).unwrap_or_default());
            // A slow trickle must not hold the caller past a few timeouts.
            if started.elapsed() > timeout * 4 {
                return Err(format!("{} answered too slowly", self.url));
            }
        }
        parse_response(&raw).ok_or_else(|| format!("{} sent a malformed response", self.url))
    }
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

/// The server the policy names, with the token.
pub fn configured(project: &Project) -> Option<Result<Server, String>> {
    let url = server_url(project)?;
    Some(Server::new(url, token(&project.records_dir())))
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
}

/// The outcome of one push round.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PushReport {
    pub runs: usize,
    pub entries: u64,
    pub checkpoints: u64,
    pub errors: Vec<String>,
}

impl PushReport {
    pub fn nothing_new(&self) -> bool {
        self.entries == 0 && self.checkpoints == 0 && self.errors.is_empty()
    }
}

/// Push every run under `records_dir` that has entries or checkpoints the server does
/// not hold. Safe to run concurrently with the hook (it only reads the logs) and with
/// other pushes (the server is idempotent).
pub fn push_all(server: &Server, records_dir: &Path) -> PushReport {
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
        };
    }
    let runs = crate::records::list_runs(records_dir);
    if runs.is_empty() {
        return report;
    }
    // The recorder's key signs the checkpoints; it is created at the first checkpoint,
    // so a run pushed before that creates it (as the recorder would).
    let key_path = records_dir.join("keys").join("signing.key");
    let key = match mandate_record::keys::load_or_create(&key_path) {
        Ok(key) => key,
        Err(error) => {
            report.errors.push(format!("the signing key: {error}"));
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
    report
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
        let body = json!({"key": key_string, "from": from, "entries": batch});
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
        let body = json!({"key": key_string, "from": have, "entries": [], "checkpoints": missing});
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
    // The URL only: the pusher reads the token itself.
    let Some(Ok(server)) = server_url(project).map(|url| Server::new(url, None)) else {
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
        .arg(&server.url)
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
        // A misconfigured URL: the last known list holds, and nothing new arrives.
        _ => Ok(cache.killed),
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
    let path = format!("/api/v1/sync?approvals={}", pending.join(","));
    match server.request("GET", &path, None, timeout) {
        Ok(response) if response.status == 200 => {
            let reply = response.json();
            cache.answered_at = now;
            cache.error = None;
            cache.killed = reply
                .get("killed")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|k| k.get("target").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
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
    if create_private_dir(&remote_dir(records_dir)).is_ok()
        && let Ok(bytes) = serde_json::to_vec(&cache)
    {
        let _ = write_cache(&sync_cache_path(records_dir), &bytes);
    }
    cache
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

/// `mandate disable` / `enable` with `records.server`: the server's kill list is the one
/// every hook follows, so the switch is pulled there (as the token's user, whose role the
/// server checks). Returns the targets off afterwards.
pub fn switch(
    server: &Server,
    action: &str,
    target: &str,
    reason: &str,
) -> Result<Vec<String>, String> {
    let body = json!({"action": action, "target": target, "reason": reason});
    let response = server.request(
        "POST",
        "/api/v1/killswitch",
        Some(&body),
        Duration::from_secs(10),
    )?;
    if response.status != 200 {
        return Err(format!(
            "the team server refused ({}): {}",
            response.status,
            response.error()
        ));
    }
    Ok(response
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.get("target").and_then(Value::as_str).map(str::to_string))
        .collect())
}

/// `mandate approve` / `deny` with `records.server`: decide on the server, which checks
/// that the token's user is a named reviewer; hooks learn of it on their next ask.
pub fn decide(
    server: &Server,
    request: &crate::approvals::Request,
    approve: bool,
    for_run: bool,
    note: &str,
) -> Result<(), String> {
    let id = &request.id;
    // The decision names the run and the call it covers; the server checks both.
    let body = json!({
        "run_id": request.run_id,
        "digest": request.digest,
        "decision": if approve { "approve" } else { "deny" },
        "for_run": if for_run { "true" } else { "false" },
        "note": note,
    });
    let response = server.request(
        "POST",
        &format!("/api/v1/approvals/{id}"),
        Some(&body),
        Duration::from_secs(10),
    )?;
    if response.status == 200 {
        Ok(())
    } else {
        Err(format!(
            "the team server refused ({}): {}",
            response.status,
            response.error()
        ))
    }
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
        let s = Server::new("http://mandate.internal/team/", None).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.prefix.as_str()),
            ("mandate.internal", 80, "/team")
        );
        assert!(Server::new("https://x", None).unwrap_err().contains("TLS"));
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
