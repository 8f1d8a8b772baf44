//! Deployment settings: the metrics listener and direct TLS.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{resolve_all, ConfigError, Env};

/// `METRICS_LISTEN` when unset.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9102";

/// PEM files for serving HTTPS directly (hosts without a proxy in front).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA bundle that client certificates must chain to; `None` serves without mutual TLS.
    pub client_ca: Option<PathBuf>,
}

/// `METRICS_LISTEN`: an address, or `off`.
pub fn metrics_listen(env: &Env<'_>) -> Result<Option<SocketAddr>, ConfigError> {
    let value = env
        .get("METRICS_LISTEN")
        .unwrap_or_else(|| DEFAULT_METRICS_LISTEN.into());
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    Ok(
        resolve_all("METRICS_LISTEN", std::iter::once(value.as_str()))?
            .into_iter()
            .next(),
    )
}

/// `TLS_CERT` and `TLS_KEY` together, optionally `TLS_CLIENT_CA`; one without the other is an
/// error rather than a silent fall-back to plain HTTP.
pub fn tls(env: &Env<'_>) -> Result<Option<TlsFiles>, ConfigError> {
    let cert = env.get("TLS_CERT");
    let key = env.get("TLS_KEY");
    let client_ca = env.get("TLS_CLIENT_CA").map(PathBuf::from);
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
            client_ca,
        })),
        (None, None) if client_ca.is_none() => Ok(None),
        (None, None) => Err(ConfigError::Refused(
            "TLS_CLIENT_CA is set but TLS_CERT and TLS_KEY are not; mutual TLS needs both".into(),
        )),
        (Some(_), None) => Err(ConfigError::Refused(
            "TLS_CERT is set but TLS_KEY is not; set both to serve HTTPS".into(),
        )),
        (None, Some(_)) => Err(ConfigError::Refused(
            "TLS_KEY is set but TLS_CERT is not; set both to serve HTTPS".into(),
        )),
    }
}
