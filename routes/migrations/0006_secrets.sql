-- Secrets per user, encrypted at rest: AES-256-GCM under a key derived (HKDF-SHA256) from the
-- master key and the user id, a random 96-bit nonce per write, the row's owner and key bound in
-- as associated data. The master key itself is never stored here.
CREATE TABLE secrets (
    user_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (user_id, key)
) STRICT;
