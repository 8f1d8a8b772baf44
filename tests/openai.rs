//! `/v1/models` and `/v1/chat/completions` against fake Ollama and OpenAI-compatible upstreams:
//! shapes, streaming, passthrough and translation, every error in OpenAI's shape, a client
//! that disconnects, an upstream that hangs, and a stream finishing through a drain.

mod common;
mod fakes;

use std::time::{Duration, Instant};

use common::{client, Builder, Server, TOKEN};
use serde_json::{json, Value};

/// A server in front of `provider` at `url`, with a 1 s upstream read timeout.
fn server(provider: &str, url: &str) -> Server {
    let b = Builder::static_token()
        .env("CHAT_PROVIDER", provider)
        .env("UPSTREAM_READ_TIMEOUT", "1s");
    match provider {
        "ollama" => b.env("OLLAMA_API_URL", url),
        _ => b
            .env("OPENAI_API_BASE", url)
            .env("OPENAI_API_KEY", fakes::openai::KEY),
    }
    .spawn()
}

async fn post_chat(server: &Server, body: Value) -> reqwest::Response {
    post_chat_as(server, TOKEN, &body).await
}

/// A chat completion with `key` as the bearer token.
async fn post_chat_as(server: &Server, key: &str, body: &Value) -> reqwest::Response {
    client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A multi-user server (the static token still works) in front of the Ollama at `url`.
fn multi_user(url: &str) -> Server {
    Builder::new()
        .env("AUTH_PROVIDER", "multi_user")
        .env("SERVER_AUTH_TOKEN", TOKEN)
        .env("OLLAMA_API_URL", url)
        .spawn()
}

/// Creates an API token named `name` with the server token.
async fn api_token(server: &Server, name: &str) -> (u16, Value) {
    common::get_json(
        client()
            .post(server.url("/api/tokens"))
            .bearer_auth(TOKEN)
            .json(&json!({ "name": name })),
    )
    .await
}

async fn chat_json(server: &Server, body: Value) -> (u16, Value) {
    let res = post_chat(server, body).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The `data:` payloads of an event stream, `[DONE]` as a string.
fn events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.trim().strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_owned())))
        .collect()
}

