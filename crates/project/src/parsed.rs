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
//! a broken file is reported with its line every time.
//!
//! Where it lives is the security question. Not in the repository: anything in the
//! checkout can arrive by a commit, and a crafted entry keyed by a contract's or the
//! organisation policy's digest (both predictable from their text) would stand in for it
//! unseen by code review. The user's cache folder is outside every checkout, and it is one
//! of the paths the agent may never write (the built-in self-protection rules and the
//! sandbox's `denyWrite` list it, as they list the records). Writing it is best effort:
//! without a home folder, or with a read-only one, every call parses and works the same.

use std::path::{Path, PathBuf};

use mandate_policy::format::{Contract, Policy};
use mandate_policy::{FormatError, parse_contract, parse_policy};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// The cache folder of the user whose home is `home`.
pub fn cache_dir(home: &Path) -> PathBuf {
    home.join(".cache").join("mandate").join("parsed")
}

/// `parse_policy`, through the cache of `home` (none: parse); with the SHA-256 of `text`
/// (hex), which callers record as the policy's digest.
pub fn policy(
    home: Option<&Path>,
    path: &Path,
    text: &str,
) -> Result<(Policy, String), FormatError> {
    cached(home, "policy", path, text, parse_policy)
}

/// `parse_contract`, through the cache of `home` (none: parse); with the SHA-256 of `text`
/// (hex).
pub fn contract(
    home: Option<&Path>,
    path: &Path,
    text: &str,
) -> Result<(Contract, String), FormatError> {
    cached(home, "contract", path, text, parse_contract)
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
) -> Result<(T, String), FormatError> {
    let digest = mandate_record::digest::sha256_hex(text.as_bytes());
    let Some(home) = home.filter(|h| h.is_absolute()) else {
        return Ok((parse(path, text)?, digest));
    };
    let dir = cache_dir(home);
    let file = dir.join(format!("{kind}-{}.json", key(kind, &digest)));
    if let Ok(bytes) = std::fs::read(&file)
        && let Ok(value) = serde_json::from_slice(&bytes)
    {
        return Ok((value, digest));
    }
    let value = parse(path, text)?;
    store(&dir, &file, &value);
    Ok((value, digest))
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
                let first = policy(Some(root.path()), &file, &text).unwrap().0;
                let second = policy(Some(root.path()), &file, &text).unwrap().0;
                let want = serde_json::to_string(&parsed).unwrap();
                assert_eq!(serde_json::to_string(&first).unwrap(), want);
                assert_eq!(serde_json::to_string(&second).unwrap(), want, "{file:?}");
                policies += 1;
            }
            if let Ok(parsed) = parse_contract(&file, &text) {
                let first = contract(Some(root.path()), &file, &text).unwrap().0;
                let second = contract(Some(root.path()), &file, &text).unwrap().0;
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
            policy(Some(root.path()), &path, one).unwrap().0.block.read,
            ["secrets/**"]
        );
        assert_eq!(
            policy(Some(root.path()), &path, two).unwrap().0.block.read,
            ["keys/**"]
        );
        assert_eq!(
            policy(Some(root.path()), &path, one).unwrap().0.block.read,
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
            assert_eq!(policy(home, &path, text).unwrap().1, want);
        }
    }

    #[test]
    fn without_a_home_nothing_is_cached() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("mandate.toml");
        let text = "version = 1\n[block]\nread = [\"secrets/**\"]\n";
        for home in [None, Some(Path::new("relative/home"))] {
            assert_eq!(
                policy(home, &path, text).unwrap().0.block.read,
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
            policy(Some(root.path()), &path, text).unwrap().0.block.read,
            ["secrets/**"]
        );
        let repaired: Policy = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
        assert_eq!(repaired.block.read, ["secrets/**"]);
    }
}
