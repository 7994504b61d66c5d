#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Every captured payload of Codex CLI 0.169.0, Gemini CLI 0.61.0 and Copilot CLI 1.0.102
//! (`research/agent-payloads/`, copied into `tests/payloads/`), and Cursor's documented
//! shapes, read into the run's terms: the event, who sent it, and each tool call in
//! mandate's canonical vocabulary.

use mandate_agents::{Agent, Answer, Call, Event, Kind};
use serde_json::{Value, json};

fn payload(path: &str) -> Value {
    let full = format!("{}/tests/payloads/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&full).expect(&full)).expect("JSON")
}

fn event(agent: Agent, path: &str) -> Event {
    event_with(agent, path, None)
}

fn event_with(agent: Agent, path: &str, event_arg: Option<&str>) -> Event {
    let event = agent.translate(&payload(path), event_arg, &["demo".to_string()]);
    assert_eq!(event.unreadable, None, "{path}");
    event
}

fn calls(event: &Event) -> Vec<(String, Value)> {
    event
        .tool
        .as_ref()
        .expect("a tool event")
        .calls
        .iter()
        .map(|c| (c.tool.clone(), c.input.clone()))
        .collect()
}

fn one(tool: &str, input: Value) -> Vec<(String, Value)> {
    vec![(tool.to_string(), input)]
}

#[test]
fn every_captured_payload_is_read() {
    let base = format!("{}/tests/payloads", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for (agent, dir) in [
        (Agent::Codex, "codex"),
        (Agent::Gemini, "gemini"),
        (Agent::Copilot, "copilot/camelCase"),
        (Agent::Copilot, "copilot/PascalCase"),
        (Agent::Cursor, "cursor"),
    ] {
        for entry in std::fs::read_dir(format!("{base}/{dir}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            // camelCase Copilot payloads do not name their event: the command line does.
            let event_arg = name.split('-').next().unwrap().to_string();
            let event = agent.translate(
                &payload(&format!("{dir}/{name}.json")),
                Some(&event_arg),
                &[],
            );
            assert_eq!(event.unreadable, None, "{dir}/{name}");
            assert_eq!(event.agent, agent);
            assert!(event.session_id.is_some(), "{dir}/{name}: no session");
            if let Some(tool) = &event.tool {
                assert!(!tool.calls.is_empty(), "{dir}/{name}: no canonical call");
            }
            seen += 1;
        }
    }
    assert!(seen >= 90, "only {seen} payloads");
}

// --- Codex -----------------------------------------------------------------------------

#[test]
fn codex_shell_and_patches() {
    let bash = event(Agent::Codex, "codex/PreToolUse-Bash.json");
    assert_eq!(bash.kind, Kind::PreToolUse);
    assert_eq!(bash.tool_use_id.as_deref(), Some("call_1"));
    assert_eq!(
        calls(&bash),
        one(
            "Bash",
            json!({ "command": "echo hello-from-codex > out.txt && cat out.txt" })
        )
    );
    let add = event(Agent::Codex, "codex/PreToolUse-apply_patch-add.json");
    assert_eq!(
        calls(&add),
        one(
            "Write",
            json!({ "file_path": "added.txt", "content": "line one\nline two\n" })
        )
    );
    let update = event(Agent::Codex, "codex/PreToolUse-apply_patch-update.json");
    assert_eq!(
        calls(&update),
        one(
            "Edit",
            json!({ "file_path": "README.md", "old_string": "hello\n", "new_string": "hello, patched\n" })
        )
    );
    let post = event(Agent::Codex, "codex/PostToolUse-Bash.json");
    assert_eq!(post.kind, Kind::PostToolUse);
    assert_eq!(post.response_text.as_deref(), Some("hello-from-codex\n"));
}

#[test]
fn codex_mcp_and_subagents() {
    let mcp = event(Agent::Codex, "codex/PreToolUse-mcp.json");
    assert_eq!(
        calls(&mcp),
        one("mcp__demo__echo", json!({ "text": "hi mcp" }))
    );
    let post = event(Agent::Codex, "codex/PostToolUse-mcp.json");
    assert_eq!(post.response_text.as_deref(), Some("echo: hi mcp"));

    let spawn = event(
        Agent::Codex,
        "codex/PreToolUse-collaborationspawn_agent.json",
    );
    let spawned = calls(&spawn);
    assert_eq!(spawned[0].0, "Agent");
    assert_eq!(spawned[0].1["prompt"], "SUBAGENT-MARK please run echo");
    let wait = event(
        Agent::Codex,
        "codex/PreToolUse-collaborationwait_agent.json",
    );
    assert_eq!(calls(&wait)[0].0, "TaskOutput");

    // A subagent's call names the subagent; the session stays the parent's.
    let inner = event(Agent::Codex, "codex/PreToolUse-Bash-in-subagent.json");
    assert_eq!(
        inner.agent_id.as_deref(),
        Some("01a25134-e831-77d0-93c1-59a53b6b174e")
    );
    assert_eq!(inner.agent_type.as_deref(), Some("default"));
    assert_eq!(inner.session_id, spawn.session_id);
    let start = event(Agent::Codex, "codex/SubagentStart.json");
    assert_eq!(start.kind, Kind::SubagentStart);
    assert_eq!(start.agent_id, inner.agent_id);
    assert_eq!(
        event(Agent::Codex, "codex/SubagentStop.json").kind,
        Kind::SubagentStop
    );
}

#[test]
fn codex_lifecycle() {
    let stop = event(Agent::Codex, "codex/Stop.json");
    assert_eq!(stop.kind, Kind::Stop);
    assert!(!stop.stop_hook_active);
    assert_eq!(
        event(Agent::Codex, "codex/SessionStart.json")
            .source
            .as_deref(),
        Some("startup")
    );
    assert_eq!(
        event(Agent::Codex, "codex/UserPromptSubmit.json")
            .prompt
            .as_deref(),
        Some("run echo then patch")
    );
    assert_eq!(
        event(Agent::Codex, "codex/SessionEnd.json").kind,
        Kind::SessionEnd
    );
    assert_eq!(
        event(Agent::Codex, "codex/PreModelRequest.json").kind,
        Kind::Other
    );
}

#[test]
fn codex_interactive_sessions_are_a_call_of_write_stdin() {
    for command in [
        "bash --noprofile --norc",
        "python3",
        "python3 -i",
        "cd billing && bash",
        "FOO=1 exec sh",
        "/usr/bin/node",
    ] {
        let calls = mandate_agents::codex::calls("Bash", &json!({ "command": command }));
        assert_eq!(calls.len(), 2, "{command}");
        assert_eq!(calls[1].tool, "write_stdin", "{command}");
    }
    for command in [
        "pytest billing/export/tests -q",
        "python3 -c 'print(1)'",
        "python3 script.py",
        "bash -c 'echo hi'",
        "bash run.sh",
        "echo bash",
    ] {
        let calls = mandate_agents::codex::calls("Bash", &json!({ "command": command }));
        assert_eq!(calls.len(), 1, "{command}");
    }
}

#[test]
fn codex_patch_in_a_heredoc_is_read_as_the_patch() {
    let command = "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: deploy/evil.sh\n+rm -rf /\n*** End Patch\nEOF";
    let calls = mandate_agents::codex::calls("Bash", &json!({ "command": command }));
    assert_eq!(calls[0].tool, "Write");
    assert_eq!(calls[0].input["file_path"], "deploy/evil.sh");
}

#[test]
fn a_patch_mandate_cannot_read_is_an_unknown_tool() {
    let patch = "*** Begin Patch\n*** Update File: a.py\n@@\n-x\n+y\n *** Add File: deploy/x\n*** End Patch\n";
    let calls = mandate_agents::codex::calls("apply_patch", &json!({ "command": patch }));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].tool, "apply_patch");
}

#[test]
fn codex_answers() {
    let pre = event(Agent::Codex, "codex/PreToolUse-Bash.json");
    let deny = Agent::Codex.answer(&pre, &Answer::Deny("no".into()));
    let value: Value = serde_json::from_str(&deny.stdout).unwrap();
    assert_eq!(value["hookSpecificOutput"]["permissionDecision"], "deny");
    assert_eq!(
        value["hookSpecificOutput"]["permissionDecisionReason"],
        "no"
    );
    assert_eq!(deny.exit_code, 0);
    // "ask" would let the call run on Codex: it is a deny.
    let ask = Agent::Codex.answer(&pre, &Answer::Ask("a person must decide".into()));
    assert!(ask.stdout.contains("\"deny\""), "{}", ask.stdout);
    // "allow" without updatedInput is a failed hook on Codex: say nothing.
    assert_eq!(
        Agent::Codex
            .answer(&pre, &Answer::Allow("ok".into()))
            .stdout,
        "{}"
    );
    // A halt cannot use `continue: false` there (unsupported: the tool would run).
    let halt = Agent::Codex.answer(&pre, &Answer::Halt("stopped".into()));
    assert!(!halt.stdout.contains("continue"), "{}", halt.stdout);
    assert!(halt.stdout.contains("\"deny\""));
    let stop = event(Agent::Codex, "codex/Stop.json");
    let block = Agent::Codex.answer(&stop, &Answer::KeepGoing("evidence".into()));
    assert_eq!(
        serde_json::from_str::<Value>(&block.stdout).unwrap(),
        json!({ "decision": "block", "reason": "evidence" })
    );
}

// --- Gemini ----------------------------------------------------------------------------

#[test]
fn gemini_tools() {
    let cases: &[(&str, &str, Value)] = &[
        (
            "gemini/BeforeTool-run_shell_command.json",
            "Bash",
            json!({ "command": "echo hello-from-gemini > out.txt && cat out.txt" }),
        ),
        (
            "gemini/BeforeTool-read_file.json",
            "Read",
            json!({ "file_path": "README.md" }),
        ),
        (
            "gemini/BeforeTool-write_file.json",
            "Write",
            json!({ "file_path": "added.txt", "content": "line one\nline two\n" }),
        ),
        (
            "gemini/BeforeTool-replace.json",
            "Edit",
            json!({ "file_path": "README.md", "old_string": "hello", "new_string": "hello, patched" }),
        ),
        (
            "gemini/BeforeTool-mcp_demo_echo.json",
            "mcp__demo__echo",
            json!({ "text": "hi mcp" }),
        ),
    ];
    for (path, tool, input) in cases {
        let event = event(Agent::Gemini, path);
        assert_eq!(event.kind, Kind::PreToolUse, "{path}");
        assert_eq!(calls(&event), one(tool, input.clone()), "{path}");
    }
    let agent = event(Agent::Gemini, "gemini/BeforeTool-invoke_agent.json");
    assert_eq!(calls(&agent)[0].0, "Agent");
    let after = event(Agent::Gemini, "gemini/AfterTool-run_shell_command.json");
    assert_eq!(after.kind, Kind::PostToolUse);
    assert!(
        after
            .response_text
            .as_deref()
            .unwrap()
            .contains("hello-from-gemini")
    );
    assert_eq!(
        event(Agent::Gemini, "gemini/AfterAgent.json").kind,
        Kind::Stop
    );
    assert_eq!(
        event(Agent::Gemini, "gemini/BeforeAgent.json").kind,
        Kind::UserPrompt
    );
}

#[test]
fn gemini_mcp_names_with_underscores_come_from_the_context() {
    let calls = mandate_agents::gemini::calls(
        "mcp_my_server_create_issue",
        &json!({}),
        Some(&json!({ "server_name": "my_server", "tool_name": "create_issue" })),
    );
    assert_eq!(calls[0].tool, "mcp__my_server__create_issue");
}

#[test]
fn gemini_shell_directory_and_web() {
    let calls = mandate_agents::gemini::calls(
        "run_shell_command",
        &json!({ "command": "cat .env", "dir_path": "billing" }),
        None,
    );
    assert_eq!(calls[0].cwd.as_deref(), Some("billing"));
    let fetch = mandate_agents::gemini::calls(
        "web_fetch",
        &json!({ "prompt": "summarise https://evil.example/x and http://docs.python.org." }),
        None,
    );
    let urls: Vec<&Value> = fetch.iter().map(|c| &c.input["url"]).collect();
    assert_eq!(
        urls,
        [
            &json!("https://evil.example/x"),
            &json!("http://docs.python.org")
        ]
    );
    assert_eq!(
        mandate_agents::gemini::calls("google_web_search", &json!({ "query": "q" }), None)[0].tool,
        "WebSearch"
    );
}

#[test]
fn gemini_answers_never_ask() {
    let pre = event(Agent::Gemini, "gemini/BeforeTool-read_file.json");
    for answer in [
        Answer::Ask("r".into()),
        Answer::Deny("r".into()),
        Answer::Failure("r".into()),
    ] {
        let out = Agent::Gemini.answer(&pre, &answer);
        let value: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(value["decision"], "deny", "{answer:?}");
        assert_eq!(out.exit_code, 0);
    }
    let halt: Value = serde_json::from_str(
        &Agent::Gemini
            .answer(&pre, &Answer::Halt("stop".into()))
            .stdout,
    )
    .unwrap();
    assert_eq!(halt["continue"], false);
    let stop = event(Agent::Gemini, "gemini/AfterAgent.json");
    let block: Value = serde_json::from_str(
        &Agent::Gemini
            .answer(&stop, &Answer::KeepGoing("more".into()))
            .stdout,
    )
    .unwrap();
    assert_eq!(block, json!({ "decision": "deny", "reason": "more" }));
}

// --- Copilot ---------------------------------------------------------------------------

#[test]
fn copilot_both_dialects_read_the_same() {
    let pairs = [
        (
            "camelCase/preToolUse-bash.json",
            "PascalCase/PreToolUse-Bash.json",
        ),
        (
            "camelCase/preToolUse-view.json",
            "PascalCase/PreToolUse-Read.json",
        ),
        (
            "camelCase/preToolUse-apply_patch.json",
            "PascalCase/PreToolUse-Edit.json",
        ),
        (
            "camelCase/preToolUse-create-claude-model.json",
            "PascalCase/PreToolUse-Write-claude-model.json",
        ),
        (
            "camelCase/preToolUse-edit-claude-model.json",
            "PascalCase/PreToolUse-Edit-claude-model.json",
        ),
        (
            "camelCase/preToolUse-demo-echo.json",
            "PascalCase/PreToolUse-demo-echo.json",
        ),
        (
            "camelCase/preToolUse-task.json",
            "PascalCase/PreToolUse-Agent.json",
        ),
        (
            "camelCase/preToolUse-bash-subagent.json",
            "PascalCase/PreToolUse-Bash-subagent.json",
        ),
    ];
    for (camel, pascal) in pairs {
        let camel_event = event_with(
            Agent::Copilot,
            &format!("copilot/{camel}"),
            Some("preToolUse"),
        );
        let pascal_event = event_with(Agent::Copilot, &format!("copilot/{pascal}"), None);
        assert_eq!(camel_event.kind, Kind::PreToolUse, "{camel}");
        assert_eq!(pascal_event.kind, Kind::PreToolUse, "{pascal}");
        assert_eq!(
            calls(&camel_event),
            calls(&pascal_event),
            "{camel} / {pascal}"
        );
        assert_eq!(camel_event.agent_id, pascal_event.agent_id);
    }
}

#[test]
fn copilot_tools() {
    let e = |p: &str| {
        event_with(
            Agent::Copilot,
            &format!("copilot/camelCase/{p}"),
            Some("preToolUse"),
        )
    };
    assert_eq!(
        calls(&e("preToolUse-bash.json")),
        one(
            "Bash",
            json!({ "command": "echo hello-from-copilot > out.txt && cat out.txt" })
        )
    );
    assert_eq!(
        calls(&e("preToolUse-view.json")),
        one(
            "Read",
            json!({ "file_path": "/home/dev/agents/runs/copilot1/work/README.md" })
        )
    );
    let patch: Vec<String> = calls(&e("preToolUse-apply_patch.json"))
        .into_iter()
        .map(|(t, i)| format!("{t} {}", i["file_path"].as_str().unwrap()))
        .collect();
    assert_eq!(patch, ["Write added.txt", "Edit README.md"]);
    assert_eq!(
        calls(&e("preToolUse-demo-echo.json")),
        one("mcp__demo__echo", json!({ "text": "hi mcp" }))
    );
    assert_eq!(calls(&e("preToolUse-task.json"))[0].0, "Agent");
    // Inside a subagent: named, and bound to the parent's session.
    let inner = e("preToolUse-bash-subagent.json");
    assert_eq!(
        inner.agent_id.as_deref(),
        Some("be50bd2d-5dd9-41aa-a2cb-079795199261")
    );
    assert_eq!(
        inner.session_id.as_deref(),
        Some("79de9b9d-68c8-4d47-8277-10c01768aa2c")
    );
    let post = event_with(
        Agent::Copilot,
        "copilot/camelCase/postToolUse-bash.json",
        Some("postToolUse"),
    );
    assert_eq!(post.kind, Kind::PostToolUse);
    assert!(
        post.response_text
            .as_deref()
            .unwrap()
            .starts_with("hello-from-copilot")
    );
}

#[test]
fn copilot_permission_requests() {
    let e = |p: &str| event_with(Agent::Copilot, &format!("copilot/camelCase/{p}"), None);
    let edit = e("permissionRequest-edit.json");
    assert_eq!(edit.kind, Kind::PermissionRequest);
    assert_eq!(calls(&edit)[0].0, "Edit");
    assert_eq!(
        calls(&edit)[0].1["file_path"],
        "/home/dev/agents/runs/copilot1/work/added.txt"
    );
    assert_eq!(
        calls(&e("permissionRequest-demo_echo.json"))[0].0,
        "mcp__demo__echo"
    );
}

#[test]
fn copilot_mcp_servers_with_dashes() {
    let servers = vec!["jira".to_string(), "my-notes".to_string()];
    let tool = |name: &str| {
        mandate_agents::copilot::calls(name, &json!({}), &servers)[0]
            .tool
            .clone()
    };
    assert_eq!(tool("my-notes-save"), "mcp__my-notes__save");
    assert_eq!(tool("jira-create_issue"), "mcp__jira__create_issue");
    assert_eq!(tool("other-x-y"), "mcp__other__x-y");
    // Copilot's own tools mandate does not know go to the policy default.
    assert_eq!(tool("session_store_sql"), "session_store_sql");
}

#[test]
fn copilot_stops_and_answers() {
    let stop = event_with(
        Agent::Copilot,
        "copilot/camelCase/agentStop.json",
        Some("agentStop"),
    );
    assert_eq!(stop.kind, Kind::Stop);
    // A subagent's own agentStop is only recorded: its subagentStop is gated.
    let inner = event_with(
        Agent::Copilot,
        "copilot/camelCase/agentStop-subagent.json",
        Some("agentStop"),
    );
    assert_eq!(inner.kind, Kind::Other);
    let block: Value = serde_json::from_str(
        &Agent::Copilot
            .answer(&stop, &Answer::KeepGoing("more".into()))
            .stdout,
    )
    .unwrap();
    assert_eq!(block, json!({ "decision": "block", "reason": "more" }));
    let pre = event_with(
        Agent::Copilot,
        "copilot/camelCase/preToolUse-bash.json",
        Some("preToolUse"),
    );
    let deny: Value = serde_json::from_str(
        &Agent::Copilot
            .answer(&pre, &Answer::Deny("no".into()))
            .stdout,
    )
    .unwrap();
    assert_eq!(
        deny,
        json!({ "permissionDecision": "deny", "permissionDecisionReason": "no" })
    );
    let pascal = event(Agent::Copilot, "copilot/PascalCase/PreToolUse-Bash.json");
    let deny: Value = serde_json::from_str(
        &Agent::Copilot
            .answer(&pascal, &Answer::Deny("no".into()))
            .stdout,
    )
    .unwrap();
    assert_eq!(deny["hookSpecificOutput"]["permissionDecision"], "deny");
    let permission = event_with(
        Agent::Copilot,
        "copilot/camelCase/permissionRequest-bash.json",
        None,
    );
    let deny: Value = serde_json::from_str(
        &Agent::Copilot
            .answer(&permission, &Answer::Deny("no".into()))
            .stdout,
    )
    .unwrap();
    assert_eq!(deny, json!({ "behavior": "deny", "message": "no" }));
}

// --- Cursor (documented shapes) --------------------------------------------------------

#[test]
fn cursor_events() {
    let shell = event(Agent::Cursor, "cursor/beforeShellExecution.json");
    assert_eq!(shell.kind, Kind::PreToolUse);
    assert_eq!(shell.version.as_deref(), Some("1.7.0"));
    assert_eq!(
        calls(&shell),
        one("Bash", json!({ "command": "git push origin main" }))
    );
    assert_eq!(
        calls(&event(Agent::Cursor, "cursor/beforeReadFile.json")),
        one("Read", json!({ "file_path": "/home/dev/work/.env" }))
    );
    assert_eq!(
        calls(&event(Agent::Cursor, "cursor/beforeMCPExecution.json")),
        one("mcp__jira__create_issue", json!({ "title": "x" }))
    );
    assert_eq!(
        calls(&event(Agent::Cursor, "cursor/preToolUse-Write.json"))[0].1["file_path"],
        "deploy/prod.yaml"
    );
    let stop = event(Agent::Cursor, "cursor/stop.json");
    assert_eq!(stop.kind, Kind::Stop);
    let follow: Value = serde_json::from_str(
        &Agent::Cursor
            .answer(&stop, &Answer::KeepGoing("more".into()))
            .stdout,
    )
    .unwrap();
    assert_eq!(follow, json!({ "followup_message": "more" }));
    let deny: Value = serde_json::from_str(
        &Agent::Cursor
            .answer(&shell, &Answer::Deny("no".into()))
            .stdout,
    )
    .unwrap();
    assert_eq!(deny["permission"], "deny");
}

#[test]
fn run_events_name_the_agent_and_one_event_per_call() {
    let mut e = event_with(
        Agent::Copilot,
        "copilot/camelCase/preToolUse-apply_patch.json",
        Some("preToolUse"),
    );
    e.version = Some("1.0.102".into());
    let events = e.run_events(Some(std::path::Path::new(
        "/home/dev/agents/runs/copilot1/work",
    )));
    assert_eq!(events.len(), 2);
    for event in &events {
        assert_eq!(event.kind, mandate_run::Kind::PreToolUse);
        assert_eq!(event.agent.name, "copilot");
        assert_eq!(event.agent.version.as_deref(), Some("1.0.102"));
        assert_eq!(event.agent_event, "preToolUse");
    }
    let names: Vec<&str> = events
        .iter()
        .map(|e| e.tool.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["Write", "Edit"]);
    let shell = Call {
        tool: "Bash".into(),
        input: json!({ "command": "ls" }),
        cwd: Some("billing".into()),
    };
    let mut g = event(Agent::Gemini, "gemini/BeforeTool-run_shell_command.json");
    g.tool.as_mut().unwrap().calls = vec![shell];
    assert_eq!(
        g.run_events(None)[0].cwd.as_deref(),
        Some(std::path::Path::new(
            "/home/dev/agents/runs/gemini1/work/billing"
        ))
    );
    // Model requests are not the run's business.
    assert!(
        event(Agent::Codex, "codex/PreModelRequest.json")
            .run_events(None)
            .is_empty()
    );
    // Copilot reports a shell's exit status in its result text.
    let post = event_with(
        Agent::Copilot,
        "copilot/camelCase/postToolUse-bash.json",
        Some("postToolUse"),
    );
    assert_eq!(post.exit_status, Some(0));
}

// --- Notices and warnings: nothing the run must tell is dropped ---------------------------

/// Every event a notice can come on (an event that could not be recorded, on an event
/// that decides nothing), from each agent's captured payloads: the text reaches the
/// person or the model in the agent's own field, and stderr for the log, never a bare `{}`.
#[test]
fn every_agent_passes_a_notice_on() {
    let cases: &[(Agent, &str, Option<&str>, &[&str])] = &[
        (
            Agent::Codex,
            "codex/PostToolUse-Bash.json",
            None,
            &["/systemMessage", "/hookSpecificOutput/additionalContext"],
        ),
        (Agent::Codex, "codex/Stop.json", None, &["/systemMessage"]),
        (
            Agent::Codex,
            "codex/SubagentStop.json",
            None,
            &["/systemMessage"],
        ),
        (
            Agent::Codex,
            "codex/UserPromptSubmit.json",
            None,
            &["/systemMessage"],
        ),
        (
            Agent::Codex,
            "codex/SessionEnd.json",
            None,
            &["/systemMessage"],
        ),
        (
            Agent::Gemini,
            "gemini/AfterTool-read_file.json",
            None,
            &["/systemMessage", "/hookSpecificOutput/additionalContext"],
        ),
        (
            Agent::Gemini,
            "gemini/AfterAgent.json",
            None,
            &["/systemMessage"],
        ),
        (
            Agent::Gemini,
            "gemini/SessionEnd.json",
            None,
            &["/systemMessage"],
        ),
        (
            Agent::Copilot,
            "copilot/camelCase/postToolUse-bash.json",
            Some("postToolUse"),
            &["/additionalContext"],
        ),
        (
            Agent::Copilot,
            "copilot/camelCase/agentStop.json",
            Some("agentStop"),
            &["/additionalContext"],
        ),
        (
            Agent::Copilot,
            "copilot/PascalCase/PostToolUse-Bash.json",
            None,
            &["/additionalContext"],
        ),
        (
            Agent::Copilot,
            "copilot/PascalCase/Stop.json",
            None,
            &["/additionalContext"],
        ),
        (
            Agent::Cursor,
            "cursor/afterFileEdit.json",
            None,
            &["/user_message", "/agent_message"],
        ),
        (
            Agent::Cursor,
            "cursor/stop.json",
            None,
            &["/user_message", "/agent_message"],
        ),
    ];
    let text = "mandate could not record everything: a `tool.post` event could not be recorded";
    for (agent, path, event_arg, fields) in cases {
        let event = event_with(*agent, path, *event_arg);
        let out = agent.answer(&event, &Answer::Notice(text.into()));
        let answer: Value = serde_json::from_str(&out.stdout).unwrap();
        for field in *fields {
            assert_eq!(
                answer.pointer(field).and_then(Value::as_str),
                Some(text),
                "{path}: {field} in {answer}"
            );
        }
        assert_eq!(out.stderr, text, "{path}");
        assert_eq!(out.exit_code, 0, "{path}");
    }
    // Gemini's AfterTool names its own event.
    let after = event(Agent::Gemini, "gemini/AfterTool-read_file.json");
    let answer: Value = serde_json::from_str(
        &Agent::Gemini
            .answer(&after, &Answer::Notice(text.into()))
            .stdout,
    )
    .unwrap();
    assert_eq!(answer["hookSpecificOutput"]["hookEventName"], "AfterTool");
}

/// The session-start context with a warning for the person (a team server link that does
/// not work): the warning is not dropped.
#[test]
fn every_agent_passes_a_session_start_warning_on() {
    let answer = Answer::ContextAndWarning(
        "the box".into(),
        "mandate: the server is unreachable".into(),
    );
    for (agent, path, event_arg) in [
        (Agent::Codex, "codex/SessionStart.json", None),
        (Agent::Gemini, "gemini/SessionStart.json", None),
        (
            Agent::Copilot,
            "copilot/camelCase/sessionStart.json",
            Some("sessionStart"),
        ),
        (Agent::Cursor, "cursor/stop.json", None),
    ] {
        let mut event = event_with(agent, path, event_arg);
        event.kind = Kind::SessionStart;
        let out = agent.answer(&event, &answer);
        assert!(out.stdout.contains("the box"), "{path}: {}", out.stdout);
        assert!(
            out.stdout.contains("the server is unreachable")
                || out.stderr.contains("the server is unreachable"),
            "{path}: {} / {}",
            out.stdout,
            out.stderr
        );
    }
}
