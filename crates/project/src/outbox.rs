//! State changes made on this machine that the team server must learn through its API
//! (a review, an approval decision, a kill-switch change), kept until it has them.
//!
//! The run records carry most changes to the server by themselves: they are pushed. A
//! few changes are API calls as well, because the server must see *who* made them (the
//! token's user) or because they belong to no run (a kill-switch change with no run
//! active). Such a call is tried at once; when the server cannot be reached, or answers
//! that it is busy, the call is written to `<records.dir>/remote/outbox/` (one JSON file
//! each, named so that they sort in the order they were made) and the background push
//! sends it, in order, until the server has it. A refusal that waiting will not change
//! (401, 403, 400) is not retried: it is moved to `outbox/refused/` and said at once, with
//! what the token lacks and who can grant it; `mandate push` and `mandate status` list
//! both what waits and what was refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ProjectError;
use crate::remote::{Response, Server};
use crate::state::create_private_dir;

const DIR: &str = "outbox";
const REFUSED_DIR: &str = "refused";
/// How long one delivery may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// One API call the server has not confirmed yet.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Change {
    /// What it is, for people: "review `approve` of run BILL-142-…".
    pub what: String,
    pub method: String,
    pub path: String,
    pub body: Value,
    /// When it was made on this machine.
    pub made_at: String,
    #[serde(default)]
    pub attempts: u32,
    /// Why the last attempt did not get through.
    #[serde(default)]
    pub last_error: Option<String>,
    /// The file it is kept in (set when read back).
    #[serde(skip)]
    pub file: PathBuf,
}

/// How a delivery ended.
#[derive(Clone, Debug)]
pub enum Delivery {
    /// The server has it (or already had it: a 409 for a change it holds).
    Sent(Response),
    /// Not yet: kept in the outbox, with the reason; the background push retries.
    Queued(String),
    /// Refused for good (the reason says what is missing and who can grant it).
    Refused(String),
}

impl Change {
    pub fn new(what: &str, method: &str, path: &str, body: Value) -> Change {
        Change {
            what: what.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            body,
            made_at: crate::recorder::now_rfc3339(),
            attempts: 0,
            last_error: None,
            file: PathBuf::new(),
        }
    }
}

pub fn outbox_dir(records_dir: &Path) -> PathBuf {
    records_dir.join("remote").join(DIR)
}

/// What a status code means for a change: sent, worth retrying, or refused for good.
fn judge(server: &Server, change: &Change, answer: Result<Response, String>) -> Delivery {
    match answer {
        Err(error) => Delivery::Queued(error),
        Ok(response) => match response.status {
            200..=299 | 409 => Delivery::Sent(response),
            // The run or the request may not have been pushed yet: the push brings it.
            404 => Delivery::Queued(format!(
                "the team server does not hold what this change is about yet ({}); it is \
                 sent again after the next push",
                response.error()
            )),
            408 | 429 | 500..=599 => Delivery::Queued(format!(
                "the team server {} answered {} ({})",
                server.url,
                response.status,
                response.error()
            )),
            status => Delivery::Refused(refusal(server, &change.what, status, &response)),
        },
    }
}

/// A refusal, said so that the reader knows what is missing and who can fix it.
pub fn refusal(server: &Server, what: &str, status: u16, response: &Response) -> String {
    match status {
        401 => format!(
            "the team server {} does not know this machine's token (wrong, revoked or \
             expired), so it refused {what}: ask an admin of the server for a token \
             (`mandate-server token create`) and run `mandate token use TOKEN`",
            server.url
        ),
        403 => format!(
            "forbidden for this token: the team server {} refused {what}: {}. An admin of \
             the server issues tokens with other roles (`mandate-server token create \
             --role …`); security or an admin changes the team policy (POST /api/v1/policy)",
            server.url,
            response.error()
        ),
        _ => format!(
            "the team server {} refused {what} ({status}): {}",
            server.url,
            response.error()
        ),
    }
}

/// Send a change now; keep it in the outbox when the server cannot take it yet.
pub fn deliver(server: &Server, records_dir: &Path, change: Change) -> Delivery {
    let answer = server.request(
        &change.method,
        &change.path,
        Some(&change.body),
        SEND_TIMEOUT,
    );
    let delivery = judge(server, &change, answer);
    if let Delivery::Queued(reason) = &delivery {
        let mut change = change;
        change.attempts = 1;
        change.last_error = Some(reason.clone());
        if let Err(error) = keep(records_dir, &change) {
            return Delivery::Refused(format!(
                "the team server cannot take {} now ({reason}), and it could not be kept for \
                 later: {error}",
                change.what
            ));
        }
    }
    delivery
}

