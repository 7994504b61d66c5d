//! Fingerprint of the policy and contract formats, for caches of parsed files.
//!
//! `mandate-project` keeps parsed policies and contracts as JSON between processes. An
//! entry written by a mandate whose format types differ (a field added with a default,
//! say) could read back without error and still mean something else, and the version
//! number does not change with every build. The fingerprint is a hash of the source files
//! that define the formats and their serde shapes, so any change to them misses the cache.

use std::fmt::Write as _;

fn main() {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a
    for file in ["src/format.rs", "src/decision.rs"] {
        println!("cargo:rerun-if-changed={file}");
        let bytes = std::fs::read(file).unwrap_or_default();
        for byte in file.bytes().chain(bytes) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let mut fingerprint = String::new();
    let _ = write!(fingerprint, "{hash:016x}");
    println!("cargo:rustc-env=MANDATE_FORMAT_FINGERPRINT={fingerprint}");
}
