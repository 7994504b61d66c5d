//! A load generator for `mandate-server`: how many run-record entries it ingests per
//! second, and how fast its API answers while it does.
//!
//! ```text
//! cargo run --release -p mandate-server --example load -- \
//!     --url http://127.0.0.1:8417 --token mdt_… [--runs 64 --entries 2000 --batch 500 \
//!     --clients 8 --seconds 20 --ca ca.pem]
//! ```
//!
//! Phase 1 (ingest): `--runs` synthetic runs of `--entries` entries each (real canonical
//! entries, chained, with a signed checkpoint at the end, built in memory) are pushed by
//! `--clients` threads in batches of `--batch`, as `mandate push` would. Reported: entries
//! per second over the wall time, and the latency of each push request.
//!
//! Phase 2 (API latency under load): for `--seconds`, the same threads send what a team
//! sends: 60 % the hooks' `GET /api/v1/sync`, 20 % a run summary, 20 % a push of 10 new
//! entries to a live run. Reported: p50, p99 and max per request kind.
//!
//! Every request opens its own connection, as the hook and `mandate push` do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark tool: a failed request should stop it loudly"
)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mandate_project::remote::Server;
use mandate_record::checkpoint::{Checkpoint, verifier_key_string};
use mandate_record::{SigningKey, canonical, merkle};
use serde_json::{Value, json};

