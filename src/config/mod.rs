//! Configuration from environment variables (names kept from the services this replaces) and
//! command-line flags. Every variable is documented in docs/configuration.md.

mod accounts;
mod chat;
mod deploy;
mod env;
mod jobs;
mod limits;
mod modes;
mod storage;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use http::HeaderValue;
use ipnet::IpNet;
use platform_middleware::incoming::BodyLimits;
use platform_middleware::proxy_fix::{Hops, TrustedProxies};
use platform_middleware::rate_limit::Quotas;

pub use accounts::AccountsConfig;
pub use deploy::{TlsFiles, DEFAULT_METRICS_LISTEN};
pub use env::Env;
pub use jobs::JobsConfig;
pub use modes::{AuthProvider, Environment, LogFormat, ServerMode};
pub use storage::{StorageConfig, DEFAULT_MAX_UPLOAD_BYTES};

pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 7777;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid {var}={value:?}: {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: String,
    },
    /// A combination that must not start; the message is the whole story.
    #[error("{0}")]
    Refused(String),
}

impl ConfigError {
    pub fn invalid(var: &'static str, value: &str, expected: impl Into<String>) -> Self {
        ConfigError::Invalid {
            var,
            value: value.to_owned(),
            expected: expected.into(),
        }
    }
}

/// Flags that override the environment (`--host`, `--port`, `--listen`).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub listen: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Addresses to bind; empty when only inherited (systemd) sockets are served.
    pub listen: Vec<SocketAddr>,
    /// Whether `listen` was asked for, rather than the default (which yields to systemd sockets).
    pub listen_explicit: bool,
    pub env: Environment,
    pub mode: ServerMode,
    pub auth: AuthProvider,
    /// `SERVER_AUTH_TOKEN` or `WORKER_AUTH_TOKEN`, with the name it came from.
    pub server_token: Option<(&'static str, String)>,
    pub deployment_config: PathBuf,
    pub admin_token: Option<String>,
    pub secrets_master_key: Option<String>,
    pub data_dir: PathBuf,
    pub db_path: PathBuf,
    pub trusted_proxies: TrustedProxies,
    pub hops: Hops,
    pub rate_limits: Quotas,
    pub drain_timeout: Duration,
    pub header_read_timeout: Duration,
    /// `BODY_READ_TIMEOUT` and `BODY_MIN_RATE`.
    pub body: BodyLimits,
    pub log_format: LogFormat,
    pub cors_origins: Vec<HeaderValue>,
    /// Where `/metrics` is served; `None` with `METRICS_LISTEN=off`.
    pub metrics_listen: Option<SocketAddr>,
    /// Serve HTTPS on every listener with these files.
    pub tls: Option<TlsFiles>,
    pub accounts: AccountsConfig,
    pub storage: StorageConfig,
    pub jobs: JobsConfig,
    /// The chat provider behind `/v1` and the upstream timeouts.
    pub chat: platform_routes::chat::ChatSettings,
    /// The Hugging Face hub and cache behind `/admin/models`.
    pub hub: platform_routes::models::HubSettings,
}

impl Config {
    /// Reads the process environment.
    pub fn from_process_env(flags: &Overrides) -> Result<Config, ConfigError> {
        Self::load(flags, &|var| std::env::var(var).ok())
    }

