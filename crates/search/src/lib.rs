//! The incident questions over every recorded tool call, one answer computed one way.
//!
//! `why`, `touched` and the event search are asked of a machine's record store (the CLI's
//! local index) and of the team server (its `events` table over every pushed record).
//! Both hold the same [`EventRow`]s, made from run-record entries by [`rows_of`], and both
//! answer with the same [`EventQuery`]: its SQL ([`EventQuery::sql`]) narrows the rows
//! with indexes, and [`EventQuery::matches`] decides each row exactly. So a server holding
//! the records of two machines answers what the two machines answer together.
//!
//! A row is one touch of one call: a `tool.pre` the hook judged (one row per touch), a
//! call the agent refused by itself (`tool.refused_by_agent`), or one that ran with no
//! decision of mandate (`tool.unguarded`). Its `decision` keeps shadow mode apart: a
//! deny or stop that was not enforced is `would_deny` (an ask, `would_ask`), never `deny`.
//! Its `outcome` starts from the decision and becomes `ran` or `failed` when the call's
//! `tool.post` or `tool.failure` arrives ([`outcome_of`]).
//!
//! Pure: no I/O. The server runs the SQL through sqlx, the CLI through SQLite.

use std::path::Path;

mod ranges;
pub use ranges::{AreaPath, AreaRanges, TextRange, area_paths, area_ranges, literal_head};

use mandate_policy::glob::{PathGlob, wildcard_match};
use mandate_policy::path::{absolutize, segments};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most rows one page shows.
pub const PAGE_SIZE: usize = 50;

/// What every row of a run shares, from its `run.start` entry (and, on the server, from
/// who pushed it).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct RunContext {
    pub run_id: String,
    /// The repository root the run worked in.
    pub repository: Option<String>,
    /// The delegating user (lower case).
    pub user: Option<String>,
    /// The agent the contract names (`claude-code`, `codex`, …).
    pub agent: Option<String>,
    pub task: Option<String>,
    pub mode: Option<String>,
    /// The project of `[records] project`.
    pub project: Option<String>,
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn owned(value: &Value, key: &str) -> Option<String> {
    text(value, key).map(str::to_string)
}

impl RunContext {
    /// The context of run `run_id` before its `run.start` is seen.
    pub fn new(run_id: &str) -> RunContext {
        RunContext {
            run_id: run_id.to_string(),
            ..RunContext::default()
        }
    }

    /// Take what `event` says, if it is the run's `run.start`. Returns whether it was.
    pub fn learn(&mut self, event: &Value) -> bool {
        if text(event, "type") != Some("run.start") {
            return false;
        }
        let contract = event.get("contract").cloned().unwrap_or(Value::Null);
        self.repository = owned(event, "workspace").or(self.repository.take());
        let user = owned(event, "user").or_else(|| owned(&contract, "delegated_by"));
        if self.user.is_none() {
            self.user = user.map(|u| u.trim().to_lowercase());
        }
        self.agent = owned(&contract, "agent").or(self.agent.take());
        self.task = owned(&contract, "id").or(self.task.take());
        self.mode = owned(event, "mode").or(self.mode.take());
        if self.project.is_none() {
            self.project = owned(event, "project");
        }
        true
    }
}

/// One touch of one recorded call.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct EventRow {
    pub run: String,
    /// The entry's index in the run's log.
    pub idx: u64,
    /// The touch's position in the entry.
    pub n: u64,
    pub time: String,
    /// `tool.pre`, `tool.refused_by_agent` or `tool.unguarded`.
    pub event: String,
    pub session_id: Option<String>,
    /// The subagent that made the call (none: the main agent).
    pub agent_id: Option<String>,
    pub agent_type: Option<String>,
    pub tool_use_id: Option<String>,
    pub tool: String,
    /// The MCP server of an `mcp__<server>__<tool>` call.
    pub mcp: Option<String>,
    /// read, write, execute, call or expose.
    pub kind: String,
    /// As recorded: an absolute path, a command, a tool name, a URL or host.
    pub target: String,
    /// For reads and writes inside the repository: the path relative to its root.
    pub path: Option<String>,
    /// The call's shell command, for Bash.
    pub command: Option<String>,
    /// allow, ask, deny, stop, would_deny, would_ask, refused_by_agent or unguarded.
    pub decision: String,
    /// ran, failed, refused or no_result.
    pub outcome: String,
    pub rules: Vec<String>,
    pub user: Option<String>,
    pub agent: Option<String>,
    pub repository: Option<String>,
    pub project: Option<String>,
    pub task: Option<String>,
    pub mode: Option<String>,
    /// Who refused a call the agent refused by itself (`tool.refused_by_agent`): its
    /// permission rules, its input validation, … as the record names it.
    #[serde(default)]
    pub refused_by: Option<String>,
}

