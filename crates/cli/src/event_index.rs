//! The local index behind `why`, `touched` and `events`: the rows of
//! [`mandate_search`] in a SQLite file beside the records (`<records>/index/events.db`).
//!
//! It is built lazily by the command that asks, not by the hook: each run's
//! `log.jsonl` is append-only, so the index keeps one cursor per run (the bytes and
//! entries already read) and a question first reads only what was appended since the
//! last one. The hook pays nothing for it, and the budget it has (2 ms a call) stays
//! whole; the first question after many calls pays for reading them once. A log that
//! shrank or no longer lines up with its cursor (a recovered cut-off append) is read
//! again from the start.
//!
//! The index is derived data: deleting it costs one rebuild. It lives in the record
//! store, which the agent may not write; `mandate record verify` checks the logs
//! themselves.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use mandate_search::{Cell, EventQuery, EventRow, ORDER_BY, RunContext};
use rusqlite::{Connection, OptionalExtension as _, params};
use serde_json::Value;

/// Bumped whenever the rows or the schema change: an older index is rebuilt.
const SCHEMA_VERSION: i64 = 2;

/// Where the index of a record store lives.
pub fn index_path(records_dir: &Path) -> PathBuf {
    records_dir.join("index").join("events.db")
}

pub struct LocalIndex {
    conn: Connection,
}

fn schema() -> String {
    let columns: Vec<String> = mandate_search::COLUMNS
        .iter()
        .map(|c| {
            if matches!(*c, "idx" | "n") {
                format!("{c} INTEGER NOT NULL")
            } else {
                format!("{c} TEXT")
            }
        })
        .collect();
    format!(
        "CREATE TABLE events ({}, PRIMARY KEY (run_id, idx, n)) WITHOUT ROWID;
         CREATE INDEX events_time ON events (time);
         CREATE INDEX events_path ON events (path);
         CREATE INDEX events_target ON events (target);
         CREATE INDEX events_tool ON events (tool, time);
         CREATE INDEX events_decision ON events (decision, time);
         CREATE INDEX events_repository ON events (repository, time);
         CREATE INDEX events_call ON events (run_id, tool_use_id);
         CREATE TABLE cursors (run_id TEXT PRIMARY KEY, bytes INTEGER NOT NULL,
                               entries INTEGER NOT NULL, context TEXT NOT NULL);
         CREATE TABLE meta (version INTEGER NOT NULL);
         INSERT INTO meta (version) VALUES ({SCHEMA_VERSION});",
        columns.join(", ")
    )
}

/// `$N` placeholders (the server's spelling) as SQLite's numbered `?N`.
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

fn to_sql(cell: Cell) -> rusqlite::types::Value {
    match cell {
        Cell::Text(text) => rusqlite::types::Value::Text(text),
        Cell::Int(int) => rusqlite::types::Value::Integer(int),
        Cell::Null => rusqlite::types::Value::Null,
    }
}

/// The run's state between two catch-ups.
struct Cursor {
    bytes: u64,
    entries: u64,
    context: RunContext,
}

