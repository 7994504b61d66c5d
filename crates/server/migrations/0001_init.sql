-- One schema for SQLite and PostgreSQL: only BIGINT and TEXT columns, no
-- auto-increment, no booleans, so the same statements run on both.

CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,          -- sha256 hex of the token; the token itself is never stored
    email TEXT NOT NULL,
    role TEXT NOT NULL,             -- developer | reviewer | security | admin
    created_at TEXT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,            -- the user whose token pushed entry 0
    signer TEXT NOT NULL,           -- the verifier key pinned at the first push
    entries BIGINT NOT NULL DEFAULT 0,
    sealed BIGINT NOT NULL DEFAULT 0,
    task_id TEXT,
    request TEXT,
    delegated_by TEXT,
    agent TEXT,
    mode TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    calls BIGINT NOT NULL DEFAULT 0,
    denials BIGINT NOT NULL DEFAULT 0,
    started_at TEXT,
    last_at TEXT,
    received_at TEXT NOT NULL
);

CREATE TABLE entries (
    run_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    leaf TEXT NOT NULL,             -- hex RFC 6962 leaf hash of body
    kind TEXT NOT NULL,
    time TEXT,
    tool TEXT,
    decision TEXT,
    body TEXT NOT NULL,             -- the exact stored line, without its newline
    PRIMARY KEY (run_id, idx)
);
CREATE INDEX entries_kind ON entries (kind, time);

CREATE TABLE checkpoints (
    run_id TEXT NOT NULL,
    size BIGINT NOT NULL,
    root TEXT NOT NULL,
    note TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (run_id, size)
);

CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX reviews_run ON reviews (run_id, created_at);

CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    input TEXT,
    digest TEXT NOT NULL,
    grp TEXT NOT NULL,
    reviewers TEXT NOT NULL,        -- JSON array of e-mail addresses
    rule TEXT,
    reason TEXT,
    delegated_by TEXT,
    requested_at TEXT NOT NULL,
    status TEXT NOT NULL,           -- pending | approved | denied | used
    for_run BIGINT NOT NULL DEFAULT 0,
    decided_by TEXT,
    decided_at TEXT,
    note TEXT
);
CREATE INDEX approvals_status ON approvals (status, requested_at);

-- The kill switch: what is off now, and the log of every change.
CREATE TABLE killed (
    target TEXT PRIMARY KEY,
    by_user TEXT NOT NULL,
    reason TEXT NOT NULL,
    since TEXT NOT NULL
);
CREATE TABLE killswitch_log (
    id TEXT PRIMARY KEY,
    time TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    by_user TEXT NOT NULL,
    reason TEXT NOT NULL
);

CREATE TABLE registry (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    purpose TEXT NOT NULL,
    data TEXT NOT NULL,
    access TEXT NOT NULL,           -- read | write
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
