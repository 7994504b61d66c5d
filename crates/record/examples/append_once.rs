//! One hook-like process: open a run, append one event, exit. Used to measure the
//! whole-process cost of a record append (`scripts` or a shell loop runs it N times).
//!
//! Usage: append_once RUN_DIR [secret]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mandate_record::RunLog;
use serde_json::json;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).expect("RUN_DIR"));
    let log = match RunLog::open(dir) {
        Ok(log) => log,
        Err(_) => RunLog::create(dir, "bench").expect("create"),
    };
    let command = if args.get(2).is_some_and(|a| a == "secret") {
        "curl -H 'Authorization: Bearer abcdefghijklmnop0123456789' https://api.example.com"
    } else {
        "pytest billing/export/tests -q"
    };
    log.append(json!({
        "type": "tool.pre", "session_id": "3f1c2b7e-6f0e-4d8a-9a51-0c7f5d2e9b11",
        "tool_use_id": "toolu_01ABCDEFGHIJKLMNOPQRSTUV", "tool": "Bash",
        "input": {"command": command, "description": "run the export tests"},
        "touches": [{"kind": "execute", "target": command}],
        "decision": "allow", "rules": ["allow.execute.0"], "reason": "matches `pytest billing/export/tests*`",
        "mode": "enforce", "enforced": true,
    }))
    .expect("append");
}
