//! Percentiles of `analyze` over many single calls, per representative line and overall:
//! `cargo run --release -p mandate-shell --example p99 [-- ROUNDS]`.
//!
//! Each sample times one call, the way the hook makes one call per process; the lines are
//! the benchmark's (`benches/analyze.rs`). The first call (which creates the parser) is
//! reported separately: it is what a fresh hook process pays once.

use std::time::{Duration, Instant};

#[path = "../benches/lines.rs"]
mod lines;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let start = Instant::now();
    let _ = mandate_shell::analyze("true");
    println!("first call (parser creation): {:?}", start.elapsed());
    let mut all = Vec::new();
    println!(
        "{:<14} {:>6} {:>10} {:>10} {:>10}",
        "line", "bytes", "p50", "p99", "max"
    );
    for (name, line) in lines::LINES {
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            let analysis = mandate_shell::analyze(line);
            samples.push(start.elapsed());
            std::hint::black_box(analysis);
        }
        samples.sort();
        println!(
            "{:<14} {:>6} {:>10.1?} {:>10.1?} {:>10.1?}",
            name,
            line.len(),
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
            samples.last().copied().unwrap_or_default()
        );
        all.extend(samples);
    }
    all.sort();
    println!(
        "{:<14} {:>6} {:>10.1?} {:>10.1?} {:>10.1?}",
        "all",
        "",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or_default()
    );
}
