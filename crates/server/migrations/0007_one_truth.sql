-- One source of truth across machines and the server (issue 19).

-- Where a review or an approval decision came from: `server` (made here, by the token's
-- user) or `record` (written into a pushed run record on a developer's machine: the
-- record says who, the server did not see that person sign in).
ALTER TABLE reviews ADD COLUMN via TEXT NOT NULL DEFAULT 'server';
ALTER TABLE approvals ADD COLUMN decided_via TEXT;

-- The MCP servers a project's mandate.toml registers (`[mcp.servers]`), as the newest
-- pushed `run.start` of that project carried them. Security's own registry (`registry`)
-- stays apart: this is what the repositories declare.
CREATE TABLE declared_mcp (
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,             -- the entry as JSON: owner, purpose, data, tools, approval, disabled
    run_id TEXT NOT NULL,           -- the run whose start carried it last
    declared_by TEXT NOT NULL,      -- the user whose push carried it
    seen_at TEXT NOT NULL,
    PRIMARY KEY (project, name)
);

-- Kill-switch changes made on a developer's machine (`mandate disable`), as the machine
-- reported them: in force on that machine, not the organisation's kill list.
CREATE TABLE machine_kills (
    owner TEXT NOT NULL,            -- the reporting token's user
    machine TEXT NOT NULL,
    target TEXT NOT NULL,
    action TEXT NOT NULL,           -- disable | enable (the newest report)
    by_user TEXT NOT NULL,          -- who the machine says switched it
    reason TEXT NOT NULL,
    time TEXT NOT NULL,             -- when the machine says it happened
    received_at TEXT NOT NULL,
    PRIMARY KEY (owner, machine, target)
);
