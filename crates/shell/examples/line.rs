//! One sample line analysed many times, for instruction counts:
//! `valgrind --tool=callgrind target/release/examples/line NAME [ROUNDS]`.
//!
//! `NAME` is a line of `benches/lines.rs` (`long 1 KiB`, `find exec`, …), or `text:LINE`
//! for a line given whole. The first call (creating the parser) is made
//! before the counted ones, so `instructions / ROUNDS` is what one warm call costs.

#[path = "../benches/lines.rs"]
mod lines;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "long 1 KiB".to_string());
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let _ = mandate_shell::analyze("true");
    let named = lines::LINES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, l)| *l);
    let given = name.strip_prefix("text:");
    let Some(line) = named.or(given) else {
        eprintln!("no line named `{name}`; the lines are:");
        for (n, _) in lines::LINES {
            eprintln!("  {n}");
        }
        std::process::exit(2);
    };
    for _ in 0..rounds {
        std::hint::black_box(mandate_shell::analyze(std::hint::black_box(line)));
    }
}