impl EventRow {
    /// The target as an incident lead reads it: relative to the repository when inside it.
    pub fn shown_target(&self) -> &str {
        self.path.as_deref().unwrap_or(&self.target)
    }
}

/// Is an event of this type a call that gets rows?
pub fn is_call(kind: &str) -> bool {
    matches!(
        kind,
        "tool.pre" | "tool.refused_by_agent" | "tool.unguarded"
    )
}

/// The MCP server an `mcp__<server>__<tool>` name calls.
pub fn mcp_server(tool: &str) -> Option<String> {
    let rest = tool.strip_prefix("mcp__")?;
    let (server, _) = rest.split_once("__")?;
    (!server.is_empty()).then(|| server.to_string())
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The touches of a call event: as judged, or (no hook judged it) read off the tool's
/// input. Each is (kind, target, per-touch decision, rules).
fn call_touches(event: &Value) -> Vec<(String, String, Option<String>, Vec<String>)> {
    let judged: Vec<_> = event
        .get("touches")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|touch| {
            Some((
                text(touch, "kind")?.to_string(),
                text(touch, "target")?.to_string(),
                owned(touch, "decision"),
                strings(touch.get("rules")),
            ))
        })
        .collect();
    if !judged.is_empty() {
        return judged;
    }
    let input = event.get("input");
    let field = |key: &str| input.and_then(|i| i.get(key)).and_then(Value::as_str);
    let tool = text(event, "tool").unwrap_or("");
    let (kind, target) = match tool {
        "Read" | "Glob" | "Grep" | "LS" => ("read", field("file_path").or(field("path"))),
        "Write" | "Edit" | "MultiEdit" => ("write", field("file_path")),
        "NotebookEdit" => ("write", field("notebook_path")),
        "Bash" => ("execute", field("command")),
        "WebFetch" => ("expose", field("url")),
        _ => ("call", Some(tool)),
    };
    target
        .map(|t| vec![(kind.to_string(), t.to_string(), None, Vec::new())])
        .unwrap_or_default()
}

/// Shadow mode keeps its verdicts apart: what was decided but not enforced.
fn shown_decision(decision: &str, enforced: bool) -> String {
    match (decision, enforced) {
        ("deny" | "stop", false) => "would_deny".to_string(),
        ("ask", false) => "would_ask".to_string(),
        _ => decision.to_string(),
    }
}

/// The rows of one entry of a run (none unless it is a call).
pub fn rows_of(context: &RunContext, idx: u64, event: &Value) -> Vec<EventRow> {
    let kind = text(event, "type").unwrap_or("");
    if !is_call(kind) {
        return Vec::new();
    }
    let tool = text(event, "tool").unwrap_or("?").to_string();
    let call_decision = text(event, "decision").unwrap_or("");
    let enforced = event
        .get("enforced")
        .and_then(Value::as_bool)
        .unwrap_or(text(event, "mode") != Some("shadow"));
    let command = if tool == "Bash" {
        event
            .pointer("/input/command")
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        None
    };
    let root = context.repository.as_deref().map(Path::new);
    call_touches(event)
        .into_iter()
        .enumerate()
        .map(|(n, (touch_kind, target, touch_decision, rules))| {
            let (decision, outcome) = match kind {
                "tool.refused_by_agent" => ("refused_by_agent".to_string(), "refused"),
                "tool.unguarded" => (
                    "unguarded".to_string(),
                    if event.get("result").is_some() {
                        "ran"
                    } else {
                        "no_result"
                    },
                ),
                _ => {
                    let decided = touch_decision.as_deref().unwrap_or(call_decision);
                    // Until its result arrives: an allowed call has none yet, anything
                    // else was refused (a shadow deny that ran becomes `ran` then).
                    let outcome = if call_decision == "allow" {
                        "no_result"
                    } else {
                        "refused"
                    };
                    (shown_decision(decided, enforced), outcome)
                }
            };
            let path = match (touch_kind.as_str(), root) {
                ("read" | "write", Some(root)) => Path::new(&target)
                    .strip_prefix(root)
                    .ok()
                    .map(|rest| rest.to_string_lossy().to_string())
                    .filter(|rest| !rest.is_empty()),
                _ => None,
            };
            EventRow {
                run: context.run_id.clone(),
                idx,
                n: n as u64,
                time: owned(event, "time").unwrap_or_default(),
                event: kind.to_string(),
                session_id: owned(event, "session_id"),
                agent_id: owned(event, "agent_id"),
                agent_type: owned(event, "agent_type"),
                tool_use_id: owned(event, "tool_use_id"),
                mcp: mcp_server(&tool),
                tool: tool.clone(),
                kind: touch_kind,
                target,
                path,
                command: command.clone(),
                decision,
                outcome: outcome.to_string(),
                rules: if rules.is_empty() {
                    strings(event.get("rules"))
                } else {
                    rules
                },
                user: context.user.clone(),
                agent: context.agent.clone(),
                repository: context.repository.clone(),
                project: context.project.clone(),
                task: context.task.clone(),
                mode: owned(event, "mode").or_else(|| context.mode.clone()),
                refused_by: if kind == "tool.refused_by_agent" {
                    owned(event, "refused_by")
                } else {
                    None
                },
            }
        })
        .collect()
}

