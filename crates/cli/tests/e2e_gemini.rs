#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The billing walk-through against the real Gemini CLI (0.61.0, from npm), headless
//! (`gemini -p --yolo`) against a scripted model on 127.0.0.1.
//!
//! Each test builds the billing repository, opens the BILL-142 run and runs `mandate
//! install --agent gemini` (project hooks, the folder trusted, policy-engine rules). The
//! Must-show cases are written once for every agent in `support::scripted`. Gemini's
//! subagent calls carry nothing that names the subagent: they are judged (and recorded)
//! as the session's, which still holds them to the contract.
//!
//! Needs Gemini (`scripts/install-agents.sh gemini`), Node.js and, for the test step,
//! `pytest`.

mod support;

use support::gemini::Gemini;

must_show! { Gemini;
    walkthrough: gemini_in_scope_work_runs_and_everything_outside_the_box_is_refused,
    stop_gate: gemini_stop_gate_keeps_it_working_until_the_evidence_is_on_record,
    stop_condition: gemini_stop_condition_halts_the_session,
    kill_switch: gemini_kill_switch_thrown_mid_session_holds_from_the_next_call,
    subagent: gemini_subagent_is_held_to_the_contract,
}