fn keep(records_dir: &Path, change: &Change) -> Result<PathBuf, ProjectError> {
    let dir = outbox_dir(records_dir);
    create_private_dir(&dir)?;
    let path = if change.file.as_os_str().is_empty() {
        let mut nonce = [0u8; 6];
        let _ = getrandom::fill(&mut nonce);
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        dir.join(format!("{millis:016}-{nonce}.json"))
    } else {
        change.file.clone()
    };
    let bytes =
        serde_json::to_vec_pretty(change).map_err(|e| ProjectError::Invalid(e.to_string()))?;
    crate::state::write_atomic(&path, &bytes)?;
    Ok(path)
}

fn read_dir_changes(dir: &Path) -> Vec<Change> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter_map(|file| {
            let mut change: Change = serde_json::from_slice(&std::fs::read(&file).ok()?).ok()?;
            change.file = file;
            Some(change)
        })
        .collect()
}

/// The changes still waiting for the server, oldest first.
pub fn waiting(records_dir: &Path) -> Vec<Change> {
    read_dir_changes(&outbox_dir(records_dir))
}

/// The changes the server refused for good, oldest first.
pub fn refused(records_dir: &Path) -> Vec<Change> {
    read_dir_changes(&outbox_dir(records_dir).join(REFUSED_DIR))
}

/// What one pass over the outbox did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Drained {
    pub sent: usize,
    pub waiting: usize,
    /// Refusals met in this pass.
    pub refused: Vec<String>,
    /// Why the first change still waiting did not get through.
    pub blocked_by: Option<String>,
}

/// Send what waits, oldest first. A change the server cannot take yet stops the pass
/// (the ones after it keep their order); one refused for good is moved aside.
pub fn drain(server: &Server, records_dir: &Path) -> Drained {
    let mut out = Drained::default();
    let changes = waiting(records_dir);
    let total = changes.len();
    for (n, mut change) in changes.into_iter().enumerate() {
        let answer = server.request(
            &change.method,
            &change.path,
            Some(&change.body),
            SEND_TIMEOUT,
        );
        match judge(server, &change, answer) {
            Delivery::Sent(_) => {
                let _ = std::fs::remove_file(&change.file);
                out.sent += 1;
            }
            Delivery::Refused(reason) => {
                let refused_dir = outbox_dir(records_dir).join(REFUSED_DIR);
                change.last_error = Some(reason.clone());
                let moved = create_private_dir(&refused_dir).is_ok()
                    && change
                        .file
                        .file_name()
                        .map(|name| refused_dir.join(name))
                        .is_some_and(|to| {
                            let old = std::mem::replace(&mut change.file, to);
                            keep(records_dir, &change).is_ok() && std::fs::remove_file(old).is_ok()
                        });
                if !moved {
                    out.waiting += 1;
                }
                out.refused.push(reason);
            }
            Delivery::Queued(reason) => {
                change.attempts += 1;
                change.last_error = Some(reason.clone());
                let _ = keep(records_dir, &change);
                out.blocked_by = Some(reason);
                out.waiting += total - n;
                break;
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_change_the_server_cannot_take_waits_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing listens on this port: the connection is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Server::new(&format!("http://127.0.0.1:{port}"), Some("t".into())).unwrap();
        for n in 0..3 {
            let change = Change::new(
                &format!("change {n}"),
                "POST",
                "/api/v1/x",
                serde_json::json!({"n": n}),
            );
            match deliver(&server, dir.path(), change) {
                Delivery::Queued(reason) => {
                    assert!(reason.contains("connection refused"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
        let kept: Vec<String> = waiting(dir.path()).into_iter().map(|c| c.what).collect();
        assert_eq!(kept, ["change 0", "change 1", "change 2"]);
        let drained = drain(&server, dir.path());
        assert_eq!((drained.sent, drained.waiting), (0, 3));
        assert!(drained.blocked_by.unwrap().contains("connection refused"));
        assert_eq!(waiting(dir.path()).first().unwrap().attempts, 2);
    }
}
