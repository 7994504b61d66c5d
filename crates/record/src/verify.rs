//! Verification of a whole run directory against a pinned public key.
//!
//! One strict pass, in this order, stopping at the first problem:
//!
//! 1. the directory holds `log.jsonl` and `checkpoints/<size>` files and nothing else;
//! 2. every checkpoint parses, names its own size, shares one origin, and carries a
//!    valid signature by the trusted key (unknown cosigners are ignored); signatures
//!    are checked before a checkpoint is used to blame an entry, and at the end;
//! 3. the log, line by line: every line ends in `\n` and parses; entry *n* says
//!    `"i": n` (a deleted, duplicated or moved entry breaks this at once); entry 0 is the
//!    genesis entry; entry *n*'s `prev` equals the leaf hash of entry *n−1* (a changed
//!    entry breaks its successor's link); the Merkle root of each checkpointed prefix
//!    equals the signed root;
//! 4. the log is at least as long as the latest checkpoint (truncation).
//!
//! The pass hashes each line once and parses only the fields it needs, so it runs at
//! disk/SHA-256 speed (see the `record` bench).

use crate::checkpoint::Checkpoint;
use crate::log::{CHECKPOINT_DIR, LOG_FILE};
use crate::merkle::{CompactRange, Hash, leaf_hash};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// Where verification failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// The entry with this index (line number from 0).
    Entry(u64),
    /// A file or directory of the record.
    File(PathBuf),
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Where.
    pub location: Location,
    /// Why, for a person.
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Entry(i) => write!(f, "entry {i}: {}", self.reason),
            Location::File(p) => write!(f, "`{}`: {}", p.display(), self.reason),
        }
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// True when nothing is wrong.
    pub ok: bool,
    /// Complete entries read (up to the failure, if any).
    pub entries: u64,
    /// Hex Merkle root over all entries (when the log was read to the end).
    pub root: Option<String>,
    /// Sizes of the verified checkpoints, ascending.
    pub checkpoints: Vec<u64>,
    /// Entries covered by the latest checkpoint.
    pub sealed: u64,
    /// Entries after the latest checkpoint: chained, not yet signed.
    pub unsealed: u64,
    /// The first problem.
    pub failure: Option<Failure>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            Some(failure) => write!(f, "FAILED: {failure}"),
            None => {
                write!(f, "ok: {} entries", self.entries)?;
                if self.sealed > 0 {
                    write!(f, ", {} sealed by a signed checkpoint", self.sealed)?;
                }
                if self.unsealed > 0 {
                    write!(
                        f,
                        ", {} after the latest checkpoint (chained, not yet signed)",
                        self.unsealed
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// The fields of an entry that verification reads.
#[derive(Deserialize)]
pub(crate) struct Head<'a> {
    pub(crate) i: u64,
    #[serde(default, borrow)]
    pub(crate) prev: Option<Cow<'a, str>>,
    #[serde(rename = "type", default, borrow)]
    pub(crate) kind: Option<Cow<'a, str>>,
}

pub(crate) struct Scan {
    pub(crate) entries: u64,
    pub(crate) root: Hash,
    pub(crate) checkpoints: Vec<Checkpoint>,
}

/// Verify the run record in `dir` against the pinned key `trusted`.
pub fn verify(dir: &Path, trusted: &VerifyingKey) -> VerifyReport {
    let mut progress = Progress::default();
    match scan_inner(dir, trusted, &mut progress) {
        Ok(scan) => {
            let sealed = scan.checkpoints.last().map_or(0, |c| c.size);
            VerifyReport {
                ok: true,
                entries: scan.entries,
                root: Some(crate::digest::hex(&scan.root)),
                checkpoints: scan.checkpoints.iter().map(|c| c.size).collect(),
                sealed,
                unsealed: scan.entries - sealed,
                failure: None,
            }
        }
        Err(failure) => VerifyReport {
            ok: false,
            entries: progress.entries,
            root: None,
            checkpoints: Vec::new(),
            sealed: 0,
            unsealed: 0,
            failure: Some(failure),
        },
    }
}

pub(crate) fn scan(dir: &Path, trusted: &VerifyingKey) -> Result<Scan, Failure> {
    scan_inner(dir, trusted, &mut Progress::default())
}

#[derive(Default)]
struct Progress {
    entries: u64,
}

fn file_failure(path: PathBuf, reason: impl Into<String>) -> Failure {
    Failure {
        location: Location::File(path),
        reason: reason.into(),
    }
}

fn entry_failure(i: u64, reason: impl Into<String>) -> Failure {
    Failure {
        location: Location::Entry(i),
        reason: reason.into(),
    }
}

fn canonical_decimal(name: &str) -> Option<u64> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_digit())
        && (name == "0" || !name.starts_with('0'));
    if ok { name.parse().ok() } else { None }
}

