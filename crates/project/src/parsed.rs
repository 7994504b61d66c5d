//! Policies and contracts, parsed once per text.
//!
//! Every hook call reads the repository policy, the organisation policy and the contract
//! snapshot. Parsing their TOML was a fifth to a third of a hook call's instructions
//! (`scripts/bench.sh --callgrind`); the same structures read back from JSON cost a tenth
//! of that. So a successful parse is kept in `~/.cache/mandate/parsed/<kind>-<digest>.json`,
//! where the digest covers this mandate's version, a fingerprint of the format types'
//! source ([`mandate_policy::FORMAT_FINGERPRINT`]), the kind and the exact text (by its
//! SHA-256, which the caller gets back as the file's digest): a changed
//! file, or a mandate whose formats differ, simply misses and parses again. Errors are never cached, so
//! a broken file is reported with its line every time. An entry also keeps the file's
//! execute rules as the shell analyser read them ([`RuleShapes`]; the fingerprint covers
//! the analyser's source too), so the hook's engine does not read them again. An entry
//! that does not read back whole, in the shape this mandate writes, is parsed again and
//! replaced: never half-trusted.
//!
//! Where it lives is the security question. Not in the repository: anything in the
//! checkout can arrive by a commit, and a crafted entry keyed by a contract's or the
//! organisation policy's digest (both predictable from their text) would stand in for it
//! unseen by code review. The user's cache folder is outside every checkout, and it is one
//! of the paths the agent may never write (the built-in self-protection rules and the
//! sandbox's `denyWrite` list it, as they list the records). Writing it is best effort:
//! without a home folder, or with a read-only one, every call parses and works the same.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mandate_policy::format::{Contract, Policy};
use mandate_policy::rule_shapes::RuleShapes;
use mandate_policy::{FormatError, parse_contract, parse_policy};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cache folder of the user whose home is `home`.
pub fn cache_dir(home: &Path) -> PathBuf {
    home.join(".cache").join("mandate").join("parsed")
}

/// A file's parsed form, the SHA-256 of its text (hex), which callers record as the
/// file's digest, and its execute rules as read (`mandate_policy::rule_shapes`): from
/// the cache, or empty without one (the engine then reads each rule it needs).
#[derive(Debug)]
pub struct Parsed<T> {
    pub value: T,
    pub digest: String,
    pub shapes: Arc<RuleShapes>,
}

/// What one cache file holds.
#[derive(Serialize, Deserialize)]
struct Entry<T> {
    parsed: T,
    shapes: RuleShapes,
}

/// `parse_policy`, through the cache of `home` (none: parse).
pub fn policy(home: Option<&Path>, path: &Path, text: &str) -> Result<Parsed<Policy>, FormatError> {
    cached(
        home,
        "policy",
        path,
        text,
        parse_policy,
        RuleShapes::of_policy,
    )
}

/// `parse_contract`, through the cache of `home` (none: parse).
pub fn contract(
    home: Option<&Path>,
    path: &Path,
    text: &str,
) -> Result<Parsed<Contract>, FormatError> {
    cached(
        home,
        "contract",
        path,
        text,
        parse_contract,
        RuleShapes::of_contract,
    )
}

/// The text is hashed once, here: its digest is both what callers record and what the
/// entry's key is made from (hashing a 536-rule contract's text twice was a sixth of a
/// hook call's instructions under callgrind, whose SHA-256 is the software one).
fn cached<T: Serialize + DeserializeOwned>(
    home: Option<&Path>,
    kind: &str,
    path: &Path,
    text: &str,
    parse: fn(&Path, &str) -> Result<T, FormatError>,
    read_rules: fn(&T) -> RuleShapes,
) -> Result<Parsed<T>, FormatError> {
    let digest = mandate_record::digest::sha256_hex(text.as_bytes());
    let Some(home) = home.filter(|h| h.is_absolute()) else {
        return Ok(Parsed {
            value: parse(path, text)?,
            digest,
            shapes: Arc::default(),
        });
    };
    let dir = cache_dir(home);
    let file = dir.join(format!("{kind}-{}.json", key(kind, &digest)));
    if let Ok(bytes) = std::fs::read(&file)
        && let Ok(entry) = serde_json::from_slice::<Entry<T>>(&bytes)
    {
        return Ok(Parsed {
            value: entry.parsed,
            digest,
            shapes: Arc::new(entry.shapes),
        });
    }
    let value = parse(path, text)?;
    let entry = Entry {
        shapes: read_rules(&value),
        parsed: value,
    };
    store(&dir, &file, &entry);
    Ok(Parsed {
        value: entry.parsed,
        digest,
        shapes: Arc::new(entry.shapes),
    })
}

