//! What only this machine can check for readiness (its hooks, managed settings, sandbox,
//! other agents), kept per workspace until the team server has it.
//!
//! `mandate readiness`, `mandate start` and `mandate push` compute the checks (the CLI
//! owns them) and [`keep`] them in `<records.dir>/workspaces/<key>/machine-checks.json`
//! with when they were made; every push, the hook's background one too, [`send`]s the
//! newest of each workspace once (`POST /api/v1/machines/checks`, as the token's user).
//! Only the newest report per workspace is kept, so a server that is away for a week
//! receives one report, not a queue of them.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::remote::Server;
use crate::{Project, ProjectError};

pub const FILE: &str = "machine-checks.json";
const PATH: &str = "/api/v1/machines/checks";

/// A report and the servers that have it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Kept {
    body: Value,
    #[serde(default)]
    sent_to: Vec<String>,
}

/// Keep the checks just made in `project`'s workspace for the next sync. Without
/// `records.server` or a `records.project`, nothing (the server could not place them).
pub fn keep(project: &Project, checks: Vec<Value>) -> Result<(), ProjectError> {
    let (Some(_), Some(name)) = (
        crate::remote::server_url(project),
        project.policy.records.project.as_deref(),
    ) else {
        return Ok(());
    };
    let records = project.records_dir();
    let kept = Kept {
        body: json!({
            "machine": crate::remote::machine_name(&records),
            "project": name,
            "workspace": project.root.display().to_string(),
            "checked_at": crate::recorder::now_rfc3339(),
            "checks": checks,
        }),
        sent_to: Vec::new(),
    };
    let dir = project.workspace_dir();
    crate::state::create_private_dir(&dir)?;
    let bytes =
        serde_json::to_vec_pretty(&kept).map_err(|e| ProjectError::Invalid(e.to_string()))?;
    crate::state::write_atomic(&dir.join(FILE), &bytes)
}

/// Send every workspace's newest report the server does not have yet. Returns the
/// refusals that waiting will not change (a token the server does not know, a project
/// the token does not cover); an unreachable or older server is tried again next push.
pub fn send(server: &Server, records_dir: &Path) -> Vec<String> {
    let mut refusals = Vec::new();
    let Ok(entries) = std::fs::read_dir(records_dir.join("workspaces")) else {
        return refusals;
    };
    for entry in entries.flatten() {
        let path = entry.path().join(FILE);
        let Some(mut kept) = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Kept>(&bytes).ok())
        else {
            continue;
        };
        if kept.sent_to.contains(&server.url) {
            continue;
        }
        let Ok(response) = server.request(
            "POST",
            PATH,
            Some(&kept.body),
            std::time::Duration::from_secs(10),
        ) else {
            continue;
        };
        match response.status {
            200..=299 => {}
            // Said once: this report is not sent again; the next checks are.
            401 | 403 | 400 => refusals.push(crate::outbox::refusal(
                server,
                "this machine's readiness checks",
                response.status,
                &response,
            )),
            // An older server without the endpoint, or one that is busy: next push.
            _ => continue,
        }
        kept.sent_to.push(server.url.clone());
        if let Ok(bytes) = serde_json::to_vec_pretty(&kept) {
            let _ = crate::state::write_atomic(&path, &bytes);
        }
    }
    refusals
}
