//! Ollama's native API (`/api/tags`, `/api/chat`, `/api/pull`) behind OpenAI's shapes:
//! requests translated (options, images, tools), answers turned into `chat.completion` objects
//! and chunk streams.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use http::Response;
use platform_middleware::body::Body;
use serde_json::{json, Map, Value};

use super::client::{self, send};
use super::sse::{self, Lines, Relay, StreamError};
use super::{completion_id, now, Chat, ChatRequest, OpenAiError};
use crate::reply;

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
        let relay = ChatRelay::new(&req);
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

/// The `/api/chat` body for an OpenAI request.
pub fn chat_body(req: &ChatRequest) -> Value {
    let mut body = json!({
        "model": req.model,
        "messages": messages(req.messages()),
        "stream": req.stream,
    });
    let mut options = Map::new();
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("seed", "seed"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
        ("max_tokens", "num_predict"),
        ("max_completion_tokens", "num_predict"),
    ] {
        if let Some(v) = req.get(from) {
            options.insert(to.into(), v.clone());
        }
    }
    match req.get("stop") {
        Some(Value::String(s)) => {
            options.insert("stop".into(), json!([s]));
        }
        Some(list @ Value::Array(_)) => {
            options.insert("stop".into(), list.clone());
        }
        _ => {}
    }
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    // Ollama has no tool_choice: "none" means no tools offered; anything else offers them.
    let no_tools = req.get("tool_choice").and_then(Value::as_str) == Some("none");
    if let (Some(tools), false) = (req.get("tools"), no_tools) {
        body["tools"] = tools.clone();
    }
    match req.get("response_format") {
        Some(f) if f["type"] == "json_object" => body["format"] = json!("json"),
        Some(f) if f["type"] == "json_schema" => {
            body["format"] = f["json_schema"]["schema"].clone();
        }
        _ => {}
    }
    body
}

/// OpenAI messages as Ollama's: text parts joined, data-URL images as base64, tool calls with
/// object arguments, tool results named after the call they answer.
fn messages(list: &[Value]) -> Vec<Value> {
    let mut tool_names: HashMap<String, String> = HashMap::new();
    list.iter()
        .map(|m| {
            let role = match m["role"].as_str().unwrap_or("user") {
                "developer" => "system",
                other => other,
            };
            let mut out = json!({ "role": role });
            let (text, images) = content(&m["content"]);
            out["content"] = Value::String(text);
            if !images.is_empty() {
                out["images"] = json!(images);
            }
            if let Some(calls) = m["tool_calls"].as_array() {
                out["tool_calls"] = calls
                    .iter()
                    .map(|c| {
                        let f = &c["function"];
                        if let (Some(id), Some(name)) = (c["id"].as_str(), f["name"].as_str()) {
                            tool_names.insert(id.into(), name.into());
                        }
                        let args = match &f["arguments"] {
                            Value::String(s) => serde_json::from_str(s).unwrap_or(json!({})),
                            other => other.clone(),
                        };
                        json!({"function": {"name": f["name"], "arguments": args}})
                    })
                    .collect();
            }
            if role == "tool" {
                let name = m["tool_call_id"]
                    .as_str()
                    .and_then(|id| tool_names.get(id).cloned())
                    .or_else(|| m["name"].as_str().map(str::to_owned));
                if let Some(name) = name {
                    out["tool_name"] = Value::String(name);
                }
            }
            out
        })
        .collect()
}

/// A message's text and its inline images.
fn content(content: &Value) -> (String, Vec<String>) {
    match content {
        Value::String(s) => (s.clone(), Vec::new()),
        Value::Array(parts) => {
            let mut text = Vec::new();
            let mut images = Vec::new();
            for p in parts {
                match p["type"].as_str() {
                    Some("text") => text.push(p["text"].as_str().unwrap_or_default()),
                    Some("image_url") => {
                        let url = p["image_url"]["url"]
                            .as_str()
                            .or_else(|| p["image_url"].as_str())
                            .unwrap_or_default();
                        if let Some((_, data)) = url.split_once(";base64,") {
                            images.push(data.to_owned());
                        }
                    }
                    _ => {}
                }
            }
            (text.join("\n"), images)
        }
        _ => (String::new(), Vec::new()),
    }
}

