//! The users table. Plain functions over a connection: callers run them on a blocking thread.

use platform_middleware::auth::Role;
use rusqlite::{params, Connection, OptionalExtension, Row};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub password_hash: Option<String>,
    pub created_at: String,
    pub disabled_at: Option<String>,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }
}

pub fn role_from_str(s: &str) -> Role {
    if s.eq_ignore_ascii_case("admin") {
        Role::Admin
    } else {
        Role::User
    }
}

/// The columns [`from_row`] reads; a macro so hot queries can be literals (`concat!`) and stay
/// in the connection's statement cache.
macro_rules! columns {
    () => {
        "id, username, display_name, role, password_hash, created_at, disabled_at"
    };
}
const COLUMNS: &str = columns!();

fn from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(3)?;
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        role: role_from_str(&role),
        password_hash: r.get(4)?,
        created_at: r.get(5)?,
        disabled_at: r.get(6)?,
    })
}

/// The user named `username`, compared case-insensitively.
pub fn by_name(c: &Connection, username: &str) -> rusqlite::Result<Option<User>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE username = ?1"),
        [username],
        from_row,
    )
    .optional()
}

/// Asked on every token listing and session check: a cached statement.
pub fn by_id(c: &Connection, id: &str) -> rusqlite::Result<Option<User>> {
    c.prepare_cached(concat!("SELECT ", columns!(), " FROM users WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

/// Whether a user row with this id exists (an index probe; no row is read).
pub fn exists(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)")?
        .query_row([id], |r| r.get(0))
}

pub fn list(c: &Connection) -> rusqlite::Result<Vec<User>> {
    let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.collect()
}

/// What a new user is made of; `id` is generated when `None` (imports keep theirs).
pub struct NewUser<'a> {
    pub id: Option<String>,
    pub username: &'a str,
    pub role: Role,
    pub password_hash: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("a user named '{0}' already exists")]
    Exists(String),
    #[error("no user named '{0}'")]
    Unknown(String),
    #[error("invalid username '{0}': use 1-64 letters, digits, '.', '_', '-' or '@'")]
    BadName(String),
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}

pub fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

pub fn add(c: &Connection, new: NewUser<'_>) -> Result<User, UserError> {
    if !valid_username(new.username) {
        return Err(UserError::BadName(new.username.into()));
    }
    if by_name(c, new.username)?.is_some() {
        return Err(UserError::Exists(new.username.into()));
    }
    let id = new
        .id
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    c.execute(
        "INSERT INTO users (id, username, role, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, COALESCE(?5, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
        params![
            id,
            new.username,
            new.role.as_str(),
            new.password_hash,
            new.created_at
        ],
    )?;
    by_id(c, &id)?.ok_or_else(|| UserError::Unknown(new.username.into()))
}

/// The account of the server token's user "1" (named `owner`, admin, no password), created the
/// first time that user needs one (to own API tokens).
pub fn ensure_owner(c: &Connection) -> Result<(), UserError> {
    if by_id(c, "1")?.is_some() {
        return Ok(());
    }
    add(
        c,
        NewUser {
            id: Some("1".into()),
            username: "owner",
            role: Role::Admin,
            password_hash: None,
            created_at: None,
        },
    )
    .map(drop)
}

pub fn set_display_name(c: &Connection, username: &str, name: &str) -> Result<(), UserError> {
    let n = c.execute(
        "UPDATE users SET display_name = ?2 WHERE username = ?1",
        params![username, name],
    )?;
    if n == 0 {
        return Err(UserError::Unknown(username.into()));
    }
    Ok(())
}

/// Sets the password and ends every session of the user but those of family `keep` (the
/// browser that changed it, if any).
pub fn set_password(
    c: &Connection,
    username: &str,
    phc: &str,
    keep: Option<&str>,
) -> Result<(), UserError> {
    let user = by_name(c, username)?.ok_or_else(|| UserError::Unknown(username.into()))?;
    c.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![user.id, phc],
    )?;
    super::sessions::revoke_all_but(c, &user.id, keep)?;
    Ok(())
}

/// Disables the account and revokes its sessions; its API tokens stop resolving.
pub fn disable(c: &Connection, username: &str) -> Result<(), UserError> {
    let user = by_name(c, username)?.ok_or_else(|| UserError::Unknown(username.into()))?;
    c.execute(
        "UPDATE users SET disabled_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE id = ?1 AND disabled_at IS NULL",
        [&user.id],
    )?;
    super::sessions::revoke_all(c, &user.id)?;
    Ok(())
}

/// Removes the user, their tokens (cascade) and their sessions.
pub fn remove(c: &Connection, username: &str) -> Result<(), UserError> {
    let user = by_name(c, username)?.ok_or_else(|| UserError::Unknown(username.into()))?;
    c.execute("DELETE FROM sessions WHERE user_id = ?1", [&user.id])?;
    c.execute("DELETE FROM users WHERE id = ?1", [&user.id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::accounts::test_db()
    }

    fn new(name: &str) -> NewUser<'_> {
        NewUser {
            id: None,
            username: name,
            role: Role::User,
            password_hash: None,
            created_at: None,
        }
    }

    #[test]
    fn usernames_are_unique_case_insensitively() {
        let c = db();
        add(&c, new("Ada")).unwrap();
        assert!(matches!(add(&c, new("ada")), Err(UserError::Exists(_))));
        assert_eq!(by_name(&c, "ADA").unwrap().unwrap().username, "Ada");
        assert!(matches!(add(&c, new("a b")), Err(UserError::BadName(_))));
    }

    #[test]
    fn disable_and_remove() {
        let c = db();
        add(&c, new("bob")).unwrap();
        disable(&c, "bob").unwrap();
        assert!(!by_name(&c, "bob").unwrap().unwrap().is_active());
        remove(&c, "bob").unwrap();
        assert!(by_name(&c, "bob").unwrap().is_none());
        assert!(matches!(remove(&c, "bob"), Err(UserError::Unknown(_))));
    }
}
