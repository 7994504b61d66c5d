//! The run: what happens to one event of a delegated task, whichever agent sends it.
//!
//! An agent adapter (`mandate-claude-code`, and one crate or module per other agent)
//! reads its agent's hook payload, turns it into an [`Event`] in the run's terms — tool
//! calls in mandate's canonical tool vocabulary, the one `mandate_policy::tools` reads —
//! and hands it to [`handle`]. The run judges the call against the contract and policy,
//! records it, settles approvals, applies the kill switch and the stop, rollback and
//! evidence gates, and returns an [`Answer`]. The adapter writes that answer in its
//! agent's wire format and exit code. Nothing here knows any agent's JSON.
//!
//! [`handle`] never panics: a panic inside becomes [`Answer::Failure`], which every
//! adapter turns into a refusal wherever its agent can refuse.

mod reconcile;
mod session;
pub mod trail;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use serde_json::Value;

pub use mandate_project::POLICY_FILE;
pub use session::missing_evidence_reason;

/// How often the stop gate keeps the agent from stopping before it lets the run end
/// incomplete (Claude Code itself gives up after 8).
pub const MAX_STOP_BLOCKS: u32 = 3;

/// The agent that sent an event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Agent {
    /// The name `mandate hook NAME` and `[authority] agents` use: `claude-code`, `codex`, …
    pub name: String,
    /// The agent's version, where its payload or environment says it.
    pub version: Option<String>,
}

/// What happened, in the run's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    SessionStart,
    Prompt,
    /// A tool call about to run: judged, and refused or let through.
    PreToolUse,
    /// The agent is about to ask the person at the prompt about a call.
    PermissionRequest,
    PostToolUse,
    PostToolUseFailure,
    SubagentStart,
    SubagentStop,
    /// The agent wants to end its turn: the evidence gate.
    Stop,
    SessionEnd,
}

impl Kind {
    /// Whether an answer to this event can refuse something (a call, a prompt, a stop).
    pub fn can_refuse(self) -> bool {
        matches!(
            self,
            Kind::PreToolUse | Kind::PermissionRequest | Kind::Prompt
        )
    }
}

/// A tool call in mandate's canonical vocabulary (`Bash`, `Read`, `Write`, `Edit`,
/// `Glob`, `Grep`, `WebFetch`, `Task`, `mcp__SERVER__TOOL`, … with the input fields
/// `mandate_policy::tools` reads).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub name: String,
    pub input: Value,
}

/// One hook event, as an adapter hands it to the run.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: Kind,
    pub agent: Agent,
    /// The agent's own name for the event (`PreToolUse`, `BeforeTool`, …): kept in the
    /// record where it says more than `kind`.
    pub agent_event: String,
    /// The working directory the call runs in.
    pub cwd: Option<PathBuf>,
    /// The repository root the hook was installed for, if the adapter knows it.
    pub root: Option<PathBuf>,
    pub session_id: Option<String>,
    /// A subagent's id and type, on calls a subagent makes.
    pub agent_id: Option<String>,
    pub agent_type: Option<String>,
    pub prompt_id: Option<String>,
    pub tool_use_id: Option<String>,
    /// The agent's transcript of the session, where it gives one.
    pub transcript_path: Option<PathBuf>,
    /// A finishing subagent's own transcript (SubagentStop).
    pub subagent_transcript_path: Option<PathBuf>,
    /// How to read the agent's transcripts, where the adapter can: the run reconciles
    /// them with the record (calls the agent refused itself, calls that ran unguarded).
    pub agent_log: Option<trail::AgentLog>,
    /// The call, on tool events.
    pub tool: Option<ToolCall>,
    /// What the tool returned (PostToolUse), as the agent reported it.
    pub response: Option<Value>,
    /// Why the tool failed (PostToolUseFailure).
    pub error: Option<Value>,
    pub duration_ms: Option<Value>,
    /// A shell tool's printed output and exit status, where the adapter can tell them
    /// (test evidence is read from these).
    pub output: Option<String>,
    pub exit_status: Option<i64>,
    /// The prompt text (Prompt).
    pub prompt: Option<Value>,
    /// Why a session started or ended, as the agent put it.
    pub source: Option<Value>,
    pub reason: Option<Value>,
    pub model: Option<Value>,
}

impl Event {
    /// An event with nothing but its kind and agent filled in.
    pub fn new(kind: Kind, agent: Agent, agent_event: &str) -> Event {
        Event {
            kind,
            agent,
            agent_event: agent_event.to_string(),
            cwd: None,
            root: None,
            session_id: None,
            agent_id: None,
            agent_type: None,
            prompt_id: None,
            tool_use_id: None,
            transcript_path: None,
            subagent_transcript_path: None,
            agent_log: None,
            tool: None,
            response: None,
            error: None,
            duration_ms: None,
            output: None,
            exit_status: None,
            prompt: None,
            source: None,
            reason: None,
            model: None,
        }
    }
}

/// What the run answers; the adapter writes it in its agent's terms.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// No decision: the agent goes on as if the hook had said nothing.
    Nothing,
    /// Let the call run (PreToolUse), with the reason.
    Allow(String),
    /// Let the person at the prompt decide (PreToolUse, where the agent can ask).
    Ask(String),
    /// Refuse the call; the reason goes to the model.
    Deny(String),
    /// Refuse the call (on a tool event) and end the session: a stop condition or a
    /// stopped run.
    Halt(String),
    /// Keep the agent from stopping; the reason is its next instruction.
    KeepGoing(String),
    /// Context for the model at session start.
    Context(String),
    /// Something the agent and the user must know (an event could not be recorded), on
    /// an event that decides nothing.
    Notice(String),
    /// Context for the model at session start, and a warning for the person (once per
    /// session: a team server link that does not work).
    ContextAndWarning(String, String),
    /// mandate itself failed: refuse wherever the event can refuse.
    Failure(String),
}

/// Handle one event. Never panics: a panic inside becomes [`Answer::Failure`].
pub fn handle(event: &Event) -> Answer {
    match std::panic::catch_unwind(AssertUnwindSafe(|| session::handle(event))) {
        Ok(answer) => answer,
        Err(_) => Answer::Failure(
            "mandate hit an internal error while judging this call, so it is refused. Report \
             the bug with the record; the delegating user can retry."
                .to_string(),
        ),
    }
}
