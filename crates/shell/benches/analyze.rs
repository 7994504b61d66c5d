//! Analysis time for representative command lines under 1 KiB.
//!
//! `cargo bench -p mandate-shell --bench analyze` reports criterion's mean per line;
//! `cargo run --release -p mandate-shell --example p99` reports percentiles over many
//! single calls, which is what the hook's budget (p99 ≤ 100 µs) is about.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

mod lines;
use lines::LINES;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("analyze");
    for (name, line) in LINES {
        assert!(line.len() <= 1024, "{name} is over 1 KiB");
        group.bench_function(*name, |b| {
            b.iter(|| mandate_shell::analyze(black_box(line)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
