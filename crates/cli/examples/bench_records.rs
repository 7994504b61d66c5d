//! Writes a record store of RUNS runs of CALLS tool calls each, shaped as the hook writes
//! them (record.create, run.start with the contract and policy, tool.pre with touches and
//! tool.post per call, a few denials, an unguarded result, run.finish) with a valid hash
//! chain and one checkpoint per run signed by the store's own key, so that `mandate
//! metrics`, `mandate readiness` and `mandate record verify` read it as a real one.
//!
//! Usage: bench_records RECORDS_DIR REPO_ROOT RUNS CALLS
//! (`bench/metrics-readiness.sh` builds the repository and runs the timings.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write as _;
use std::path::PathBuf;

use mandate_record::RunLog;
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let records = PathBuf::from(&args[1]);
    let root = PathBuf::from(&args[2]);
    let runs: u64 = args[3].parse().unwrap();
    let calls: u64 = args[4].parse().unwrap();
    let key =
        mandate_record::keys::load_or_create(&records.join("keys").join("signing.key")).unwrap();
    let policy_text = std::fs::read_to_string(root.join("mandate.toml")).unwrap();
    let contract_file = root.join(".mandate/contracts/BILL-142.toml");
    let contract_text = std::fs::read_to_string(&contract_file).unwrap();
    std::fs::create_dir_all(records.join("runs")).unwrap();
    for r in 0..runs {
        let day = 1 + r % 28;
        let run_id = format!("BILL-142-202612{day:02}000000-{r:06x}");
        let dir = records.join("runs").join(&run_id);
        let log = RunLog::create(&dir, &run_id).unwrap();
        let mut prev = log.entries().unwrap().first().unwrap().leaf_hash();
        let mut i = 1u64;
        let mut lines = Vec::new();
        let mut push = |mut v: serde_json::Value, lines: &mut Vec<u8>| {
            v["i"] = json!(i);
            v["prev"] = json!(mandate_record::digest::hex(&prev));
            let bytes = mandate_record::canonical::to_vec(&v).unwrap();
            prev = mandate_record::merkle::leaf_hash(&bytes);
            lines.extend_from_slice(&bytes);
            lines.push(b'\n');
            i += 1;
        };
        let time = |n: u64| {
            format!(
                "2026-12-{day:02}T{:02}:{:02}:{:02}.000Z",
                (n / 3600) % 24,
                (n / 60) % 60,
                n % 60
            )
        };
        push(
            json!({"type": "run.start", "time": time(0), "run_id": run_id,
                   "workspace": root, "contract_file": contract_file,
                   "contract": {"id": "BILL-142", "request": "Fix the invoice export bug",
                                "delegated_by": "alice@example.com", "agent": "claude-code",
                                "allow": {"read": ["billing/export/**"], "write": ["billing/export/**"]},
                                "evidence_required": ["tests"]},
                   "contract_text": contract_text, "contract_digest": "c",
                   "policy_digest": "p", "org_policy_digest": "none",
                   "policy_text": policy_text, "mcp_configured": ["jira"],
                   "user": "alice@example.com", "os_user": "alice", "mode": "enforce"}),
            &mut lines,
        );
        for c in 0..calls {
            let id = format!("toolu_{r}_{c}");
            let denied = c % 20 == 7;
            let (tool, target, kind) = match c % 4 {
                0 => (
                    "Read",
                    format!("{}/billing/export/f{}.py", root.display(), c % 50),
                    "read",
                ),
                1 => (
                    "Edit",
                    format!("{}/billing/export/f{}.py", root.display(), c % 50),
                    "write",
                ),
                2 => (
                    "Bash",
                    "pytest billing/export/tests -q".to_string(),
                    "execute",
                ),
                _ => (
                    "mcp__jira__get_issue",
                    "mcp__jira__get_issue".to_string(),
                    "call",
                ),
            };
            let (target, decision, rule) = if denied {
                (
                    format!("{}/.env", root.display()),
                    "deny",
                    "policy.block.read[0]",
                )
            } else {
                (target, "allow", "contract.allow.read[0]")
            };
            push(
                json!({"type": "tool.pre", "time": time(c + 1), "session_id": "s1",
                       "tool_use_id": id, "tool": tool,
                       "input": {"file_path": target},
                       "touches": [{"kind": kind, "target": target, "decision": decision, "rules": [rule]}],
                       "decision": decision, "rules": [rule], "reason": "bench",
                       "mode": "enforce", "enforced": true}),
                &mut lines,
            );
            if !denied {
                push(
                    json!({"type": "tool.post", "time": time(c + 1), "tool_use_id": id, "tool": tool}),
                    &mut lines,
                );
            }
        }
        push(
            json!({"type": "tool.post", "time": time(calls + 1), "tool_use_id": "unguarded", "tool": "Bash"}),
            &mut lines,
        );
        push(
            json!({"type": "run.finish", "time": time(calls + 2), "complete": false, "missing": ["tests"]}),
            &mut lines,
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(mandate_record::LOG_FILE))
            .unwrap()
            .write_all(&lines)
            .unwrap();
        RunLog::open(&dir)
            .unwrap()
            .checkpoint(&key, &format!("mandate.dev/run/{run_id}"))
            .unwrap();
    }
}
