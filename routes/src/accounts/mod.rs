//! Accounts: users, password hashes, browser sessions (the `platform_token` cookie), per-user
//! API tokens, external JWTs and the failed-login lockout, plus the auth providers built on them.

pub mod api_tokens;
pub mod cookies;
pub mod jwt_provider;
pub mod keys;
pub mod lockout;
pub mod passwords;
pub mod providers;
pub mod return_to;
pub mod sessions;
pub mod users;

use cookies::CookiePolicy;
use lockout::Lockout;
use sessions::Sessions;

/// What the auth and app route sets and the session provider share.
pub struct Accounts {
    pub sessions: Sessions,
    pub cookies: CookiePolicy,
    pub lockout: Lockout,
}

#[cfg(test)]
pub(crate) fn test_db() -> rusqlite::Connection {
    let mut c = rusqlite::Connection::open_in_memory().unwrap();
    crate::store::migrations().to_latest(&mut c).unwrap();
    c
}