impl LocalIndex {
    /// Open (or create) the index of `records_dir`.
    pub fn open(records_dir: &Path) -> Result<LocalIndex> {
        let path = index_path(records_dir);
        if let Some(dir) = path.parent() {
            mandate_project::create_private_dir(dir)
                .with_context(|| format!("cannot create the index folder {}", dir.display()))?;
        }
        let conn = Connection::open(&path)
            .with_context(|| format!("cannot open the local index {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        let version: Option<i64> = conn
            .query_row("SELECT version FROM meta", [], |row| row.get(0))
            .optional()
            .unwrap_or(None);
        if version != Some(SCHEMA_VERSION) {
            conn.execute_batch(
                "DROP TABLE IF EXISTS events; DROP TABLE IF EXISTS cursors; \
                 DROP TABLE IF EXISTS meta;",
            )?;
            conn.execute_batch(&schema())
                .context("cannot create the local index")?;
        }
        Ok(LocalIndex { conn })
    }

    /// Read what the runs of `records_dir` appended since the last catch-up. Returns
    /// how many runs the store holds.
    pub fn catch_up(&mut self, records_dir: &Path) -> Result<usize> {
        let runs = mandate_project::records::list_runs(records_dir);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut known: std::collections::HashMap<String, Cursor> = {
            let mut statement =
                tx.prepare("SELECT run_id, bytes, entries, context FROM cursors")?;
            let rows = statement.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })?;
            let mut known = std::collections::HashMap::new();
            for row in rows {
                let (run_id, bytes, entries, context) = row?;
                let context =
                    serde_json::from_str(&context).unwrap_or_else(|_| RunContext::new(&run_id));
                known.insert(
                    run_id,
                    Cursor {
                        bytes: u64::try_from(bytes).unwrap_or(0),
                        entries: u64::try_from(entries).unwrap_or(0),
                        context,
                    },
                );
            }
            known
        };
        for dir in &runs {
            let Some(run_id) = dir.file_name().map(|n| n.to_string_lossy().to_string()) else {
                continue;
            };
            let log = dir.join(mandate_record::LOG_FILE);
            let Ok(size) = std::fs::metadata(&log).map(|m| m.len()) else {
                continue;
            };
            let cursor = known.remove(&run_id);
            if cursor.as_ref().is_some_and(|c| c.bytes == size) {
                continue;
            }
            let cursor = match cursor {
                Some(cursor) if cursor.bytes < size => cursor,
                // New, or shrank: from the start.
                stale => {
                    if stale.is_some() {
                        tx.execute("DELETE FROM events WHERE run_id = ?1", params![run_id])?;
                    }
                    Cursor {
                        bytes: 0,
                        entries: 0,
                        context: RunContext::new(&run_id),
                    }
                }
            };
            let cursor = match index_run(&tx, &log, cursor)? {
                Some(cursor) => cursor,
                None => {
                    // It no longer lines up with what was read: read it all again.
                    tx.execute("DELETE FROM events WHERE run_id = ?1", params![run_id])?;
                    let fresh = Cursor {
                        bytes: 0,
                        entries: 0,
                        context: RunContext::new(&run_id),
                    };
                    index_run(&tx, &log, fresh)?.unwrap_or(Cursor {
                        bytes: size,
                        entries: 0,
                        context: RunContext::new(&run_id),
                    })
                }
            };
            tx.execute(
                "INSERT INTO cursors (run_id, bytes, entries, context) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (run_id) DO UPDATE SET bytes = ?2, entries = ?3, context = ?4",
                params![
                    run_id,
                    i64::try_from(cursor.bytes).unwrap_or(i64::MAX),
                    i64::try_from(cursor.entries).unwrap_or(i64::MAX),
                    serde_json::to_string(&cursor.context)?
                ],
            )?;
        }
        // Runs removed from the store (retention) leave the index too.
        for run_id in known.keys() {
            tx.execute("DELETE FROM events WHERE run_id = ?1", params![run_id])?;
            tx.execute("DELETE FROM cursors WHERE run_id = ?1", params![run_id])?;
        }
        tx.commit()?;
        Ok(runs.len())
    }

    /// How many runs the index holds, of one repository or of all.
    pub fn runs(&self, repository: Option<&str>) -> Result<usize> {
        let mut statement = self.conn.prepare("SELECT context FROM cursors")?;
        let contexts = statement.query_map([], |row| row.get::<_, String>(0))?;
        let mut count = 0;
        for context in contexts {
            let context: RunContext = serde_json::from_str(&context?).unwrap_or_default();
            if repository.is_none() || context.repository.as_deref() == repository {
                count += 1;
            }
        }
        Ok(count)
    }

