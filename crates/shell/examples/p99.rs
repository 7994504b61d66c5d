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

/// `rounds` single calls on `line`, sorted.
fn timed(line: &str, rounds: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let analysis = mandate_shell::analyze(line);
        samples.push(start.elapsed());
        std::hint::black_box(analysis);
    }
    samples.sort();
    samples
}

/// One row: name, bytes, p50, p99, max of `sorted`.
fn row(name: &str, bytes: &str, sorted: &[Duration]) {
    println!(
        "{:<14} {:>6} {:>10.1?} {:>10.1?} {:>10.1?}",
        name,
        bytes,
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        sorted.last().copied().unwrap_or_default()
    );
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
        let samples = timed(line, rounds);
        row(name, &line.len().to_string(), &samples);
        all.extend(samples);
    }
    all.sort();
    row("all", "", &all);
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
    let title = format!("not Bash: {} lines under 1 KiB, all opaque", lines.len());
    population(&title, "not Bash", &lines, rounds);
}

/// Each line timed `rounds` times: the rows of all samples, and the slowest lines.
fn population(title: &str, label: &str, lines: &[String], rounds: usize) {
    let mut all = Vec::new();
    let mut slowest: Vec<(Duration, usize, &str)> = Vec::new();
    for line in lines {
        let samples = timed(line, rounds);
        slowest.push((percentile(&samples, 0.5), line.len(), line));
        all.extend(samples);
    }
    all.sort();
    println!("\n{title}, {rounds} calls each");
    row(label, "", &all);
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    println!("slowest by p50:");
    for (p50, bytes, line) in slowest.iter().take(5) {
        let shown: String = line.chars().take(70).collect();
        println!("  {p50:>9.1?} {bytes:>5} B  {}", shown.replace('\n', "\\n"));
    }
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
    let title = format!("corpus: {} commands under 1 KiB", commands.len());
    population(&title, "corpus", &commands, rounds);
}
