//! Ollama's native API (`/api/tags`, `/api/chat`, `/api/pull`) behind OpenAI's shapes:
//! requests translated (`translate`), streamed answers relayed as chunk events (`stream`),
//! model pulls relayed as progress events (`pull`).

mod pull;
mod stream;
mod translate;

use http::Response;
use platform_middleware::body::Body;
use serde_json::{json, Value};

use super::client::{self, send};
use super::sse::{self, Lines};
use super::{Chat, ChatRequest, OpenAiError};
use crate::reply;

pub use pull::pull;
pub use translate::{chat_body, completion};

const NAME: &str = "ollama";

fn url(chat: &Chat, path: &str) -> String {
    format!("{}{path}", chat.settings.ollama_url)
}

/// The installed models, as OpenAI model objects.
pub async fn models(chat: &Chat) -> Result<Vec<Value>, OpenAiError> {
    let res = send(NAME, chat.http.get(url(chat, "/api/tags"))).await?;
    let tags = client::json(NAME, res).await?;
    let list = tags["models"].as_array().map_or(&[][..], Vec::as_slice);
    Ok(list
        .iter()
        .filter_map(|m| {
            let id = m["name"].as_str().or_else(|| m["model"].as_str())?;
            let created = m["modified_at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map_or(0, |t| t.timestamp());
            Some(json!({"id": id, "object": "model", "created": created, "owned_by": NAME}))
        })
        .collect())
}

pub async fn complete(chat: &Chat, req: ChatRequest) -> Result<Response<Body>, OpenAiError> {
    let body = chat_body(&req);
    let res = send(NAME, chat.http.post(url(chat, "/api/chat")).json(&body)).await?;
    if req.stream {
        let relay = stream::ChatRelay::new(&req);
        return Ok(sse::response(sse::relay(Lines::new(res), relay)));
    }
    let answer = whole_answer(res).await?;
    if let Some(message) = answer["error"].as_str() {
        return Err(OpenAiError::bad_gateway(format!(
            "The {NAME} provider failed: {message}"
        )));
    }
    reply::ok(&completion(&req.model, &answer)).map_err(OpenAiError::from)
}

/// A non-streamed answer: one JSON object, or (from an Ollama that streamed anyway) NDJSON
/// lines folded into one.
async fn whole_answer(res: reqwest::Response) -> Result<Value, OpenAiError> {
    let bytes = client::read_limited(res, client::MAX_JSON, false)
        .await
        .map_err(|e| match e {
            client::ReadError::Read(e) => OpenAiError::from_reqwest(NAME, &e),
            client::ReadError::TooLarge => {
                OpenAiError::bad_gateway("The ollama answer is too large")
            }
        })?;
    if let Ok(answer) = serde_json::from_slice(&bytes) {
        return Ok(answer);
    }
    let (mut text, mut calls, mut last) = (String::new(), Vec::new(), None);
    for line in bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
    {
        let value: Value = serde_json::from_slice(line).map_err(|e| {
            OpenAiError::bad_gateway(format!("The {NAME} provider answered invalid JSON: {e}"))
        })?;
        text.push_str(value["message"]["content"].as_str().unwrap_or_default());
        if let Some(c) = value["message"]["tool_calls"].as_array() {
            calls.extend(c.iter().cloned());
        }
        last = Some(value);
    }
    let mut answer = last.unwrap_or(Value::Null);
    if answer.is_object() {
        answer["message"]["content"] = Value::String(text);
        answer["message"]["tool_calls"] = Value::Array(calls);
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_ollama_that_streams_anyway_is_folded_into_one_answer() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let body = "{\"message\":{\"content\":\"Hel\"},\"done\":false}\n\
                        {\"message\":{\"content\":\"lo\"},\"done\":true,\"eval_count\":2}\n";
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(body.as_bytes()).await.unwrap();
        });
        let res = reqwest::get(format!("http://{addr}/")).await.unwrap();
        let answer = whole_answer(res).await.unwrap();
        assert_eq!(answer["message"]["content"], "Hello");
        assert_eq!(completion("m", &answer)["usage"]["completion_tokens"], 2);
    }
}
