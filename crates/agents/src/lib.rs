//! The agents mandate governs besides Claude Code — Codex CLI, Gemini CLI, Copilot CLI
//! and Cursor — each as an adapter that only translates.
//!
//! In: an agent's hook event (its JSON on stdin, and for Copilot's camelCase dialect the
//! event name from the command line) becomes an [`Event`]: which of the run's events it
//! is, who sent it (agent, version, session, subagent), and for a tool event the agent's
//! own tool call plus the same call in mandate's canonical vocabulary — Claude Code's tool
//! names and input shapes, as `mandate_policy::tools` reads them. One agent call may be
//! several canonical calls (a patch that adds one file and edits another); the run judges
//! them together and the strictest decision wins.
//!
//! Out: the run's [`Answer`] becomes the agent's JSON and exit code ([`Outcome`]), in the
//! one encoding each agent was seen to honour (`research/other-agents.md`). An agent that
//! cannot take "ask" (Codex treats it as a hook failure and runs the tool; Gemini headless
//! hangs) is answered "deny" instead.
//!
//! Nothing here reads files or judges anything; the run does that.

pub mod codex;
pub mod copilot;
pub mod cursor;
pub mod gemini;
pub mod patch;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// An agent mandate has an adapter for (Claude Code's lives in its own crate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agent {
    Codex,
    Gemini,
    Copilot,
    Cursor,
}

impl Agent {
    pub const ALL: [Agent; 4] = [Agent::Codex, Agent::Gemini, Agent::Copilot, Agent::Cursor];

    /// The name in `mandate hook NAME`, `install --agent NAME` and the record.
    pub fn name(self) -> &'static str {
        match self {
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Copilot => "copilot",
            Agent::Cursor => "cursor",
        }
    }

    pub fn from_name(name: &str) -> Option<Agent> {
        Agent::ALL.into_iter().find(|agent| agent.name() == name)
    }

    /// Can the agent put an "ask" in front of a person? Codex runs the tool on an "ask"
    /// (it is an unsupported answer, so the hook counts as failed) and Gemini's headless
    /// mode hangs on it; Copilot prompts (or, headless, refuses); Cursor prompts.
    pub fn can_ask(self) -> bool {
        matches!(self, Agent::Copilot | Agent::Cursor)
    }

    /// Translate one hook event. `event_arg` is the event name the hook command was
    /// installed with (Copilot's camelCase payloads do not carry it); `servers` are the
    /// MCP server names mandate knows, which Copilot's `server-tool` names need to be
    /// split where a server name holds a `-`.
    pub fn translate(self, payload: &Value, event_arg: Option<&str>, servers: &[String]) -> Event {
        match self {
            Agent::Codex => codex::translate(payload),
            Agent::Gemini => gemini::translate(payload),
            Agent::Copilot => copilot::translate(payload, event_arg, servers),
            Agent::Cursor => cursor::translate(payload),
        }
    }

    /// The run's answer in the agent's wire format.
    pub fn answer(self, event: &Event, answer: &Answer) -> Outcome {
        match self {
            Agent::Codex => codex::answer(event, answer),
            Agent::Gemini => gemini::answer(event, answer),
            Agent::Copilot => copilot::answer(event, answer),
            Agent::Cursor => cursor::answer(event, answer),
        }
    }
}

/// What the run makes of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    SessionStart,
    UserPrompt,
    PreToolUse,
    /// The agent asks whether a call may proceed without a person (Copilot's
    /// `permissionRequest`, Codex's `PermissionRequest`).
    PermissionRequest,
    PostToolUse,
    PostToolUseFailure,
    SubagentStart,
    SubagentStop,
    /// The agent is about to finish its turn: the stop gate.
    Stop,
    SessionEnd,
    /// Recorded, never answered with a decision.
    Other,
}

impl Kind {
    /// The Claude Code event of the same meaning (the run's vocabulary).
    pub fn claude_name(self) -> &'static str {
        match self {
            Kind::SessionStart => "SessionStart",
            Kind::UserPrompt => "UserPromptSubmit",
            Kind::PreToolUse => "PreToolUse",
            Kind::PermissionRequest => "PermissionRequest",
            Kind::PostToolUse => "PostToolUse",
            Kind::PostToolUseFailure => "PostToolUseFailure",
            Kind::SubagentStart => "SubagentStart",
            Kind::SubagentStop => "SubagentStop",
            Kind::Stop => "Stop",
            Kind::SessionEnd => "SessionEnd",
            Kind::Other => "Other",
        }
    }
}

