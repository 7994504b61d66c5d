//! One run's append-only log: creation, crash recovery, appends, checkpoints.
//!
//! Appends follow one discipline so that an event whose append returned is on disk, and
//! an event whose append did not return is either absent or visibly cut off:
//!
//! 1. redact and digest the event (no lock held);
//! 2. take the exclusive `flock` on `log.jsonl` (plus an in-process mutex, since flock
//!    does not exclude threads sharing one open file);
//! 3. read the last line to learn the next index and the previous leaf hash; a last line
//!    without its newline is a torn append from a killed process: it is cut off and a
//!    `record.recovery` entry (digest of the discarded bytes) is written first;
//! 4. write the canonical entry and its newline in one `write(2)` on an `O_APPEND` file;
//! 5. `fdatasync`. If that fails the error is returned, never retried, and the handle is
//!    poisoned: after a failed fsync the kernel may have dropped the pages and would
//!    report success next time.

use crate::checkpoint::Checkpoint;
use crate::merkle::{self, Hash};
use crate::{RecordError, canonical, digest, redact, time, verify};
use ed25519_dalek::SigningKey;
use serde_json::{Map, Value, json};
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The log file inside a run directory.
pub const LOG_FILE: &str = "log.jsonl";
/// The checkpoint directory inside a run directory.
pub const CHECKPOINT_DIR: &str = "checkpoints";
/// The format named by the genesis entry.
pub const FORMAT: &str = "mandate-record/1";

const TMP_PREFIX: &str = ".tmp-";

/// One stored entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Leaf index (the line number, from 0).
    pub index: u64,
    /// The exact stored bytes (canonical JSON, no newline); the leaf hashes these.
    pub bytes: Vec<u8>,
    /// The parsed entry.
    pub value: Value,
}

impl Entry {
    /// The RFC 6962 leaf hash of the stored bytes.
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.bytes)
    }

    /// The entry's `type`, or "" when absent.
    pub fn kind(&self) -> &str {
        self.value.get("type").and_then(Value::as_str).unwrap_or("")
    }
}

/// An open run log. Cheap to share between threads; safe across processes.
#[derive(Debug)]
pub struct RunLog {
    dir: PathBuf,
    file: Mutex<File>,
    poisoned: AtomicBool,
}

/// Where the log ends: the next index and the leaf hash of the last entry.
struct Tail {
    next: u64,
    prev: Hash,
    len: u64,
}

