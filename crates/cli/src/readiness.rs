//! `mandate readiness`: the fifteen rollout questions of `mandate_report::readiness`,
//! answered from this repository's configuration and the records under `records.dir`,
//! plus the checks only this machine can make (its hooks, managed settings, sandbox,
//! other agents, the link to the team server).
//!
//! [`gather`] does the I/O (policy, contracts, Claude Code settings, `.mcp.json`, the
//! records and their verification); `mandate_report::readiness::assess` is a pure
//! function of what was gathered, the same one the team server runs over every
//! machine's pushed records.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use mandate_project::{ActiveRun, Project};
pub use mandate_report::readiness::{Check, Inputs, Readiness, Status, assess};
use serde_json::Value;
use std::fmt::Write as _;

use crate::metrics;
use crate::report_html::{self, ReportFormat, escape};

/// What only this machine can show: its Claude Code settings, sandbox, other agents, and
/// its link to the team server.
struct Machine {
    policy: mandate_policy::Policy,
    /// `.claude/settings.json`, if present and JSON.
    settings: Option<Value>,
    /// The managed settings file and its content, if present.
    managed_path: PathBuf,
    managed: Option<Value>,
    /// The sandbox settings the active contract calls for, and where they were compared.
    expected_sandbox: Option<Value>,
    /// `records.server`, and what is wrong with the link to it (if anything).
    server_link: Option<(String, Option<String>)>,
    /// The other agents `mandate install --agent` set up here, and those it did not.
    agents: crate::readiness_agents::Agents,
}

