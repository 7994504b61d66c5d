//! Every tool use of a session accounted for: the agent's own log held against the record.
//!
//! A hook sees only the calls that reach it. The agent refuses some calls itself before
//! any hook runs (its permission rules, its input validation), and an agent bug can run a
//! call with no hook at all. The agent's own log of the session (for Claude Code, the
//! transcript) holds every tool use and the result the model was given, so reading it
//! beside the run record finds both: a use with a refusal and no decision on record was
//! **refused by the agent itself**; a use with a result and no decision **ran unguarded**.
//!
//! The reconciliation is incremental and kept per session in a small trail file outside
//! the workspace (`<workspace state>/sessions/<session>.json`): the byte offsets read so far
//! in each of the agent's log files and in the run's log, the uses still waiting for their
//! result, and the decisions still waiting for their use. The agent's log is read
//! *before* the run's log, so a result seen in the agent's log always has its decision
//! (appended before the call ran) in the part of the run's log read after it.
//!
//! Nothing here knows an agent's wire format: an adapter reads its agent's log into
//! [`ToolUse`]s and [`ToolResult`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// One tool use the model sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolUse {
    pub id: String,
    pub tool: String,
    pub input: Value,
    /// The subagent whose log holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// Who refused a call before it ran, as the agent's log tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefusedBy {
    /// A hook (mandate's, or another one).
    Hook,
    /// One of the agent's own permission rules; the settings source when named.
    PermissionRule(Option<String>),
    /// The agent's check of the tool's input (schema, "read the file first", …).
    InputValidation,
    /// Anything else the agent names as the source of a rejection.
    Other(String),
}

impl RefusedBy {
    /// The words the record uses.
    pub fn describe(&self) -> String {
        match self {
            RefusedBy::Hook => "a hook".to_string(),
            RefusedBy::PermissionRule(Some(source)) => {
                format!("the agent's own permission rules ({source})")
            }
            RefusedBy::PermissionRule(None) => "the agent's own permission rules".to_string(),
            RefusedBy::InputValidation => "the agent's own input validation".to_string(),
            RefusedBy::Other(source) => format!("the agent itself ({source})"),
        }
    }

    /// A short stable key for reports and tests.
    pub fn key(&self) -> &'static str {
        match self {
            RefusedBy::Hook => "hook",
            RefusedBy::PermissionRule(_) => "permission_rule",
            RefusedBy::InputValidation => "input_validation",
            RefusedBy::Other(_) => "agent",
        }
    }
}

/// The result the model was given for one tool use.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    pub tool_use_id: String,
    pub is_error: bool,
    /// The text the model was given (text blocks joined; other blocks named).
    pub text: String,
    /// Set when the call did not run: who refused it.
    pub refused_by: Option<RefusedBy>,
    pub agent_id: Option<String>,
    pub time: Option<String>,
}

/// Something in the agent's log the reader could not make sense of.
#[derive(Clone, Debug, PartialEq)]
pub struct NotUnderstood {
    /// Byte offset of the line in the file.
    pub offset: u64,
    pub why: String,
}

/// What one read found, in file order within each list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chunk {
    pub uses: Vec<ToolUse>,
    pub results: Vec<ToolResult>,
    pub not_understood: Vec<NotUnderstood>,
    /// Where the next read starts: after the last complete line.
    pub next_offset: u64,
    /// Lines read.
    pub lines: u64,
}

/// How the run reads an agent's own log of a session (for Claude Code, its transcript):
/// the adapter knows the format and where a subagent's log lives.
#[derive(Clone, Copy, Debug)]
pub struct AgentLog {
    /// Read the log at `path` from byte `offset` (a missing file reads as empty).
    pub read: fn(&Path, u64) -> std::io::Result<Chunk>,
    /// The logs of the subagents of the session whose log is the argument.
    pub subagent_logs: fn(&Path) -> Vec<PathBuf>,
    /// The log of one subagent (by its id) of the session whose log is the argument.
    pub subagent_log: fn(&Path, &str) -> PathBuf,
}

/// What a recorded hook event says about one call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Decided {
    /// `allow`, `ask`, `deny`, `stop`; empty when only a result was recorded.
    #[serde(default)]
    pub decision: String,
    #[serde(default)]
    pub enforced: bool,
    /// A `tool.post` or `tool.failure` is on record.
    #[serde(default)]
    pub result: bool,
}

