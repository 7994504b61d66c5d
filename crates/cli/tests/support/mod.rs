//! Shared pieces of the end-to-end suite that drives the real Claude Code binary: the
//! scripted model server, the `claude -p` runner and the billing repository fixture.

#![allow(dead_code)] // each test file uses its own part of the support code

pub mod billing;
pub mod claude;
pub mod codex;
pub mod gemini;
pub mod model;