fn hooks_check(file: &str, settings: Option<&Value>) -> Result<(), String> {
    let Some(settings) = settings else {
        return Err(format!("{file} is missing or not JSON"));
    };
    let mut missing = Vec::new();
    let mut open = Vec::new();
    for event in mandate_claude_code::protocol::EVENTS {
        let handlers: Vec<&Value> = settings
            .pointer(&format!("/hooks/{event}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|entry| {
                entry
                    .get("hooks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter(|hook| {
                let command = hook.get("command").and_then(Value::as_str).unwrap_or("");
                let args: Vec<&str> = hook
                    .get("args")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                command.contains("hook claude-code") || args.starts_with(&["hook", "claude-code"])
            })
            .collect();
        if handlers.is_empty() {
            missing.push(*event);
        } else if !handlers
            .iter()
            .all(|h| h.get("onFailure").and_then(Value::as_str) == Some("block"))
        {
            open.push(*event);
        }
    }
    match (missing.is_empty(), open.is_empty()) {
        (true, true) => Ok(()),
        _ => Err(format!(
            "{file}: {}{}",
            if missing.is_empty() {
                String::new()
            } else {
                format!("no mandate hook for {}", missing.join(", "))
            },
            if open.is_empty() {
                String::new()
            } else {
                format!(
                    "{}without `onFailure: block` (fails open) for {}",
                    if missing.is_empty() { "" } else { "; " },
                    open.join(", ")
                )
            }
        )),
    }
}

/// The checks of this machine's own set-up.
fn machine_checks(inputs: &Machine) -> Vec<Check> {
    let managed_name = inputs.managed_path.display().to_string();
    let mut out = Vec::new();
    let project_hooks = hooks_check(".claude/settings.json", inputs.settings.as_ref());
    let managed_hooks = hooks_check(&managed_name, inputs.managed.as_ref());
    out.push(match (&project_hooks, &managed_hooks) {
        (Ok(()), _) | (_, Ok(())) => Check {
            id: "hooks",
            check: "hooks installed with onFailure: block for all events",
            status: Status::Pass,
            detail: format!(
                "all {} events run `mandate hook claude-code`, and a missing, crashing or slow hook refuses the call ({})",
                mandate_claude_code::protocol::EVENTS.len(),
                if managed_hooks.is_ok() { managed_name.as_str() } else { ".claude/settings.json" }
            ),
            source: format!(".claude/settings.json hooks; {managed_name} hooks"),
        },
        (Err(project), Err(_)) => Check {
            id: "hooks",
            check: "hooks installed with onFailure: block for all events",
            status: Status::Fail,
            detail: format!("{project}. Fix: run `mandate install` (and `mandate install --managed` as root)."),
            source: format!(".claude/settings.json hooks; {managed_name} hooks"),
        },
    });
    if let Some((url, problem)) = &inputs.server_link {
        out.push(Check {
            id: "server_link",
            check: "the team server is reachable over a checked link",
            status: if problem.is_none() {
                Status::Pass
            } else {
                Status::Fail
            },
            detail: match problem {
                None => format!("{url} answered the hooks' last ask"),
                Some(problem) => problem.clone(),
            },
            source: "records.server, records.server_ca; <records.dir>/remote/sync.json".into(),
        });
    }
    out.push(Check {
        id: "managed_settings",
        check: "managed settings in place (users cannot remove the hooks)",
        status: if managed_hooks.is_ok() { Status::Pass } else { Status::Fail },
        detail: match &managed_hooks {
            Ok(()) => format!("{managed_name} carries mandate's hooks"),
            Err(why) => format!("{why}. Hooks only in .claude/settings.json can be edited away by the user. Fix: `sudo mandate install --managed`."),
        },
        source: managed_name.clone(),
    });
    let installed = inputs
        .managed
        .as_ref()
        .and_then(|m| m.get("sandbox"))
        .or_else(|| inputs.settings.as_ref().and_then(|s| s.get("sandbox")));
    let (status, detail) = if inputs.policy.sandbox.enabled == Some(false) {
        (Status::Fail, "the policy turns the OS sandbox off (`[sandbox] enabled = false`), so programs the agent runs are not held. Fix: install bubblewrap and remove that line.".to_string())
    } else {
        match installed {
            None => (
                Status::Fail,
                "no `sandbox` in the Claude Code settings. Fix: `mandate install`.".to_string(),
            ),
            Some(sandbox) => {
                let fail_closed = sandbox.get("enabled") == Some(&Value::Bool(true))
                    && sandbox.get("failIfUnavailable") == Some(&Value::Bool(true))
                    && sandbox.get("allowUnsandboxedCommands") == Some(&Value::Bool(false));
                if !fail_closed {
                    (Status::Fail, "the sandbox is not enabled fail-closed (needs enabled, failIfUnavailable, allowUnsandboxedCommands: false). Fix: `mandate install`.".to_string())
                } else if inputs
                    .expected_sandbox
                    .as_ref()
                    .is_some_and(|e| e != sandbox)
                {
                    (Status::Fail, "enabled and fail-closed, but it does not match the active contract (the contract or the files it names changed since). Fix: `mandate start CONTRACT` again or `mandate install`.".to_string())
                } else {
                    (
                        Status::Pass,
                        if inputs.expected_sandbox.is_some() {
                            "enabled, fail-closed, and matching the active contract"
                        } else {
                            "enabled and fail-closed (no active run to compare it with)"
                        }
                        .to_string(),
                    )
                }
            }
        }
    };
    out.push(Check {
        id: "sandbox",
        check: "OS sandbox enabled, fail-closed, matching the active contract",
        status,
        detail,
        source: ".claude/settings.json sandbox; mandate.toml sandbox.enabled".to_string(),
    });
    out.extend(crate::readiness_agents::checks(&inputs.agents));
    out
}

/// A file of a run as the kernel keeps it: name, length, modification time (s, ns),
/// change time (s, ns), inode.
type FileState = (String, u64, i64, i64, i64, i64, u64);

/// What `<records.dir>/cache/verified/RUN.json` holds: a run's verification, and the
/// state of its files and the key it was verified in.
#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct KeptVerification {
    key: String,
    files: Vec<FileState>,
    ok: bool,
    detail: String,
}

