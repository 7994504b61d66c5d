//! Test-runner output → pass/fail/skip counts, for `test.run` events.
//!
//! The hook sees a test command's output in PostToolUse and records what the runner
//! itself said, so the reviewer gets counts the recorder witnessed rather than the
//! agent's summary. Recognised: pytest, cargo test, go test, jest, vitest. Colour codes
//! are stripped first; the last summary line of each runner wins (cargo prints one
//! line per test binary, which are added up).

use serde::{Deserialize, Serialize};

/// Counts parsed from a runner's closing lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSummary {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed (errors included).
    pub failed: u64,
    /// Tests skipped or ignored.
    pub skipped: u64,
    /// `pytest`, `cargo test`, `go test`, `jest` or `vitest`.
    pub runner: String,
}

/// Parse a runner's output; `None` when no known summary line is found.
pub fn parse_test_summary(output: &str) -> Option<TestSummary> {
    let clean = strip_ansi(output);
    cargo(&clean)
        .or_else(|| jest(&clean))
        .or_else(|| vitest(&clean))
        .or_else(|| pytest(&clean))
        .or_else(|| go(&clean))
}

/// Parse the summary of one runner only, the one that ran (`pytest`, `cargo`, `go`,
/// `jest`, `vitest`, or `python -m pytest`, `npx jest`, …): a summary line in another
/// runner's format was printed by something else. `None` when the runner is unknown or
/// printed no summary.
pub fn parse_runner_summary(program: &str, args: &[String], output: &str) -> Option<TestSummary> {
    let clean = strip_ansi(output);
    let first = args
        .iter()
        .map(String::as_str)
        .find(|a| !a.starts_with('-'));
    let runner = match program {
        "python" | "python3" if args.iter().any(|a| a == "pytest") => "pytest",
        "npx" | "yarn" | "pnpm" | "npm" => match first {
            Some("jest") => "jest",
            Some("vitest") => "vitest",
            _ => return None,
        },
        other => other,
    };
    match runner {
        "pytest" | "py.test" => pytest(&clean),
        "cargo" if first == Some("test") => cargo(&clean),
        "go" if first == Some("test") => go(&clean),
        "jest" => jest(&clean),
        "vitest" => vitest(&clean),
        _ => None,
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// `N word` pairs in a line such as "3 passed, 1 failed in 0.2s".
fn counts(line: &str) -> Vec<(u64, String)> {
    let words: Vec<&str> = line
        .split(|c: char| {
            c.is_whitespace() || c == ',' || c == ';' || c == '|' || c == '(' || c == ')'
        })
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter_map(|w| {
            let [n, word] = w else { return None };
            Some((
                n.parse().ok()?,
                word.trim_end_matches(['.', ':']).to_ascii_lowercase(),
            ))
        })
        .collect()
}

fn tally(pairs: &[(u64, String)], runner: &str) -> TestSummary {
    let mut s = TestSummary {
        runner: runner.into(),
        ..TestSummary::default()
    };
    for (n, word) in pairs {
        match word.as_str() {
            "passed" | "pass" => s.passed += n,
            "failed" | "fail" | "error" | "errors" => s.failed += n,
            "skipped" | "skip" | "ignored" | "xfailed" | "deselected" | "todo" | "pending" => {
                s.skipped += n;
            }
            _ => {}
        }
    }
    s
}

fn cargo(out: &str) -> Option<TestSummary> {
    let mut total: Option<TestSummary> = None;
    for line in out.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        let t = tally(&counts(rest), "cargo test");
        let acc = total.get_or_insert_with(|| TestSummary {
            runner: "cargo test".into(),
            ..TestSummary::default()
        });
        acc.passed += t.passed;
        acc.failed += t.failed;
        acc.skipped += t.skipped;
    }
    total
}

fn jest(out: &str) -> Option<TestSummary> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("Tests:"))?;
    Some(tally(&counts(line), "jest"))
}

fn vitest(out: &str) -> Option<TestSummary> {
    let line = out.lines().rev().find(|l| {
        let t = l.trim_start();
        t.starts_with("Tests ") && !t.starts_with("Tests:")
    })?;
    Some(tally(&counts(line), "vitest"))
}

fn pytest(out: &str) -> Option<TestSummary> {
    let line = out.lines().rev().find(|l| {
        let t = l.trim();
        let framed = t.starts_with('=') && t.ends_with('=');
        let bare = t.contains(" in ") && t.ends_with('s');
        (framed || bare)
            && (t.contains(" passed")
                || t.contains(" failed")
                || t.contains(" deselected")
                || t.contains(" skipped")
                || t.contains("no tests ran"))
    })?;
    Some(tally(&counts(line), "pytest"))
}

