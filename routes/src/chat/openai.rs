//! Any OpenAI-compatible server (vLLM, llama.cpp, LM Studio, OpenAI): requests pass through
//! with every field the client sent; answers and streams come back as the server sent them.

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use http::Response;
use platform_middleware::body::Body;
use serde_json::{json, Value};

use super::client::{self, send};
use super::sse::{self, StreamError};
use super::{Chat, ChatRequest, OpenAiError};
use crate::reply;

const NAME: &str = "openai";

fn request(chat: &Chat, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let req = chat
        .http
        .request(method, format!("{}{path}", chat.settings.openai_base));
    match &chat.settings.openai_key {
        Some(key) => req.bearer_auth(key),
        None => req,
    }
}

pub async fn models(chat: &Chat) -> Result<Vec<Value>, OpenAiError> {
    let res = send(NAME, request(chat, reqwest::Method::GET, "/models")).await?;
    let list = client::json(NAME, res).await?;
    let data = list["data"].as_array().map_or(&[][..], Vec::as_slice);
    Ok(data
        .iter()
        .filter_map(|m| {
            let id = m["id"].as_str()?;
            Some(json!({
                "id": id,
                "object": "model",
                "created": m["created"].as_i64().unwrap_or(0),
                "owned_by": m["owned_by"].as_str().unwrap_or(NAME),
            }))
        })
        .collect())
}

pub async fn complete(chat: &Chat, req: ChatRequest) -> Result<Response<Body>, OpenAiError> {
    let mut body = req.body;
    body.insert("stream".into(), Value::Bool(req.stream));
    let upstream = request(chat, reqwest::Method::POST, "/chat/completions").json(&body);
    let res = send(NAME, upstream).await?;
    if req.stream {
        return Ok(sse::response(passthrough(res)));
    }
    reply::ok(&client::json(NAME, res).await?).map_err(OpenAiError::from)
}

/// The upstream's event stream as it arrives; a break or a silence past the read timeout ends
/// it with an error event and `[DONE]`.
fn passthrough(res: reqwest::Response) -> impl Stream<Item = Bytes> + Send {
    stream::unfold(Some(res), |res| async move {
        let mut res = res?;
        match res.chunk().await {
            Ok(Some(chunk)) => Some((chunk, Some(res))),
            Ok(None) => None,
            Err(e) => {
                let e = StreamError::Read(e);
                tracing::warn!(error = ?e, "openai chat stream failed");
                let code = if e.is_timeout() {
                    "upstream_timeout"
                } else {
                    "upstream_error"
                };
                let event = sse::event(&json!({"error": {
                    "message": e.message(NAME), "type": "api_error", "param": null, "code": code,
                }}));
                // A blank line first ends any event the upstream left half-sent.
                let mut frame = b"\n\n".to_vec();
                frame.extend_from_slice(&event);
                frame.extend_from_slice(sse::DONE);
                Some((Bytes::from(frame), None))
            }
        }
    })
}
