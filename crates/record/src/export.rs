//! What a run-record entry is, said once for the tools a security team already runs: the
//! run it belongs to ([`RunContext`]), a one-line summary for people, how serious it is,
//! and its time as numbers. [`crate::ocsf`] and [`crate::otel`] build their records from
//! these, so an OCSF line and an OpenTelemetry log record of one entry say the same thing.
//!
//! Both exports are computed here, in a crate without I/O or network code, so that the
//! command line (`mandate record export`) and the team server (`mandate serve --export`)
//! give the same records: the CLI writes them, the server sends them.

use serde_json::Value;

/// The run an entry belongs to: what each exported record repeats so that it stands on
/// its own in a SIEM (the entries of a run name their run only once, in `run.start`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunContext {
    pub run_id: String,
    /// The delegating user (`run.start`'s `user`, or the server's `delegated_by`).
    pub user: Option<String>,
    /// The agent identity the run acts as (the contract's `agent`).
    pub agent: Option<String>,
    /// The task contract's id.
    pub task: Option<String>,
    /// `enforce`, `shadow` or `record`.
    pub mode: Option<String>,
    /// The repository root on the delegating machine.
    pub workspace: Option<String>,
    /// The project named in the repository's policy (known to the team server).
    pub project: Option<String>,
}

impl RunContext {
    /// A context with the run id only; [`RunContext::learn`] fills in the rest.
    pub fn new(run_id: &str) -> Self {
        Self {
            run_id: run_id.to_owned(),
            ..Self::default()
        }
    }

    /// Take what `run.start` says about the run (other entries change nothing).
    pub fn learn(&mut self, event: &Value) {
        if kind(event) != "run.start" {
            return;
        }
        let text = |pointer: &str| {
            event
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        self.user = text("/user")
            .or(text("/contract/delegated_by"))
            .or(self.user.take());
        self.agent = text("/contract/agent").or(self.agent.take());
        self.task = text("/contract/id").or(self.task.take());
        self.mode = text("/mode").or(self.mode.take());
        self.workspace = text("/workspace").or(self.workspace.take());
    }
}

/// An entry's `type`, or "" when absent.
pub fn kind(event: &Value) -> &str {
    event.get("type").and_then(Value::as_str).unwrap_or("")
}

fn text<'a>(event: &'a Value, key: &str) -> &'a str {
    event.get(key).and_then(Value::as_str).unwrap_or("")
}

/// How serious an entry is, on the scale both formats share (OCSF `severity_id`; the
/// OpenTelemetry severity number is derived from it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Ordinary activity.
    Informational,
    /// A call that failed, a call held for approval, a shadow-mode "would deny".
    Low,
    /// A refused call, a kill-switch change, a broken stop gate.
    Medium,
    /// A run halted (a stop decision or condition), a torn record recovered.
    High,
}

impl Severity {
    /// OCSF `severity_id`.
    pub fn ocsf_id(self) -> u8 {
        match self {
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
        }
    }

    /// OCSF `severity`.
    pub fn ocsf_caption(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
        }
    }

    /// OpenTelemetry `SeverityNumber` and its short name (INFO 9, WARN 13, ERROR 17).
    pub fn otel(self) -> (i32, &'static str) {
        match self {
            Severity::Informational => (9, "INFO"),
            Severity::Low => (10, "INFO2"),
            Severity::Medium => (13, "WARN"),
            Severity::High => (17, "ERROR"),
        }
    }
}

/// The decision of a `tool.pre`, and whether it held (shadow and record modes record
/// a deny that did not stop the call).
pub fn decision(event: &Value) -> (&str, bool) {
    let decision = text(event, "decision");
    let enforced = event
        .get("enforced")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    (decision, enforced)
}

/// How serious `event` is.
pub fn severity(event: &Value) -> Severity {
    match kind(event) {
        "tool.pre" | "tool.permission_request" => match decision(event) {
            ("allow", _) | ("", _) => Severity::Informational,
            ("ask", _) => Severity::Low,
            (_, false) => Severity::Low,
            ("stop", true) => Severity::High,
            (_, true) => Severity::Medium,
        },
        "tool.failure" | "approval.held" | "approval.request" => Severity::Low,
        "killswitch" | "approval.denied" => Severity::Medium,
        "stop.gate" if event.get("blocked") == Some(&Value::Bool(true)) => Severity::Medium,
        "run.stopped" | "record.recovery" => Severity::High,
        "review" if text(event, "decision") == "reject" => Severity::Medium,
        _ => Severity::Informational,
    }
}