/// One session's place in the agent's log and in the run's log.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Trail {
    pub session_id: String,
    pub run_id: String,
    /// The agent's log of the main session.
    #[serde(default)]
    pub transcript: Option<PathBuf>,
    /// Bytes read so far, per agent log file.
    #[serde(default)]
    pub offsets: BTreeMap<String, u64>,
    /// Bytes of the run's log read so far.
    #[serde(default)]
    pub log_offset: u64,
    /// Uses seen in the agent's log, their result not yet.
    #[serde(default)]
    pub pending: BTreeMap<String, ToolUse>,
    /// Decisions on record, their result not yet seen in the agent's log.
    #[serde(default)]
    pub decided: BTreeMap<String, Decided>,
    /// Uses already reported (refused by the agent, unguarded): never reported twice.
    #[serde(default)]
    pub reported: BTreeSet<String>,
    /// The session ended and its last uses were settled.
    #[serde(default)]
    pub ended: bool,
}

/// Why a use counts as unguarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unguarded {
    /// A result, and no decision on record.
    NoDecision,
    /// A result that is not a refusal, although the decision on record refused it.
    RanDespite(String),
    /// The session ended with neither a decision nor a result.
    NoDecisionNoResult,
}

/// What the reconciliation found about one use.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// The agent refused the call itself; `after` is the decision on record, if the hook
    /// saw the call first (input validation after an allow).
    RefusedByAgent {
        usage: ToolUse,
        by: RefusedBy,
        reason: String,
        after: Option<String>,
    },
    /// The call ran (or may have) without a decision that let it.
    Unguarded {
        usage: ToolUse,
        why: Unguarded,
        result: Option<ToolResult>,
    },
    /// A result for a use this session never showed.
    ResultWithoutUse(ToolResult),
}

impl Finding {
    /// The event recorded for this finding (the caller adds `session_id`, `time` and the
    /// judged touches).
    pub fn event(&self, source: &str) -> Map<String, Value> {
        let mut event = Map::new();
        match self {
            Finding::RefusedByAgent {
                usage,
                by,
                reason,
                after,
            } => {
                event.insert("type".into(), json!("tool.refused_by_agent"));
                insert_use(&mut event, usage);
                event.insert("by".into(), json!(by.key()));
                event.insert("refused_by".into(), json!(by.describe()));
                if let RefusedBy::PermissionRule(Some(rule_source)) = by {
                    event.insert("rule_source".into(), json!(rule_source));
                }
                event.insert("reason".into(), json!(reason));
                if let Some(after) = after {
                    event.insert("hook_decision".into(), json!(after));
                }
            }
            Finding::Unguarded { usage, why, result } => {
                event.insert("type".into(), json!("tool.unguarded"));
                insert_use(&mut event, usage);
                let (key, text) = match why {
                    Unguarded::NoDecision => (
                        "no_decision",
                        "the agent's log shows a result, and no hook decision is on record"
                            .to_string(),
                    ),
                    Unguarded::RanDespite(decision) => (
                        "ran_despite_refusal",
                        format!(
                            "the agent's log shows it ran although the hook's decision was \
                             {decision}"
                        ),
                    ),
                    Unguarded::NoDecisionNoResult => (
                        "no_decision_no_result",
                        "the session ended with no hook decision and no result for it: it may \
                         have run"
                            .to_string(),
                    ),
                };
                event.insert("why".into(), json!(key));
                event.insert("explanation".into(), json!(text));
                if let Some(result) = result {
                    event.insert("is_error".into(), json!(result.is_error));
                    // What the model was given, as a digest: it may be file contents.
                    event.insert(
                        "result".into(),
                        mandate_record::digest::digest_of(&result.text),
                    );
                }
            }
            Finding::ResultWithoutUse(result) => {
                event.insert("type".into(), json!("transcript.not_understood"));
                event.insert("tool_use_id".into(), json!(result.tool_use_id));
                event.insert(
                    "why".into(),
                    json!("a tool result answers a tool use this session's log never showed"),
                );
            }
        }
        event.insert("source".into(), json!(source));
        event
    }

    pub fn tool_use(&self) -> Option<&ToolUse> {
        match self {
            Finding::RefusedByAgent { usage, .. } | Finding::Unguarded { usage, .. } => Some(usage),
            Finding::ResultWithoutUse(_) => None,
        }
    }
}

fn insert_use(event: &mut Map<String, Value>, usage: &ToolUse) {
    event.insert("tool_use_id".into(), json!(usage.id));
    event.insert("tool".into(), json!(usage.tool));
    event.insert("input".into(), usage.input.clone());
    if let Some(agent) = &usage.agent_id {
        event.insert("agent_id".into(), json!(agent));
    }
    if let Some(time) = &usage.time {
        event.insert("used_at".into(), json!(time));
    }
}

impl Trail {
    pub fn new(session_id: &str, run_id: &str) -> Trail {
        Trail {
            session_id: session_id.to_string(),
            run_id: run_id.to_string(),
            ..Trail::default()
        }
    }

