//! File contents become digests before an event is recorded.
//!
//! The record is evidence of *what* was read or written, not a copy of the data: a copy
//! would leak whatever the files hold into the record store. Values under the keys
//! Claude Code uses for file contents are replaced by `{"sha256": hex, "bytes": n}` of
//! their UTF-8 bytes, so a reviewer can still match them against a file on disk.
//! Any other string longer than [`MAX_STRING_BYTES`] (a huge command output) is replaced
//! the same way, with `"truncated": true`, so one event cannot bloat the log.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Keys whose string values are file contents.
pub const CONTENT_KEYS: &[&str] = &[
    "content",
    "new_string",
    "old_string",
    "originalFile",
    "new_source",
    "old_source",
];
/// Keys whose whole value (any JSON) reproduces file contents, e.g. Edit's diff hunks.
pub const CONTENT_TREE_KEYS: &[&str] = &["structuredPatch"];

/// Longest string kept verbatim in an entry.
pub const MAX_STRING_BYTES: usize = 64 * 1024;

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The digest object recorded in place of `text`.
pub fn digest_of(text: &str) -> Value {
    json!({"sha256": sha256_hex(text.as_bytes()), "bytes": text.len()})
}

/// Replace file contents (and oversized strings) in `value` by digests, in place.
pub fn digest_contents(value: &mut Value) {
    walk(value, 0);
}

fn walk(value: &mut Value, depth: usize) {
    if depth > crate::canonical::MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => walk_map(map, depth),
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, depth + 1)),
        Value::String(s) if s.len() > MAX_STRING_BYTES => {
            let mut d = digest_of(s);
            if let Some(obj) = d.as_object_mut() {
                obj.insert("truncated".into(), Value::Bool(true));
            }
            *value = d;
        }
        _ => {}
    }
}

fn walk_map(map: &mut Map<String, Value>, depth: usize) {
    for (key, v) in map.iter_mut() {
        if CONTENT_KEYS.contains(&key.as_str())
            && let Value::String(s) = v
        {
            *v = digest_of(s);
            continue;
        }
        let already = v.get("canonical_json").is_some() && v.get("sha256").is_some();
        if CONTENT_TREE_KEYS.contains(&key.as_str()) && !v.is_null() && !already {
            let bytes = crate::canonical::to_vec(v).unwrap_or_default();
            *v =
                json!({"sha256": sha256_hex(&bytes), "bytes": bytes.len(), "canonical_json": true});
            continue;
        }
        walk(v, depth + 1);
    }
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
    fn write_edit_and_read_payloads_become_digests() {
        let mut v = json!({
            "tool": "Write",
            "input": {"file_path": "/r/a.py", "content": "print(1)\n"},
            "response": {"type": "text", "file": {"filePath": "/r/a.py", "content": "x"},
                         "structuredPatch": [{"lines": ["+secret"]}]},
            "edits": [{"old_string": "a", "new_string": "b"}],
        });
        digest_contents(&mut v);
        assert_eq!(
            v["input"]["content"],
            json!({"sha256": sha256_hex(b"print(1)\n"), "bytes": 9})
        );
        assert_eq!(v["input"]["file_path"], "/r/a.py");
        assert_eq!(v["response"]["file"]["content"]["bytes"], 1);
        assert!(v["response"]["structuredPatch"]["sha256"].is_string());
        assert_eq!(v["edits"][0]["new_string"]["sha256"], sha256_hex(b"b"));
        // Idempotent: digests are objects, not strings.
        let before = v.clone();
        digest_contents(&mut v);
        assert_eq!(v, before);
    }

    #[test]
    fn oversized_strings_are_cut_to_a_digest() {
        let big = "x".repeat(MAX_STRING_BYTES + 1);
        let mut v = json!({"response": {"stdout": big}});
        digest_contents(&mut v);
        assert_eq!(v["response"]["stdout"]["truncated"], true);
        assert_eq!(v["response"]["stdout"]["bytes"], MAX_STRING_BYTES + 1);
    }
}
