-- Identity and teams: who someone is comes from their token, what they may do from a
-- policy kept here (pushed by security or an admin, versioned), and every administrative
-- action lands in an append-only, hash-chained audit log.

-- A token is scoped to projects (a JSON array; `["*"]` for every project) and may expire.
-- Its public id is the first 16 hex digits of its hash.
ALTER TABLE tokens ADD COLUMN projects TEXT;
ALTER TABLE tokens ADD COLUMN expires_at TEXT;
ALTER TABLE tokens ADD COLUMN last_used_at TEXT;

-- A run belongs to a project (named in the repository's mandate.toml), and is kept by the
-- time the server last received something of it, whatever the entries say.
ALTER TABLE runs ADD COLUMN project TEXT;
ALTER TABLE runs ADD COLUMN last_received_at TEXT;

-- The team policy: reviewer groups, delegators and kill-switch holders. Every push is a
-- new version; the newest is in force.
CREATE TABLE team_policy (
    version BIGINT PRIMARY KEY,
    body TEXT NOT NULL,             -- the policy as JSON
    by_user TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Machine signing keys, enrolled per user and project at the first push; changed only by
-- an admin.
CREATE TABLE signing_keys (
    email TEXT NOT NULL,
    project TEXT NOT NULL,
    key TEXT NOT NULL,              -- base64 Ed25519 public key
    enrolled_at TEXT NOT NULL,
    enrolled_by TEXT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (email, project, key)
);

-- A signed-in browser's session: short-lived, and not the API token.
CREATE TABLE sessions (
    hash TEXT PRIMARY KEY,          -- sha256 hex of the session id
    token_hash TEXT NOT NULL,       -- the token it was opened with (revoking it ends it)
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- The audit log: one canonical JSON line per action, each naming the leaf hash of the
-- one before (the record crate's chain), so a changed or removed line shows.
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    line TEXT NOT NULL,
    leaf TEXT NOT NULL
);
-- The head of the chain, one row: appends lock it, so they are serialised on both
-- databases.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    size BIGINT NOT NULL,
    leaf TEXT NOT NULL
);
INSERT INTO audit_head (id, size, leaf) VALUES (1, 0, '');

-- One person, one principal: addresses as the server now compares them. A run's delegator
-- is whoever pushed it; what older pushes claimed is not kept.
UPDATE tokens SET email = LOWER(TRIM(email));
UPDATE runs SET owner = LOWER(TRIM(owner));
UPDATE runs SET delegated_by = owner;
UPDATE approvals SET delegated_by = (SELECT owner FROM runs WHERE runs.run_id = approvals.run_id);
