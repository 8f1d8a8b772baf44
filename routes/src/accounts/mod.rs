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
use platform_middleware::blocking::Threads;
use sessions::Sessions;

/// What the auth and app route sets and the session provider share.
pub struct Accounts {
    pub sessions: Sessions,
    pub cookies: CookiePolicy,
    pub lockout: Lockout,
    /// Where password hashes are computed: a few dedicated threads (one per core), so a burst
    /// of logins queues instead of multiplying argon2's 19 MiB working memory across the
    /// blocking pool.
    pub hashes: Threads,
}

/// Accounts with a fresh key in `dir` and default settings, for unit tests of other modules.
#[cfg(test)]
pub(crate) fn test_accounts(dir: &std::path::Path) -> Accounts {
    let ttl = std::time::Duration::from_secs(3600);
    Accounts {
        sessions: Sessions::new(keys::load(&dir.join("signing_key.pem")).unwrap(), ttl),
        cookies: CookiePolicy {
            max_age: ttl,
            ..Default::default()
        },
        lockout: Lockout::default(),
        hashes: Threads::start("argon2", 1).unwrap(),
    }
}

#[cfg(test)]
pub(crate) fn test_db() -> rusqlite::Connection {
    let mut c = rusqlite::Connection::open_in_memory().unwrap();
    crate::store::migrations().to_latest(&mut c).unwrap();
    c
}