/// The state of a run's files as the kernel keeps it: for each file (the log, each
/// checkpoint) its length, modification and change times and inode. A change time cannot
/// be set back by the files' owner, so a record edited since (even to the same length,
/// with its modification time restored) no longer matches. Whoever could also rewrite the
/// kept verification could as well re-sign the run with the key beside it.
#[cfg(unix)]
fn file_states(run_dir: &Path) -> Option<Vec<FileState>> {
    use std::os::unix::fs::MetadataExt as _;
    let state = |name: String, path: &Path| -> Option<FileState> {
        let m = std::fs::symlink_metadata(path).ok()?;
        Some((
            name,
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
            m.ino(),
        ))
    };
    let mut files = vec![state(".".into(), run_dir)?];
    let mut names: Vec<PathBuf> = std::fs::read_dir(run_dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    let checkpoints = run_dir.join(mandate_record::CHECKPOINT_DIR);
    names.extend(
        std::fs::read_dir(&checkpoints)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path()),
    );
    names.sort();
    for path in names {
        let name = path
            .strip_prefix(run_dir)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        files.push(state(name, &path)?);
    }
    Some(files)
}

#[cfg(not(unix))]
fn file_states(_run_dir: &Path) -> Option<Vec<FileState>> {
    None
}

/// A run's verification: as kept when none of its files changed since and the key is the
/// same, else verified now (and kept).
fn verified_run(
    records: &Path,
    run_dir: &Path,
    run: &str,
    key: &mandate_record::VerifyingKey,
) -> (bool, String) {
    let key_hex = mandate_record::digest::hex(key.as_bytes());
    let file = records
        .join("cache")
        .join("verified")
        .join(format!("{run}.json"));
    let before = file_states(run_dir);
    if let Some(files) = &before
        && let Ok(bytes) = std::fs::read(&file)
        && let Ok(kept) = serde_json::from_slice::<KeptVerification>(&bytes)
        && kept.key == key_hex
        && &kept.files == files
    {
        return (kept.ok, kept.detail);
    }
    let report = mandate_record::verify(run_dir, key);
    let (ok, detail) = (report.ok, report.to_string());
    if let Some(files) = before.filter(|b| file_states(run_dir).as_ref() == Some(b)) {
        let kept = KeptVerification {
            key: key_hex,
            files,
            ok,
            detail: detail.clone(),
        };
        if let (Some(dir), Ok(text)) = (file.parent(), serde_json::to_vec(&kept))
            && mandate_project::create_private_dir(dir).is_ok()
        {
            let temporary = dir.join(format!(".{run}.{}.tmp", std::process::id()));
            if std::fs::write(&temporary, text).is_ok() {
                let _ = std::fs::rename(&temporary, &file);
            }
        }
    }
    (ok, detail)
}