/// What a `tool.post` or `tool.failure` entry says became of its call: the call's
/// `tool_use_id` and its outcome. The rows of that call's `tool.pre` take it, and a
/// touch that was not allowed and did not run stays `refused`.
pub fn outcome_of(event: &Value) -> Option<(String, &'static str)> {
    let outcome = match text(event, "type")? {
        "tool.post" => "ran",
        "tool.failure" => "failed",
        _ => return None,
    };
    Some((owned(event, "tool_use_id")?, outcome))
}

/// Apply a result to a row of its call (what the indexes' UPDATE does).
pub fn apply_outcome(row: &mut EventRow, outcome: &str) {
    if row.event == "tool.pre" {
        row.outcome = outcome.to_string();
    }
}

/// Every row of a whole run, results applied: the reference the indexes must agree with.
pub fn rows_of_run(run_id: &str, events: &[Value]) -> Vec<EventRow> {
    let mut context = RunContext::new(run_id);
    let mut rows: Vec<EventRow> = Vec::new();
    for (position, event) in events.iter().enumerate() {
        let idx = event
            .get("i")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        if context.learn(event) {
            continue;
        }
        if let Some((id, outcome)) = outcome_of(event) {
            for row in rows
                .iter_mut()
                .filter(|r| r.tool_use_id.as_deref() == Some(id.as_str()))
            {
                apply_outcome(row, outcome);
            }
            continue;
        }
        rows.extend(rows_of(&context, idx, event));
    }
    rows
}

/// A search over the rows. Every field is optional; all given ones must hold.
///
/// The URL of the server's `/events` page and `/api/v1/events` carries these names:
/// `path=GLOB&command=TEXT&tool=NAME&mcp=SERVER&user=U&agent=A&repo=R&decision=…&run=RUN&since=…&until=…&page=N`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct EventQuery {
    /// The area: a path glob (relative to each run's repository, or absolute) that also
    /// matches tool names, hosts and the paths a command names (`touched`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// One file exactly (relative to the repository, or absolute), as `why` asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Text the call's shell command contains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// A tool name, `*` matching any run of characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The contract's agent, or a subagent's type or id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// A project name, a repository root, or the repository folder's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// allow, ask, deny (deny and stop), stop, would_deny, would_ask, refused_by_agent,
    /// unguarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// read, write, execute, call or expose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// On or after: `YYYY-MM-DD` or RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Before an RFC 3339 time, or up to the end of a `YYYY-MM-DD` day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A query the server or the CLI cannot answer, said for the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError(pub String);

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

const DECISIONS: &[&str] = &[
    "allow",
    "ask",
    "deny",
    "stop",
    "would_deny",
    "would_ask",
    "refused_by_agent",
    "unguarded",
];
const KINDS: &[&str] = &["read", "write", "execute", "call", "expose"];

