//! Percentiles of `analyze` over many single calls, per representative line and overall:
//! `cargo run --release -p mandate-shell --example p99 [-- ROUNDS]`.
//!
//! Each sample times one call, the way the hook makes one call per process; the lines are
//! the benchmark's (`benches/analyze.rs`). The first call (which creates the parser) is
//! reported separately: it is what a fresh hook process pays once.
//!
//! Then the same over a population: every command of the policy corpus
//! (`crates/policy/tests/corpus/*.toml`, benign and adversarial, all under 1 KiB), each
//! analysed `ROUNDS / 10` times, with the slowest commands named.

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
    corpus((rounds / 10).max(10));
}

/// Every command of the policy corpus, timed `rounds` times each.
fn corpus(rounds: usize) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/tests/corpus");
    let mut commands = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(value) = text.parse::<toml::Table>() else {
            continue;
        };
        let cases = value.get("case").and_then(toml::Value::as_array);
        for case in cases.into_iter().flatten() {
            if let Some(command) = case.get("command").and_then(toml::Value::as_str)
                && command.len() < 1024
            {
                commands.push(command.to_string());
            }
        }
    }
    let mut all = Vec::new();
    let mut slowest: Vec<(Duration, usize, String)> = Vec::new();
    for command in &commands {
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            let analysis = mandate_shell::analyze(command);
            samples.push(start.elapsed());
            std::hint::black_box(analysis);
        }
        samples.sort();
        slowest.push((percentile(&samples, 0.5), command.len(), command.clone()));
        all.extend(samples);
    }
    all.sort();
    println!(
        "\ncorpus: {} commands under 1 KiB, {rounds} calls each",
        commands.len()
    );
    println!(
        "{:<14} {:>6} {:>10.1?} {:>10.1?} {:>10.1?}",
        "corpus",
        "",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or_default()
    );
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    println!("slowest by p50:");
    for (p50, bytes, command) in slowest.iter().take(5) {
        let shown: String = command.chars().take(70).collect();
        println!("  {p50:>9.1?} {bytes:>5} B  {shown}");
    }
}