fn read_json(path: &Path) -> Option<Value> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// What only this machine can show, read from its files.
fn this_machine(project: &Project) -> Machine {
    let managed_path = std::env::var_os("MANDATE_MANAGED_SETTINGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(crate::install::MANAGED_SETTINGS));
    let workspace = project.workspace_dir();
    let binary = read_json(&workspace.join("installed.json"))
        .and_then(|v| v.get("binary").and_then(Value::as_str).map(PathBuf::from));
    let active = ActiveRun::new(&workspace);
    let contract = active
        .load()
        .ok()
        .flatten()
        .filter(|s| !s.finished)
        .and_then(|_| mandate_project::read(&active.contract_path()).ok())
        .and_then(|text| mandate_policy::parse_contract(&active.contract_path(), &text).ok());
    // With no active run the hook refuses every call and the settings keep the last
    // contract's sandbox: there is no contract to compare against.
    let expected_sandbox = binary
        .filter(|_| contract.is_some())
        .map(|binary| crate::sandbox::sandbox_settings(project, contract.as_ref(), &binary));
    Machine {
        policy: project.policy.clone(),
        settings: read_json(&project.root.join(".claude/settings.json")),
        managed: read_json(&managed_path),
        managed_path,
        expected_sandbox,
        agents: crate::readiness_agents::gather(project),
        server_link: mandate_project::remote::server_url(project).map(|url| {
            (
                url.to_string(),
                mandate_project::remote::link_problem(project),
            )
        }),
    }
}

/// Keep the checks only this machine can make (not its server link, which the server
/// sees for itself) for the team server, which gets them at the next sync. Silent: the
/// command that asked has its own answer to give.
pub fn keep_for_server() {
    let Ok(project) = std::env::current_dir()
        .map_err(anyhow::Error::from)
        .and_then(|cwd| Ok(Project::discover(&cwd, None)?))
    else {
        return;
    };
    keep_checks_of(&project);
}

pub fn keep_checks_of(project: &Project) {
    if mandate_project::remote::server_url(project).is_none() {
        return;
    }
    let checks = machine_checks(&this_machine(project))
        .into_iter()
        .filter(|c| mandate_report::machines::title(c.id).is_some())
        .filter_map(|c| serde_json::to_value(&c).ok())
        .collect();
    let _ = mandate_project::machine_report::keep(project, checks);
}

/// Read everything readiness looks at, with the runs of the repositories `scope` names
/// (the one you are in by default: the record store is shared by every repository on the
/// machine), and those repositories.
pub fn gather(project: &Project, scope: &metrics::RepoScope) -> Result<(Inputs, Vec<String>)> {
    let mut contracts = Vec::new();
    let mut contract_problems = Vec::new();
    let dir = project.root.join(".mandate/contracts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        // Answers read what the contract says; whether it loads under this policy (and
        // judges its own examples as written) is a check of its own.
        let parsed = mandate_project::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                mandate_policy::parse_contract(&path, &text).map_err(|e| e.to_string())
            });
        if let Err(error) = project.load_contract(&path) {
            contract_problems.push(format!("{name}: {error}"));
        }
        contracts.push((name, parsed));
    }
    let (runs, repositories) = metrics::load_scoped_figures(project, scope)?;
    let in_scope: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.run.as_str()).collect();
    let verified = mandate_record::keys::load(&project.key_path())
        .ok()
        .map(|key| {
            let key = key.verifying_key();
            mandate_project::records::list_runs(&project.records_dir())
                .iter()
                .filter(|dir| {
                    dir.file_name()
                        .is_some_and(|n| in_scope.contains(n.to_string_lossy().as_ref()))
                })
                .map(|dir| {
                    let run = dir
                        .file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_default();
                    let (ok, detail) = verified_run(&project.records_dir(), dir, &run, &key);
                    (run, ok, detail)
                })
                .collect()
        });
    let mcp_configured = crate::run::mcp_configured(&project.root);
    let workspace = project.workspace_dir();
    let machine = this_machine(project);
    let inputs = Inputs {
        policy: project.policy.clone(),
        org: project.org.as_ref().map(|(_, o)| o.clone()),
        contracts,
        contract_problems,
        kill_log: metrics::read_kill_log(&project.records_dir()),
        mcp_configured,
        verified,
        unrecorded: match mandate_project::marks::Marks::new(&workspace).list() {
            Ok(marks) => marks.iter().map(|m| m.describe()).collect(),
            Err(error) => vec![format!(
                "the failure marks of the active run cannot be read: {error}"
            )],
        },
        runs,
        machine_checks: machine_checks(&machine),
        machines: Vec::new(),
    };
    Ok((inputs, repositories))
}

