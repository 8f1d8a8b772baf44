-- Assets: each user's files and folders. A file's bytes live in the assets bucket under
-- `file_key`; folders have none. `seq` orders listings and is the pagination cursor.
CREATE TABLE assets (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL,
    parent_id    TEXT,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER,
    metadata     TEXT,
    workflow_id  TEXT,
    file_key     TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX assets_by_parent ON assets (user_id, parent_id, seq);
CREATE INDEX assets_by_type ON assets (user_id, content_type, seq);
