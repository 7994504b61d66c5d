//! The readiness checks only a machine can make (its hooks, managed settings, sandbox,
//! other agents), as each machine reports them to the team server when it syncs, and
//! the one check per question the server answers over all of them.
//!
//! `mandate readiness` on a machine computes these checks from that machine's files;
//! the machine sends them (with when it checked) at its next sync, and the server keeps
//! the newest report per user, machine and workspace. [`over_machines`] turns the
//! reports into the checks of the organisation's readiness: which machines, how fresh,
//! and the worst of their answers. A machine that never reported leaves the check "not
//! checked", with how to fix that.

use serde::{Deserialize, Serialize};

use crate::metrics::parse_time_ms;
use crate::readiness::{Check, Status};

/// The checks a machine reports: id and the question each answers, as `mandate
/// readiness` names them. The first three are asked of every machine; an agent's check
/// only of machines that set that agent up.
pub const MACHINE_CHECKS: [(&str, &str); 8] = [
    (
        "hooks",
        "hooks installed with onFailure: block for all events",
    ),
    (
        "managed_settings",
        "managed settings in place (users cannot remove the hooks)",
    ),
    (
        "sandbox",
        "OS sandbox enabled, fail-closed, matching the active contract",
    ),
    (
        "agent_codex",
        "Codex CLI: hooks run this mandate, backstops in place",
    ),
    (
        "agent_gemini",
        "Gemini CLI: hooks run this mandate, backstops in place",
    ),
    (
        "agent_copilot",
        "Copilot CLI: hooks run this mandate, backstops in place",
    ),
    (
        "agent_cursor",
        "Cursor: hooks run this mandate with failClosed",
    ),
    (
        "agents_not_installed",
        "other agents not installed for this repository",
    ),
];

/// How many of [`MACHINE_CHECKS`] every machine is asked (the rest only when reported).
const ALWAYS: usize = 3;

/// A report older than this no longer says how the machine is set up now.
pub const FRESH_FOR_DAYS: i64 = 7;

/// One check as a machine reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedCheck {
    pub id: String,
    pub status: Status,
    pub detail: String,
}

/// One machine's newest report, as the server keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineReport {
    /// The reporting token's user.
    pub user: String,
    /// `host:records dir`, as the machine names itself.
    pub machine: String,
    /// The repository checkout the checks were made in.
    pub workspace: String,
    /// When the machine made the checks (RFC 3339, UTC).
    pub checked_at: String,
    /// When the server received them.
    pub received_at: String,
    pub checks: Vec<ReportedCheck>,
}

impl MachineReport {
    fn fresh(&self, now_ms: i64) -> bool {
        parse_time_ms(&self.checked_at)
            .is_some_and(|at| now_ms - at <= FRESH_FOR_DAYS * 24 * 3600 * 1000)
    }

    fn name(&self) -> String {
        format!("{} on {} ({})", self.user, self.machine, self.workspace)
    }
}

/// The question a known machine check answers; `None` for an id no machine reports.
pub fn title(id: &str) -> Option<&'static str> {
    MACHINE_CHECKS
        .iter()
        .find(|(known, _)| *known == id)
        .map(|(_, title)| *title)
}

