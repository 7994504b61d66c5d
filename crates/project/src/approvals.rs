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
//! Ids are random: 130 bits in 26 letters and digits (`a-` and 26 of
//! [`ID_ALPHABET`]), so nobody can shape a call until its id lands on one a reviewer
//! already approved, and two stores never pick the same id by accident. An id names a
//! request; it never stands for the call: a decision counts only for the run and the
//! digest it was made for, here, on the team server and in the hook (`remote`).
//! The hook finds the request for a call through a small index, `calls/<key>`, whose
//! name is the SHA-256 of the run, the digest and the round and whose content is the id,
//! so it never scans the folder. Every state change happens under `approvals/lock`.
//!
//! A held write carries a preview for its reviewer ([`preview`]): the unified diff of
//! the write against the file as it is now. It goes into the run's record with the
//! request (redacted there like every other string), because a reviewer cannot judge a
//! digest.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ProjectError;
use crate::killswitch::lock;
use crate::state::{create_private_dir, write_atomic};

/// Letters and digits that cannot be misread (no `l`, `o`, `0`, `1`): 32 of them.
pub const ID_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Characters of a new id: 26 × 5 = 130 random bits.
pub const ID_LEN: usize = 26;
/// Ids written by earlier versions were 5 to 16 characters; they still name their files.
const ID_MIN_LEN: usize = 5;
const INDEX_DIR: &str = "calls";
/// The longest preview kept with a request (the record keeps strings up to 64 KiB).
pub const PREVIEW_MAX_BYTES: usize = 32 * 1024;

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
    /// What the reviewer is shown: the command, or the diff of a write ([`preview`]).
    #[serde(default)]
    pub preview: Option<String>,
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
                    preview: preview(ask.workspace, ask.tool, ask.input),
                };
                self.write(&request)?;
                self.write_index(&request)?;
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

    /// The request for round `round` of this call in this run, or a fresh id for it.
    /// An index entry that points at a request for another call is damage (or
    /// tampering): refused, never followed.
    fn find(&self, run_id: &str, digest: &str, round: u32) -> Result<Slot, ProjectError> {
        let index = self.index_path(run_id, digest, round);
        let id = match std::fs::read_to_string(&index) {
            Ok(id) => id.trim().to_string(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Slot::Free(self.fresh_id()?));
            }
            Err(source) => {
                return Err(ProjectError::Read {
                    path: index,
                    source,
                });
            }
        };
        match self.get(&id)? {
            Some(request)
                if request.run_id == run_id
                    && request.digest == digest
                    && request.round == round =>
            {
                Ok(Slot::Taken(Box::new(request)))
            }
            _ => Err(ProjectError::Invalid(format!(
                "the approvals index `{}` names `{id}`, which is not the request for this \
                 call; the store was changed by hand, so no approval counts until it is \
                 repaired",
                index.display()
            ))),
        }
    }

    fn index_path(&self, run_id: &str, digest: &str, round: u32) -> PathBuf {
        let key =
            mandate_record::digest::sha256_hex(format!("{run_id}\n{digest}\n{round}").as_bytes());
        self.dir.join(INDEX_DIR).join(key)
    }

    fn write_index(&self, request: &Request) -> Result<(), ProjectError> {
        create_private_dir(&self.dir.join(INDEX_DIR))?;
        write_atomic(
            &self.index_path(&request.run_id, &request.digest, request.round),
            request.id.as_bytes(),
        )
    }

    /// A random id no request in this store has.
    fn fresh_id(&self) -> Result<String, ProjectError> {
        for _ in 0..4 {
            let id = random_id()?;
            if self.get(&id)?.is_none() {
                return Ok(id);
            }
        }
        Err(ProjectError::Invalid(format!(
            "no free approval id in `{}`: the system's random numbers repeat",
            self.dir.display()
        )))
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
        (ID_MIN_LEN..=ID_LEN).contains(&rest.len())
            && rest.bytes().all(|b| ID_ALPHABET.contains(&b))
    })
}

/// A new id: 130 bits from the operating system's random source.
pub fn random_id() -> Result<String, ProjectError> {
    let mut seed = [0u8; 17];
    getrandom::fill(&mut seed)
        .map_err(|error| ProjectError::Invalid(format!("no random numbers: {error}")))?;
    Ok(encode_id(&seed, ID_LEN))
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

/// What the reviewer of a held call is shown: for a file write or edit, the unified diff
/// of the file as it is now against the file as the call would leave it; for a shell
/// command, the command. `None` for other tools, whose input is shown as it is.
/// At most [`PREVIEW_MAX_BYTES`]; the rest is cut with a note saying so.
pub fn preview(workspace: &Path, tool: &str, input: &Value) -> Option<String> {
    let text = |key: &str| input.get(key).and_then(Value::as_str);
    let text = match tool {
        "Bash" => text("command")?.to_string(),
        "Write" | "Edit" | "MultiEdit" => {
            let shown = text("file_path")?;
            let path = Path::new(shown);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                workspace.join(path)
            };
            // A file that is not there (or not text) is diffed against nothing.
            let before = std::fs::read(&path)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .unwrap_or_default();
            let after = match tool {
                "Write" => text("content")?.to_string(),
                "Edit" => apply_edit(&before, input)?,
                _ => input
                    .get("edits")?
                    .as_array()?
                    .iter()
                    .try_fold(before.clone(), |file, edit| apply_edit(&file, edit))?,
            };
            unified_diff(shown, &before, &after)
        }
        _ => return None,
    };
    Some(cut(text, PREVIEW_MAX_BYTES))
}

