//! `AUTH_PROVIDER=jwt` (alias `supabase`): bearer JWTs from an external issuer, validated
//! locally by an HS256 secret or by a JWKS fetched over HTTPS, with issuer and audience checks.
//! Keys are cached and refetched when a token names an unknown `kid`; validated tokens are
//! cached briefly so a busy client does not cost a signature check per request.
//!
//! External subjects are not local users: an identity's `user_id` is `jwt:<iss>#<sub>`, so no
//! issuer's token can act as a local account (the server token's user "1", say).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::request::Parts;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use platform_middleware::auth::{AuthMethod, Authenticate, Check, Identity, Role};
use platform_middleware::body::BoxError;
use serde::Deserialize;

use super::api_tokens::sha256_hex;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

#[derive(Clone, Debug, Default)]
pub struct JwtSettings {
    pub secret: Option<String>,
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub cache_ttl: Duration,
    pub cache_max: usize,
    /// An unknown `kid` refetches the JWKS at most once per this interval
    /// (`JWKS_REFRESH_MIN_INTERVAL`).
    pub refresh_min_interval: Duration,
}

#[derive(Deserialize)]
struct ExternalClaims {
    sub: String,
    #[serde(default)]
    iss: Option<String>,
    exp: i64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    app_metadata: Option<serde_json::Value>,
}

impl ExternalClaims {
    /// Admin only when the issuer says so explicitly (`role` or `app_metadata.role`); Supabase's
    /// own `role: authenticated` is an ordinary user.
    fn role(&self) -> Role {
        let app = self
            .app_metadata
            .as_ref()
            .and_then(|m| m.get("role"))
            .and_then(|r| r.as_str());
        if self.role.as_deref() == Some("admin") || app == Some("admin") {
            Role::Admin
        } else {
            Role::User
        }
    }

    fn identity(&self) -> Identity {
        Identity {
            user_id: format!("jwt:{}#{}", self.iss.as_deref().unwrap_or(""), self.sub),
            username: self
                .email
                .clone()
                .or_else(|| self.preferred_username.clone()),
            role: self.role(),
            method: AuthMethod::Jwt,
        }
    }
}

/// The key set and its refetches. Readers take the current set without waiting: the lock
/// guards a pointer swap, never a fetch. Fetches run one at a time under `fetching`.
struct Jwks {
    set: std::sync::RwLock<Arc<JwkSet>>,
    /// Held for the length of a fetch; holds when the last one ended, so that requests which
    /// waited on it see it as recent and do not fetch again.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    fn current(&self) -> Arc<JwkSet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn replace(&self, set: JwkSet) {
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
    }
}

/// The provider; cloning shares the key set and the cache.
#[derive(Clone)]
pub struct ExternalJwt(Arc<Verifier>);

struct Verifier {
    settings: JwtSettings,
    http: reqwest::Client,
    jwks: Jwks,
    cache: Mutex<HashMap<String, (Identity, Instant)>>,
}

impl ExternalJwt {
    pub fn new(settings: JwtSettings) -> Result<Self, BoxError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(ExternalJwt(Arc::new(Verifier {
            settings,
            http,
            jwks: Jwks {
                set: std::sync::RwLock::new(Arc::new(JwkSet { keys: Vec::new() })),
                fetching: tokio::sync::Mutex::new(None),
            },
            cache: Mutex::new(HashMap::new()),
        })))
    }

    /// The identity of a valid token, `None` for one that is not (or not ours).
    pub async fn validate(&self, token: &str) -> Result<Option<Identity>, BoxError> {
        self.0.validate(token).await
    }
}

