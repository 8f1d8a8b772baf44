//! `/api/pull` progress relayed as events.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::{json, Value};

use super::{send, url, NAME};
use crate::chat::sse::{self, Lines, Relay, StreamError};
use crate::chat::Chat;

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
