//! Whole-process latency of hook commands, side by side.
//!
//! Each variant is a command and the file fed to it on stdin, as Claude Code runs a hook:
//! spawn, write the event, read stdout to the end, wait. The clock covers all of that.
//! Variants run interleaved, round by round in a freshly shuffled order each round, so a
//! change in machine load hits every variant alike instead of skewing one of them, and so
//! does what one variant leaves behind (the Python hook's exit frees tens of megabytes,
//! which slowed whichever variant always ran next by ~0.3 ms).
//!
//! Built by `scripts/bench.sh` with plain `rustc -O`: no dependencies, not a workspace
//! member, so it never slows the project's own build.
//!
//!     harness --runs N --warmup W --json OUT SPEC
//!
//! SPEC has one variant a line, tab-separated: name, stdin file, a substring the first
//! answer must contain (`-` for none), then the program and its arguments. Variants named
//! `mandate*` are checked against the budgets, with `cat` as the floor and `python` as the
//! hook teams write today.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

struct Variant {
    name: String,
    stdin: String,
    expect: String,
    argv: Vec<String>,
    micros: Vec<f64>,
}

struct Stats {
    median: f64,
    p99: f64,
    mean: f64,
    min: f64,
    max: f64,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("harness: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let mut runs = 300usize;
    let mut warmup = 30usize;
    let mut json_out: Option<String> = None;
    let mut spec: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--runs" => {
                runs = value("--runs")?
                    .parse()
                    .map_err(|e| format!("--runs: {e}"))?
            }
            "--warmup" => {
                warmup = value("--warmup")?
                    .parse()
                    .map_err(|e| format!("--warmup: {e}"))?
            }
            "--json" => json_out = Some(value("--json")?),
            other if spec.is_none() && !other.starts_with('-') => spec = Some(other.to_string()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let spec = spec.ok_or("usage: harness [--runs N] [--warmup W] [--json OUT] SPEC")?;
    let text = std::fs::read_to_string(&spec).map_err(|e| format!("cannot read `{spec}`: {e}"))?;
    let mut variants = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 4 {
            return Err(format!(
                "a spec line needs name, stdin, expect, program: `{line}`"
            ));
        }
        variants.push(Variant {
            name: fields[0].to_string(),
            stdin: fields[1].to_string(),
            expect: fields[2].to_string(),
            argv: fields[3..].iter().map(|s| s.to_string()).collect(),
            micros: Vec::with_capacity(runs),
        });
    }

    // Check each variant answers what it should before timing anything.
    for variant in &variants {
        let (_, stdout) = spawn_once(variant)?;
        if variant.expect != "-" && !stdout.contains(&variant.expect) {
            return Err(format!(
                "`{}` answered {stdout:?}, which does not contain `{}`",
                variant.name, variant.expect
            ));
        }
    }

    let count = variants.len();
    let mut order: Vec<usize> = (0..count).collect();
    // xorshift64, fixed seed: the same sequence of orders on every run.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..warmup + runs {
        for i in (1..count).rev() {
            let j = (random() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for &index in &order {
            let variant = &mut variants[index];
            let (elapsed, _) = spawn_once(variant)?;
            if round >= warmup {
                variant.micros.push(elapsed);
            }
        }
    }

    let stats: Vec<Stats> = variants.iter().map(|v| stats(&v.micros)).collect();
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "variant", "median µs", "p99 µs", "mean µs", "min µs", "max µs"
    );
    for (variant, s) in variants.iter().zip(&stats) {
        println!(
            "{:<24} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>10.0}",
            variant.name, s.median, s.p99, s.mean, s.min, s.max
        );
    }

    let find = |name: &str| variants.iter().position(|v| v.name == name);
    let floor = find("cat").map(|i| stats[i].median);
    let python = find("python").map(|i| stats[i].median);
    let mut all_met = true;
    println!();
    println!("targets: median ≤ 1.5 × cat, p99 ≤ 5000 µs, ≥ 10 × faster than python");
    for (variant, s) in variants.iter().zip(&stats) {
        if !variant.name.starts_with("mandate") {
            continue;
        }
        let mut line = format!("{:<24}", variant.name);
        if let Some(floor) = floor {
            let ratio = s.median / floor;
            let met = ratio <= 1.5;
            all_met &= met;
            let _ = write!(line, " median/cat {ratio:>5.2} {}", verdict(met));
        }
        let met = s.p99 <= 5000.0;
        all_met &= met;
        let _ = write!(line, "  p99 {:>6.0} µs {}", s.p99, verdict(met));
        if let Some(python) = python {
            let speedup = python / s.median;
            let met = speedup >= 10.0;
            all_met &= met;
            let _ = write!(line, "  python/mandate {speedup:>5.1}× {}", verdict(met));
        }
        println!("{line}");
    }

    if let Some(path) = json_out {
        let mut json = String::from("{\"runs\": ");
        let _ = write!(json, "{runs}, \"warmup\": {warmup}, \"variants\": [");
        for (index, (variant, s)) in variants.iter().zip(&stats).enumerate() {
            if index > 0 {
                json.push_str(", ");
            }
            let _ = write!(
                json,
                "{{\"name\": \"{}\", \"median_us\": {:.1}, \"p99_us\": {:.1}, \"mean_us\": {:.1}, \
                 \"min_us\": {:.1}, \"max_us\": {:.1}, \"times_us\": [{}]}}",
                variant.name,
                s.median,
                s.p99,
                s.mean,
                s.min,
                s.max,
                variant
                    .micros
                    .iter()
                    .map(|t| format!("{t:.1}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        json.push_str("]}\n");
        std::fs::write(&path, json).map_err(|e| format!("cannot write `{path}`: {e}"))?;
    }
    Ok(if all_met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn verdict(met: bool) -> &'static str {
    if met {
        "ok"
    } else {
        "MISSED"
    }
}

/// Spawn the variant once with its stdin file; returns elapsed µs and what it printed.
fn spawn_once(variant: &Variant) -> Result<(f64, String), String> {
    let stdin =
        File::open(&variant.stdin).map_err(|e| format!("cannot open `{}`: {e}", variant.stdin))?;
    let start = Instant::now();
    let mut child = Command::new(&variant.argv[0])
        .args(&variant.argv[1..])
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", variant.argv[0]))?;
    let mut stdout = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut stdout);
    }
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    let elapsed = start.elapsed().as_secs_f64() * 1e6;
    if !status.success() {
        return Err(format!("`{}` exited with {status}", variant.name));
    }
    Ok((elapsed, stdout))
}

fn stats(samples: &[f64]) -> Stats {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    if n == 0 {
        return Stats {
            median: 0.0,
            p99: 0.0,
            mean: 0.0,
            min: 0.0,
            max: 0.0,
        };
    }
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    // Nearest rank: the smallest sample at or above 99 % of all samples.
    let rank = ((0.99 * n as f64).ceil() as usize).clamp(1, n);
    Stats {
        median,
        p99: sorted[rank - 1],
        mean: sorted.iter().sum::<f64>() / n as f64,
        min: sorted[0],
        max: sorted[n - 1],
    }
}
