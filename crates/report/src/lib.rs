//! The reports over run records that the CLI and the team server both show, computed in
//! one place so the two cannot give different answers: the metrics and touch map
//! ([`metrics`]) and the rollout readiness questions ([`readiness`]).
//!
//! Pure: the caller reads the records (the CLI from `records.dir`, the server from its
//! database) and the configuration, and renders the result.

pub mod incident;
pub mod machines;
pub mod metrics;
pub mod readiness;
