//! Start-up in order: token, database and migrations, route table, stack, sockets. What comes
//! back is a running server that can be told to drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use platform_middleware::auth::{AuthMethod, Authenticate, Identity, StaticToken};
use platform_middleware::blocking::Threads;
use platform_middleware::rate_limit::{self, Limits};
use platform_routes::accounts::cookies::CookiePolicy;
use platform_routes::accounts::jwt_provider::{ExternalJwt, JwtSettings};
use platform_routes::accounts::keys::{self, KeyError};
use platform_routes::accounts::lockout::Lockout;
use platform_routes::accounts::providers::{ApiTokens, SessionCookie};
use platform_routes::accounts::sessions::Sessions;
use platform_routes::accounts::Accounts;
use platform_routes::chat::{self, Chat};
use platform_routes::jobs::{JobSettings, Jobs};
use platform_routes::models::Hub;
use platform_routes::pages::Pages;
use platform_routes::secrets::keyring::KeyringError;
use platform_routes::secrets::Keyring;
use platform_routes::state::{Draining, ServerInfo, DEFAULT_BODY_LIMIT};
use platform_routes::storage::Buckets;
use platform_routes::store::{self, Db};
use platform_routes::workflows::wired::Wired;
use platform_routes::workflows::NodeServices;
use platform_routes::{sets, AppState, RouteSettings, Table};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{AuthProvider, Config, Environment};
use crate::listeners::{self, Inherited};
use crate::serve::{self, Drained, ServeOptions, Stack};
use crate::tls::{self, Tls};
use crate::token::{self, ServerToken};

