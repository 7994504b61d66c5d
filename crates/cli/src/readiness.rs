//! `mandate readiness`: the fifteen rollout questions, answered from what the team has
//! actually configured and recorded, each with the place the answer came from, plus the
//! checks a security reviewer makes before trusting the answers.
//!
//! "If a team cannot answer them, the rollout is still an experiment": the verdict is
//! `ready` only when every question has an answer on file and no check fails. An
//! unanswered question says what is missing and where to write it.
//!
//! [`gather`] does the I/O (policy, contracts, Claude Code settings, `.mcp.json`, the
//! records and their verification); [`assess`] is a pure function of what was gathered.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use mandate_policy::format::{Contract, Policy, ToolClass};
use mandate_project::{ActiveRun, Project};
use serde::Serialize;
use serde_json::Value;

use crate::metrics::{self, RunRecord};
use crate::report_html::{self, ReportFormat, escape};

/// Everything readiness looks at.
pub struct Inputs {
    /// The repository policy, as `mandate.toml` holds it.
    pub policy: Policy,
    /// The organisation policy, if one is installed.
    pub org: Option<Policy>,
    /// Every contract under `.mandate/contracts`: file name and the parsed contract, or
    /// why it does not load.
    pub contracts: Vec<(String, Result<Contract, String>)>,
    /// Contracts that do not load under this policy, or misjudge their own examples.
    pub contract_problems: Vec<String>,
    pub runs: Vec<RunRecord>,
    pub kill_log: Vec<Value>,
    pub records_dir: PathBuf,
    /// `.claude/settings.json`, if present and JSON.
    pub settings: Option<Value>,
    /// The managed settings file and its content, if present.
    pub managed_path: PathBuf,
    pub managed: Option<Value>,
    /// Servers configured in `.mcp.json`.
    pub mcp_configured: Vec<String>,
    /// Per-run verification: (run, ok, detail); `None` when nothing could be verified
    /// (no signing key).
    pub verified: Option<Vec<(String, bool, String)>>,
    /// The sandbox settings the active contract calls for, and where they were compared.
    pub expected_sandbox: Option<Value>,
    /// Events the hook could not record and could only remember outside the record
    /// (the active run's failure marks), one line each.
    pub unrecorded: Vec<String>,
    /// `records.server`, and what is wrong with the link to it (if anything).
    pub server_link: Option<(String, Option<String>)>,
    /// The other agents `mandate install --agent` set up here, and those it did not.
    pub agents: crate::readiness_agents::Agents,
}

#[derive(Clone, Debug, Serialize)]
pub struct Question {
    pub id: u32,
    pub question: &'static str,
    pub answered: bool,
    pub answer: String,
    pub source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "pass")]
    Pass,
    #[serde(rename = "fail")]
    Fail,
    #[serde(rename = "not checked")]
    NotChecked,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::NotChecked => "not checked",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    pub source: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Readiness {
    pub verdict: &'static str,
    pub questions: Vec<Question>,
    pub checks: Vec<Check>,
}

pub const QUESTIONS: [&str; 15] = [
    "Who can delegate work to the agent?",
    "Which identity does the agent use for repo, tool, and MCP access?",
    "Which files, directories, and services are in scope by default?",
    "Which areas are blocked unless a human approves them?",
    "Which MCP tools are read only, and which can take action?",
    "What data can the agent retrieve, summarize, store, or expose?",
    "Which commands can it run without approval?",
    "What happens when tests need credentials or production-like data?",
    "What evidence must the agent return before review?",
    "Where are run records stored, and how long are they retained?",
    "Who can disable a tool or permission quickly?",
    "What incident process covers agent-caused changes?",
    "What rollback note is required before high-risk edits?",
    "Which metrics show the rollout is working or getting risky?",
    "Who accepts residual risk when the agent needs more authority?",
];

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

struct Answer {
    answered: bool,
    answer: String,
    source: String,
}

fn yes(answer: String, source: impl Into<String>) -> Answer {
    Answer {
        answered: true,
        answer,
        source: source.into(),
    }
}

