//! What every handler can reach: the store, server facts and the shared drain flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use platform_middleware::respond::SharedRespond;

use crate::accounts::Accounts;
use crate::chat::Chat;
use crate::jobs::Jobs;
use crate::models::Hub;
use crate::secrets::Keyring;
use crate::storage::Buckets;
use crate::store::Db;

/// Request bodies larger than this are refused with 413 unless a route reads with its own limit.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Set when the server starts draining; `/health` answers 503 from then on.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Facts about this server reported by status routes.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    pub version: &'static str,
    pub auth_provider: String,
    pub server_mode: String,
    pub started: Instant,
}

pub struct AppState {
    pub db: Arc<Db>,
    pub draining: Draining,
    pub respond: SharedRespond,
    pub info: ServerInfo,
    pub body_limit: usize,
    /// Sessions, cookie policy and login lockout for the auth and app route sets.
    pub accounts: Arc<Accounts>,
    /// File buckets and the upload limit for the storage and assets route sets.
    pub storage: Arc<Buckets>,
    /// The secrets master key (`SECRETS_MASTER_KEY` or the development key file).
    pub secrets: Arc<Keyring>,
    /// The job supervisor: runs workflows on its own tasks, drained on shutdown.
    pub jobs: Arc<Jobs>,
    /// The chat provider behind `/v1` (and Ollama pulls).
    pub chat: Arc<Chat>,
    /// The Hugging Face hub and its cache, for `/admin/models` and `/admin/cache`.
    pub hub: Arc<Hub>,
}