/// The shell command or path a tool call is about, for the summary line.
fn call_target(event: &Value) -> String {
    let input = event.get("input");
    let field = |key: &str| {
        input
            .and_then(|i| i.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let target = [
        field("command"),
        field("file_path"),
        field("path"),
        field("url"),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or("");
    let first_line = target.lines().next().unwrap_or("");
    let short: String = first_line.chars().take(200).collect();
    if short.len() < target.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// One line for a person reading a SIEM or a log viewer: what happened, in the words of
/// `mandate record show`.
pub fn summary(ctx: &RunContext, event: &Value) -> String {
    let tool = text(event, "tool");
    let target = call_target(event);
    let call = if target.is_empty() {
        tool.to_owned()
    } else {
        format!("{tool} `{target}`")
    };
    let reason = match text(event, "reason") {
        "" => String::new(),
        r => format!(": {}", r.lines().next().unwrap_or("")),
    };
    let run = &ctx.run_id;
    match kind(event) {
        "record.create" => format!("run {run}: record created"),
        "record.recovery" => format!(
            "run {run}: a cut-off append was removed from the record ({})",
            text(event, "reason")
        ),
        "run.start" => format!(
            "run {run} started by {} under contract {} ({} mode)",
            ctx.user.as_deref().unwrap_or("an unknown user"),
            ctx.task.as_deref().unwrap_or("?"),
            ctx.mode.as_deref().unwrap_or("enforce"),
        ),
        "tool.pre" => match decision(event) {
            ("allow", _) => format!("allowed {call}"),
            ("ask", _) => format!("held {call} for approval{reason}"),
            (d, false) => format!("would {d} {call} (not enforced){reason}"),
            (d, true) => format!("{d} {call}{reason}"),
        },
        "tool.permission_request" => {
            format!("permission request for {call}: {}", text(event, "decision"))
        }
        "tool.post" => format!("ran {call}"),
        "tool.failure" => format!("{call} failed"),
        "run.stopped" => format!("run {run} stopped{reason}"),
        "run.finish" => {
            if event.get("complete") == Some(&Value::Bool(true)) {
                format!("run {run} finished")
            } else {
                format!("run {run} finished incomplete")
            }
        }
        "review" => format!(
            "review of run {run} by {}: {}",
            text(event, "reviewer"),
            text(event, "decision")
        ),
        "approval.request" => {
            let reviewers: Vec<&str> = event
                .get("reviewers")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let who = if reviewers.is_empty() {
                text(event, "group").to_owned()
            } else {
                reviewers.join(", ")
            };
            format!(
                "approval {} requested for {call}; waiting for {who}",
                text(event, "id")
            )
        }
        kind @ ("approval.granted" | "approval.denied") => format!(
            "approval {} {} by {}",
            text(event, "id"),
            kind.trim_start_matches("approval."),
            text(event, "by")
        ),
        "approval.used" => format!("approval {} let {call} run", text(event, "id")),
        "approval.held" => format!("{call} held: approval {}", text(event, "id")),
        "killswitch" => format!(
            "kill switch: {} {} by {}{reason}",
            text(event, "action"),
            text(event, "target"),
            text(event, "by")
        ),
        "prompt" => "prompt submitted".to_owned(),
        other => format!("{other} in run {run}"),
    }
}

/// Milliseconds and the sub-millisecond rest (in nanoseconds) since 1970 of an RFC 3339
/// UTC time as the recorder writes it (`2026-01-31T12:00:00.123456Z`); `None` when it is
/// not one.
pub fn unix_nanos(time: &str) -> Option<u64> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = time.get(range)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let rest = time.get(19..)?;
    let (fraction, zone) = match rest.strip_prefix('.') {
        Some(after) => {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            (after.get(..digits)?, after.get(digits..)?)
        }
        None => ("", rest),
    };
    if zone != "Z" && zone != "+00:00" {
        return None;
    }
    let nanos_of_second: i64 = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect::<String>()
        .parse()
        .ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second;
    u64::try_from(
        seconds
            .checked_mul(1_000_000_000)?
            .checked_add(nanos_of_second)?,
    )
    .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_as_the_recorder_writes_them() {
        assert_eq!(unix_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            unix_nanos("2024-02-29T12:34:56.123456Z"),
            Some(1_709_210_096_123_456_000)
        );
        assert_eq!(
            unix_nanos("2024-02-29T12:34:56.123Z"),
            Some(1_709_210_096_123_000_000)
        );
        assert_eq!(unix_nanos("2024-02-29 12:34:56"), None);
        assert_eq!(unix_nanos("2024-02-29T12:34:56+02:00"), None);
        assert_eq!(unix_nanos(""), None);
    }

    #[test]
    fn the_start_names_the_run() {
        let mut ctx = RunContext::new("r1");
        ctx.learn(&json!({"type": "tool.pre", "user": "mallory"}));
        assert_eq!(ctx.user, None);
        ctx.learn(
            &json!({"type": "run.start", "user": "alice@example.com", "mode": "shadow",
            "contract": {"id": "BILL-1", "agent": "claude-code"}}),
        );
        assert_eq!(ctx.user.as_deref(), Some("alice@example.com"));
        assert_eq!(ctx.task.as_deref(), Some("BILL-1"));
        assert_eq!(ctx.agent.as_deref(), Some("claude-code"));
        assert_eq!(ctx.mode.as_deref(), Some("shadow"));
    }

    #[test]
    fn a_shadow_deny_is_not_a_refusal() {
        let shadow = json!({"type": "tool.pre", "decision": "deny", "enforced": false,
            "tool": "Bash", "input": {"command": "rm -rf /"}});
        assert_eq!(severity(&shadow), Severity::Low);
        let ctx = RunContext::new("r1");
        assert_eq!(
            summary(&ctx, &shadow),
            "would deny Bash `rm -rf /` (not enforced)"
        );
        let stop = json!({"type": "tool.pre", "decision": "stop", "enforced": true});
        assert_eq!(severity(&stop), Severity::High);
    }
}