/// One call in mandate's canonical vocabulary.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// A Claude Code tool name (`Bash`, `Read`, `Write`, `Edit`, `MultiEdit`, `Glob`,
    /// `Grep`, `LS`, `WebFetch`, `WebSearch`, `Agent`, `TodoWrite`, …), `mcp__S__T`, or the
    /// agent's own name for a tool mandate does not know (judged by the policy default).
    pub tool: String,
    pub input: Value,
    /// A working directory of this call's own (Gemini's `dir_path`), relative to the
    /// event's `cwd` or absolute.
    pub cwd: Option<String>,
}

impl Call {
    pub fn new(tool: &str, input: Value) -> Call {
        Call {
            tool: tool.to_string(),
            input,
            cwd: None,
        }
    }

    /// The agent's call, passed on as it is: the policy's default decides.
    pub fn unknown(tool: &str, input: &Value) -> Call {
        let input = if input.is_object() {
            input.clone()
        } else {
            json!({ "input": input })
        };
        Call::new(tool, input)
    }
}

/// The agent's tool call and its canonical translation.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolUse {
    /// The tool as the agent named it.
    pub name: String,
    /// The input as the agent sent it.
    pub input: Value,
    /// Never empty.
    pub calls: Vec<Call>,
}

/// One hook event in the run's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub agent: Agent,
    /// The agent's version, when the event or the hook's environment tells it.
    pub version: Option<String>,
    pub kind: Kind,
    /// The agent's own name of the event (`BeforeTool`, `agentStop`, …).
    pub native: String,
    pub session_id: Option<String>,
    /// The subagent the event comes from, if the agent says.
    pub agent_id: Option<String>,
    pub agent_type: Option<String>,
    pub parent_agent_id: Option<String>,
    pub tool_use_id: Option<String>,
    pub cwd: Option<String>,
    pub transcript_path: Option<String>,
    pub model: Option<String>,
    pub tool: Option<ToolUse>,
    /// What the tool returned (post-tool events), as the agent reported it.
    pub response: Option<Value>,
    /// The response as text, for test-run parsing.
    pub response_text: Option<String>,
    /// A shell call's exit status, where the agent reports it.
    pub exit_status: Option<i64>,
    pub prompt: Option<String>,
    /// `source` of a session start, `reason` of a session end.
    pub source: Option<String>,
    pub reason: Option<String>,
    /// The agent says this stop comes after a stop the hook blocked.
    pub stop_hook_active: bool,
    /// The payload could not be read as this agent's event; the run should refuse
    /// whatever can be refused and say why.
    pub unreadable: Option<String>,
}

impl Event {
    fn new(agent: Agent, native: &str, kind: Kind) -> Event {
        Event {
            agent,
            version: None,
            kind,
            native: native.to_string(),
            session_id: None,
            agent_id: None,
            agent_type: None,
            parent_agent_id: None,
            tool_use_id: None,
            cwd: None,
            transcript_path: None,
            model: None,
            tool: None,
            response: None,
            response_text: None,
            exit_status: None,
            prompt: None,
            source: None,
            reason: None,
            stop_hook_active: false,
            unreadable: None,
        }
    }

