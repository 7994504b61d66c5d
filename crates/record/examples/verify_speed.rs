//! Builds a run of N typical entries (~550 bytes) and reports verify throughput as the
//! best of 15 runs (best-of filters out noise from other work on the machine).
//!
//! Usage: verify_speed [N]   (`taskset -c 0` for a single-core figure)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mandate_record::{RunLog, SigningKey, verify};
use serde_json::json;
use std::io::Write as _;
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(100_000, |a| a.parse().unwrap());
    let tmp = std::env::temp_dir().join(format!("mandate-verify-speed-{}", std::process::id()));
    let dir = tmp.join("run");
    let key = SigningKey::from_bytes(&[5; 32]);
    let log = RunLog::create(&dir, "bench").unwrap();
    let mut prev = log.entries().unwrap().first().unwrap().leaf_hash();
    let mut lines = Vec::new();
    for i in 1..n {
        let v = json!({
            "type": "tool.pre", "time": "2026-05-01T10:00:00.123456Z",
            "session_id": "3f1c2b7e-6f0e-4d8a-9a51-0c7f5d2e9b11",
            "tool_use_id": format!("toolu_01ABCDEFGHIJ{i:012}"), "tool": "Bash",
            "input": {"command": "pytest billing/export/tests -q", "description": "run the export tests"},
            "touches": [{"kind": "execute", "target": "pytest billing/export/tests -q"}],
            "decision": "allow", "rules": ["allow.execute.0"],
            "reason": "matches `pytest billing/export/tests*`", "mode": "enforce", "enforced": true,
            "i": i, "prev": mandate_record::digest::hex(&prev),
        });
        let bytes = mandate_record::canonical::to_vec(&v).unwrap();
        prev = mandate_record::merkle::leaf_hash(&bytes);
        lines.extend_from_slice(&bytes);
        lines.push(b'\n');
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("log.jsonl"))
        .unwrap()
        .write_all(&lines)
        .unwrap();
    log.checkpoint(&key, "mandate.dev/run/bench").unwrap();
    let bytes = std::fs::metadata(dir.join("log.jsonl")).unwrap().len();
    let vk = key.verifying_key();
    let mut best = f64::MAX;
    for _ in 0..15 {
        let t = Instant::now();
        let r = verify(&dir, &vk);
        best = best.min(t.elapsed().as_secs_f64());
        assert!(r.ok);
    }
    println!(
        "{n} entries, {} bytes/entry, {} threads: best {:.1} ms = {:.0} events/s",
        bytes / n,
        std::thread::available_parallelism().map_or(1, |p| p.get()),
        best * 1e3,
        n as f64 / best
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}
