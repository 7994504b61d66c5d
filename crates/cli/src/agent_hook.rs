//! `mandate hook codex|gemini|copilot|cursor`: the other agents' hook entry points.
//!
//! The adapter (`mandate_agents`) reads the agent's event into the run's terms; the run
//! judges and records each canonical call; the adapter writes the answer in the agent's
//! wire format. Three agents let a call run when the hook crashes, times out or prints
//! something that is not JSON, so this entry point never does any of those: every error
//! and a panic are a refusal, and a watchdog answers "deny" itself if the run has not
//! answered within [`DEADLINE`] — far inside each agent's timeout, which `mandate install
//! --agent` sets to [`AGENT_TIMEOUT_SECONDS`].

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mandate_agents::{Agent, Answer, Event, Kind, Outcome};
use serde_json::Value;

/// How long the hook may take before it refuses the call on its own.
pub const DEADLINE: Duration = Duration::from_secs(8);

/// The timeout `mandate install --agent` gives each agent for the hook, in seconds.
pub const AGENT_TIMEOUT_SECONDS: u64 = 30;

/// Set once an answer has been written, by the run or by the watchdog.
static ANSWERED: AtomicBool = AtomicBool::new(false);

/// The arguments after `mandate hook AGENT`.
#[derive(Debug, Default)]
pub struct Args {
    pub root: Option<PathBuf>,
    /// The event, for agents whose payload does not name it (Copilot's camelCase hooks).
    pub event: Option<String>,
    /// The agent's version as `install` found it, for agents that do not say at run time.
    pub version: Option<String>,
}

pub fn parse_args(rest: &[String]) -> Args {
    let mut args = Args::default();
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--root" => args.root = iter.next().map(PathBuf::from),
            "--event" => args.event = iter.next().cloned(),
            "--agent-version" => args.version = iter.next().cloned(),
            _ => {}
        }
    }
    args
}

/// The most bytes read from stdin; a larger event is refused, not truncated.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Answer one event of `agent` read from stdin; returns the exit code. The deadline
/// starts before stdin is read: an agent that never closes it gets a refusal in time.
pub fn hook(agent: Agent, args: &Args) -> u8 {
    start_watchdog(agent, args.event.clone());
    let mut stdin = Vec::new();
    if let Err(error) = std::io::stdin()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut stdin)
    {
        return emit(&failure_outcome(
            agent,
            args.event.as_deref(),
            &format!("mandate refused this event: cannot read stdin ({error})"),
        ));
    }
    if stdin.len() as u64 > MAX_INPUT_BYTES {
        return emit(&failure_outcome(
            agent,
            args.event.as_deref(),
            "mandate refused this event: its input is larger than 64 MiB",
        ));
    }
    let stdin = stdin.as_slice();
    let outcome = std::panic::catch_unwind(|| answer(agent, args, stdin)).unwrap_or_else(|_| {
        failure_outcome(
            agent,
            args.event.as_deref(),
            "mandate hit an internal error while judging this call, so it is refused",
        )
    });
    emit(&outcome)
}