/// Ollama's tool calls as OpenAI's (arguments as a JSON string, an id each).
fn tool_calls(calls: &[Value], first_index: usize, with_index: bool) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let f = &c["function"];
            let args = match &f["arguments"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let id = c["id"].as_str().map(str::to_owned).unwrap_or_else(|| {
                format!("call_{}", &uuid::Uuid::new_v4().simple().to_string()[..24])
            });
            let mut call = json!({
                "id": id,
                "type": "function",
                "function": {"name": f["name"], "arguments": args},
            });
            if with_index {
                call["index"] = json!(first_index + i);
            }
            call
        })
        .collect()
}

fn finish_reason(answer: &Value, had_tools: bool) -> &'static str {
    if had_tools {
        "tool_calls"
    } else if answer["done_reason"] == "length" {
        "length"
    } else {
        "stop"
    }
}

fn usage(answer: &Value) -> Option<Value> {
    let prompt = answer["prompt_eval_count"].as_u64();
    let completion = answer["eval_count"].as_u64();
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    let (p, c) = (prompt.unwrap_or(0), completion.unwrap_or(0));
    Some(json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}))
}

/// A whole `/api/chat` answer as a `chat.completion`.
pub fn completion(model: &str, answer: &Value) -> Value {
    let msg = &answer["message"];
    let calls = msg["tool_calls"].as_array().filter(|c| !c.is_empty());
    let mut message = json!({
        "role": "assistant",
        "content": msg["content"].as_str().unwrap_or_default(),
    });
    if let Some(calls) = calls {
        message["tool_calls"] = json!(tool_calls(calls, 0, false));
    }
    let mut out = json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(answer, calls.is_some()),
        }],
    });
    if let Some(usage) = usage(answer) {
        out["usage"] = usage;
    }
    out
}

/// Ollama's NDJSON lines as `chat.completion.chunk` frames.
struct ChatRelay {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    sent_role: bool,
    tools: usize,
    last: Option<Value>,
    failed: bool,
}

impl ChatRelay {
    fn new(req: &ChatRequest) -> Self {
        ChatRelay {
            id: completion_id(),
            model: req.model.clone(),
            created: now(),
            include_usage: req.include_usage,
            sent_role: false,
            tools: 0,
            last: None,
            failed: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Bytes {
        sse::event(&json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        }))
    }

    fn error(&mut self, message: &str, code: &str, out: &mut VecDeque<Bytes>) {
        self.failed = true;
        out.push_back(sse::event(&json!({"error": {
            "message": message, "type": "api_error", "param": null, "code": code,
        }})));
    }
}

impl Relay for ChatRelay {
    fn line(&mut self, line: &[u8], out: &mut VecDeque<Bytes>) -> bool {
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            self.error(
                "The ollama provider sent an invalid line",
                "upstream_error",
                out,
            );
            return true;
        };
        if let Some(message) = value["error"].as_str() {
            self.error(message, "upstream_error", out);
            return true;
        }
        let msg = &value["message"];
        let mut delta = Map::new();
        if !self.sent_role {
            delta.insert("role".into(), json!("assistant"));
        }
        if let Some(text) = msg["content"].as_str().filter(|t| !t.is_empty()) {
            delta.insert("content".into(), json!(text));
        } else if !self.sent_role {
            delta.insert("content".into(), json!(""));
        }
        if let Some(calls) = msg["tool_calls"].as_array().filter(|c| !c.is_empty()) {
            delta.insert(
                "tool_calls".into(),
                json!(tool_calls(calls, self.tools, true)),
            );
            self.tools += calls.len();
        }
        if !delta.is_empty() && (delta.len() > 1 || !delta.contains_key("role")) {
            self.sent_role = true;
            out.push_back(self.chunk(Value::Object(delta), None));
        }
        let done = value["done"].as_bool().unwrap_or(false);
        if done {
            self.last = Some(value);
        }
        done
    }

    fn end(&mut self, out: &mut VecDeque<Bytes>) {
        if !self.failed {
            let last = self.last.take().unwrap_or(Value::Null);
            let finish = finish_reason(&last, self.tools > 0);
            out.push_back(self.chunk(json!({}), Some(finish)));
            if self.include_usage {
                let usage = usage(&last).unwrap_or_else(
                    || json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}),
                );
                out.push_back(sse::event(&json!({
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": usage,
                })));
            }
        }
        out.push_back(sse::done());
    }

    fn fail(&mut self, error: StreamError, out: &mut VecDeque<Bytes>) {
        let code = if error.is_timeout() {
            "upstream_timeout"
        } else {
            "upstream_error"
        };
        tracing::warn!(error = ?error, "ollama chat stream failed");
        self.error(&error.message(NAME), code, out);
        out.push_back(sse::done());
    }
}

