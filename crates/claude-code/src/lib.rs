//! The Claude Code adapter: `mandate hook claude-code`.
//!
//! Claude Code runs this on every hook event with the event JSON on stdin, and reads a
//! JSON answer from stdout (`research/claude-code-hooks.md` §3). Claude Code fails open
//! when a hook crashes or prints something that is not JSON, so this entry point never
//! crashes: every internal error, a panic included, becomes an explicit deny on the
//! events that can deny, and a clean no-op on the others.
//!
//! [`protocol`] knows the wire format; [`hook`] decides what to answer; [`transcript`]
//! reads Claude Code's session transcript so that [`trail`] can account for every tool
//! use, the ones that never reached a hook included.

pub mod hook;
pub mod protocol;
pub mod reconcile;
pub mod trail;
pub mod transcript;

pub use hook::{HookArgs, run_hook};
pub use protocol::Outcome;