struct Locked<'a> {
    file: MutexGuard<'a, File>,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl RunLog {
    /// Create a new run directory with its genesis entry. Fails if `dir` exists.
    pub fn create(dir: &Path, run_id: &str) -> Result<Self, RecordError> {
        if run_id.is_empty() || run_id.contains(['/', '\n', '\0']) {
            return Err(RecordError::Invalid(format!(
                "`{run_id}` is not a usable run id"
            )));
        }
        let parent = dir.parent().unwrap_or(Path::new("."));
        if !parent.as_os_str().is_empty() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| RecordError::io(parent, e))?;
        }
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RecordError::Exists(dir.to_owned()));
            }
            Err(e) => return Err(RecordError::io(dir, e)),
        }
        let path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| RecordError::io(&path, e))?;
        let genesis = json!({
            "type": "record.create",
            "format": FORMAT,
            "run_id": run_id,
            "time": time::now_rfc3339(),
            "i": 0,
        });
        let mut line =
            canonical::to_vec(&genesis).map_err(|e| RecordError::Invalid(e.to_string()))?;
        line.push(b'\n');
        file.write_all(&line)
            .map_err(|e| RecordError::io(&path, e))?;
        fsync(&path, file.sync_all())?;
        fsync(dir, sync_dir(dir))?;
        fsync(parent, sync_dir(parent))?;
        Ok(Self {
            dir: dir.to_owned(),
            file: Mutex::new(file),
            poisoned: AtomicBool::new(false),
        })
    }

    /// Open an existing run. A torn tail (a cut-off append) is recovered now, with an
    /// explicit `record.recovery` entry; stale temporary checkpoint files are removed.
    pub fn open(dir: &Path) -> Result<Self, RecordError> {
        let log = Self::open_file(dir)?;
        {
            let locked = log.lock()?;
            log.tail(&locked)?;
            remove_stale_tmp(&dir.join(CHECKPOINT_DIR));
        }
        Ok(log)
    }

    /// Open an existing run and append one event: [`RunLog::open`] then
    /// [`RunLog::append`], reading the end of the log once instead of twice (the hook's
    /// path: one event per process).
    pub fn append_to(dir: &Path, event: Value) -> Result<u64, RecordError> {
        Self::open_file(dir)?.append(event)
    }

    /// The log file of `dir`, opened for reading and appending, nothing read yet.
    fn open_file(dir: &Path) -> Result<Self, RecordError> {
        let path = dir.join(LOG_FILE);
        let file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RecordError::NotARun(dir.to_owned()));
            }
            Err(e) => return Err(RecordError::io(&path, e)),
        };
        Ok(Self {
            dir: dir.to_owned(),
            file: Mutex::new(file),
            poisoned: AtomicBool::new(false),
        })
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Append one event and return its leaf index once it is durable.
    ///
    /// The event must be a JSON object with a string `type`; `i` and `prev` are
    /// reserved. File contents become digests ([`digest::digest_contents`]), secrets are
    /// redacted ([`redact::redact`]), `time` is added when missing.
    pub fn append(&self, event: Value) -> Result<u64, RecordError> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(RecordError::Poisoned);
        }
        let Value::Object(mut map) = event else {
            return Err(RecordError::Invalid(
                "an event must be a JSON object".into(),
            ));
        };
        if !map.get("type").is_some_and(Value::is_string) {
            return Err(RecordError::Invalid(
                "an event needs a string `type`".into(),
            ));
        }
        for reserved in ["i", "prev"] {
            if map.contains_key(reserved) {
                return Err(RecordError::Invalid(format!(
                    "`{reserved}` is set by the recorder, not by the event"
                )));
            }
        }
        if !map.contains_key("time") {
            map.insert("time".into(), Value::String(time::now_rfc3339()));
        }
        let mut event = Value::Object(map);
        digest::digest_contents(&mut event);
        redact::redact(&mut event);
        let Value::Object(map) = event else {
            return Err(RecordError::Invalid(
                "an event must be a JSON object".into(),
            ));
        };
        let locked = self.lock()?;
        let tail = self.tail(&locked)?;
        self.write_entry(&locked, map, &tail)
    }

    /// All complete entries, in order. A torn tail is not an entry and is skipped.
    pub fn entries(&self) -> Result<Vec<Entry>, RecordError> {
        read_entries(&self.dir)
    }

    /// The checkpoint with the largest size, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, RecordError> {
        let mut all = read_checkpoints(&self.dir)?;
        all.sort_by_key(|c| c.size);
        Ok(all.pop())
    }

    /// Sign a checkpoint over the whole log and store it in `checkpoints/<size>`.
    ///
    /// The log and every existing checkpoint are verified first (against `key`'s public
    /// half): a damaged log is never signed, and two inconsistent checkpoints are never
    /// produced. If the latest checkpoint already covers every entry it is returned.
    pub fn checkpoint(&self, key: &SigningKey, origin: &str) -> Result<Checkpoint, RecordError> {
        let locked = self.lock()?;
        self.tail(&locked)?;
        let cp_dir = self.dir.join(CHECKPOINT_DIR);
        remove_stale_tmp(&cp_dir);
        let scan = verify::scan(&self.dir, &key.verifying_key())
            .map_err(|f| RecordError::Tampered(f.to_string()))?;
        if let Some(last) = scan.checkpoints.last()
            && last.size == scan.entries
        {
            return if last.origin == origin {
                Ok(last.clone())
            } else {
                Err(RecordError::Invalid(format!(
                    "the log is already checkpointed at size {} under the origin `{}`",
                    last.size, last.origin
                )))
            };
        }
        let cp = Checkpoint::sign(origin, scan.entries, scan.root, key)?;
        if !cp_dir.exists() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&cp_dir)
                .map_err(|e| RecordError::io(&cp_dir, e))?;
            fsync(&self.dir, sync_dir(&self.dir))?;
        }
        let final_path = cp_dir.join(cp.size.to_string());
        let tmp = cp_dir.join(format!("{TMP_PREFIX}{}", std::process::id()));
        let written = (|| -> Result<(), RecordError> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| RecordError::io(&tmp, e))?;
            f.write_all(cp.note.as_bytes())
                .map_err(|e| RecordError::io(&tmp, e))?;
            fsync(&tmp, f.sync_all())?;
            // link(2) refuses to replace an existing checkpoint.
            fs::hard_link(&tmp, &final_path).map_err(|e| RecordError::io(&final_path, e))
        })();
        let _ = fs::remove_file(&tmp);
        written?;
        fsync(&cp_dir, sync_dir(&cp_dir))?;
        drop(locked);
        Ok(cp)
    }

    fn lock(&self) -> Result<Locked<'_>, RecordError> {
        // A panic elsewhere cannot leave the file half-written (each write is one
        // syscall), so a poisoned mutex is still usable.
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.lock()
            .map_err(|e| RecordError::io(&self.dir.join(LOG_FILE), e))?;
        Ok(Locked { file })
    }

    /// Learn where the log ends, recovering a torn tail. Called with the lock held.
    fn tail(&self, locked: &Locked<'_>) -> Result<Tail, RecordError> {
        let path = self.dir.join(LOG_FILE);
        let file: &File = &locked.file;
        let io = |e| RecordError::io(&path, e);
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Err(RecordError::Tampered(format!(
                "`{}` is empty: the genesis entry is missing",
                path.display()
            )));
        }
        let mut last = [0u8; 1];
        file.read_exact_at(&mut last, len - 1).map_err(io)?;
        let complete_end = if last == [b'\n'] {
            len
        } else {
            match rfind_newline(file, len).map_err(io)? {
                Some(p) => p + 1,
                None => {
                    return Err(RecordError::Tampered(format!(
                        "`{}` has no complete entry: the genesis entry is torn",
                        path.display()
                    )));
                }
            }
        };
        let start = rfind_newline(file, complete_end - 1)
            .map_err(io)?
            .map_or(0, |p| p + 1);
        let mut line = vec![0u8; usize::try_from(complete_end - 1 - start).unwrap_or(0)];
        file.read_exact_at(&mut line, start).map_err(io)?;
        let head: verify::Head<'_> = serde_json::from_slice(&line).map_err(|e| {
            RecordError::Tampered(format!("the last entry of the log is not valid: {e}"))
        })?;
        let mut tail = Tail {
            next: head.i + 1,
            prev: merkle::leaf_hash(&line),
            len: complete_end,
        };
        if complete_end < len {
            // A torn tail. Cutting it off is only legitimate above every signed
            // checkpoint; below one, entries are missing and that is tampering.
            let sealed = read_checkpoints(&self.dir)?
                .iter()
                .map(|c| c.size)
                .max()
                .unwrap_or(0);
            if sealed > tail.next {
                return Err(RecordError::Tampered(format!(
                    "the log holds {} entries but a checkpoint covers {sealed}",
                    tail.next
                )));
            }
            let mut torn = vec![0u8; usize::try_from(len - complete_end).unwrap_or(0)];
            file.read_exact_at(&mut torn, complete_end).map_err(io)?;
            file.set_len(complete_end).map_err(io)?;
            if let Err(e) = file.sync_all() {
                self.poisoned.store(true, Ordering::SeqCst);
                return Err(RecordError::Fsync { path, source: e });
            }
            let mut recovery = Map::new();
            recovery.insert("type".into(), json!("record.recovery"));
            recovery.insert("time".into(), json!(time::now_rfc3339()));
            recovery.insert(
                "reason".into(),
                json!("the last append was cut off (no newline): a process was killed or the disk filled mid-write; the partial entry was removed"),
            );
            recovery.insert("discarded_bytes".into(), json!(torn.len()));
            recovery.insert("discarded_sha256".into(), json!(digest::sha256_hex(&torn)));
            let i = self.write_entry(locked, recovery, &tail)?;
            let mut line = Vec::new();
            let mut f: &File = file;
            f.seek(SeekFrom::Start(tail.len)).map_err(io)?;
            f.read_to_end(&mut line).map_err(io)?;
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            tail = Tail {
                next: i + 1,
                prev: merkle::leaf_hash(&line),
                len: tail.len + line.len() as u64 + 1,
            };
        }
        Ok(tail)
    }

    fn write_entry(
        &self,
        locked: &Locked<'_>,
        mut map: Map<String, Value>,
        tail: &Tail,
    ) -> Result<u64, RecordError> {
        let path = self.dir.join(LOG_FILE);
        map.insert("i".into(), json!(tail.next));
        map.insert("prev".into(), json!(digest::hex(&tail.prev)));
        let mut line = canonical::to_vec(&Value::Object(map))
            .map_err(|e| RecordError::Invalid(format!("the event cannot be recorded: {e}")))?;
        line.push(b'\n');
        let mut file: &File = &locked.file;
        if let Err(e) = file.write_all(&line) {
            // Undo a partial write so the log stays parseable; if even that fails the
            // next open will see a torn tail and record the recovery.
            let _ = file.set_len(tail.len);
            self.poisoned.store(true, Ordering::SeqCst);
            return Err(RecordError::io(&path, e));
        }
        if let Err(e) = file.sync_data() {
            self.poisoned.store(true, Ordering::SeqCst);
            return Err(RecordError::Fsync { path, source: e });
        }
        Ok(tail.next)
    }
}

