//! Checkpoints: C2SP `tlog-checkpoint` bodies signed as C2SP `signed-note`s (Ed25519).
//!
//! ```text
//! <origin>\n<tree size>\n<base64 root>\n
//! \n
//! — <key name> <base64(key id[4] ‖ signature[64])>\n
//! ```
//!
//! The key name is the origin. The key ID is `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`,
//! a hint only: a signature line counts when its key ID matches the trusted key *and*
//! the Ed25519 signature over the body verifies (`verify_strict`). Lines by unknown keys
//! are ignored, as the spec requires, so witnesses can cosign later.

use crate::RecordError;
use crate::merkle::Hash;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Ed25519 signature type byte in C2SP signed notes.
const ALG_ED25519: u8 = 0x01;
const EM_DASH: &str = "\u{2014}";
/// The spec asks verifiers to accept at least 16 signatures; more is refused.
const MAX_SIGNATURES: usize = 64;

/// One signed checkpoint of a run's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity (also the signing key's name).
    pub origin: String,
    /// Number of entries covered.
    pub size: u64,
    /// RFC 6962 root of the first `size` entries.
    pub root: Hash,
    /// The complete signed note, as stored.
    pub note: String,
}

impl Checkpoint {
    /// The checkpoint body (the signed text).
    pub fn body(&self) -> String {
        body(&self.origin, self.size, &self.root)
    }

    /// Sign a new checkpoint.
    pub fn sign(
        origin: &str,
        size: u64,
        root: Hash,
        key: &SigningKey,
    ) -> Result<Self, RecordError> {
        check_origin(origin)?;
        let body = body(origin, size, &root);
        let sig = key.sign(body.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&key_id(origin, &key.verifying_key()));
        blob.extend_from_slice(&sig.to_bytes());
        let note = format!("{body}\n{EM_DASH} {origin} {}\n", B64.encode(blob));
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            note,
        })
    }

    /// Parse a signed note's text; signatures are not checked (see [`Checkpoint::verify`]).
    pub fn parse(note: &str) -> Result<Self, String> {
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err("the note contains control characters".into());
        }
        let (body, sigs) = note
            .split_once("\n\n")
            .ok_or("the note has no blank line before its signatures")?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size_text = lines.next().ok_or("the checkpoint has no tree size")?;
        let root_text = lines.next().ok_or("the checkpoint has no root hash")?;
        if lines.next().is_some() {
            return Err("the checkpoint has extension lines, which mandate does not write".into());
        }
        if check_origin(origin).is_err() {
            return Err(format!("the origin `{origin}` is not valid"));
        }
        if size_text.is_empty()
            || (size_text.len() > 1 && size_text.starts_with('0'))
            || !size_text.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!(
                "the tree size `{size_text}` is not a decimal number"
            ));
        }
        let size: u64 = size_text
            .parse()
            .map_err(|_| format!("the tree size `{size_text}` is too large"))?;
        let root: Hash = B64
            .decode(root_text)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| format!("the root hash `{root_text}` is not 32 bytes of base64"))?;
        if B64.encode(root) != root_text {
            return Err("the root hash is not in canonical base64".into());
        }
        if !sigs.ends_with('\n') || sigs.trim().is_empty() {
            return Err("the note's signature block is empty or does not end in a newline".into());
        }
        if sigs.lines().count() > MAX_SIGNATURES {
            return Err("the note carries too many signatures".into());
        }
        for line in sigs.lines() {
            parse_sig_line(line)?;
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            note: note.to_owned(),
        })
    }

    /// Does a signature by `trusted` (named after the origin) verify over the body?
    /// Err with a reason when no line verifies, or a line claiming the trusted key fails.
    pub fn verify(&self, trusted: &VerifyingKey) -> Result<(), String> {
        let Some((body, sigs)) = self.note.split_once("\n\n") else {
            return Err("the note has no signatures".into());
        };
        let body = format!("{body}\n");
        if body != self.body() {
            return Err("the note's body does not match its parsed fields".into());
        }
        let want_id = key_id(&self.origin, trusted);
        let mut verified = false;
        for line in sigs.lines() {
            let (name, id, sig) = parse_sig_line(line)?;
            if name != self.origin || id != want_id {
                continue; // an unknown key: ignored, as the spec requires
            }
            let sig = Signature::from_bytes(&sig);
            if trusted.verify_strict(body.as_bytes(), &sig).is_err() {
                return Err("a signature that claims the trusted key does not verify".into());
            }
            verified = true;
        }
        if verified {
            Ok(())
        } else {
            Err("no signature by the trusted key (forged or foreign checkpoint)".into())
        }
    }
}

