-- The incident questions' table: one row per touch of every recorded call
-- (mandate_search::EventRow), filled at ingest from the entries pushed. `runs.indexed`
-- counts the entries of a run already turned into rows, so records stored before this
-- table are indexed by the backfill that starts with the server, and a push indexes
-- whatever its run still lacks. PostgreSQL gets prefix and trigram indexes on top
-- (crate::events::prepare).
CREATE TABLE events (
    run_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    n BIGINT NOT NULL,
    time TEXT NOT NULL,
    event TEXT NOT NULL,
    session_id TEXT,
    agent_id TEXT,
    agent_type TEXT,
    tool_use_id TEXT,
    tool TEXT NOT NULL,
    mcp TEXT,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    path TEXT,
    command TEXT,
    decision TEXT NOT NULL,
    outcome TEXT NOT NULL,
    rules TEXT NOT NULL,
    run_user TEXT,
    agent TEXT,
    repository TEXT,
    project TEXT,
    task TEXT,
    mode TEXT,
    refused_by TEXT,
    PRIMARY KEY (run_id, idx, n)
);
CREATE INDEX events_time ON events (time);
CREATE INDEX events_tool ON events (tool, time);
CREATE INDEX events_decision ON events (decision, time);
CREATE INDEX events_user ON events (run_user, time);
CREATE INDEX events_mcp ON events (mcp, time);
CREATE INDEX events_call ON events (run_id, tool_use_id);
ALTER TABLE runs ADD COLUMN indexed BIGINT NOT NULL DEFAULT 0;
