//! The Claude Code adapter: `mandate hook claude-code`.
//!
//! Claude Code runs this on every hook event with the event JSON on stdin, and reads a
//! JSON answer from stdout (`research/claude-code-hooks.md` §3). Claude Code fails open
//! when a hook crashes or prints something that is not JSON, so this entry point never
//! crashes: every internal error, a panic included, becomes an explicit deny on the
//! events that can deny, and a clean no-op on the others.
//!
//! This crate only translates: [`hook`] turns Claude Code's payload into a
//! [`mandate_run::Event`] (Claude Code's tool names are mandate's canonical vocabulary, so
//! tool calls pass through as they are) and the run's [`mandate_run::Answer`] back into
//! Claude Code's JSON, which [`protocol`] knows. What happens to the call is the run's.
//! [`transcript`] reads Claude Code's session transcript for the run's reconciliation
//! (`mandate_run::trail`), which accounts for the calls no hook saw.

pub mod hook;
pub mod protocol;
pub mod transcript;

pub use hook::{HookArgs, run_hook};
pub use protocol::Outcome;