/// `/api/pull` progress as SSE: a starting event, Ollama's own lines, then a completed (or
/// error) event and `[DONE]`.
pub async fn pull(chat: &Chat, name: &str) -> BoxStream<'static, Bytes> {
    let start = sse::event(&json!({
        "status": "starting",
        "model": name,
        "message": format!("Starting download of {name}"),
    }));
    let body = json!({"model": name, "name": name, "stream": true});
    let req = chat.http.post(url(chat, "/api/pull")).json(&body);
    match send(NAME, req).await {
        Ok(res) => {
            let relay = PullRelay {
                name: name.to_owned(),
                failed: false,
            };
            stream::once(async { start })
                .chain(sse::relay(Lines::new(res), relay))
                .boxed()
        }
        Err(e) => stream::iter([start, pull_error(name, &e.message), sse::done()]).boxed(),
    }
}

fn pull_error(name: &str, message: &str) -> Bytes {
    sse::event(&json!({"status": "error", "model": name, "error": message}))
}

struct PullRelay {
    name: String,
    failed: bool,
}

impl Relay for PullRelay {
    fn line(&mut self, line: &[u8], out: &mut VecDeque<Bytes>) -> bool {
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            self.failed = true;
            out.push_back(pull_error(&self.name, "ollama sent an invalid line"));
            return true;
        };
        if let Some(message) = value["error"].as_str() {
            self.failed = true;
            out.push_back(pull_error(&self.name, message));
            return true;
        }
        out.push_back(sse::event(&value));
        false
    }

    fn end(&mut self, out: &mut VecDeque<Bytes>) {
        if !self.failed {
            out.push_back(sse::event(&json!({
                "status": "completed",
                "model": self.name,
                "message": format!("Successfully downloaded {}", self.name),
            })));
        }
        out.push_back(sse::done());
    }

    fn fail(&mut self, error: StreamError, out: &mut VecDeque<Bytes>) {
        out.push_back(pull_error(&self.name, &error.message(NAME)));
        out.push_back(sse::done());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> ChatRequest {
        ChatRequest::parse(body.to_string().as_bytes(), "m").unwrap()
    }

    #[test]
    fn requests_translate_options_images_and_tools() {
        let req = request(json!({
            "model": "llama3.2",
            "temperature": 0.2, "top_p": 0.9, "max_tokens": 7, "stop": "END", "seed": 3,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "f", "arguments": "{\"x\":1}"}},
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
        }));
        let body = chat_body(&req);
        assert_eq!(body["stream"], false);
        assert_eq!(
            body["options"],
            json!({"temperature": 0.2, "top_p": 0.9, "num_predict": 7, "stop": ["END"], "seed": 3})
        );
        assert_eq!(body["tools"][0]["function"]["name"], "f");
        let m = &body["messages"];
        assert_eq!(m[0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(m[1]["images"], json!(["QUJD"]));
        assert_eq!(m[1]["content"], "what is");
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            json!({"x": 1})
        );
        assert_eq!(m[3]["tool_name"], "f");
    }

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

    #[test]
    fn answers_become_completions() {
        let answer = json!({
            "message": {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "f", "arguments": {"x": 1}}},
            ]},
            "done": true, "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 4,
        });
        let c = completion("m", &answer);
        assert_eq!(c["object"], "chat.completion");
        assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
        let call = &c["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["arguments"], "{\"x\":1}");
        assert_eq!(call["type"], "function");
        assert_eq!(c["usage"]["total_tokens"], 7);
    }
}
