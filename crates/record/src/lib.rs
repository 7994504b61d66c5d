//! The run record (placeholder; the run-record work fills this crate in).
