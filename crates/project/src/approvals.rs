//! Named-reviewer approvals: requests the hook opens, and what reviewers decide.
//!
//! When a call needs a reviewer group (an `[[approval]]` rule of the contract, or a
//! write-class MCP tool), the hook holds it and opens a request here, outside the
//! workspace: `<records.dir>/approvals/<id>.json`, one file per request. A request is
//! bound to one run and to the digest of the call (tool name and input, canonical JSON),
//! so an approval covers exactly that call: the same tool with any other input is a new
//! request. Approved once, it is consumed when the hook lets the call through; approved
//! `for_run`, it covers the same call again in that run. A denied request stays denied.
//!
//! Ids are short and typeable (`a-7f3k2`) and derived from the run, the digest and a
//! round number, so the hook finds the request for a call by name, without scanning the
//! folder. Every state change happens under `approvals/lock`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::ProjectError;
use crate::killswitch::lock;
use crate::state::{create_private_dir, write_atomic};

/// Letters and digits that cannot be misread (no `l`, `o`, `0`, `1`): 32 of them.
const ID_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
const ID_LEN: usize = 5;
const ID_MAX_LEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for a reviewer.
    Pending,
    /// Granted and not yet used (or granted for the whole run).
    Approved,
    /// Refused; stays refused.
    Denied,
    /// Granted once and consumed by the call it covered.
    Used,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Used => "used",
        }
    }
}

/// One request, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub id: String,
    /// The how-manieth request for this same call in this run (0 first).
    pub round: u32,
    pub status: Status,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub task_id: String,
    /// The delegating user of the run: never their own reviewer.
    pub delegated_by: String,
    pub workspace: PathBuf,
    pub tool: String,
    pub input: Value,
    /// sha256 of the canonical JSON of `{"tool": …, "input": …}`.
    pub digest: String,
    /// The reviewer group and its members when the request was opened.
    pub group: String,
    pub reviewers: Vec<String>,
    pub rule: String,
    pub reason: String,
    pub requested_at: String,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub tool_use_id: Option<String>,
    #[serde(default)]
    pub for_run: bool,
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub decided_os_user: Option<String>,
    #[serde(default)]
    pub decided_at: Option<String>,
    /// The reviewer's reason for a denial.
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub uses: u32,
    #[serde(default)]
    pub last_used_at: Option<String>,
}

/// What the hook asks for when a call needs a reviewer.
pub struct Ask<'a> {
    pub run_id: &'a str,
    pub run_dir: &'a Path,
    pub task_id: &'a str,
    pub delegated_by: &'a str,
    pub workspace: &'a Path,
    pub tool: &'a str,
    pub input: &'a Value,
    pub group: &'a str,
    pub reviewers: &'a [String],
    pub rule: &'a str,
    pub reason: &'a str,
    pub session_id: Option<&'a str>,
    pub tool_use_id: Option<&'a str>,
    pub now: &'a str,
}

/// Where a held call stands.
#[derive(Debug)]
pub enum Settled {
    /// A new request was opened now.
    Requested(Request),
    /// A request is already waiting.
    Pending(Request),
    /// A reviewer refused it.
    Denied(Request),
    /// Approved: the call may run; the request was consumed (unless granted for the run).
    Allowed(Request),
}

impl Settled {
    pub fn request(&self) -> &Request {
        match self {
            Settled::Requested(r)
            | Settled::Pending(r)
            | Settled::Denied(r)
            | Settled::Allowed(r) => r,
        }
    }
}

/// The approvals of one record store.
pub struct Approvals {
    dir: PathBuf,
}