/// `old_string` → `new_string` once (or every time with `replace_all`), as Edit does.
fn apply_edit(file: &str, edit: &Value) -> Option<String> {
    let old = edit.get("old_string")?.as_str()?;
    let new = edit.get("new_string")?.as_str()?;
    if old.is_empty() {
        return Some(format!("{new}{file}"));
    }
    if edit.get("replace_all").and_then(Value::as_bool) == Some(true) {
        Some(file.replace(old, new))
    } else {
        Some(file.replacen(old, new, 1))
    }
}

fn cut(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("\n[… cut: the preview is longer than 32 KiB]\n");
    text
}

/// A unified diff with one hunk: the lines before and after that differ, between the
/// longest common first and last lines, with three lines of context. Not always the
/// shortest diff, but always a true one, and most held writes change one place.
pub fn unified_diff(name: &str, before: &str, after: &str) -> String {
    const CONTEXT: usize = 3;
    let old: Vec<&str> = before.split_inclusive('\n').collect();
    let new: Vec<&str> = after.split_inclusive('\n').collect();
    let head = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let tail = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(old.len().min(new.len()) - head)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = format!("--- {name}\n+++ {name} (after this call)\n");
    if head == old.len() && head == new.len() {
        out.push_str("(no change)\n");
        return out;
    }
    let start = head.saturating_sub(CONTEXT);
    let old_end = (old.len() - tail + CONTEXT).min(old.len());
    let new_end = (new.len() - tail + CONTEXT).min(new.len());
    let line = |out: &mut String, mark: char, text: &str| {
        out.push(mark);
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    };
    out.push_str(&format!(
        "@@ -{},{} +{},{} @@\n",
        start + 1,
        old_end - start,
        start + 1,
        new_end - start
    ));
    for text in old.iter().take(head).skip(start) {
        line(&mut out, ' ', text);
    }
    for text in old.iter().take(old.len() - tail).skip(head) {
        line(&mut out, '-', text);
    }
    for text in new.iter().take(new.len() - tail).skip(head) {
        line(&mut out, '+', text);
    }
    for text in old.iter().take(old_end).skip(old.len() - tail) {
        line(&mut out, ' ', text);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
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
    fn ids_are_random_130_bit_and_typeable() {
        let id = random_id().unwrap();
        assert!(valid_id(&id), "{id}");
        assert_eq!(id.len(), 2 + 26);
        assert_ne!(random_id().unwrap(), id);
        assert!(!valid_id("a-../x"));
        assert!(!valid_id("a-ABCDE"));
        // Ids of earlier versions still name their files.
        assert!(valid_id("a-zk53r"));
    }

    #[test]
    fn the_same_call_in_two_stores_gets_unrelated_ids() {
        let reviewers = vec!["sec@example.com".to_string()];
        let input = json!({"a": 1});
        let ids: Vec<String> = (0..2)
            .map(|_| {
                let dir = tempfile::tempdir().unwrap();
                let store = Approvals::new(dir.path());
                store
                    .settle(&ask(dir.path(), &input, &reviewers))
                    .unwrap()
                    .request()
                    .id
                    .clone()
            })
            .collect();
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn an_index_pointing_at_another_call_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Approvals::new(dir.path());
        let reviewers = vec!["sec@example.com".to_string()];
        let one = json!({"a": 1});
        let two = json!({"a": 2});
        let first = store
            .settle(&ask(dir.path(), &one, &reviewers))
            .unwrap()
            .request()
            .clone();
        let second = store
            .settle(&ask(dir.path(), &two, &reviewers))
            .unwrap()
            .request()
            .clone();
        store
            .update(&first.id, |r| {
                r.status = Status::Approved;
                Ok(())
            })
            .unwrap()
            .unwrap();
        // Point the second call's index at the approved first request.
        let index = store.index_path(&second.run_id, &second.digest, 0);
        std::fs::write(&index, &first.id).unwrap();
        assert!(store.settle(&ask(dir.path(), &two, &reviewers)).is_err());
    }

    #[test]
    fn previews_show_the_diff_of_a_write() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("req.txt"), "a==1\nb==2\nc==3\n").unwrap();
        let write = json!({"file_path": "req.txt", "content": "a==1\nb==6.6.6\nc==3\n"});
        let diff = preview(dir.path(), "Write", &write).unwrap();
        assert_eq!(
            diff,
            "--- req.txt\n+++ req.txt (after this call)\n@@ -1,3 +1,3 @@\n a==1\n-b==2\n+b==6.6.6\n c==3\n"
        );
        let edit =
            json!({"file_path": "req.txt", "old_string": "c==3", "new_string": "c==4\nd==1"});
        let diff = preview(dir.path(), "Edit", &edit).unwrap();
        assert!(diff.contains("-c==3\n+c==4\n+d==1\n"), "{diff}");
        let new = json!({"file_path": "new.txt", "content": "x"});
        let diff = preview(dir.path(), "Write", &new).unwrap();
        assert!(
            diff.contains("@@ -1,0 +1,1 @@\n+x\n\\ No newline"),
            "{diff}"
        );
        assert_eq!(
            preview(dir.path(), "Bash", &json!({"command": "pip install x"})).as_deref(),
            Some("pip install x")
        );
        assert_eq!(
            preview(dir.path(), "mcp__jira__create_issue", &json!({})),
            None
        );
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