/// Read all complete entries of the run in `dir` without opening it for writing.
pub fn read_entries(dir: &Path) -> Result<Vec<Entry>, RecordError> {
    let path = dir.join(LOG_FILE);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RecordError::NotARun(dir.to_owned()));
        }
        Err(e) => return Err(RecordError::io(&path, e)),
    };
    let mut out = Vec::new();
    let mut rest: &[u8] = &data;
    let mut index = 0u64;
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let (line, after) = rest.split_at(nl);
        let value: Value = serde_json::from_slice(line)
            .map_err(|e| RecordError::Tampered(format!("entry {index} is not valid JSON: {e}")))?;
        out.push(Entry {
            index,
            bytes: line.to_vec(),
            value,
        });
        index += 1;
        rest = after.get(1..).unwrap_or_default();
    }
    Ok(out)
}

/// The complete entries that start at or after byte `offset` of the run's log, and the
/// byte offset after the last complete one: how a reader that keeps its place (the
/// transcript reconciliation) reads only what was appended since it last looked.
/// `offset` must be where an entry starts (0, or an offset this function returned).
pub fn read_values_from(dir: &Path, offset: u64) -> Result<(Vec<Value>, u64), RecordError> {
    let path = dir.join(LOG_FILE);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RecordError::NotARun(dir.to_owned()));
        }
        Err(e) => return Err(RecordError::io(&path, e)),
    };
    let len = file
        .metadata()
        .map_err(|e| RecordError::io(&path, e))?
        .len();
    if len < offset {
        return Err(RecordError::Tampered(format!(
            "`{}` is shorter ({len} bytes) than it was when last read ({offset} bytes)",
            path.display()
        )));
    }
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| RecordError::io(&path, e))?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| RecordError::io(&path, e))?;
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(nl) = data
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let line = data.get(at..at + nl).unwrap_or_default();
        let value: Value = serde_json::from_slice(line).map_err(|e| {
            RecordError::Tampered(format!(
                "the entry at byte {} of `{}` is not valid JSON: {e}",
                offset + at as u64,
                path.display()
            ))
        })?;
        out.push(value);
        at += nl + 1;
    }
    Ok((out, offset + at as u64))
}

