//! `mandate contract draft --from-run RUN` and `mandate replay RUN --contract FILE`: a
//! contract written from observed work, and a recorded session judged again under another
//! contract. Together with shadow mode: shadow → draft → replay → enforce.
//!
//! Both read the run's `tool.pre` entries: the call as the hook saw it (tool, input, the
//! working directory) and the touches it was judged as. A draft allows what the run did
//! that nothing blocked — reads and writes by folder, commands by program (and
//! subcommand), MCP tools and hosts by name — and keeps the run's contract's blocks, stop
//! conditions, approvals and evidence. The policy's blocks are a floor the draft cannot
//! lift, so what they refused stays refused; the draft lists it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use mandate_policy::format::TouchLists;
use mandate_policy::{Call, Context, Decision, Engine};
use mandate_project::{Project, RealFs};
use serde::Serialize;
use serde_json::Value;

/// Programs whose first word after the name says what they do (`npm test`, `go vet`).
const SUBCOMMAND_PROGRAMS: &[&str] = &[
    "npm", "npx", "pnpm", "yarn", "cargo", "go", "ruff", "git", "make", "docker", "kubectl", "uv",
    "poetry", "pip", "bundle", "dotnet", "gradle", "mvn",
];

/// One recorded call, as replay judges it.
struct Recorded {
    entry: usize,
    tool: String,
    input: Value,
    cwd: PathBuf,
    was: Decision,
    rollback_note: bool,
}

/// The calls of a run, in order, with whether a rollback note was on record before each.
fn recorded_calls(project: &Project, events: &[Value]) -> Vec<Recorded> {
    let mut rollback_note = false;
    let mut calls = Vec::new();
    for (entry, event) in events.iter().enumerate() {
        match mandate_project::records::event_type(event) {
            "evidence.rollback" => rollback_note = true,
            "tool.pre" => {
                let was = event
                    .get("judged")
                    .or_else(|| event.get("decision"))
                    .and_then(Value::as_str)
                    .and_then(decision_named)
                    .unwrap_or(Decision::Deny);
                calls.push(Recorded {
                    entry,
                    tool: event
                        .get("tool")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    input: event.get("input").cloned().unwrap_or(Value::Null),
                    cwd: event
                        .get("cwd")
                        .and_then(Value::as_str)
                        .map(PathBuf::from)
                        .unwrap_or_else(|| project.root.clone()),
                    was,
                    rollback_note,
                });
            }
            _ => {}
        }
    }
    calls
}

#[derive(Serialize)]
struct Change {
    entry: usize,
    tool: String,
    call: String,
    was: String,
    now: String,
    reason: String,
}

/// Each recorded call judged again under `engine`, from where it ran, in order.
fn verdicts(
    project: &Project,
    engine: &Engine,
    calls: &[Recorded],
) -> Vec<mandate_policy::Verdict> {
    let fs = RealFs::new(&project.root);
    calls
        .iter()
        .map(|call| {
            engine.judge(
                &Call {
                    tool: &call.tool,
                    input: &call.input,
                    cwd: &call.cwd,
                },
                &Context {
                    rollback_note: call.rollback_note,
                    disabled: &[],
                    drifted: &[],
                    carried: None,
                },
                &fs,
            )
        })
        .collect()
}

/// The calls whose decision changes under `engine`.
fn judge_again(project: &Project, engine: &Engine, calls: &[Recorded]) -> Vec<Change> {
    let mut changes = Vec::new();
    for (call, verdict) in calls.iter().zip(verdicts(project, engine, calls)) {
        if verdict.decision != call.was {
            changes.push(Change {
                entry: call.entry,
                tool: call.tool.clone(),
                call: describe(&call.tool, &call.input),
                was: call.was.as_str().to_string(),
                now: verdict.decision.as_str().to_string(),
                reason: first_sentence(&verdict.reason),
            });
        }
    }
    changes
}

