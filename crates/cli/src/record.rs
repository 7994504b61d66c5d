//! `mandate record list|show|verify|export|prune` and `mandate review`: the run records
//! and the reviewer's decision.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context as _, Result, bail};
use clap::{Subcommand, ValueEnum};
use mandate_project::recorder::{append_event, checkpoint, now_rfc3339};
use mandate_project::records::{event_type, list_runs};
use mandate_project::{Project, current_user, os_user};
use mandate_record::{RunLog, packet, read_entries, verify};
use serde_json::{Value, json};

use crate::run::run_dir;

#[derive(Subcommand)]
pub enum RecordCommand {
    /// Every run under records.dir, newest last.
    List {
        /// Print JSON: each run's id, repository, task, status and counts.
        #[arg(long)]
        json: bool,
    },
    /// The review packet of a run (default: the workspace's most recent).
    Show {
        /// The run (its id, as `mandate record list` shows it).
        run: Option<String>,
        /// Markdown, JSON, or one self-contained HTML page.
        #[arg(long, value_enum, default_value = "md")]
        format: PacketFormat,
    },
    /// Prove the record has not been edited, reordered, truncated or forked (exit 1 if it
    /// has, naming the first bad entry).
    Verify {
        /// The run (default: the workspace's most recent).
        run: Option<String>,
        /// Print JSON: ok, entries, sealed, unsealed, and the first problem.
        #[arg(long)]
        json: bool,
    },
    /// The run as a signed attestation (in-toto), or every event as OCSF JSON lines or
    /// OpenTelemetry logs (OTLP/JSON lines) for a SIEM or a log pipeline.
    Export {
        /// The run (default: the workspace's most recent for in-toto; every run under
        /// records.dir for ocsf and otel).
        #[arg(conflicts_with = "run_flag")]
        run: Option<String>,
        /// The run, as `--run RUN` (the same as the positional RUN).
        #[arg(long = "run", value_name = "RUN")]
        run_flag: Option<String>,
        /// The format.
        #[arg(long, value_enum, default_value = "in-toto")]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Remove whole runs older than records.retention_days.
    Prune,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PacketFormat {
    /// Markdown.
    Md,
    /// JSON, every key of the packet.
    Json,
    /// One self-contained HTML page.
    Html,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A DSSE envelope holding an in-toto Statement v1.
    InToto,
    /// One OCSF 1.7.0 event per line (API Activity, User Access Management, Entity
    /// Management; mandate_record::ocsf documents the mapping).
    Ocsf,
    /// OpenTelemetry logs as OTLP/JSON, one ExportLogsServiceRequest per line (what the
    /// collector's otlpjsonfile receiver reads).
    Otel,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ReviewDecision {
    Approve,
    Reject,
    RequestChanges,
}

impl ReviewDecision {
    fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Approve => "approve",
            ReviewDecision::Reject => "reject",
            ReviewDecision::RequestChanges => "request-changes",
        }
    }
}

fn project_here() -> Result<Project> {
    Ok(Project::discover(&std::env::current_dir()?, None)?)
}

fn verifying_key(project: &Project) -> Result<mandate_record::VerifyingKey> {
    let path = project.key_path();
    let key = mandate_record::keys::load(&path).with_context(|| {
        format!(
            "cannot read the signing key `{}`: without it nothing can be verified",
            path.display()
        )
    })?;
    Ok(key.verifying_key())
}

pub fn record(command: RecordCommand) -> Result<ExitCode> {
    let project = project_here()?;
    match command {
        RecordCommand::List { json } => list(&project, json),
        RecordCommand::Show { run, format } => show(&project, run.as_deref(), format),
        RecordCommand::Verify { run, json } => verify_run(&project, run.as_deref(), json),
        RecordCommand::Export {
            run,
            run_flag,
            format,
            out,
        } => {
            let run = run.or(run_flag);
            match format {
                ExportFormat::InToto => export(&project, run.as_deref(), out.as_deref()),
                ExportFormat::Ocsf | ExportFormat::Otel => {
                    export_events(&project, run.as_deref(), format, out.as_deref())
                }
            }
        }
        RecordCommand::Prune => prune(&project),
    }
}

fn list(project: &Project, as_json: bool) -> Result<ExitCode> {
    let mut rows = Vec::new();
    for dir in list_runs(&project.records_dir()) {
        let events = mandate_project::records::read_events(&dir).unwrap_or_default();
        let start = events.iter().find(|e| event_type(e) == "run.start");
        let status = events.iter().fold("open", |status, event| {
            mandate_record::packet::status_after(status, event)
        });
        let calls = events
            .iter()
            .filter(|e| event_type(e) == "tool.pre")
            .count();
        let denied = events
            .iter()
            .filter(|e| event_type(e) == "tool.pre" && e.get("decision") != Some(&json!("allow")))
            .count();
        rows.push(json!({
            "run": dir.file_name().map(|n| n.to_string_lossy().to_string()),
            "task": start.and_then(|e| e.pointer("/contract/id")).cloned(),
            "repository": start.and_then(|e| e.get("workspace")).cloned(),
            "delegated_by": start.and_then(|e| e.get("user")).cloned(),
            "started": start.and_then(|e| e.get("time")).cloned(),
            "status": status,
            "tool_calls": calls,
            "denied": denied,
            "events": events.len(),
        }));
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("no runs under {}", project.records_dir().display());
    } else {
        for row in &rows {
            println!(
                "{}  {:<9} {} calls, {} refused  by {}",
                row["run"].as_str().unwrap_or(""),
                row["status"].as_str().unwrap_or(""),
                row["tool_calls"],
                row["denied"],
                row["delegated_by"].as_str().unwrap_or("?"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(project: &Project, run: Option<&str>, format: PacketFormat) -> Result<ExitCode> {
    let dir = run_dir(project, run)?;
    let entries = read_entries(&dir)?;
    let report = verifying_key(project).ok().map(|key| verify(&dir, &key));
    let mut packet = packet::build(&entries, report.as_ref());
    if packet.changes.is_none() && packet.repository.is_some() {
        // An open run (or one finished before diffs were recorded): ask git now.
        let event = crate::changes::changes_event(project, &packet);
        packet.changes = Some(packet::Changes::from_event(
            &event,
            Vec::new(),
            "from git when this packet was made (not in the record)".to_owned(),
        ));
    }
    let out = match format {
        PacketFormat::Md => packet::render_markdown(&packet),
        PacketFormat::Json => packet::render_json(&packet),
        PacketFormat::Html => packet::render_html(&packet),
    };
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn verify_run(project: &Project, run: Option<&str>, as_json: bool) -> Result<ExitCode> {
    let dir = run_dir(project, run)?;
    let checkpoints = dir.join(mandate_record::CHECKPOINT_DIR);
    let sealed_before = std::fs::read_dir(&checkpoints).is_ok_and(|mut d| d.next().is_some());
    let mut notes = Vec::new();
    let key = match verifying_key(project) {
        Ok(key) => key,
        // A live run before its first checkpoint: nothing is signed yet, and there is no
        // key to check a signature with, but the chain can be checked all the same.
        Err(_) if !sealed_before && !project.key_path().exists() => {
            notes.push(
                "no signed checkpoint yet (the first one is written at session end, \
                 `mandate finish` or `mandate review`): checking the hash chain only"
                    .to_string(),
            );
            mandate_record::SigningKey::from_bytes(&[0u8; 32]).verifying_key()
        }
        Err(error) => return Err(error),
    };
    let report = verify(&dir, &key);
    // The chain holds; does every decision agree with what the run was started under?
    let judged = if report.ok {
        mandate_record::judged::check(&read_entries(&dir)?)
    } else {
        None
    };
    let ok = report.ok && judged.is_none();
    if as_json {
        let answer = json!({
            "run": dir.file_name().map(|n| n.to_string_lossy().to_string()),
            "record": dir,
            "ok": ok,
            "entries": report.entries,
            "sealed": report.sealed,
            "unsealed": report.unsealed,
            "root": report.root,
            "summary": report.to_string(),
            "problem": report.failure.as_ref().map(ToString::to_string).or(judged.clone()),
            "notes": notes,
        });
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        for note in &notes {
            println!("{}: {note}", dir.display());
        }
        println!("{}: {report}", dir.display());
        if let Some(problem) = &judged {
            println!("{}: FAILED: {problem}", dir.display());
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Where an export goes: the file named, or standard output.
fn output(out: Option<&std::path::Path>) -> Result<Box<dyn std::io::Write>> {
    Ok(match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write the export to `{}`", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

/// Entries per OTLP/JSON line: one request the size a collector takes by default.
const OTLP_BATCH: usize = 1000;

/// `mandate record export --format ocsf|otel`: every entry of one run, or of every run,
/// in the order each run recorded them. The records are computed by `mandate_record`'s
/// `ocsf` and `otel` modules, the same code the team server's continuous export uses.
fn export_events(
    project: &Project,
    run: Option<&str>,
    format: ExportFormat,
    out: Option<&std::path::Path>,
) -> Result<ExitCode> {
    let dirs = match run {
        Some(_) => vec![run_dir(project, run)?],
        None => list_runs(&project.records_dir()),
    };
    let mut writer = output(out)?;
    let (mut runs, mut events) = (0usize, 0usize);
    for dir in &dirs {
        let entries = read_entries(dir)
            .with_context(|| format!("cannot read the record `{}`", dir.display()))?;
        let run_id = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut ctx = mandate_record::export::RunContext::new(&run_id);
        let mut lines = Vec::new();
        match format {
            ExportFormat::Ocsf => {
                for event in mandate_record::ocsf::run_events(&mut ctx, &entries) {
                    lines.push(serde_json::to_string(&event)?);
                }
            }
            _ => {
                let records = mandate_record::otel::run_records(&mut ctx, &entries);
                for batch in records.chunks(OTLP_BATCH) {
                    lines.push(serde_json::to_string(&mandate_record::otel::otlp_json(
                        batch,
                    ))?);
                }
            }
        }
        for line in lines {
            writeln!(writer, "{line}").context("cannot write the export")?;
        }
        runs += 1;
        events += entries.len();
    }
    writer.flush().context("cannot write the export")?;
    if let Some(path) = out {
        eprintln!(
            "exported {events} event(s) of {runs} run(s) to {}",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn export(project: &Project, run: Option<&str>, out: Option<&std::path::Path>) -> Result<ExitCode> {
    let dir = run_dir(project, run)?;
    let key = mandate_record::keys::load_or_create(&project.key_path())?;
    let report = verify(&dir, &key.verifying_key());
    if !report.ok {
        bail!("the record does not verify, so it is not exported: {report}");
    }
    // The attestation covers the whole log: seal it first.
    let cp = checkpoint(&project.key_path(), &dir)?;
    let entries = RunLog::open(&dir)?.entries()?;
    let report = verify(&dir, &key.verifying_key());
    let envelope = mandate_record::intoto::export_in_toto(&entries, &cp, &key, Some(&report))?;
    let mut writer = output(out)?;
    writeln!(writer, "{}", serde_json::to_string_pretty(&envelope)?)
        .and_then(|()| writer.flush())
        .context("cannot write the export")?;
    Ok(ExitCode::SUCCESS)
}

fn prune(project: &Project) -> Result<ExitCode> {
    let Some(days) = project.policy.records.retention_days else {
        println!("records.retention_days is not set: nothing is pruned");
        return Ok(ExitCode::SUCCESS);
    };
    let pruned =
        mandate_record::retention::prune(&project.runs_dir(), u64::from(days), SystemTime::now())?;
    println!(
        "removed {} runs older than {days} days ({} busy, kept)",
        pruned.removed.len(),
        pruned.busy.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `mandate review [RUN] --decision … --note …`: a listed reviewer who is not the
/// delegating user.
pub fn review(run: Option<&str>, decision: ReviewDecision, note: &str) -> Result<ExitCode> {
    let project = project_here()?;
    // A run recorded on another machine: reviewed on the team server, as the token's
    // user; the machine that holds the run writes it into its record at its next sync.
    if let Some(run_id) = run
        && !project.runs_dir().join(run_id).is_dir()
        && let Some(Ok(server)) = mandate_project::remote::configured(&project)
    {
        let review_id = mandate_project::remote::new_review_id();
        let code = crate::killswitch::tell_server(&project, |server| {
            mandate_project::remote::review(
                server,
                &project.records_dir(),
                run_id,
                &review_id,
                decision.as_str(),
                note,
            )
        });
        if code == ExitCode::SUCCESS {
            println!(
                "recorded review `{}` of run {run_id} on the team server {} (the run is not on \
                 this machine; the machine that holds it writes the review into its record)",
                decision.as_str(),
                server.url
            );
        }
        return Ok(code);
    }
    let dir = run_dir(&project, run)?;
    let Some(user) = current_user(&project.root) else {
        bail!("cannot tell who you are: set MANDATE_USER or git's user.email");
    };
    let reviewers = &project.policy.authority.reviewers;
    let groups: Vec<&str> = reviewers
        .iter()
        .filter(|(_, members)| members.contains(&user))
        .map(|(group, _)| group.as_str())
        .collect();
    if groups.is_empty() {
        bail!(
            "`{user}` is not a reviewer: `authority.reviewers` in {} lists {}",
            project.policy_path.display(),
            reviewers
                .iter()
                .map(|(g, m)| format!("{g} = {}", m.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let events = mandate_project::records::read_events(&dir)?;
    let delegated_by = events
        .iter()
        .find(|e| event_type(e) == "run.start")
        .and_then(|e| e.get("user"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if delegated_by == user {
        bail!("`{user}` delegated this run and cannot review it: another reviewer must decide");
    }
    // One id in the record and in the API call, so the server holds one review.
    let review_id = mandate_project::remote::new_review_id();
    append_event(
        &dir,
        json!({
            "type": "review",
            "time": now_rfc3339(),
            "review_id": review_id,
            "reviewer": user,
            "os_user": os_user(),
            "groups": groups,
            "decision": decision.as_str(),
            "note": note,
        }),
    )?;
    checkpoint(&project.key_path(), &dir)?;
    println!(
        "recorded review `{}` by {user} on {}",
        decision.as_str(),
        dir.display()
    );
    // The record entry reaches the server with the next push, as the record's word; the
    // API call makes it the signed-in reviewer's. A token that may not review this run
    // (the delegator's own, on their machine) is refused there: the entry still goes.
    let run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if let Some(Ok(server)) = mandate_project::remote::configured(&project) {
        use mandate_project::outbox::Delivery;
        match mandate_project::remote::review(
            &server,
            &project.records_dir(),
            &run_id,
            &review_id,
            decision.as_str(),
            note,
        ) {
            Delivery::Sent(_) => println!(
                "the team server {} has the review, as this token's user",
                server.url
            ),
            Delivery::Queued(reason) => println!(
                "the team server cannot take the review yet ({reason}); it is kept and sent by \
                 the next push, and the record entry goes with the run"
            ),
            Delivery::Refused(reason) => println!(
                "note: {reason}. The review is in the run's record and reaches the server with \
                 the next push, shown there as the record's word"
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}
