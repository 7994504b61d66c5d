//! What the run does with each event, whichever agent sent it.
//!
//! Every event of an active run is appended to its record before the answer; an event
//! that cannot be recorded turns a decision into a deny. The answer depends on the
//! policy's mode: `enforce` answers the decision, `shadow` records what it would have
//! decided and lets the agent go on, `record` only records.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use mandate_policy::format::{Contract, EvidenceKind, Mode};
use mandate_policy::{Call, Context, Decision, Engine, TestInvocation, Verdict};
use mandate_project::approvals::{Approvals, Ask, Settled};
use mandate_project::killswitch::KillSwitch;
use mandate_project::marks::{Mark, MarkKind, Marks};
use mandate_project::mcp_pins::Pins;
use mandate_project::recorder::{append_event, now_rfc3339};
use mandate_project::{ActiveRun, Project, RealFs, RunState, StopMark};
use serde_json::{Map, Value, json};

use crate::reconcile::{self, Reach, Scope};
use crate::{Answer, Event, Kind, MAX_STOP_BLOCKS, ToolCall};

/// Everything the handlers share for one event.
struct Session<'a> {
    event: &'a Event,
    project: Project,
    engine: Engine,
    active: ActiveRun,
    state: Option<RunState>,
    cwd: PathBuf,
    /// Where this event is recorded: the active run's record, or, in shadow and record
    /// modes with no run started, the unbound session's own record.
    record_dir: Option<PathBuf>,
    /// The digest of the contract snapshot as it is on disk now (`none` without a run).
    snapshot_digest: String,
    /// What could not be recorded before (and the stops the state file could not keep).
    marks: Vec<Mark>,
    /// Failures to record or to keep the state during this event: remembered as marks,
    /// and stated in the answer.
    failures: RefCell<Vec<String>>,
}

pub(crate) fn handle(event: &Event) -> Answer {
    fault_injection();
    let cwd = event
        .cwd
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("/"));
    let project = match Project::discover(&cwd, event.root.as_deref()) {
        Ok(project) => project,
        Err(error) => {
            return Answer::Failure(format!(
                "mandate cannot load the policy, so this call is refused: {error}"
            ));
        }
    };
    let active = ActiveRun::new(&project.workspace_dir());
    let state = match active.load() {
        Ok(state) => state.filter(|s| !s.finished),
        Err(error) => {
            return Answer::Failure(format!("mandate refused this call: {error}"));
        }
    };
    let marks = match Marks::with_home(&project.workspace_dir(), project.home.as_deref()).list() {
        Ok(marks) => marks,
        Err(error) => {
            return Answer::Failure(format!(
                "mandate cannot read what this run failed to record (`{}`: {error}), so this \
                 call is refused",
                Marks::with_home(&project.workspace_dir(), project.home.as_deref())
                    .dir()
                    .display()
            ));
        }
    };
    let (contract, snapshot_digest) = match &state {
        Some(_) => match load_snapshot(project.home.as_deref(), &active) {
            Ok((contract, digest)) => (Some(contract), digest),
            Err(reason) => return Answer::Failure(reason),
        },
        None => (None, "none".to_string()),
    };
    let snapshot_path = active.contract_path();
    let engine = match project.hook_engine(contract.map(|c| (snapshot_path.as_path(), c))) {
        Ok(engine) => engine,
        Err(error) => {
            return Answer::Failure(format!(
                "mandate cannot compile the policy, so this call is refused: {error}"
            ));
        }
    };
    let record_dir = match &state {
        Some(state) => Some(state.run_dir.clone()),
        None if engine.mode() != Mode::Enforce => {
            match unbound_record(&project, event, engine.mode()) {
                Ok(dir) => dir,
                Err(reason) => return Answer::Failure(reason),
            }
        }
        None => None,
    };
    let session = Session {
        event,
        project,
        engine,
        active,
        state,
        cwd,
        record_dir,
        snapshot_digest,
        marks,
        failures: RefCell::new(Vec::new()),
    };
    session.note_gaps();
    session.note_policy_change();
    let answer = match event.kind {
        Kind::PreToolUse => session.pre_tool_use(),
        Kind::PermissionRequest => session.permission_request(),
        Kind::PostToolUse | Kind::PostToolUseFailure => session.post_tool_use(),
        Kind::Stop | Kind::SubagentStop => session.stop_gate(),
        Kind::SessionStart => session.session_start(),
        Kind::Prompt => session.user_prompt(),
        Kind::SubagentStart | Kind::SessionEnd => session.record_only(),
    };
    let answer = session.with_failures(answer);
    // The process ends right after this answer: freeing the compiled policy would only
    // cost time (about 7 % of a 500-rule call).
    std::mem::forget(session);
    answer
}

/// `MANDATE_FAULT_INJECT` names faults for tests, comma-separated: `panic` makes the hook
/// panic mid-judgement (a panic becomes a deny); `record:KIND` (or `record:*`) makes
/// recording an event of that kind fail as an I/O error would; `state` makes every change
/// of the active-run state fail. Costs one environment lookup.
fn injected(fault: &str) -> bool {
    std::env::var("MANDATE_FAULT_INJECT").is_ok_and(|faults| {
        faults
            .split(',')
            .map(str::trim)
            .any(|f| f == fault || (f == "record:*" && fault.starts_with("record:")))
    })
}

