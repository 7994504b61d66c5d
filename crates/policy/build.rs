//! Fingerprint of the policy and contract formats, for caches of parsed files.
//!
//! `mandate-project` keeps parsed policies and contracts as JSON between processes. An
//! entry written by a mandate whose format types differ (a field added with a default,
//! say) could read back without error and still mean something else, and the version
//! number does not change with every build. The fingerprint is a hash of the source files
//! that define the formats and their serde shapes, so any change to them misses the cache.
//! An entry also keeps each execute rule as the shell analyser read it
//! (`src/rule_shapes.rs`), so the analyser's source (its spec tables and how a rule is
//! read with them) is hashed too: a changed spec misses the cache as a changed format does.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let mut files: Vec<PathBuf> = ["src/format.rs", "src/decision.rs", "src/rule_shapes.rs"]
        .iter()
        .map(PathBuf::from)
        .collect();
    // The sibling crate in this workspace; every file of it, in a fixed order.
    let shell = PathBuf::from("../shell/src");
    println!("cargo:rerun-if-changed={}", shell.display());
    let mut shell_files = Vec::new();
    rust_files(&shell, &mut shell_files);
    shell_files.sort();
    files.extend(shell_files);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let bytes = std::fs::read(file).unwrap_or_default();
        for byte in file.to_string_lossy().bytes().chain(bytes) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let mut fingerprint = String::new();
    let _ = write!(fingerprint, "{hash:016x}");
    println!("cargo:rustc-env=MANDATE_FORMAT_FINGERPRINT={fingerprint}");
}

/// Every `.rs` file under `dir`, at any depth.
fn rust_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