    /// The run's events for this one: one per canonical call on a tool event (each judged
    /// and recorded; the strictest answer wins), one otherwise, none for an event the run
    /// does not take (model requests, compaction). `root` is the repository the hook was
    /// installed for.
    pub fn run_events(&self, root: Option<&Path>) -> Vec<mandate_run::Event> {
        let kind = match self.kind {
            Kind::SessionStart => mandate_run::Kind::SessionStart,
            Kind::UserPrompt => mandate_run::Kind::Prompt,
            Kind::PreToolUse => mandate_run::Kind::PreToolUse,
            Kind::PermissionRequest => mandate_run::Kind::PermissionRequest,
            Kind::PostToolUse => mandate_run::Kind::PostToolUse,
            Kind::PostToolUseFailure => mandate_run::Kind::PostToolUseFailure,
            Kind::SubagentStart => mandate_run::Kind::SubagentStart,
            Kind::SubagentStop => mandate_run::Kind::SubagentStop,
            Kind::Stop => mandate_run::Kind::Stop,
            Kind::SessionEnd => mandate_run::Kind::SessionEnd,
            Kind::Other => return Vec::new(),
        };
        let agent = mandate_run::Agent {
            name: self.agent.name().to_string(),
            version: self.version.clone(),
        };
        let mut base = mandate_run::Event::new(kind, agent, &self.native);
        base.cwd = self.cwd.as_ref().map(PathBuf::from);
        base.root = root.map(Path::to_path_buf);
        base.session_id = self.session_id.clone();
        base.agent_id = self.agent_id.clone();
        base.agent_type = self.agent_type.clone();
        base.tool_use_id = self.tool_use_id.clone();
        base.transcript_path = self.transcript_path.as_ref().map(PathBuf::from);
        base.model = self.model.as_ref().map(|m| json!(m));
        base.prompt = self.prompt.as_ref().map(|p| json!(p));
        base.source = self.source.as_ref().map(|s| json!(s));
        base.reason = self.reason.as_ref().map(|r| json!(r));
        if kind == mandate_run::Kind::PostToolUseFailure {
            base.error = self.response.clone();
        } else {
            base.response = self.response.clone();
        }
        base.output = self.response_text.clone();
        base.exit_status = self.exit_status;
        let Some(tool) = &self.tool else {
            return vec![base];
        };
        tool.calls
            .iter()
            .map(|call| {
                let mut event = base.clone();
                event.tool = Some(mandate_run::ToolCall {
                    name: call.tool.clone(),
                    input: call.input.clone(),
                });
                if let Some(dir) = &call.cwd {
                    let cwd = match &self.cwd {
                        Some(cwd) if !dir.starts_with('/') => Path::new(cwd).join(dir),
                        _ => PathBuf::from(dir),
                    };
                    event.cwd = Some(cwd);
                }
                event
            })
            .collect()
    }
}

pub use mandate_run::Answer;

/// What the hook process prints and how it exits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

impl Outcome {
    pub fn json(value: Value) -> Outcome {
        Outcome {
            stdout: value.to_string(),
            stderr: String::new(),
            exit_code: 0,
        }
    }

    /// Nothing to say: an empty object, which every agent reads as no decision.
    pub fn nothing() -> Outcome {
        Outcome::json(json!({}))
    }

    /// An answer the event cannot carry (nothing can be refused there): no decision, and
    /// a reason, if the answer had one, on stderr for the log.
    pub fn undecided(answer: &Answer) -> Outcome {
        Outcome {
            stderr: match answer {
                Answer::Deny(r) | Answer::Halt(r) | Answer::Failure(r) | Answer::Ask(r) => {
                    r.clone()
                }
                _ => String::new(),
            },
            ..Outcome::nothing()
        }
    }

    /// SessionStart's context for the model and, if any, a warning for the person in
    /// `systemMessage`: the spelling Codex and Gemini share.
    pub(crate) fn session_context(text: &str, warning: Option<&str>) -> Outcome {
        let mut value = json!({
            "hookSpecificOutput": {
                "hookEventName": "SessionStart",
                "additionalContext": text,
            }
        });
        if let (Some(warning), Some(object)) = (warning, value.as_object_mut()) {
            object.insert("systemMessage".into(), json!(warning));
        }
        Outcome::json(value)
    }

    /// Something the person and the model must know (an event that could not be
    /// recorded): `systemMessage` for the person; after a tool call (`after_tool` names
    /// the event as the agent spells it) the model gets it as `additionalContext` too. On
    /// stderr as well, for the log. The spelling Codex and Gemini share.
    pub(crate) fn notice(text: &str, after_tool: Option<&str>) -> Outcome {
        let value = match after_tool {
            Some(event) => json!({
                "systemMessage": text,
                "hookSpecificOutput": {
                    "hookEventName": event,
                    "additionalContext": text,
                }
            }),
            None => json!({ "systemMessage": text }),
        };
        Outcome {
            stderr: text.to_string(),
            ..Outcome::json(value)
        }
    }
}

/// Fields of a payload, read leniently: a missing or mistyped field is `None`.
pub(crate) fn text(value: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|key| value.get(*key).and_then(Value::as_str))
        .map(str::to_string)
}