/// `YYYY-MM-DD`, or an RFC 3339 UTC time that starts with one.
fn is_time(text: &str) -> bool {
    let date = text.get(..10).unwrap_or("");
    let date_ok = date.len() == 10
        && date.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    date_ok && (text.len() == 10 || text.get(10..11) == Some("T"))
}

/// A compiled query: the area's glob, and the bounds as record times compare.
pub struct Compiled<'q> {
    query: &'q EventQuery,
    glob: Option<PathGlob>,
    absolute: bool,
    until: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl EventQuery {
    /// Drop empty fields (an HTML form sends every field).
    pub fn tidy(mut self) -> EventQuery {
        for field in [
            &mut self.path,
            &mut self.file,
            &mut self.command,
            &mut self.tool,
            &mut self.mcp,
            &mut self.user,
            &mut self.agent,
            &mut self.repo,
            &mut self.decision,
            &mut self.kind,
            &mut self.run,
            &mut self.since,
            &mut self.until,
        ] {
            if field.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *field = None;
            }
        }
        self
    }

    /// Check what was typed and compile the glob once.
    pub fn compile(&self) -> Result<Compiled<'_>, QueryError> {
        if let Some(decision) = given(&self.decision)
            && !DECISIONS.contains(&decision)
        {
            return Err(QueryError(format!(
                "`decision={decision}` is not a decision: use one of {}",
                DECISIONS.join(", ")
            )));
        }
        if let Some(kind) = given(&self.kind)
            && !KINDS.contains(&kind)
        {
            return Err(QueryError(format!(
                "`kind={kind}` is not a touch kind: use one of {}",
                KINDS.join(", ")
            )));
        }
        for (name, value) in [("since", &self.since), ("until", &self.until)] {
            if let Some(value) = given(value)
                && !is_time(value)
            {
                return Err(QueryError(format!(
                    "`{name}={value}` is not a time: write YYYY-MM-DD or RFC 3339 UTC \
                     (2026-01-31T12:00:00Z)"
                )));
            }
        }
        let until = given(&self.until).map(|u| {
            if u.len() == 10 {
                // The whole day: every time of that day sorts before `T24`.
                format!("{u}T24")
            } else {
                u.to_string()
            }
        });
        let (glob, absolute) = match given(&self.path) {
            Some(area) => (PathGlob::new(area).ok(), area.starts_with('/')),
            None => (None, false),
        };
        Ok(Compiled {
            query: self,
            glob,
            absolute,
            until,
        })
    }

    /// The query string of the `/events` URL (and the API's), without `page`.
    pub fn to_query_string(&self) -> String {
        let mut parts = Vec::new();
        for (name, value) in self.fields() {
            if let Some(value) = given(value) {
                parts.push(format!("{name}={}", percent_encode(value)));
            }
        }
        parts.join("&")
    }

    fn fields(&self) -> [(&'static str, &Option<String>); 13] {
        [
            ("path", &self.path),
            ("file", &self.file),
            ("command", &self.command),
            ("tool", &self.tool),
            ("mcp", &self.mcp),
            ("user", &self.user),
            ("agent", &self.agent),
            ("repo", &self.repo),
            ("decision", &self.decision),
            ("kind", &self.kind),
            ("run", &self.run),
            ("since", &self.since),
            ("until", &self.until),
        ]
    }
}

