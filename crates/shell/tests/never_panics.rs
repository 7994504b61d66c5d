#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `analyze` is total: any string, however hostile, gives an analysis and never a panic.

use mandate_shell::analyze;
use proptest::prelude::*;

/// Shell-flavoured fragments, so random lines reach deep into the grammar.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("cat ".to_string()),
        Just(".env ".to_string()),
        Just("&& ".to_string()),
        Just("| sh ".to_string()),
        Just("$(".to_string()),
        Just(")".to_string()),
        Just("`".to_string()),
        Just("<<EOF\n".to_string()),
        Just("\nEOF\n".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("{a,b}".to_string()),
        Just("{1..99}".to_string()),
        Just("${x:-".to_string()),
        Just("}".to_string()),
        Just("bash -c ".to_string()),
        Just("find . -exec ".to_string()),
        Just(" \\; ".to_string()),
        Just("xargs ".to_string()),
        Just("sudo ".to_string()),
        Just("cd x; ".to_string()),
        Just("> f ".to_string()),
        Just("2>&1 ".to_string()),
        Just("[[ $x -eq 1 ]] ".to_string()),
        Just("(( y )) ".to_string()),
        Just("$'\\x41' ".to_string()),
        Just("sed -n 's/a/b/w f' ".to_string()),
        Just("git -C d ".to_string()),
        Just("tar xzf ".to_string()),
        "[a-z./*?~-]{1,6}".prop_map(|s| format!("{s} ")),
        any::<char>().prop_map(|c| c.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(line in any::<String>()) {
        let _ = analyze(&line);
    }

    #[test]
    fn shell_like_lines_never_panic(parts in prop::collection::vec(fragment(), 0..40)) {
        let line: String = parts.concat();
        let analysis = analyze(&line);
        prop_assert!(analysis.commands.len() <= mandate_shell::MAX_COMMANDS);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = analyze(&String::from_utf8_lossy(&bytes));
    }
}