    /// Reads variables through `lookup`, then validates the combination.
    pub fn load(
        flags: &Overrides,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let env = Env::new(lookup);
        let data_dir = PathBuf::from(env.get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let (listen, listen_explicit) = listen_addresses(&env, flags)?;
        let auth: AuthProvider = env
            .parse(
                "AUTH_PROVIDER",
                "expected none, local, static, multi_user or jwt",
            )?
            .unwrap_or_default();
        let accounts = accounts::load(&env, &data_dir, auth)?;
        let storage = storage::load(&env, &data_dir)?;
        let config = Config {
            listen,
            listen_explicit,
            env: env
                .parse("ENV", "expected development or production")?
                .unwrap_or_default(),
            mode: server_mode(&env)?,
            auth,
            server_token: env.first(&["SERVER_AUTH_TOKEN", "WORKER_AUTH_TOKEN"]),
            deployment_config: deployment_config(&env),
            admin_token: env.get("ADMIN_TOKEN"),
            secrets_master_key: env.get("SECRETS_MASTER_KEY"),
            db_path: env
                .get("DB_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("platform.db")),
            data_dir,
            trusted_proxies: trusted_proxies(&env)?,
            hops: hops(&env)?,
            rate_limits: env
                .parse(
                    "RATE_LIMITS",
                    "expected off or e.g. auth=5/minute,write=120/minute",
                )?
                .unwrap_or_default(),
            drain_timeout: duration(&env, "DRAIN_TIMEOUT", Duration::from_secs(30))?,
            header_read_timeout: duration(&env, "HEADER_READ_TIMEOUT", Duration::from_secs(30))?,
            body: limits::body(&env)?,
            log_format: env
                .parse("LOG_FORMAT", "expected text or json")?
                .unwrap_or_default(),
            cors_origins: cors_origins(&env)?,
            metrics_listen: deploy::metrics_listen(&env)?,
            tls: deploy::tls(&env)?,
            accounts,
            storage,
            jobs: jobs::load(&env)?,
            chat: chat::chat(&env)?,
            hub: chat::hub(&env)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Refuses combinations that are unsafe or meaningless (see docs/configuration.md).
    fn validate(&self) -> Result<(), ConfigError> {
        let auth = self.auth;
        match self.mode {
            ServerMode::Public if auth != AuthProvider::Jwt => {
                return Err(ConfigError::Refused(format!(
                    "SERVER_MODE=public requires AUTH_PROVIDER=jwt (got '{auth}')"
                )));
            }
            ServerMode::Private if !auth.enforces() => {
                return Err(ConfigError::Refused(format!(
                    "SERVER_MODE=private requires AUTH_PROVIDER=static, multi_user or jwt (got '{auth}')"
                )));
            }
            _ => {}
        }
        if self.env == Environment::Production {
            if self.secrets_master_key.is_none() {
                return Err(ConfigError::Refused(
                    "SECRETS_MASTER_KEY must be set when ENV=production. \
                     Generate one with: openssl rand -base64 32"
                        .into(),
                ));
            }
            if !auth.enforces() {
                return Err(ConfigError::Refused(format!(
                    "AUTH_PROVIDER={auth} is not allowed when ENV=production; \
                     use static, multi_user or jwt"
                )));
            }
        }
        Ok(())
    }

    /// Start-up warnings that do not stop the server.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.env == Environment::Production && self.admin_token.is_none() {
            out.push(
                "ADMIN_TOKEN is not set: /admin/* is protected by bearer auth only. \
                 Set ADMIN_TOKEN to require X-Admin-Token as well."
                    .into(),
            );
        }
        out
    }
}

fn server_mode(env: &Env<'_>) -> Result<ServerMode, ConfigError> {
    match env.first(&["SERVER_MODE", "NODETOOL_SERVER_MODE"]) {
        None => Ok(ServerMode::default()),
        Some((_, value)) => value.parse().map_err(ConfigError::Refused),
    }
}

fn deployment_config(env: &Env<'_>) -> PathBuf {
    if let Some(path) = env.get("DEPLOYMENT_CONFIG") {
        return PathBuf::from(path);
    }
    let home = env
        .get("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".config/platform-server/deployment.yaml")
}

/// `--listen` > `--host`/`--port` > `LISTEN` > `HOST`/`PORT`.
fn listen_addresses(
    env: &Env<'_>,
    flags: &Overrides,
) -> Result<(Vec<SocketAddr>, bool), ConfigError> {
    if !flags.listen.is_empty() {
        return Ok((
            resolve_all("--listen", flags.listen.iter().map(String::as_str))?,
            true,
        ));
    }
    if flags.host.is_none() && flags.port.is_none() {
        if let Some(list) = env.get("LISTEN") {
            let items = list.split(',').map(str::trim).filter(|s| !s.is_empty());
            return Ok((resolve_all("LISTEN", items)?, true));
        }
    }
    let host = flags.host.clone().or_else(|| env.get("HOST"));
    let port = match flags.port {
        Some(port) => Some(port),
        None => env.parse::<u16>("PORT", "expected a port number (0-65535)")?,
    };
    let explicit = host.is_some() || port.is_some();
    let host = host.unwrap_or_else(|| DEFAULT_HOST.into());
    let addr = join_host_port(&host, port.unwrap_or(DEFAULT_PORT));
    Ok((
        resolve_all("HOST", std::iter::once(addr.as_str()))?,
        explicit,
    ))
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `ip:port`, `[v6]:port` or `name:port` (resolved once, at start-up).
fn resolve_all<'a>(
    var: &'static str,
    items: impl Iterator<Item = &'a str>,
) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut out = Vec::new();
    for item in items {
        if let Ok(addr) = item.parse::<SocketAddr>() {
            out.push(addr);
            continue;
        }
        let resolved = item
            .to_socket_addrs()
            .map_err(|e| ConfigError::invalid(var, item, format!("expected HOST:PORT ({e})")))?;
        let first = resolved.into_iter().next().ok_or_else(|| {
            ConfigError::invalid(var, item, "the host name resolves to no address")
        })?;
        out.push(first);
    }
    Ok(out)
}

fn trusted_proxies(env: &Env<'_>) -> Result<TrustedProxies, ConfigError> {
    let Some(list) = env.get("TRUSTED_PROXIES") else {
        return Ok(TrustedProxies::loopback());
    };
    let mut nets = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let net = IpNet::from_str(item)
            .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| {
                ConfigError::invalid(
                    "TRUSTED_PROXIES",
                    item,
                    "expected a CIDR list such as 127.0.0.1/32,10.0.0.0/8",
                )
            })?;
        nets.push(net);
    }
    Ok(TrustedProxies::new(nets))
}

