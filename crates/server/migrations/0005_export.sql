-- Continuous export (`mandate serve --export`, `--webhook`): what each destination has
-- been sent, so that a collector that was down, or a restart, loses nothing and repeats
-- nothing (crates/server/src/export.rs).

-- One row per destination, as named on the command line: when it was first configured
-- (the webhook tells of nothing older), which server process sends to it (a lease, so
-- several processes on one database do not send twice), and, for a file, its length at
-- the last commit (a restart cuts off what was written after it).
CREATE TABLE export_sink (
    sink TEXT PRIMARY KEY,
    since TEXT NOT NULL,
    holder TEXT NOT NULL,
    lease_until TEXT NOT NULL,
    file_bytes BIGINT NOT NULL DEFAULT 0
);

-- Per destination and run: entries with idx < sent have been delivered.
CREATE TABLE export_cursor (
    sink TEXT NOT NULL,
    run_id TEXT NOT NULL,
    sent BIGINT NOT NULL,
    PRIMARY KEY (sink, run_id)
);

-- Per webhook: the approvals and kill-switch changes it has delivered.
CREATE TABLE webhook_sent (
    sink TEXT NOT NULL,
    item TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (sink, item)
);