/// The record of a session with no run started, in shadow or record mode: its own run
/// directory under the records, created with its first event, so a team trialling mandate
/// before writing contracts still gets every call on record.
fn unbound_record(project: &Project, event: &Event, mode: Mode) -> Result<Option<PathBuf>, String> {
    let Some(session) = event.session_id.as_deref() else {
        return Ok(None);
    };
    let workspace = project.workspace_dir();
    let key = workspace
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let session_key: String = session
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    let run_id = format!("unbound-{key}-{session_key}");
    let dir = project.runs_dir().join(&run_id);
    if dir.join(mandate_record::LOG_FILE).is_file() {
        return Ok(Some(dir));
    }
    let refuse = |error: String| {
        format!("mandate cannot open a record for this session ({error}), so this call is refused")
    };
    mandate_project::create_private_dir(&project.runs_dir()).map_err(|e| refuse(e.to_string()))?;
    match mandate_project::recorder::create_run(&dir, &run_id) {
        Ok(()) => {
            let start = json!({
                "type": "run.start",
                "time": now_rfc3339(),
                "run_id": run_id,
                "unbound": true,
                "session_id": session,
                "workspace": project.root,
                "contract": {
                    "id": "(no run)",
                    "request": format!("a session with no run started, recorded in {mode} mode"),
                },
                "contract_digest": "none",
                "policy_digest": project.policy_digest,
                "org_policy_digest": project.org_policy_digest(),
                "mode": mode.to_string(),
                "project": project.policy.records.project,
            });
            append_event(&dir, start).map_err(|e| refuse(e.to_string()))?;
        }
        // Another hook of the same session created it first.
        Err(_) if dir.join(mandate_record::LOG_FILE).is_file() => {}
        Err(error) => return Err(refuse(error.to_string())),
    }
    Ok(Some(dir))
}

/// `MANDATE_FAULT_INJECT=panic` makes the hook panic mid-judgement, so tests can show a
/// panic becomes a deny. Costs one environment lookup.
#[expect(clippy::panic, reason = "fault injection for the panic-is-a-deny test")]
fn fault_injection() {
    if std::env::var_os("MANDATE_FAULT_INJECT").is_some_and(|v| v == "panic") {
        panic!("fault injected by MANDATE_FAULT_INJECT");
    }
}

/// The contract snapshot and the digest of its text as it is on disk now.
fn load_snapshot(home: Option<&Path>, active: &ActiveRun) -> Result<(Contract, String), String> {
    let path = active.contract_path();
    let text = std::fs::read_to_string(&path).map_err(|error| {
        format!(
            "mandate cannot read the active contract `{}` ({error}), so this call is refused; \
             the delegating user should run `mandate start CONTRACT` again",
            path.display()
        )
    })?;
    mandate_project::parsed::contract(home, &path, &text).map_err(|error| {
        format!("mandate cannot read the active contract, so this call is refused: {error}")
    })
}

