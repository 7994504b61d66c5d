//! `mandate start`, `status`, `finish`, `evidence` and `touch-map`: a run's life.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use mandate_project::recorder::{append_event, create_run, now_rfc3339};
use mandate_project::{ActiveRun, Project, RunState, current_user, os_user, sha256_hex};
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum EvidenceCommand {
    /// The rollback note: how to undo the change, and when to stop.
    Rollback {
        /// What the change is.
        #[arg(long)]
        change: String,
        /// How to undo it.
        #[arg(long)]
        undo: String,
        /// What data could be harmed, and how.
        #[arg(long)]
        data_risk: String,
        /// What would show that it must be undone.
        #[arg(long)]
        trigger: String,
        /// Who undoes it.
        #[arg(long)]
        owner: String,
        /// What must not happen before the change is judged safe.
        #[arg(long)]
        stop_before: String,
    },
    /// An assumption the agent made.
    Assumption {
        /// The assumption, in one sentence.
        text: String,
    },
    /// A residual risk the reviewer should know about.
    Risk {
        /// The risk, in one sentence.
        text: String,
    },
    /// Something the tests do not cover.
    TestGap {
        /// What is not covered, in one sentence.
        text: String,
    },
}

fn project_here() -> Result<Project> {
    let cwd = std::env::current_dir()?;
    Ok(Project::discover(&cwd, None)?)
}

