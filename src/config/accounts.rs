//! Settings of accounts and sessions: the session cookie, the signing key, and the external JWT
//! issuer of `AUTH_PROVIDER=jwt`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{duration, AuthProvider, ConfigError, Env};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountsConfig {
    /// `COOKIE_DOMAIN`: the cookie's `Domain` (not applied to localhost requests).
    pub cookie_domain: Option<String>,
    /// `SESSION_TTL`: session lifetime and cookie `Max-Age` (default 24h).
    pub session_ttl: Duration,
    /// `SIGNING_KEY_PATH`: session signing key (default DATA_DIR/signing_key.pem).
    pub signing_key_path: PathBuf,
    pub jwt_secret: Option<String>,
    /// `JWT_JWKS_URL`, or `${SUPABASE_URL}/auth/v1/.well-known/jwks.json`.
    pub jwt_jwks_url: Option<String>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// `AUTH_CACHE_TTL`: how long a validated external JWT is trusted without re-checking.
    pub auth_cache_ttl: Duration,
    /// `AUTH_CACHE_MAX`: validated tokens remembered at once.
    pub auth_cache_max: usize,
    /// `JWKS_REFRESH_MIN_INTERVAL`: the least time between two JWKS fetches for unknown `kid`s.
    pub jwks_refresh_min_interval: Duration,
}

fn jwks_url(env: &Env<'_>) -> Result<Option<String>, ConfigError> {
    let url = env
        .get("JWT_JWKS_URL")
        .map(|u| ("JWT_JWKS_URL", u))
        .or_else(|| {
            env.get("SUPABASE_URL").map(|base| {
                let base = base.trim_end_matches('/');
                (
                    "SUPABASE_URL",
                    format!("{base}/auth/v1/.well-known/jwks.json"),
                )
            })
        });
    let Some((var, url)) = url else {
        return Ok(None);
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ConfigError::invalid(var, &url, "expected an http(s) URL"));
    }
    Ok(Some(url))
}

pub fn load(
    env: &Env<'_>,
    data_dir: &Path,
    auth: AuthProvider,
) -> Result<AccountsConfig, ConfigError> {
    let cookie_domain = env.get("COOKIE_DOMAIN");
    if let Some(d) = &cookie_domain {
        if d.contains([';', ',', ' ', '/']) {
            return Err(ConfigError::invalid(
                "COOKIE_DOMAIN",
                d,
                "expected a domain such as example.com",
            ));
        }
    }
    let session_ttl = duration(env, "SESSION_TTL", Duration::from_secs(24 * 3600))?;
    if session_ttl < Duration::from_secs(1) {
        return Err(ConfigError::invalid(
            "SESSION_TTL",
            &env.get("SESSION_TTL").unwrap_or_default(),
            "expected at least 1s",
        ));
    }
    let config = AccountsConfig {
        cookie_domain,
        session_ttl,
        signing_key_path: env
            .get("SIGNING_KEY_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("signing_key.pem")),
        jwt_secret: env.get("JWT_SECRET"),
        jwt_jwks_url: jwks_url(env)?,
        jwt_issuer: env.get("JWT_ISSUER"),
        jwt_audience: env.get("JWT_AUDIENCE"),
        auth_cache_ttl: duration(env, "AUTH_CACHE_TTL", Duration::from_secs(60))?,
        auth_cache_max: env
            .parse("AUTH_CACHE_MAX", "expected a number of entries")?
            .unwrap_or(10_000),
        jwks_refresh_min_interval: duration(
            env,
            "JWKS_REFRESH_MIN_INTERVAL",
            Duration::from_secs(10),
        )?,
    };
    if auth == AuthProvider::Jwt && config.jwt_secret.is_none() && config.jwt_jwks_url.is_none() {
        return Err(ConfigError::Refused(
            "AUTH_PROVIDER=jwt requires JWT_SECRET (HS256) or a JWKS URL (JWT_JWKS_URL or SUPABASE_URL)"
                .into(),
        ));
    }
    Ok(config)
}
