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
//! Beside the rows it keeps what lets a question look things up instead of reading
//! every row: the paths an area test looks at, normalised (`area`, from
//! [`mandate_search::area_paths`], so `touched customer_data/**` and `**/eu1*.csv` are
//! index ranges from [`mandate_search::area_ranges`]), and, for `why`, the run's start,
//! prompts and approvals and where each call that wrote a file sits in its log
//! (`entries`), so the answer reads those few entries instead of whole runs. Every
//! answer is still decided row by row by [`mandate_search::Compiled::matches`]; the
//! lookups only narrow.
//!
//! The index is derived data: deleting it costs one rebuild. It lives in the record
//! store, which the agent may not write; `mandate record verify` checks the logs
//! themselves.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use mandate_search::{AreaRanges, Cell, EventQuery, EventRow, ORDER_BY, RunContext, TextRange};
use rusqlite::{Connection, OptionalExtension as _, params};
use serde_json::Value;

/// Bumped whenever the rows or the schema change: an older index is rebuilt.
const SCHEMA_VERSION: i64 = 4;

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
         CREATE INDEX events_target ON events (target, kind);
         CREATE INDEX events_tool ON events (tool, time);
         CREATE INDEX events_decision ON events (decision, time);
         CREATE INDEX events_repository ON events (repository, time);
         CREATE INDEX events_call ON events (run_id, tool_use_id);
         CREATE TABLE area (run_id TEXT NOT NULL, idx INTEGER NOT NULL, n INTEGER NOT NULL,
                            k INTEGER NOT NULL, rel TEXT, abs TEXT NOT NULL, name TEXT,
                            PRIMARY KEY (run_id, idx, n, k)) WITHOUT ROWID;
         CREATE INDEX area_rel ON area (rel);
         CREATE INDEX area_abs ON area (abs);
         CREATE INDEX area_name ON area (name);
         CREATE TABLE entries (run_id TEXT NOT NULL, idx INTEGER NOT NULL, type TEXT NOT NULL,
                               session TEXT NOT NULL, body TEXT, offset INTEGER,
                               len INTEGER, PRIMARY KEY (run_id, idx)) WITHOUT ROWID;
         CREATE TABLE cursors (run_id TEXT PRIMARY KEY, bytes INTEGER NOT NULL,
                               entries INTEGER NOT NULL, context TEXT NOT NULL);
         CREATE TABLE meta (version INTEGER NOT NULL, analysed INTEGER NOT NULL);
         INSERT INTO meta (version, analysed) VALUES ({SCHEMA_VERSION}, 0);",
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
                 DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS area; \
                 DROP TABLE IF EXISTS entries;",
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
                        forget_rows(&tx, &run_id)?;
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
                    forget_rows(&tx, &run_id)?;
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
            forget_rows(&tx, run_id)?;
            tx.execute("DELETE FROM cursors WHERE run_id = ?1", params![run_id])?;
        }
        tx.commit()?;
        self.keep_statistics()?;
        Ok(runs.len())
    }

    /// Give SQLite's planner statistics of the tables, again whenever the logs read have
    /// doubled since. Without them it takes any index that avoids a sort: for `why` of
    /// one file in a store of one repository, the repository's, which is every row
    /// (3 s at a million calls, against a millisecond by the file's target).
    fn keep_statistics(&self) -> Result<()> {
        let (entries, analysed): (i64, i64) = self.conn.query_row(
            "SELECT (SELECT COALESCE(SUM(entries), 0) FROM cursors), analysed FROM meta",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        if entries > 2 * analysed {
            // A sample of each index is enough to tell a selective one from one that is not.
            self.conn
                .execute_batch("PRAGMA analysis_limit = 1000; ANALYZE;")?;
            self.conn
                .execute("UPDATE meta SET analysed = ?1", params![entries])?;
        }
        Ok(())
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
        let ranges = query
            .path
            .as_deref()
            .map(str::trim)
            .filter(|area| !area.is_empty())
            .and_then(mandate_search::area_ranges);
        self.find_narrowed(query, repository, skip, take, ranges.as_ref())
    }

    /// [`LocalIndex::find`] with the area's rows looked up in `ranges` (when given)
    /// instead of found by walking the table. The parity test passes wrong ranges here
    /// to see that it notices.
    pub(crate) fn find_narrowed(
        &self,
        query: &EventQuery,
        repository: Option<&str>,
        skip: usize,
        take: usize,
        ranges: Option<&AreaRanges>,
    ) -> Result<(Vec<EventRow>, bool)> {
        let compiled = query
            .compile()
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        let columns = mandate_search::COLUMNS.join(", ");
        let walk = || -> Result<(String, Vec<String>)> {
            let (condition, binds) = narrowed(query, &compiled, repository);
            Ok((
                format!("SELECT {columns} FROM events WHERE {condition} ORDER BY {ORDER_BY}"),
                binds,
            ))
        };
        let (sql, binds) = match ranges {
            Some(ranges) => {
                // With the area's rows looked up, the SQL narrows by the other fields
                // only (the area's LIKEs read the recorded text, the lookup its
                // normalised path).
                let unplaced = EventQuery {
                    path: None,
                    ..query.clone()
                };
                let others = unplaced
                    .compile()
                    .map_err(|error| anyhow::anyhow!("{error}"))?;
                let (condition, mut binds) = narrowed(&unplaced, &others, repository);
                let area = query.path.as_deref().map(str::trim).unwrap_or("");
                let hits = hits_sql(ranges, area, &mut binds);
                // Unless a page of many is asked for, which walking newest first fills
                // sooner.
                if skip + take >= NARROW_LIMIT || self.fewer(&hits, &binds)? {
                    (
                        format!(
                            "WITH hits (run_id, idx, n) AS ({hits}) SELECT {columns} FROM hits \
                             CROSS JOIN events USING (run_id, idx, n) WHERE {condition} \
                             ORDER BY {ORDER_BY}"
                        ),
                        binds,
                    )
                } else {
                    walk()?
                }
            }
            None => walk()?,
        };
        let mut statement = self.conn.prepare(&numbered(&sql))?;
        let mut rows = statement.query(rusqlite::params_from_iter(binds.iter()))?;
        let mut out = Vec::new();
        let mut matched = 0usize;
        while let Some(row) = rows.next()? {
            let Some(row) = event_row(row)? else {
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

    /// Do fewer than [`NARROW_LIMIT`] rows lie in the area's ranges?
    fn fewer(&self, hits: &str, binds: &[String]) -> Result<bool> {
        let sql = format!("SELECT count(*) FROM (SELECT 1 FROM ({hits}) LIMIT {NARROW_LIMIT})");
        let count: i64 = self.conn.query_row(
            &numbered(&sql),
            rusqlite::params_from_iter(binds.iter()),
            |row| row.get(0),
        )?;
        Ok(usize::try_from(count).unwrap_or(usize::MAX) < NARROW_LIMIT)
    }

    /// The entries `why` reads beside the rows, of one run, in log order: its
    /// `run.start`, prompts and approvals (whole), and the calls that wrote a file (by
    /// their place in the log).
    pub fn why_entries(&self, run_id: &str) -> Result<Vec<KeptEntry>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT idx, type, session, body, offset, len FROM entries WHERE run_id = ?1 \
             ORDER BY idx",
        )?;
        let rows = statement.query_map(params![run_id], |row| {
            Ok(KeptEntry {
                idx: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                kind: row.get(1)?,
                session: row.get(2)?,
                body: row.get(3)?,
                place: match (row.get::<_, Option<i64>>(4)?, row.get::<_, Option<i64>>(5)?) {
                    (Some(offset), Some(len)) => Some((
                        u64::try_from(offset).unwrap_or(0),
                        usize::try_from(len).unwrap_or(0),
                    )),
                    _ => None,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The touches a session took in before entry `before` of a run: the reads, calls
    /// and sends of calls that ran, the last `limit` of them, oldest first.
    pub fn context_before(
        &self,
        run_id: &str,
        session: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<EventRow>> {
        let columns = mandate_search::COLUMNS.join(", ");
        let sql = format!(
            "SELECT {columns} FROM events WHERE run_id = ?1 AND idx < ?2 \
             AND COALESCE(session_id, '') = ?3 AND kind IN ('read', 'call', 'expose') \
             AND outcome IN ('ran', 'failed') ORDER BY idx DESC, n DESC LIMIT ?4"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let mut rows = statement.query(params![
            run_id,
            i64::try_from(before).unwrap_or(i64::MAX),
            session,
            i64::try_from(limit).unwrap_or(i64::MAX)
        ])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.extend(event_row(row)?);
        }
        out.reverse();
        Ok(out)
    }
}

/// A row of `SELECT {COLUMNS}` as an [`EventRow`] (`None` if it does not fit).
fn event_row(row: &rusqlite::Row<'_>) -> Result<Option<EventRow>> {
    let mut cells = Vec::with_capacity(mandate_search::COLUMNS.len());
    for (i, name) in mandate_search::COLUMNS.iter().enumerate() {
        cells.push(if matches!(*name, "idx" | "n") {
            Cell::Int(row.get::<_, i64>(i)?)
        } else {
            row.get::<_, Option<String>>(i)?
                .map_or(Cell::Null, Cell::Text)
        });
    }
    Ok(mandate_search::row_from_values(cells))
}

/// Above this many rows in an area's ranges, a page of the search walks the table
/// newest first instead (the page fills long before the walk ends).
const NARROW_LIMIT: usize = 20_000;

/// One entry `why` reads beside the rows (see [`LocalIndex::why_entries`]).
pub struct KeptEntry {
    pub idx: u64,
    /// The entry's `type`.
    pub kind: String,
    /// Its `session_id` (empty: none).
    pub session: String,
    /// The entry itself (run start, prompts, approvals).
    pub body: Option<String>,
    /// Where it sits in the run's log: byte offset and length (calls).
    pub place: Option<(u64, usize)>,
}

/// The SQL condition of `query` (compiled as `compiled`), of `repository` only when
/// given, with its parameters.
fn narrowed(
    query: &EventQuery,
    compiled: &mandate_search::Compiled<'_>,
    repository: Option<&str>,
) -> (String, Vec<String>) {
    let (mut condition, mut binds) = compiled.sql(1);
    if let Some(repository) = repository {
        binds.push(repository.to_string());
        condition.push_str(&format!(" AND repository = ${}", binds.len()));
    }
    // A tool-name pattern's plain head is a range of the tool index (LIKE is not).
    if let Some(tool) = query.tool.as_deref().map(str::trim)
        && tool.contains(['*', '?'])
        && !mandate_search::literal_head(tool).is_empty()
    {
        let range = TextRange::starting_with(mandate_search::literal_head(tool));
        condition.push_str(&range_sql("tool", &range, &mut binds));
    }
    (condition, binds)
}

/// ` AND low <= column < high`, binding the bounds.
fn range_sql(column: &str, range: &TextRange, binds: &mut Vec<String>) -> String {
    binds.push(range.low.clone());
    let mut sql = format!(" AND {column} >= ${}", binds.len());
    if let Some(high) = &range.high {
        binds.push(high.clone());
        sql.push_str(&format!(" AND {column} < ${}", binds.len()));
    }
    sql
}

/// The keys of every row an area's ranges hold (a superset of its answer).
fn hits_sql(ranges: &AreaRanges, area: &str, binds: &mut Vec<String>) -> String {
    let column = if area.starts_with('/') { "abs" } else { "rel" };
    let mut parts = Vec::new();
    for range in &ranges.paths {
        parts.push(format!(
            "SELECT run_id, idx, n FROM area WHERE 1 = 1{}",
            range_sql(column, range, binds)
        ));
    }
    for range in &ranges.names {
        parts.push(format!(
            "SELECT run_id, idx, n FROM area WHERE 1 = 1{}",
            range_sql("name", range, binds)
        ));
    }
    // A command, tool name or host matched by the area's text as a whole.
    let whole = "SELECT run_id, idx, n FROM events INDEXED BY events_target \
                 WHERE kind NOT IN ('read', 'write')";
    match &ranges.targets {
        Some(range) => parts.push(format!("{whole}{}", range_sql("target", range, binds))),
        None => {
            binds.push(mandate_search::wildcard_like(area));
            parts.push(format!(
                "{whole} AND target LIKE ${} ESCAPE '\\'",
                binds.len()
            ));
        }
    }
    parts.join(" UNION ")
}

/// Drop what the index holds of one run's log (it is read again, or it is gone).
fn forget_rows(tx: &rusqlite::Transaction<'_>, run_id: &str) -> Result<()> {
    for table in ["events", "area", "entries"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE run_id = ?1"),
            params![run_id],
        )?;
    }
    Ok(())
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
    let mut insert_area = tx.prepare_cached(
        "INSERT OR REPLACE INTO area (run_id, idx, n, k, rel, abs, name) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut insert_entry = tx.prepare_cached(
        "INSERT OR REPLACE INTO entries (run_id, idx, type, session, body, offset, len) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut update = tx.prepare_cached(
        "UPDATE events SET outcome = ?3 WHERE run_id = ?1 AND tool_use_id = ?2 \
         AND event = 'tool.pre'",
    )?;
    // Rows wait here until the end, so a result that follows its call in the same read
    // is applied in memory; only results of calls indexed by an earlier read update rows.
    let mut rows: Vec<EventRow> = Vec::new();
    let mut pending: std::collections::HashMap<String, Vec<usize>> =
        std::collections::HashMap::new();
    let mut at = bytes;
    for line in text
        .get(..complete)
        .unwrap_or_default()
        .split_inclusive(|b| *b == b'\n')
    {
        let offset = at;
        at += line.len() as u64;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
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
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        let session = value
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let position = i64::try_from(idx).unwrap_or(i64::MAX);
        // What `why` reads beside the rows: kept whole, they are few and small.
        let kept = kind == "run.start"
            || kind.starts_with("approval.")
            || (kind == "prompt" && value.get("prompt").is_some_and(Value::is_string));
        if kept {
            insert_entry.execute(params![
                context.run_id,
                position,
                kind,
                session,
                String::from_utf8_lossy(line),
                Option::<i64>::None,
                Option::<i64>::None
            ])?;
        }
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
        let call_rows = mandate_search::rows_of(&context, idx, &value);
        if call_rows.iter().any(|row| row.kind == "write") {
            // Where the call sits in the log, for `why` to read it alone.
            insert_entry.execute(params![
                context.run_id,
                position,
                kind,
                session,
                Option::<String>::None,
                i64::try_from(offset).unwrap_or(i64::MAX),
                i64::try_from(line.len()).unwrap_or(i64::MAX)
            ])?;
        }
        for row in call_rows {
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
        let (idx, n) = (
            i64::try_from(row.idx).unwrap_or(i64::MAX),
            i64::try_from(row.n).unwrap_or(i64::MAX),
        );
        for (k, path) in mandate_search::area_paths(row).into_iter().enumerate() {
            insert_area.execute(params![
                row.run,
                idx,
                n,
                i64::try_from(k).unwrap_or(i64::MAX),
                path.rel,
                path.abs,
                path.name
            ])?;
        }
    }
    Ok(Some(Cursor {
        bytes: bytes + complete as u64,
        entries,
        context,
    }))
}