fn no(gap: &str, fix: &str, source: impl Into<String>) -> Answer {
    Answer {
        answered: false,
        answer: format!("Not answered: {gap}. To answer it: {fix}."),
        source: source.into(),
    }
}

impl Inputs {
    fn contracts(&self) -> impl Iterator<Item = (&str, &Contract)> {
        self.contracts
            .iter()
            .filter_map(|(name, c)| c.as_ref().ok().map(|c| (name.as_str(), c)))
    }

    fn contract_source(&self, key: &str) -> String {
        let names: Vec<&str> = self.contracts().map(|(n, _)| n).collect();
        match names.as_slice() {
            [] => format!(".mandate/contracts/*.toml {key} (no contracts)"),
            [one] => format!(".mandate/contracts/{one} {key}"),
            _ => format!(
                ".mandate/contracts/*.toml {key} ({} contracts)",
                names.len()
            ),
        }
    }

    /// A key of both policies, organisation first: (values, source).
    fn authority(&self, pick: fn(&Policy) -> Vec<String>, key: &str) -> (Vec<String>, String) {
        if let Some(org) = &self.org {
            let values = pick(org);
            if !values.is_empty() {
                let repo = pick(&self.policy);
                let narrowed: Vec<String> = if repo.is_empty() {
                    values.clone()
                } else {
                    repo.into_iter().filter(|v| values.contains(v)).collect()
                };
                return (
                    narrowed,
                    format!("organisation policy {key}, mandate.toml {key}"),
                );
            }
        }
        (pick(&self.policy), format!("mandate.toml {key}"))
    }

    fn union(&self, pick: fn(&Contract) -> &Vec<String>) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for (_, contract) in self.contracts() {
            for item in pick(contract) {
                if !all.contains(item) {
                    all.push(item.clone());
                }
            }
        }
        all
    }

    fn floor(&self, pick: fn(&mandate_policy::format::TouchLists) -> &Vec<String>) -> Vec<String> {
        let mut all: Vec<String> = self
            .org
            .iter()
            .flat_map(|o| pick(&o.block).clone())
            .collect();
        for item in pick(&self.policy.block) {
            if !all.contains(item) {
                all.push(item.clone());
            }
        }
        all
    }

    fn registry(&self) -> Vec<(String, &mandate_policy::format::McpServer)> {
        let mut servers: Vec<(String, &mandate_policy::format::McpServer)> = self
            .policy
            .mcp
            .servers
            .iter()
            .map(|(n, s)| (n.clone(), s))
            .collect();
        if let Some(org) = &self.org {
            for (name, server) in &org.mcp.servers {
                if !servers.iter().any(|(n, _)| n == name) {
                    servers.push((name.clone(), server));
                }
            }
        }
        servers
    }
}

