#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! MCP governance through the real Claude Code binary: real stdio MCP servers, the
//! scripted model, and mandate's hooks as `mandate install` writes them.
//!
//! - registered read tools run; unregistered, write-class, disabled and drifted tools are
//!   refused, and the refused calls never reach the server;
//! - `mandate disable`, issued by security while the session runs, stops the very next call;
//! - the named reviewer's approval lets exactly the approved call through, once; the
//!   delegating user cannot approve their own request.
//!
//! Uses the shared support module of `e2e_claude.rs` (scripted model, `claude -p` runner,
//! billing repository). The MCP server is `tests/fixtures/mcp-drift/server.py`, which logs
//! every call it receives.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::billing::Billing;
use support::claude::{Claude, ClaudeRun, claude_or_skip};
use support::model::{ModelServer, Script, Step};

const DRIFT_SERVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/mcp-drift/server.py"
);
const NOTES_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp/notes.py");

const TICKETS_REGISTRY: &str = r#"
[mcp.servers.tickets]
owner = "it-tools@example.com"
purpose = "read support tickets for bug fixes"
data = "ticket titles and status"
tools = { get_ticket = "read", close_ticket = "write" }
approval = "security"
"#;

const CONTRACT: &str = r#"version = 1
[task]
id = "MCP-1"
request = "Look at ticket T-1 and close it when the export is fixed."
delegated_by = "alice@example.com"
agent = "claude-code"

[allow]
read = ["billing/export/**"]
call = ["mcp__tickets__get_ticket"]
"#;

fn mandate() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mandate"))
}

struct Setup {
    billing: Billing,
    calls: PathBuf,
    config: PathBuf,
}

/// The billing repository with the `tickets` server registered, hooks installed and the
/// MCP-1 contract started by alice. `tickets_env` is added to the server's environment.
fn setup(tickets_env: Value) -> Setup {
    let billing = Billing::new();
    let policy = billing.read("mandate.toml").unwrap();
    billing.write("mandate.toml", &format!("{policy}{TICKETS_REGISTRY}"));
    billing.write(".mandate/contracts/MCP-1.toml", CONTRACT);
    let calls = billing.base.join("mcp-calls.jsonl");
    let mut env = json!({
        "MCP_CALL_LOG": calls.to_string_lossy(),
        "MCP_DRIFT_COUNTER": billing.base.join("drift-counter").to_string_lossy(),
    });
    if let (Some(env), Some(extra)) = (env.as_object_mut(), tickets_env.as_object()) {
        env.extend(extra.clone());
    }
    let servers = json!({ "mcpServers": {
        "tickets": { "type": "stdio", "command": "python3", "args": [DRIFT_SERVER], "env": env },
        "notes": { "type": "stdio", "command": "python3", "args": [NOTES_SERVER],
                   "env": { "MCP_CALL_LOG": calls.to_string_lossy() } },
    }});
    // The same servers for Claude Code (`--mcp-config`) and for `mandate mcp pin`.
    billing.write(".mcp.json", &servers.to_string());
    let config = billing.base.join("mcp.json");
    std::fs::write(&config, servers.to_string()).unwrap();
    billing.mandate_ok(&mandate(), &["install"]);
    billing.mandate_ok(&mandate(), &["start", ".mandate/contracts/MCP-1.toml"]);
    billing.commit("install mandate, start MCP-1");
    Setup {
        billing,
        calls,
        config,
    }
}

fn session(claude: &Path, setup: &Setup, steps: Vec<Step>) -> (ModelServer, ClaudeRun) {
    let server = ModelServer::start(Script {
        main: steps,
        subagent: vec![],
    });
    let run = Claude::new(
        claude,
        &setup.billing.root,
        &setup.billing.home,
        &server.base_url(),
    )
    .mcp_config(&setup.config)
    .path_prefix(mandate().parent().unwrap())
    .run("Work on ticket T-1.");
    run.result();
    (server, run)
}

/// The calls that reached the MCP servers: (tool, arguments).
fn calls(setup: &Setup) -> Vec<(String, Value)> {
    std::fs::read_to_string(&setup.calls)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let call: Value = serde_json::from_str(line).unwrap();
            (
                call["tool"].as_str().unwrap().to_string(),
                call["arguments"].clone(),
            )
        })
        .collect()
}

fn result_text(server: &ModelServer, step: usize, run: &ClaudeRun) -> String {
    server
        .main_result(step)
        .unwrap_or_else(|| {
            panic!(
                "the model never saw the result of step {step}\n{}\n{}",
                server.summary(),
                run.dump()
            )
        })
        .text
}

fn step(tool: &str, input: Value) -> Step {
    Step::new(tool, input)
}

fn mandate_as(setup: &Setup, user: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(mandate())
        .args(args)
        .current_dir(&setup.billing.root)
        .env("HOME", &setup.billing.home)
        .env("MANDATE_USER", user)
        .env_remove("MANDATE_ORG_POLICY")
        .output()
        .unwrap()
}

