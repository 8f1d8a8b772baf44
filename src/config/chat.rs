//! Settings of the chat provider behind `/v1`, the Hugging Face hub and cache behind
//! `/admin/models`, and the timeouts of every upstream call.

use std::path::PathBuf;
use std::time::Duration;

use platform_routes::chat::{ChatSettings, Provider};
use platform_routes::models::HubSettings;

use super::{duration, ConfigError, Env};

pub fn chat(env: &Env<'_>) -> Result<ChatSettings, ConfigError> {
    let d = ChatSettings::default();
    Ok(ChatSettings {
        provider: env
            .parse::<Provider>("CHAT_PROVIDER", "expected ollama or openai")?
            .unwrap_or_default(),
        ollama_url: url(env, "OLLAMA_API_URL")?.unwrap_or(d.ollama_url),
        openai_base: url(env, "OPENAI_API_BASE")?
            .map(with_v1)
            .unwrap_or(d.openai_base),
        openai_key: env.get("OPENAI_API_KEY"),
        default_model: env.get("DEFAULT_MODEL").unwrap_or(d.default_model),
        connect_timeout: positive(env, "UPSTREAM_CONNECT_TIMEOUT", d.connect_timeout)?,
        read_timeout: positive(env, "UPSTREAM_READ_TIMEOUT", d.read_timeout)?,
    })
}

pub fn hub(env: &Env<'_>) -> Result<HubSettings, ConfigError> {
    let home = env.get("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
        let cache = env
            .get("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| env.get("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"));
        cache.join("huggingface")
    });
    let mut hub = HubSettings::under(home);
    if let Some(cache) = env.get("HF_HUB_CACHE") {
        hub.cache = PathBuf::from(cache);
    }
    if let Some(endpoint) = url(env, "HF_ENDPOINT")? {
        hub.endpoint = endpoint;
    }
    hub.token = env.get("HF_TOKEN");
    Ok(hub)
}

/// An http(s) URL without its trailing slash.
fn url(env: &Env<'_>, var: &'static str) -> Result<Option<String>, ConfigError> {
    let Some(value) = env.get(var) else {
        return Ok(None);
    };
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    if rest.is_none_or(|r| r.trim_matches('/').is_empty()) {
        return Err(ConfigError::invalid(
            var,
            &value,
            "expected an http:// or https:// URL",
        ));
    }
    Ok(Some(value.trim_end_matches('/').to_owned()))
}

/// OpenAI-compatible servers serve under `/v1`: a base that is only a host gets it.
fn with_v1(base: String) -> String {
    let host_only = base
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.contains('/'));
    if host_only {
        format!("{base}/v1")
    } else {
        base
    }
}

fn positive(env: &Env<'_>, var: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    let d = duration(env, var, default)?;
    if d.is_zero() {
        return Err(ConfigError::invalid(
            var,
            &env.get(var).unwrap_or_default(),
            "expected a duration above zero",
        ));
    }
    Ok(d)
}
