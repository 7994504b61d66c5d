//! What a test command's run proves: the result of a `test.run` event and how it was
//! known.
//!
//! Output text alone is forgeable: anything on the line can print "9 passed in 0.1s", and
//! test code the agent wrote can print it too. So a run counts only when the contract's
//! test command was the line's one command; its result is its exit status, and the
//! runner's own summary (parsed with that runner's format only, never whichever format
//! matches first) adds the counts when it agrees with that status. A run that collected
//! or selected nothing (`--collect-only`, `-k no_such_test`, zero tests) is not a test
//! run. The packet shows `result` and `known_by` for each run.

use serde_json::{Value, json};

use crate::tests_summary::{TestSummary, parse_runner_summary};

/// The verdict on one run of a test command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestEvidence {
    /// `passed`, `failed`, or `not a test run`.
    pub result: &'static str,
    /// How the result was known, for the reviewer.
    pub known_by: String,
    pub summary: Option<TestSummary>,
    /// Tests the runner named as failed (pytest's `FAILED x::y`, cargo's `test x ... FAILED`).
    pub failed_tests: Vec<String>,
}

impl TestEvidence {
    /// The run satisfies the contract's `tests` evidence.
    pub fn passed(&self) -> bool {
        self.result == "passed"
    }

    /// The run was a real test run that failed: `tests` evidence no longer holds.
    pub fn failed(&self) -> bool {
        self.result == "failed"
    }

    /// The fields a `test.run` event carries.
    pub fn event_fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("result", json!(self.result)),
            ("known_by", json!(self.known_by)),
            (
                "summary",
                self.summary
                    .as_ref()
                    .and_then(|s| serde_json::to_value(s).ok())
                    .unwrap_or(Value::Null),
            ),
            ("failed_tests", json!(self.failed_tests)),
        ]
    }
}

/// Options that make a runner list, plan or explain instead of running tests.
const NOT_A_RUN: &[&str] = &[
    "--co",
    "--collect-only",
    "--collectonly",
    "--setup-plan",
    "--setup-only",
    "--fixtures",
    "--fixtures-per-test",
    "--markers",
    "--cache-show",
    "--help",
    "-h",
    "--version",
    "-V",
    "--no-run",
    "--list",
    "-list",
    "--listTests",
    "--showConfig",
];

/// Judge a test command's run. `program` and `args` are the command as analysed
/// (`alone`: it was the line's only command), `exit_status` what the agent reported,
/// `output` the text the runner printed.
pub fn judge_test_run(
    program: &str,
    args: &[String],
    alone: bool,
    exit_status: i64,
    output: &str,
) -> TestEvidence {
    let not_a_run = |known_by: String| TestEvidence {
        result: "not a test run",
        known_by,
        summary: None,
        failed_tests: Vec::new(),
    };
    if !alone {
        return not_a_run(
            "not counted: other commands shared the line, and they could print a summary or \
             change the exit status"
                .to_string(),
        );
    }
    if let Some(option) = args.iter().find(|a| {
        let name = a.split('=').next().unwrap_or(a);
        NOT_A_RUN.contains(&name)
    }) {
        return not_a_run(format!(
            "not counted: `{option}` lists or explains, it runs no test"
        ));
    }
    let runner = program.rsplit('/').next().unwrap_or(program);
    let summary = parse_runner_summary(runner, args, output);
    let failed_tests = failed_test_names(output);
    match &summary {
        Some(s) if s.passed + s.failed == 0 => {
            return not_a_run(format!(
                "not counted: {} ran no test ({} skipped or deselected)",
                s.runner, s.skipped
            ));
        }
        None if runner == "pytest" && exit_status == 5 => {
            return not_a_run("not counted: pytest collected no test (exit status 5)".into());
        }
        _ => {}
    }
    let (result, known_by) = match (&summary, exit_status) {
        (Some(s), 0) if s.failed == 0 => (
            "passed",
            format!("exit status 0 and {}'s own summary line", s.runner),
        ),
        (Some(s), 0) => (
            "failed",
            format!(
                "{}'s summary reports {} failed although the exit status is 0: the \
                 disagreement counts as a failure",
                s.runner, s.failed
            ),
        ),
        (Some(s), code) => (
            "failed",
            format!("exit status {code}, with {}'s own summary line", s.runner),
        ),
        (None, 0) => (
            "passed",
            "exit status 0 only: the output held no summary this runner prints".to_string(),
        ),
        (None, code) => (
            "failed",
            format!("exit status {code} only: the output held no summary this runner prints"),
        ),
    };
    TestEvidence {
        result,
        known_by,
        summary,
        failed_tests,
    }
}

/// The tests a runner named as failed, at most 50.
fn failed_test_names(output: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in output.lines() {
        let line = line.trim();
        let name = if let Some(rest) = line.strip_prefix("FAILED ") {
            rest.split(" - ").next()
        } else if let Some(rest) = line.strip_prefix("--- FAIL: ") {
            rest.split_whitespace().next()
        } else if line.starts_with("test ") && line.ends_with("... FAILED") {
            line.strip_prefix("test ")
                .and_then(|r| r.strip_suffix(" ... FAILED"))
        } else {
            None
        };
        if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty())
            && !names.iter().any(|n| n == name)
            && names.len() < 50
        {
            names.push(name.to_string());
        }
    }
    names
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn a_passing_run_is_known_by_status_and_summary() {
        let e = judge_test_run(
            "pytest",
            &args("billing/export/tests -q"),
            true,
            0,
            "....\n4 passed in 0.01s\n",
        );
        assert!(e.passed(), "{e:?}");
        assert!(e.known_by.contains("exit status 0"));
    }

    #[test]
    fn a_failing_status_wins_over_a_printed_summary() {
        let e = judge_test_run(
            "pytest",
            &args("billing/export/tests"),
            true,
            1,
            "FAILED billing/export/tests/test_filter.py::test_eu - assert 3 == 4\n\
             ======= 9 passed in 0.1s =======\n",
        );
        assert!(e.failed(), "{e:?}");
        assert_eq!(
            e.failed_tests,
            ["billing/export/tests/test_filter.py::test_eu"]
        );
    }

    #[test]
    fn other_commands_on_the_line_make_it_no_evidence() {
        let e = judge_test_run("pytest", &args("x"), false, 0, "9 passed in 0.1s\n");
        assert_eq!(e.result, "not a test run");
    }

    #[test]
    fn collect_only_and_empty_selections_are_not_runs() {
        for (a, status, out) in [
            (
                "billing/export/tests --co",
                0,
                "1 test collected in 0.01s\n",
            ),
            ("billing/export/tests --collect-only -q", 0, ""),
            (
                "billing/export/tests -k nothing",
                5,
                "1 deselected in 0.01s\n",
            ),
            (
                "billing/export/tests -k nothing",
                0,
                "===== 1 deselected in 0.01s =====\n",
            ),
            ("billing/export/tests", 5, "no tests ran in 0.01s\n"),
        ] {
            let e = judge_test_run("pytest", &args(a), true, status, out);
            assert_eq!(e.result, "not a test run", "{a}: {e:?}");
        }
    }

    #[test]
    fn only_the_runners_own_format_is_read() {
        // A cargo summary printed by a pytest run is not pytest's summary.
        let e = judge_test_run(
            "pytest",
            &args("billing/export/tests"),
            true,
            1,
            "test result: ok. 9 passed; 0 failed; 0 ignored\n",
        );
        assert!(e.failed());
        assert!(e.summary.is_none(), "{e:?}");
    }
}