/// Write the outcome unless the watchdog already answered.
fn emit(outcome: &Outcome) -> u8 {
    if ANSWERED.swap(true, Ordering::SeqCst) {
        // The watchdog answered and is ending the process.
        std::thread::sleep(Duration::from_secs(1));
        return 2;
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(outcome.stdout.as_bytes());
    let _ = stdout.flush();
    if !outcome.stderr.is_empty() {
        let _ = writeln!(std::io::stderr(), "{}", outcome.stderr);
    }
    u8::try_from(outcome.exit_code).unwrap_or(2)
}

fn start_watchdog(agent: Agent, event: Option<String>) {
    let _ = std::thread::Builder::new()
        .name("deadline".into())
        .spawn(move || {
            std::thread::sleep(DEADLINE);
            let outcome = failure_outcome(
                agent,
                event.as_deref(),
                &format!(
                    "mandate did not decide within {} seconds (a slow disk or team server?), \
                     so this call is refused; retry it",
                    DEADLINE.as_secs()
                ),
            );
            let code = emit(&outcome);
            std::process::exit(i32::from(code));
        });
}

/// A refusal when the event itself may not be known: tool events are refused in the
/// agent's format; anything else gets an empty answer and the reason on stderr.
fn failure_outcome(agent: Agent, event: Option<&str>, reason: &str) -> Outcome {
    let mut probe = agent.translate(&Value::Null, event, &[]);
    if probe.kind == Kind::Other {
        // The event is unknown here: answer as for a tool call, which is what matters.
        probe.kind = Kind::PreToolUse;
    }
    agent.answer(&probe, &Answer::Failure(reason.to_string()))
}

fn answer(agent: Agent, args: &Args, stdin: &[u8]) -> Outcome {
    let payload: Value = match serde_json::from_slice(stdin) {
        Ok(value) => value,
        Err(error) => {
            return failure_outcome(
                agent,
                args.event.as_deref(),
                &format!("mandate refused this event: its input is not valid JSON ({error})"),
            );
        }
    };
    // Only Copilot's `server-tool` names need the registered server names.
    let servers = if agent == Agent::Copilot {
        mcp_server_names(args)
    } else {
        Vec::new()
    };
    let mut event = agent.translate(&payload, args.event.as_deref(), &servers);
    event.version = event.version.take().or_else(|| version(agent, args));
    if let Some(why) = event.unreadable.clone() {
        let reason = format!("mandate refused this event: {why}; nothing was allowed");
        if event.kind == Kind::Other {
            // Not even the event is known: answer as for a tool call, which is what matters.
            event.kind = Kind::PreToolUse;
        }
        return agent.answer(&event, &Answer::Failure(reason));
    }
    // User-level hooks (Copilot's) name the repository they govern: a session elsewhere
    // is not this installation's business.
    if let (Some(root), Some(cwd)) = (&args.root, &event.cwd)
        && !std::path::Path::new(cwd).starts_with(root)
    {
        return Outcome::nothing();
    }
    let answer = run(&event, args);
    agent.answer(&event, &answer)
}

fn version(agent: Agent, args: &Args) -> Option<String> {
    let live = match agent {
        Agent::Codex => mandate_agents::codex::version_from_env(),
        Agent::Copilot => mandate_agents::copilot::version_from_env(),
        Agent::Gemini | Agent::Cursor => None,
    };
    live.or_else(|| args.version.clone())
}

/// MCP server names the policy registers: Copilot's `server-tool` names are split on them.
fn mcp_server_names(args: &Args) -> Vec<String> {
    let Some(root) = &args.root else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string(root.join(mandate_project::POLICY_FILE)) else {
        return Vec::new();
    };
    // Only the table names are needed: `[mcp.servers.NAME]`.
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("[mcp.servers."))
        .filter_map(|rest| rest.strip_suffix(']'))
        .map(|name| name.trim_matches('"').to_string())
        .collect()
}

/// Judge and record the event through the run; the strictest answer over its canonical
/// calls wins.
fn run(event: &Event, args: &Args) -> Answer {
    let mut strictest = Answer::Nothing;
    for run_event in event.run_events(args.root.as_deref()) {
        let answer = mandate_run::handle(&run_event);
        if rank(&answer) > rank(&strictest) {
            strictest = answer;
        }
        // One refused part refuses the call; the rest need not be judged or recorded.
        if matches!(
            strictest,
            Answer::Halt(_) | Answer::Failure(_) | Answer::Deny(_)
        ) {
            break;
        }
    }
    // Codex asks its permission question of MCP calls too, and `codex exec` has nobody to
    // answer it: an MCP call the run did not refuse is answered "allow". Anything else
    // (a sandbox escalation of a shell command) stays unanswered, which Codex refuses.
    let mcp = event
        .tool
        .as_ref()
        .is_some_and(|t| t.calls.iter().all(|c| c.tool.starts_with("mcp__")));
    if event.kind == Kind::PermissionRequest
        && mcp
        && rank(&strictest) <= rank(&Answer::Allow(String::new()))
    {
        return Answer::Allow("within the task contract".to_string());
    }
    strictest
}

fn rank(answer: &Answer) -> u8 {
    match answer {
        Answer::Nothing => 0,
        Answer::Context(_) | Answer::ContextAndWarning(..) | Answer::Notice(_) => 1,
        Answer::Allow(_) => 2,
        Answer::Ask(_) => 3,
        Answer::KeepGoing(_) => 4,
        Answer::Deny(_) => 5,
        Answer::Failure(_) => 6,
        Answer::Halt(_) => 7,
    }
}
