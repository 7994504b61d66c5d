//! Metrics and readiness over every machine's pushed records: the same computation as
//! `mandate metrics` and `mandate readiness` (`mandate_report`), fed from the database.
//!
//! Each run's share of the metrics ([`RunFigures`]) is kept in `run_figures` with the
//! number of entries it covers, and the run's verification beside it; a run that has not
//! grown since is not read again, so a report reads one row per run, not every event.
//! Only a run that a `since` cuts through is read in full for that report.
//!
//! Readiness of a project takes its policy from the newest run whose `run.start` carries
//! the policy's text, its contracts from the newest run started with each contract file,
//! its MCP servers from each delegator's newest run, and the kill-switch log kept here.
//! What only a machine can check (its hooks, sandbox, agents) comes from each machine's
//! newest report ([`crate::api::machine_reports`]), combined by `mandate_report::machines`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mandate_report::metrics::{self, Metrics, RunFigures, RunRecord};
use mandate_report::readiness::{self, Inputs, Readiness};
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::{Db, ServerError};

/// A run's stored events, parsed.
pub(crate) async fn events(db: &Db, run_id: &str) -> Result<Vec<Value>, ServerError> {
    let rows = sqlx::query("SELECT body FROM entries WHERE run_id = $1 ORDER BY idx")
        .bind(run_id)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|row| {
            let body: String = row.try_get(0)?;
            serde_json::from_str(&body).map_err(|error| {
                ServerError::Internal(format!("a stored entry of `{run_id}` is not JSON: {error}"))
            })
        })
        .collect()
}

/// A run's share of the metrics and its verification, as kept.
#[derive(Clone, Debug)]
pub struct Kept {
    pub figures: RunFigures,
    pub verified: bool,
    pub verify_detail: String,
}

/// Compute and keep the share of `run_id` over all its events.
async fn refresh(db: &Db, run_id: &str) -> Result<Kept, ServerError> {
    let events = events(db, run_id).await?;
    let covered = events.len() as i64;
    let figures = metrics::figures(
        &RunRecord {
            id: run_id.to_string(),
            events,
        },
        None,
    );
    let report = crate::ingest::verify_stored(db, run_id).await?;
    let text = serde_json::to_string(&figures)
        .map_err(|error| ServerError::Internal(error.to_string()))?;
    sqlx::query(
        "INSERT INTO run_figures (run_id, entries, figures, verified, verify_detail) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id) DO UPDATE SET \
         entries = excluded.entries, figures = excluded.figures, \
         verified = excluded.verified, verify_detail = excluded.verify_detail",
    )
    .bind(run_id)
    .bind(covered)
    .bind(&text)
    .bind(i64::from(report.ok))
    .bind(report.to_string())
    .execute(&db.pool)
    .await?;
    Ok(Kept {
        figures,
        verified: report.ok,
        verify_detail: report.to_string(),
    })
}

/// Every run's share (of `project`, or of all projects), oldest first by start as the
/// CLI lists them; runs that grew since their share was kept are read again.
pub async fn all_figures(db: &Db, project: Option<&str>) -> Result<Vec<Kept>, ServerError> {
    let rows = sqlx::query(
        "SELECT r.run_id, r.entries, f.entries, f.figures, f.verified, f.verify_detail \
         FROM runs r LEFT JOIN run_figures f ON f.run_id = r.run_id \
         WHERE ($1 = '' OR r.project = $1)",
    )
    .bind(project.unwrap_or(""))
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let run_id: String = row.try_get(0)?;
        let entries: i64 = row.try_get(1)?;
        let kept_for: Option<i64> = row.try_get(2)?;
        let kept = if kept_for == Some(entries) {
            let text: String = row.try_get(3)?;
            match serde_json::from_str::<RunFigures>(&text) {
                Ok(figures) => Some(Kept {
                    figures,
                    verified: row.try_get::<i64, _>(4)? != 0,
                    verify_detail: row.try_get(5)?,
                }),
                // Kept by another version of the server: compute it again.
                Err(_) => None,
            }
        } else {
            None
        };
        out.push(match kept {
            Some(kept) => kept,
            None => refresh(db, &run_id).await?,
        });
    }
    out.sort_by(|a, b| {
        (a.figures.started.as_str(), a.figures.run.as_str())
            .cmp(&(b.figures.started.as_str(), b.figures.run.as_str()))
    });
    Ok(out)
}

/// The kill-switch log kept here, as events of type `killswitch` (as the CLI reads its
/// `killswitch.jsonl`).
pub async fn kill_log(db: &Db) -> Result<Vec<Value>, ServerError> {
    let rows = sqlx::query("SELECT time, action, target FROM killswitch_log ORDER BY time")
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(json!({
                "type": "killswitch",
                "time": row.try_get::<String, _>(0)?,
                "action": row.try_get::<String, _>(1)?,
                "target": row.try_get::<String, _>(2)?,
            }))
        })
        .collect()
}

/// The metrics over the runs of `project` (all with `None`), from `since` on.
pub async fn metrics(
    db: &Db,
    project: Option<&str>,
    since: Option<&str>,
) -> Result<Metrics, ServerError> {
    let kept = all_figures(db, project).await?;
    let mut shares = Vec::with_capacity(kept.len());
    let mut repositories = BTreeSet::new();
    for run in kept {
        // As `mandate metrics --all-repos`: every repository in scope, counted or not.
        repositories.extend(run.figures.workspace.clone());
        match run.figures.covers(since) {
            None => continue,
            Some(true) => {}
            Some(false) => {
                let events = events(db, &run.figures.run).await?;
                let share = metrics::figures(
                    &RunRecord {
                        id: run.figures.run.clone(),
                        events,
                    },
                    since,
                );
                shares.push(share);
                continue;
            }
        }
        shares.push(run.figures);
    }
    let mut m = metrics::combine(&shares, &kill_log(db).await?, since);
    m.repositories = repositories.into_iter().collect();
    Ok(m)
}