impl Session<'_> {
    fn mode(&self) -> Mode {
        self.engine.mode()
    }

    /// The call's tool name and input, as recorded (empty where the event has none).
    fn tool_name(&self) -> &str {
        self.event.tool.as_ref().map_or("", |t| t.name.as_str())
    }

    fn tool_input(&self) -> Value {
        self.event
            .tool
            .as_ref()
            .map_or(Value::Null, |t| t.input.clone())
    }

    /// The fields every recorded event carries.
    fn base_event(&self, kind: &str) -> Map<String, Value> {
        let mut event = Map::new();
        event.insert("type".into(), json!(kind));
        event.insert("time".into(), json!(now_rfc3339()));
        let e = self.event;
        // Every event names the agent that sent it (one record may hold several agents).
        event.insert("agent".into(), json!(e.agent.name));
        if let Some(version) = &e.agent.version {
            event.insert("agent_version".into(), json!(version));
        }
        for (key, value) in [
            ("session_id", &e.session_id),
            ("agent_id", &e.agent_id),
            ("agent_type", &e.agent_type),
            ("prompt_id", &e.prompt_id),
            ("tool_use_id", &e.tool_use_id),
        ] {
            if let Some(value) = value {
                event.insert(key.into(), json!(value));
            }
        }
        event
    }

    /// Append to the run's record; `Ok` when there is nothing to record into.
    fn record(&self, event: Map<String, Value>) -> Result<(), String> {
        let Some(dir) = &self.record_dir else {
            return Ok(());
        };
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        if injected(&format!("record:{kind}")) {
            return Err(format!(
                "cannot append to the run record `{}`: an I/O error (injected by \
                 MANDATE_FAULT_INJECT)",
                dir.display()
            ));
        }
        append_event(dir, Value::Object(event))
            .map(|_| mandate_project::remote::recorded(&self.project))
            .map_err(|error| error.to_string())
    }

    /// Record `event`, or remember that it could not be: a failure mark outside the log
    /// refuses the run's next calls, and this event's answer says so.
    fn keep(&self, event: Map<String, Value>) {
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Err(error) = self.record(event) {
            self.lost(&kind, &error);
        }
    }

    /// Remember a failure to record `what` (or to keep the run's state).
    fn lost(&self, what: &str, error: &str) {
        if self.record_dir.is_none() {
            return;
        }
        let mut text = format!("a `{what}` event could not be recorded: {error}");
        if let Err(also) = self.marks().unrecorded(what, error) {
            text.push_str(&format!(
                " (and the failure could not be remembered either: {also})"
            ));
        }
        self.failures.borrow_mut().push(text);
    }

    fn marks(&self) -> Marks {
        Marks::with_home(&self.project.workspace_dir(), self.project.home.as_deref())
    }

    /// Change the run's state, or remember that it could not be changed.
    fn update_state(&self, what: &str, change: impl FnOnce(&mut RunState)) {
        if let Err(error) = self.try_update_state(change) {
            self.lost(what, &error);
        }
    }

    fn try_update_state(&self, change: impl FnOnce(&mut RunState)) -> Result<(), String> {
        if injected("state") {
            return Err(format!(
                "cannot write `{}`: an I/O error (injected by MANDATE_FAULT_INJECT)",
                self.active.state_path().display()
            ));
        }
        self.active
            .update(change)
            .map(|_| ())
            .map_err(|error| error.to_string())
    }

    /// What this event could not record, added to its answer: the agent and the user
    /// are told, and a decision that would let something run is refused.
    fn with_failures(&self, answer: Answer) -> Answer {
        let failures = self.failures.borrow();
        if failures.is_empty() {
            return answer;
        }
        let told = format!(
            "mandate could not record everything: {}. The run's next calls will be refused \
             until the delegating user has seen it (`mandate status`) and started a new run.",
            failures.join("; ")
        );
        match answer {
            Answer::Nothing => Answer::Notice(told),
            Answer::Allow(_) | Answer::Ask(_) => Answer::Deny(told),
            Answer::Deny(reason) => Answer::Deny(format!("{reason} ({told})")),
            Answer::Halt(reason) => Answer::Halt(format!("{reason} ({told})")),
            Answer::KeepGoing(reason) => Answer::KeepGoing(format!("{reason}\n\n{told}")),
            Answer::Context(text) => Answer::Context(format!("{text}\n\n{told}")),
            Answer::ContextAndWarning(text, warning) => {
                Answer::ContextAndWarning(format!("{text}\n\n{told}"), warning)
            }
            Answer::Notice(text) => Answer::Notice(format!("{text} {told}")),
            Answer::Failure(reason) => Answer::Failure(format!("{reason} ({told})")),
        }
    }

    /// Failures to record that happened before and are not in the record yet: written
    /// into it as soon as it can be written again, so the gap is part of the evidence.
    fn note_gaps(&self) {
        let Some(dir) = &self.record_dir else {
            return;
        };
        let lost: Vec<&Mark> = self
            .marks
            .iter()
            .filter(|m| m.kind == MarkKind::Unrecorded)
            .collect();
        let marks = self.marks();
        let noted = marks.noted();
        let Some(new) = lost.get(noted..).filter(|new| !new.is_empty()) else {
            return;
        };
        let mut event = self.base_event("record.gap");
        event.insert("count".into(), json!(new.len()));
        event.insert(
            "events".into(),
            json!(new.iter().map(|m| m.what.as_str()).collect::<Vec<_>>()),
        );
        event.insert(
            "error".into(),
            json!(new.iter().find_map(|m| m.why.as_deref()).unwrap_or("")),
        );
        event.insert(
            "marks".into(),
            json!(new.iter().map(|m| m.describe()).collect::<Vec<_>>()),
        );
        if injected("record:record.gap") {
            return;
        }
        if append_event(dir, Value::Object(event)).is_ok() {
            let _ = marks.set_noted(lost.len());
        }
    }

    /// The reason the run's calls are refused because something could not be recorded.
    fn unrecorded_reason(&self) -> Option<String> {
        let lost: Vec<String> = self
            .marks
            .iter()
            .filter(|m| m.kind == MarkKind::Unrecorded)
            .map(Mark::describe)
            .collect();
        if lost.is_empty() || self.state.is_none() {
            return None;
        }
        Some(format!(
            "mandate refuses this call: this run's record is missing what it could not record \
             ({}), so it would no longer be the whole truth. Stop and tell the delegating user: \
             `mandate status` shows the gap, and a new run (`mandate start CONTRACT`) once the \
             record store is fixed lets work go on.",
            lost.join("; ")
        ))
    }

    /// The repository or organisation policy changed since the run started: said in the
    /// record once, from the entry on which decisions are judged under the new one.
    fn note_policy_change(&self) {
        let Some(state) = &self.state else {
            return;
        };
        let now_policy = self.project.policy_digest.clone();
        let now_org = self.project.org_policy_digest();
        let mut changed = Vec::new();
        if !state.policy_digest.is_empty() && state.policy_digest != now_policy {
            changed.push(("policy", state.policy_digest.clone(), now_policy.clone()));
        }
        if !state.org_policy_digest.is_empty() && state.org_policy_digest != now_org {
            changed.push((
                "org_policy",
                state.org_policy_digest.clone(),
                now_org.clone(),
            ));
        }
        if changed.is_empty() {
            return;
        }
        for (which, from, to) in &changed {
            let mut event = self.base_event("policy.changed");
            event.insert("which".into(), json!(which));
            event.insert("from".into(), json!(from));
            event.insert("to".into(), json!(to));
            self.keep(event);
        }
        self.update_state("state.policy_digest", |s| {
            s.policy_digest = now_policy;
            s.org_policy_digest = now_org;
        });
    }

    /// The digests a decision is judged under, recorded with it.
    fn judged_under(&self, kill_list: &str) -> Value {
        json!({
            "contract": self.snapshot_digest,
            "policy": self.project.policy_digest,
            "org_policy": self.project.org_policy_digest(),
            "kill_list": kill_list,
        })
    }

    /// The contract snapshot no longer matches the digest recorded at `start`.
    fn snapshot_changed(&self) -> Option<String> {
        let state = self.state.as_ref()?;
        if state.contract_digest.is_empty() || state.contract_digest == self.snapshot_digest {
            return None;
        }
        Some(format!(
            "mandate refuses to judge this call: the contract snapshot of run {} changed on \
             disk after `mandate start` (digest {} now, {} when the run started), so the box \
             it would judge by is not the one the delegating user started. Stop and tell the \
             delegating user: a changed contract needs a new `mandate start CONTRACT`.",
            state.run_id,
            self.snapshot_digest
                .get(..12)
                .unwrap_or(&self.snapshot_digest),
            state
                .contract_digest
                .get(..12)
                .unwrap_or(&state.contract_digest)
        ))
    }

    /// Reconcile the agent's transcript with the record (see `crate::reconcile`).
    fn reconcile(&self, reach: &Reach) {
        let (Some(log), Some(dir), Some(session)) = (
            self.event.agent_log,
            &self.record_dir,
            self.event.session_id.as_deref(),
        ) else {
            return;
        };
        let run_id = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let now = now_rfc3339();
        let scope = Scope {
            log,
            workspace_dir: &self.project.workspace_dir(),
            run_id: &run_id,
            run_dir: dir,
            session_id: session,
            transcript: self.event.transcript_path.as_deref(),
            engine: &self.engine,
            root: &self.project.root,
            cwd: &self.cwd,
            now: &now,
        };
        let mut append = |event: Map<String, Value>| self.record(event);
        let result = match reach {
            Reach::End if self.event.kind == Kind::SessionStart => {
                reconcile::recover_unended(&scope, &mut append)
            }
            reach => reconcile::reconcile(&scope, reach, &mut append),
        };
        if let Err(error) = result {
            self.lost("transcript.reconciliation", &error);
        }
    }

    /// Judge the call; also returns the digest of the kill-list state it was judged under.
    fn judge(&self) -> Result<(String, Value, Verdict, String), Answer> {
        let Some(ToolCall { name: tool, input }) = &self.event.tool else {
            return Err(Answer::Failure(
                "mandate refused this call: the event names no tool".to_string(),
            ));
        };
        if !input.is_object() {
            return Err(Answer::Failure(
                "mandate refused this call: the event has no tool input object".to_string(),
            ));
        }
        let evidence_rollback = self
            .state
            .as_ref()
            .is_some_and(|s| s.has_evidence(EvidenceKind::RollbackNote.as_str()));
        // The kill switch and the drift list: two small files outside the workspace.
        // Unreadable means refused, never "nothing is off".
        let records = self.project.records_dir();
        let mut disabled = KillSwitch::new(&records)
            .disabled_targets()
            .map_err(|error| {
                Answer::Failure(format!(
                    "mandate cannot read the kill switch, so this call is refused: {error}"
                ))
            })?;
        // The team server's kill list (cached; see mandate_project::remote).
        disabled.extend(
            mandate_project::remote::server_kill_list(&self.project).map_err(|error| {
                Answer::Failure(format!(
                    "mandate cannot read the team server's kill list, so this call is refused: \
                     {error}"
                ))
            })?,
        );
        let drifted = Pins::new(&records).drifted_targets().map_err(|error| {
            Answer::Failure(format!(
                "mandate cannot read the MCP drift list, so this call is refused: {error}"
            ))
        })?;
        let kill_list = {
            let mut all: Vec<String> = disabled
                .iter()
                .map(|d| format!("disabled {d}"))
                .chain(drifted.iter().map(|d| format!("drifted {d}")))
                .collect();
            all.sort();
            mandate_project::sha256_hex(all.join("\n").as_bytes())
        };
        // Values of sensitive data read earlier in the run, for the calls that send
        // data out; unreadable means refused.
        let sends_out =
            matches!(tool.as_str(), "Bash" | "WebFetch" | "WebSearch") || tool.starts_with("mcp__");
        let carried = match (&self.state, sends_out) {
            (Some(_), true) => mandate_project::carried::load(&self.project.workspace_dir())
                .map_err(|error| {
                    Answer::Failure(format!(
                        "mandate cannot read what this run keeps of sensitive data, so this \
                         call is refused: {error}"
                    ))
                })?,
            _ => None,
        };
        let context = Context {
            rollback_note: evidence_rollback,
            disabled: &disabled,
            drifted: &drifted,
            carried: carried.as_ref(),
        };
        let fs = RealFs::new(&self.project.root);
        let verdict = self.engine.judge(
            &Call {
                tool,
                input,
                cwd: &self.cwd,
            },
            &context,
            &fs,
        );
        Ok((tool.to_string(), input.clone(), verdict, kill_list))
    }

    fn stopped_reason(&self) -> Option<String> {
        let state = self.state.as_ref()?;
        let (rule, reason) = match &state.stopped {
            Some(mark) => (mark.rule.clone(), mark.reason.clone()),
            // The state file could not keep the stop: the mark outside it did.
            None => {
                let mark = self.marks.iter().find(|m| m.kind == MarkKind::Stopped)?;
                (mark.what.clone(), mark.why.clone().unwrap_or_default())
            }
        };
        Some(format!(
            "This run was stopped ({rule}: {reason}). No further tool calls are allowed until \
             the delegating user reviews it and starts a new contract with `mandate start`."
        ))
    }

    /// A refusal recorded without judging (stopped run, changed snapshot, record gaps).
    fn refuse_unjudged(&self, rule: &str, reason: &str) {
        let mut event = self.base_event("tool.pre");
        event.insert(
            "tool".into(),
            json!(self.event.tool.as_ref().map(|t| &t.name)),
        );
        event.insert("input".into(), self.tool_input());
        event.insert("decision".into(), json!("deny"));
        event.insert("rules".into(), json!([rule]));
        event.insert("reason".into(), json!(reason));
        event.insert("mode".into(), json!(self.mode().to_string()));
        event.insert("enforced".into(), json!(true));
        event.insert("judged_under".into(), self.judged_under("not read"));
        self.keep(event);
    }

    fn pre_tool_use(&self) -> Answer {
        if let Some(reason) = self.stopped_reason() {
            self.refuse_unjudged("run.stopped", &reason);
            return Answer::Halt(reason);
        }
        if let Some(reason) = self.snapshot_changed() {
            self.refuse_unjudged("run.contract_changed", &reason);
            return Answer::Deny(reason);
        }
        if let Some(reason) = self.unrecorded_reason() {
            self.refuse_unjudged("run.unrecorded", &reason);
            return Answer::Deny(reason);
        }
        let (tool, input, verdict, kill_list) = match self.judge() {
            Ok(judged) => judged,
            Err(outcome) => return outcome,
        };
        let mode = self.mode();
        let enforced = mode == Mode::Enforce;
        // A call held for a named reviewer: find or open its approval request first, so
        // the record says what was answered.
        let held = match (&verdict.approval, verdict.decision, enforced) {
            (Some(_), Decision::Ask, true) => Some(self.settle_approval(&tool, &input, &verdict)),
            _ => None,
        };
        let mut event = self.base_event("tool.pre");
        event.insert("tool".into(), json!(tool));
        event.insert("input".into(), input);
        // Where the call ran: `mandate replay` judges it again from there.
        event.insert("cwd".into(), json!(self.cwd));
        event.insert(
            "touches".into(),
            Value::Array(
                verdict
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
                    .collect(),
            ),
        );
        event.insert("decision".into(), json!(verdict.decision.as_str()));
        event.insert("rules".into(), json!(verdict.rules));
        event.insert("reason".into(), json!(verdict.reason));
        event.insert("mode".into(), json!(mode.to_string()));
        event.insert("enforced".into(), json!(enforced));
        event.insert("judged_under".into(), self.judged_under(&kill_list));
        if let Some(need) = &verdict.approval {
            let mut approval = Map::new();
            approval.insert("rule".into(), json!(need.rule));
            approval.insert("group".into(), json!(need.group));
            approval.insert("reviewers".into(), json!(need.reviewers));
            if let Some(Ok(settled)) = &held {
                let request = settled.request();
                approval.insert("id".into(), json!(request.id));
                approval.insert("status".into(), json!(request.status.as_str()));
            }
            event.insert("approval".into(), Value::Object(approval));
        }
        if let Some(held) = &held {
            // What the hook answers: the call runs only with an approval.
            let answered = match held {
                Ok(Settled::Allowed(_)) => Decision::Allow,
                _ => Decision::Deny,
            };
            event.insert("judged".into(), json!(verdict.decision.as_str()));
            event.insert("decision".into(), json!(answered.as_str()));
        }
        if let Err(error) = self.record(event) {
            // In every mode: an event that cannot be recorded is not allowed to run, and
            // the attempt missing from the record refuses the calls after it.
            self.lost("tool.pre", &error);
            if enforced && verdict.decision == Decision::Stop {
                // The call met a stop condition: the run stops all the same (the stop is
                // kept in the state or in a mark), and the answer says what was lost.
                return self.stop_run(&verdict);
            }
            self.failures.borrow_mut().clear();
            return Answer::Deny(format!(
                "mandate could not record this call, so it is refused: {error}"
            ));
        }
        if !enforced {
            return Answer::Nothing;
        }
        if let Some(held) = held {
            return self.answer_held(held, &verdict);
        }
        match verdict.decision {
            Decision::Allow => Answer::Allow(verdict.reason.clone()),
            Decision::Ask if verdict.approval.is_none() => Answer::Ask(verdict.reason.clone()),
            Decision::Ask | Decision::Deny => {
                Answer::Deny(format!("mandate denied this call: {}", verdict.reason))
            }
            Decision::Stop => self.stop_run(&verdict),
        }
    }

    /// Did a reviewer approve this exact call in this run? (Reads only.)
    fn approved_call(&self, tool: &str, input: &Value) -> bool {
        let Some(state) = &self.state else {
            return false;
        };
        Approvals::new(&self.project.records_dir())
            .latest(&state.run_id, tool, input)
            .ok()
            .flatten()
            .is_some_and(|r| {
                matches!(
                    r.status,
                    mandate_project::approvals::Status::Approved
                        | mandate_project::approvals::Status::Used
                )
            })
    }

    /// Find, use or open the approval request for this call.
    fn settle_approval(
        &self,
        tool: &str,
        input: &Value,
        verdict: &Verdict,
    ) -> Result<Settled, String> {
        let Some(need) = &verdict.approval else {
            return Err("the call needs no approval".to_string());
        };
        let Some(state) = &self.state else {
            return Err(format!(
                "{} Approvals belong to a run, and no run is active in this workspace: the \
                 delegating user must start one with `mandate start CONTRACT`.",
                verdict.reason
            ));
        };
        let now = now_rfc3339();
        Approvals::new(&self.project.records_dir())
            .settle(&Ask {
                run_id: &state.run_id,
                run_dir: &state.run_dir,
                task_id: &state.task_id,
                delegated_by: &state.delegated_by,
                workspace: &self.project.root,
                tool,
                input,
                group: &need.group,
                reviewers: &need.reviewers,
                rule: &need.rule,
                reason: &need.reason,
                session_id: self.event.session_id.as_deref(),
                tool_use_id: self.event.tool_use_id.as_deref(),
                now: &now,
            })
            .map_err(|error| {
                format!(
                    "mandate cannot reach the approvals store, so this call is refused: {error}"
                )
            })
    }

    /// The answer to a call held for approval, after its `tool.pre` is on record.
    fn answer_held(&self, held: Result<Settled, String>, verdict: &Verdict) -> Answer {
        let settled = match held {
            Ok(settled) => settled,
            Err(reason) => return Answer::Deny(reason),
        };
        let request = settled.request();
        let mut event = self.base_event(match &settled {
            Settled::Requested(_) => "approval.request",
            Settled::Allowed(_) => "approval.used",
            Settled::Pending(_) | Settled::Denied(_) => "approval.held",
        });
        event.insert("id".into(), json!(request.id));
        event.insert("tool".into(), json!(request.tool));
        event.insert("digest".into(), json!(request.digest));
        event.insert("group".into(), json!(request.group));
        event.insert("status".into(), json!(request.status.as_str()));
        match &settled {
            Settled::Requested(_) => {
                event.insert("reviewers".into(), json!(request.reviewers));
                event.insert("rule".into(), json!(request.rule));
                event.insert("reason".into(), json!(request.reason));
                if let Some(preview) = &request.preview {
                    event.insert("preview".into(), json!(preview));
                }
            }
            Settled::Allowed(_) => {
                event.insert("by".into(), json!(request.decided_by));
                event.insert("for_run".into(), json!(request.for_run));
                event.insert("uses".into(), json!(request.uses));
            }
            Settled::Pending(_) | Settled::Denied(_) => {}
        }
        if let Err(error) = self.record(event) {
            self.lost("approval", &error);
            self.failures.borrow_mut().clear();
            return Answer::Deny(format!(
                "mandate could not record this call, so it is refused: {error}"
            ));
        }
        let id = request.id.clone();
        let who: Vec<&String> = request
            .reviewers
            .iter()
            .filter(|r| **r != request.delegated_by)
            .collect();
        let who = if who.is_empty() {
            format!(
                "nobody in the `{}` group but the delegating user, who may not approve their \
                 own run: ask security to add a reviewer",
                request.group
            )
        } else {
            format!(
                "a member of `{}` ({}) can grant it",
                request.group,
                who.iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        match &settled {
            Settled::Allowed(request) => Answer::Allow(format!(
                "approved by {} (approval {id}{})",
                request.decided_by.as_deref().unwrap_or("a reviewer"),
                if request.for_run {
                    ", for this run"
                } else {
                    ", used now"
                }
            )),
            Settled::Denied(request) => Answer::Deny(format!(
                "mandate denied this call: approval request {id} was refused by {}: {}. \
                     Do not retry it or reach the same result another way; ask {} how to go on.",
                request.decided_by.as_deref().unwrap_or("a reviewer"),
                request.note.as_deref().unwrap_or("no reason given"),
                request.delegated_by
            )),
            Settled::Requested(_) | Settled::Pending(_) => Answer::Deny(format!(
                "mandate is holding this call for approval: {} Approval request {id} is \
                     open; {who} with `mandate approve {id}` (or refuse it with `mandate deny \
                     {id} --reason TEXT`). Once it is approved, retry exactly this call with \
                     the same input; any other input needs its own approval.",
                verdict.reason
            )),
        }
    }

    fn stop_run(&self, verdict: &Verdict) -> Answer {
        let rule = verdict.rules.first().cloned().unwrap_or_default();
        let mark = StopMark {
            reason: verdict.reason.clone(),
            rule: rule.clone(),
            at: now_rfc3339(),
        };
        // The stop is kept where the next call looks first (the state), else in a mark
        // outside it; then recorded. A stop is never forgotten: either keeps it.
        if let Err(error) = self.try_update_state(|state| state.stopped = Some(mark)) {
            if let Err(also) = self.marks().stopped(&rule, &verdict.reason) {
                self.failures
                    .borrow_mut()
                    .push(format!("the stop could not be kept: {error}; {also}"));
            }
            self.lost("state.stopped", &error);
        }
        let mut event = self.base_event("run.stopped");
        event.insert("reason".into(), json!(verdict.reason));
        event.insert("rule".into(), json!(rule));
        self.keep(event);
        Answer::Halt(format!("mandate stopped the run: {}", verdict.reason))
    }

    fn permission_request(&self) -> Answer {
        if let Some(reason) = self
            .stopped_reason()
            .or_else(|| self.snapshot_changed())
            .or_else(|| self.unrecorded_reason())
        {
            return Answer::Deny(reason);
        }
        let (tool, input, verdict, _) = match self.judge() {
            Ok(judged) => judged,
            Err(outcome) => return outcome,
        };
        let approved = verdict.decision == Decision::Ask
            && verdict.approval.is_some()
            && self.approved_call(&tool, &input);
        let mut event = self.base_event("tool.permission_request");
        event.insert("tool".into(), json!(tool));
        event.insert("input".into(), input);
        event.insert("decision".into(), json!(verdict.decision.as_str()));
        event.insert("rules".into(), json!(verdict.rules));
        event.insert("reason".into(), json!(verdict.reason));
        if let Err(error) = self.record(event) {
            self.lost("tool.permission_request", &error);
            self.failures.borrow_mut().clear();
            return Answer::Deny(format!(
                "mandate could not record this call, so it is refused: {error}"
            ));
        }
        if self.mode() != Mode::Enforce {
            return Answer::Nothing;
        }
        match verdict.decision {
            // In scope: the person at the prompt decides as usual.
            Decision::Allow => Answer::Nothing,
            Decision::Ask if verdict.approval.is_none() => Answer::Nothing,
            // A named reviewer approved this very call (PreToolUse let it through).
            Decision::Ask if approved => Answer::Nothing,
            _ => Answer::Deny(format!("mandate denied this call: {}", verdict.reason)),
        }
    }

    fn post_tool_use(&self) -> Answer {
        let failed = self.event.kind == Kind::PostToolUseFailure;
        let tool = self.tool_name();
        let mut event = self.base_event(if failed { "tool.failure" } else { "tool.post" });
        event.insert("tool".into(), json!(tool));
        event.insert("input".into(), self.tool_input());
        if failed {
            event.insert("error".into(), self.event.error.clone().unwrap_or_default());
        } else {
            event.insert(
                "response".into(),
                self.event.response.clone().unwrap_or_default(),
            );
        }
        if let Some(duration) = &self.event.duration_ms {
            event.insert("duration_ms".into(), duration.clone());
        }
        if !failed && let Some(after) = self.changed_file_digest(tool) {
            event.insert("after".into(), json!([after]));
        }
        // A passing test run is evidence for the code as it was: a change after it needs
        // the tests run again (the last run after the last change decides).
        let tests = EvidenceKind::Tests.as_str();
        let stale = !failed
            && matches!(tool, "Write" | "Edit" | "MultiEdit" | "NotebookEdit")
            && self.state.as_ref().is_some_and(|s| s.has_evidence(tests));
        if stale {
            event.insert("evidence_stale".into(), json!([tests]));
        }
        self.keep(event);
        if stale {
            self.update_state("state.evidence", |state| {
                state.evidence.remove(tests);
            });
        }
        if tool == "Bash" {
            self.record_test_run();
        }
        if !failed && tool.starts_with("mcp__") {
            self.track_sensitive_result(tool);
        }
        self.reconcile(&Reach::Gained {
            agent_id: self.event.agent_id.clone(),
        });
        Answer::Nothing
    }

    /// A result of an MCP server whose registry entry names the data it holds: its
    /// distinctive values are remembered, so that later calls cannot carry them out
    /// (`mandate_policy::carried`). Values the call itself sent, or that the contract
    /// names, are not new and are left out. The record says how many, never which.
    fn track_sensitive_result(&self, tool: &str) {
        if self.state.is_none() {
            return;
        }
        let Some((server, _)) = mandate_policy::split_mcp_name(tool) else {
            return;
        };
        let sensitive = self
            .engine
            .registry()
            .get(server)
            .and_then(|s| s.data.as_deref())
            .is_some_and(|data| !data.trim().is_empty());
        if !sensitive {
            return;
        }
        let Some(response) = &self.event.response else {
            return;
        };
        let mut texts = Vec::new();
        collect_texts(response, &mut texts, 0);
        let input = self.tool_input();
        let mut known = Vec::new();
        collect_texts(&input, &mut known, 0);
        if let Some(contract) = self.engine.contract() {
            known.push(contract.task.id.as_str());
            known.push(contract.task.request.as_str());
        }
        let mut values: Vec<&str> = Vec::new();
        for text in texts {
            for value in mandate_policy::carried::distinctive(text, false) {
                let lower = value.to_ascii_lowercase();
                let known_before = known
                    .iter()
                    .any(|k| k.to_ascii_lowercase().contains(&lower));
                if !known_before && !values.contains(&value) {
                    values.push(value);
                }
            }
        }
        if values.is_empty() {
            return;
        }
        match mandate_project::carried::add(&self.project.workspace_dir(), server, &values) {
            Ok(added) => {
                let mut event = self.base_event("data.tracked");
                event.insert("tool".into(), json!(tool));
                event.insert("server".into(), json!(server));
                event.insert("values".into(), json!(added.kept));
                if added.dropped > 0 {
                    event.insert("dropped".into(), json!(added.dropped));
                }
                self.keep(event);
            }
            Err(error) => self.lost("data.tracked", &error),
        }
    }

    /// The digest of the file a file tool just changed, read back from disk: what the
    /// reviewer's packet and the in-toto subjects name as the changed file.
    fn changed_file_digest(&self, tool: &str) -> Option<Value> {
        const MAX_DIGEST_BYTES: u64 = 64 * 1024 * 1024;
        let key = match tool {
            "Write" | "Edit" | "MultiEdit" => "file_path",
            "NotebookEdit" => "notebook_path",
            _ => return None,
        };
        let raw = self.event.tool.as_ref()?.input.get(key)?.as_str()?;
        let path = mandate_policy::path::absolutize(&self.cwd, raw, self.project.home.as_deref());
        let meta = std::fs::metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_DIGEST_BYTES {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        Some(json!({
            "path": path,
            "sha256": mandate_project::sha256_hex(&bytes),
            "bytes": bytes.len(),
        }))
    }

    /// A contract test command that ran: recorded as a test run with its result.
    fn record_test_run(&self) {
        let Some(command) = self
            .event
            .tool
            .as_ref()
            .and_then(|t| t.input.get("command"))
            .and_then(Value::as_str)
        else {
            return;
        };
        let Some(invocation) = self.engine.test_invocation(command) else {
            return;
        };
        let output = self.event.output.as_deref().unwrap_or("");
        // What the adapter could tell of the exit status; a failure it could not read is
        // still a failure.
        let exit_status =
            self.event
                .exit_status
                .unwrap_or(if self.event.kind == Kind::PostToolUseFailure {
                    1
                } else {
                    0
                });
        // What the run proves is the record crate's call (mandate_record::test_evidence).
        let judged = match &invocation {
            TestInvocation::Alone { program, args } => {
                mandate_record::judge_test_run(program, args, true, exit_status, output)
            }
            TestInvocation::Accompanied { program } => {
                mandate_record::judge_test_run(program, &[], false, exit_status, output)
            }
        };
        let mut event = self.base_event("test.run");
        event.insert("command".into(), json!(command));
        event.insert("exit_status".into(), json!(exit_status));
        for (key, value) in judged.event_fields() {
            event.insert(key.into(), value);
        }
        self.keep(event);
        self.update_state("state.evidence", |state| {
            let tests = EvidenceKind::Tests.as_str();
            if judged.passed() {
                state.evidence.insert(tests.to_string());
            } else if judged.failed() {
                // The last run failed: passing tests are no longer on record.
                state.evidence.remove(tests);
            }
        });
    }

    fn stop_gate(&self) -> Answer {
        // What the transcript gained before the agent stops: its calls are on record by
        // the end of the turn.
        match (self.event.kind, &self.event.subagent_transcript_path) {
            (Kind::SubagentStop, Some(path)) => self.reconcile(&Reach::Subagent(path.clone())),
            (Kind::SubagentStop, None) => self.reconcile(&Reach::Gained {
                agent_id: self.event.agent_id.clone(),
            }),
            _ => self.reconcile(&Reach::Gained { agent_id: None }),
        }
        let Some(state) = &self.state else {
            return self.record_only();
        };
        let missing: Vec<EvidenceKind> = self
            .engine
            .required_evidence()
            .into_iter()
            .filter(|kind| !state.has_evidence(kind.as_str()))
            .collect();
        let mut event = self.base_event("stop.gate");
        event.insert("event".into(), json!(self.event.agent_event));
        event.insert(
            "missing".into(),
            json!(missing.iter().map(|k| k.as_str()).collect::<Vec<_>>()),
        );
        // A run a stop condition halted refuses every call, `mandate evidence` included:
        // holding its stop would only loop. It ends, marked stopped and incomplete.
        if self.stopped_reason().is_some() {
            event.insert("blocked".into(), json!(false));
            event.insert("stopped".into(), json!(true));
            event.insert("incomplete".into(), json!(!missing.is_empty()));
            self.keep(event);
            if !missing.is_empty() {
                self.update_state("state.incomplete", |s| s.incomplete = true);
            }
            return Answer::Nothing;
        }
        if missing.is_empty() {
            event.insert("blocked".into(), json!(false));
            self.keep(event);
            self.update_state("state.stop_gate", |s| s.stop_gate_blocks = 0);
            return Answer::Nothing;
        }
        if state.stop_gate_blocks >= MAX_STOP_BLOCKS || self.mode() != Mode::Enforce {
            event.insert("blocked".into(), json!(false));
            event.insert("incomplete".into(), json!(true));
            self.keep(event);
            self.update_state("state.incomplete", |s| s.incomplete = true);
            return Answer::Nothing;
        }
        event.insert("blocked".into(), json!(true));
        event.insert("attempt".into(), json!(state.stop_gate_blocks + 1));
        self.keep(event);
        self.update_state("state.stop_gate", |s| s.stop_gate_blocks += 1);
        Answer::KeepGoing(missing_evidence_reason(&missing, self.engine.contract()))
    }

    fn session_start(&self) -> Answer {
        let mut event = self.base_event("session.start");
        event.insert(
            "source".into(),
            self.event.source.clone().unwrap_or_default(),
        );
        if let Some(model) = &self.event.model {
            event.insert("model".into(), model.clone());
        }
        self.keep(event);
        // Sessions of this run that ended without their SessionEnd (killed, crashed):
        // their transcripts are read to the end now.
        self.reconcile(&Reach::End);
        if let Some(reason) = self.stopped_reason() {
            return Answer::Halt(reason);
        }
        let text = match self.engine.contract() {
            Some(contract) => format!(
                "mandate: this session works under task contract {} ({}), delegated by {}. {} \
                 Record evidence with `mandate evidence rollback|assumption|risk|test-gap`.",
                contract.task.id,
                contract.task.request,
                contract.task.delegated_by,
                self.engine.box_summary()
            ),
            None => self.engine.box_summary(),
        };
        // Once per session the person hears of a team server link that does not work.
        match mandate_project::remote::link_problem(&self.project) {
            Some(problem) => Answer::ContextAndWarning(text, format!("mandate: {problem}")),
            None => Answer::Context(text),
        }
    }

    fn user_prompt(&self) -> Answer {
        let mut event = self.base_event("prompt");
        event.insert(
            "prompt".into(),
            self.event.prompt.clone().unwrap_or_default(),
        );
        self.keep(event);
        match self.stopped_reason() {
            Some(reason) => Answer::Halt(reason),
            None => Answer::Nothing,
        }
    }

    fn record_only(&self) -> Answer {
        if self.event.kind == Kind::SessionEnd {
            // Every call of the session accounted for before it is sealed.
            self.reconcile(&Reach::End);
        }
        let kind = match self.event.kind {
            Kind::SubagentStart => "subagent.start",
            Kind::SubagentStop => "subagent.stop",
            Kind::SessionEnd => "session.end",
            Kind::Stop => "stop",
            _ => self.event.agent_event.as_str(),
        };
        let mut event = self.base_event(kind);
        for (key, value) in [
            ("reason", &self.event.reason),
            ("source", &self.event.source),
        ] {
            if let Some(value) = value {
                event.insert(key.into(), value.clone());
            }
        }
        self.keep(event);
        if self.event.kind == Kind::SessionEnd {
            // Seal what this session recorded with a signed checkpoint. A run that cannot
            // be sealed now is sealed by the next checkpoint (`finish`, `review`): what is
            // in it stays verifiable by its hash chain.
            if let Some(dir) = &self.record_dir
                && let Err(error) =
                    mandate_project::recorder::checkpoint(&self.project.key_path(), dir)
            {
                self.failures
                    .borrow_mut()
                    .push(format!("the session's record could not be sealed: {error}"));
            }
        }
        Answer::Nothing
    }
}

/// What is missing before the agent may stop, and exactly how to record it.
/// Every string and object key of `value` (bounded depth).
fn collect_texts<'a>(value: &'a Value, out: &mut Vec<&'a str>, depth: usize) {
    if depth > 64 {
        return;
    }
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_texts(v, out, depth + 1)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k);
            collect_texts(v, out, depth + 1)
        }),
        _ => {}
    }
}

pub fn missing_evidence_reason(missing: &[EvidenceKind], contract: Option<&Contract>) -> String {
    let mut lines = vec![
        "mandate: the contract requires evidence that is not on record yet. Record it, then \
         finish:"
            .to_string(),
    ];
    for kind in missing {
        lines.push(match kind {
            EvidenceKind::RollbackNote => {
                "- rollback note: `mandate evidence rollback --change TEXT --undo TEXT \
                 --data-risk TEXT --trigger TEXT --owner TEXT --stop-before TEXT`"
                    .to_string()
            }
            EvidenceKind::Tests => {
                let commands = contract
                    .map(|c| c.allow.execute.join("`, `"))
                    .unwrap_or_default();
                format!("- tests: run the contract's test command (`{commands}`)")
            }
            EvidenceKind::Assumptions => {
                "- assumptions: `mandate evidence assumption TEXT` for each assumption you made"
                    .to_string()
            }
            EvidenceKind::ResidualRisks => {
                "- residual risks: `mandate evidence risk TEXT` for each risk left".to_string()
            }
            EvidenceKind::TestGaps => {
                "- test gaps: `mandate evidence test-gap TEXT` for what the tests do not cover"
                    .to_string()
            }
        });
    }
    lines.join("\n")
}
