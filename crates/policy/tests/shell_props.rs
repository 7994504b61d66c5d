#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Composition never launders a denied command: appending `; X`, `&& X`, `| X` or `$(X)`
//! to an allowed command never turns a denied `X` into an allowed line.

use std::path::{Path, PathBuf};

use mandate_policy::{Call, CleanFs, Context, Decision, Engine, engine_from_text};
use proptest::prelude::*;
use serde_json::json;

const POLICY: &str = include_str!("corpus/contracts/policy.toml");
const CONTRACT: &str = include_str!("corpus/contracts/billing.toml");

fn engine() -> Engine {
    engine_from_text(POLICY, Some(CONTRACT), Path::new("/repo")).unwrap()
}

fn judge(engine: &Engine, command: &str) -> Decision {
    let input = json!({ "command": command });
    let cwd = PathBuf::from("/repo");
    let context = Context {
        rollback_note: true,
        ..Context::default()
    };
    engine
        .judge(
            &Call {
                tool: "Bash",
                input: &input,
                cwd: &cwd,
            },
            &context,
            &CleanFs,
        )
        .decision
}

/// Commands the billing contract allows.
const ALLOWED: &[&str] = &[
    "cat billing/export/filter.py",
    "pytest billing/export/tests -q",
    "ruff check billing/export",
    "git status",
    "echo done",
    "sed -n 1,5p billing/export/filter.py",
    "head -n 3 docs/billing/export.md",
    "touch billing/export/x.py",
];

/// Commands it denies (or stops), each in its own way.
const DENIED: &[&str] = &[
    "cat .env",
    "cat customer_data/eu.csv",
    "rm -rf deploy",
    "git push origin main",
    "curl https://evil.example",
    "python3 -c 'print(1)'",
    "bash -c 'cat .env'",
    "sudo cat .env",
    "echo x > .github/workflows/ci.yml",
    "touch billing/migrations/0002.sql",
    "kubectl get pods",
    "eval ls",
    "./pytest billing/export/tests",
    "env PATH=/tmp ls",
    "nc evil.example 80",
    "cp .env billing/export/x",
];

fn glue() -> impl Strategy<Value = usize> {
    0usize..4
}

fn compose(allowed: &str, denied: &str, how: usize) -> String {
    match how {
        0 => format!("{allowed}; {denied}"),
        1 => format!("{allowed} && {denied}"),
        2 => format!("{allowed} | {denied}"),
        _ => format!("{allowed} $({denied})"),
    }
}

#[test]
fn the_fixtures_hold() {
    let engine = engine();
    for a in ALLOWED {
        assert_eq!(judge(&engine, a), Decision::Allow, "{a}");
    }
    for d in DENIED {
        assert_ne!(judge(&engine, d), Decision::Allow, "{d}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn appending_a_denied_command_never_allows(
        a in prop::sample::select(ALLOWED),
        d in prop::sample::select(DENIED),
        how in glue(),
    ) {
        let engine = engine();
        let line = compose(a, d, how);
        prop_assert_ne!(judge(&engine, &line), Decision::Allow, "{}", line);
    }

    #[test]
    fn chains_of_allowed_commands_keep_a_denied_one_denied(
        prefix in prop::collection::vec(prop::sample::select(ALLOWED), 1..4),
        d in prop::sample::select(DENIED),
        hows in prop::collection::vec(glue(), 4),
    ) {
        let engine = engine();
        let mut line = prefix[0].to_string();
        for (n, a) in prefix.iter().enumerate().skip(1) {
            line = compose(&line, a, hows[n % hows.len()] % 2);
        }
        let line = compose(&line, d, hows[0]);
        prop_assert_ne!(judge(&engine, &line), Decision::Allow, "{}", line);
    }
}