async fn stream_events(server: &Server, body: Value) -> Vec<Value> {
    let res = post_chat(server, body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    events(&res.text().await.unwrap())
}

fn content_of(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect()
}

fn hello(model: Option<&str>) -> Value {
    let mut body = json!({"messages": [{"role": "user", "content": "Hi"}]});
    if let Some(m) = model {
        body["model"] = json!(m);
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_models_and_a_plain_completion() {
    let fake = fakes::ollama::start().await;
    let server = server("ollama", &fake.url());
    let (status, list) =
        common::get_json(client().get(server.url("/v1/models")).bearer_auth(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(list["object"], "list");
    assert_eq!(
        list["data"][0],
        json!({"id": "llama3.2:latest", "object": "model", "created": 1714550400,
               "owned_by": "ollama"})
    );
    assert_eq!(list["data"][1]["id"], "qwen2.5:0.5b");

    // No model named: DEFAULT_MODEL; no `stream`: a whole chat.completion, not a chunk.
    let mut body = hello(None);
    body["temperature"] = json!(0.3);
    body["top_p"] = json!(0.8);
    body["max_completion_tokens"] = json!(12);
    body["stop"] = json!(["\n\n"]);
    body["seed"] = json!(7);
    let (status, c) = chat_json(&server, body).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["object"], "chat.completion");
    assert!(c["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(c["created"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(c["model"], "llama3.2:latest");
    assert_eq!(
        c["choices"][0],
        json!({"index": 0, "message": {"role": "assistant", "content": "Hello!"},
               "logprobs": null, "finish_reason": "stop"})
    );
    assert_eq!(
        c["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8})
    );
    let sent = fake.log.to("/api/chat")[0].json();
    assert_eq!(sent["model"], "llama3.2:latest");
    assert_eq!(sent["stream"], false);
    assert_eq!(
        sent["options"],
        json!({"temperature": 0.3, "top_p": 0.8, "num_predict": 12, "stop": ["\n\n"], "seed": 7})
    );
    assert_eq!(sent["messages"], json!([{"role": "user", "content": "Hi"}]));

    // One shared client: the requests above and another chat reuse one upstream connection.
    assert_eq!(chat_json(&server, hello(None)).await.0, 200);
    assert_eq!(fake.log.all().len(), 3);
    assert_eq!(fake.log.connections(), 1, "upstream connections are pooled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_streams_chunks_usage_and_done() {
    let fake = fakes::ollama::start().await;
    let server = server("ollama", &fake.url());
    let mut body = hello(Some("llama3.2:latest"));
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let ev = stream_events(&server, body).await;
    assert_eq!(ev.last().unwrap(), "[DONE]");
    let chunks = &ev[..ev.len() - 1];
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(content_of(chunks), "Hello!");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 8);
    assert_eq!(fake.log.to("/api/chat")[0].json()["stream"], true);

    // Without include_usage there is no usage chunk.
    let mut body = hello(Some("llama3.2:latest"));
    body["stream"] = json!(true);
    let ev = stream_events(&server, body).await;
    assert!(ev.iter().all(|e| e.get("usage").is_none()));
    assert_eq!(ev[ev.len() - 2]["choices"][0]["finish_reason"], "stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_gets_tools_and_answers_tool_calls() {
    let fake = fakes::ollama::start().await;
    let server = server("ollama", &fake.url());
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let mut body = hello(Some("tools"));
    body["tools"] = tools.clone();
    body["tool_choice"] = json!("auto");
    let (status, c) = chat_json(&server, body.clone()).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
    let call = &c["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(fake.log.to("/api/chat")[0].json()["tools"], tools);

    body["stream"] = json!(true);
    let ev = stream_events(&server, body).await;
    let delta = &ev[0]["choices"][0]["delta"];
    assert_eq!(delta["tool_calls"][0]["index"], 0);
    assert_eq!(delta["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(
        ev[ev.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );

    // tool_choice "none": no tools offered to Ollama.
    let mut body = hello(Some("llama3.2:latest"));
    body["tools"] = tools;
    body["tool_choice"] = json!("none");
    assert_eq!(chat_json(&server, body).await.0, 200);
    assert!(fake
        .log
        .to("/api/chat")
        .last()
        .unwrap()
        .json()
        .get("tools")
        .is_none());
}

fn assert_openai_error(status: u16, body: &Value, want: u16, kind: &str, code: Value) {
    assert_eq!(status, want, "{body}");
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(e["type"], kind, "{body}");
    assert_eq!(e["code"], code, "{body}");
    assert!(e.as_object().unwrap().contains_key("param"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_in_openai_shape() {
    let fake = fakes::ollama::start().await;
    let server = server("ollama", &fake.url());
    let invalid = "invalid_request_error";
    for body in [
        json!({"model": "x"}),
        json!({"messages": []}),
        json!({"messages": "hi"}),
    ] {
        let (status, e) = chat_json(&server, body).await;
        assert_openai_error(status, &e, 400, invalid, Value::Null);
        assert_eq!(e["error"]["param"], "messages");
    }
    let res = client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert_openai_error(
        status,
        &res.json().await.unwrap(),
        400,
        invalid,
        Value::Null,
    );

    let (status, e) = chat_json(&server, hello(Some("missing"))).await;
    assert_openai_error(status, &e, 404, invalid, json!("model_not_found"));
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not found"));
    // The provider's own 4xx is passed on with its message.
    let (status, e) = chat_json(&server, hello(Some("picky"))).await;
    assert_openai_error(status, &e, 400, invalid, Value::Null);
    assert_eq!(e["error"]["message"], "invalid option: num_predict");
    // A failing provider is a 502.
    let (status, e) = chat_json(&server, hello(Some("broken"))).await;
    assert_openai_error(status, &e, 502, "api_error", json!("upstream_error"));
    // Also for a stream: the failure comes before any event.
    let mut body = hello(Some("missing"));
    body["stream"] = json!(true);
    assert_eq!(chat_json(&server, body).await.0, 404);
    // Without credentials: 401 like every protected route.
    let res = client()
        .post(server.url("/v1/chat/completions"))
        .json(&hello(None))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // A provider nobody listens on: 502 for chats and model lists.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let down = self::server("ollama", &url);
    let (status, e) = chat_json(&down, hello(None)).await;
    assert_openai_error(status, &e, 502, "api_error", json!("upstream_error"));
    let (status, e) =
        common::get_json(client().get(down.url("/v1/models")).bearer_auth(TOKEN)).await;
    assert_openai_error(status, &e, 502, "api_error", json!("upstream_error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_compatible_provider_passes_requests_and_answers_through() {
    let fake = fakes::openai::start().await;
    let server = server("openai", &fake.base());
    let (status, list) =
        common::get_json(client().get(server.url("/v1/models")).bearer_auth(TOKEN)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list,
        json!({"object": "list", "data": [
            {"id": "gpt-test", "object": "model", "created": 1700000000, "owned_by": "lab"}]})
    );

    let mut body = hello(Some("gpt-test"));
    body["temperature"] = json!(0.5);
    body["max_tokens"] = json!(9);
    body["logit_bias"] = json!({"50256": -100});
    body["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
    body["tool_choice"] = json!("required");
    let (status, c) = chat_json(&server, body.clone()).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["object"], "chat.completion");
    assert_eq!(c["choices"][0]["message"]["content"], "Hello!");
    assert_eq!(c["usage"]["total_tokens"], 8);
    let sent = fake.log.to("/v1/chat/completions")[0].clone();
    assert_eq!(sent.header("authorization").unwrap(), "Bearer sk-upstream");
    let mut expected = body;
    expected["stream"] = json!(false);
    assert_eq!(sent.json(), expected, "every field passes through");

    let mut body = hello(None);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let ev = stream_events(&server, body).await;
    assert_eq!(
        fake.log.to("/v1/chat/completions")[1].json()["model"],
        "llama3.2:latest"
    );
    assert_eq!(content_of(&ev), "Hello!");
    assert_eq!(ev[ev.len() - 2]["usage"]["total_tokens"], 8);
    assert_eq!(ev.last().unwrap(), "[DONE]");

    let (status, e) = chat_json(&server, hello(Some("missing"))).await;
    assert_openai_error(
        status,
        &e,
        404,
        "invalid_request_error",
        json!("model_not_found"),
    );
    assert_eq!(e["error"]["message"], "The model `missing` does not exist");
    let (status, e) = chat_json(&server, hello(Some("picky"))).await;
    assert_openai_error(status, &e, 400, "invalid_request_error", Value::Null);
    assert_eq!(e["error"]["param"], "temperature");
    let (status, e) = chat_json(&server, hello(Some("broken"))).await;
    assert_openai_error(status, &e, 502, "api_error", json!("upstream_error"));
}

/// Reads until the body has produced `n` data chunks.
async fn read_chunks(res: &mut reqwest::Response, n: usize) -> String {
    let mut text = String::new();
    while text.matches("data: ").count() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(5), res.chunk())
            .await
            .expect("a chunk within 5 s")
            .unwrap()
            .expect("more body");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_cancels_the_upstream_request() {
    let ollama = fakes::ollama::start().await;
    let openai = fakes::openai::start().await;
    for (server, dropped) in [
        (server("ollama", &ollama.url()), ollama.dropped.clone()),
        (server("openai", &openai.base()), openai.dropped.clone()),
    ] {
        let mut body = hello(Some("endless"));
        body["stream"] = json!(true);
        let mut res = post_chat(&server, body).await;
        assert_eq!(res.status(), 200);
        read_chunks(&mut res, 3).await;
        assert!(!dropped.is_set());
        drop(res);
        assert!(
            dropped.wait(Duration::from_secs(5)).await,
            "the upstream stream was not cancelled"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_upstream_times_out_within_the_read_timeout() {
    let ollama = fakes::ollama::start().await;
    let openai = fakes::openai::start().await;
    for server in [
        server("ollama", &ollama.url()),
        server("openai", &openai.base()),
    ] {
        // Not streamed: 504.
        let start = Instant::now();
        let (status, e) = chat_json(&server, hello(Some("hang"))).await;
        assert_openai_error(status, &e, 504, "api_error", json!("upstream_timeout"));
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
        // Streamed: an error event, then [DONE].
        let mut body = hello(Some("hang"));
        body["stream"] = json!(true);
        let start = Instant::now();
        let ev = stream_events(&server, body).await;
        assert!(start.elapsed() < Duration::from_secs(4));
        assert_eq!(ev[0]["error"]["code"], "upstream_timeout", "{ev:?}");
        assert_eq!(ev.last().unwrap(), "[DONE]");
    }
    // Silent after the first line: the content so far, then the error event.
    let server = server("ollama", &ollama.url());
    let mut body = hello(Some("stall"));
    body["stream"] = json!(true);
    let ev = stream_events(&server, body).await;
    assert_eq!(content_of(&ev), "Hel");
    assert_eq!(ev[ev.len() - 2]["error"]["code"], "upstream_timeout");
    assert_eq!(ev.last().unwrap(), "[DONE]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_api_tokens_work_as_openai_keys() {
    let fake = fakes::ollama::start().await;
    let server = multi_user(&fake.url());
    let (status, created) = api_token(&server, "openai").await;
    assert_eq!(status, 201, "{created}");
    let key = created["token"].as_str().unwrap();
    let (status, _) =
        common::get_json(client().get(server.url("/v1/models")).bearer_auth(key)).await;
    assert_eq!(status, 200);
    let res = post_chat_as(&server, key, &hello(None)).await;
    assert_eq!(res.status(), 200);
    let res = client()
        .get(server.url("/v1/models"))
        .bearer_auth("not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_in_flight_finishes_through_a_drain_or_is_cut_at_its_timeout() {
    let fake = fakes::ollama::start().await;
    // Four lines 300 ms apart: SIGTERM after the first, the stream still ends with [DONE].
    let mut server = Builder::static_token()
        .env("OLLAMA_API_URL", &fake.url())
        .env("DRAIN_TIMEOUT", "10s")
        .spawn();
    let mut body = hello(Some("slow"));
    body["stream"] = json!(true);
    let mut res = post_chat(&server, body.clone()).await;
    read_chunks(&mut res, 1).await;
    server.signal(libc::SIGTERM);
    let rest = tokio::time::timeout(Duration::from_secs(8), res.text())
        .await
        .expect("the stream ends")
        .unwrap();
    let ev = events(&rest);
    assert_eq!(ev.last().unwrap(), "[DONE]", "{rest}");
    assert!(content_of(&ev).ends_with("lo!"), "{rest}");
    let status = tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(10)));
    assert!(status.success());

    // An endless stream is cut when DRAIN_TIMEOUT passes, and the upstream with it.
    let mut server = Builder::static_token()
        .env("OLLAMA_API_URL", &fake.url())
        .env("DRAIN_TIMEOUT", "1s")
        .spawn();
    body["model"] = json!("endless");
    let mut res = post_chat(&server, body).await;
    read_chunks(&mut res, 1).await;
    let start = Instant::now();
    server.signal(libc::SIGTERM);
    let rest = tokio::time::timeout(Duration::from_secs(8), async {
        let mut n = 0;
        while let Ok(Some(_)) = res.chunk().await {
            n += 1;
        }
        n
    })
    .await
    .expect("the stream is cut");
    assert!(rest > 3, "it streamed during the drain");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(10)));
    assert!(fake.dropped.wait(Duration::from_secs(5)).await);
}

/// Sorted copy's value at `q` (0..=1).
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Reads a `bench` stream; per chunk, microseconds from the fake stamping it to the client
/// reading it; and the time to the first chunk. `sse` when the body is the proxy's events.
async fn bench_stream(res: reqwest::Response, sse: bool, start: Instant) -> (f64, Vec<f64>) {
    let mut res = res;
    let (mut buf, mut lat, mut first) = (String::new(), Vec::new(), None);
    while let Some(chunk) = res.chunk().await.unwrap() {
        let now = fakes::ollama::epoch().elapsed().as_nanos() as f64;
        first.get_or_insert_with(|| start.elapsed().as_secs_f64() * 1e3);
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(at) = buf.find('\n') {
            let line: String = buf.drain(..=at).collect();
            let json = if sse {
                line.strip_prefix("data: ")
            } else {
                Some(line.as_str())
            };
            let Some(v) = json.and_then(|j| serde_json::from_str::<Value>(j).ok()) else {
                continue;
            };
            let content = if sse {
                v["choices"][0]["delta"]["content"].as_str()
            } else {
                v["message"]["content"].as_str()
            };
            if let Some(sent) = content.and_then(|c| c.parse::<f64>().ok()) {
                lat.push((now - sent) / 1e3);
            }
        }
    }
    (first.unwrap_or(f64::NAN), lat)
}

/// The proxy's added latency on a streamed chat: the fake Ollama called directly vs through
/// the server, interleaved rounds of 200 chunks 5 ms apart. Run on a release build:
/// `cargo test --release --test openai -- --ignored --nocapture measure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_streamed_chat_latency() {
    let fake = fakes::ollama::start().await;
    let server = server("ollama", &fake.url());
    let http = client();
    let body = json!({"model": "bench", "stream": true,
                      "messages": [{"role": "user", "content": "Hi"}]});
    let (mut direct, mut proxied) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for _ in 0..5 {
        let start = Instant::now();
        let res = http
            .post(format!("{}/api/chat", fake.url()))
            .json(&body)
            .send()
            .await;
        let (ttfc, lat) = bench_stream(res.unwrap(), false, start).await;
        direct.0.push(ttfc);
        direct.1.extend(lat);
        let start = Instant::now();
        let res = post_chat(&server, body.clone()).await;
        let (ttfc, lat) = bench_stream(res, true, start).await;
        proxied.0.push(ttfc);
        proxied.1.extend(lat);
    }
    for (name, (ttfc, lat)) in [("direct", &direct), ("proxied", &proxied)] {
        println!(
            "{name:8} time to first chunk median {:.2} ms; per-chunk latency p50 {:.0} us, \
             p90 {:.0} us, p99 {:.0} us ({} chunks)",
            quantile(ttfc, 0.5),
            quantile(lat, 0.5),
            quantile(lat, 0.9),
            quantile(lat, 0.99),
            lat.len()
        );
    }
    println!(
        "added by the proxy: first chunk {:.2} ms, per chunk p50 {:.0} us, p90 {:.0} us",
        quantile(&proxied.0, 0.5) - quantile(&direct.0, 0.5),
        quantile(&proxied.1, 0.5) - quantile(&direct.1, 0.5),
        quantile(&proxied.1, 0.9) - quantile(&direct.1, 0.9),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_hold_no_database_connection() {
    let fake = fakes::ollama::start().await;
    let server = multi_user(&fake.url());
    let (_, created) = api_token(&server, "streams").await;
    let key = created["token"].as_str().unwrap().to_owned();
    let mut body = hello(Some("endless"));
    body["stream"] = json!(true);
    // More open streams than the pool has connections (8).
    let mut open = Vec::new();
    for _ in 0..10 {
        let mut res = post_chat_as(&server, &key, &body).await;
        read_chunks(&mut res, 1).await;
        open.push(res);
    }
    let (status, st) =
        common::get_json(client().get(server.url("/admin/status")).bearer_auth(TOKEN)).await;
    assert_eq!(status, 200, "{st}");
    let db = &st["db"];
    let in_use = db["connections"].as_u64().unwrap() - db["idle"].as_u64().unwrap();
    assert!(
        in_use <= 1,
        "at most the status request's own connection: {db}"
    );
    drop(open);
}