struct Args {
    url: String,
    token: String,
    runs: usize,
    entries: usize,
    batch: usize,
    clients: usize,
    seconds: u64,
    /// The CA an `https://` server's certificate is checked against.
    ca: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        url: "http://127.0.0.1:8417".into(),
        token: String::new(),
        runs: 64,
        entries: 2000,
        batch: 500,
        clients: 8,
        seconds: 20,
        ca: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < argv.len() {
        let v = argv[i + 1].clone();
        match argv[i].as_str() {
            "--url" => a.url = v,
            "--token" => a.token = v,
            "--ca" => a.ca = Some(v),
            "--runs" => a.runs = v.parse().unwrap(),
            "--entries" => a.entries = v.parse().unwrap(),
            "--batch" => a.batch = v.parse().unwrap(),
            "--clients" => a.clients = v.parse().unwrap(),
            "--seconds" => a.seconds = v.parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    assert!(!a.token.is_empty(), "--token is required");
    a
}

/// A run's log, as the recorder would have written it.
struct Run {
    id: String,
    key: String,
    lines: Vec<String>,
    leaves: Vec<merkle::Hash>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Run {
    fn new(id: String, signer: &SigningKey) -> Run {
        let key = verifier_key_string(&origin(&id), &signer.verifying_key());
        let mut run = Run {
            id: id.clone(),
            key,
            lines: Vec::new(),
            leaves: Vec::new(),
        };
        run.add(json!({"format": "mandate-record/1", "run_id": id, "type": "record.create"}));
        run.add(
            json!({"type": "run.start", "run_id": id, "user": "load@example.com",
            "mode": "enforce", "contract": {"id": "LOAD-1", "request": "load test",
            "delegated_by": "load@example.com", "agent": "claude-code",
            "allow": {"read": ["billing/**"], "write": ["billing/**"]}}}),
        );
        run
    }

    fn add(&mut self, mut event: Value) {
        let i = self.lines.len();
        event["i"] = json!(i);
        event["time"] = json!(mandate_record::now_rfc3339());
        if let Some(prev) = self.leaves.last() {
            event["prev"] = json!(hex(prev));
        }
        let bytes = canonical::to_vec(&event).unwrap();
        self.leaves.push(merkle::leaf_hash(&bytes));
        self.lines.push(String::from_utf8(bytes).unwrap());
    }

    fn add_call(&mut self) {
        let k = self.lines.len();
        let path = format!("/work/repo/billing/export/module_{k}.py");
        self.add(json!({"type": "tool.pre", "session_id": "s1", "tool_use_id": format!("toolu_{k}"),
            "tool": "Read", "input": {"file_path": path}, "decision": if k.is_multiple_of(10) { "deny" } else { "allow" },
            "touches": [{"kind": "read", "target": path, "decision": "allow", "rules": ["contract.allow.read[0]"]}],
            "rules": ["contract.allow.read[0]"], "mode": "enforce", "enforced": true,
            "reason": "reading `billing/export/module.py` is allowed by the contract (`billing/**`)"}));
    }

    fn checkpoint(&self, signer: &SigningKey) -> String {
        Checkpoint::sign(
            &origin(&self.id),
            self.lines.len() as u64,
            merkle::root(&self.leaves),
            signer,
        )
        .unwrap()
        .note
    }
}

fn origin(id: &str) -> String {
    format!("mandate.local/run/{id}")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, mut ms: Vec<f64>, seconds: f64) -> Value {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let s = json!({
        "requests": ms.len(),
        "per_second": (ms.len() as f64 / seconds).round(),
        "p50_ms": (percentile(&ms, 50.0) * 100.0).round() / 100.0,
        "p99_ms": (percentile(&ms, 99.0) * 100.0).round() / 100.0,
        "max_ms": (ms.last().copied().unwrap_or(0.0) * 100.0).round() / 100.0,
    });
    println!(
        "  {name:<22} {:>7} requests {:>7}/s   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        s["requests"], s["per_second"], s["p50_ms"], s["p99_ms"], s["max_ms"]
    );
    s
}

fn post(server: &Server, run: &str, body: &Value) -> f64 {
    let start = Instant::now();
    let r = server
        .request(
            "POST",
            &format!("/api/v1/runs/{run}/entries"),
            Some(body),
            Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.error());
    start.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let a = args();
    let server = Server::new(&a.url, Some(a.token.clone()))
        .unwrap()
        .with_ca(a.ca.clone().map(std::path::PathBuf::from));
    let signer = SigningKey::from_bytes(&[42; 32]);
    let tag = std::process::id();

    // Phase 1: build the runs, then push them all.
    let build = Instant::now();
    let runs: Vec<Run> = (0..a.runs)
        .map(|n| {
            let mut run = Run::new(format!("load-{tag}-{n}"), &signer);
            while run.lines.len() < a.entries {
                run.add_call();
            }
            run
        })
        .collect();
    let bytes: usize = runs.iter().flat_map(|r| &r.lines).map(String::len).sum();
    println!(
        "built {} runs × {} entries ({:.1} MB of canonical JSON) in {:.1}s",
        a.runs,
        a.entries,
        bytes as f64 / 1e6,
        build.elapsed().as_secs_f64()
    );
    let runs = Arc::new(runs);
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let threads: Vec<_> = (0..a.clients)
        .map(|_| {
            let (runs, next, latencies, server, signer) = (
                runs.clone(),
                next.clone(),
                latencies.clone(),
                server.clone(),
                signer.clone(),
            );
            let batch = a.batch;
            std::thread::spawn(move || {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let Some(run) = runs.get(n) else { break };
                    let mut mine = Vec::new();
                    for (k, chunk) in run.lines.chunks(batch).enumerate() {
                        mine.push(post(
                            &server,
                            &run.id,
                            &json!({"key": run.key, "from": k * batch, "entries": chunk, "project": "load"}),
                        ));
                    }
                    mine.push(post(
                        &server,
                        &run.id,
                        &json!({"key": run.key, "from": run.lines.len(), "checkpoints": [run.checkpoint(&signer)], "project": "load"}),
                    ));
                    latencies.lock().unwrap().extend(mine);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let ingest_wall = start.elapsed().as_secs_f64();
    let wall = ingest_wall;
    let total = a.runs * a.entries;
    println!(
        "ingest: {total} entries of {} runs by {} clients in batches of {} in {wall:.2}s = {:.0} entries/s",
        a.runs,
        a.clients,
        a.batch,
        total as f64 / wall
    );
    let ingest = summary("push (batch)", latencies.lock().unwrap().clone(), wall);

    // Spot-check: the server verifies what it took.
    let report = server
        .request(
            "GET",
            &format!("/api/v1/runs/{}/verify", runs[0].id),
            None,
            Duration::from_secs(60),
        )
        .unwrap()
        .json();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["sealed"], json!(a.entries), "{report}");

    // Phase 2: mixed API traffic.
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let samples: Arc<Mutex<BTreeMap<&'static str, Vec<f64>>>> = Arc::default();
    let start = Instant::now();
    let threads: Vec<_> = (0..a.clients)
        .map(|c| {
            let (runs, samples, server, signer) =
                (runs.clone(), samples.clone(), server.clone(), signer.clone());
            std::thread::spawn(move || {
                let mut live = Run::new(format!("live-{tag}-{c}"), &signer);
                let mut pushed = 0usize;
                let mut mine: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
                let mut k = 0u64;
                while Instant::now() < deadline {
                    k += 1;
                    let t = Instant::now();
                    let kind = match k % 5 {
                        0 => {
                            for _ in 0..10 {
                                live.add_call();
                            }
                            let body = json!({"key": live.key, "from": pushed, "entries": &live.lines[pushed..], "project": "load"});
                            let r = server
                                .request(
                                    "POST",
                                    &format!("/api/v1/runs/{}/entries", live.id),
                                    Some(&body),
                                    Duration::from_secs(60),
                                )
                                .unwrap();
                            assert_eq!(r.status, 200, "{}", r.error());
                            pushed = live.lines.len();
                            "push 10 entries"
                        }
                        1 => {
                            let run = &runs[(k as usize / 5) % runs.len()];
                            let r = server
                                .request(
                                    "GET",
                                    &format!("/api/v1/runs/{}", run.id),
                                    None,
                                    Duration::from_secs(60),
                                )
                                .unwrap();
                            assert_eq!(r.status, 200);
                            "run summary"
                        }
                        _ => {
                            let r = server
                                .request(
                                    "GET",
                                    "/api/v1/sync?approvals=a-abcde,a-fghij",
                                    None,
                                    Duration::from_secs(60),
                                )
                                .unwrap();
                            assert_eq!(r.status, 200);
                            "hook sync"
                        }
                    };
                    mine.entry(kind)
                        .or_default()
                        .push(t.elapsed().as_secs_f64() * 1000.0);
                }
                let mut all = samples.lock().unwrap();
                for (kind, v) in mine {
                    all.entry(kind).or_default().extend(v);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let wall = start.elapsed().as_secs_f64();
    println!("API under load: {} clients for {wall:.1}s", a.clients);
    let samples = samples.lock().unwrap().clone();
    let mut out = json!({"ingest": {"entries": total, "seconds": ingest_wall, "entries_per_second": (total as f64 / ingest_wall).round(), "push": ingest}});
    let mut all = Vec::new();
    for (kind, v) in &samples {
        all.extend(v.iter().copied());
        out[*kind] = summary(kind, v.clone(), wall);
    }
    out["all"] = summary("all", all, wall);
    println!("{out}");
}
