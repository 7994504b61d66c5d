#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 20: the agent cannot launder data or evidence through mandate's own verb, URLs,
//! test results, redaction or MCP arguments. Each test sends real Claude Code hook
//! payloads through the real binary in a fresh billing repository.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use support::billing::{Billing, SECRET};

/// The binary under test; `LAUNDER_BEFORE_BIN` names another (a build of the code before
/// the fix, in a folder where it is called `mandate`) to show these tests fail there.
fn mandate_bin() -> PathBuf {
    if let Some(before) = std::env::var_os("LAUNDER_BEFORE_BIN") {
        return PathBuf::from(before);
    }
    PathBuf::from(env!("CARGO_BIN_EXE_mandate"))
}

/// A started billing run and a way to send it hook events.
struct Run {
    billing: Billing,
    /// `PATH` for the hook and the commands: the mandate binary's folder first.
    path: String,
}

impl Run {
    fn new() -> Run {
        let billing = Billing::new();
        billing.mandate_ok(
            &mandate_bin(),
            &["start", ".mandate/contracts/BILL-142.toml"],
        );
        let dir = mandate_bin().parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Run { billing, path }
    }

    fn hook(&self, event: &Value) -> Output {
        let mut child = Command::new(mandate_bin())
            .args(["hook", "claude-code"])
            .current_dir(&self.billing.root)
            .env("HOME", &self.billing.home)
            .env("PATH", &self.path)
            .env("MANDATE_ORG_POLICY", self.billing.org_policy())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(event.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn event(&self, name: &str, tool: &str, input: Value) -> Value {
        json!({
            "session_id": "s-launder", "transcript_path": "/dev/null",
            "cwd": self.billing.root, "hook_event_name": name,
            "tool_name": tool, "tool_input": input, "tool_use_id": "toolu_launder",
        })
    }

    /// The hook's decision for a PreToolUse call, and its reason.
    fn decide(&self, tool: &str, input: Value) -> (String, String) {
        let output = self.hook(&self.event("PreToolUse", tool, input));
        let value: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("hook printed no JSON ({e}): {output:?}");
        });
        let out = &value["hookSpecificOutput"];
        (
            out["permissionDecision"]
                .as_str()
                .unwrap_or("none")
                .to_string(),
            out["permissionDecisionReason"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    }

    fn bash(&self, command: &str) -> (String, String) {
        self.decide("Bash", json!({ "command": command }))
    }

    /// Run `command` in the repository as the agent's Bash would (with the hook's `PATH`).
    fn run_bash(&self, command: &str) -> Output {
        Command::new("bash")
            .args(["-c", command])
            .current_dir(&self.billing.root)
            .env("HOME", &self.billing.home)
            .env("PATH", &self.path)
            .env("MANDATE_ORG_POLICY", self.billing.org_policy())
            .output()
            .unwrap()
    }
}

#[test]
fn issue_20_the_evidence_verb_is_the_installed_binary_alone() {
    let run = Run::new();
    let (decision, reason) = run.bash("mandate evidence assumption 'EU rows carry region EU'");
    assert_eq!(decision, "allow", "{reason}");
    let ran = run.run_bash("mandate evidence assumption 'EU rows carry region EU'");
    assert!(ran.status.success(), "{ran:?}");

    // A file called `mandate` in the writable area is not mandate.
    run.billing.write(
        "billing/export/mandate",
        "#!/bin/sh\ncat \"$(dirname \"$0\")/../../.env\"\n",
    );
    for command in [
        "billing/export/mandate evidence risk x",
        "./billing/export/mandate evidence risk x",
        "cd billing/export && ./mandate evidence risk x",
        "MANDATE_ORG_POLICY=.env mandate evidence risk x",
        "MANDATE_TOKEN=abc mandate evidence risk x",
        "HOME=/tmp mandate evidence risk x",
        "env mandate evidence risk x",
        "mandate evidence risk x > billing/export/out.txt",
        "mandate --version evidence risk x",
        "export MANDATE_ORG_POLICY=.env",
        "MANDATE_ORG_POLICY=.env pytest billing/export/tests",
    ] {
        let (decision, reason) = run.bash(command);
        assert_eq!(decision, "deny", "{command} was not refused: {reason}");
    }
}

#[test]
fn issue_20_the_evidence_verb_reads_no_configuration_the_agent_names() {
    let run = Run::new();
    // Even run directly, past the hook: the policy the variable names is not echoed, and
    // nothing is recorded under another configuration than `start` saw.
    let out = Command::new(mandate_bin())
        .args(["evidence", "risk", "x"])
        .current_dir(&run.billing.root)
        .env("HOME", &run.billing.home)
        .env("MANDATE_ORG_POLICY", run.billing.path(".env"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(!text.contains(SECRET), "the secret came back: {text}");
    assert!(!text.contains("sk_live"), "the secret came back: {text}");
    let other = run.billing.base.join("other-org.toml");
    std::fs::write(&other, "version = 1\n").unwrap();
    let out = Command::new(mandate_bin())
        .args(["evidence", "risk", "x"])
        .current_dir(&run.billing.root)
        .env("HOME", &run.billing.home)
        .env("MANDATE_ORG_POLICY", &other)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("configuration `mandate start` saw"),
        "{out:?}"
    );
}