/// Percent-encode a query-string value (everything but unreserved characters).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/' | b'*') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Escape `text` for a LIKE pattern with `ESCAPE '\'`.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A LIKE pattern every text a shell-style wildcard (`*`, `?`) matches also matches.
pub fn wildcard_like(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A LIKE pattern every path the glob matches also matches: `**` (and the slashes
/// beside it) any text, `*` and `{…}` any text, `?` one character.
fn glob_like(glob: &str) -> String {
    let glob = glob.trim_start_matches("./");
    let absolute = glob.starts_with('/');
    let mut out = String::new();
    if absolute {
        out.push('/');
    }
    let mut previous_any = absolute;
    let mut first = true;
    for segment in glob.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if segment == "**" {
            if !out.ends_with('%') {
                out.push('%');
            }
            previous_any = true;
            first = false;
            continue;
        }
        if !first && !previous_any {
            out.push('/');
        }
        let mut depth = 0usize;
        for c in segment.chars() {
            match c {
                '{' => {
                    depth += 1;
                    if depth == 1 {
                        out.push('%');
                    }
                }
                '}' if depth > 0 => depth -= 1,
                _ if depth > 0 => {}
                '*' => out.push('%'),
                '?' => out.push('_'),
                '%' | '_' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        previous_any = false;
        first = false;
    }
    out
}

/// The folder a relative glob spells as plain segments before a `**` (`src/module1` of
/// `src/module1/**/*.py`): every path it matches is that folder or lies below it.
fn plain_folder(glob: &str) -> Option<String> {
    let mut rest = glob;
    while let Some(stripped) = rest.strip_prefix("./") {
        rest = stripped;
    }
    let mut folder: Vec<&str> = Vec::new();
    for segment in rest.split('/') {
        if segment == "**" {
            return (!folder.is_empty()).then(|| folder.join("/"));
        }
        let plain = !segment.is_empty()
            && !segment.starts_with('.')
            && !segment
                .bytes()
                .any(|b| matches!(b, b'*' | b'?' | b'[' | b']' | b'{' | b'}' | b',' | b'\\'));
        if !plain {
            return None;
        }
        folder.push(segment);
    }
    None
}

/// The longest run of literal text within one segment of a glob: every command word
/// that names a path the glob matches holds it verbatim. None (empty) for a glob with
/// `{…}`: a text inside the braces is in one alternative only (`{deploy,customer_data}/**`
/// matches `./deploy/x`, which holds no `customer_data`).
fn longest_literal(glob: &str) -> String {
    if glob.contains('{') {
        return String::new();
    }
    glob.split(['/', '*', '?', '{', '}', ','])
        .filter(|part| *part != "." && *part != "..")
        .max_by_key(|part| part.len())
        .unwrap_or("")
        .to_string()
}

/// The words of a command that may name a file.
pub(crate) fn path_words(command: &str) -> impl Iterator<Item = &str> {
    command
        .split_whitespace()
        .map(|word| word.trim_matches(|c| matches!(c, '\'' | '"' | ';' | '(' | ')')))
        .filter(|word| !word.starts_with('-') && (word.contains('/') || word.contains('.')))
}

impl Compiled<'_> {
    /// Does `row` answer the query? Exact: the SQL only narrows.
    pub fn matches(&self, row: &EventRow) -> bool {
        let q = self.query;
        if let Some(area) = given(&q.path)
            && !self.area_matches(area, row)
        {
            return false;
        }
        if let Some(file) = given(&q.file) {
            let hit = if file.starts_with('/') {
                row.target == file
            } else {
                row.path.as_deref() == Some(file.trim_start_matches("./"))
            };
            if !hit {
                return false;
            }
        }
        if let Some(text) = given(&q.command)
            && !row.command.as_deref().is_some_and(|c| c.contains(text))
        {
            return false;
        }
        if let Some(tool) = given(&q.tool)
            && !wildcard_match(tool, &row.tool)
        {
            return false;
        }
        if let Some(mcp) = given(&q.mcp)
            && row.mcp.as_deref() != Some(mcp)
        {
            return false;
        }
        if let Some(user) = given(&q.user)
            && row.user.as_deref() != Some(user.to_lowercase().as_str())
        {
            return false;
        }
        if let Some(agent) = given(&q.agent) {
            let named = [&row.agent, &row.agent_type, &row.agent_id]
                .iter()
                .any(|v| v.as_deref() == Some(agent));
            if !named {
                return false;
            }
        }
        if let Some(repo) = given(&q.repo) {
            let named = row.project.as_deref() == Some(repo)
                || row.repository.as_deref().is_some_and(|r| {
                    r == repo
                        || r.strip_suffix(repo)
                            .is_some_and(|head| head.ends_with('/') && !repo.contains('/'))
                });
            if !named {
                return false;
            }
        }
        if let Some(decision) = given(&q.decision) {
            let hit = match decision {
                "deny" => matches!(row.decision.as_str(), "deny" | "stop"),
                other => row.decision == other,
            };
            if !hit {
                return false;
            }
        }
        if let Some(kind) = given(&q.kind)
            && row.kind != kind
        {
            return false;
        }
        if let Some(run) = given(&q.run)
            && row.run != run
        {
            return false;
        }
        if let Some(since) = given(&q.since)
            && row.time.as_str() < since
        {
            return false;
        }
        if let Some(until) = &self.until
            && row.time.as_str() >= until.as_str()
        {
            return false;
        }
        true
    }

    fn path_matches(&self, path_text: &str, row: &EventRow) -> bool {
        let Some(glob) = &self.glob else {
            return false;
        };
        if self.absolute {
            return glob.matches(&segments(Path::new(path_text)));
        }
        let Some(root) = row.repository.as_deref() else {
            return false;
        };
        Path::new(path_text)
            .strip_prefix(root)
            .ok()
            .map(segments)
            .is_some_and(|rel| !rel.is_empty() && glob.matches(&rel))
    }

    fn area_matches(&self, area: &str, row: &EventRow) -> bool {
        match row.kind.as_str() {
            "read" | "write" => self.path_matches(&row.target, row),
            "execute" => {
                // A command is in the area when one of its words names a path in it.
                wildcard_match(area, &row.target)
                    || path_words(&row.target).any(|word| {
                        let base = Path::new(row.repository.as_deref().unwrap_or("/"));
                        let path = absolutize(base, word, None);
                        self.path_matches(&path.to_string_lossy(), row)
                    })
            }
            _ => wildcard_match(area, &row.target),
        }
    }

    /// A condition on the `events` table that every matching row meets (most rows it
    /// lets through match), with its parameters numbered from `$first` in order of
    /// first use. Table columns: see [`COLUMNS`].
    pub fn sql(&self, first: usize) -> (String, Vec<String>) {
        let mut sql = Sql {
            parts: Vec::new(),
            binds: Vec::new(),
            next: first,
        };
        if let Some(branches) = self.area_branches(&mut sql) {
            sql.parts.push(format!("({})", branches.join(" OR ")));
        }
        self.other_parts(&mut sql);
        let condition = if sql.parts.is_empty() {
            "1 = 1".to_string()
        } else {
            sql.parts.join(" AND ")
        };
        (condition, sql.binds)
    }

    /// The condition of [`Compiled::sql`] cut into branches whose OR it is: with an area,
    /// one per kind of touch it names (the paths of reads and writes, commands, tool
    /// names and hosts), each ANDed with the other conditions; without, one. The
    /// branches are disjoint (each names its own kinds), so a `UNION ALL` of one SELECT
    /// per branch gives each row once, and a database answers each branch with the
    /// index that fits it instead of ORing three index scans into one bitmap.
    pub fn sql_branches(&self, first: usize) -> (Vec<String>, Vec<String>) {
        let mut sql = Sql {
            parts: Vec::new(),
            binds: Vec::new(),
            next: first,
        };
        let branches = self.area_branches(&mut sql);
        self.other_parts(&mut sql);
        let rest = sql.parts.join(" AND ");
        let conditions = match branches {
            None if rest.is_empty() => vec!["1 = 1".to_string()],
            None => vec![rest],
            Some(branches) => branches
                .into_iter()
                .map(|branch| {
                    if rest.is_empty() {
                        branch
                    } else {
                        format!("{branch} AND {rest}")
                    }
                })
                .collect(),
        };
        (conditions, sql.binds)
    }

    /// The area's condition, one disjunct per kind of touch.
    fn area_branches(&self, sql: &mut Sql) -> Option<Vec<String>> {
        let area = given(&self.query.path)?;
        let like = sql.bind(glob_like(area));
        let exact = sql.bind(wildcard_like(area));
        let path_part = if self.absolute {
            format!("target LIKE {like} ESCAPE '\\'")
        } else if let Some(folder) = plain_folder(area) {
            // `src/module1%` alone also lets `src/module10/…` through.
            let under = sql.bind(format!("{}/%", like_escape(&folder)));
            let folder = sql.bind(folder);
            format!(
                "path LIKE {like} ESCAPE '\\' AND (path = {folder} OR path LIKE {under} ESCAPE '\\')"
            )
        } else {
            format!("path LIKE {like} ESCAPE '\\'")
        };
        let literal = longest_literal(area);
        let execute = if self.absolute || literal.is_empty() {
            "kind = 'execute'".to_string()
        } else {
            let mark = sql.bind(format!("%{}%", like_escape(&literal)));
            format!("(kind = 'execute' AND target LIKE {mark} ESCAPE '\\')")
        };
        Some(vec![
            format!("(kind IN ('read', 'write') AND {path_part})"),
            execute,
            format!("(kind IN ('call', 'expose') AND target LIKE {exact} ESCAPE '\\')"),
        ])
    }

    /// Every condition but the area's.
    fn other_parts(&self, sql: &mut Sql) {
        let q = self.query;
        if let Some(file) = given(&q.file) {
            if file.starts_with('/') {
                let mark = sql.bind(file.to_string());
                sql.parts.push(format!("target = {mark}"));
            } else {
                let mark = sql.bind(file.trim_start_matches("./").to_string());
                sql.parts.push(format!("path = {mark}"));
            }
        }
        if let Some(text) = given(&q.command) {
            let mark = sql.bind(format!("%{}%", like_escape(text)));
            sql.parts.push(format!("command LIKE {mark} ESCAPE '\\'"));
        }
        if let Some(tool) = given(&q.tool) {
            if tool.contains(['*', '?']) {
                let mark = sql.bind(wildcard_like(tool));
                sql.parts.push(format!("tool LIKE {mark} ESCAPE '\\'"));
            } else {
                let mark = sql.bind(tool.to_string());
                sql.parts.push(format!("tool = {mark}"));
            }
        }
        if let Some(mcp) = given(&q.mcp) {
            let mark = sql.bind(mcp.to_string());
            sql.parts.push(format!("mcp = {mark}"));
        }
        if let Some(user) = given(&q.user) {
            let mark = sql.bind(user.to_lowercase());
            sql.parts.push(format!("run_user = {mark}"));
        }
        if let Some(agent) = given(&q.agent) {
            let mark = sql.bind(agent.to_string());
            sql.parts.push(format!(
                "(agent = {mark} OR agent_type = {mark} OR agent_id = {mark})"
            ));
        }
        if let Some(repo) = given(&q.repo) {
            let mark = sql.bind(repo.to_string());
            let tail = sql.bind(format!("%/{}", like_escape(repo)));
            sql.parts.push(format!(
                "(project = {mark} OR repository = {mark} OR repository LIKE {tail} ESCAPE '\\')"
            ));
        }
        if let Some(decision) = given(&q.decision) {
            if decision == "deny" {
                sql.parts.push("decision IN ('deny', 'stop')".to_string());
            } else {
                let mark = sql.bind(decision.to_string());
                sql.parts.push(format!("decision = {mark}"));
            }
        }
        if let Some(kind) = given(&q.kind) {
            let mark = sql.bind(kind.to_string());
            sql.parts.push(format!("kind = {mark}"));
        }
        if let Some(run) = given(&q.run) {
            let mark = sql.bind(run.to_string());
            sql.parts.push(format!("run_id = {mark}"));
        }
        if let Some(since) = given(&q.since) {
            let mark = sql.bind(since.to_string());
            sql.parts.push(format!("time >= {mark}"));
        }
        if let Some(until) = &self.until {
            let mark = sql.bind(until.clone());
            sql.parts.push(format!("time < {mark}"));
        }
    }
}

struct Sql {
    parts: Vec<String>,
    binds: Vec<String>,
    next: usize,
}

impl Sql {
    fn bind(&mut self, value: String) -> String {
        self.binds.push(value);
        let mark = format!("${}", self.next);
        self.next += 1;
        mark
    }
}

/// The `events` table's columns, in the order [`row_values`] gives them and
/// [`row_from_values`] takes them. The SQL of both indexes names these.
pub const COLUMNS: &[&str] = &[
    "run_id",
    "idx",
    "n",
    "time",
    "event",
    "session_id",
    "agent_id",
    "agent_type",
    "tool_use_id",
    "tool",
    "mcp",
    "kind",
    "target",
    "path",
    "command",
    "decision",
    "outcome",
    "rules",
    "run_user",
    "agent",
    "repository",
    "project",
    "task",
    "mode",
    "refused_by",
];

/// A column's value: text, a number, or NULL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Null,
}

fn cell(value: &Option<String>) -> Cell {
    value.clone().map_or(Cell::Null, Cell::Text)
}

/// The row's values in [`COLUMNS`] order.
pub fn row_values(row: &EventRow) -> Vec<Cell> {
    vec![
        Cell::Text(row.run.clone()),
        Cell::Int(i64::try_from(row.idx).unwrap_or(i64::MAX)),
        Cell::Int(i64::try_from(row.n).unwrap_or(i64::MAX)),
        Cell::Text(row.time.clone()),
        Cell::Text(row.event.clone()),
        cell(&row.session_id),
        cell(&row.agent_id),
        cell(&row.agent_type),
        cell(&row.tool_use_id),
        Cell::Text(row.tool.clone()),
        cell(&row.mcp),
        Cell::Text(row.kind.clone()),
        Cell::Text(row.target.clone()),
        cell(&row.path),
        cell(&row.command),
        Cell::Text(row.decision.clone()),
        Cell::Text(row.outcome.clone()),
        Cell::Text(row.rules.join(",")),
        cell(&row.user),
        cell(&row.agent),
        cell(&row.repository),
        cell(&row.project),
        cell(&row.task),
        cell(&row.mode),
        cell(&row.refused_by),
    ]
}

/// A row back from its values in [`COLUMNS`] order; `None` if they do not fit.
pub fn row_from_values(values: Vec<Cell>) -> Option<EventRow> {
    let mut it = values.into_iter();
    let mut next = || it.next();
    let text = |c: Option<Cell>| match c {
        Some(Cell::Text(t)) => Some(t),
        _ => None,
    };
    let int = |c: Option<Cell>| match c {
        Some(Cell::Int(i)) => u64::try_from(i).ok(),
        _ => None,
    };
    Some(EventRow {
        run: text(next())?,
        idx: int(next())?,
        n: int(next())?,
        time: text(next())?,
        event: text(next())?,
        session_id: text(next()),
        agent_id: text(next()),
        agent_type: text(next()),
        tool_use_id: text(next()),
        tool: text(next())?,
        mcp: text(next()),
        kind: text(next())?,
        target: text(next())?,
        path: text(next()),
        command: text(next()),
        decision: text(next())?,
        outcome: text(next())?,
        rules: text(next())
            .map(|r| {
                r.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        user: text(next()),
        agent: text(next()),
        repository: text(next()),
        project: text(next()),
        task: text(next()),
        mode: text(next()),
        refused_by: text(next()),
    })
}

/// The order every answer is given in: newest first, then by run and position.
pub const ORDER_BY: &str = "time DESC, run_id DESC, idx DESC, n DESC";

/// Sort rows as [`ORDER_BY`] does.
pub fn sort_rows(rows: &mut [EventRow]) {
    rows.sort_by(|a, b| {
        b.time
            .cmp(&a.time)
            .then_with(|| b.run.cmp(&a.run))
            .then_with(|| b.idx.cmp(&a.idx))
            .then_with(|| b.n.cmp(&a.n))
    });
}

/// The CSV header of an export.
pub const CSV_HEADER: &str = "time,run,repository,project,user,agent,agent_id,session_id,tool,mcp,kind,target,command,decision,outcome,rules,tool_use_id,idx";

fn csv_field(out: &mut String, value: &str) {
    // A leading =, +, - or @ would be a formula to a spreadsheet: quote it behind a '.
    let risky = value.starts_with(['=', '+', '-', '@']);
    if risky || value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        if risky {
            out.push('\'');
        }
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// The rows as CSV (RFC 4180), with [`CSV_HEADER`].
pub fn to_csv(rows: &[EventRow]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for row in rows {
        csv_row(&mut out, row);
    }
    out
}

/// One row of [`to_csv`], with its line end: a streamed export writes them one by one.
pub fn csv_row(out: &mut String, row: &EventRow) {
    let fields: [&str; 17] = [
        &row.time,
        &row.run,
        row.repository.as_deref().unwrap_or(""),
        row.project.as_deref().unwrap_or(""),
        row.user.as_deref().unwrap_or(""),
        row.agent.as_deref().unwrap_or(""),
        row.agent_id.as_deref().unwrap_or(""),
        row.session_id.as_deref().unwrap_or(""),
        &row.tool,
        row.mcp.as_deref().unwrap_or(""),
        &row.kind,
        row.shown_target(),
        row.command.as_deref().unwrap_or(""),
        &row.decision,
        &row.outcome,
        &row.rules.join(" "),
        row.tool_use_id.as_deref().unwrap_or(""),
    ];
    for field in fields {
        csv_field(out, field);
        out.push(',');
    }
    out.push_str(&row.idx.to_string());
    out.push_str("\r\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
