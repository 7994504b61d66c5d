//! Record benchmarks: append with fsync, verify throughput, redaction.
//!
//! Run: `cargo bench -p mandate-record --bench record`. Budgets (DESIGN.md): verify
//! ≥ 500,000 events/s; the whole hook process median ≤ 2 ms including the append.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mandate_record::{RunLog, SigningKey, redact, verify};
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::Duration;

fn event(n: u64) -> Value {
    // A typical tool.pre as the hook writes it (~450 bytes stored).
    json!({
        "type": "tool.pre", "time": "2026-05-01T10:00:00.123456Z",
        "session_id": "3f1c2b7e-6f0e-4d8a-9a51-0c7f5d2e9b11",
        "tool_use_id": format!("toolu_01ABCDEFGHIJ{n:012}"), "tool": "Bash",
        "input": {"command": "pytest billing/export/tests -q", "description": "run the export tests"},
        "touches": [{"kind": "execute", "target": "pytest billing/export/tests -q"}],
        "decision": "allow", "rules": ["allow.execute.0"],
        "reason": "matches `pytest billing/export/tests*`", "mode": "enforce", "enforced": true,
    })
}

fn append(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let log = RunLog::create(&dir, "bench").unwrap();
    let mut g = c.benchmark_group("append");
    g.sample_size(200).measurement_time(Duration::from_secs(6));
    let mut n = 0;
    g.bench_function("append_fsync_open_handle", |b| {
        b.iter(|| {
            n += 1;
            log.append(event(n)).unwrap()
        })
    });
    // What a hook process does: open, read the tail once, append, fsync, close.
    g.bench_function("open_append_fsync", |b| {
        b.iter(|| {
            n += 1;
            RunLog::append_to(&dir, event(n)).unwrap()
        })
    });
    g.finish();
}

fn verify_throughput(c: &mut Criterion) {
    const N: u64 = 20_000;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let key = SigningKey::from_bytes(&[5; 32]);
    // Build the log quickly: write canonical lines directly via a scratch run, then
    // append through the API in bulk (fsync per append makes 20k appends slow).
    {
        let log = RunLog::create(&dir, "bench").unwrap();
        let mut lines = Vec::new();
        let mut prev = mandate_record::read_entries(&dir).unwrap()[0].leaf_hash();
        for i in 1..N {
            let mut v = event(i);
            v["i"] = json!(i);
            v["prev"] = json!(mandate_record::digest::hex(&prev));
            let bytes = mandate_record::canonical::to_vec(&v).unwrap();
            prev = mandate_record::merkle::leaf_hash(&bytes);
            lines.extend_from_slice(&bytes);
            lines.push(b'\n');
        }
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("log.jsonl"))
            .unwrap()
            .write_all(&lines)
            .unwrap();
        log.checkpoint(&key, "mandate.dev/run/bench").unwrap();
    }
    let bytes = std::fs::metadata(dir.join("log.jsonl")).unwrap().len();
    eprintln!(
        "verify bench: {N} entries, {bytes} bytes ({} bytes/entry)",
        bytes / N
    );
    let vk = key.verifying_key();
    let mut g = c.benchmark_group("verify");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(N));
    g.bench_function("verify_20k_events", |b| {
        b.iter(|| {
            let r = verify(&dir, &vk);
            assert!(r.ok);
            r
        })
    });
    g.finish();
}

fn redaction(c: &mut Criterion) {
    let mut g = c.benchmark_group("redact");
    g.bench_function("event_without_secrets", |b| {
        b.iter_batched(
            || event(1),
            |mut v| {
                redact::redact(&mut v);
                v
            },
            BatchSize::SmallInput,
        )
    });
    let secret = json!({"type": "tool.pre", "input": {"command":
        "curl -H 'Authorization: Bearer abcdefghijklmnop0123456789' https://api.example.com && export GH=ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5"}});
    g.bench_function("event_with_two_secrets", |b| {
        b.iter_batched(
            || secret.clone(),
            |mut v| {
                redact::redact(&mut v);
                v
            },
            BatchSize::SmallInput,
        )
    });
    // Start-up cost a fresh process would pay: compiling every rule's regex (only rules
    // whose keywords occur are compiled in practice; the keyword table itself is built in
    // a few hundred instructions, see `scripts/bench.sh --callgrind`).
    g.sample_size(20);
    g.bench_function("startup_compile_all_regexes", |b| {
        b.iter(|| {
            redact::rules()
                .map(|(_, _, p)| {
                    regex::bytes::RegexBuilder::new(black_box(p))
                        .unicode(false)
                        .build()
                        .unwrap()
                })
                .collect::<Vec<_>>()
        })
    });
    g.bench_function("startup_compile_generic_api_key_regex", |b| {
        let p = redact::rules()
            .find(|r| r.0 == "generic-api-key")
            .unwrap()
            .2;
        b.iter(|| {
            regex::bytes::RegexBuilder::new(black_box(p))
                .unicode(false)
                .build()
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, append, verify_throughput, redaction);
criterion_main!(benches);