fn scan_inner(
    dir: &Path,
    trusted: &VerifyingKey,
    progress: &mut Progress,
) -> Result<Scan, Failure> {
    // 1. Nothing but the log and the checkpoints.
    let rd = fs::read_dir(dir).map_err(|e| {
        file_failure(
            dir.to_owned(),
            format!("cannot read the run directory: {e}"),
        )
    })?;
    let mut names: Vec<(String, PathBuf)> = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| file_failure(dir.to_owned(), e.to_string()))?;
        names.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    names.sort();
    let mut cp_files: Vec<(u64, PathBuf)> = Vec::new();
    let mut have_log = false;
    for (name, path) in names {
        let meta =
            fs::symlink_metadata(&path).map_err(|e| file_failure(path.clone(), e.to_string()))?;
        match name.as_str() {
            LOG_FILE if meta.file_type().is_file() => have_log = true,
            CHECKPOINT_DIR if meta.file_type().is_dir() => {
                let rd =
                    fs::read_dir(&path).map_err(|e| file_failure(path.clone(), e.to_string()))?;
                let mut inner: Vec<(String, PathBuf)> = Vec::new();
                for e in rd {
                    let e = e.map_err(|e| file_failure(path.clone(), e.to_string()))?;
                    inner.push((e.file_name().to_string_lossy().into_owned(), e.path()));
                }
                inner.sort();
                for (cp_name, cp_path) in inner {
                    let is_file = fs::symlink_metadata(&cp_path)
                        .map(|m| m.file_type().is_file())
                        .unwrap_or(false);
                    match canonical_decimal(&cp_name) {
                        Some(size) if is_file => cp_files.push((size, cp_path)),
                        _ => {
                            return Err(file_failure(
                                cp_path,
                                "unexpected file in the checkpoint directory (only `<size>` files belong there)",
                            ));
                        }
                    }
                }
            }
            _ => {
                return Err(file_failure(
                    path,
                    "unexpected file in the run record (only log.jsonl and checkpoints/ belong there)",
                ));
            }
        }
    }
    let log_path = dir.join(LOG_FILE);
    if !have_log {
        return Err(file_failure(log_path, "the log is missing"));
    }

    // 2. Checkpoints: parse, name, origin, signature.
    cp_files.sort_by_key(|(size, _)| *size);
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    for (size, path) in &cp_files {
        let bytes = fs::read(path).map_err(|e| file_failure(path.clone(), e.to_string()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| file_failure(path.clone(), "the checkpoint is not UTF-8"))?;
        let cp = Checkpoint::parse(&text).map_err(|e| file_failure(path.clone(), e))?;
        if cp.size != *size {
            return Err(file_failure(
                path.clone(),
                format!(
                    "the file name says size {size} but the checkpoint says {}",
                    cp.size
                ),
            ));
        }
        if cp.size == 0 {
            return Err(file_failure(path.clone(), "a checkpoint of an empty log"));
        }
        checkpoints.push(cp);
    }
    // Signatures are checked before a checkpoint is used to blame an entry, and all of
    // them once the log has been read; a damaged log is reported without paying for them.
    let check_sig = |k: usize| -> Result<(), Failure> {
        match (checkpoints.get(k), cp_files.get(k)) {
            (Some(cp), Some((_, path))) => cp
                .verify(trusted)
                .map_err(|e| file_failure(path.clone(), e)),
            _ => Ok(()),
        }
    };

    // One log, one origin. A mismatch blames a file with a bad signature first.
    if let Some(first) = checkpoints.first() {
        for (k, cp) in checkpoints.iter().enumerate() {
            if cp.origin != first.origin {
                check_sig(0)?;
                check_sig(k)?;
                let path = cp_files.get(k).map(|(_, p)| p.clone()).unwrap_or_default();
                return Err(file_failure(
                    path,
                    format!(
                        "the checkpoint's origin `{}` differs from `{}`",
                        cp.origin, first.origin
                    ),
                ));
            }
        }
    }

    // 3. The log.
    let data = fs::read(&log_path).map_err(|e| file_failure(log_path.clone(), e.to_string()))?;
    let mut range = CompactRange::new();
    let mut prev: Option<Hash> = None;
    let mut next_cp = checkpoints.iter().enumerate().peekable();
    let mut idx: u64 = 0;
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut rest: &[u8] = &data;
    let mut incomplete = false;
    while !rest.is_empty() {
        let Some(nl) = memchr_newline(rest) else {
            incomplete = true;
            break;
        };
        let (line, after) = rest.split_at(nl);
        lines.push(line);
        rest = after.get(1..).unwrap_or_default();
    }
    // Hashing and parsing are independent per line, so they run on all cores in
    // windows; the order-dependent checks then walk each window in sequence.
    for window in lines.chunks(WINDOW) {
        let parsed = hash_and_parse(window);
        for (leaf, head) in parsed {
            let head = head
                .map_err(|e| entry_failure(idx, format!("the entry is not a valid entry: {e}")))?;
            if head.i != idx {
                return Err(entry_failure(
                    idx,
                    format!(
                        "the entry at position {idx} says it is entry {}: an entry was deleted, duplicated or moved",
                        head.i
                    ),
                ));
            }
            match (prev, head.prev.as_deref()) {
                (None, None) => {
                    if head.kind.as_deref() != Some("record.create") {
                        return Err(entry_failure(0, "the first entry is not the genesis entry"));
                    }
                }
                (None, Some(_)) => {
                    return Err(entry_failure(
                        0,
                        "the genesis entry must not link to a predecessor",
                    ));
                }
                (Some(_), None) => {
                    return Err(entry_failure(idx, "the entry has no `prev` link"));
                }
                (Some(p), Some(stated)) => {
                    if !hex_matches(stated, &p) {
                        let actual = crate::digest::hex(&p);
                        // A changed `prev` differs from the true hash in a few characters;
                        // a changed predecessor gives an unrelated hash.
                        let differing = actual
                            .bytes()
                            .zip(stated.bytes())
                            .filter(|(a, b)| a != b)
                            .count()
                            + actual.len().abs_diff(stated.len());
                        return Err(if differing < 8 {
                            entry_failure(idx, "the entry's `prev` link was altered")
                        } else {
                            entry_failure(
                                idx - 1,
                                format!(
                                    "the entry was changed: its hash no longer matches the `prev` link of entry {idx}"
                                ),
                            )
                        });
                    }
                }
            }
            range.push(leaf);
            prev = Some(leaf);
            idx += 1;
            progress.entries = idx;
            if let Some((k, cp)) = next_cp.next_if(|(_, cp)| cp.size == idx)
                && range.root() != cp.root
            {
                check_sig(k)?;
                return Err(entry_failure(
                    idx - 1,
                    format!(
                        "entries 0..{idx} do not hash to the root signed in checkpoints/{idx}: this entry was changed (or earlier entries were rewritten together with their links)"
                    ),
                ));
            }
        }
    }
    if incomplete {
        return Err(entry_failure(
            idx,
            "the entry is incomplete (no newline): an append was cut off, or the file was edited; opening the run records the recovery",
        ));
    }

    // 4. Truncation.
    if let Some(last) = checkpoints.last()
        && last.size > idx
    {
        check_sig(checkpoints.len() - 1)?;
        return Err(entry_failure(
            idx,
            format!(
                "missing: the log ends after {idx} entries but checkpoints/{} covers {} (truncated)",
                last.size, last.size
            ),
        ));
    }
    for k in 0..checkpoints.len() {
        check_sig(k)?;
    }
    Ok(Scan {
        entries: idx,
        root: range.root(),
        checkpoints,
    })
}