/// The `run.start` entry of a run.
async fn start_of(db: &Db, run_id: &str) -> Result<Option<Value>, ServerError> {
    let row = sqlx::query(
        "SELECT body FROM entries WHERE run_id = $1 AND kind = 'run.start' ORDER BY idx LIMIT 1",
    )
    .bind(run_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        Some(row) => serde_json::from_str(&row.try_get::<String, _>(0)?).ok(),
        None => None,
    })
}

/// Why readiness of a project cannot be answered here yet.
pub const NO_POLICY: &str = "no run of this project carries its policy yet: runs started with \
    this version of `mandate start` record it, and their first push brings it here";

/// The projects runs were pushed to.
pub async fn projects(db: &Db) -> Result<Vec<String>, ServerError> {
    let rows =
        sqlx::query("SELECT DISTINCT project FROM runs WHERE project IS NOT NULL ORDER BY project")
            .fetch_all(&db.pool)
            .await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?)
}

/// Readiness of `project` over every machine's pushed records, or why it cannot be
/// answered yet.
pub async fn readiness(db: &Db, project: &str) -> Result<Result<Readiness, String>, ServerError> {
    let kept = all_figures(db, Some(project)).await?;
    let Some(newest) = kept.iter().rev().find(|k| k.figures.has_policy) else {
        return Ok(Err(NO_POLICY.to_string()));
    };
    let Some(start) = start_of(db, &newest.figures.run).await? else {
        return Ok(Err(NO_POLICY.to_string()));
    };
    let text = |key: &str| start.get(key).and_then(Value::as_str).map(str::to_string);
    let workspace = text("workspace").unwrap_or_default();
    let root = Path::new(&workspace);
    let policy = match text("policy_text") {
        Some(policy) => match mandate_policy::parse_policy(&root.join("mandate.toml"), &policy) {
            Ok(policy) => policy,
            Err(error) => {
                return Ok(Err(format!(
                    "the policy run `{}` started under does not load here: {error}",
                    newest.figures.run
                )));
            }
        },
        None => return Ok(Err(NO_POLICY.to_string())),
    };
    let org = match text("org_policy_text") {
        Some(org) => mandate_policy::parse_policy(Path::new("/etc/mandate/policy.toml"), &org).ok(),
        None => None,
    };
    // The newest run of each contract file, by file name (as `.mandate/contracts` lists
    // them), and each delegator's newest run's MCP servers.
    let mut newest_of: BTreeMap<String, String> = BTreeMap::new();
    for run in &kept {
        if let Some(file) = &run.figures.contract_file {
            let name = Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| file.clone());
            newest_of.insert(name, run.figures.run.clone());
        }
    }
    let mut contracts = Vec::new();
    let mut contract_problems = Vec::new();
    for (name, run) in &newest_of {
        let Some(start) = start_of(db, run).await? else {
            continue;
        };
        let Some(text) = start.get("contract_text").and_then(Value::as_str) else {
            continue;
        };
        let path = root.join(".mandate/contracts").join(name);
        let parsed = mandate_policy::parse_contract(&path, text).map_err(|e| e.to_string());
        if let Err(error) = &parsed {
            contract_problems.push(format!("{name}: {error}"));
        }
        contracts.push((name.clone(), parsed));
    }
    let owners: Vec<(String, String)> = {
        let rows = sqlx::query("SELECT run_id, owner FROM runs WHERE project = $1")
            .bind(project)
            .fetch_all(&db.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?
    };
    let owner_of: BTreeMap<&str, &str> = owners
        .iter()
        .map(|(run, owner)| (run.as_str(), owner.as_str()))
        .collect();
    let mut newest_mcp: BTreeMap<&str, &Vec<String>> = BTreeMap::new();
    for run in &kept {
        if let Some(owner) = owner_of.get(run.figures.run.as_str()) {
            newest_mcp.insert(owner, &run.figures.mcp_configured);
        }
    }
    let mut mcp_configured: Vec<String> = Vec::new();
    for servers in newest_mcp.values() {
        for server in *servers {
            if !mcp_configured.contains(server) {
                mcp_configured.push(server.clone());
            }
        }
    }
    let verified = kept
        .iter()
        .map(|k| (k.figures.run.clone(), k.verified, k.verify_detail.clone()))
        .collect();
    // What only the machines can check, as each reported it at its sync; the users who
    // pushed runs here with no machine that reported are named.
    let machines = crate::api::machine_reports(db, project).await?;
    let silent: Vec<String> = owners
        .iter()
        .map(|(_, owner)| owner.clone())
        .filter(|owner| !machines.iter().any(|m| &m.user == owner))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let inputs = Inputs {
        policy,
        org,
        contracts,
        contract_problems,
        runs: kept.into_iter().map(|k| k.figures).collect(),
        kill_log: kill_log(db).await?,
        mcp_configured,
        verified: Some(verified),
        unrecorded: Vec::new(),
        machine_checks: mandate_report::machines::over_machines(&machines, &silent, &crate::now()),
        machines,
    };
    Ok(Ok(readiness::assess(&inputs)))
}
