//! The Ed25519 signing key that signs checkpoints and exports.
//!
//! Generated on first use from the OS random source and stored as one line of base64
//! (the 32-byte seed) in a file of mode 0600 inside a directory of mode 0700. Several
//! hook processes may race to create it: each writes a private temporary file and
//! publishes it with `link(2)`, which fails if the key already exists, so exactly one
//! key wins and everyone loads that one. A key file readable by others is refused.

use crate::RecordError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Load the key at `path`, creating it (and its directory, mode 0700) if missing.
pub fn load_or_create(path: &Path) -> Result<SigningKey, RecordError> {
    match load(path) {
        Ok(key) => return Ok(key),
        Err(RecordError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let io = |source| RecordError::io(path, source);
    let parent = path.parent().unwrap_or(Path::new("."));
    if !parent.as_os_str().is_empty() && !parent.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| RecordError::io(parent, e))?;
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| RecordError::Invalid(format!("no randomness: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| RecordError::Invalid(format!("no randomness: {e}")))?;
    let tmp = path.with_extension(format!(
        "tmp-{}-{:016x}",
        std::process::id(),
        u64::from_le_bytes(nonce)
    ));
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(format!("{}\n", B64.encode(seed)).as_bytes())?;
        f.sync_all()?;
        fs::hard_link(&tmp, path)
    })();
    let _ = fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            crate::log::sync_dir(parent).map_err(|e| RecordError::io(parent, e))?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(path),
        Err(e) => Err(io(e)),
    }
}

/// Load an existing key; refuses a key file that group or others can access.
pub fn load(path: &Path) -> Result<SigningKey, RecordError> {
    let io = |source| RecordError::io(path, source);
    let meta = fs::metadata(path).map_err(io)?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(RecordError::Invalid(format!(
            "the signing key `{}` is accessible to other users (mode {:o}); run `chmod 600` on it",
            path.display(),
            meta.permissions().mode() & 0o777
        )));
    }
    let text = fs::read_to_string(path).map_err(io)?;
    let seed: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| {
            RecordError::Invalid(format!(
                "`{}` does not hold a mandate signing key",
                path.display()
            ))
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_private_modes_then_reloaded() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("keys/sub/signing.key");
        let a = load_or_create(&path).unwrap();
        let b = load_or_create(&path).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn a_world_readable_key_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("signing.key");
        load_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn racing_creators_agree_on_one_key() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("k/signing.key");
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create(&path).unwrap().to_bytes()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
    }
}