impl Approvals {
    pub fn new(records_dir: &Path) -> Approvals {
        Approvals {
            dir: records_dir.join("approvals"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The hook's one operation: find the request for this call, use it if approved,
    /// open one if there is none. Under the lock, so two hooks never both use a one-time
    /// approval.
    pub fn settle(&self, ask: &Ask<'_>) -> Result<Settled, ProjectError> {
        create_private_dir(&self.dir)?;
        let _lock = lock(&self.dir.join("lock"))?;
        let digest = call_digest(ask.tool, ask.input);
        let mut round = 0u32;
        let mut latest: Option<Request> = None;
        let slot = loop {
            match self.find(ask.run_id, &digest, round)? {
                Slot::Taken(request) => {
                    latest = Some(*request);
                    round += 1;
                }
                Slot::Free(id) => break id,
            }
        };
        match latest {
            Some(mut request) if request.status == Status::Approved => {
                request.uses += 1;
                request.last_used_at = Some(ask.now.to_string());
                if !request.for_run {
                    request.status = Status::Used;
                }
                self.write(&request)?;
                Ok(Settled::Allowed(request))
            }
            Some(request) if request.status == Status::Denied => Ok(Settled::Denied(request)),
            Some(request) if request.status == Status::Pending => Ok(Settled::Pending(request)),
            // None yet, or the last one was used up: a new round.
            _ => {
                let request = Request {
                    id: slot,
                    round,
                    status: Status::Pending,
                    run_id: ask.run_id.to_string(),
                    run_dir: ask.run_dir.to_path_buf(),
                    task_id: ask.task_id.to_string(),
                    delegated_by: ask.delegated_by.to_string(),
                    workspace: ask.workspace.to_path_buf(),
                    tool: ask.tool.to_string(),
                    input: ask.input.clone(),
                    digest,
                    group: ask.group.to_string(),
                    reviewers: ask.reviewers.to_vec(),
                    rule: ask.rule.to_string(),
                    reason: ask.reason.to_string(),
                    requested_at: ask.now.to_string(),
                    session_id: ask.session_id.map(str::to_string),
                    tool_use_id: ask.tool_use_id.map(str::to_string),
                    for_run: false,
                    decided_by: None,
                    decided_os_user: None,
                    decided_at: None,
                    note: None,
                    uses: 0,
                    last_used_at: None,
                };
                self.write(&request)?;
                Ok(Settled::Requested(request))
            }
        }
    }

    /// The latest request for this call in this run, without changing anything.
    pub fn latest(
        &self,
        run_id: &str,
        tool: &str,
        input: &Value,
    ) -> Result<Option<Request>, ProjectError> {
        let digest = call_digest(tool, input);
        let mut latest = None;
        let mut round = 0u32;
        while let Slot::Taken(request) = self.find(run_id, &digest, round)? {
            latest = Some(*request);
            round += 1;
        }
        Ok(latest)
    }

    /// One request by id.
    pub fn get(&self, id: &str) -> Result<Option<Request>, ProjectError> {
        if !valid_id(id) {
            return Ok(None);
        }
        self.read(&self.dir.join(format!("{id}.json")))
    }

    /// Change one request under the lock; `change` may refuse with a message.
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut Request) -> Result<(), String>,
    ) -> Result<Result<Request, String>, ProjectError> {
        create_private_dir(&self.dir)?;
        let _lock = lock(&self.dir.join("lock"))?;
        let Some(mut request) = self.get(id)? else {
            return Ok(Err(format!("there is no approval request `{id}`")));
        };
        if let Err(message) = change(&mut request) {
            return Ok(Err(message));
        }
        self.write(&request)?;
        Ok(Ok(request))
    }

    /// Every request, oldest first.
    pub fn list(&self) -> Result<Vec<Request>, ProjectError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(ProjectError::Read {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut requests = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let is_request = path
                .file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(valid_id)
                && path.extension().is_some_and(|e| e == "json");
            if !is_request {
                continue;
            }
            if let Some(request) = self.read(&path)? {
                requests.push(request);
            }
        }
        requests.sort_by(|a, b| {
            a.requested_at
                .cmp(&b.requested_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(requests)
    }

    fn find(&self, run_id: &str, digest: &str, round: u32) -> Result<Slot, ProjectError> {
        let seed = sha256(format!("{run_id}\n{digest}\n{round}").as_bytes());
        let mut first_free = None;
        for len in ID_LEN..=ID_MAX_LEN {
            let id = encode_id(&seed, len);
            match self.get(&id)? {
                Some(request)
                    if request.run_id == run_id
                        && request.digest == digest
                        && request.round == round =>
                {
                    return Ok(Slot::Taken(Box::new(request)));
                }
                Some(_) => continue,
                None => {
                    first_free.get_or_insert(id);
                    // Slots are never freed, so the first free length is where ours would be.
                    break;
                }
            }
        }
        match first_free {
            Some(id) => Ok(Slot::Free(id)),
            None => Err(ProjectError::Invalid(format!(
                "no free approval id for this call in `{}`",
                self.dir.display()
            ))),
        }
    }

    fn read(&self, path: &Path) -> Result<Option<Request>, ProjectError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| {
                ProjectError::Invalid(format!(
                    "the approval request `{}` is damaged ({error})",
                    path.display()
                ))
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ProjectError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn write(&self, request: &Request) -> Result<(), ProjectError> {
        let bytes =
            serde_json::to_vec_pretty(request).map_err(|e| ProjectError::Invalid(e.to_string()))?;
        write_atomic(&self.dir.join(format!("{}.json", request.id)), &bytes)
    }
}

enum Slot {
    Taken(Box<Request>),
    Free(String),
}

/// Is this a well-formed approval id? (It names a file, so it must not name anything else.)
pub fn valid_id(id: &str) -> bool {
    id.strip_prefix("a-").is_some_and(|rest| {
        (ID_LEN..=ID_MAX_LEN).contains(&rest.len())
            && rest.bytes().all(|b| ID_ALPHABET.contains(&b))
    })
}

fn encode_id(seed: &[u8], len: usize) -> String {
    // Five bits per character from the digest's bits.
    let mut out = String::from("a-");
    let mut bits = 0u32;
    let mut acc = 0u32;
    for byte in seed {
        acc = (acc << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let index = ((acc >> bits) & 31) as usize;
            if let Some(c) = ID_ALPHABET.get(index) {
                out.push(char::from(*c));
            }
            if out.len() == len + 2 {
                return out;
            }
        }
        acc &= (1 << bits) - 1;
    }
    out
}

/// The digest an approval covers: the tool name and its input, as canonical JSON.
pub fn call_digest(tool: &str, input: &Value) -> String {
    let mut call = Map::new();
    call.insert("input".into(), input.clone());
    call.insert("tool".into(), Value::String(tool.to_string()));
    mandate_record::digest::sha256_hex(canonical_json(&Value::Object(call)).as_bytes())
}

/// JSON with object keys sorted at every depth and no insignificant whitespace, so equal
/// values give equal bytes whatever order a server or client wrote them in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(key) {
                    write_canonical(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ask<'a>(dir: &'a Path, input: &'a Value, reviewers: &'a [String]) -> Ask<'a> {
        Ask {
            run_id: "run-1",
            run_dir: dir,
            task_id: "T-1",
            delegated_by: "alice@example.com",
            workspace: dir,
            tool: "mcp__jira__create_issue",
            input,
            group: "security",
            reviewers,
            rule: "registry.jira.tools.create_issue",
            reason: "write-class",
            session_id: None,
            tool_use_id: None,
            now: "2026-01-01T00:00:00.000Z",
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": "s"}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":"s","y":[1,{"c":3,"d":2}]},"b":1}"#
        );
    }

    #[test]
    fn ids_are_short_and_typeable() {
        let id = encode_id(&sha256(b"x"), 5);
        assert!(valid_id(&id), "{id}");
        assert_eq!(id.len(), 7);
        assert!(!valid_id("a-../x"));
        assert!(!valid_id("a-ABCDE"));
    }

    #[test]
    fn approval_covers_one_call_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Approvals::new(dir.path());
        let reviewers = vec!["sec@example.com".to_string()];
        let input = json!({"project": "BILL", "summary": "x"});
        let Settled::Requested(first) = store.settle(&ask(dir.path(), &input, &reviewers)).unwrap()
        else {
            panic!("expected a new request");
        };
        assert!(matches!(
            store.settle(&ask(dir.path(), &input, &reviewers)).unwrap(),
            Settled::Pending(_)
        ));
        store
            .update(&first.id, |r| {
                r.status = Status::Approved;
                Ok(())
            })
            .unwrap()
            .unwrap();
        // Different input: a different request.
        let other = json!({"project": "BILL", "summary": "y"});
        assert!(matches!(
            store.settle(&ask(dir.path(), &other, &reviewers)).unwrap(),
            Settled::Requested(_)
        ));
        assert!(matches!(
            store.settle(&ask(dir.path(), &input, &reviewers)).unwrap(),
            Settled::Allowed(_)
        ));
        // Used up: the same call again opens a new round with a new id.
        let Settled::Requested(second) =
            store.settle(&ask(dir.path(), &input, &reviewers)).unwrap()
        else {
            panic!("expected a new round");
        };
        assert_ne!(second.id, first.id);
        assert_eq!(second.round, 1);
        assert_eq!(store.list().unwrap().len(), 3);
    }