impl Verifier {
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "sub"]);
        match &self.settings.audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        if let Some(iss) = &self.settings.issuer {
            v.set_issuer(&[iss]);
        }
        v
    }

    /// The verification key for this header, or `None` when the token cannot be ours. HMAC
    /// tokens only ever meet the shared secret and asymmetric ones only JWKS keys, which is
    /// what rules out HS/RS confusion.
    async fn key_for(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Option<DecodingKey>, BoxError> {
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Ok(self
                .settings
                .secret
                .as_ref()
                .map(|s| DecodingKey::from_secret(s.as_bytes())));
        }
        if self.settings.jwks_url.is_none() {
            return Ok(None);
        }
        if let Some(key) = self.find(alg, kid).await {
            return Ok(Some(key));
        }
        self.refetch(alg, kid).await;
        Ok(self.find(alg, kid).await)
    }

    async fn find(&self, alg: Algorithm, kid: Option<&str>) -> Option<DecodingKey> {
        find_in(&self.jwks.current(), alg, kid)
    }

    /// Fetches the JWKS again: one fetch at a time (a request arriving meanwhile waits for it and
    /// looks again), and at most one per `refresh_min_interval`, so junk `kid`s can neither
    /// hammer the issuer nor spend a budget that a genuinely rotated key then lacks.
    async fn refetch(&self, alg: Algorithm, kid: Option<&str>) {
        let Some(url) = &self.settings.jwks_url else {
            return;
        };
        let mut last = self.jwks.fetching.lock().await;
        let recent = last.is_some_and(|t| t.elapsed() < self.settings.refresh_min_interval);
        if recent || find_in(&self.jwks.current(), alg, kid).is_some() {
            return;
        }
        let fetched = async {
            self.http
                .get(url)
                .send()
                .await?
                .error_for_status()?
                .json::<JwkSet>()
                .await
        }
        .await;
        *last = Some(Instant::now());
        match fetched {
            Ok(set) => self.jwks.replace(set),
            // The issuer being down must not turn every request into a 500: keep the keys we
            // have, and let tokens under unknown keys be refused.
            Err(error) => tracing::warn!(%error, url, "cannot fetch the JWKS"),
        }
    }

    fn cached(&self, digest: &str) -> Option<Identity> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(digest)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(id, _)| id.clone())
    }

    fn remember(&self, digest: String, identity: &Identity, exp: i64) {
        if self.settings.cache_max == 0 || self.settings.cache_ttl.is_zero() {
            return;
        }
        let left = (exp - super::sessions::now()).max(0) as u64;
        let until = Instant::now() + self.settings.cache_ttl.min(Duration::from_secs(left));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= self.settings.cache_max {
            let now = Instant::now();
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= self.settings.cache_max {
                cache.clear();
            }
        }
        cache.insert(digest, (identity.clone(), until));
    }

    pub async fn validate(&self, token: &str) -> Result<Option<Identity>, BoxError> {
        let digest = sha256_hex(token);
        if let Some(identity) = self.cached(&digest) {
            return Ok(Some(identity));
        }
        // `alg: none` and unknown algorithms fail to parse here.
        let Ok(header) = decode_header(token) else {
            return Ok(None);
        };
        let Some(key) = self.key_for(header.alg, header.kid.as_deref()).await? else {
            return Ok(None);
        };
        let Ok(data) = decode::<ExternalClaims>(token, &key, &self.validation(header.alg)) else {
            return Ok(None);
        };
        let identity = data.claims.identity();
        self.remember(digest, &identity, data.claims.exp);
        Ok(Some(identity))
    }
}

/// The key in `set` for this `kid` whose algorithm (when it names one) is `alg`.
fn find_in(set: &JwkSet, alg: Algorithm, kid: Option<&str>) -> Option<DecodingKey> {
    let jwk = set.keys.iter().find(|k| {
        let kid_ok = kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid));
        let alg_ok = k
            .common
            .key_algorithm
            .is_none_or(|a| a.to_string() == format!("{alg:?}"));
        kid_ok && alg_ok
    })?;
    DecodingKey::from_jwk(jwk).ok()
}

/// A token seen before answers at once from the cache; others are verified (fetching keys
/// when needed) after the call returns.
impl Authenticate for ExternalJwt {
    fn bearer(&self, token: &str, _req: &Parts) -> Check {
        if let Some(identity) = self.0.cached(&sha256_hex(token)) {
            return Check::Ready(Ok(Some(identity.into())));
        }
        let (this, token) = (self.clone(), token.to_owned());
        Check::later(async move { Ok(this.validate(&token).await?.map(Into::into)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn provider(aud: Option<&str>) -> ExternalJwt {
        ExternalJwt::new(JwtSettings {
            secret: Some("s3cret-s3cret-s3cret-s3cret-s3cret".into()),
            issuer: Some("https://issuer.example/auth/v1".into()),
            audience: aud.map(Into::into),
            cache_ttl: Duration::from_secs(60),
            cache_max: 10,
            ..Default::default()
        })
        .unwrap()
    }

    fn token(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn claims(exp_in: i64) -> serde_json::Value {
        let now = super::super::sessions::now();
        json!({"sub": "u-1", "email": "a@example.com", "role": "authenticated",
               "aud": "authenticated", "iss": "https://issuer.example/auth/v1",
               "iat": now, "exp": now + exp_in})
    }

    #[tokio::test]
    async fn good_hs256_tokens_pass_and_are_cached() {
        let p = provider(Some("authenticated"));
        let t = token(claims(600), "s3cret-s3cret-s3cret-s3cret-s3cret");
        let id = p.validate(&t).await.unwrap().unwrap();
        assert_eq!(
            (id.user_id.as_str(), id.role, id.method),
            (
                "jwt:https://issuer.example/auth/v1#u-1",
                Role::User,
                AuthMethod::Jwt
            )
        );
        assert_eq!(id.username.as_deref(), Some("a@example.com"));
        assert!(p.0.cached(&sha256_hex(&t)).is_some());
    }

    #[tokio::test]
    async fn bad_tokens_are_refused() {
        let p = provider(Some("authenticated"));
        let secret = "s3cret-s3cret-s3cret-s3cret-s3cret";
        let mut wrong_aud = claims(600);
        wrong_aud["aud"] = json!("someone-else");
        let mut wrong_iss = claims(600);
        wrong_iss["iss"] = json!("https://evil.example");
        let mut future = claims(600);
        future["nbf"] = json!(super::super::sessions::now() + 3600);
        let none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                claims(600).to_string()
            )
        );
        for (name, t) in [
            ("expired", token(claims(-3600), secret)),
            (
                "wrong secret",
                token(claims(600), "another-secret-another-secret"),
            ),
            ("wrong audience", token(wrong_aud, secret)),
            ("wrong issuer", token(wrong_iss, secret)),
            ("not yet valid", token(future, secret)),
            ("alg none", none),
            ("garbage", "abc".into()),
        ] {
            assert!(p.validate(&t).await.unwrap().is_none(), "{name}");
        }
    }
}