/// Lines hashed and parsed per parallel step.
const WINDOW: usize = 16 * 1024;
/// Below this many lines a second thread costs more than it saves.
const PARALLEL_MIN: usize = 2048;

type Parsed<'a> = (Hash, Result<Head<'a>, serde_json::Error>);

fn hash_and_parse<'a>(lines: &[&'a [u8]]) -> Vec<Parsed<'a>> {
    let one = |line: &&'a [u8]| (leaf_hash(line), serde_json::from_slice::<Head<'a>>(line));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if threads < 2 || lines.len() < PARALLEL_MIN {
        return lines.iter().map(one).collect();
    }
    let per = lines.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(per)
            .map(|chunk| s.spawn(move || chunk.iter().map(one).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::with_capacity(lines.len());
        for h in handles {
            match h.join() {
                Ok(part) => out.extend(part),
                // A panicking worker (none is expected) is treated as a parse failure
                // of its lines by recomputing them here.
                Err(_) => return lines.iter().map(one).collect(),
            }
        }
        out
    })
}

/// Does lower-case hex `stated` spell `hash`? No allocation on the hot path.
fn hex_matches(stated: &str, hash: &Hash) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let stated = stated.as_bytes();
    stated.len() == 64
        && hash.iter().zip(stated.chunks_exact(2)).all(|(b, pair)| {
            DIGITS.get(usize::from(b >> 4)) == pair.first()
                && DIGITS.get(usize::from(b & 15)) == pair.get(1)
        })
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}