    /// The rows answering `query` (of `repository` only, when given), newest first:
    /// `take` of them after skipping `skip`, and whether more match.
    pub fn find(
        &self,
        query: &EventQuery,
        repository: Option<&str>,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<EventRow>, bool)> {
        let compiled = query
            .compile()
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        let (condition, mut binds) = compiled.sql(1);
        let mut sql = format!(
            "SELECT {} FROM events WHERE {condition}",
            mandate_search::COLUMNS.join(", ")
        );
        if let Some(repository) = repository {
            binds.push(repository.to_string());
            sql.push_str(&format!(" AND repository = ${}", binds.len()));
        }
        sql.push_str(&format!(" ORDER BY {ORDER_BY}"));
        let mut statement = self.conn.prepare(&numbered(&sql))?;
        let mut rows = statement.query(rusqlite::params_from_iter(binds.iter()))?;
        let mut out = Vec::new();
        let mut matched = 0usize;
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(mandate_search::COLUMNS.len());
            for (i, name) in mandate_search::COLUMNS.iter().enumerate() {
                cells.push(if matches!(*name, "idx" | "n") {
                    Cell::Int(row.get::<_, i64>(i)?)
                } else {
                    row.get::<_, Option<String>>(i)?
                        .map_or(Cell::Null, Cell::Text)
                });
            }
            let Some(row) = mandate_search::row_from_values(cells) else {
                continue;
            };
            if !compiled.matches(&row) {
                continue;
            }
            matched += 1;
            if matched <= skip {
                continue;
            }
            if out.len() == take {
                return Ok((out, true));
            }
            out.push(row);
        }
        Ok((out, false))
    }
}

/// Index what `log` holds past `cursor`. `None` when the log does not line up with the
/// cursor (the entry there is not the one expected).
fn index_run(tx: &rusqlite::Transaction<'_>, log: &Path, cursor: Cursor) -> Result<Option<Cursor>> {
    let Cursor {
        bytes,
        mut entries,
        mut context,
    } = cursor;
    let mut file =
        std::fs::File::open(log).with_context(|| format!("cannot read {}", log.display()))?;
    file.seek(SeekFrom::Start(bytes))?;
    let mut text = Vec::new();
    file.read_to_end(&mut text)?;
    // Only whole lines: an append may be under way.
    let complete = text
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |at| at + 1);
    let mut insert = tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO events ({}) VALUES ({})",
        mandate_search::COLUMNS.join(", "),
        (1..=mandate_search::COLUMNS.len())
            .map(|n| format!("?{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    let mut update = tx.prepare_cached(
        "UPDATE events SET outcome = ?3 WHERE run_id = ?1 AND tool_use_id = ?2 \
         AND event = 'tool.pre'",
    )?;
    // Rows wait here until the end, so a result that follows its call in the same read
    // is applied in memory; only results of calls indexed by an earlier read update rows.
    let mut rows: Vec<EventRow> = Vec::new();
    let mut pending: std::collections::HashMap<String, Vec<usize>> =
        std::collections::HashMap::new();
    for line in text
        .get(..complete)
        .unwrap_or_default()
        .split(|b| *b == b'\n')
    {
        if line.is_empty() {
            continue;
        }
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            return Ok(None);
        };
        if value.get("i").and_then(Value::as_u64) != Some(entries) {
            return Ok(None);
        }
        let idx = entries;
        entries += 1;
        if context.learn(&value) {
            // Runs are asked about by the repository's real path.
            if let Some(root) = &context.repository
                && let Ok(real) = std::fs::canonicalize(root)
            {
                context.repository = Some(real.to_string_lossy().to_string());
            }
            continue;
        }
        if let Some((id, outcome)) = mandate_search::outcome_of(&value) {
            match pending.get(&id) {
                Some(positions) => {
                    for at in positions {
                        if let Some(row) = rows.get_mut(*at) {
                            mandate_search::apply_outcome(row, outcome);
                        }
                    }
                }
                None => {
                    update.execute(params![context.run_id, id, outcome])?;
                }
            }
            continue;
        }
        for row in mandate_search::rows_of(&context, idx, &value) {
            if let Some(id) = &row.tool_use_id {
                pending.entry(id.clone()).or_default().push(rows.len());
            }
            rows.push(row);
        }
    }
    for row in &rows {
        insert.execute(rusqlite::params_from_iter(
            mandate_search::row_values(row).into_iter().map(to_sql),
        ))?;
    }
    Ok(Some(Cursor {
        bytes: bytes + complete as u64,
        entries,
        context,
    }))
}
