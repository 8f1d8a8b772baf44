//! The chat provider behind `/v1`: Ollama's native API or any OpenAI-compatible server, reached
//! through one shared HTTP client with connect and read timeouts. Handlers stay in
//! `sets/v1.rs`; this folder knows nothing of HTTP routing.

pub mod client;
pub mod error;
pub mod ollama;
pub mod openai;
pub mod request;
pub mod sse;

use std::time::Duration;

use http::{Response, StatusCode};
use platform_middleware::body::Body;
use serde_json::Value;

pub use error::OpenAiError;
pub use request::ChatRequest;

/// Which API the chat provider speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Provider {
    #[default]
    Ollama,
    OpenAi,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ollama => "ollama",
            Provider::OpenAi => "openai",
        }
    }
}

impl std::str::FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "ollama" => Ok(Provider::Ollama),
            "openai" => Ok(Provider::OpenAi),
            other => Err(format!("unknown provider '{other}'")),
        }
    }
}

/// `CHAT_PROVIDER`, `OLLAMA_API_URL`, `OPENAI_API_BASE`, `OPENAI_API_KEY`, `DEFAULT_MODEL` and
/// the upstream timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatSettings {
    pub provider: Provider,
    /// Without a trailing slash.
    pub ollama_url: String,
    /// Without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub openai_base: String,
    pub openai_key: Option<String>,
    pub default_model: String,
    pub connect_timeout: Duration,
    /// Longest silence from an upstream (before its headers or between two reads).
    pub read_timeout: Duration,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            provider: Provider::Ollama,
            ollama_url: "http://127.0.0.1:11434".into(),
            openai_base: "https://api.openai.com/v1".into(),
            openai_key: None,
            default_model: "llama3.2:latest".into(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(300),
        }
    }
}

/// The configured provider and the shared client.
pub struct Chat {
    pub settings: ChatSettings,
    pub http: reqwest::Client,
}

impl Chat {
    pub fn new(settings: ChatSettings, http: reqwest::Client) -> Self {
        Chat { settings, http }
    }

    /// `{"object":"list","data":[...]}` from the provider's model list.
    pub async fn models(&self) -> Result<Value, OpenAiError> {
        let data = match self.settings.provider {
            Provider::Ollama => ollama::models(self).await,
            Provider::OpenAi => openai::models(self).await,
        }
        .map_err(|e| match e.status {
            // The list itself missing is a misconfigured provider, not an unknown model.
            StatusCode::NOT_FOUND => OpenAiError::bad_gateway(format!(
                "The {} provider has no model list here: {}",
                self.settings.provider.as_str(),
                e.message
            )),
            _ => e,
        })?;
        Ok(serde_json::json!({ "object": "list", "data": data }))
    }

    /// A `chat.completion` object, or an event stream of chunks when the request asks.
    /// A provider that accepts and then stays silent past the read timeout is a 504, or for a
    /// stream an error event (the client asked for events, and gets one that says why).
    pub async fn complete(&self, req: ChatRequest) -> Result<Response<Body>, OpenAiError> {
        let stream = req.stream;
        let result = match self.settings.provider {
            Provider::Ollama => ollama::complete(self, req).await,
            Provider::OpenAi => openai::complete(self, req).await,
        };
        match result {
            Err(e) if stream && e.status == StatusCode::GATEWAY_TIMEOUT => {
                let frames = [sse::event(&e.body()), sse::done()];
                Ok(sse::response(futures_util::stream::iter(frames)))
            }
            other => other,
        }
    }
}

/// Seconds since the epoch, for `created`.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `chatcmpl-<random>`, as OpenAI names completions.
pub(crate) fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}
