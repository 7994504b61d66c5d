//! Reconciling one session's transcript (the agent's own log) with the run record, at the events
//! where it is cheap: PostToolUse, Stop, SubagentStop, SessionEnd, and the next
//! SessionStart for a session that ended without its SessionEnd. PreToolUse never reads
//! the transcript: it stays on the hot path's budget.
//!
//! For every tool use the transcript shows with no matching decision on record, an event
//! is appended: `tool.refused_by_agent` (Claude Code's own permission rules or input
//! validation refused it, with the reason the model was given) or `tool.unguarded` (a
//! result, and no decision that let the call run). Each carries the touches mandate would
//! have judged, so `touched` and `why` find it. What the reader could not understand is
//! recorded as `transcript.not_understood`, never skipped.

use std::path::{Path, PathBuf};

use mandate_policy::{Call, Context, Engine};
use mandate_project::RealFs;
use serde_json::{Map, Value, json};

use crate::trail::{AgentLog, NotUnderstood, Trails};

/// How far a reconciliation goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// What the transcript gained (PostToolUse, Stop); `agent_id` picks a subagent's own
    /// transcript.
    Gained { agent_id: Option<String> },
    /// A subagent finished: its own transcript, to its end.
    Subagent(PathBuf),
    /// The session is over (SessionEnd, or found unended at a later SessionStart): the
    /// main transcript and every subagent's, and what is still open is settled.
    End,
}

/// The run and session a reconciliation works for.
pub(crate) struct Scope<'a> {
    pub log: AgentLog,
    pub workspace_dir: &'a Path,
    pub run_id: &'a str,
    pub run_dir: &'a Path,
    pub session_id: &'a str,
    /// `transcript_path` of the event, when it names one.
    pub transcript: Option<&'a Path>,
    pub engine: &'a Engine,
    pub root: &'a Path,
    pub cwd: &'a Path,
    /// The time stamp recorded on the events.
    pub now: &'a str,
}

/// Reconcile; `append` records one event (and fails when it cannot). Returns the events
/// recorded. On an error nothing of the trail is saved, so the next reconciliation reads
/// the same part again.
pub(crate) fn reconcile(
    scope: &Scope<'_>,
    reach: &Reach,
    append: &mut dyn FnMut(Map<String, Value>) -> Result<(), String>,
) -> Result<usize, String> {
    // Nothing written yet (or no transcript at all): nothing to read, nothing to keep.
    let unread = |path: Option<&Path>| {
        path.is_none_or(|p| std::fs::metadata(p).map_or(true, |m| !m.is_file() || m.len() == 0))
    };
    if *reach != Reach::End && unread(scope.transcript) && !matches!(reach, Reach::Subagent(_)) {
        let known = Trails::new(scope.workspace_dir).exists(scope.session_id);
        if !known {
            return Ok(0);
        }
    }
    let trails = Trails::new(scope.workspace_dir);
    let mut held = trails
        .hold(scope.session_id, scope.run_id)
        .map_err(|error| format!("cannot keep this session's transcript place: {error}"))?;
    if held.trail.transcript.is_none() {
        held.trail.transcript = scope.transcript.map(Path::to_path_buf);
    }
    let Some(main) = held.trail.transcript.clone() else {
        // Nothing names the transcript: nothing to read.
        return Ok(0);
    };
    let files: Vec<PathBuf> = match reach {
        Reach::Gained { agent_id: None } => vec![main.clone()],
        Reach::Gained {
            agent_id: Some(agent),
        } => vec![(scope.log.subagent_log)(&main, agent)],
        Reach::Subagent(path) => vec![path.clone()],
        Reach::End => {
            let mut files = vec![main.clone()];
            files.extend((scope.log.subagent_logs)(&main));
            files
        }
    };
    // The transcript first, the run's log after: a result in the transcript has its
    // decision (recorded before the call ran) in what the log read finds.
    let mut chunks = Vec::new();
    let mut events: Vec<Map<String, Value>> = Vec::new();
    for file in files {
        let key = file.to_string_lossy().to_string();
        let offset = held.trail.offsets.get(&key).copied().unwrap_or(0);
        match (scope.log.read)(&file, offset) {
            Ok(chunk) => {
                if let Some(event) = not_understood(&key, &chunk.not_understood) {
                    events.push(event);
                }
                held.trail.offsets.insert(key, chunk.next_offset);
                chunks.push(chunk);
            }
            Err(error) => {
                let mut event = Map::new();
                event.insert("type".into(), json!("transcript.unreadable"));
                event.insert("source".into(), json!(key));
                event.insert("why".into(), json!(error.to_string()));
                events.push(event);
            }
        }
    }
    let (log_events, log_offset) =
        mandate_record::read_values_from(scope.run_dir, held.trail.log_offset)
            .map_err(|error| format!("cannot read the run record: {error}"))?;
    held.trail.take_log(&log_events);
    held.trail.log_offset = log_offset;
    let mut findings = Vec::new();
    for chunk in chunks {
        findings.extend(held.trail.take_uses(chunk.uses, chunk.results));
    }
    if *reach == Reach::End {
        findings.extend(held.trail.finish());
    }
    for finding in &findings {
        let mut event = finding.event(&main.to_string_lossy());
        if let Some(usage) = finding.tool_use() {
            let (touches, would) = judged(scope, &usage.tool, &usage.input);
            event.insert("touches".into(), touches);
            if let Some(would) = would {
                event.insert("would_decide".into(), json!(would));
            }
        }
        events.push(event);
    }
    let count = events.len();
    for mut event in events {
        event.insert("session_id".into(), json!(scope.session_id));
        event.insert("time".into(), json!(scope.now));
        append(event)?;
    }
    Trails::save(&held)
        .map_err(|error| format!("cannot keep this session's transcript place: {error}"))?;
    Ok(count)
}

