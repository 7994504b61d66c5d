#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The billing walk-through against the real Copilot CLI (1.0.102, from npm), headless and
//! offline (`copilot -p --allow-all-tools`, `COPILOT_OFFLINE=true`) against a scripted
//! model on 127.0.0.1 speaking Chat Completions.
//!
//! Each test builds the billing repository, opens the BILL-142 run and runs `mandate
//! install --agent copilot` (camelCase hooks in `~/.copilot/settings.json`, which Copilot
//! runs without folder trust). The Must-show cases are written once for every agent in
//! `support::scripted`. The PascalCase dialect, which Copilot sends when hooks are
//! registered under Claude-style event names, is covered by the captured payloads in
//! `crates/agents/tests/payloads.rs`.
//!
//! Needs Copilot (`scripts/install-agents.sh copilot`), Python 3 and, for the test step,
//! `pytest`.

mod support;

use support::copilot::Copilot;

must_show! { Copilot;
    walkthrough: copilot_in_scope_work_runs_and_everything_outside_the_box_is_refused,
    stop_gate: copilot_stop_gate_keeps_it_working_until_the_evidence_is_on_record,
    stop_condition: copilot_stop_condition_halts_the_session,
    kill_switch: copilot_kill_switch_thrown_mid_session_holds_from_the_next_call,
    subagent: copilot_subagent_is_held_to_the_contract,
}