fn answer(id: u32, inputs: &Inputs) -> Answer {
    match id {
        1 => {
            let (who, source) =
                inputs.authority(|p| p.authority.delegators.clone(), "authority.delegators");
            if who.is_empty() {
                no(
                    "nobody is listed, so nobody can start a run",
                    "list the people who may delegate under `[authority] delegators` in mandate.toml",
                    source,
                )
            } else {
                yes(
                    format!(
                        "{} may start runs: {}.",
                        plural(who.len(), "person", "people"),
                        list(&who)
                    ),
                    source,
                )
            }
        }
        2 => {
            let (agents, source) =
                inputs.authority(|p| p.authority.agents.clone(), "authority.agents");
            if agents.is_empty() {
                return no(
                    "no agent identity is listed",
                    "name the identities the agent may act as under `[authority] agents` in mandate.toml",
                    source,
                );
            }
            let os_users: BTreeSet<&str> = inputs
                .runs
                .iter()
                .filter_map(|r| {
                    r.start()
                        .and_then(|s| s.get("os_user"))
                        .and_then(Value::as_str)
                })
                .collect();
            let servers: Vec<String> = inputs.registry().into_iter().map(|(n, _)| n).collect();
            let mut text = format!("The agent acts as {}.", list(&agents));
            if !os_users.is_empty() {
                let users: Vec<String> = os_users.iter().map(|u| u.to_string()).collect();
                let _ = write!(
                    text,
                    " Recorded runs ran under the OS account {} (repository access).",
                    list(&users)
                );
            }
            let _ = write!(
                text,
                " MCP access goes only through registered servers{}; each call is judged and recorded under the run's delegating user.",
                if servers.is_empty() {
                    " (none registered)".to_string()
                } else {
                    format!(" ({})", list(&servers))
                }
            );
            yes(text, format!("{source}; records: run.start os_user"))
        }
        3 => {
            let reads = inputs.union(|c| &c.allow.read);
            let writes = inputs.union(|c| &c.allow.write);
            let calls = inputs.union(|c| &c.allow.call);
            let default = inputs.policy.default.unwrap_or_default();
            let source = format!("{}; mandate.toml default", inputs.contract_source("allow"));
            if reads.is_empty() && writes.is_empty() {
                return no(
                    "no contract declares what the agent may read or write",
                    "write a task contract under .mandate/contracts (`mandate init` scaffolds one) with `[allow] read`/`write`",
                    source,
                );
            }
            yes(
                format!(
                    "Nothing is in scope without a contract; the policy default for anything a contract does not allow is {}. Contracts allow reading {}, writing {}{}.",
                    default.decision(),
                    if reads.is_empty() {
                        "nothing".into()
                    } else {
                        list(&reads)
                    },
                    if writes.is_empty() {
                        "nothing".into()
                    } else {
                        list(&writes)
                    },
                    if calls.is_empty() {
                        String::new()
                    } else {
                        format!(", and calling {}", list(&calls))
                    }
                ),
                source,
            )
        }
        4 => {
            let floor: Vec<String> = [
                inputs.floor(|b| &b.read),
                inputs.floor(|b| &b.write),
                inputs.floor(|b| &b.execute),
                inputs.floor(|b| &b.call),
                inputs.floor(|b| &b.expose),
            ]
            .concat();
            if floor.is_empty() {
                return no(
                    "the policy has no `[block]` floor, so only each contract's own blocks apply",
                    "add `[block]` to mandate.toml with the areas no task may touch (secrets, CI workflows, production data)",
                    "mandate.toml block",
                );
            }
            let mut gated: Vec<String> = Vec::new();
            for (_, contract) in inputs.contracts() {
                for rule in &contract.approval {
                    let touches = [
                        &rule.read,
                        &rule.write,
                        &rule.execute,
                        &rule.call,
                        &rule.expose,
                    ]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>();
                    gated.push(format!(
                        "{} ({}; reviewers `{}`)",
                        list(&touches),
                        rule.reason,
                        rule.reviewers
                    ));
                }
            }
            for (name, server) in inputs.registry() {
                if let Some(group) = &server.approval {
                    gated.push(format!(
                        "write-class tools of MCP server `{name}` (reviewers `{group}`)"
                    ));
                }
            }
            let contract_blocks = [
                inputs.union(|c| &c.block.read),
                inputs.union(|c| &c.block.write),
                inputs.union(|c| &c.block.execute),
                inputs.union(|c| &c.block.call),
            ]
            .concat();
            yes(
                format!(
                    "Always blocked, for every contract: {}.{} Need a named reviewer's approval: {}.",
                    list(&floor),
                    if contract_blocks.is_empty() {
                        String::new()
                    } else {
                        format!(" Contracts also block {}.", list(&contract_blocks))
                    },
                    if gated.is_empty() {
                        "nothing".to_string()
                    } else {
                        gated.join("; ")
                    }
                ),
                format!(
                    "mandate.toml block; {}; mandate.toml mcp.servers.*.approval",
                    inputs.contract_source("block, approval")
                ),
            )
        }
        5 => {
            let servers = inputs.registry();
            let unregistered: Vec<String> = inputs
                .mcp_configured
                .iter()
                .filter(|n| !servers.iter().any(|(s, _)| s == *n))
                .cloned()
                .collect();
            if servers.is_empty() {
                if inputs.mcp_configured.is_empty() {
                    return yes("No MCP server is registered or configured: every MCP tool call is refused.".into(), "mandate.toml mcp.servers (none); .mcp.json (none)");
                }
                return no(
                    &format!(
                        "{} configured in .mcp.json but none is registered",
                        list(&inputs.mcp_configured)
                    ),
                    "register each server under `[mcp.servers.NAME]` in mandate.toml with its tools classed `read` or `write`",
                    "mandate.toml mcp.servers; .mcp.json",
                );
            }
            let mut parts = Vec::new();
            for (name, server) in &servers {
                let read: Vec<String> = server
                    .tools
                    .iter()
                    .filter(|(_, t)| t.class() == ToolClass::Read)
                    .map(|(t, _)| format!("mcp__{name}__{t}"))
                    .collect();
                let write: Vec<String> = server
                    .tools
                    .iter()
                    .filter(|(_, t)| t.class() == ToolClass::Write)
                    .map(|(t, _)| format!("mcp__{name}__{t}"))
                    .collect();
                parts.push(format!(
                    "`{name}`{}: read only {}; can take action {}",
                    if server.disabled { " (disabled)" } else { "" },
                    if read.is_empty() {
                        "none".into()
                    } else {
                        list(&read)
                    },
                    if write.is_empty() {
                        "none".into()
                    } else {
                        list(&write)
                    }
                ));
            }
            let text = format!("{}. Tools not listed are refused.", parts.join("; "));
            if !unregistered.is_empty() {
                return no(
                    &format!(
                        "{text} But {} configured in .mcp.json {} not registered",
                        list(&unregistered),
                        if unregistered.len() == 1 { "is" } else { "are" }
                    ),
                    "register them under `[mcp.servers.NAME]` or remove them from .mcp.json",
                    "mandate.toml mcp.servers; .mcp.json",
                );
            }
            yes(text, "mandate.toml mcp.servers.*.tools")
        }
        6 => {
            let reads = inputs.union(|c| &c.allow.read);
            let expose = inputs.union(|c| &c.allow.expose);
            let servers = inputs.registry();
            let undescribed: Vec<String> = servers
                .iter()
                .filter(|(_, s)| s.data.as_deref().is_none_or(str::is_empty))
                .map(|(n, _)| n.clone())
                .collect();
            let source = format!(
                "{}; mandate.toml mcp.servers.*.data; mandate.toml records.dir",
                inputs.contract_source("allow.read, allow.expose")
            );
            if reads.is_empty() {
                return no(
                    "no contract declares what the agent may read",
                    "declare `[allow] read` in each contract",
                    source,
                );
            }
            if !undescribed.is_empty() {
                return no(
                    &format!(
                        "MCP server {} has no `data` description",
                        list(&undescribed)
                    ),
                    "describe what each server exposes with `data = \"…\"` under `[mcp.servers.NAME]`",
                    source,
                );
            }
            let data: Vec<String> = servers
                .iter()
                .filter_map(|(n, s)| s.data.as_ref().map(|d| format!("`{n}`: {d}")))
                .collect();
            yes(
                format!(
                    "Retrieve and summarise: files under {}{}. Store: only the run record (file contents as digests, secrets redacted). Expose (data leaving the machine): {}.",
                    list(&reads),
                    if data.is_empty() {
                        String::new()
                    } else {
                        format!("; through MCP, {}", data.join("; "))
                    },
                    if expose.is_empty() {
                        "nothing: no contract allows web access or publishing".to_string()
                    } else {
                        list(&expose)
                    }
                ),
                source,
            )
        }
        7 => {
            if inputs.contracts().next().is_none() {
                return no(
                    "there is no contract, so no command is allowed",
                    "write a contract with `[allow] execute`",
                    ".mandate/contracts/*.toml allow.execute",
                );
            }
            let commands = inputs.union(|c| &c.allow.execute);
            yes(
                if commands.is_empty() {
                    "None: no contract allows a command beyond the read-only ones mandate understands (cat, grep, ls, …, on in-scope files).".to_string()
                } else {
                    format!(
                        "{}, plus read-only commands (cat, grep, ls, …) on in-scope files. Anything else is refused.",
                        list(&commands)
                    )
                },
                inputs.contract_source("allow.execute"),
            )
        }
        8 => {
            let secrets = [inputs.floor(|b| &b.read), inputs.union(|c| &c.block.read)].concat();
            let sandboxed = inputs.policy.sandbox.enabled != Some(false);
            if secrets.is_empty() {
                return no(
                    "nothing is blocked from reading, so a test could read credentials or production data",
                    "add the secret and production-data paths to `[block] read` in mandate.toml (e.g. `**/.env*`, `**/secrets/**`)",
                    "mandate.toml block.read",
                );
            }
            yes(
                format!(
                    "They stay unavailable: {} cannot be read by the agent{}. A test that needs them fails, and the agent must stop and ask the delegating user for a new contract rather than work around it.",
                    list(&secrets),
                    if sandboxed {
                        ", nor by the programs it runs (the OS sandbox denies them)"
                    } else {
                        " (the OS sandbox is off, so programs it runs are not held)"
                    }
                ),
                format!(
                    "mandate.toml block.read; {}; mandate.toml sandbox.enabled",
                    inputs.contract_source("block.read")
                ),
            )
        }
        9 => {
            let mut without: Vec<&str> = Vec::new();
            let mut kinds: Vec<String> = Vec::new();
            for (name, contract) in inputs.contracts() {
                if contract.evidence.require.is_empty() {
                    without.push(name);
                }
                for kind in &contract.evidence.require {
                    if !kinds.iter().any(|k| k == kind.as_str()) {
                        kinds.push(kind.as_str().to_string());
                    }
                }
            }
            let source = inputs.contract_source("evidence.require");
            if kinds.is_empty() {
                return no(
                    "no contract requires evidence",
                    "add `[evidence] require = [\"rollback_note\", \"tests\", \"assumptions\", \"residual_risks\"]` to each contract",
                    source,
                );
            }
            if !without.is_empty() {
                return no(
                    &format!("{} require no evidence", without.join(", ")),
                    "add `[evidence] require` to those contracts",
                    source,
                );
            }
            yes(
                format!(
                    "{}; the stop gate keeps the agent from finishing until they are on record.",
                    list(&kinds)
                ),
                source,
            )
        }
        10 => {
            let dir = inputs.records_dir.display().to_string();
            let retention = inputs
                .org
                .as_ref()
                .and_then(|o| o.records.retention_days)
                .or(inputs.policy.records.retention_days);
            let configured = inputs
                .org
                .as_ref()
                .and_then(|o| o.records.dir.clone())
                .or(inputs.policy.records.dir.clone());
            match (configured, retention) {
                (Some(_), Some(days)) => yes(
                    format!(
                        "In `{dir}` ({} on record), kept {days} days; `mandate record prune` removes older runs.",
                        plural(inputs.runs.len(), "run", "runs")
                    ),
                    format!(
                        "mandate.toml records.dir, records.retention_days; records: {} runs",
                        inputs.runs.len()
                    ),
                ),
                (None, _) => no(
                    "`records.dir` is not set, so records fall back to each user's home folder",
                    "set `[records] dir` (outside the repository) and `retention_days` in mandate.toml",
                    "mandate.toml records.dir",
                ),
                (Some(_), None) => no(
                    "`records.retention_days` is not set, so nobody decided how long evidence is kept",
                    "set `[records] retention_days` in mandate.toml",
                    "mandate.toml records.retention_days",
                ),
            }
        }
        11 => {
            let (who, source) =
                inputs.authority(|p| p.authority.kill_switch.clone(), "authority.kill_switch");
            let events = inputs.kill_log.len();
            if who.is_empty() {
                return no(
                    "nobody may use the kill switch",
                    "list who may disable tools under `[authority] kill_switch` in mandate.toml",
                    source,
                );
            }
            yes(
                format!(
                    "{}, with `mandate disable TARGET`; effective on the next tool call. Kill-switch log: {}.",
                    list(&who),
                    plural(events, "entry", "entries")
                ),
                format!("{source}; kill-switch log: {events} entries"),
            )
        }
        12 => match inputs
            .org
            .as_ref()
            .and_then(|o| o.incident.process.clone())
            .or(inputs.policy.incident.process.clone())
        {
            Some(process) if !process.trim().is_empty() => yes(
                format!(
                    "{process}. The records answer `mandate why PATH` and `mandate touched GLOB`."
                ),
                "mandate.toml incident.process",
            ),
            _ => no(
                "no incident process is written down",
                "describe it under `[incident] process` in mandate.toml (who is paged, how the tool is disabled)",
                "mandate.toml incident.process",
            ),
        },
        13 => {
            let before = inputs.union(|c| &c.rollback.required_before);
            let required: Vec<&str> = inputs
                .contracts()
                .filter(|(_, c)| {
                    c.evidence
                        .require
                        .iter()
                        .any(|k| k.as_str() == "rollback_note")
                })
                .map(|(n, _)| n)
                .collect();
            let source = inputs.contract_source("rollback.required_before, evidence.require");
            if before.is_empty() && required.is_empty() {
                return no(
                    "no contract requires a rollback note",
                    "add `[rollback] required_before = [high-risk globs]` to the contracts",
                    source,
                );
            }
            yes(
                format!(
                    "A note with the change, undo path, data risk, trigger, owner and stop-before (`mandate evidence rollback`){}{}.",
                    if before.is_empty() {
                        String::new()
                    } else {
                        format!(", on record before any edit to {}", list(&before))
                    },
                    if required.is_empty() {
                        String::new()
                    } else {
                        format!("; required before review by {}", required.join(", "))
                    }
                ),
                source,
            )
        }
        14 => {
            if inputs.runs.is_empty() {
                return no(
                    "no runs are on record yet, so nothing shows whether the rollout works",
                    "run a pilot task under a contract, then read `mandate metrics`",
                    format!("records: 0 runs in {}", inputs.records_dir.display()),
                );
            }
            let m = metrics::compute(&inputs.runs, &inputs.kill_log, None);
            yes(
                format!(
                    "`mandate metrics` over {}: {} tool calls, denial rate {:.1}%, {} unguarded calls, {} box-moved touches, {} stop triggers, {}/{} finished runs with complete evidence, {} awaiting review.",
                    plural(m.runs as usize, "run", "runs"),
                    m.tool_calls,
                    m.denial_rate * 100.0,
                    m.unguarded_calls,
                    m.box_moved_touches,
                    m.stop_triggers.len(),
                    m.evidence.runs_complete,
                    m.evidence.runs_finished,
                    m.runs_awaiting_review
                ),
                format!("records: {} runs", inputs.runs.len()),
            )
        }
        _ => {
            let (who, source) = inputs.authority(
                |p| p.authority.risk_acceptors.clone(),
                "authority.risk_acceptors",
            );
            if who.is_empty() {
                return no(
                    "nobody is named to accept residual risk",
                    "list them under `[authority] risk_acceptors` in mandate.toml",
                    source,
                );
            }
            let owners: Vec<String> = inputs
                .contracts()
                .filter_map(|(_, c)| c.task.risk_owner.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            yes(
                format!(
                    "{}{}. More authority means a new contract started by a delegator, never the agent widening its own box.",
                    list(&who),
                    if owners.is_empty() {
                        String::new()
                    } else {
                        format!("; per task, the contract's risk owner ({})", list(&owners))
                    }
                ),
                format!("{source}; {}", inputs.contract_source("task.risk_owner")),
            )
        }
    }
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

fn checks(inputs: &Inputs) -> Vec<Check> {
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
    let registry: Vec<String> = inputs.registry().into_iter().map(|(n, _)| n).collect();
    let unregistered: Vec<String> = inputs
        .mcp_configured
        .iter()
        .filter(|s| !registry.contains(s))
        .cloned()
        .collect();
    out.push(Check {
        id: "mcp_registered",
        check: "every configured MCP server is registered",
        status: if unregistered.is_empty() { Status::Pass } else { Status::Fail },
        detail: if unregistered.is_empty() {
            format!("{} configured in .mcp.json, all registered", plural(inputs.mcp_configured.len(), "server", "servers"))
        } else {
            format!("not registered: {}. Fix: add `[mcp.servers.NAME]` entries (owner, purpose, data, tools) or remove the servers.", list(&unregistered))
        },
        source: ".mcp.json mcpServers; mandate.toml mcp.servers".to_string(),
    });
    out.push(match &inputs.verified {
        None => Check {
            id: "records_verify",
            check: "run records verify",
            status: Status::NotChecked,
            detail: "no signing key yet, so nothing can be verified (it is created with the first signed checkpoint)".to_string(),
            source: format!("records: {} runs", inputs.runs.len()),
        },
        Some(results) => {
            let bad: Vec<String> = results.iter().filter(|(_, ok, _)| !ok).map(|(run, _, why)| format!("{run}: {why}")).collect();
            Check {
                id: "records_verify",
                check: "run records verify",
                status: if bad.is_empty() { Status::Pass } else { Status::Fail },
                detail: if bad.is_empty() {
                    format!("{} verified against the signing key", plural(results.len(), "run", "runs"))
                } else {
                    format!("{} do not verify: {}. Treat them as tampered until explained.", bad.len(), bad.join("; "))
                },
                source: format!("records: {} runs; `mandate record verify`", results.len()),
            }
        }
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
    let mode = inputs
        .org
        .as_ref()
        .and_then(|o| o.mode)
        .or(inputs.policy.mode)
        .unwrap_or_default();
    out.push(Check {
        id: "mode",
        check: "decisions are enforced",
        status: if mode == mandate_policy::Mode::Enforce { Status::Pass } else { Status::Fail },
        detail: if mode == mandate_policy::Mode::Enforce {
            "mode = enforce".to_string()
        } else {
            format!("mode = {mode}: decisions are recorded but not enforced, which is how a team measures a contract, not a rollout. Fix: `mode = \"enforce\"`.")
        },
        source: "mandate.toml mode".to_string(),
    });
    out.push(guarded_check(inputs));
    out.extend(crate::readiness_agents::checks(&inputs.agents));
    let broken = &inputs.contract_problems;
    out.push(Check {
        id: "contracts",
        check: "every contract loads and judges its own examples as written",
        status: if broken.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        detail: if broken.is_empty() {
            format!(
                "{} load",
                plural(inputs.contracts.len(), "contract", "contracts")
            )
        } else {
            format!("{}. Fix: `mandate check`.", broken.join("; "))
        },
        source: ".mandate/contracts/*.toml".to_string(),
    });
    out
}

/// Every tool call was judged by mandate (or refused by the agent itself) and every
/// event was recorded: a call that ran unguarded, or a gap in a record, means a layer did
/// not hold, whatever the policy says.
fn guarded_check(inputs: &Inputs) -> Check {
    let m = metrics::compute(&inputs.runs, &[], None);
    let mut problems = Vec::new();
    if m.unguarded_calls > 0 {
        let runs: Vec<String> = inputs
            .runs
            .iter()
            .filter(|run| {
                run.events
                    .iter()
                    .any(|e| mandate_project::records::event_type(e) == "tool.unguarded")
            })
            .map(|run| run.id.clone())
            .collect();
        problems.push(format!(
            "{} ran unguarded (no decision of mandate let {}){}",
            plural(m.unguarded_calls as usize, "call", "calls"),
            if m.unguarded_calls == 1 { "it" } else { "them" },
            if runs.is_empty() {
                String::new()
            } else {
                format!(" in {}", list(&runs))
            }
        ));
    }
    if m.record_gaps > 0 {
        problems.push(format!(
            "{} could not be recorded",
            plural(m.record_gaps as usize, "event", "events")
        ));
    }
    for gap in &inputs.unrecorded {
        problems.push(gap.clone());
    }
    Check {
        id: "guarded",
        check: "every tool call was judged by mandate and every event recorded",
        status: if problems.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        detail: if problems.is_empty() {
            format!(
                "no unguarded calls and no record gaps in {}",
                plural(inputs.runs.len(), "run", "runs")
            )
        } else {
            format!(
                "{}. Check the hooks are installed (`mandate install`), that Claude Code runs them, and that the record store is writable; `mandate why`/`mandate touched` show what those calls touched.",
                problems.join("; ")
            )
        },
        source: format!(
            "records: {} runs; `mandate metrics`; `mandate status`",
            inputs.runs.len()
        ),
    }
}

/// The answers and checks, and the verdict they add up to.
pub fn assess(inputs: &Inputs) -> Readiness {
    let questions: Vec<Question> = QUESTIONS
        .iter()
        .zip(1u32..)
        .map(|(question, id)| {
            let a = answer(id, inputs);
            Question {
                id,
                question,
                answered: a.answered,
                answer: a.answer,
                source: a.source,
            }
        })
        .collect();
    let checks = checks(inputs);
    let ready =
        questions.iter().all(|q| q.answered) && checks.iter().all(|c| c.status != Status::Fail);
    Readiness {
        verdict: if ready { "ready" } else { "experiment" },
        questions,
        checks,
    }
}

fn read_json(path: &Path) -> Option<Value> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// Read everything readiness looks at.
pub fn gather(project: &Project) -> Inputs {
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
    let runs = metrics::load_runs(project);
    let verified = mandate_record::keys::load(&project.key_path())
        .ok()
        .map(|key| {
            let key = key.verifying_key();
            mandate_project::records::list_runs(&project.records_dir())
                .iter()
                .map(|dir| {
                    let report = mandate_record::verify(dir, &key);
                    let run = dir
                        .file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_default();
                    (run, report.ok, report.to_string())
                })
                .collect()
        });
    let managed_path = std::env::var_os("MANDATE_MANAGED_SETTINGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(crate::install::MANAGED_SETTINGS));
    let mcp_configured = read_json(&project.root.join(".mcp.json"))
        .and_then(|v| {
            v.get("mcpServers")
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect())
        })
        .unwrap_or_default();
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
    Inputs {
        policy: project.policy.clone(),
        org: project.org.as_ref().map(|(_, o)| o.clone()),
        contracts,
        contract_problems,
        kill_log: metrics::read_kill_log(&project.records_dir()),
        records_dir: project.records_dir(),
        settings: read_json(&project.root.join(".claude/settings.json")),
        managed: read_json(&managed_path),
        managed_path,
        mcp_configured,
        verified,
        expected_sandbox,
        unrecorded: match mandate_project::marks::Marks::new(&workspace).list() {
            Ok(marks) => marks.iter().map(|m| m.describe()).collect(),
            Err(error) => vec![format!(
                "the failure marks of the active run cannot be read: {error}"
            )],
        },
        runs,
        agents: crate::readiness_agents::gather(project),
        server_link: mandate_project::remote::server_url(project).map(|url| {
            (
                url.to_string(),
                mandate_project::remote::link_problem(project),
            )
        }),
    }
}

pub fn render_text(r: &Readiness) -> String {
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

pub fn render_html(r: &Readiness) -> String {
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

/// `mandate readiness [--format …]`: exit 1 when the rollout is still an experiment.
pub fn readiness(format: ReportFormat) -> Result<ExitCode> {
    let project = Project::discover(&std::env::current_dir()?, None)?;
    let r = assess(&gather(&project));
    let out = match format {
        ReportFormat::Text => render_text(&r),
        ReportFormat::Json => serde_json::to_string_pretty(&r)? + "\n",
        ReportFormat::Html => render_html(&r),
    };
    print!("{out}");
    Ok(if r.verdict == "ready" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