/// How often idle rate-limit keys are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Token(#[from] token::TokenError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("route table: {0}")]
    Routes(#[from] platform_routes::TableError),
    #[error(transparent)]
    Listen(#[from] listeners::ListenError),
    #[error("cannot serve metrics on METRICS_LISTEN: {0}")]
    Metrics(std::io::Error),
    #[error("TLS_CERT/TLS_KEY: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot handle SIGHUP: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("JWT provider: {0}")]
    Jwt(platform_middleware::BoxError),
    #[error("storage folders (ASSET_FOLDER, ASSET_TEMP_FOLDER): {0}")]
    Storage(std::io::Error),
    #[error(transparent)]
    Secrets(#[from] KeyringError),
    #[error("upstream HTTP client: {0}")]
    Upstream(platform_middleware::BoxError),
    #[error("cannot start the rate-limit sweeper: {0}")]
    Sweeper(std::io::Error),
    #[error("cannot start the password hashing threads: {0}")]
    HashThreads(std::io::Error),
    #[error("start-up task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

pub struct Running {
    /// `(name, address)` of every socket served.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The server token, when the provider uses one.
    pub token: Option<ServerToken>,
    pub routes: usize,
    /// Where `/metrics` is served, when enabled and bound at start-up.
    pub metrics: Option<SocketAddr>,
    /// Whether the listeners speak HTTPS (`TLS_CERT`).
    pub https: bool,
    draining: Draining,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Drained>,
    jobs: Arc<Jobs>,
    drain_timeout: Duration,
    jobs_drained: Option<JoinHandle<()>>,
}

impl Running {
    /// Starts draining: `/health` turns 503, accepting stops, in-flight requests finish.
    pub fn drain(&mut self) {
        self.draining.start();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Running jobs get the same window as in-flight requests, alongside them.
        if self.jobs_drained.is_none() {
            let (jobs, window) = (self.jobs.clone(), self.drain_timeout);
            self.jobs_drained = Some(tokio::spawn(async move { jobs.drain(window).await }));
        }
    }

    /// Waits until the server has drained.
    pub async fn wait(self) -> Result<Drained, StartError> {
        let drained = self.task.await?;
        if let Some(jobs) = self.jobs_drained {
            jobs.await?;
        }
        Ok(drained)
    }
}

/// The stack and what start-up made for it, before any socket is bound.
pub struct Assembled<S> {
    pub stack: S,
    /// The server token, when the provider uses one.
    pub token: Option<ServerToken>,
    pub routes: usize,
    pub db: Arc<Db>,
    pub draining: Draining,
    pub jobs: Arc<Jobs>,
}

/// Token, database and migrations, route table and the stack: everything but the sockets, so
/// the stack can also be driven in-process (`bench/stack_cost.rs`).
pub async fn assemble(config: &Config) -> Result<Assembled<impl Stack>, StartError> {
    let token = match config.auth {
        AuthProvider::None => None,
        _ => {
            let (from_env, file) = (
                config.server_token.clone(),
                config.deployment_config.clone(),
            );
            Some(
                tokio::task::spawn_blocking(move || token::resolve(from_env.as_ref(), &file))
                    .await??,
            )
        }
    };
    let db_path = config.db_path.clone();
    let db: Arc<Db> = Arc::new(tokio::task::spawn_blocking(move || store::open(&db_path)).await??);
    let table = Arc::new(Table::build_with(
        sets::ALL,
        RouteSettings {
            public_storage: config.storage.public,
        },
    )?);
    let storage = config.storage.clone();
    let buckets = tokio::task::spawn_blocking(move || {
        Buckets::local(
            &storage.asset_folder,
            &storage.temp_folder,
            storage.max_upload_bytes,
        )
    })
    .await?
    .map_err(StartError::Storage)?;
    let buckets = Arc::new(buckets);
    let http = chat::client::build(config.chat.connect_timeout, config.chat.read_timeout)
        .map_err(|e| StartError::Upstream(e.into()))?;
    let chat = Arc::new(Chat::new(config.chat.clone(), http.clone()));
    let services = Arc::new(Wired {
        db: db.clone(),
        storage: buckets.clone(),
        chat: Some(chat.clone()),
    });
    let jobs = jobs(config, &db, services).await?;
    let accounts = Arc::new(accounts(config).await?);
    let secrets = Arc::new(secrets_keyring(config).await?);

    let draining = Draining::default();
    let state = Arc::new(AppState {
        db: db.clone(),
        draining: draining.clone(),
        respond: Arc::new(Pages),
        info: ServerInfo {
            version: env!("CARGO_PKG_VERSION"),
            auth_provider: config.auth.as_str().into(),
            server_mode: config.mode.as_str().into(),
            started: Instant::now(),
        },
        body_limit: DEFAULT_BODY_LIMIT,
        accounts: accounts.clone(),
        storage: buckets,
        secrets,
        jobs: jobs.clone(),
        chat,
        hub: Arc::new(Hub::new(config.hub.clone(), http)),
    });
    let limits = Arc::new(Limits::new(config.rate_limits));
    rate_limit::spawn_sweeper(&limits, SWEEP_EVERY).map_err(StartError::Sweeper)?;

    let providers = providers(config, &state, token.as_ref())?;
    let fallback = (!config.auth.enforces()).then(|| Identity::owner(AuthMethod::Local));
    let routes = table.routes().count();
    let stack = crate::stack::build(
        config,
        crate::stack::Parts {
            table,
            state,
            limits,
            providers,
            fallback,
        },
    );
    Ok(Assembled {
        stack,
        token,
        routes,
        db,
        draining,
        jobs,
    })
}

pub async fn start(config: Config, inherited: Vec<Inherited>) -> Result<Running, StartError> {
    let Assembled {
        stack,
        token,
        routes,
        db,
        draining,
        jobs,
    } = assemble(&config).await?;

    let tls = config.tls.clone().map(Tls::load).transpose()?;
    tls::reload_on_sighup(tls.clone()).map_err(StartError::Signal)?;
    let listeners = listeners::bind_all(&config.listen, config.listen_explicit, inherited)?;
    let metrics = serve_metrics(&config, db, draining.clone()).await?;
    let names = listeners.iter().map(|l| (l.name.clone(), l.addr)).collect();
    let https = tls.is_some();
    let options = ServeOptions {
        header_read_timeout: config.header_read_timeout,
        body: config.body,
        drain_timeout: config.drain_timeout,
        tls,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve::serve(listeners, stack, options, async move {
        let _ = stopped.await;
    }));
    Ok(Running {
        listeners: names,
        token,
        routes,
        metrics,
        https,
        draining,
        stop: Some(stop),
        task,
        jobs,
        drain_timeout: config.drain_timeout,
        jobs_drained: None,
    })
}

/// Starts the `/metrics` listener when `METRICS_LISTEN` is not `off`.
async fn serve_metrics(
    config: &Config,
    db: Arc<Db>,
    draining: Draining,
) -> Result<Option<SocketAddr>, StartError> {
    let Some(addr) = config.metrics_listen else {
        return Ok(None);
    };
    let sources = crate::metrics::Sources { db, draining };
    crate::metrics::start(addr, sources)
        .await
        .map_err(StartError::Metrics)
}

/// The job supervisor, after failing the jobs a previous process left unfinished. Node kinds
/// that need chat, collections or storage answer "not available" until those are wired here.
async fn jobs(
    config: &Config,
    db: &Arc<Db>,
    services: Arc<dyn NodeServices>,
) -> Result<Arc<Jobs>, StartError> {
    let recover = db.clone();
    match tokio::task::spawn_blocking(move || Jobs::recover(&recover)).await? {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            jobs = n,
            "marked jobs left unfinished by the last run as failed"
        ),
        Err(e) => tracing::error!(error = %e, "could not fail the jobs left unfinished"),
    }
    let settings = JobSettings {
        node_timeout: config.jobs.node_timeout,
        max_concurrent: config.jobs.max_concurrent,
    };
    Ok(Arc::new(Jobs::new(db.clone(), services, settings)))
}

async fn accounts(config: &Config) -> Result<Accounts, StartError> {
    let path = config.accounts.signing_key_path.clone();
    let ttl = config.accounts.session_ttl;
    let keys = tokio::task::spawn_blocking(move || keys::load_for(&path, Some(ttl))).await??;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Accounts {
        sessions: Sessions::new(keys, ttl),
        cookies: CookiePolicy {
            domain: config.accounts.cookie_domain.clone(),
            max_age: ttl,
            development: config.env == Environment::Development,
        },
        lockout: Lockout::default(),
        hashes: Threads::start("argon2", cores).map_err(StartError::HashThreads)?,
    })
}

/// The secrets master key: the setting, or the development key file in DATA_DIR (which the
/// keyring makes, and warns about, when missing).
async fn secrets_keyring(config: &Config) -> Result<Keyring, StartError> {
    let (setting, dir) = (config.secrets_master_key.clone(), config.data_dir.clone());
    let (keyring, _source) =
        tokio::task::spawn_blocking(move || Keyring::load(setting.as_deref(), &dir)).await??;
    Ok(keyring)
}

/// The provider chain, asked in order. The server token stays valid (as user "1") under every
/// enforcing provider so operator scripts keep working; the session cookie is accepted
/// everywhere so the browser UI works whatever the API clients use.
fn providers(
    config: &Config,
    state: &Arc<AppState>,
    token: Option<&ServerToken>,
) -> Result<Vec<Arc<dyn Authenticate>>, StartError> {
    let mut out: Vec<Arc<dyn Authenticate>> = Vec::new();
    if let Some(t) = token {
        out.push(Arc::new(StaticToken::new(&t.token)));
    }
    match config.auth {
        AuthProvider::MultiUser => out.push(Arc::new(ApiTokens {
            db: state.db.clone(),
        })),
        AuthProvider::Jwt => {
            let a = &config.accounts;
            let jwt = ExternalJwt::new(JwtSettings {
                secret: a.jwt_secret.clone(),
                jwks_url: a.jwt_jwks_url.clone(),
                issuer: a.jwt_issuer.clone(),
                audience: a.jwt_audience.clone(),
                cache_ttl: a.auth_cache_ttl,
                cache_max: a.auth_cache_max,
                refresh_min_interval: a.jwks_refresh_min_interval,
            })
            .map_err(StartError::Jwt)?;
            out.push(Arc::new(jwt));
        }
        _ => {}
    }
    out.push(Arc::new(SessionCookie {
        db: state.db.clone(),
        accounts: state.accounts.clone(),
    }));
    Ok(out)
}