fn body(origin: &str, size: u64, root: &Hash) -> String {
    format!("{origin}\n{size}\n{}\n", B64.encode(root))
}

fn check_origin(origin: &str) -> Result<(), RecordError> {
    let ok = !origin.is_empty()
        && !origin.contains('+')
        && !origin.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(RecordError::Invalid(format!(
            "the checkpoint origin `{origin}` must be non-empty, without spaces or `+`"
        )))
    }
}

type SigLine<'a> = (&'a str, [u8; 4], [u8; 64]);

fn parse_sig_line(line: &str) -> Result<SigLine<'_>, String> {
    let rest = line
        .strip_prefix(EM_DASH)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or("a signature line does not start with an em dash")?;
    let (name, blob) = rest
        .split_once(' ')
        .ok_or("a signature line has no signature")?;
    let blob = B64
        .decode(blob)
        .map_err(|_| "a signature is not valid base64".to_owned())?;
    let (id, sig) = blob
        .split_first_chunk::<4>()
        .ok_or("a signature is too short")?;
    // Other key types carry other lengths; only Ed25519 lines are parsed further.
    let sig: [u8; 64] = sig.try_into().unwrap_or([0; 64]);
    Ok((name, *id, sig))
}

/// The C2SP key ID of an Ed25519 key: `SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[:4]`.
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(key.as_bytes());
    let d: [u8; 32] = h.finalize().into();
    let mut id = [0u8; 4];
    id.copy_from_slice(d.get(..4).unwrap_or(&[0; 4]));
    id
}

/// The C2SP verifier key string `<name>+<hex key id>+<base64(0x01 ‖ key)>`, the form
/// reviewers pin and tools like `sumdb`/`note` read.
pub fn verifier_key_string(name: &str, key: &VerifyingKey) -> String {
    let id = key_id(name, key);
    let mut blob = vec![ALG_ED25519];
    blob.extend_from_slice(key.as_bytes());
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!("{name}+{hex}+{}", B64.encode(blob))
}

/// Parse a verifier key string written by [`verifier_key_string`].
pub fn parse_verifier_key(text: &str) -> Result<(String, VerifyingKey), RecordError> {
    let bad = || RecordError::Invalid(format!("`{}` is not a verifier key", text.trim()));
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(_id), Some(blob)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let blob = B64.decode(blob).map_err(|_| bad())?;
    let Some((&ALG_ED25519, key)) = blob.split_first() else {
        return Err(bad());
    };
    let key: [u8; 32] = key.try_into().map_err(|_| bad())?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
    Ok((name.to_owned(), key))
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

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn a_signed_checkpoint_round_trips_and_verifies() {
        let cp = Checkpoint::sign("mandate.dev/run/r1", 7, [9; 32], &key(1)).unwrap();
        assert!(cp.note.starts_with("mandate.dev/run/r1\n7\nCQkJ"));
        assert!(cp.note.contains("\n\n\u{2014} mandate.dev/run/r1 "));
        let parsed = Checkpoint::parse(&cp.note).unwrap();
        assert_eq!(parsed, cp);
        parsed.verify(&key(1).verifying_key()).unwrap();
    }

    #[test]
    fn a_foreign_key_is_refused_and_unknown_lines_are_ignored() {
        let cp = Checkpoint::sign("o", 1, [0; 32], &key(1)).unwrap();
        let err = cp.verify(&key(2).verifying_key()).unwrap_err();
        assert!(err.contains("forged or foreign"), "{err}");
        // A cosignature by another key is ignored.
        let other = Checkpoint::sign("o", 1, [0; 32], &key(2)).unwrap();
        let extra = other.note.rsplit_once("\n\n").unwrap().1;
        let both = Checkpoint::parse(&format!("{}{extra}", cp.note)).unwrap();
        both.verify(&key(1).verifying_key()).unwrap();
    }

    #[test]
    fn an_edited_body_fails() {
        let cp = Checkpoint::sign("o", 10, [0; 32], &key(1)).unwrap();
        let edited = Checkpoint::parse(&cp.note.replacen("\n10\n", "\n11\n", 1)).unwrap();
        assert!(edited.verify(&key(1).verifying_key()).is_err());
    }

    #[test]
    fn verifier_key_strings_round_trip() {
        let vk = key(3).verifying_key();
        let s = verifier_key_string("mandate", &vk);
        assert!(s.starts_with("mandate+"));
        assert_eq!(parse_verifier_key(&s).unwrap(), ("mandate".to_owned(), vk));
    }
}
