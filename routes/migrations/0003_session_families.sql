-- Session families: a renewed session keeps its family, and logout, disabling a user or a
-- password change revoke whole families, so no earlier or later copy of a cookie lives on.
-- `renewed_at` makes renewal happen once per session, however many requests carry it.
ALTER TABLE sessions ADD COLUMN family TEXT;
ALTER TABLE sessions ADD COLUMN renewed_at INTEGER;
UPDATE sessions SET family = jti WHERE family IS NULL;
CREATE INDEX sessions_family ON sessions (family);
CREATE INDEX sessions_user ON sessions (user_id);
