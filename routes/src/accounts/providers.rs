//! Auth providers backed by the store: the session cookie (ambient) and per-user API tokens
//! (bearer). Both do their SQLite work on a blocking thread.

use std::sync::Arc;

use http::request::Parts;
use platform_middleware::auth::{AuthMethod, Authenticate, Authenticated, Check, Identity};
use platform_middleware::body::BoxError;
use platform_middleware::client::client_of;
use platform_middleware::scope::Pool;

use super::users::{self, User};
use super::{api_tokens, cookies, sessions, Accounts};
use crate::store::Db;

pub fn identity(user: &User, method: AuthMethod) -> Identity {
    Identity {
        user_id: user.id.clone(),
        username: Some(user.username.clone()),
        role: user.role,
        method,
    }
}

async fn blocking<T, F>(db: &Arc<Db>, f: F) -> Result<T, BoxError>
where
    F: FnOnce(&rusqlite::Connection) -> Result<T, BoxError> + Send + 'static,
    T: Send + 'static,
{
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let conn = db.get()?;
        f(&conn)
    })
    .await?
}

/// The `platform_token` cookie: a signed session whose `jti` is live and whose user is active.
/// A session past half its life is replaced by a new one through `Set-Cookie`.
pub struct SessionCookie {
    pub db: Arc<Db>,
    pub accounts: Arc<Accounts>,
}

impl Authenticate for SessionCookie {
    fn bearer(&self, _token: &str, _req: &Parts) -> Check {
        Check::Ready(Ok(None))
    }

    /// Without a validly signed cookie this answers at once; the session is looked up only for
    /// one that is.
    fn ambient(&self, req: &Parts) -> Check {
        let Some(claims) = cookies::read(req).and_then(|t| self.accounts.sessions.verify(t)) else {
            return Check::Ready(Ok(None));
        };
        let client = client_of(&req.extensions);
        let (db, accounts) = (self.db.clone(), self.accounts.clone());
        Check::later(async move {
            let renewing = accounts.clone();
            let found = blocking(&db, move |c| {
                if !sessions::is_live(c, &claims.jti)? {
                    return Ok(None);
                }
                let Some(user) = users::by_id(c, &claims.sub)?.filter(User::is_active) else {
                    return Ok(None);
                };
                let renewed = if renewing.sessions.needs_renewal(&claims) {
                    renewing.sessions.renew(c, &user, &claims)?
                } else {
                    None
                };
                Ok(Some((user, renewed)))
            })
            .await?;
            let Some((user, renewed)) = found else {
                return Ok(None);
            };
            Ok(Some(Authenticated {
                identity: identity(&user, AuthMethod::Cookie),
                set_cookie: renewed.and_then(|t| accounts.cookies.set(&t, &client)),
            }))
        })
    }
}

/// `Authorization: Bearer <api token>` of an active user (AUTH_PROVIDER=multi_user).
pub struct ApiTokens {
    pub db: Arc<Db>,
}

impl Authenticate for ApiTokens {
    fn bearer(&self, token: &str, _req: &Parts) -> Check {
        let (db, token) = (self.db.clone(), token.to_owned());
        Check::later(async move {
            let user = blocking(&db, move |c| Ok(api_tokens::resolve(c, &token)?)).await?;
            Ok(user.map(|u| identity(&u, AuthMethod::Token).into()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::cookies::CookiePolicy;
    use crate::accounts::lockout::Lockout;
    use crate::accounts::sessions::Sessions;
    use crate::accounts::users::NewUser;
    use platform_middleware::auth::Role;
    use std::time::Duration;

    async fn setup(ttl: u64) -> (tempfile::TempDir, SessionCookie, String) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(crate::store::open(&dir.path().join("p.db")).unwrap());
        let keys = super::super::keys::load(&dir.path().join("k.pem")).unwrap();
        let accounts = Arc::new(Accounts {
            sessions: Sessions::new(keys, Duration::from_secs(ttl)),
            cookies: CookiePolicy {
                max_age: Duration::from_secs(ttl),
                ..Default::default()
            },
            lockout: Lockout::default(),
            hashes: platform_middleware::blocking::Threads::start("argon2", 1).unwrap(),
        });
        let conn = db.get().unwrap();
        let user = users::add(
            &conn,
            NewUser {
                id: None,
                username: "ada",
                role: Role::User,
                password_hash: None,
                created_at: None,
            },
        )
        .unwrap();
        let (token, _) = accounts.sessions.issue(&conn, &user).unwrap();
        drop(conn);
        (dir, SessionCookie { db, accounts }, token)
    }

    fn request(token: &str) -> Parts {
        http::Request::get("/api/me")
            .header("cookie", format!("{}={token}", cookies::NAME))
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[tokio::test]
    async fn fresh_sessions_resolve_without_renewal() {
        let (_dir, provider, token) = setup(3600).await;
        let found = provider.ambient(&request(&token)).await.unwrap().unwrap();
        assert_eq!(found.identity.method, AuthMethod::Cookie);
        assert_eq!(found.identity.username.as_deref(), Some("ada"));
        assert!(found.set_cookie.is_none());
        assert!(provider
            .ambient(&request("forged"))
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn sessions_past_half_life_are_renewed_and_disabled_users_refused() {
        let (_dir, provider, token) = setup(4).await;
        // Issued in second t, checked in t+2 or t+3: past half of 4 s, not yet expired.
        tokio::time::sleep(Duration::from_millis(2050)).await;
        let found = provider.ambient(&request(&token)).await.unwrap().unwrap();
        let renewed = found.set_cookie.unwrap();
        assert!(renewed.to_str().unwrap().starts_with("platform_token=ey"));
        let conn = provider.db.get().unwrap();
        users::disable(&conn, "ada").unwrap();
        drop(conn);
        assert!(provider.ambient(&request(&token)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn expired_sessions_are_refused() {
        let (_dir, provider, token) = setup(1).await;
        tokio::time::sleep(Duration::from_millis(2050)).await;
        assert!(provider.ambient(&request(&token)).await.unwrap().is_none());
    }
}
