//! Per-user API tokens: random, shown once, stored as the SHA-256 hex of the token so that the
//! `token_hash` values of the old multi-user file keep working after an import.

use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::users::{self, User};

/// What a listing shows: never the token or its hash.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token (`pst_` + 43 URL-safe base64 characters of 256 random bits).
pub fn generate() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "pst_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Creates a token for `user_id`; returns its info and the token itself, to show once.
pub fn create(c: &Connection, user_id: &str, name: &str) -> rusqlite::Result<(TokenInfo, String)> {
    let token = generate();
    insert_hash(c, user_id, name, &sha256_hex(&token))?;
    let info = c.query_row(
        "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE token_hash = ?1",
        [sha256_hex(&token)],
        info_row,
    )?;
    Ok((info, token))
}

/// Stores an already hashed token (imports).
pub fn insert_hash(c: &Connection, user_id: &str, name: &str, hash: &str) -> rusqlite::Result<()> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    c.execute(
        "INSERT INTO api_tokens (id, user_id, name, token_hash) VALUES (?1, ?2, ?3, ?4)",
        params![id, user_id, name, hash.to_ascii_lowercase()],
    )?;
    Ok(())
}

fn info_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
        last_used_at: r.get(3)?,
    })
}

pub fn list(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<TokenInfo>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, name, created_at, last_used_at FROM api_tokens
         WHERE user_id = ?1 ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map([user_id], info_row)?;
    rows.collect()
}

/// Deletes the token `id` of `user_id`; false when there is none (or it is someone else's).
pub fn revoke(c: &Connection, user_id: &str, id: &str) -> rusqlite::Result<bool> {
    let n = c.execute(
        "DELETE FROM api_tokens WHERE id = ?1 AND user_id = ?2",
        params![id, user_id],
    )?;
    Ok(n > 0)
}

/// The active user owning `token`, with the token's last use recorded. The lookup is by the
/// hash (an index probe), so no secret is compared byte by byte here.
pub fn resolve(c: &Connection, token: &str) -> rusqlite::Result<Option<User>> {
    let hash = sha256_hex(token);
    let found: Option<(String, String)> = c
        .query_row(
            "SELECT id, user_id FROM api_tokens WHERE token_hash = ?1",
            [&hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((id, user_id)) = found else {
        return Ok(None);
    };
    let Some(user) = users::by_id(c, &user_id)?.filter(User::is_active) else {
        return Ok(None);
    };
    c.execute(
        "UPDATE api_tokens SET last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
        [&id],
    )?;
    Ok(Some(user))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::users::{add, NewUser};
    use platform_middleware::auth::Role;

    #[test]
    fn create_resolve_list_revoke() {
        let c = crate::accounts::test_db();
        let u = add(
            &c,
            NewUser {
                id: Some("42".into()),
                username: "ada",
                role: Role::User,
                password_hash: None,
                created_at: None,
            },
        )
        .unwrap();
        let (info, token) = create(&c, &u.id, "ci").unwrap();
        assert!(token.starts_with("pst_"));
        assert_eq!(resolve(&c, &token).unwrap().unwrap().id, "42");
        assert!(resolve(&c, "pst_nope").unwrap().is_none());
        let listed = list(&c, "42").unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some());
        assert!(!revoke(&c, "other", &info.id).unwrap());
        assert!(revoke(&c, "42", &info.id).unwrap());
        assert!(resolve(&c, &token).unwrap().is_none());
    }

    #[test]
    fn imported_hashes_resolve() {
        let c = crate::accounts::test_db();
        add(
            &c,
            NewUser {
                id: Some("7".into()),
                username: "old",
                role: Role::Admin,
                password_hash: None,
                created_at: None,
            },
        )
        .unwrap();
        insert_hash(&c, "7", "imported", &sha256_hex("legacy-token")).unwrap();
        assert_eq!(resolve(&c, "legacy-token").unwrap().unwrap().id, "7");
    }
}
