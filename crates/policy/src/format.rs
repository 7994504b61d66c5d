//! The v1 file formats: `mandate.toml` (policy) and task contracts.
//!
//! Field names are fixed by DESIGN.md. Parsing is strict: unknown keys are rejected with a
//! "did you mean", and every error names the file, the line and the key, because the
//! person reading it is about to open that file and fix it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decision::{Decision, Kind};

/// A policy file: the repository's `mandate.toml` or the organisation's policy.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub version: u32,
    pub mode: Option<Mode>,
    pub default: Option<DefaultDecision>,
    #[serde(default)]
    pub authority: Authority,
    #[serde(default)]
    pub block: TouchLists,
    #[serde(default)]
    pub mcp: Mcp,
    #[serde(default)]
    pub records: Records,
    #[serde(default)]
    pub incident: Incident,
    #[serde(default)]
    pub sandbox: SandboxPolicy,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Record only; decide nothing.
    Record,
    /// Decide and record "would deny", but let the call run.
    Shadow,
    /// Decide and enforce.
    #[default]
    Enforce,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Record => "record",
            Mode::Shadow => "shadow",
            Mode::Enforce => "enforce",
        })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultDecision {
    Ask,
    #[default]
    Deny,
}

impl DefaultDecision {
    pub fn decision(self) -> Decision {
        match self {
            DefaultDecision::Ask => Decision::Ask,
            DefaultDecision::Deny => Decision::Deny,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    #[serde(default)]
    pub delegators: Vec<String>,
    #[serde(default)]
    pub agents: Vec<String>,
    #[serde(default)]
    pub reviewers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub risk_acceptors: Vec<String>,
    #[serde(default)]
    pub kill_switch: Vec<String>,
}

/// Globs or command patterns for each of the five touch kinds.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TouchLists {
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
    #[serde(default)]
    pub execute: Vec<String>,
    #[serde(default)]
    pub call: Vec<String>,
    #[serde(default)]
    pub expose: Vec<String>,
}

impl TouchLists {
    pub fn is_empty(&self) -> bool {
        self.read.is_empty()
            && self.write.is_empty()
            && self.execute.is_empty()
            && self.call.is_empty()
            && self.expose.is_empty()
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mcp {
    #[serde(default)]
    pub servers: BTreeMap<String, McpServer>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct McpServer {
    pub owner: Option<String>,
    pub purpose: Option<String>,
    pub data: Option<String>,
    #[serde(default)]
    pub tools: BTreeMap<String, ToolSpec>,
    /// Reviewer group that must approve write-class calls.
    pub approval: Option<String>,
    #[serde(default)]
    pub disabled: bool,
}

/// A registered tool: its class, written `"read"` or `{ class = "write", args = {…} }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ToolSpec {
    Class(ToolClass),
    Detailed(DetailedTool),
}

impl ToolSpec {
    pub fn class(&self) -> ToolClass {
        match self {
            ToolSpec::Class(class) => *class,
            ToolSpec::Detailed(detailed) => detailed.class,
        }
    }

    /// Argument constraints: argument name to allowed patterns (`*` wildcards).
    pub fn args(&self) -> Option<&BTreeMap<String, Vec<String>>> {
        match self {
            ToolSpec::Class(_) => None,
            ToolSpec::Detailed(detailed) => Some(&detailed.args),
        }
    }

    pub fn disabled(&self) -> bool {
        match self {
            ToolSpec::Class(_) => false,
            ToolSpec::Detailed(detailed) => detailed.disabled,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetailedTool {
    pub class: ToolClass,
    #[serde(default)]
    pub args: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolClass {
    Read,
    Write,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Records {
    pub dir: Option<String>,
    pub retention_days: Option<u32>,
    /// The team server: `https://…`, or `http://` to a loopback address.
    pub server: Option<String>,
    /// A PEM file of the CA that signed the team server's certificate (a private CA);
    /// without it the system's roots are trusted.
    pub server_ca: Option<String>,
    /// The project this repository's runs belong to on the team server (the name its
    /// team policy uses for the project's delegators and reviewers).
    pub project: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    pub process: Option<String>,
}

/// Settings for Claude Code's OS sandbox, compiled from the policy and contract.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxPolicy {
    /// Off by default until the machine has the sandbox (bubblewrap) installed.
    pub enabled: Option<bool>,
}

/// One task's box.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub version: u32,
    pub task: Task,
    #[serde(default)]
    pub allow: TouchLists,
    #[serde(default)]
    pub block: TouchLists,
    #[serde(default)]
    pub stop: Vec<StopRule>,
    #[serde(default)]
    pub approval: Vec<ApprovalRule>,
    #[serde(default)]
    pub evidence: Evidence,
    #[serde(default)]
    pub rollback: Rollback,
    #[serde(default)]
    pub example: Vec<Example>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub id: String,
    pub request: String,
    pub delegated_by: String,
    pub agent: Option<String>,
    pub risk_owner: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StopRule {
    pub reason: String,
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
    #[serde(default)]
    pub execute: Vec<String>,
    #[serde(default)]
    pub call: Vec<String>,
    #[serde(default)]
    pub expose: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    pub reason: String,
    /// The reviewer group (a key of `authority.reviewers`) that may approve.
    pub reviewers: String,
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
    #[serde(default)]
    pub execute: Vec<String>,
    #[serde(default)]
    pub call: Vec<String>,
    #[serde(default)]
    pub expose: Vec<String>,
}

/// The touch lists of a stop or approval rule, and of `TouchLists` itself. (The fields
/// are written out in those structs because serde's `flatten` cannot be combined with
/// `deny_unknown_fields`.)
macro_rules! touch_lists_of {
    ($rule:ty) => {
        impl $rule {
            pub fn lists(&self) -> TouchLists {
                TouchLists {
                    read: self.read.clone(),
                    write: self.write.clone(),
                    execute: self.execute.clone(),
                    call: self.call.clone(),
                    expose: self.expose.clone(),
                }
            }

            /// The lists by kind, borrowed.
            pub fn by_kind(&self) -> [(Kind, &[String]); 5] {
                [
                    (Kind::Read, &self.read),
                    (Kind::Write, &self.write),
                    (Kind::Execute, &self.execute),
                    (Kind::Call, &self.call),
                    (Kind::Expose, &self.expose),
                ]
            }
        }
    };
}
touch_lists_of!(TouchLists);
touch_lists_of!(StopRule);
touch_lists_of!(ApprovalRule);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    #[serde(default)]
    pub require: Vec<EvidenceKind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    RollbackNote,
    Tests,
    Assumptions,
    ResidualRisks,
    TestGaps,
}

impl EvidenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::RollbackNote => "rollback_note",
            EvidenceKind::Tests => "tests",
            EvidenceKind::Assumptions => "assumptions",
            EvidenceKind::ResidualRisks => "residual_risks",
            EvidenceKind::TestGaps => "test_gaps",
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    #[serde(default)]
    pub required_before: Vec<String>,
}

/// A call the contract must judge as `expect` when it loads.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub tool: String,
    pub input: toml::Value,
    pub expect: Decision,
    /// Working directory of the call, relative to the repository root (default: the root).
    pub cwd: Option<String>,
}

/// An error in a policy or contract file, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct FormatError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl FormatError {
    pub fn new(file: &Path, key: Option<String>, message: String) -> FormatError {
        FormatError {
            file: file.to_path_buf(),
            line: None,
            key,
            message,
        }
    }

    fn render(&self) -> String {
        let mut out = self.file.display().to_string();
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
        }
        if let Some(key) = &self.key {
            out.push_str(&format!(": `{key}`"));
        }
        out.push_str(": ");
        out.push_str(&self.message);
        out
    }
}

/// Parse a policy file's text.
pub fn parse_policy(file: &Path, text: &str) -> Result<Policy, FormatError> {
    let policy: Policy = parse(file, text)?;
    if policy.version != 1 {
        return Err(located(
            file,
            text,
            "version",
            format!(
                "this mandate reads version 1 policies, not {}",
                policy.version
            ),
        ));
    }
    Ok(policy)
}

/// Parse a contract file's text.
pub fn parse_contract(file: &Path, text: &str) -> Result<Contract, FormatError> {
    let contract: Contract = parse(file, text)?;
    if contract.version != 1 {
        return Err(located(
            file,
            text,
            "version",
            format!(
                "this mandate reads version 1 contracts, not {}",
                contract.version
            ),
        ));
    }
    if contract.task.id.trim().is_empty() {
        return Err(located(
            file,
            text,
            "id",
            "a contract needs a task id".to_string(),
        ));
    }
    Ok(contract)
}

/// An error for `key`, with the line of its first occurrence in `text`.
pub fn located(file: &Path, text: &str, key: &str, message: String) -> FormatError {
    let line = text.lines().position(|line| {
        let line = line.trim_start();
        line.starts_with(key)
            && line
                .get(key.len()..)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
    });
    FormatError {
        file: file.to_path_buf(),
        line: line.map(|l| l + 1),
        key: Some(key.to_string()),
        message,
    }
}

fn parse<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T, FormatError> {
    toml::from_str(text).map_err(|error| {
        let span = error.span();
        let line = span
            .as_ref()
            .map(|span| text.get(..span.start).unwrap_or("").matches('\n').count() + 1);
        let spanned_text = span
            .as_ref()
            .and_then(|span| text.get(span.clone()))
            .map(|t| t.trim().to_string());
        let table = span
            .as_ref()
            .and_then(|span| enclosing_table(text, span.start));
        let raw = error.message().trim().to_string();
        let (key, message) = explain_serde_message(&raw, spanned_text.as_deref(), table.as_deref());
        FormatError {
            file: file.to_path_buf(),
            line,
            key,
            message,
        }
    })
}

/// The `[table]` header in force at byte `offset`.
fn enclosing_table(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    before.lines().rev().find_map(|line| {
        let line = line.trim();
        if line.starts_with('[') {
            Some(
                line.trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_string(),
            )
        } else {
            None
        }
    })
}

/// Turn serde's message into one for a person, adding "did you mean".
fn explain_serde_message(
    raw: &str,
    spanned: Option<&str>,
    table: Option<&str>,
) -> (Option<String>, String) {
    let qualify = |key: &str| match table {
        Some(table) if !table.is_empty() => format!("{table}.{key}"),
        _ => key.to_string(),
    };
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        let unknown = rest.split('`').next().unwrap_or("").to_string();
        let expected: Vec<&str> = rest
            .split("expected ")
            .nth(1)
            .map(|list| {
                list.split('`')
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 1)
                    .map(|(_, name)| name)
                    .collect()
            })
            .unwrap_or_default();
        let mut message = format!("unknown key `{unknown}`");
        if let Some(best) = did_you_mean(&unknown, &expected) {
            message.push_str(&format!("; did you mean `{best}`?"));
        } else if !expected.is_empty() {
            message.push_str(&format!(
                "; the keys here are {}",
                expected
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return (Some(qualify(&unknown)), message);
    }
    if let Some(rest) = raw.strip_prefix("missing field `") {
        let missing = rest.split('`').next().unwrap_or("");
        return (
            Some(qualify(missing)),
            format!("missing required key `{missing}`"),
        );
    }
    if let Some(rest) = raw.strip_prefix("unknown variant `") {
        let value = rest.split('`').next().unwrap_or("");
        let expected: Vec<&str> = rest
            .split("expected ")
            .nth(1)
            .map(|list| {
                list.split('`')
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 1)
                    .map(|(_, name)| name)
                    .collect()
            })
            .unwrap_or_default();
        let key = spanned
            .and_then(|s| s.split('=').next())
            .map(|k| qualify(k.trim()));
        let mut message = format!("`{value}` is not one of {}", expected.join(", "));
        if let Some(best) = did_you_mean(value, &expected) {
            message.push_str(&format!("; did you mean `{best}`?"));
        }
        return (key, message);
    }
    let key = spanned
        .filter(|s| !s.contains('\n') && s.len() < 80)
        .map(|s| s.split('=').next().unwrap_or(s).trim().to_string())
        .map(|k| qualify(&k));
    (key, raw.to_string())
}

/// The closest candidate within a small edit distance.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|candidate| (edit_distance(word, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let insert = current.get(j).copied().unwrap_or(0) + 1;
            let delete = previous.get(j + 1).copied().unwrap_or(0) + 1;
            current.push(substitute.min(insert).min(delete));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_file_line_key_and_suggestion() {
        let text = "version = 1\n[task]\nid = \"X\"\nrequest = \"r\"\ndelegated_by = \"a\"\n[allow]\nreed = [\"a/**\"]\n";
        let error = parse_contract(Path::new("c.toml"), text).unwrap_err();
        assert_eq!(error.line, Some(7));
        assert_eq!(error.key.as_deref(), Some("allow.reed"));
        assert_eq!(
            error.to_string(),
            "c.toml:7: `allow.reed`: unknown key `reed`; did you mean `read`?"
        );
    }

    #[test]
    fn wrong_mode_is_explained() {
        let text = "version = 1\nmode = \"enforced\"\n";
        let error = parse_policy(Path::new("mandate.toml"), text).unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(
            error.to_string().contains("did you mean `enforce`"),
            "{error}"
        );
    }

    #[test]
    fn missing_task_field() {
        let text = "version = 1\n[task]\nid = \"X\"\nrequest = \"r\"\n";
        let error = parse_contract(Path::new("c.toml"), text).unwrap_err();
        assert!(error.to_string().contains("delegated_by"), "{error}");
    }

    #[test]
    fn version_two_is_refused() {
        let error = parse_policy(Path::new("p.toml"), "version = 2\n").unwrap_err();
        assert_eq!(error.line, Some(1));
        assert!(error.to_string().contains("version 1"));
    }
}