#[test]
fn e2e_mcp_registry_and_a_kill_switch_pulled_during_the_session() {
    let Some(claude) =
        claude_or_skip("e2e_mcp_registry_and_a_kill_switch_pulled_during_the_session")
    else {
        return;
    };
    let mut setup = setup(json!({}));
    // Security pulls the kill switch on get_ticket while the first call is being served:
    // the server runs `mandate disable` before it answers, so the next call meets it.
    let disable = format!(
        "cd '{}' && MANDATE_USER=sec@example.com '{}' disable tickets/get_ticket \
         --reason 'incident 7: ticket data leaking'",
        setup.billing.root.display(),
        mandate().display()
    );
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.config).unwrap()).unwrap();
    config["mcpServers"]["tickets"]["env"]["MCP_DRIFT_ON_CALL"] =
        json!(serde_json::to_string(&json!(["sh", "-c", disable])).unwrap());
    config["mcpServers"]["tickets"]["env"]["HOME"] = json!(setup.billing.home.to_string_lossy());
    let config_path = setup.billing.base.join("mcp-kill.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    setup.config = config_path;

    let (server, run) = session(
        &claude,
        &setup,
        vec![
            step("mcp__notes__read_note", json!({})),
            step("mcp__tickets__close_ticket", json!({"id": "T-1"})),
            step("mcp__tickets__get_ticket", json!({"id": "T-1"})),
            step("mcp__tickets__get_ticket", json!({"id": "T-2"})),
        ],
    );
    let unregistered = result_text(&server, 0, &run);
    assert!(
        unregistered.contains("not in the registry"),
        "{unregistered}"
    );
    let write = result_text(&server, 1, &run);
    assert!(write.contains("holding this call for approval"), "{write}");
    assert!(write.contains("mandate approve a-"), "{write}");
    let read = result_text(&server, 2, &run);
    assert!(
        read.contains("ticket T-1"),
        "the registered read tool did not run: {read}"
    );
    let killed = result_text(&server, 3, &run);
    assert!(killed.contains("disabled by the kill switch"), "{killed}");

    // Only the allowed call reached a server.
    assert_eq!(
        calls(&setup),
        vec![("get_ticket".to_string(), json!({"id": "T-1"}))],
        "{}",
        run.dump()
    );
    let disabled = setup.billing.mandate_ok(&mandate(), &["disabled"]);
    assert!(disabled.contains("tickets/get_ticket"), "{disabled}");
}

#[test]
fn e2e_mcp_the_named_reviewer_approves_exactly_one_call() {
    let Some(claude) = claude_or_skip("e2e_mcp_the_named_reviewer_approves_exactly_one_call")
    else {
        return;
    };
    let setup = setup(json!({}));
    let close = |id: &str| step("mcp__tickets__close_ticket", json!({"id": id}));

    let (server, run) = session(&claude, &setup, vec![close("T-1")]);
    let held = result_text(&server, 0, &run);
    assert!(held.contains("holding this call for approval"), "{held}");
    let pending: Value = serde_json::from_slice(
        &mandate_as(&setup, "sec@example.com", &["approvals", "--json"]).stdout,
    )
    .unwrap();
    let id = pending[0]["id"].as_str().unwrap().to_string();
    assert!(held.contains(&format!("mandate approve {id}")), "{held}");

    // The delegating user may not approve their own run's request.
    let own = mandate_as(&setup, "alice@example.com", &["approve", &id]);
    assert_eq!(own.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&own.stderr).contains("may not decide its approval requests"),
        "{own:?}"
    );
    let granted = mandate_as(&setup, "sec@example.com", &["approve", &id]);
    assert!(granted.status.success(), "{granted:?}");

    // A new session of the same run: other input refused, the approved call runs once.
    let (server, run) = session(
        &claude,
        &setup,
        vec![close("T-2"), close("T-1"), close("T-1")],
    );
    let other = result_text(&server, 0, &run);
    assert!(other.contains("holding this call for approval"), "{other}");
    let approved = result_text(&server, 1, &run);
    assert!(approved.contains("ticket T-1 closed"), "{approved}");
    let again = result_text(&server, 2, &run);
    assert!(again.contains("holding this call for approval"), "{again}");
    assert_eq!(
        calls(&setup),
        vec![("close_ticket".to_string(), json!({"id": "T-1"}))],
        "{}",
        run.dump()
    );
}

#[test]
fn e2e_mcp_a_drifted_tool_is_refused_until_pinned_again() {
    let Some(claude) = claude_or_skip("e2e_mcp_a_drifted_tool_is_refused_until_pinned_again")
    else {
        return;
    };
    let setup = setup(json!({}));
    let pin = mandate_as(&setup, "it-tools@example.com", &["mcp", "pin", "tickets"]);
    assert!(pin.status.success(), "{pin:?}");
    // The server's next run describes get_ticket differently.
    let verify = mandate_as(&setup, "alice@example.com", &["mcp", "verify"]);
    assert_eq!(verify.status.code(), Some(1), "{verify:?}");

    let get = step("mcp__tickets__get_ticket", json!({"id": "T-1"}));
    let (server, run) = session(&claude, &setup, vec![get.clone()]);
    let drifted = result_text(&server, 0, &run);
    assert!(drifted.contains("changed since it was pinned"), "{drifted}");
    assert!(calls(&setup).is_empty(), "{:?}", calls(&setup));

    let pin = mandate_as(&setup, "it-tools@example.com", &["mcp", "pin", "tickets"]);
    assert!(pin.status.success(), "{pin:?}");
    let (server, run) = session(&claude, &setup, vec![get]);
    let read = result_text(&server, 0, &run);
    assert!(read.contains("ticket T-1"), "{read}");
}
