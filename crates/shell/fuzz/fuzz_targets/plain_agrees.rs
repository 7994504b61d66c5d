//! The plain reader and tree-sitter give the same analysis of every statement.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    assert_eq!(
        mandate_shell::analyze(&line),
        mandate_shell::analyze_with_tree_sitter(&line),
        "{line:?}"
    );
});
