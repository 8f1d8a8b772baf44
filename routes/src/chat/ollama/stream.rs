//! Ollama's NDJSON chat stream as `chat.completion.chunk` events.

use std::collections::VecDeque;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::translate::{finish_reason, tool_calls, usage};
use super::NAME;
use crate::chat::sse::{self, Relay, StreamError};
use crate::chat::{completion_id, now, ChatRequest};

/// Ollama's NDJSON lines as `chat.completion.chunk` frames.
pub(super) struct ChatRelay {
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
    pub(super) fn new(req: &ChatRequest) -> Self {
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
