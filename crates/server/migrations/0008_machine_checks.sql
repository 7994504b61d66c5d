-- What only a machine can check for readiness (its hooks, managed settings, sandbox,
-- other agents), as each machine reports it at its sync: the newest report per user,
-- machine and workspace (issue 19).
CREATE TABLE machine_checks (
    owner TEXT NOT NULL,            -- the reporting token's user
    machine TEXT NOT NULL,          -- host:records dir, as the machine names itself
    workspace TEXT NOT NULL,        -- the repository checkout the checks were made in
    project TEXT NOT NULL,
    checked_at TEXT NOT NULL,       -- when the machine made the checks
    received_at TEXT NOT NULL,
    checks TEXT NOT NULL,           -- JSON: [{id, status, detail}]
    PRIMARY KEY (owner, machine, workspace)
);
