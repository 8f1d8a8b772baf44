//! Secret rows per user: only ciphertext and its nonce are stored; listings never carry either.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::keyring::Sealed;

/// What listings show of a secret: never its value.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SecretInfo {
    pub key: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn info(r: &Row<'_>) -> rusqlite::Result<SecretInfo> {
    Ok(SecretInfo {
        key: r.get(0)?,
        description: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
    })
}

pub fn list(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<SecretInfo>> {
    let mut stmt = c.prepare(
        "SELECT key, description, created_at, updated_at FROM secrets WHERE user_id = ?1
         ORDER BY key",
    )?;
    let rows = stmt.query_map([user_id], info)?;
    rows.collect()
}

pub fn get(
    c: &Connection,
    user_id: &str,
    key: &str,
) -> rusqlite::Result<Option<(SecretInfo, Sealed)>> {
    c.query_row(
        "SELECT key, description, created_at, updated_at, nonce, ciphertext FROM secrets
         WHERE user_id = ?1 AND key = ?2",
        [user_id, key],
        |r| {
            let sealed = Sealed {
                nonce: r.get(4)?,
                ciphertext: r.get(5)?,
            };
            Ok((info(r)?, sealed))
        },
    )
    .optional()
}

/// Timestamps to keep from an import; `None` means now.
#[derive(Clone, Copy, Debug, Default)]
pub struct Times<'a> {
    pub created_at: Option<&'a str>,
    pub updated_at: Option<&'a str>,
}

/// Stores `sealed` as `user_id`'s `key`. A `None` description keeps the one stored. Returns
/// the row and whether it was created (rather than replaced).
pub fn put(
    c: &mut Connection,
    user_id: &str,
    key: &str,
    sealed: &Sealed,
    description: Option<&str>,
) -> rusqlite::Result<(SecretInfo, bool)> {
    let tx = c.transaction()?;
    let out = upsert(&tx, user_id, key, sealed, description, Times::default())?;
    tx.commit()?;
    Ok(out)
}

/// [`put`] inside the caller's transaction, with the timestamps of an imported row. A replaced
/// row keeps its `created_at`.
pub fn upsert(
    c: &Connection,
    user_id: &str,
    key: &str,
    sealed: &Sealed,
    description: Option<&str>,
    times: Times<'_>,
) -> rusqlite::Result<(SecretInfo, bool)> {
    let existed = get(c, user_id, key)?.is_some();
    c.execute(
        "INSERT INTO secrets (user_id, key, nonce, ciphertext, description, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5,
                 coalesce(?6, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                 coalesce(?7, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
         ON CONFLICT (user_id, key) DO UPDATE SET
             nonce = excluded.nonce,
             ciphertext = excluded.ciphertext,
             description = coalesce(excluded.description, secrets.description),
             updated_at = excluded.updated_at",
        params![
            user_id,
            key,
            sealed.nonce,
            sealed.ciphertext,
            description,
            times.created_at,
            times.updated_at
        ],
    )?;
    let row = c.query_row(
        "SELECT key, description, created_at, updated_at FROM secrets
         WHERE user_id = ?1 AND key = ?2",
        [user_id, key],
        info,
    )?;
    Ok((row, !existed))
}

/// Whether a row was deleted.
pub fn delete(c: &Connection, user_id: &str, key: &str) -> rusqlite::Result<bool> {
    c.execute(
        "DELETE FROM secrets WHERE user_id = ?1 AND key = ?2",
        [user_id, key],
    )
    .map(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::test_db;
    use crate::secrets::keyring::Keyring;

    #[test]
    fn put_get_list_delete_per_user() {
        let mut c = test_db();
        let k = Keyring::new("m");
        let sealed = k.seal("u1", "A", b"one").unwrap();
        let (row, created) = put(&mut c, "u1", "A", &sealed, Some("first")).unwrap();
        assert!(created);
        assert_eq!(row.description.as_deref(), Some("first"));
        let sealed = k.seal("u1", "A", b"two").unwrap();
        let (row, created) = put(&mut c, "u1", "A", &sealed, None).unwrap();
        assert!(!created);
        assert_eq!(row.description.as_deref(), Some("first"), "kept");
        let (_, stored) = get(&c, "u1", "A").unwrap().unwrap();
        assert_eq!(k.open("u1", "A", &stored).unwrap(), b"two");
        assert!(get(&c, "u2", "A").unwrap().is_none());
        assert!(list(&c, "u2").unwrap().is_empty());
        assert_eq!(list(&c, "u1").unwrap().len(), 1);
        assert!(!delete(&c, "u2", "A").unwrap());
        assert!(delete(&c, "u1", "A").unwrap());
        assert!(get(&c, "u1", "A").unwrap().is_none());
    }
}
