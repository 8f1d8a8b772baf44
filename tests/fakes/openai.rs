//! A fake OpenAI-compatible server under `/v1`: `/v1/models` and `/v1/chat/completions`
//! (SSE when streaming), requiring `Authorization: Bearer sk-upstream`. Models `missing`
//! (404), `broken` (500), `picky` (400 with a `param`), `hang` and `endless` as in the Ollama
//! fake.

use std::time::Duration;

use serde_json::{json, Value};

use super::{json, paced, streamed, upstream, Dropped, Req, Resp, Then, Upstream};

pub const KEY: &str = "sk-upstream";

pub type FakeOpenAi = Upstream;

pub async fn start() -> FakeOpenAi {
    upstream(handle).await
}

fn error(status: u16, message: &str, kind: &str, param: Value, code: Value) -> Resp {
    json(
        status,
        &json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
    )
}

/// The SSE frames of a streamed "Hello!" (with a usage chunk when asked).
pub fn chunks(model: &str, usage: bool) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1,
                       "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let mut out = vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Hel"}), Value::Null),
        chunk(json!({"content": "lo!"}), Value::Null),
        chunk(json!({}), json!("stop")),
    ];
    if usage {
        let u = json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1,
                       "model": model, "choices": [],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}});
        out.push(format!("data: {u}\n\n"));
    }
    out.push("data: [DONE]\n\n".into());
    out
}

async fn handle(req: Req, dropped: Dropped) -> Resp {
    if req.header("authorization").as_deref() != Some(&format!("Bearer {KEY}")) {
        return error(
            401,
            "Incorrect API key provided",
            "invalid_request_error",
            Value::Null,
            json!("invalid_api_key"),
        );
    }
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/v1/models") => json(
            200,
            &json!({"object": "list", "data": [
                {"id": "gpt-test", "object": "model", "created": 1700000000, "owned_by": "lab"},
            ]}),
        ),
        ("POST", "/v1/chat/completions") => chat(req.json(), dropped).await,
        _ => error(
            404,
            "Unknown path",
            "invalid_request_error",
            Value::Null,
            Value::Null,
        ),
    }
}

async fn chat(body: Value, dropped: Dropped) -> Resp {
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    match model.as_str() {
        "missing" => {
            return error(
                404,
                "The model `missing` does not exist",
                "invalid_request_error",
                Value::Null,
                json!("model_not_found"),
            )
        }
        "broken" => {
            return error(
                500,
                "The server had an error",
                "server_error",
                Value::Null,
                Value::Null,
            )
        }
        "picky" => {
            return error(
                400,
                "temperature must be at most 2",
                "invalid_request_error",
                json!("temperature"),
                Value::Null,
            )
        }
        "hang" => std::future::pending::<()>().await,
        _ => {}
    }
    if body["stream"] == true {
        let sse = "text/event-stream";
        if model == "endless" {
            let piece = chunks(&model, false)[1].clone();
            let frames = paced(
                vec![],
                Duration::from_millis(50),
                Then::Repeat(piece),
                dropped,
            );
            return streamed(200, sse, frames);
        }
        let usage = body["stream_options"]["include_usage"] == true;
        return streamed(
            200,
            sse,
            paced(chunks(&model, usage), Duration::ZERO, Then::End, dropped),
        );
    }
    json(
        200,
        &json!({"id": "chatcmpl-up", "object": "chat.completion", "created": 1700000001,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}),
    )
}