/// The organisation's answer to each machine check, over every machine's newest report:
/// FAIL when a fresh report fails; not checked when no machine reported, when a report
/// is older than [`FRESH_FOR_DAYS`] or when a user who pushed runs has no machine that
/// reported (`silent`); pass only when every machine reported it passing. `now` is the
/// server's clock (RFC 3339).
pub fn over_machines(reports: &[MachineReport], silent: &[String], now: &str) -> Vec<Check> {
    let now_ms = parse_time_ms(now).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    for (n, (id, question)) in MACHINE_CHECKS.iter().enumerate() {
        let answers: Vec<(&MachineReport, &ReportedCheck)> = reports
            .iter()
            .filter_map(|r| r.checks.iter().find(|c| c.id == *id).map(|c| (r, c)))
            .collect();
        if answers.is_empty() && n >= ALWAYS {
            continue;
        }
        let source = "each machine's own `mandate readiness` checks, sent at its sync \
                      (POST /api/v1/machines/checks)"
            .to_string();
        if answers.is_empty() {
            out.push(Check {
                id,
                check: question,
                status: Status::NotChecked,
                detail: format!(
                    "no machine has reported this yet{}. Fix: on each developer machine, run \
                     `mandate push` (or `mandate start` / `mandate readiness`) with this version \
                     of mandate: it sends what only the machine can check",
                    silent_line(silent)
                ),
                source,
            });
            continue;
        }
        let mut worst = Status::Pass;
        let mut lines = Vec::new();
        for (report, check) in &answers {
            let fresh = report.fresh(now_ms);
            let status = if fresh {
                check.status
            } else {
                Status::NotChecked
            };
            worst = worse(worst, status);
            lines.push(format!(
                "{}: {}{} (checked {}{}): {}",
                report.name(),
                check.status.as_str(),
                if fresh { "" } else { ", stale" },
                report.checked_at,
                if fresh {
                    String::new()
                } else {
                    format!("; older than {FRESH_FOR_DAYS} days, run `mandate push` there")
                },
                check.detail
            ));
        }
        if !silent.is_empty() {
            worst = worse(worst, Status::NotChecked);
        }
        out.push(Check {
            id,
            check: question,
            status: worst,
            detail: format!(
                "{} machine(s) reported: {}{}",
                answers.len(),
                lines.join("; "),
                silent_line(silent)
            ),
            source,
        });
    }
    out
}

/// Fail over not checked over pass.
fn worse(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Pass => 0,
        Status::NotChecked => 1,
        Status::Fail => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn silent_line(silent: &[String]) -> String {
    if silent.is_empty() {
        String::new()
    } else {
        format!(
            "; never reported by a machine of {} (they pushed runs of this project: run \
             `mandate push` on their machines with this version of mandate)",
            silent.join(", ")
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn report(user: &str, at: &str, hooks: Status) -> MachineReport {
        MachineReport {
            user: user.into(),
            machine: format!("{user}-laptop:/records"),
            workspace: "/repo".into(),
            checked_at: at.into(),
            received_at: at.into(),
            checks: vec![ReportedCheck {
                id: "hooks".into(),
                status: hooks,
                detail: "why".into(),
            }],
        }
    }

    fn hooks(checks: &[Check]) -> &Check {
        checks.iter().find(|c| c.id == "hooks").unwrap()
    }

    #[test]
    fn the_worst_fresh_answer_wins_and_nobody_is_not_checked() {
        let now = "2026-12-08T03:00:00Z";
        let none = over_machines(&[], &[], now);
        assert_eq!(none.len(), ALWAYS);
        assert!(none.iter().all(|c| c.status == Status::NotChecked));
        assert!(hooks(&none).detail.contains("mandate push"));
        let a = report("a@x", "2026-12-08T02:00:00Z", Status::Pass);
        let b = report("b@x", "2026-12-08T02:30:00Z", Status::Fail);
        assert_eq!(
            hooks(&over_machines(std::slice::from_ref(&a), &[], now)).status,
            Status::Pass
        );
        let both = over_machines(&[a.clone(), b], &[], now);
        assert_eq!(hooks(&both).status, Status::Fail);
        assert!(hooks(&both).detail.contains("b@x on b@x-laptop"));
        // Stale, or someone whose machine never said: not a pass.
        let old = report("a@x", "2026-11-01T00:00:00Z", Status::Pass);
        let stale = over_machines(&[old], &[], now);
        assert_eq!(hooks(&stale).status, Status::NotChecked);
        assert!(hooks(&stale).detail.contains("stale"));
        let quiet = over_machines(&[a], &["c@x".into()], now);
        assert_eq!(hooks(&quiet).status, Status::NotChecked);
        assert!(
            hooks(&quiet)
                .detail
                .contains("never reported by a machine of c@x")
        );
        // Not reported by anyone: only the three every machine answers.
        assert!(
            over_machines(&[], &[], now)
                .iter()
                .all(|c| title(c.id).is_some())
        );
    }
}