    /// Take in what the run's log gained since the last look: decisions and results of
    /// this session, and what was already reported.
    pub fn take_log(&mut self, events: &[Value]) {
        for event in events {
            if event.get("session_id").and_then(Value::as_str) != Some(self.session_id.as_str()) {
                continue;
            }
            let Some(id) = event.get("tool_use_id").and_then(Value::as_str) else {
                continue;
            };
            let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
            match kind {
                "tool.pre" => {
                    let entry = self.decided.entry(id.to_string()).or_default();
                    entry.decision = event
                        .get("decision")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    entry.enforced = event
                        .get("enforced")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                }
                "tool.post" | "tool.failure" => {
                    self.decided.entry(id.to_string()).or_default().result = true;
                }
                "tool.refused_by_agent" | "tool.unguarded" => {
                    self.reported.insert(id.to_string());
                    self.pending.remove(id);
                    self.decided.remove(id);
                }
                _ => {}
            }
        }
    }

    /// Take in what the agent's log gained; returns what must be recorded.
    pub fn take_uses(&mut self, uses: Vec<ToolUse>, results: Vec<ToolResult>) -> Vec<Finding> {
        for usage in uses {
            if !self.reported.contains(&usage.id) {
                self.pending.insert(usage.id.clone(), usage);
            }
        }
        let mut found = Vec::new();
        for result in results {
            let id = result.tool_use_id.clone();
            if self.reported.contains(&id) {
                continue;
            }
            let decided = self.decided.remove(&id);
            let Some(usage) = self.pending.remove(&id) else {
                if decided.is_none() {
                    found.push(Finding::ResultWithoutUse(result));
                }
                continue;
            };
            let finding = match (decided, &result.refused_by) {
                (None, Some(by)) => Some(Finding::RefusedByAgent {
                    usage,
                    by: by.clone(),
                    reason: result.text.clone(),
                    after: None,
                }),
                (None, None) => Some(Finding::Unguarded {
                    usage,
                    why: Unguarded::NoDecision,
                    result: Some(result),
                }),
                // The hook let it through, then the agent refused it (its input
                // validation, or a permission rule it checks after hooks).
                (Some(d), Some(by))
                    if *by != RefusedBy::Hook && d.decision == "allow" && !d.result =>
                {
                    Some(Finding::RefusedByAgent {
                        usage,
                        by: by.clone(),
                        reason: result.text.clone(),
                        after: Some(d.decision),
                    })
                }
                (Some(d), None)
                    if d.enforced
                        && matches!(d.decision.as_str(), "deny" | "stop")
                        && !d.result =>
                {
                    Some(Finding::Unguarded {
                        usage,
                        why: Unguarded::RanDespite(d.decision),
                        result: Some(result),
                    })
                }
                (Some(_), _) => None,
            };
            if let Some(finding) = finding {
                if let Some(usage) = finding.tool_use() {
                    self.reported.insert(usage.id.clone());
                }
                found.push(finding);
            }
        }
        found
    }

    /// The session is over: a use with neither a decision nor a result may have run
    /// unseen. Everything still open is settled.
    pub fn finish(&mut self) -> Vec<Finding> {
        let mut found = Vec::new();
        for (id, usage) in std::mem::take(&mut self.pending) {
            if self.decided.contains_key(&id) || self.reported.contains(&id) {
                continue;
            }
            self.reported.insert(id);
            found.push(Finding::Unguarded {
                usage,
                why: Unguarded::NoDecisionNoResult,
                result: None,
            });
        }
        self.decided.clear();
        self.ended = true;
        found
    }
}

/// The trails of one workspace's sessions: `<dir>/<session>.json`, each changed under its
/// own lock so concurrent hooks of one session (parallel subagents) take turns.
pub struct Trails {
    dir: PathBuf,
}

/// A trail loaded under its lock; saved with [`Trails::save`].
pub struct Held {
    pub trail: Trail,
    path: PathBuf,
    _lock: File,
}

impl Trails {
    pub fn new(workspace_dir: &Path) -> Trails {
        Trails {
            dir: workspace_dir.join("sessions"),
        }
    }

    fn file_name(session_id: &str) -> String {
        let plain = !session_id.is_empty()
            && session_id.len() <= 128
            && session_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if plain {
            session_id.to_string()
        } else {
            mandate_record::digest::sha256_hex(session_id.as_bytes())
        }
    }

    /// Whether `session_id` has a trail yet.
    pub fn exists(&self, session_id: &str) -> bool {
        self.dir
            .join(format!("{}.json", Self::file_name(session_id)))
            .is_file()
    }