/// The sessions of this run that never ended (no SessionEnd reached the hook): each is
/// reconciled to its end.
pub(crate) fn recover_unended(
    scope: &Scope<'_>,
    append: &mut dyn FnMut(Map<String, Value>) -> Result<(), String>,
) -> Result<usize, String> {
    let mut count = 0;
    for trail in Trails::new(scope.workspace_dir).open_sessions(scope.run_id, scope.session_id) {
        let other = Scope {
            session_id: &trail.session_id,
            transcript: trail.transcript.as_deref(),
            ..*scope
        };
        count += reconcile(&other, &Reach::End, append)?;
    }
    Ok(count)
}

fn not_understood(source: &str, problems: &[NotUnderstood]) -> Option<Map<String, Value>> {
    let first = problems.first()?;
    let mut event = Map::new();
    event.insert("type".into(), json!("transcript.not_understood"));
    event.insert("source".into(), json!(source));
    event.insert("lines".into(), json!(problems.len()));
    event.insert("offset".into(), json!(first.offset));
    event.insert("why".into(), json!(first.why));
    Some(event)
}

/// The touches mandate would have found in the call, and what it would have decided:
/// so `touched` and `why` see calls that never reached the hook.
fn judged(scope: &Scope<'_>, tool: &str, input: &Value) -> (Value, Option<String>) {
    if !input.is_object() {
        return (json!([]), None);
    }
    let fs = RealFs::new(scope.root);
    let verdict = scope.engine.judge(
        &Call {
            tool,
            input,
            cwd: scope.cwd,
        },
        &Context {
            rollback_note: false,
            disabled: &[],
            drifted: &[],
            carried: None,
        },
        &fs,
    );
    let touches = verdict
        .touches
        .iter()
        .map(|t| {
            json!({
                "kind": t.kind.as_str(),
                "target": t.target,
                "decision": t.decision.as_str(),
                "rules": t.rules,
            })
        })
        .collect();
    (
        Value::Array(touches),
        Some(verdict.decision.as_str().to_string()),
    )
}
