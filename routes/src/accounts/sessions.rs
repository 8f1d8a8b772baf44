//! Browser sessions: JWTs signed with the server's key, recorded by `jti` so that logout (and
//! disabling a user) revokes them server-side.

use std::time::Duration;

use jsonwebtoken::{decode, decode_header, encode, Header, Validation};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::keys::KeySet;
use super::users::User;

/// `iss` and `aud` of the sessions this server issues.
pub const ISSUER: &str = "platform-server";
pub const AUDIENCE: &str = "platform-server";
/// No clock skew to allow for: this server both issues and checks its sessions, so `exp` is
/// exact (a session expires when its cookie's `Max-Age` runs out).
const LEEWAY_SECS: u64 = 0;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub name: String,
    pub role: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

pub struct Sessions {
    keys: KeySet,
    ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session signing failed: {0}")]
    Sign(String),
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Sessions {
    pub fn new(keys: KeySet, ttl: Duration) -> Self {
        Sessions { keys, ttl }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Signs a new session for `user` and records it. Blocking (writes the sessions table).
    pub fn issue(&self, c: &Connection, user: &User) -> Result<(String, Claims), SessionError> {
        let iat = now();
        let claims = Claims {
            sub: user.id.clone(),
            name: user.username.clone(),
            role: user.role.as_str().into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat,
            exp: iat + self.ttl.as_secs() as i64,
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let key = &self.keys.current;
        let encoding = key
            .encoding
            .as_ref()
            .ok_or_else(|| SessionError::Sign("the current key cannot sign".into()))?;
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        let token =
            encode(&header, &claims, encoding).map_err(|e| SessionError::Sign(e.to_string()))?;
        c.execute(
            "INSERT INTO sessions (jti, user_id, expires_at) VALUES (?1, ?2, ?3)",
            params![claims.jti, claims.sub, claims.exp],
        )?;
        // Expired rows are useless; dropping them here keeps the table small without a timer.
        c.execute("DELETE FROM sessions WHERE expires_at < ?1", [iat])?;
        Ok((token, claims))
    }

    /// The claims of a well-signed, unexpired session token of ours; `None` for anything else.
    /// Does not consult the database (see [`is_live`]).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let header = decode_header(token).ok()?;
        let key = self.keys.find(header.kid.as_deref()?)?;
        if header.alg != key.alg {
            return None;
        }
        let mut v = Validation::new(key.alg);
        v.set_audience(&[AUDIENCE]);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "iat", "sub", "aud", "iss"]);
        v.leeway = LEEWAY_SECS;
        decode::<Claims>(token, &key.decoding, &v)
            .ok()
            .map(|d| d.claims)
    }

    /// Whether a session past half its life should be replaced by a fresh one.
    pub fn needs_renewal(&self, claims: &Claims) -> bool {
        now() >= claims.iat + (self.ttl.as_secs() / 2) as i64
    }
}

/// Whether the session `jti` exists, is not revoked and has not expired.
pub fn is_live(c: &Connection, jti: &str) -> rusqlite::Result<bool> {
    let row: Option<(i64, Option<i64>)> = c
        .query_row(
            "SELECT expires_at, revoked_at FROM sessions WHERE jti = ?1",
            [jti],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(matches!(row, Some((exp, None)) if exp > now()))
}

pub fn revoke(c: &Connection, jti: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE sessions SET revoked_at = ?2 WHERE jti = ?1 AND revoked_at IS NULL",
        params![jti, now()],
    )?;
    Ok(())
}

pub fn revoke_all(c: &Connection, user_id: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user_id, now()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::users::{add, NewUser};
    use platform_middleware::auth::Role;

    fn setup(ttl: u64) -> (tempfile::TempDir, Sessions, Connection, User) {
        let dir = tempfile::tempdir().unwrap();
        let keys = crate::accounts::keys::load(&dir.path().join("k.pem")).unwrap();
        let c = crate::accounts::test_db();
        let user = add(
            &c,
            NewUser {
                id: None,
                username: "ada",
                role: Role::Admin,
                password_hash: None,
                created_at: None,
            },
        )
        .unwrap();
        (dir, Sessions::new(keys, Duration::from_secs(ttl)), c, user)
    }

    #[test]
    fn issue_verify_revoke() {
        let (_dir, s, c, user) = setup(3600);
        let (token, claims) = s.issue(&c, &user).unwrap();
        assert_eq!(s.verify(&token), Some(claims.clone()));
        assert_eq!(
            (claims.name.as_str(), claims.role.as_str()),
            ("ada", "admin")
        );
        assert!(is_live(&c, &claims.jti).unwrap());
        assert!(!s.needs_renewal(&claims));
        revoke(&c, &claims.jti).unwrap();
        assert!(!is_live(&c, &claims.jti).unwrap());
    }

    #[test]
    fn tampered_and_foreign_tokens_fail() {
        let (_dir, s, c, user) = setup(3600);
        let (token, _) = s.issue(&c, &user).unwrap();
        let mut bad = token.clone();
        bad.pop();
        bad.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(s.verify(&bad).is_none());
        let (_d2, other, c2, u2) = setup(3600);
        let (foreign, _) = other.issue(&c2, &u2).unwrap();
        assert!(s.verify(&foreign).is_none());
        assert!(s.verify("not.a.jwt").is_none());
    }

    #[test]
    fn sessions_past_half_their_life_need_renewal() {
        let (_dir, s, c, user) = setup(3600);
        let (_, mut claims) = s.issue(&c, &user).unwrap();
        claims.iat -= 1799;
        assert!(!s.needs_renewal(&claims));
        claims.iat -= 1;
        assert!(s.needs_renewal(&claims));
    }
}