/// `mandate replay RUN --contract FILE`.
pub fn replay(run: &str, contract_path: &Path, json: bool) -> Result<ExitCode> {
    let project = Project::discover(&std::env::current_dir()?, None)?;
    let (contract, _) = project.load_contract(contract_path)?;
    let engine = project.engine(Some((contract_path, &contract)))?;
    let dir = crate::run::run_dir(&project, Some(run))?;
    let events = crate::run::read_events(&dir)?;
    let calls = recorded_calls(&project, &events);
    let changes = judge_again(&project, &engine, &calls);
    let newly_refused = changes
        .iter()
        .filter(|c| c.was == "allow" && c.now != "allow")
        .count();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "run": run,
                "contract": contract_path,
                "calls": calls.len(),
                "changed": changes,
                "newly_refused": newly_refused,
            }))?
        );
    } else {
        println!(
            "replayed {} calls of run {run} under {} (contract {}): {} judged differently",
            calls.len(),
            contract_path.display(),
            contract.task.id,
            changes.len()
        );
        if !changes.is_empty() {
            println!(
                "{:>6}  {:<8} {:<7} {:<7} call: reason",
                "entry", "tool", "was", "now"
            );
            for change in &changes {
                println!(
                    "{:>6}  {:<8} {:<7} {:<7} {}: {}",
                    change.entry, change.tool, change.was, change.now, change.call, change.reason
                );
            }
        }
        if newly_refused > 0 {
            println!(
                "{newly_refused} call(s) the run was allowed to make would now be refused: \
                 widen the contract for them, or accept that the task no longer needs them"
            );
        }
    }
    Ok(if newly_refused > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `mandate contract draft --from-run RUN [--id ID] [--request TEXT]`.
pub fn draft(run: &str, id: Option<&str>, request: Option<&str>) -> Result<ExitCode> {
    let project = Project::discover(&std::env::current_dir()?, None)?;
    let dir = crate::run::run_dir(&project, Some(run))?;
    let events = crate::run::read_events(&dir)?;
    let start = events
        .iter()
        .find(|e| mandate_project::records::event_type(e) == "run.start")
        .context("the run has no `run.start` entry, so there is no contract to start from")?;
    let base_text = start
        .get("contract_text")
        .and_then(Value::as_str)
        .context("the run's `run.start` entry does not hold its contract's text")?;
    let base = mandate_policy::parse_contract(Path::new("run.start"), base_text)?;
    let observed = observed_touches(&project, &events);
    let mut draft = base.clone();
    draft.allow = observed.allow;
    draft.example.clear();
    if let Some(id) = id {
        draft.task.id = id.to_string();
    }
    if let Some(request) = request {
        draft.task.request = request.to_string();
    }
    if id.is_none() {
        draft.task.id = format!("{}-draft", base.task.id);
    }
    let out = project
        .root
        .join(".mandate/contracts")
        .join(format!("{}.toml", draft.task.id));
    if out.exists() {
        bail!(
            "`{}` already exists; name the draft with `--id`, or remove the file",
            out.display()
        );
    }
    // Judge the run again under the draft: what it would still refuse, and why.
    let engine = project.engine(Some((&out, &draft)))?;
    let calls = recorded_calls(&project, &events);
    let mut refused: Vec<String> = Vec::new();
    for (call, verdict) in calls.iter().zip(verdicts(&project, &engine, &calls)) {
        if verdict.decision != Decision::Allow {
            let first = first_sentence(&verdict.reason);
            // The reason names the rules already when a block decided.
            let line = if first.contains("(rule ") {
                format!(
                    "{} {}: {first}",
                    verdict.decision.as_str(),
                    describe(&call.tool, &call.input)
                )
            } else {
                format!(
                    "{} {}: {first} ({})",
                    verdict.decision.as_str(),
                    describe(&call.tool, &call.input),
                    verdict.rules.join(", ")
                )
            };
            if !refused.contains(&line) {
                refused.push(line);
            }
        }
    }
    let mut text = format!(
        "# Drafted by `mandate contract draft --from-run {run}` from {} recorded calls: the\n\
         # smallest box that allows what the run did and nothing its blocks refused.\n\
         # Check it with `mandate replay {run} --contract {}` before arming it.\n",
        calls.len(),
        out.strip_prefix(&project.root).unwrap_or(&out).display()
    );
    if refused.is_empty() {
        text.push_str("# Under it, every call of the run is allowed.\n");
    } else {
        text.push_str("# Under it, the run's calls still refused:\n");
        for line in &refused {
            let _ = writeln!(text, "#   {}", line.replace('\n', " "));
        }
    }
    let body = toml::to_string(&draft).context("cannot write the draft as TOML")?;
    // Empty lists are the defaults: leave them out, so the draft reads like a contract.
    for line in body.lines() {
        if !line.ends_with(" = []") {
            text.push_str(line);
            text.push('\n');
        }
    }
    // What `mandate check` will say: the draft must load under the policy.
    mandate_policy::parse_contract(&out, &text)?;
    std::fs::create_dir_all(out.parent().unwrap_or(&project.root))?;
    std::fs::write(&out, &text).with_context(|| format!("cannot write `{}`", out.display()))?;
    println!(
        "wrote {} ({} reads, {} writes, {} commands, {} tools, {} hosts allowed)",
        out.display(),
        draft.allow.read.len(),
        draft.allow.write.len(),
        draft.allow.execute.len(),
        draft.allow.call.len(),
        draft.allow.expose.len()
    );
    if refused.is_empty() {
        println!("every call of the run is allowed under it");
    } else {
        println!("still refused under it (blocked by the policy or the contract):");
        for line in &refused {
            println!("  {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

struct Observed {
    allow: TouchLists,
}

/// The allow lists that cover what the run touched, except what a block refused.
fn observed_touches(project: &Project, events: &[Value]) -> Observed {
    let mut read = BTreeSet::new();
    let mut write = BTreeSet::new();
    let mut execute = BTreeSet::new();
    let mut call = BTreeSet::new();
    let mut expose = BTreeSet::new();
    for event in events {
        if mandate_project::records::event_type(event) != "tool.pre" {
            continue;
        }
        let Some(touches) = event.get("touches").and_then(Value::as_array) else {
            continue;
        };
        for touch in touches {
            let field = |key: &str| touch.get(key).and_then(Value::as_str).unwrap_or("");
            let rules: Vec<&str> = touch
                .get("rules")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            // Only what nothing decided (the policy default) or what was allowed: a touch a
            // block, a stop or a built-in protection refused stays refused.
            // An allow by a built-in rule (a command whose effects are known) needs no rule.
            let open = rules == ["policy.default"]
                || (field("decision") == "allow"
                    && rules.iter().any(|r| r.starts_with("contract.allow")));
            if !open {
                continue;
            }
            let target = field("target");
            match field("kind") {
                "read" => read.extend(folder_of(project, target)),
                "write" => write.extend(folder_of(project, target)),
                "execute" => {
                    execute.insert(command_rule(target));
                }
                "call" => {
                    call.insert(target.to_string());
                }
                "expose" => {
                    expose.insert(target.to_string());
                }
                _ => {}
            }
        }
    }
    Observed {
        allow: TouchLists {
            read: minimal(read),
            write: minimal(write),
            execute: minimal_commands(execute),
            call: call.into_iter().collect(),
            expose: expose.into_iter().collect(),
        },
    }
}

/// The folder rule for a touched path, relative to the repository: `dir/**` for a file in
/// `dir`, the file itself at the root, `.` for a listing of the root, the tree or the
/// pattern as it is for a folder search (`**`, `**/*.go`). Paths outside the repository
/// are left out: a draft does not reach outside it.
fn folder_of(project: &Project, target: &str) -> Option<String> {
    let path = Path::new(target);
    let relative = path.strip_prefix(&project.root).ok()?;
    let relative = relative.to_string_lossy().replace('\\', "/");
    if relative.is_empty() {
        return Some(".".to_string());
    }
    if relative == "**" || relative.ends_with("/**") {
        return Some(relative);
    }
    // The files a search matched by pattern (a Glob, a Grep `glob`, a Go package): the
    // pattern is what the run needed, and what the blocks still judge file by file.
    if relative.starts_with("**/") || relative.contains("/**/") {
        return Some(relative);
    }
    if project.root.join(&relative).is_dir() {
        return Some(format!("{relative}/**"));
    }
    Some(match relative.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/**"),
        None => relative,
    })
}

/// Drop the rules another rule's folder already covers.
fn minimal(rules: BTreeSet<String>) -> Vec<String> {
    if rules.contains("**") {
        // The run searched the whole repository and nothing blocked it.
        return vec!["**".to_string()];
    }
    let globs: Vec<(&String, mandate_policy::glob::PathGlob)> = rules
        .iter()
        .filter_map(|rule| Some((rule, mandate_policy::glob::PathGlob::new(rule).ok()?)))
        .collect();
    rules
        .iter()
        .filter(|rule| {
            let path = rule.strip_suffix("/**").unwrap_or(rule);
            let in_folder = rules.iter().any(|other| {
                other != *rule
                    && other
                        .strip_suffix("/**")
                        .is_some_and(|dir| path.starts_with(&format!("{dir}/")))
            });
            // `internal/**/*.go` under `**/*.go`; `go.mod` under `**/go.{mod,sum}`.
            let segments: Vec<&str> = path.split('/').collect();
            let literal = !rule.ends_with("/**") && !path.contains(['*', '?', '[', '{']);
            let under_pattern = globs.iter().any(|(other, glob)| {
                other != rule
                    && ((literal && glob.matches(&segments))
                        || other.strip_prefix("**/").is_some_and(|tail| {
                            rule.ends_with(&format!("/**/{tail}")) || rule.as_str() == tail
                        }))
            });
            !in_folder && !under_pattern
        })
        .cloned()
        .collect()
}

/// Drop `X *` where `X*` (observed bare, so it admits any arguments too) is there.
fn minimal_commands(rules: BTreeSet<String>) -> Vec<String> {
    rules
        .iter()
        .filter(|rule| {
            rule.strip_suffix(" *")
                .is_none_or(|head| !rules.contains(&format!("{head}*")))
        })
        .cloned()
        .collect()
}

/// The rule for an observed simple command: its program (and subcommand), any arguments.
fn command_rule(command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let Some(program) = words.first() else {
        return command.to_string();
    };
    let program = program.rsplit('/').next().unwrap_or(program);
    let mut head = vec![program];
    let python = program.starts_with("python");
    let mut rest = words.iter().skip(1);
    if python && words.get(1) == Some(&"-m") {
        head.push("-m");
        rest.next();
        if let Some(module) = rest.next() {
            head.push(module);
        }
    } else if SUBCOMMAND_PROGRAMS.contains(&program)
        && let Some(sub) = words.get(1).filter(|w| !w.starts_with('-'))
    {
        head.push(sub);
        rest.next();
    }
    let head = head.join(" ");
    if rest.next().is_none() {
        // Observed bare: allow it bare, and with arguments judged by the analyser.
        format!("{head}*")
    } else {
        format!("{head} *")
    }
}

fn decision_named(name: &str) -> Option<Decision> {
    [
        Decision::Allow,
        Decision::Ask,
        Decision::Deny,
        Decision::Stop,
    ]
    .into_iter()
    .find(|d| d.as_str() == name)
}

/// A call in one short line, for tables.
fn describe(tool: &str, input: &Value) -> String {
    let text = ["command", "file_path", "path", "pattern", "url", "query"]
        .iter()
        .find_map(|key| input.get(key).and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| input.to_string());
    let text: String = text.chars().take(100).collect();
    format!("{tool} `{text}`")
}

fn first_sentence(reason: &str) -> String {
    let reason = reason.lines().next().unwrap_or(reason);
    reason
        .split(". ")
        .next()
        .unwrap_or(reason)
        .trim_end_matches('.')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_drafted_by_program_and_subcommand() {
        assert_eq!(command_rule("pytest -q tests/test_a.py"), "pytest *");
        assert_eq!(command_rule("npm test"), "npm test*");
        assert_eq!(command_rule("npx jest src/a.test.ts"), "npx jest *");
        assert_eq!(command_rule("python -m pytest -x"), "python -m pytest *");
        assert_eq!(command_rule("./node_modules/.bin/tsc --noEmit"), "tsc *");
        assert_eq!(command_rule("go test ./..."), "go test *");
    }

    #[test]
    fn covered_rules_are_dropped() {
        let rules: BTreeSet<String> = ["src/**", "src/a/**", "srcx/**", "README.md"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(minimal(rules), vec!["README.md", "src/**", "srcx/**"]);
        let rules: BTreeSet<String> = [
            "**/*.go",
            "internal/**/*.go",
            "**/go.{mod,sum}",
            "go.mod",
            "internal/ledger/**",
            ".",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            minimal(rules),
            vec!["**/*.go", "**/go.{mod,sum}", ".", "internal/ledger/**"]
        );
    }

    #[test]
    fn a_bare_command_rule_covers_its_spelling_with_arguments() {
        let rules: BTreeSet<String> = ["go test *", "go test*", "go vet *"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(minimal_commands(rules), vec!["go test*", "go vet *"]);
    }
}