fn go(out: &str) -> Option<TestSummary> {
    let mut s = TestSummary {
        runner: "go test".into(),
        ..TestSummary::default()
    };
    let (mut verbose, mut packages) = (false, false);
    let (mut ok_pkgs, mut failed_pkgs) = (0, 0);
    for line in out.lines() {
        let t = line.trim_start();
        if t.starts_with("--- PASS:") {
            s.passed += 1;
            verbose = true;
        } else if t.starts_with("--- FAIL:") {
            s.failed += 1;
            verbose = true;
        } else if t.starts_with("--- SKIP:") {
            s.skipped += 1;
            verbose = true;
        } else if line.starts_with("ok ") || line.starts_with("ok\t") {
            ok_pkgs += 1;
            packages = true;
        } else if line.starts_with("FAIL\t") || line.starts_with("FAIL ") {
            failed_pkgs += 1;
            packages = true;
        }
    }
    if verbose {
        Some(s)
    } else if packages {
        // Without -v go reports packages, not tests: count packages.
        s.passed = ok_pkgs;
        s.failed = failed_pkgs;
        s.runner = "go test (packages)".into();
        Some(s)
    } else {
        None
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

    fn s(runner: &str, passed: u64, failed: u64, skipped: u64) -> Option<TestSummary> {
        Some(TestSummary {
            passed,
            failed,
            skipped,
            runner: runner.into(),
        })
    }

    #[test]
    fn pytest_summaries() {
        let out = "============================= test session starts ==============================\n\
platform linux -- Python 3.11.7, pytest-8.3.2, pluggy-1.5.0\n\
collected 7 items\n\n\
billing/export/tests/test_filter.py ..F.s..                                 [100%]\n\n\
=================================== FAILURES ===================================\n\
___________________________ test_eu_rows_are_kept ____________________________\n\
E       AssertionError: assert 3 == 4\n\
=========================== short test summary info ============================\n\
FAILED billing/export/tests/test_filter.py::test_eu_rows_are_kept - AssertionError\n\
==================== 1 failed, 5 passed, 1 skipped in 0.12s ====================\n";
        assert_eq!(parse_test_summary(out), s("pytest", 5, 1, 1));
        assert_eq!(
            parse_test_summary("....\n4 passed in 0.01s\n"),
            s("pytest", 4, 0, 0)
        );
        assert_eq!(
            parse_test_summary("\u{1b}[32m===== 12 passed, 2 warnings in 1.05s =====\u{1b}[0m"),
            s("pytest", 12, 0, 0)
        );
        assert_eq!(
            parse_test_summary("========== 2 failed, 1 error in 0.30s =========="),
            s("pytest", 0, 3, 0)
        );
    }

    #[test]
    fn cargo_test_adds_up_every_binary() {
        let out = "running 3 tests\ntest a ... ok\ntest b ... ignored\ntest c ... FAILED\n\n\
test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n\
     Running tests/cli.rs (target/debug/deps/cli-0123)\n\nrunning 4 tests\n\
test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n";
        assert_eq!(parse_test_summary(out), s("cargo test", 5, 1, 1));
    }

    #[test]
    fn go_test_verbose_and_plain() {
        let out = "=== RUN   TestExport\n--- PASS: TestExport (0.00s)\n=== RUN   TestEU\n\
--- FAIL: TestEU (0.00s)\n    export_test.go:12: got 3 rows\n=== RUN   TestSlow\n\
--- SKIP: TestSlow (0.00s)\nFAIL\nFAIL\texample.com/billing/export\t0.004s\n";
        assert_eq!(parse_test_summary(out), s("go test", 1, 1, 1));
        let out = "ok  \texample.com/billing/export\t0.004s\nok  \texample.com/billing/tax\t(cached)\n\
FAIL\texample.com/billing/eu [build failed]\n";
        assert_eq!(parse_test_summary(out), s("go test (packages)", 2, 1, 0));
    }

    #[test]
    fn jest_and_vitest() {
        let out = "PASS src/export.test.js\nFAIL src/eu.test.js\n\n\
Test Suites: 1 failed, 1 passed, 2 total\n\
Tests:       1 failed, 2 skipped, 5 passed, 8 total\n\
Snapshots:   0 total\nTime:        1.2 s\nRan all test suites.\n";
        assert_eq!(parse_test_summary(out), s("jest", 5, 1, 2));
        let out = " ✓ src/export.test.ts (5 tests) 3ms\n ❯ src/eu.test.ts (2 tests | 1 failed) 4ms\n\n\
 Test Files  1 failed | 1 passed (2)\n      Tests  1 failed | 5 passed | 1 skipped (7)\n\
   Start at  10:00:00\n   Duration  310ms\n";
        assert_eq!(parse_test_summary(out), s("vitest", 5, 1, 1));
    }

    #[test]
    fn unknown_output_gives_none() {
        assert_eq!(parse_test_summary("hello\nworld\n"), None);
        assert_eq!(parse_test_summary(""), None);
    }
}