fn hops(env: &Env<'_>) -> Result<Hops, ConfigError> {
    let d = Hops::default();
    let n = |var: &'static str, default: usize| -> Result<usize, ConfigError> {
        Ok(env
            .parse(
                var,
                "expected the number of proxies that set the header (0 to ignore it)",
            )?
            .unwrap_or(default))
    };
    Ok(Hops {
        x_for: n("PROXY_FIX_X_FOR", d.x_for)?,
        x_proto: n("PROXY_FIX_X_PROTO", d.x_proto)?,
        x_host: n("PROXY_FIX_X_HOST", d.x_host)?,
        x_port: n("PROXY_FIX_X_PORT", d.x_port)?,
        x_prefix: n("PROXY_FIX_X_PREFIX", d.x_prefix)?,
    })
}

/// `30s`, `2m`, `1h 30m`, or a plain number of seconds.
pub fn parse_duration(var: &'static str, value: &str) -> Result<Duration, ConfigError> {
    if let Ok(secs) = value.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(value).map_err(|e| {
        ConfigError::invalid(
            var,
            value,
            format!("expected a duration such as 30s or 2m: {e}"),
        )
    })
}

fn duration(env: &Env<'_>, var: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    env.get(var)
        .map_or(Ok(default), |v| parse_duration(var, &v))
}

fn cors_origins(env: &Env<'_>) -> Result<Vec<HeaderValue>, ConfigError> {
    let Some(list) = env.get("CORS_ORIGINS") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for origin in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if origin == "*" {
            return Err(ConfigError::invalid(
                "CORS_ORIGINS",
                origin,
                "'*' is refused because the API accepts credentials; list the origins explicitly",
            ));
        }
        let uri: http::Uri = origin.parse().map_err(|_| {
            ConfigError::invalid(
                "CORS_ORIGINS",
                origin,
                "expected origins such as https://app.example.com",
            )
        })?;
        let valid = matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some()
            && uri
                .path_and_query()
                .is_none_or(|p| p.as_str() == "/" || p.as_str().is_empty());
        if !valid {
            return Err(ConfigError::invalid(
                "CORS_ORIGINS",
                origin,
                "expected scheme://host[:port] with no path",
            ));
        }
        let value = HeaderValue::from_str(origin.trim_end_matches('/')).map_err(|_| {
            ConfigError::invalid("CORS_ORIGINS", origin, "not a valid header value")
        })?;
        out.push(value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