/// The entry's name: this mandate's version and formats, the kind, and the SHA-256 of the
/// exact text (`digest`, hex).
fn key(kind: &str, digest: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [
        env!("CARGO_PKG_VERSION"),
        mandate_policy::FORMAT_FINGERPRINT,
        kind,
        digest,
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    mandate_record::digest::hex(&hasher.finalize())
}

/// Write the parsed form next to the others; any failure leaves the cache as it was.
fn store<T: Serialize>(dir: &Path, file: &Path, value: &T) {
    let Ok(bytes) = serde_json::to_vec(value) else {
        return;
    };
    if !dir.is_dir() && crate::create_private_dir(dir).is_err() {
        return;
    }
    // A private temporary name, then rename: a reader sees the whole file or none.
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        file.file_name().and_then(|n| n.to_str()).unwrap_or("entry")
    ));
    if std::fs::write(&tmp, &bytes).is_ok() && std::fs::rename(&tmp, file).is_ok() {
        return;
    }
    let _ = std::fs::remove_file(&tmp);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() && !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                toml_files(&path, out);
            } else if name.ends_with(".toml") {
                out.push(path);
            }
        }
    }

    /// Every policy and contract in the repository reads back from the cache exactly as
    /// it was parsed: the JSON of the parsed form survives the round trip unchanged.
    #[test]
    fn every_policy_and_contract_in_the_repository_survives_the_cache() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        for dir in ["examples", "bench", "crates/cli/tests", "crates/policy"] {
            toml_files(&repo.join(dir), &mut files);
        }
        let mut policies = 0;
        let mut contracts = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let root = tempfile::tempdir().unwrap();
            if let Ok(parsed) = parse_policy(&file, &text) {
                let first = policy(Some(root.path()), &file, &text).unwrap().value;
                let second = policy(Some(root.path()), &file, &text).unwrap().value;
                let want = serde_json::to_string(&parsed).unwrap();
                assert_eq!(serde_json::to_string(&first).unwrap(), want);
                assert_eq!(serde_json::to_string(&second).unwrap(), want, "{file:?}");
                policies += 1;
            }
            if let Ok(parsed) = parse_contract(&file, &text) {
                let first = contract(Some(root.path()), &file, &text).unwrap().value;
                let second = contract(Some(root.path()), &file, &text).unwrap().value;
                let want = serde_json::to_string(&parsed).unwrap();
                assert_eq!(serde_json::to_string(&first).unwrap(), want);
                assert_eq!(serde_json::to_string(&second).unwrap(), want, "{file:?}");
                contracts += 1;
            }
            let cached = std::fs::read_dir(cache_dir(root.path()))
                .map(|d| d.flatten().count())
                .unwrap_or(0);
            // One entry per kind the file parsed as, and nothing for other TOML files.
            assert!(cached <= 2, "{file:?}");
        }
        assert!(policies >= 3, "{policies} policies");
        assert!(contracts >= 3, "{contracts} contracts");
    }

    #[test]
    fn a_changed_text_misses_and_errors_are_not_cached() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("mandate.toml");
        let one = "version = 1\n[block]\nread = [\"secrets/**\"]\n";
        let two = "version = 1\n[block]\nread = [\"keys/**\"]\n";
        assert_eq!(
            policy(Some(root.path()), &path, one)
                .unwrap()
                .value
                .block
                .read,
            ["secrets/**"]
        );
        assert_eq!(
            policy(Some(root.path()), &path, two)
                .unwrap()
                .value
                .block
                .read,
            ["keys/**"]
        );
        assert_eq!(
            policy(Some(root.path()), &path, one)
                .unwrap()
                .value
                .block
                .read,
            ["secrets/**"]
        );
        let broken = "version = 1\n[block]\nreed = [\"x\"]\n";
        for _ in 0..2 {
            let error = policy(Some(root.path()), &path, broken)
                .unwrap_err()
                .to_string();
            assert!(error.contains(":3:"), "{error}");
        }
        let entries: Vec<String> = std::fs::read_dir(cache_dir(root.path()))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(entries.len(), 2, "{entries:?}");
    }

    /// The digest callers record is the text's SHA-256 whether the parsed form was read
    /// from the cache, parsed and stored, or parsed without a cache.
    #[test]
    fn the_digest_is_the_texts_whether_or_not_the_entry_was_there() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("mandate.toml");
        let text = "version = 1\n[block]\nread = [\"secrets/**\"]\n";
        let want = mandate_record::digest::sha256_hex(text.as_bytes());
        for home in [Some(root.path()), Some(root.path()), None] {
            assert_eq!(policy(home, &path, text).unwrap().digest, want);
        }
    }

    #[test]
    fn without_a_home_nothing_is_cached() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("mandate.toml");
        let text = "version = 1\n[block]\nread = [\"secrets/**\"]\n";
        for home in [None, Some(Path::new("relative/home"))] {
            assert_eq!(
                policy(home, &path, text).unwrap().value.block.read,
                ["secrets/**"]
            );
        }
        assert!(!Path::new("relative").exists());
    }

    #[test]
    fn a_damaged_entry_is_parsed_again_and_replaced() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("mandate.toml");
        let text = "version = 1\n[block]\nread = [\"secrets/**\"]\n";
        policy(Some(root.path()), &path, text).unwrap();
        let digest = mandate_record::digest::sha256_hex(text.as_bytes());
        let entry = cache_dir(root.path()).join(format!("policy-{}.json", key("policy", &digest)));
        std::fs::write(&entry, b"{\"version\":").unwrap();
        assert_eq!(
            policy(Some(root.path()), &path, text)
                .unwrap()
                .value
                .block
                .read,
            ["secrets/**"]
        );
        let repaired: Entry<Policy> =
            serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
        assert_eq!(repaired.parsed.block.read, ["secrets/**"]);
    }

    /// An entry keeps the contract's execute rules as read, and what comes back from it
    /// is what reading them now gives; an entry whose readings are damaged (the wrong
    /// type, a missing field) is not trusted: parsed and read again, and replaced.
    #[test]
    fn an_entry_keeps_the_execute_rules_as_read_and_a_damaged_one_is_replaced() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("c.toml");
        let text = include_str!("../../../bench/fixtures/rules-500/BILL-500.toml");
        let want = RuleShapes::of_contract(&parse_contract(&path, text).unwrap());
        let first = contract(Some(root.path()), &path, text).unwrap();
        let second = contract(Some(root.path()), &path, text).unwrap();
        assert_eq!(*first.shapes, want);
        assert_eq!(*second.shapes, want);
        let digest = mandate_record::digest::sha256_hex(text.as_bytes());
        let entry =
            cache_dir(root.path()).join(format!("contract-{}.json", key("contract", &digest)));
        let stored = std::fs::read_to_string(&entry).unwrap();
        for damaged in [
            stored.replacen("\\u001fopen\\u001f", "\\u001fshut\\u001f", 1),
            {
                // The table's last line break (the table is the entry's last field).
                let at = stored.rfind("\\n").unwrap();
                [&stored[..at], &stored[at + 2..]].concat()
            },
            stored.replacen("\"shapes\":\"", "\"shapes\":[\"", 1),
            stored.replacen("\"shapes\":", "\"shape\":", 1),
            stored[..stored.len() / 2].to_string(),
        ] {
            assert_ne!(damaged, stored);
            std::fs::write(&entry, &damaged).unwrap();
            let again = contract(Some(root.path()), &path, text).unwrap();
            assert_eq!(*again.shapes, want);
            assert_eq!(std::fs::read_to_string(&entry).unwrap(), stored);
        }
    }
}
