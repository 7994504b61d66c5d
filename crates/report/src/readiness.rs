//! The fifteen rollout questions, answered from what a team configured and recorded,
//! each with the place the answer came from, plus the checks a security reviewer makes
//! before trusting the answers.
//!
//! "If a team cannot answer them, the rollout is still an experiment": the verdict is
//! `ready` only when every question has an answer on file and no check fails. An
//! unanswered question says what is missing and where to write it.
//!
//! [`assess`] is a pure function of [`Inputs`]. `mandate readiness` gathers them from the
//! repository and `records.dir`; the team server from the records pushed by every
//! machine (the policy and contracts each run started under, its events) and its own
//! kill-switch log. Checks only one machine can make (its hooks, sandbox, agents, server
//! link) come in as [`Inputs::machine_checks`].

use std::collections::BTreeSet;
use std::fmt::Write as _;

use mandate_policy::format::{Contract, Policy, ToolClass};
use serde::Serialize;
use serde_json::Value;

use crate::metrics::{self, RunFigures};

/// Everything readiness looks at.
#[derive(Clone, Debug, Default)]
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
    /// Each run's share of the metrics, over all its events, in report order.
    pub runs: Vec<RunFigures>,
    pub kill_log: Vec<Value>,
    /// Servers configured in `.mcp.json`.
    pub mcp_configured: Vec<String>,
    /// Per-run verification: (run, ok, detail); `None` when nothing could be verified
    /// (no signing key).
    pub verified: Option<Vec<(String, bool, String)>>,
    /// Events the hook could not record and could only remember outside the record
    /// (the active run's failure marks), one line each.
    pub unrecorded: Vec<String>,
    /// Checks of one machine's own set-up (hooks, managed settings, sandbox, other
    /// agents, the server link), made by `mandate readiness` on that machine.
    pub machine_checks: Vec<Check>,
    /// On the team server: each machine's newest report of those checks, shown beside
    /// the answer (empty on a machine).
    pub machines: Vec<crate::machines::MachineReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Question {
    pub id: u32,
    pub question: &'static str,
    pub answered: bool,
    pub answer: String,
    pub source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Status {
    #[serde(rename = "pass")]
    Pass,
    #[serde(rename = "fail")]
    Fail,
    #[serde(rename = "not checked")]
    NotChecked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
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
    /// The machines whose reports the machine checks were answered from (the team
    /// server's readiness only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub machines: Vec<crate::machines::MachineReport>,
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
    /// `records.server`, organisation first.
    fn server(&self) -> Option<&str> {
        self.org
            .as_ref()
            .and_then(|o| o.records.server.as_deref())
            .or(self.policy.records.server.as_deref())
    }

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
                .filter_map(|r| r.os_user.as_deref())
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
                (Some(dir), Some(days)) => yes(
                    format!(
                        "In `{dir}` on each machine ({} on record){}, kept {days} days; `mandate record prune` removes older runs.",
                        plural(inputs.runs.len(), "run", "runs"),
                        inputs
                            .server()
                            .map(|url| format!(", pushed to the team server `{url}`"))
                            .unwrap_or_default()
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
                    "records: 0 runs",
                );
            }
            let m = metrics::combine(&inputs.runs, &inputs.kill_log, None);
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

/// The checks the records and the configuration answer, after the machine's own.
fn checks(inputs: &Inputs) -> Vec<Check> {
    let mut out = inputs.machine_checks.clone();
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
    let m = metrics::combine(&inputs.runs, &[], None);
    let mut problems = Vec::new();
    if m.unguarded_calls > 0 {
        let runs: Vec<String> = inputs
            .runs
            .iter()
            .filter(|run| run.unguarded_marked)
            .map(|run| run.run.clone())
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
        machines: inputs.machines.clone(),
    }
}