    #[test]
    fn denied_stays_denied_and_for_run_is_reusable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Approvals::new(dir.path());
        let reviewers = vec!["sec@example.com".to_string()];
        let input = json!({"a": 1});
        let Settled::Requested(request) =
            store.settle(&ask(dir.path(), &input, &reviewers)).unwrap()
        else {
            panic!();
        };
        store
            .update(&request.id, |r| {
                r.status = Status::Denied;
                Ok(())
            })
            .unwrap()
            .unwrap();
        for _ in 0..2 {
            assert!(matches!(
                store.settle(&ask(dir.path(), &input, &reviewers)).unwrap(),
                Settled::Denied(_)
            ));
        }
        let input = json!({"a": 2});
        let Settled::Requested(request) =
            store.settle(&ask(dir.path(), &input, &reviewers)).unwrap()
        else {
            panic!();
        };
        store
            .update(&request.id, |r| {
                r.status = Status::Approved;
                r.for_run = true;
                Ok(())
            })
            .unwrap()
            .unwrap();
        for _ in 0..3 {
            assert!(matches!(
                store.settle(&ask(dir.path(), &input, &reviewers)).unwrap(),
                Settled::Allowed(_)
            ));
        }
        assert_eq!(store.get(&request.id).unwrap().unwrap().uses, 3);
    }
}