pub fn render_text(r: &Readiness, repositories: &[String]) -> String {
    let answered = r.questions.iter().filter(|q| q.answered).count();
    let failed = r.checks.iter().filter(|c| c.status == Status::Fail).count();
    let mut out = format!(
        "mandate readiness: {}\n{answered} of {} rollout questions answered; {failed} of {} checks failing\n",
        if r.verdict == "ready" {
            "READY"
        } else {
            "STILL AN EXPERIMENT"
        },
        r.questions.len(),
        r.checks.len()
    );
    let _ = writeln!(out, "runs of: {}", repositories.join(", "));
    for q in &r.questions {
        let _ = writeln!(
            out,
            "\n{:>2}. {} {}",
            q.id,
            q.question,
            if q.answered { "" } else { "[UNANSWERED]" }
        );
        let _ = writeln!(out, "    {}", q.answer);
        let _ = writeln!(out, "    source: {}", q.source);
    }
    let _ = writeln!(out, "\nchecks");
    for c in &r.checks {
        let _ = writeln!(out, "  {:<12} {}: {}", c.status.as_str(), c.check, c.detail);
    }
    out
}

/// Code spans written `like this` in answers become `<code>`.
fn rich(text: &str) -> String {
    let mut out = String::new();
    for (index, part) in escape(text).split('`').enumerate() {
        if index % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

pub fn render_html(r: &Readiness, repositories: &[String]) -> String {
    let answered = r.questions.iter().filter(|q| q.answered).count();
    let failed = r.checks.iter().filter(|c| c.status == Status::Fail).count();
    let mut body = format!(
        "<p>{} {answered} of {} questions answered · {failed} of {} checks failing</p>",
        if r.verdict == "ready" {
            report_html::badge("ok", "ready")
        } else {
            report_html::badge("bad", "still an experiment")
        },
        r.questions.len(),
        r.checks.len()
    );
    let _ = write!(
        body,
        "<p>Runs of {}</p>",
        report_html::escape(&repositories.join(", "))
    );
    body.push_str("<h2>Rollout questions</h2>");
    let rows: Vec<Vec<String>> = r
        .questions
        .iter()
        .map(|q| {
            vec![
                q.id.to_string(),
                format!(
                    "<strong>{}</strong><br>{}",
                    escape(q.question),
                    rich(&q.answer)
                ),
                if q.answered {
                    report_html::badge("ok", "answered")
                } else {
                    report_html::badge("bad", "unanswered")
                },
                format!("<small>{}</small>", escape(&q.source)),
            ]
        })
        .collect();
    body.push_str(&report_html::table(
        &["#", "question and answer", "status", "source"],
        &rows,
    ));
    body.push_str("<h2>Security checks</h2>");
    let rows: Vec<Vec<String>> = r
        .checks
        .iter()
        .map(|c| {
            let class = match c.status {
                Status::Pass => "ok",
                Status::Fail => "bad",
                Status::NotChecked => "muted",
            };
            vec![
                format!(
                    "<strong>{}</strong><br>{}",
                    escape(c.check),
                    rich(&c.detail)
                ),
                report_html::badge(class, c.status.as_str()),
                format!("<small>{}</small>", escape(&c.source)),
            ]
        })
        .collect();
    body.push_str(&report_html::table(&["check", "status", "source"], &rows));
    report_html::page(
        "mandate readiness",
        "Can this team answer the rollout questions from what it configured and recorded?",
        &body,
    )
}

/// `mandate readiness [--format …] [--repo PATH | --all-repos]`: exit 1 when the rollout
/// is still an experiment.
pub fn readiness(format: ReportFormat, scope: &metrics::RepoScope) -> Result<ExitCode> {
    let project = Project::discover(&std::env::current_dir()?, None)?;
    let (inputs, repositories) = gather(&project, scope)?;
    let r = assess(&inputs);
    let out = match format {
        ReportFormat::Text => render_text(&r, &repositories),
        ReportFormat::Json => {
            // The report as the server gives it, and whose runs it answers from.
            let mut json = serde_json::to_value(&r)?;
            if let Some(object) = json.as_object_mut() {
                object.insert("repositories".to_string(), repositories.into());
            }
            serde_json::to_string_pretty(&json)? + "\n"
        }
        ReportFormat::Html => render_html(&r, &repositories),
    };
    print!("{out}");
    Ok(if r.verdict == "ready" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
