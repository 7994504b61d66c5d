//! Shared pieces of the end-to-end suites that drive real agent binaries: the scripted
//! model servers, the runners and the billing repository fixture. Claude Code has its own
//! (`model`, `claude`); every other agent shares `scripted` and adds only its wire format
//! and command line (`codex`, `gemini`, `copilot`).

#![allow(dead_code)] // each test file uses its own part of the support code

pub mod billing;
pub mod claude;
pub mod codex;
pub mod copilot;
pub mod gemini;
pub mod model;
pub mod scripted;