    /// The trail of `session_id`, locked; a fresh one when there is none (or it belongs
    /// to another run).
    pub fn hold(&self, session_id: &str, run_id: &str) -> std::io::Result<Held> {
        std::fs::create_dir_all(&self.dir)?;
        let name = Self::file_name(session_id);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(format!("{name}.lock")))?;
        lock.lock()?;
        let path = self.dir.join(format!("{name}.json"));
        let trail = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Trail>(&bytes)
                .ok()
                .filter(|t| t.run_id == run_id),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(error),
        };
        Ok(Held {
            trail: trail.unwrap_or_else(|| Trail::new(session_id, run_id)),
            path,
            _lock: lock,
        })
    }

    /// Write the trail back (temporary file and rename; no fsync: a lost trail is read
    /// again from an older place, and what was reported is on record, so nothing is
    /// reported twice).
    pub fn save(held: &Held) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&held.trail).map_err(std::io::Error::other)?;
        let tmp = held
            .path
            .with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &held.path)
    }

    /// The sessions of `run_id` that have not ended, other than `except`.
    pub fn open_sessions(&self, run_id: &str, except: &str) -> Vec<Trail> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut open: Vec<Trail> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|bytes| serde_json::from_slice::<Trail>(&bytes).ok())
            .filter(|t| t.run_id == run_id && !t.ended && t.session_id != except)
            .collect();
        open.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        open
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn usage(id: &str, tool: &str) -> ToolUse {
        ToolUse {
            id: id.into(),
            tool: tool.into(),
            input: json!({"file_path": "/r/x"}),
            agent_id: None,
            time: None,
        }
    }

    fn result(id: &str, is_error: bool, refused_by: Option<RefusedBy>) -> ToolResult {
        ToolResult {
            tool_use_id: id.into(),
            is_error,
            text: "told".into(),
            refused_by,
            agent_id: None,
            time: None,
        }
    }

    #[test]
    fn each_use_is_matched_against_its_decision() {
        let mut trail = Trail::new("s", "r");
        trail.take_log(&[
            json!({"type": "tool.pre", "session_id": "s", "tool_use_id": "hooked", "decision": "deny", "enforced": true}),
            json!({"type": "tool.pre", "session_id": "s", "tool_use_id": "ok", "decision": "allow", "enforced": true}),
            json!({"type": "tool.post", "session_id": "s", "tool_use_id": "ok"}),
            json!({"type": "tool.pre", "session_id": "s", "tool_use_id": "leak", "decision": "deny", "enforced": true}),
            json!({"type": "tool.pre", "session_id": "s", "tool_use_id": "valid", "decision": "allow", "enforced": true}),
            json!({"type": "tool.pre", "session_id": "other", "tool_use_id": "unguarded", "decision": "allow"}),
        ]);
        let found = trail.take_uses(
            [
                "hooked",
                "ok",
                "rule",
                "unguarded",
                "leak",
                "valid",
                "later",
            ]
            .iter()
            .map(|id| usage(id, "Read"))
            .collect(),
            vec![
                result("hooked", true, Some(RefusedBy::Hook)),
                result("ok", false, None),
                result("rule", true, Some(RefusedBy::PermissionRule(None))),
                result("unguarded", false, None),
                result("leak", false, None),
                result("valid", true, Some(RefusedBy::InputValidation)),
            ],
        );
        let kinds: Vec<(String, String)> = found
            .iter()
            .map(|f| {
                let e = f.event("t");
                (
                    e["tool_use_id"].as_str().unwrap().to_string(),
                    e["type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("rule".into(), "tool.refused_by_agent".into()),
                ("unguarded".into(), "tool.unguarded".into()),
                ("leak".into(), "tool.unguarded".into()),
                ("valid".into(), "tool.refused_by_agent".into()),
            ]
        );
        assert_eq!(trail.pending.len(), 1, "`later` waits for its result");
        // Reading the same again (a trail lost after the events were recorded) reports
        // nothing twice once the recorded events are read back.
        let events: Vec<Value> = found
            .iter()
            .map(|f| {
                let mut e = f.event("t");
                e.insert("session_id".into(), json!("s"));
                Value::Object(e)
            })
            .collect();
        let mut again = Trail::new("s", "r");
        again.take_log(&events);
        let twice = again.take_uses(
            vec![usage("rule", "Read")],
            vec![result("rule", true, Some(RefusedBy::PermissionRule(None)))],
        );
        assert!(twice.is_empty(), "{twice:?}");
        let ended = trail.finish();
        assert_eq!(ended.len(), 1);
        assert!(matches!(
            &ended[0],
            Finding::Unguarded {
                why: Unguarded::NoDecisionNoResult,
                ..
            }
        ));
        assert!(trail.ended);
    }
}