pub fn start(contract_path: &Path, as_json: bool) -> Result<ExitCode> {
    let project = project_here()?;
    let contract_path = std::path::absolute(contract_path)?;
    let (contract, text) = project.load_contract(&contract_path)?;
    let Some(user) = current_user(&project.root) else {
        bail!(
            "cannot tell who you are: set MANDATE_USER or git's user.email to the identity \
             listed in `authority.delegators`"
        );
    };
    let mut delegators = project.policy.authority.delegators.clone();
    if let Some((_, org)) = &project.org
        && !org.authority.delegators.is_empty()
    {
        delegators.retain(|d| org.authority.delegators.contains(d));
    }
    if !delegators.iter().any(|d| d == &user) {
        bail!(
            "`{user}` may not delegate work to the agent: `authority.delegators` in {} lists {}",
            project.policy_path.display(),
            if delegators.is_empty() {
                "nobody".to_string()
            } else {
                delegators.join(", ")
            }
        );
    }
    if contract.task.delegated_by != user {
        bail!(
            "the contract says it is delegated by `{}`, but you are `{user}`: only the \
             delegating user starts their contract",
            contract.task.delegated_by
        );
    }
    let agents = &project.policy.authority.agents;
    if let Some(agent) = &contract.task.agent
        && !agents.is_empty()
        && !agents.contains(agent)
    {
        bail!(
            "the contract's agent `{agent}` is not listed in `authority.agents` ({})",
            agents.join(", ")
        );
    }
    let active = ActiveRun::new(&project.workspace_dir());
    if let Some(previous) = active.load()?.filter(|s| !s.finished) {
        append_event(
            &previous.run_dir,
            json!({"type": "run.finish", "time": now_rfc3339(), "superseded": true,
                   "by": user, "complete": false}),
        )?;
    }
    let started_at = now_rfc3339();
    let stamp: String = started_at
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(14)
        .collect();
    let nonce = sha256_hex(format!("{started_at}{}", std::process::id()).as_bytes());
    let run_id = format!(
        "{}-{stamp}-{}",
        contract.task.id,
        nonce.get(..6).unwrap_or("000000")
    );
    let run_dir = project.runs_dir().join(&run_id);
    mandate_project::create_private_dir(&project.runs_dir())?;
    create_run(&run_dir, &run_id)?;
    let contract_digest = sha256_hex(text.as_bytes());
    let base_commit = crate::changes::base_commit(&project.root);
    append_event(
        &run_dir,
        json!({
            "type": "run.start",
            "time": started_at,
            "run_id": run_id,
            "workspace": project.root,
            // What the run's changes are diffed against in the review packet.
            "base_commit": base_commit,
            "contract_file": contract_path,
            "contract": {
                "id": contract.task.id,
                "request": contract.task.request,
                "delegated_by": contract.task.delegated_by,
                "agent": contract.task.agent,
                "risk_owner": contract.task.risk_owner,
                "allow": serde_json::to_value(&contract.allow)?,
                "block": serde_json::to_value(&contract.block)?,
                "stop": serde_json::to_value(&contract.stop)?,
                "approval": serde_json::to_value(&contract.approval)?,
                "evidence_required": contract.evidence.require.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                "rollback_required_before": contract.rollback.required_before,
            },
            "contract_text": text,
            "contract_digest": contract_digest,
            "policy_digest": project.policy_digest,
            "org_policy_digest": project.org_policy_digest(),
            // The policies and the MCP servers configured, as the run started under them:
            // what the team server answers the readiness questions from.
            "policy_text": mandate_project::read(&project.policy_path).ok(),
            "org_policy_text": project.org.as_ref().and_then(|(path, _)| mandate_project::read(path).ok()),
            "mcp_configured": mcp_configured(&project.root),
            "user": user,
            "project": project.policy.records.project,
            "os_user": os_user(),
            "mode": project.engine(None)?.mode().to_string(),
            // The registry this run is judged under (`[mcp.servers]` of the policy and
            // the organisation's): the team server shows what the repositories register.
            "mcp_servers": serde_json::to_value(project.engine(None)?.registry())?,
        }),
    )?;
    let state = RunState {
        run_id: run_id.clone(),
        run_dir: run_dir.clone(),
        contract_source: contract_path.clone(),
        contract_digest,
        policy_digest: project.policy_digest.clone(),
        org_policy_digest: project.org_policy_digest(),
        task_id: contract.task.id.clone(),
        delegated_by: user.clone(),
        started_at,
        config: Some(project.start_config()),
        ..RunState::default()
    };
    active.begin(&state, &text)?;
    // The values of blocked files, so that none of it leaves through a later call even
    // if a program the agent runs reads it (mandate_policy::carried).
    let sensitive = crate::sandbox::blocked_values(&project, &contract);
    let kept =
        mandate_project::carried::begin(&project.workspace_dir(), &sensitive).map_err(|error| {
            anyhow::anyhow!("cannot keep the fingerprints of blocked files: {error}")
        })?;
    // What the previous run could not record stays in its record and readiness; the new
    // run starts without the refusal it caused.
    mandate_project::marks::Marks::new(&project.workspace_dir())
        .clear()
        .with_context(|| "cannot clear the previous run's failure marks".to_string())?;
    let sandbox_settings = crate::install::refresh_sandbox(&project)?;
    if let Some(settings) = &sandbox_settings {
        let sandbox = std::fs::read_to_string(settings)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.get("sandbox").cloned())
            .unwrap_or(Value::Null);
        append_event(
            &run_dir,
            json!({"type": "sandbox.settings", "time": now_rfc3339(), "settings_file": settings,
                   "sandbox": sandbox}),
        )?;
    }
    if as_json {
        let answer = json!({
            "run_id": run_id,
            "task": contract.task.id,
            "contract": contract_path,
            "request": contract.task.request,
            "delegated_by": user,
            "repository": project.root,
            "base_commit": base_commit,
            "record": run_dir,
            "sandbox_settings": sandbox_settings,
            "blocked_values_fingerprinted": kept,
        });
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(settings) = &sandbox_settings {
        println!(
            "  sandbox:  {} now follows this contract",
            settings.display()
        );
    }
    println!("started run {run_id}");
    println!(
        "  contract: {} ({})",
        contract.task.id,
        contract_path.display()
    );
    println!("  request:  {}", contract.task.request);
    println!("  record:   {}", run_dir.display());
    if kept > 0 {
        println!(
            "  blocked data: {kept} distinctive values of blocked files fingerprinted; a \
             call that carries one out is refused"
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(as_json: bool) -> Result<ExitCode> {
    if as_json {
        return status_json();
    }
    let project = project_here()?;
    let active = ActiveRun::new(&project.workspace_dir());
    let Some(state) = active.load()? else {
        println!("no run in this workspace: `mandate start CONTRACT` opens one");
        let unbound = unbound_runs(&project);
        if !unbound.is_empty() {
            println!(
                "{} recorded without a run (mode {}): {}",
                if unbound.len() == 1 {
                    "1 session".to_string()
                } else {
                    format!("{} sessions", unbound.len())
                },
                project
                    .engine(None)
                    .map(|e| e.mode().to_string())
                    .unwrap_or_else(|_| "?".to_string()),
                unbound.join(", ")
            );
        }
        return Ok(ExitCode::from(1));
    };
    println!("run:      {}", state.run_id);
    println!("task:     {}", state.task_id);
    println!("by:       {}", state.delegated_by);
    println!("started:  {}", state.started_at);
    println!("record:   {}", state.run_dir.display());
    let marks = mandate_project::marks::Marks::new(&project.workspace_dir()).list();
    // A stop the state file could not keep is kept by a mark: the run is stopped all
    // the same (the hook refuses its calls as stopped).
    let stop_mark = marks.as_ref().ok().and_then(|marks| {
        marks
            .iter()
            .find(|m| m.kind == mandate_project::marks::MarkKind::Stopped)
    });
    let status = if state.finished {
        "finished".to_string()
    } else if let Some(stop) = &state.stopped {
        format!("STOPPED ({}: {})", stop.rule, stop.reason)
    } else if let Some(mark) = stop_mark {
        format!(
            "STOPPED ({}{}; kept in a failure mark: the state file could not be written)",
            mark.what,
            mark.why
                .as_deref()
                .filter(|w| !w.is_empty())
                .map(|w| format!(": {w}"))
                .unwrap_or_default()
        )
    } else {
        "active".to_string()
    };
    println!("status:   {status}");
    let mut unrecorded = false;
    match marks {
        Ok(marks) => {
            for mark in &marks {
                unrecorded = true;
                println!("RECORD GAP: {}", mark.describe());
            }
        }
        Err(error) => {
            unrecorded = true;
            println!("RECORD GAP: the failure marks cannot be read: {error}");
        }
    }
    if unrecorded {
        println!(
            "          the hook refuses this run's calls until the delegating user starts \
             a new run (`mandate start CONTRACT`)"
        );
    }
    let evidence: Vec<&str> = state.evidence.iter().map(String::as_str).collect();
    println!(
        "evidence: {}",
        if evidence.is_empty() {
            "none yet".to_string()
        } else {
            evidence.join(", ")
        }
    );
    if let Some(url) = mandate_project::remote::server_url(&project) {
        match mandate_project::remote::link_problem(&project) {
            Some(problem) => println!("server:   {url}: PROBLEM: {problem}"),
            None => println!("server:   {url}"),
        }
        let waiting = crate::push::waiting_lines(&project.records_dir());
        for line in &waiting {
            println!("          {line}");
        }
        if !mandate_project::outbox::waiting(&project.records_dir()).is_empty() {
            // Retried in the background, as the hook does after it records.
            mandate_project::remote::recorded(&project);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `mandate status --json`: the same facts as the text, for scripts; exit 1 with no run.
fn status_json() -> Result<ExitCode> {
    let project = project_here()?;
    let active = ActiveRun::new(&project.workspace_dir());
    let mode = project
        .engine(None)
        .map(|e| e.mode().to_string())
        .unwrap_or_else(|_| "?".to_string());
    let Some(state) = active.load()? else {
        let answer = json!({"run": null, "repository": project.root, "mode": mode,
                            "unbound_records": unbound_runs(&project)});
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::from(1));
    };
    let gaps: Vec<String> =
        match mandate_project::marks::Marks::new(&project.workspace_dir()).list() {
            Ok(marks) => marks.iter().map(|m| m.describe()).collect(),
            Err(error) => vec![format!("the failure marks cannot be read: {error}")],
        };
    let status = if state.finished {
        "finished"
    } else if state.stopped.is_some() {
        "stopped"
    } else {
        "active"
    };
    let server = mandate_project::remote::server_url(&project).map(|url| {
        let records = project.records_dir();
        let changes = |list: Vec<mandate_project::outbox::Change>| -> Vec<Value> {
            list.into_iter()
                .map(|c| {
                    json!({"what": c.what, "made_at": c.made_at, "attempts": c.attempts,
                                "last_error": c.last_error})
                })
                .collect()
        };
        json!({"url": url, "problem": mandate_project::remote::link_problem(&project),
               "waiting": changes(mandate_project::outbox::waiting(&records)),
               "refused": changes(mandate_project::outbox::refused(&records))})
    });
    let answer = json!({
        "run": state.run_id,
        "task": state.task_id,
        "delegated_by": state.delegated_by,
        "started": state.started_at,
        "record": state.run_dir,
        "repository": project.root,
        "mode": mode,
        "status": status,
        "stop": state.stopped.as_ref().map(|s| json!({"rule": s.rule, "reason": s.reason})),
        "record_gaps": gaps,
        "evidence": state.evidence,
        "server": server,
    });
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(ExitCode::SUCCESS)
}

/// The records of this workspace's sessions that ran with no run started (shadow and
/// record modes).
fn unbound_runs(project: &Project) -> Vec<String> {
    let key = project
        .workspace_dir()
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let prefix = format!("unbound-{key}-");
    mandate_project::records::list_runs(&project.records_dir())
        .iter()
        .filter_map(|dir| dir.file_name().map(|n| n.to_string_lossy().to_string()))
        .filter(|name| name.starts_with(&prefix))
        .collect()
}

pub fn finish(as_json: bool) -> Result<ExitCode> {
    let project = project_here()?;
    let active = ActiveRun::new(&project.workspace_dir());
    let Some(state) = active.load()?.filter(|s| !s.finished) else {
        bail!("no active run in this workspace");
    };
    let path = active.contract_path();
    let contract = mandate_policy::parse_contract(&path, &mandate_project::read(&path)?)?;
    let missing: Vec<&str> = contract
        .evidence
        .require
        .iter()
        .map(|k| k.as_str())
        .filter(|k| !state.has_evidence(k))
        .collect();
    let user = current_user(&project.root).unwrap_or_default();
    // The diff of every file the run changed goes into the record before it is sealed.
    let entries = mandate_record::read_entries(&state.run_dir)?;
    let packet = mandate_record::packet::build(&entries, None);
    let mut changes = crate::changes::changes_event(&project, &packet);
    if let Some(fields) = changes.as_object_mut() {
        fields.insert("time".into(), json!(now_rfc3339()));
    }
    append_event(&state.run_dir, changes)?;
    append_event(
        &state.run_dir,
        json!({
            "type": "run.finish",
            "time": now_rfc3339(),
            "by": user,
            "os_user": os_user(),
            "complete": missing.is_empty(),
            "missing": missing,
            "stopped": state.stopped.is_some(),
        }),
    )?;
    active.update(|s| s.finished = true)?;
    let sealed = mandate_project::recorder::checkpoint(&project.key_path(), &state.run_dir)?;
    if as_json {
        let answer = json!({
            "run": state.run_id,
            "complete": missing.is_empty(),
            "missing_evidence": missing,
            "stopped": state.stopped.is_some(),
            "sealed_entries": sealed.size,
            "record": state.run_dir,
        });
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("finished run {}", state.run_id);
    println!("  sealed: signed checkpoint over {} entries", sealed.size);
    if !missing.is_empty() {
        println!("  incomplete: missing evidence {}", missing.join(", "));
    }
    println!("  record: {}", state.run_dir.display());
    Ok(ExitCode::SUCCESS)
}

pub fn evidence(command: EvidenceCommand) -> Result<ExitCode> {
    // The agent runs this verb, outside the OS sandbox: a policy file it names must not
    // come back in an error message, and nothing may differ from what `start` saw.
    let project =
        Project::discover(&std::env::current_dir()?, None).map_err(|error| match error {
            mandate_project::ProjectError::Format(_) => anyhow::anyhow!(
                "a policy file does not parse; `mandate evidence` says no more about it. The \
             delegating user can run `mandate check` to see why"
            ),
            other => other.into(),
        })?;
    let active = ActiveRun::new(&project.workspace_dir());
    let Some(state) = active.load()?.filter(|s| !s.finished) else {
        bail!("no active run in this workspace: evidence belongs to a run");
    };
    if let Some(started) = &state.config
        && *started != project.start_config()
    {
        bail!(
            "`mandate evidence` runs only with the configuration `mandate start` saw (the \
             organisation policy, records directory, team server and token); this process \
             sees another, so nothing was recorded"
        );
    }
    let (kind, evidence_kind, mut event) = match command {
        EvidenceCommand::Rollback {
            change,
            undo,
            data_risk,
            trigger,
            owner,
            stop_before,
        } => (
            "evidence.rollback",
            "rollback_note",
            json!({"change": change, "undo": undo, "data_risk": data_risk,
                   "trigger": trigger, "owner": owner, "stop_before": stop_before}),
        ),
        EvidenceCommand::Assumption { text } => {
            ("evidence.assumption", "assumptions", json!({"text": text}))
        }
        EvidenceCommand::Risk { text } => {
            ("evidence.risk", "residual_risks", json!({"text": text}))
        }
        EvidenceCommand::TestGap { text } => {
            ("evidence.test_gap", "test_gaps", json!({"text": text}))
        }
    };
    if let Some(object) = event.as_object_mut() {
        object.insert("type".into(), json!(kind));
        object.insert("time".into(), json!(now_rfc3339()));
        if let Ok(session) = std::env::var("CLAUDE_CODE_SESSION_ID") {
            object.insert("session_id".into(), json!(session));
        }
        object.insert(
            "replaces_previous".into(),
            json!(kind == "evidence.rollback" && state.has_evidence("rollback_note")),
        );
    }
    append_event(&state.run_dir, event)?;
    active.update(|s| {
        s.evidence.insert(evidence_kind.to_string());
    })?;
    println!("recorded {evidence_kind} for run {}", state.run_id);
    Ok(ExitCode::SUCCESS)
}

/// The run directory for `run`, or the workspace's most recent run.
pub fn run_dir(project: &Project, run: Option<&str>) -> Result<PathBuf> {
    match run {
        Some(run) => {
            let dir = project.runs_dir().join(run);
            if !dir.is_dir() {
                bail!("no run `{run}` in {}", project.runs_dir().display());
            }
            Ok(dir)
        }
        None => ActiveRun::new(&project.workspace_dir())
            .load()?
            .map(|s| s.run_dir)
            .context("no run in this workspace yet"),
    }
}

pub fn read_events(run_dir: &Path) -> Result<Vec<Value>> {
    Ok(mandate_project::records::read_events(run_dir)?)
}

/// `mandate touch-map [RUN] [--observed] [--format …]`: the five kinds as declared and as
/// observed, side by side; what fell outside the declared map is "the box moved".
pub fn touch_map(
    run: Option<&str>,
    observed: bool,
    format: crate::report_html::ReportFormat,
) -> Result<ExitCode> {
    let project = project_here()?;
    let dir = run_dir(&project, run)?;
    let record = crate::metrics::RunRecord {
        id: dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        events: read_events(&dir)?,
    };
    let map = crate::metrics::touch_map(&record);
    let root = record.workspace().unwrap_or_else(|| project.root.clone());
    print!(
        "{}",
        crate::metrics::render_touch_map(&map, Some(&root), observed, format)?
    );
    Ok(ExitCode::SUCCESS)
}

/// The servers `.mcp.json` configures, by name (none when it is absent or not JSON).
pub fn mcp_configured(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join(".mcp.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| {
            v.get("mcpServers")
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect())
        })
        .unwrap_or_default()
}
