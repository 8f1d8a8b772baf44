-- Workflows (graphs of nodes, JSON) and the jobs that ran them. Ids are time-ordered (UUIDv7
-- hex), so ordering by id is ordering by creation. Jobs outlive their workflow: no foreign key.
CREATE TABLE workflows (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    access      TEXT NOT NULL CHECK (access IN ('private', 'public')),
    graph       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX workflows_user ON workflows (user_id, id);

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY NOT NULL,
    workflow_id TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    params      TEXT NOT NULL,
    results     TEXT,
    error       TEXT,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
) STRICT;
CREATE INDEX jobs_user ON jobs (user_id, id);
CREATE INDEX jobs_unfinished ON jobs (status) WHERE status IN ('queued', 'running');
