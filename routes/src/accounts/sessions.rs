//! Browser sessions: JWTs signed with the server's key, recorded by `jti` so that logout (and
//! disabling a user) revokes them server-side. A session renewed past half its life hands its
//! family on to the new one; revocation is by family, so a copy of the cookie taken before a
//! renewal dies with the one logged out.

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

    /// Signs a new session (a new family) for `user` and records it. Blocking.
    pub fn issue(&self, c: &Connection, user: &User) -> Result<(String, Claims), SessionError> {
        self.issue_in(c, user, None)
    }

    /// Replaces the live session `claims` (past half its life) with a new one of the same
    /// family, once: a session already renewed, or no longer live, gets nothing. Blocking.
    pub fn renew(
        &self,
        c: &Connection,
        user: &User,
        claims: &Claims,
    ) -> Result<Option<String>, SessionError> {
        let tx = c.unchecked_transaction()?;
        let family: Option<String> = tx
            .query_row(
                "UPDATE sessions SET renewed_at = ?2
                 WHERE jti = ?1 AND renewed_at IS NULL AND revoked_at IS NULL
                 RETURNING family",
                params![claims.jti, now()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(family) = family else {
            return Ok(None);
        };
        let (token, _) = self.issue_in(&tx, user, Some(&family))?;
        tx.commit()?;
        Ok(Some(token))
    }

    fn issue_in(
        &self,
        c: &Connection,
        user: &User,
        family: Option<&str>,
    ) -> Result<(String, Claims), SessionError> {
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
            "INSERT INTO sessions (jti, user_id, expires_at, family) VALUES (?1, ?2, ?3, ?4)",
            params![
                claims.jti,
                claims.sub,
                claims.exp,
                family.unwrap_or(&claims.jti)
            ],
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

/// The family of session `jti`, if it is recorded.
pub fn family_of(c: &Connection, jti: &str) -> rusqlite::Result<Option<String>> {
    c.query_row("SELECT family FROM sessions WHERE jti = ?1", [jti], |r| {
        r.get(0)
    })
    .optional()
}

/// Revokes session `jti` with every session of its family, earlier and later.
pub fn revoke(c: &Connection, jti: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE sessions SET revoked_at = ?2
         WHERE family = (SELECT family FROM sessions WHERE jti = ?1) AND revoked_at IS NULL",
        params![jti, now()],
    )?;
    Ok(())
}

pub fn revoke_all(c: &Connection, user_id: &str) -> rusqlite::Result<()> {
    revoke_all_but(c, user_id, None)
}

/// Revokes every session of `user_id` outside the family `keep` (the one changing its
/// password, say).
pub fn revoke_all_but(c: &Connection, user_id: &str, keep: Option<&str>) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE sessions SET revoked_at = ?2
         WHERE user_id = ?1 AND revoked_at IS NULL AND family IS NOT ?3",
        params![user_id, now(), keep],
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
    fn renewal_happens_once_and_revocation_ends_the_whole_family() {
        let (_dir, s, c, user) = setup(3600);
        let (_, a) = s.issue(&c, &user).unwrap();
        let b = s.renew(&c, &user, &a).unwrap().expect("renewed");
        assert!(s.renew(&c, &user, &a).unwrap().is_none(), "renews once");
        let b = s.verify(&b).unwrap();
        assert_eq!(
            family_of(&c, &b.jti).unwrap(),
            family_of(&c, &a.jti).unwrap()
        );
        let (_, other) = s.issue(&c, &user).unwrap();
        revoke(&c, &b.jti).unwrap();
        assert!(!is_live(&c, &a.jti).unwrap(), "the earlier copy dies too");
        assert!(!is_live(&c, &b.jti).unwrap());
        assert!(is_live(&c, &other.jti).unwrap(), "another login lives on");
        assert!(
            s.renew(&c, &user, &a).unwrap().is_none(),
            "revoked: no renewal"
        );
        revoke_all_but(&c, &user.id, family_of(&c, &other.jti).unwrap().as_deref()).unwrap();
        assert!(is_live(&c, &other.jti).unwrap());
        revoke_all(&c, &user.id).unwrap();
        assert!(!is_live(&c, &other.jti).unwrap());
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
