//! The one HTTP client every upstream call shares (chat providers, Ollama pulls, the Hugging
//! Face hub): pooled connections, bounded connects and reads.

use std::time::Duration;

/// How long an idle pooled connection to an upstream is kept.
const IDLE: Duration = Duration::from_secs(90);

/// A client with `connect` and `read` timeouts. The read timeout bounds every wait on the
/// upstream (its headers and each gap in its body), not a whole response, so long generations
/// and large downloads go on as long as bytes flow. Redirects are followed by the callers that
/// want them (the hub), so metadata requests can read the first answer's headers.
pub fn build(connect: Duration, read: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(connect)
        .read_timeout(read)
        .pool_idle_timeout(IDLE)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("platform-server/", env!("CARGO_PKG_VERSION")))
        .build()
}

use bytes::{Bytes, BytesMut};
use http::StatusCode;

use super::OpenAiError;

/// The most of an upstream JSON answer (a completion, a model list) read into memory.
pub const MAX_JSON: usize = 32 * 1024 * 1024;

/// The most of an upstream error body kept for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Sends `req` to `provider`; a non-2xx answer becomes the matching [`OpenAiError`].
pub async fn send(
    provider: &str,
    req: reqwest::RequestBuilder,
) -> Result<reqwest::Response, OpenAiError> {
    let res = req
        .send()
        .await
        .map_err(|e| OpenAiError::from_reqwest(provider, &e))?;
    let status = res.status();
    if status.is_success() {
        return Ok(res);
    }
    let body = read_limited(res, MAX_ERROR_BODY, true)
        .await
        .unwrap_or_default();
    Err(OpenAiError::from_upstream(
        provider,
        StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        &body,
    ))
}

/// The body of `res`, at most `limit` bytes: an error past it, or the first `limit` bytes when
/// `truncate`.
pub async fn read_limited(
    mut res: reqwest::Response,
    limit: usize,
    truncate: bool,
) -> Result<Bytes, ReadError> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = res.chunk().await.map_err(ReadError::Read)? {
        if buf.len() + chunk.len() > limit {
            if truncate {
                buf.extend_from_slice(&chunk[..limit - buf.len()]);
                break;
            }
            return Err(ReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

#[derive(Debug)]
pub enum ReadError {
    Read(reqwest::Error),
    TooLarge,
}

/// A JSON answer of `provider`, parsed.
pub async fn json(
    provider: &str,
    res: reqwest::Response,
) -> Result<serde_json::Value, OpenAiError> {
    let bytes = read_limited(res, MAX_JSON, false)
        .await
        .map_err(|e| match e {
            ReadError::Read(e) => OpenAiError::from_reqwest(provider, &e),
            ReadError::TooLarge => {
                OpenAiError::bad_gateway(format!("The {provider} provider's answer is too large"))
            }
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        OpenAiError::bad_gateway(format!(
            "The {provider} provider answered invalid JSON: {e}"
        ))
    })
}
