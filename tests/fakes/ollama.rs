//! A fake Ollama: `/api/tags`, `/api/chat` (one JSON answer, or NDJSON when streaming) and
//! `/api/pull`. The model name picks a behaviour: `missing` (404), `broken` (500), `picky`
//! (400), `hang` (accepts, never answers), `stall` (one line, then silence), `endless` (a line
//! every 50 ms until the client goes), `tools` (answers with a tool call), `slow` (four lines,
//! 300 ms apart), `bench` (200 lines 5 ms apart, each carrying the nanoseconds since [`epoch`]
//! at which it was sent, for latency measurements).

use std::time::Duration;

use serde_json::{json, Value};

use super::{full, json, paced, streamed, upstream, Dropped, Req, Resp, Then, Upstream};

pub type FakeOllama = Upstream;

pub async fn start() -> FakeOllama {
    upstream(handle).await
}

/// The NDJSON lines of a streamed answer "Hello!".
pub fn chat_lines(model: &str) -> Vec<String> {
    let piece = |text: &str| {
        json!({"model": model, "created_at": "2024-05-01T10:00:00Z",
               "message": {"role": "assistant", "content": text}, "done": false})
        .to_string()
            + "\n"
    };
    vec![
        piece("Hel"),
        piece("lo"),
        piece("!"),
        json!({"model": model, "created_at": "2024-05-01T10:00:01Z",
               "message": {"role": "assistant", "content": ""},
               "done": true, "done_reason": "stop",
               "prompt_eval_count": 5, "eval_count": 3})
        .to_string()
            + "\n",
    ]
}

async fn handle(req: Req, dropped: Dropped) -> Resp {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/tags") => json(
            200,
            &json!({"models": [
                {"name": "llama3.2:latest", "model": "llama3.2:latest",
                 "modified_at": "2024-05-01T10:00:00.123456789+02:00", "size": 2019393189},
                {"name": "qwen2.5:0.5b", "model": "qwen2.5:0.5b",
                 "modified_at": "2024-06-01T00:00:00Z", "size": 397821319},
            ]}),
        ),
        ("POST", "/api/chat") => chat(req.json(), dropped).await,
        ("POST", "/api/pull") => pull(req.json()),
        _ => full(404, "text/plain", "404 page not found"),
    }
}

async fn chat(body: Value, dropped: Dropped) -> Resp {
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let stream = body["stream"].as_bool().unwrap_or(true);
    let ndjson = "application/x-ndjson";
    match model.as_str() {
        "missing" => {
            return json(
                404,
                &json!({"error": "model \"missing\" not found, try pulling it first"}),
            )
        }
        "broken" => {
            return json(
                500,
                &json!({"error": "llama runner process has terminated"}),
            )
        }
        "picky" => return json(400, &json!({"error": "invalid option: num_predict"})),
        "hang" => std::future::pending::<()>().await,
        _ => {}
    }
    let lines = chat_lines(&model);
    if model == "stall" {
        let first = vec![lines[0].clone()];
        return streamed(
            200,
            ndjson,
            paced(first, Duration::ZERO, Then::Hang, dropped),
        );
    }
    if model == "bench" {
        return streamed(200, ndjson, bench_lines(200, Duration::from_millis(5)));
    }
    if model == "endless" {
        let piece = lines[0].clone();
        let frames = paced(
            vec![],
            Duration::from_millis(50),
            Then::Repeat(piece),
            dropped,
        );
        return streamed(200, ndjson, frames);
    }
    if model == "tools" {
        let call = json!({"model": model, "message": {"role": "assistant", "content": "",
            "tool_calls": [{"function": {"name": "get_weather",
                                         "arguments": {"city": "Paris"}}}]},
            "done": true, "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 6});
        return if stream {
            streamed(
                200,
                ndjson,
                paced(
                    vec![call.to_string() + "\n"],
                    Duration::ZERO,
                    Then::End,
                    dropped,
                ),
            )
        } else {
            json(200, &call)
        };
    }
    if !stream {
        return json(
            200,
            &json!({"model": model, "created_at": "2024-05-01T10:00:01Z",
                    "message": {"role": "assistant", "content": "Hello!"},
                    "done": true, "done_reason": "stop",
                    "prompt_eval_count": 5, "eval_count": 3}),
        );
    }
    let gap = if model == "slow" {
        Duration::from_millis(300)
    } else {
        Duration::ZERO
    };
    streamed(200, ndjson, paced(lines, gap, Then::End, dropped))
}

/// The instant `bench` timestamps count from (shared with the measuring test).
pub fn epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// `n` lines `gap` apart, each stamped when it is produced; then a done line.
fn bench_lines(
    n: usize,
    gap: Duration,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    futures_util::stream::unfold(0, move |i| async move {
        if i > n {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        let line = if i == n {
            json!({"model": "bench", "message": {"role": "assistant", "content": ""},
                   "done": true, "done_reason": "stop"})
        } else {
            let sent = epoch().elapsed().as_nanos().to_string();
            json!({"model": "bench", "message": {"role": "assistant", "content": sent},
                   "done": false})
        };
        Some((Ok(bytes::Bytes::from(line.to_string() + "\n")), i + 1))
    })
}

fn pull(body: Value) -> Resp {
    let name = body["model"]
        .as_str()
        .or(body["name"].as_str())
        .unwrap_or_default();
    let lines: Vec<String> = if name == "nope" {
        vec![
            json!({"status": "pulling manifest"}).to_string(),
            json!({"error": "pull model manifest: file does not exist"}).to_string(),
        ]
    } else {
        vec![
            json!({"status": "pulling manifest"}).to_string(),
            json!({"status": "downloading sha256:abc", "digest": "sha256:abc",
                   "total": 100, "completed": 50})
            .to_string(),
            json!({"status": "downloading sha256:abc", "digest": "sha256:abc",
                   "total": 100, "completed": 100})
            .to_string(),
            json!({"status": "success"}).to_string(),
        ]
    };
    let lines = lines.into_iter().map(|l| l + "\n").collect();
    streamed(
        200,
        "application/x-ndjson",
        paced(lines, Duration::ZERO, Then::End, Dropped::default()),
    )
}
