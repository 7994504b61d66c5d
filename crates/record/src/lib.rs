//! The run record: an append-only, tamper-evident event log per run, its signed
//! checkpoints, verification, the review packet and the in-toto export.
//!
//! A run record is the evidence a reviewer or an incident lead relies on months later,
//! so it must not depend on anyone's memory or goodwill: each event is redacted,
//! canonicalised (RFC 8785), appended under an exclusive lock, and fsynced before the
//! hook answers; entries are RFC 6962 Merkle leaves, chained to their predecessor, and
//! checkpoints are Ed25519-signed C2SP signed notes over the tree root.
//!
//! # API
//!
//! ```no_run
//! use mandate_record::{RunLog, keys, verify};
//! use serde_json::json;
//! # fn main() -> Result<(), mandate_record::RecordError> {
//! let dir = std::path::Path::new("/var/lib/mandate/runs/BILL-142-20260101T000000Z");
//! let log = RunLog::create(dir, "BILL-142-20260101T000000Z")?;     // fails if it exists
//! let i = log.append(json!({"type": "prompt", "prompt": "fix the export"}))?; // durable on return
//! let key = keys::load_or_create(std::path::Path::new("/var/lib/mandate/keys/signing.key"))?;
//! let cp = log.checkpoint(&key, "mandate.dev/run/BILL-142-20260101T000000Z")?;
//! let report = verify(dir, &key.verifying_key());
//! assert!(report.ok);
//! # Ok(()) }
//! ```
//!
//! - [`RunLog::create`], [`RunLog::open`] (recovers a torn tail with a `record.recovery`
//!   entry), [`RunLog::append`] (returns the leaf index), [`RunLog::entries`],
//!   [`RunLog::checkpoint`], [`read_entries`] (read-only).
//! - [`verify()`]: the whole run directory against a pinned key: [`VerifyReport`].
//! - [`keys`]: the signing key; [`checkpoint`]: signed notes and verifier key strings.
//! - [`redact`], [`digest`]: what happens to an event before it is hashed.
//! - [`merkle`]: RFC 6962 hashing and proofs; [`canonical`]: RFC 8785.
//! - [`packet`]: the review packet (Markdown, JSON, HTML); [`intoto`]: the DSSE export.
//! - [`ocsf`], [`otel`]: every entry as an OCSF event or an OpenTelemetry log record, for
//!   the tools a security team already runs ([`export`]: what both say of an entry).
//! - [`tests_summary::parse_test_summary`]: test-runner output → counts.
//! - [`retention::prune`]: remove whole runs past retention.
//!
//! # A run directory
//!
//! ```text
//! <records dir>/<run id>/
//!   log.jsonl            one canonical JSON entry per line, '\n'-terminated
//!   checkpoints/<size>   a signed note over the first <size> entries (one per checkpoint)
//! ```
//!
//! Nothing else may be in it: [`verify()`] fails on any other file. Entry 0 is the
//! genesis entry `{"format":"mandate-record/1","i":0,"run_id":…,"time":…,"type":"record.create"}`;
//! every later entry is the event the caller appended plus `"i"` (its index, equal to its
//! line number) and `"prev"` (hex of the previous line's RFC 6962 leaf hash). The leaf
//! hash of an entry is `SHA-256(0x00 ‖ line bytes without the newline)`: the exact
//! stored bytes, never a re-serialisation. The event schema is in `EVENTS.md`.
//!
//! # What verification proves, and what it cannot
//!
//! Entries up to the latest checkpoint are sealed: any change, deletion, reordering,
//! duplication or truncation is reported with the first bad entry. Entries after it
//! are chained (a change to any but the very last one breaks the next entry's `prev`)
//! but not yet signed; [`VerifyReport::unsealed`] counts them. Checkpoint at session end
//! and at `mandate finish`, and keep a copy of the latest checkpoint where the writer
//! cannot rewrite it: no local format detects a rollback of the whole directory.

pub mod canonical;
pub mod checkpoint;
pub mod digest;
pub mod export;
pub mod intoto;
pub mod judged;
pub mod keys;
pub(crate) mod log;
pub mod merkle;
pub mod ocsf;
pub mod otel;
pub mod packet;
pub mod redact;
pub mod retention;
pub mod test_evidence;
pub mod tests_summary;
mod time;
mod verify;

pub use checkpoint::Checkpoint;
pub use digest::digest_contents;
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use log::{CHECKPOINT_DIR, Entry, FORMAT, LOG_FILE, RunLog, read_entries, read_values_from};
pub use test_evidence::{TestEvidence, judge_test_run};
pub use tests_summary::{TestSummary, parse_runner_summary, parse_test_summary};
pub use time::now_rfc3339;
pub use verify::{Failure, Location, VerifyReport, verify};

use std::path::{Path, PathBuf};

/// Everything that can go wrong while recording. A deny is not an error; an error on
/// the hook path must turn the decision into a deny.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// An I/O operation failed.
    #[error("{op} `{path}`: {source}", op = "i/o error on", path = .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `fsync` failed: the data may not be on disk. Never retried (a failed fsync can
    /// drop dirty pages and report success the second time); the log refuses further
    /// appends through this handle.
    #[error("fsync of `{path}` failed, so the event is not durable: {source}", path = .path.display())]
    Fsync {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A previous fsync failed on this handle.
    #[error("an earlier fsync failed on this run log; reopen it to continue")]
    Poisoned,
    /// The run directory already exists.
    #[error("the run directory `{}` already exists", .0.display())]
    Exists(PathBuf),
    /// The directory does not hold a run log.
    #[error("`{}` is not a run record (no log.jsonl)", .0.display())]
    NotARun(PathBuf),
    /// The log does not verify; it is not appended to or checkpointed.
    #[error("the run record is damaged: {0}")]
    Tampered(String),
    /// A caller-supplied value is not acceptable.
    #[error("{0}")]
    Invalid(String),
}

impl RecordError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
