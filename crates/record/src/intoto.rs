//! The in-toto export: a DSSE envelope holding an in-toto Statement v1 about one run.
//!
//! Subjects are the changed files (their SHA-256 after the change, where the record
//! has it) and the log's checkpoint (the SHA-256 of the signed note's bytes); the
//! predicate is the review packet plus the checkpoint itself, so a consumer can check
//! the attestation against the verified run record. DSSE signs
//! `PAE(payloadType, payload)`, so the payload needs no canonicalisation.

use crate::checkpoint::{Checkpoint, verifier_key_string};
use crate::digest::{hex, sha256_hex};
use crate::log::Entry;
use crate::packet::{self, ReviewPacket};
use crate::{RecordError, VerifyReport};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The in-toto Statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of an agent run.
pub const PREDICATE_TYPE: &str = "https://mandate.dev/attestation/agent-run/v0.1";
/// The DSSE payload type of in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// DSSE pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The DSSE key id used for mandate keys: hex SHA-256 of the raw public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// The in-toto statement for a run.
pub fn statement(entries: &[Entry], checkpoint: &Checkpoint, packet: &ReviewPacket) -> Value {
    let mut subjects: Vec<Value> = packet
        .files_changed
        .iter()
        .filter_map(|item| {
            let path = item.detail.get("path")?.as_str()?;
            let sha = item.detail.pointer("/digest/sha256")?.as_str()?;
            Some(json!({"name": path, "digest": {"sha256": sha}}))
        })
        .collect();
    subjects.push(json!({
        "name": format!("checkpoint:{}/{}", checkpoint.origin, checkpoint.size),
        "digest": {"sha256": sha256_hex(checkpoint.note.as_bytes())},
    }));
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "packet": packet,
            "log": {
                "origin": checkpoint.origin,
                "treeSize": checkpoint.size,
                "rootHash": B64.encode(checkpoint.root),
                "checkpoint": checkpoint.note,
                "entriesExported": entries.len(),
            },
        },
    })
}

/// Build the packet from `entries`, wrap it in a statement and sign it as a DSSE
/// envelope with `key`. The checkpoint must cover exactly the entries given.
pub fn export_in_toto(
    entries: &[Entry],
    checkpoint: &Checkpoint,
    key: &SigningKey,
    verification: Option<&VerifyReport>,
) -> Result<Value, RecordError> {
    let covered = entries.len() as u64;
    let root = crate::merkle::root(&entries.iter().map(Entry::leaf_hash).collect::<Vec<_>>());
    if covered != checkpoint.size || root != checkpoint.root {
        return Err(RecordError::Invalid(format!(
            "the checkpoint covers {} entries with another root than the {covered} entries exported; checkpoint the run first",
            checkpoint.size
        )));
    }
    let packet = packet::build(entries, verification);
    let statement = statement(entries, checkpoint, &packet);
    let payload = serde_json::to_vec(&statement)
        .map_err(|e| RecordError::Invalid(format!("cannot serialise the statement: {e}")))?;
    let sig = key.sign(&pae(PAYLOAD_TYPE, &payload));
    let vk = key.verifying_key();
    Ok(json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": B64.encode(&payload),
        "signatures": [{
            "keyid": key_id(&vk),
            "sig": B64.encode(sig.to_bytes()),
        }],
        // Not part of DSSE; helps a reader find the key to pin.
        "mandate_verifier_key": verifier_key_string(&checkpoint.origin, &vk),
    }))
}

/// Verify an envelope's signature by `key` and return its statement.
pub fn verify_envelope(envelope: &Value, key: &VerifyingKey) -> Result<Value, String> {
    let payload_type = envelope
        .get("payloadType")
        .and_then(Value::as_str)
        .ok_or("no payloadType")?;
    let payload = envelope
        .get("payload")
        .and_then(Value::as_str)
        .and_then(|p| B64.decode(p).ok())
        .ok_or("no base64 payload")?;
    let want = key_id(key);
    let signed = pae(payload_type, &payload);
    let ok = envelope
        .get("signatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.get("keyid").and_then(Value::as_str) == Some(want.as_str()))
        .filter_map(|s| s.get("sig").and_then(Value::as_str))
        .filter_map(|s| B64.decode(s).ok())
        .filter_map(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
        .any(|b| {
            key.verify_strict(&signed, &Signature::from_bytes(&b))
                .is_ok()
        });
    if !ok {
        return Err("no valid signature by the key".into());
    }
    serde_json::from_slice(&payload).map_err(|e| format!("the payload is not JSON: {e}"))
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
    fn pae_matches_the_dsse_spec_example() {
        // DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