/// Parse every file in `checkpoints/` (signatures unchecked).
pub(crate) fn read_checkpoints(dir: &Path) -> Result<Vec<Checkpoint>, RecordError> {
    let cp_dir = dir.join(CHECKPOINT_DIR);
    let rd = match fs::read_dir(&cp_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RecordError::io(&cp_dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| RecordError::io(&cp_dir, e))?;
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            continue;
        }
        let path = entry.path();
        let text = fs::read_to_string(&path).map_err(|e| RecordError::io(&path, e))?;
        let cp = Checkpoint::parse(&text)
            .map_err(|e| RecordError::Tampered(format!("{}: {e}", path.display())))?;
        out.push(cp);
    }
    Ok(out)
}

fn remove_stale_tmp(cp_dir: &Path) {
    let Ok(rd) = fs::read_dir(cp_dir) else { return };
    for entry in rd.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Offset of the last `\n` strictly before `end`, reading backwards in blocks.
fn rfind_newline(file: &File, end: u64) -> std::io::Result<Option<u64>> {
    // Most entries are under 2 KiB: start small, read more only for long ones.
    let mut block: u64 = 4 * 1024;
    let mut hi = end;
    let mut buf = Vec::new();
    while hi > 0 {
        let lo = hi.saturating_sub(block);
        buf.resize(usize::try_from(block).unwrap_or(usize::MAX), 0);
        let n = usize::try_from(hi - lo).unwrap_or(0);
        let chunk = buf.get_mut(..n).unwrap_or_default();
        file.read_exact_at(chunk, lo)?;
        if let Some(p) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(lo + p as u64));
        }
        hi = lo;
        block = (block * 2).min(1024 * 1024);
    }
    Ok(None)
}

/// `fsync` a directory so a new or renamed entry in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn fsync(path: &Path, result: std::io::Result<()>) -> Result<(), RecordError> {
    result.map_err(|source| RecordError::Fsync {
        path: path.to_owned(),
        source,
    })
}
