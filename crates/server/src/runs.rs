//! The runs list: filters (user, task, status, project, agent, mode, decision, review,
//! time window), sorting and paging, as one SQL query over `runs` that the page and the
//! API share. Only text is bound; the sort column and the page are chosen from fixed
//! lists and numbers, never spliced from the request.

use sqlx::Row as _;

use crate::api::{RUN_COLUMNS, RunFilter, RunSummary, run_summary};
use crate::team::{self, Visibility};
use crate::{Caller, Db, ServerError};

/// One page of runs, and how many match in all.
#[derive(Clone, Debug)]
pub struct RunsPage {
    pub runs: Vec<RunSummary>,
    pub total: i64,
    pub page: u64,
    pub per_page: u64,
}

impl RunsPage {
    pub fn pages(&self) -> u64 {
        let total = u64::try_from(self.total).unwrap_or(0);
        total.div_ceil(self.per_page.max(1)).max(1)
    }
}

/// The sort keys, as the page and the API name them, and their SQL.
pub const SORTS: &[(&str, &str)] = &[
    ("last", "COALESCE(last_at, started_at, received_at)"),
    ("started", "COALESCE(started_at, received_at)"),
    ("task", "task_id"),
    ("user", "COALESCE(delegated_by, owner)"),
    ("status", "status"),
    ("calls", "calls"),
    ("denials", "denials"),
    ("entries", "entries"),
];

fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A `since`/`until` value as the text record times compare against: a day becomes its
/// first (since) or last (until) instant.
fn bound(value: &str, end: bool) -> Result<String, ServerError> {
    let day = value.get(..10).unwrap_or("");
    if mandate_report::metrics::parse_time_ms(&format!("{day}T00:00:00Z")).is_none() {
        return Err(ServerError::BadRequest(format!(
            "`{value}` is not a date: write it as YYYY-MM-DD (UTC) or an RFC 3339 time"
        )));
    }
    Ok(if value.len() == 10 && end {
        format!("{value}T23:59:59.999999999Z")
    } else {
        value.to_string()
    })
}

/// Bind `value` as the next parameter; its placeholder.
fn bind(value: String, binds: &mut Vec<String>) -> String {
    binds.push(value);
    format!("${}", binds.len())
}

/// The runs `who` reads that `filter` asks for, one page.
pub async fn list(db: &Db, who: &Caller, filter: &RunFilter) -> Result<RunsPage, ServerError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    if let Some(user) = text(&filter.user) {
        let mark = bind(user.to_lowercase(), &mut binds);
        conditions.push(format!("(owner = {mark} OR delegated_by = {mark})"));
    }
    if let Some(status) = text(&filter.status) {
        let mark = bind(status.to_string(), &mut binds);
        conditions.push(format!("status = {mark}"));
    }
    if let Some(task) = text(&filter.task) {
        let mark = bind(format!("%{task}%"), &mut binds);
        conditions.push(format!("(task_id LIKE {mark} OR run_id LIKE {mark})"));
    }
    if text(&filter.denied).is_some() {
        conditions.push("denials > 0".to_string());
    }
    for (value, column) in [
        (&filter.project, "project"),
        (&filter.agent, "agent"),
        (&filter.mode, "mode"),
    ] {
        if let Some(value) = text(value) {
            let mark = bind(value.to_string(), &mut binds);
            conditions.push(format!("{column} = {mark}"));
        }
    }
    if let Some(decision) = text(&filter.decision) {
        // A shadow run records "deny" without enforcing it: that is a "would deny".
        let (decisions, modes): (&[&str], &str) = match decision {
            "would_deny" => (&["deny", "stop"], "mode IN ('shadow', 'record')"),
            "deny" | "stop" => (&["deny", "stop"], "COALESCE(mode, 'enforce') = 'enforce'"),
            "allow" | "ask" => (&[], ""),
            other => {
                return Err(ServerError::BadRequest(format!(
                    "`decision={other}`: choose allow, ask, deny, stop or would_deny"
                )));
            }
        };
        let wanted: Vec<String> = if decisions.is_empty() {
            vec![bind(decision.to_string(), &mut binds)]
        } else {
            decisions
                .iter()
                .map(|d| bind((*d).to_string(), &mut binds))
                .collect()
        };
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM entries e WHERE e.run_id = runs.run_id \
             AND e.kind = 'tool.pre' AND e.decision IN ({}))",
            wanted.join(", ")
        ));
        if !modes.is_empty() {
            conditions.push(modes.to_string());
        }
    }
    match text(&filter.review) {
        None => {}
        Some("none") => conditions.push(
            "status IN ('finished', 'incomplete') AND NOT EXISTS \
             (SELECT 1 FROM reviews r WHERE r.run_id = runs.run_id)"
                .to_string(),
        ),
        Some(decision) => {
            let mark = bind(decision.to_string(), &mut binds);
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM reviews r WHERE r.run_id = runs.run_id AND r.decision = {mark})"
            ));
        }
    }
    if let Some(since) = text(&filter.since) {
        let mark = bind(bound(since, false)?, &mut binds);
        conditions.push(format!(
            "COALESCE(last_at, started_at, received_at) >= {mark}"
        ));
    }
    if let Some(until) = text(&filter.until) {
        let mark = bind(bound(until, true)?, &mut binds);
        conditions.push(format!("COALESCE(started_at, received_at) <= {mark}"));
    }
    let policy = team::current(db).await?.policy;
    let (visible, visible_binds) = Visibility::of(who, &policy).sql(binds.len() + 1);
    binds.extend(visible_binds);
    conditions.push(visible);
    let condition = conditions.join(" AND ");

    let sort = text(&filter.sort).unwrap_or("last");
    let column = SORTS
        .iter()
        .find(|(name, _)| *name == sort)
        .map(|(_, column)| *column)
        .ok_or_else(|| {
            ServerError::BadRequest(format!(
                "`sort={sort}`: choose one of {}",
                SORTS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ))
        })?;
    let direction = match text(&filter.dir) {
        Some("asc") => "ASC",
        None | Some("desc") => "DESC",
        Some(other) => {
            return Err(ServerError::BadRequest(format!(
                "`dir={other}`: choose asc or desc"
            )));
        }
    };
    let number = |value: &Option<String>, name: &str, default: u64| -> Result<u64, ServerError> {
        match text(value) {
            None => Ok(default),
            Some(n) => n.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ServerError::BadRequest(format!("`{name}={n}` is not a positive number"))
            }),
        }
    };
    let page = number(&filter.page, "page", 1)?;
    let per_page = number(&filter.per_page, "per_page", 500)?.min(500);
    let offset = (page - 1).saturating_mul(per_page);

    let count_sql = format!("SELECT COUNT(*) FROM runs WHERE {condition}");
    let mut count = sqlx::query(&count_sql);
    for value in &binds {
        count = count.bind(value.clone());
    }
    let total: i64 = count.fetch_one(&db.pool).await?.try_get(0)?;

    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE {condition} \
         ORDER BY {column} {direction}, run_id {direction} LIMIT {per_page} OFFSET {offset}"
    );
    let mut query = sqlx::query(&sql);
    for value in &binds {
        query = query.bind(value.clone());
    }
    let rows = query.fetch_all(&db.pool).await?;
    Ok(RunsPage {
        runs: rows.iter().map(run_summary).collect::<Result<_, _>>()?,
        total,
        page,
        per_page,
    })
}
