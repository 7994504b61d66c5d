#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The billing walk-through against the real Codex CLI (0.169.0, from npm).
//!
//! Each test builds the billing repository, opens the BILL-142 run, runs `mandate install
//! --agent codex` (project hooks trusted in the user's Codex config, sandbox settings,
//! execpolicy rules), and lets `codex exec` work through a scripted sequence of calls
//! served by a model on 127.0.0.1 — with no trust-bypass flag, so the hooks run only
//! because the installation made Codex trust them. The Must-show cases are written once
//! for every agent in `support::scripted`; what only Codex has (`write_stdin`, patches of
//! several files, its own configuration) is tested here.
//!
//! Needs Codex (`scripts/install-agents.sh codex`) and, for the test step, `pytest`.

mod support;

use support::codex::Codex;
use support::scripted::{AgentCli, E2e, patch};

must_show! { Codex;
    walkthrough: in_scope_work_runs_and_everything_outside_the_box_is_refused,
    stop_gate: the_stop_gate_keeps_codex_working_until_the_evidence_is_on_record,
    stop_condition: a_stop_condition_halts_the_session,
    kill_switch: the_kill_switch_thrown_mid_session_holds_from_the_next_call,
    subagent: a_subagent_is_held_to_the_contract,
}

/// What Codex leaves open or adds: `write_stdin` feeds a running shell with no hook, one
/// patch may touch several files, and Codex's own configuration holds the backstops.
#[test]
fn interactive_shells_mixed_patches_and_codex_config_are_refused() {
    let Some(e2e) =
        E2e::<Codex>::new("interactive_shells_mixed_patches_and_codex_config_are_refused")
    else {
        return;
    };
    let session = e2e.session(
        vec![
            Codex::shell("python3"),
            patch(
                "*** Update File: billing/export/filter.py\n@@\n-\"\"\"Which invoice rows the nightly export sends to the ledger.\"\"\"\n+\"\"\"Export filter.\"\"\"\n*** Add File: secrets/new.key\n+x\n",
            ),
            patch("*** Add File: .codex/rules/open.rules\n+prefix_rule(pattern=[\"git\"], decision=\"allow\")\n"),
            Codex::shell("echo 'sandbox_mode = \"danger-full-access\"' >> .codex/config.toml"),
        ],
        vec![],
        None,
    );
    let interactive = session.assert_refused(0, "an interactive python3 (write_stdin has no hook)");
    assert!(interactive.contains("python3"), "{interactive}");
    // One refused file refuses the whole patch: the allowed half did not land either.
    session.assert_refused(1, "a patch touching a secret beside an allowed file");
    assert!(!e2e.billing.path("secrets/new.key").exists());
    assert!(
        e2e.billing
            .read("billing/export/filter.py")
            .unwrap()
            .contains("nightly export")
    );
    session.assert_refused(2, "a new Codex rules file");
    session.assert_refused(3, "loosening Codex's sandbox");
    assert!(!e2e.billing.path(".codex/rules/open.rules").exists());
    assert!(
        !e2e.billing
            .read(".codex/config.toml")
            .unwrap()
            .contains("danger")
    );
    assert!(
        e2e.billing.changed_paths().is_empty(),
        "{:?}",
        e2e.billing.changed_paths()
    );
}
