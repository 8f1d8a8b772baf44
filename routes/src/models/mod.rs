//! Hugging Face model files in the hub cache layout under `HF_HOME`
//! (`hub/models--org--name/{blobs,snapshots/<commit>,refs/<rev>}`), so `huggingface_hub` and
//! other tools find what the server downloaded: downloads with progress and resume
//! (`download`), the hub's HTTP API (`hub`), and reading and pruning the cache (`cache`).

pub mod cache;
pub mod download;
pub mod hub;
pub mod names;
pub mod patterns;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// `HF_HOME`, `HF_HUB_CACHE`, `HF_ENDPOINT`, `HF_TOKEN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubSettings {
    /// `HF_HOME` (default `~/.cache/huggingface`).
    pub home: PathBuf,
    /// The hub cache: `HF_HUB_CACHE`, else `$HF_HOME/hub`.
    pub cache: PathBuf,
    /// Without a trailing slash.
    pub endpoint: String,
    pub token: Option<String>,
}

impl HubSettings {
    pub fn under(home: PathBuf) -> Self {
        HubSettings {
            cache: home.join("hub"),
            home,
            endpoint: "https://huggingface.co".into(),
            token: None,
        }
    }
}

/// The hub client and the cache it fills.
pub struct Hub {
    pub settings: HubSettings,
    pub http: reqwest::Client,
    /// One download (or delete) of a repository at a time; others wait their turn.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Hub {
    pub fn new(settings: HubSettings, http: reqwest::Client) -> Self {
        Hub {
            settings,
            http,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The lock of `repo_id` (one small entry per repository ever touched).
    pub fn lock(&self, repo_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(repo_id.to_owned()).or_default().clone()
    }

    /// `<cache>/models--org--name`.
    pub fn repo_dir(&self, repo_id: &str) -> PathBuf {
        self.settings.cache.join(names::folder(repo_id))
    }
}
