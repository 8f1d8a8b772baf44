//! Password hashing with argon2id. Hashing is CPU heavy (tens of milliseconds by design): call
//! these from a blocking thread (`ctx.db` or `spawn_blocking`), never on an async worker.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};

/// Shortest password accepted when one is set or changed.
pub const MIN_LENGTH: usize = 8;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// A PHC string (`$argon2id$v=19$...`) for `password`, with a fresh salt.
pub fn hash(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches `phc`. A malformed stored hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Verifies against a throwaway hash so that a login for an unknown user (or one without a
/// password) costs the same time as a real one and cannot be told apart by timing.
/// The hash is a constant with the default parameters, so even the first such login costs
/// exactly what a real one does (no lazy hashing on first use).
pub fn verify_dummy(password: &str) {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$8zD0r6lbGHON2MEqTzfwpg$Je5E+FCkRF3tQUvR8nAfdxWeydVuuJ/K7YhgoaPjfA8";
    let _ = verify(password, DUMMY);
}

/// Why a new password is refused, or `None` when it is acceptable.
pub fn weakness(password: &str) -> Option<String> {
    (password.chars().count() < MIN_LENGTH)
        .then(|| format!("Password must be at least {MIN_LENGTH} characters"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify("correct horse", &a));
        assert!(!verify("wrong horse", &a));
        assert!(!verify("correct horse", "not a hash"));
        // The dummy must be a real argon2id hash with today's parameters, or unknown users
        // would answer faster than known ones.
        // Fastest of three, so a busy machine does not make this flaky.
        let fastest = |f: &dyn Fn()| {
            (0..3)
                .map(|_| {
                    let start = std::time::Instant::now();
                    f();
                    start.elapsed()
                })
                .min()
                .unwrap_or_default()
        };
        let dummy = fastest(&|| verify_dummy("x"));
        let real = fastest(&|| {
            verify("x", &a);
        });
        assert!(
            dummy * 2 > real && real * 2 > dummy,
            "{dummy:?} vs {real:?}"
        );
    }

    #[test]
    fn short_passwords_are_weak() {
        assert!(weakness("short").is_some());
        assert!(weakness("long enough").is_none());
    }
}