/// A tool result as text: a string as it is, `content[].text` of an MCP result joined,
/// anything else as JSON.
pub(crate) fn response_text(response: &Value) -> String {
    match response {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => {
            if let Some(content) = other.get("content").and_then(Value::as_array) {
                return content
                    .iter()
                    .filter_map(|c| c.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            other.to_string()
        }
    }
}

/// The canonical calls of an `apply_patch` text: each added file a `Write`, each deleted
/// file a `Write` of nothing (`delete: true`), each updated file an `Edit` (or a
/// `MultiEdit` for several hunks), a move also a `Write` of the new path. A patch the
/// reader cannot place is passed on whole as the unknown tool `apply_patch`, which the
/// policy's default refuses.
pub fn patch_calls(patch_text: &str) -> Vec<Call> {
    let ops = match patch::parse(patch_text) {
        Ok(ops) => ops,
        Err(error) => {
            return vec![Call::new(
                "apply_patch",
                json!({ "patch": patch_text, "unreadable": error.to_string() }),
            )];
        }
    };
    let mut calls = Vec::new();
    for op in ops {
        match op {
            patch::FileOp::Add { path, content } => {
                calls.push(Call::new(
                    "Write",
                    json!({ "file_path": path, "content": content }),
                ));
            }
            patch::FileOp::Delete { path } => {
                calls.push(Call::new(
                    "Write",
                    json!({ "file_path": path, "content": "", "delete": true }),
                ));
            }
            patch::FileOp::Update {
                path,
                move_to,
                hunks,
            } => {
                match hunks.as_slice() {
                    [] => {}
                    [(old, new)] => calls.push(Call::new(
                        "Edit",
                        json!({ "file_path": path, "old_string": old, "new_string": new }),
                    )),
                    many => calls.push(Call::new(
                        "MultiEdit",
                        json!({
                            "file_path": path,
                            "edits": many.iter().map(|(old, new)| json!({
                                "old_string": old, "new_string": new,
                            })).collect::<Vec<_>>(),
                        }),
                    )),
                }
                if let Some(target) = move_to {
                    if hunks.is_empty() {
                        // The old path goes away.
                        calls.push(Call::new(
                            "Write",
                            json!({ "file_path": path, "content": "", "delete": true }),
                        ));
                    }
                    calls.push(Call::new(
                        "Write",
                        json!({ "file_path": target, "content": "", "moved_from": path }),
                    ));
                }
            }
        }
    }
    calls
}

/// Shell programs and interpreters that, started with no script, read commands from
/// their input: on an agent whose input channel to a running command has no hook
/// (Codex's `write_stdin`), starting one is starting code nobody judges.
const INTERACTIVE: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh", "python", "python3", "node", "irb",
    "ruby", "perl", "php", "lua", "psql", "mysql", "sqlite3", "R", "ghci", "gdb", "pdb", "ipython",
    "nc", "ncat", "socat", "telnet", "ssh", "script", "expect",
];

/// Does `command` start an interpreter or shell that would then read commands from its
/// input (no script, no `-c`), alone or as a stage of a line? Used by agents whose
/// interactive sessions are fed without a hook.
pub fn starts_interactive(command: &str) -> bool {
    command
        .split(['\n', ';', '|', '&', '(', ')', '{', '}', '`'])
        .any(|stage| {
            let words: Vec<&str> = stage.split_whitespace().collect();
            let mut words = words.iter().copied().skip_while(|w| {
                w.contains('=') && !w.starts_with('-')
                    || matches!(
                        *w,
                        "exec"
                            | "env"
                            | "command"
                            | "nohup"
                            | "sudo"
                            | "time"
                            | "then"
                            | "do"
                            | "else"
                            | "!"
                    )
            });
            let Some(program) = words.next() else {
                return false;
            };
            let name = program.rsplit('/').next().unwrap_or(program);
            let name = name.trim_matches(['"', '\'']);
            if !INTERACTIVE.contains(&name) {
                return false;
            }
            // Flags only (or `-i`): nothing for it to run but what arrives on its input.
            let rest: Vec<&str> = words.collect();
            rest.iter().all(|w| {
                w.starts_with('-') && !matches!(*w, "-c" | "-e" | "-m" | "--command" | "--eval")
            }) || rest.iter().any(|w| *w == "-i" || *w == "--interactive")
        })
}
