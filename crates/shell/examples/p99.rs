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
//!
//! Last, text that is not Bash: 200 token soups of up to 1 KiB that do not parse (a
//! fixed seed, so every run times the same lines). These are outside the budget of
//! issue 3, which is for commands; they are timed to show what they cost instead: all of
//! them are opaque, so the hook refuses them.

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
    malformed((rounds / 10).max(10));
}

/// Shell-flavoured pieces for lines that do not parse.
const PIECES: &[&str] = &[
    "cat ",
    ".env ",
    "&& ",
    "| sh ",
    "$(",
    ")",
    "`",
    "<<EOF\n",
    "\nEOF\n",
    "'",
    "\"",
    "{a,b}",
    "${x:-",
    "}",
    "bash -c ",
    "find . -exec ",
    " \\; ",
    "sudo ",
    "cd x; ",
    "> f ",
    "2>&1 ",
    "[[ $x -eq 1 ]] ",
    "(( y )) ",
    "$'\\x41' ",
    "git -C d ",
    "*(e:'cat .env':) ",
    "( ",
    "{ ",
    "if ",
    "then ",
    "fi ",
    "case ",
    "in ",
    "esac ",
    "for ",
    "do ",
    "done ",
    "\n",
    "[ ",
    "] ",
    "a=(",
    "$((",
    "))",
    "<(",
    "${#",
    "|| ",
];

/// 200 lines under 1 KiB that tree-sitter-bash cannot parse, the same on every run.
fn malformed_lines() -> Vec<String> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut lines = Vec::new();
    while lines.len() < 200 {
        let count = 1 + random() % 120;
        let mut line = String::new();
        for _ in 0..count {
            let index = usize::try_from(random() % PIECES.len() as u64).unwrap_or(0);
            line.push_str(PIECES.get(index).copied().unwrap_or(""));
        }
        if line.len() < 1024 && !mandate_shell::analyze(&line).is_transparent() {
            lines.push(line);
        }
    }
    lines
}

/// Lines that are not Bash, timed `rounds` times each.
fn malformed(rounds: usize) {
    let lines = malformed_lines();
    let mut all = Vec::new();
    let mut slowest = (Duration::ZERO, 0);
    for line in &lines {
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            let analysis = mandate_shell::analyze(line);
            samples.push(start.elapsed());
            std::hint::black_box(analysis);
        }
        samples.sort();
        let p50 = percentile(&samples, 0.5);
        if p50 > slowest.0 {
            slowest = (p50, line.len());
        }
        all.extend(samples);
    }
    all.sort();
    println!(
        "\nnot Bash: {} lines under 1 KiB, all opaque, {rounds} calls each",
        lines.len()
    );
    println!(
        "{:<14} {:>6} {:>10.1?} {:>10.1?} {:>10.1?}",
        "not Bash",
        "",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or_default()
    );
    println!("slowest by p50: {:.1?} for {} bytes", slowest.0, slowest.1);
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
