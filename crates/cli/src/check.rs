//! `mandate check` and `mandate explain`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use mandate_policy::{Call, Context};
use mandate_project::{ActiveRun, Project, RealFs};

pub const EXAMPLE_POLICY: &str = include_str!("../../../examples/billing/mandate.toml");
pub const EXAMPLE_CONTRACT: &str =
    include_str!("../../../examples/billing/.mandate/contracts/BILL-142.toml");

pub fn check(file: Option<&Path>, as_json: bool) -> Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let project = match Project::discover(&cwd, None) {
        Ok(project) => project,
        // A policy that does not load is the first thing `check` reports; with --json it is
        // an answer, not a crash.
        Err(error) if as_json => {
            let report = serde_json::json!({"ok": false, "policy": {"ok": false, "error": error.to_string()}, "contracts": []});
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(ExitCode::from(1));
        }
        Err(error) => return Err(error.into()),
    };
    let mut out = Vec::new();
    let mut policy_warnings = Vec::new();
    out.push(format!("policy {}: ok", project.policy_path.display()));
    if let Some((path, _)) = &project.org {
        out.push(format!("organisation policy {}: ok", path.display()));
    }
    let engine = project.engine(None)?;
    let groups: Vec<&str> = engine.reviewers().keys().map(String::as_str).collect();
    for (name, server) in engine.registry() {
        for gap in mandate_project::mcp_config::registry_gaps(server, &groups) {
            let warning = format!("MCP server `{name}` in the registry: {gap}");
            out.push(format!("  warning: {warning}"));
            policy_warnings.push(warning);
        }
    }
    let files: Vec<PathBuf> = match file {
        Some(file) => vec![file.to_path_buf()],
        None => contract_files(&project.root),
    };
    let mut failed = false;
    let mut contracts = Vec::new();
    for path in files {
        match project.load_contract(&path) {
            Ok((contract, _)) => {
                out.push(format!(
                    "contract {}: ok ({} examples hold)",
                    path.display(),
                    contract.example.len()
                ));
                let executes = crate::sandbox::write_then_execute(&contract);
                let notes = crate::sandbox::program_files_report(&project, &contract);
                let protected: Vec<String> = mandate_policy::protected_names_by_glob(&contract)
                    .into_iter()
                    .map(|(pattern, name)| {
                        format!(
                            "`allow.write` entry `{pattern}` reaches for `{name}` with a \
                             wildcard. `{name}` is protected at any depth (agent configuration, \
                             git's files, files that run commands later), and only an allow rule \
                             naming the exact path lifts that (for example \
                             `{}`); this entry does not.",
                            literal_example(&pattern, name)
                        )
                    })
                    .collect();
                out.extend(executes.iter().map(|w| format!("  warning: {w}")));
                out.extend(notes.iter().map(|n| format!("  note: {n}")));
                out.extend(protected.iter().map(|w| format!("  warning: {w}")));
                let warnings: Vec<&String> = executes.iter().chain(&protected).collect();
                contracts.push(serde_json::json!({"file": path, "ok": true,
                    "examples": contract.example.len(), "warnings": warnings, "notes": notes}));
            }
            Err(error) => {
                failed = true;
                out.push(format!("contract {}: FAILED\n  {error}", path.display()));
                contracts.push(
                    serde_json::json!({"file": path, "ok": false, "error": error.to_string()}),
                );
            }
        }
    }
    if as_json {
        let report = serde_json::json!({
            "ok": !failed,
            "policy": {"file": project.policy_path, "ok": true, "warnings": policy_warnings,
                       "organisation_policy": project.org.as_ref().map(|(path, _)| path)},
            "contracts": contracts,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for line in out {
            println!("{line}");
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A literal path for a protected name under the folders a pattern starts with:
/// `billing/**/CLAUDE.md` and `CLAUDE.md` give `billing/CLAUDE.md`.
fn literal_example(pattern: &str, name: &str) -> String {
    let first = name.split('/').next().unwrap_or(name);
    let mut parts: Vec<&str> = pattern
        .split('/')
        .take_while(|s| mandate_policy::is_literal_pattern(s) && *s != first)
        .filter(|s| !s.is_empty())
        .collect();
    parts.push(name.trim_end_matches("/**"));
    if name.ends_with("/**") {
        parts.push("FILE");
    }
    parts.join("/")
}

pub fn contract_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(".mandate/contracts"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

pub fn explain(
    contract: Option<&Path>,
    json: bool,
    exit_code: bool,
    tool: &str,
    input: &str,
) -> Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let project = Project::discover(&cwd, None)?;
    let input: serde_json::Value = serde_json::from_str(input).with_context(|| {
        format!("INPUT must be a JSON object, e.g. '{{\"file_path\": \".env\"}}', not `{input}`")
    })?;
    if !input.is_object() {
        bail!("INPUT must be a JSON object, e.g. '{{\"file_path\": \".env\"}}'");
    }
    let active = ActiveRun::new(&project.workspace_dir());
    let (contract_path, contract) = match contract {
        Some(path) => (path.to_path_buf(), Some(project.load_contract(path)?.0)),
        None => match active.load()?.filter(|s| !s.finished) {
            Some(_) => {
                let path = active.contract_path();
                let text = mandate_project::read(&path)?;
                let contract = mandate_policy::parse_contract(&path, &text)?;
                (path, Some(contract))
            }
            None => (PathBuf::new(), None),
        },
    };
    let rollback_note = active
        .load()?
        .is_some_and(|s| !s.finished && s.has_evidence("rollback_note"));
    let engine = project.engine(contract.as_ref().map(|c| (contract_path.as_path(), c)))?;
    let verdict = engine.judge(
        &Call {
            tool,
            input: &input,
            cwd: &cwd,
        },
        &Context {
            rollback_note,
            disabled: &mandate_project::killswitch::KillSwitch::new(&project.records_dir())
                .disabled_targets()?,
            drifted: &mandate_project::mcp_pins::Pins::new(&project.records_dir())
                .drifted_targets()?,
            carried: None,
        },
        &RealFs::new(&project.root),
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        println!("decision: {}", verdict.decision);
        println!("rules:    {}", verdict.rules.join(", "));
        println!("reason:   {}", verdict.reason);
        for touch in &verdict.touches {
            println!(
                "  {:<7} {:<5} {}  [{}]",
                touch.kind.as_str(),
                touch.decision.as_str(),
                touch.target,
                touch.rules.join(", ")
            );
        }
    }
    // `--exit-code`: a script can ask "would this be refused?" without reading the output.
    Ok(
        if exit_code && verdict.decision != mandate_policy::Decision::Allow {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}
