//! `analyze` on arbitrary bytes (lossy UTF-8): it must return, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let _ = mandate_shell::analyze(&line);
});
