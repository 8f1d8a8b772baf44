//! Workflows and jobs against the real binary: CRUD and ownership, validation errors, runs
//! answered whole and streamed (NDJSON and the old worker's SSE, parsed as clients do),
//! concurrency, node timeout, cancel, disconnect, queueing, shutdown and crash recovery.

mod accounts_support;

use std::time::{Duration, Instant};

use accounts_support::common::{Builder, Server};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use serde_json::{json, Value};

/// What the old clients send on every call.
const OLD_ACCEPT: &str = "application/json, text/event-stream";

fn http() -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static(OLD_ACCEPT));
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn node(id: &str, kind: &str, data: Value) -> Value {
    json!({"id": id, "type": kind, "data": data, "position": {"x": 0, "y": 0}})
}

fn edge(source: &str, sh: &str, target: &str, th: &str) -> Value {
    json!({"source": source, "sourceHandle": sh, "target": target, "targetHandle": th})
}

/// input.text "who" → text.template → output "greeting".
fn greeting() -> Value {
    json!({
        "nodes": [
            node("who", "input.text", json!({"name": "who", "value": "world"})),
            node("t", "text.template", json!({"template": "Hello {{ name }}!"})),
            node("out", "output", json!({"name": "greeting"})),
        ],
        "edges": [edge("who", "value", "t", "name"), edge("t", "text", "out", "value")],
    })
}

/// `n` independent `util.delay` nodes of `seconds`, each into its own output.
fn delays(n: usize, seconds: f64) -> Value {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for i in 0..n {
        nodes.push(node(
            &format!("d{i}"),
            "util.delay",
            json!({"seconds": seconds}),
        ));
        nodes.push(node(
            &format!("o{i}"),
            "output",
            json!({"name": format!("out{i}")}),
        ));
        edges.push(edge(&format!("d{i}"), "value", &format!("o{i}"), "value"));
    }
    json!({"nodes": nodes, "edges": edges})
}

async fn create(server: &Server, graph: Value) -> String {
    let (status, wf) = call(
        http()
            .post(server.url("/api/workflows"))
            .json(&json!({"name": "wf", "graph": graph})),
    )
    .await;
    assert_eq!(status, 200, "{wf}");
    wf["id"].as_str().unwrap().to_owned()
}

/// Reads a streamed body line by line, as a client would.
struct Lines {
    res: reqwest::Response,
    buf: Vec<u8>,
}

impl Lines {
    fn new(res: reqwest::Response) -> Self {
        Lines {
            res,
            buf: Vec::new(),
        }
    }

    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=at).collect();
                return Some(String::from_utf8(line).unwrap().trim_end().to_owned());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.res.chunk())
                .await
                .expect("stream stalled")
                .unwrap()?;
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// Every NDJSON object to the end.
    async fn ndjson(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(line) = self.next().await {
            out.push(serde_json::from_str(&line).unwrap());
        }
        out
    }

    /// The next NDJSON object.
    async fn event(&mut self) -> Value {
        serde_json::from_str(&self.next().await.expect("an event")).unwrap()
    }

    /// Every SSE `data:` payload to the end (events are separated by blank lines).
    async fn sse(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(line) = self.next().await {
            if let Some(data) = line.strip_prefix("data: ") {
                out.push(data.to_owned());
            } else {
                assert!(line.is_empty(), "unexpected SSE line {line:?}");
            }
        }
        out
    }
}

async fn stream(server: &Server, id: &str, params: Value) -> Lines {
    let res = http()
        .post(server.url(&format!("/api/workflows/{id}/run?stream=true")))
        .json(&json!({"params": params}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    Lines::new(res)
}

async fn job(server: &Server, job_id: &str) -> Value {
    let (status, job) = call(http().get(server.url(&format!("/api/jobs/{job_id}")))).await;
    assert_eq!(status, 200, "{job}");
    job
}

/// Polls the job until it has ended.
async fn finished_job(server: &Server, job_id: &str) -> Value {
    let start = Instant::now();
    loop {
        let job = job(server, job_id).await;
        if !matches!(job["status"].as_str(), Some("queued" | "running")) {
            return job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "job never ended: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn crud_listing_and_the_old_route_shapes() {
    let server = Builder::new().spawn();
    let (status, wf) = call(http().post(server.url("/api/workflows")).json(&json!({
        "name": "Greeter", "description": "says hello", "graph": greeting(),
    })))
    .await;
    assert_eq!(status, 200, "{wf}");
    for field in [
        "id",
        "name",
        "description",
        "access",
        "graph",
        "created_at",
        "updated_at",
        "user_id",
    ] {
        assert!(wf.get(field).is_some(), "missing {field}: {wf}");
    }
    assert_eq!(wf["access"], "private");
    assert_eq!(wf["user_id"], "1");
    // Extra graph fields (positions) are kept as sent.
    assert_eq!(wf["graph"]["nodes"][0]["position"], json!({"x": 0, "y": 0}));
    let id = wf["id"].as_str().unwrap().to_owned();

    let (status, got) = call(http().get(server.url(&format!("/api/workflows/{id}")))).await;
    assert_eq!((status, &got["name"]), (200, &json!("Greeter")));

    // Two more, then page through with limit=2, with and without the trailing slash.
    for name in ["second", "third"] {
        let (s, _) = call(
            http()
                .post(server.url("/api/workflows/"))
                .json(&json!({"name": name})),
        )
        .await;
        assert_eq!(s, 200);
    }
    let (status, page) = call(http().get(server.url("/api/workflows/?limit=2"))).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = page["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["third", "second"]);
    let next = page["next"].as_str().expect("a next cursor").to_owned();
    let (_, page) =
        call(http().get(server.url(&format!("/api/workflows?limit=2&cursor={next}")))).await;
    assert_eq!(page["workflows"].as_array().unwrap().len(), 1);
    assert_eq!(page["workflows"][0]["id"], id.as_str());
    assert_eq!(page["next"], Value::Null);
    let (status, _) = call(http().get(server.url("/api/workflows?limit=zero"))).await;
    assert_eq!(status, 400);

    // PUT replaces, and creates when missing (at the caller's id).
    let (status, put) = call(
        http()
            .put(server.url(&format!("/api/workflows/{id}")))
            .json(&json!({
                "name": "Greeter 2", "access": "public", "graph": greeting(),
            })),
    )
    .await;
    assert_eq!(
        (status, &put["name"], &put["access"]),
        (200, &json!("Greeter 2"), &json!("public"))
    );
    assert_eq!(put["created_at"], wf["created_at"]);
    let (status, made) = call(
        http()
            .put(server.url("/api/workflows/my-own-id"))
            .json(&json!({
                "name": "made by put", "graph": greeting(),
            })),
    )
    .await;
    assert_eq!((status, &made["id"]), (200, &json!("my-own-id")));
    let (status, _) = call(
        http()
            .put(server.url("/api/workflows/x"))
            .json(&json!({"name": "n", "access": "open"})),
    )
    .await;
    assert_eq!(status, 422);

    // DELETE answers 200 with a JSON body; then it is gone.
    let (status, body) = call(http().delete(server.url("/api/workflows/my-own-id"))).await;
    assert_eq!((status, &body["deleted"]), (200, &json!(true)));
    let (status, body) = call(http().get(server.url("/api/workflows/my-own-id"))).await;
    assert_eq!((status, body), (404, json!({"detail": "Not Found"})));

    // The old worker's shapes over the same store.
    let (status, body) = call(http().put(server.url("/workflows/synced")).json(&json!({
        "name": "synced", "graph": greeting(),
    })))
    .await;
    assert_eq!((status, &body["id"]), (200, &json!("synced")));
    let (status, list) = call(http().get(server.url("/workflows"))).await;
    assert_eq!(status, 200);
    assert!(list["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["id"] == "synced"));
    let (status, body) = call(
        http()
            .post(server.url("/workflows/synced/run"))
            .json(&json!({"who": "worker"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"results": {"greeting": "Hello worker!"}}))
    );
    let (status, body) = call(http().delete(server.url("/workflows/synced"))).await;
    assert_eq!((status, &body["deleted"]), (200, &json!(true)));
    let (status, _) = call(
        http()
            .post(server.url("/workflows/synced/run"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn each_validation_error_is_a_400_naming_the_node() {
    let server = Builder::new().spawn();
    let cases = [
        (
            json!({"nodes": [node("a", "nope.nope", json!({}))], "edges": []}),
            "node 'a' has unknown type 'nope.nope'",
        ),
        (
            json!({"nodes": [node("a", "input.text", json!({})), node("b", "output", json!({}))],
                   "edges": [edge("a", "value", "b", "nope")]}),
            "node 'b' (output) has no input 'nope'",
        ),
        (
            json!({"nodes": [node("a", "input.text", json!({})), node("b", "output", json!({}))],
                   "edges": [edge("a", "nope", "b", "value")]}),
            "node 'a' (input.text) has no output 'nope'",
        ),
        (
            json!({"nodes": [node("a", "input.text", json!({}))], "edges": [edge("a", "value", "zz", "value")]}),
            "node 'zz' does not exist",
        ),
        (
            json!({"nodes": [node("a", "json.get", json!({})), node("b", "json.get", json!({}))],
                   "edges": [edge("a", "value", "b", "value"), edge("b", "value", "a", "value")]}),
            "the graph has a cycle through node",
        ),
        (
            json!({"nodes": [node("o", "output", json!({}))], "edges": []}),
            "node 'o' (output) is missing required input 'value'",
        ),
    ];
    for (graph, want) in cases {
        for req in [
            http()
                .post(server.url("/api/workflows"))
                .json(&json!({"name": "bad", "graph": graph})),
            http()
                .put(server.url("/api/workflows/bad"))
                .json(&json!({"name": "bad", "graph": graph})),
            http()
                .put(server.url("/workflows/bad"))
                .json(&json!({"name": "bad", "graph": graph})),
        ] {
            let (status, body) = call(req).await;
            assert_eq!(status, 400, "{body}");
            let detail = body["detail"].as_str().unwrap();
            assert!(
                detail.starts_with("Invalid workflow: ") && detail.contains(want),
                "{detail:?} vs {want:?}"
            );
        }
    }
    // Nothing invalid was stored.
    let (_, list) = call(http().get(server.url("/api/workflows"))).await;
    assert_eq!(list["workflows"], json!([]));
}

#[tokio::test]
async fn sync_and_streamed_runs_in_both_shapes() {
    let server = Builder::new().spawn();
    let id = create(&server, greeting()).await;

    // Whole: the Accept header with text/event-stream does not stream.
    let res = http()
        .post(server.url(&format!("/api/workflows/{id}/run")))
        .json(&json!({"params": {"who": "Ada"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"greeting": "Hello Ada!"})
    );
    let (status, body) = call(http().post(server.url(&format!("/api/workflows/{id}/run")))).await;
    assert_eq!((status, body), (200, json!({"greeting": "Hello world!"})));
    let (status, body) = call(
        http()
            .post(server.url(&format!("/api/workflows/{id}/run")))
            .json(&json!({"params": {"who": ["not", "text"]}})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["detail"],
        "Invalid params: input 'who' must be a string"
    );

    // NDJSON, by ?stream=true and by /run/stream.
    let mut lines = stream(&server, &id, json!({"who": "Bo"})).await;
    let events = lines.ndjson().await;
    check_ndjson(&events, "Hello Bo!");
    let res = http()
        .post(server.url(&format!("/api/workflows/{id}/run/stream")))
        .json(&json!({"params": {"who": "Cy"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    check_ndjson(&Lines::new(res).ndjson().await, "Hello Cy!");

    // The job is recorded with its params and results.
    let job_id = events[0]["job_id"].as_str().unwrap();
    let job = job(&server, job_id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["workflow_id"], id.as_str());
    assert_eq!(job["params"], json!({"who": "Bo"}));
    assert_eq!(job["results"], json!({"greeting": "Hello Bo!"}));
    for field in ["created_at", "started_at", "finished_at"] {
        assert!(job[field].is_string(), "{field}: {job}");
    }

    // The old worker's SSE shape.
    let res = http()
        .post(server.url(&format!("/workflows/{id}/run/stream")))
        .json(&json!({"who": "Di"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let data = Lines::new(res).sse().await;
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let events: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "job_update",
            "job_update",
            "output_update",
            "job_update",
            "complete"
        ]
    );
    assert_eq!(events[0]["data"]["status"], "queued");
    assert_eq!(events[2]["node_name"], "greeting");
    assert_eq!(events[2]["value"], "Hello Di!");
    assert_eq!(
        events[4],
        json!({"type": "complete", "results": {"greeting": "Hello Di!"}})
    );
}

fn check_ndjson(events: &[Value], greeting: &str) {
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"job_update"));
    assert_eq!(events[0]["status"], "queued");
    assert_eq!(events[1]["status"], "running");
    assert_eq!(types.last(), Some(&"job_completed"));
    assert_eq!(
        events.last().unwrap()["results"],
        json!({"greeting": greeting})
    );
    let output = events
        .iter()
        .find(|e| e["type"] == "output_update")
        .unwrap();
    assert_eq!(
        output,
        &json!({"type": "output_update", "node_id": "out", "output_name": "greeting", "value": greeting})
    );
    let nodes = events
        .iter()
        .filter(|e| e["type"] == "node_update" && e["status"] == "completed")
        .count();
    assert_eq!(nodes, 3);
}

#[tokio::test]
async fn failures_name_the_node_in_every_shape() {
    // A chat provider nobody listens on: the node fails with the provider's error.
    let server = Builder::new()
        .env("OLLAMA_API_URL", "http://127.0.0.1:9")
        .spawn();
    let id = create(
        &server,
        json!({"nodes": [node("chat", "llm.chat", json!({"model": "m", "prompt": "hi"})), node("o", "output", json!({}))],
               "edges": [edge("chat", "text", "o", "value")]}),
    )
    .await;
    let (status, body) = call(http().post(server.url(&format!("/api/workflows/{id}/run")))).await;
    assert_eq!(status, 500, "{body}");
    let want = body["detail"].as_str().unwrap().to_owned();
    assert!(
        want.starts_with("Node 'chat' failed: ") && want.contains("ollama"),
        "{want}"
    );
    let events = stream(&server, &id, json!({})).await.ndjson().await;
    let last = events.last().unwrap();
    assert_eq!(
        (&last["type"], &last["error"]),
        (&json!("job_failed"), &json!(want))
    );
    assert!(events
        .iter()
        .any(|e| e["type"] == "node_update" && e["node_id"] == "chat" && e["status"] == "failed"));
    let res = http()
        .post(server.url(&format!("/workflows/{id}/run/stream")))
        .send()
        .await
        .unwrap();
    let data = Lines::new(res).sse().await;
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let error: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(error, json!({"type": "error", "error": want}));
    let (status, body) = call(http().post(server.url(&format!("/workflows/{id}/run")))).await;
    assert_eq!((status, &body["detail"]), (500, &json!(want)));
}

#[tokio::test]
async fn independent_nodes_overlap() {
    let server = Builder::new().spawn();
    let id = create(&server, delays(3, 0.6)).await;
    let start = Instant::now();
    let events = stream(&server, &id, json!({})).await.ndjson().await;
    let took = start.elapsed();
    // All three start before any finishes, and the whole takes about one delay, not three.
    let order: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["type"] == "node_update" && e["node_id"].as_str().unwrap().starts_with('d'))
        .map(|e| {
            (
                e["node_id"].as_str().unwrap().into(),
                e["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let statuses: Vec<&str> = order.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "running",
            "running",
            "running",
            "completed",
            "completed",
            "completed"
        ]
    );
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_eq!(events.last().unwrap()["type"], "job_completed");
}

#[tokio::test]
async fn a_slow_node_times_out() {
    let server = Builder::new().env("NODE_TIMEOUT", "300ms").spawn();
    let id = create(&server, delays(1, 10.0)).await;
    let start = Instant::now();
    let (status, body) = call(http().post(server.url(&format!("/api/workflows/{id}/run")))).await;
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(status, 500);
    assert_eq!(
        body["detail"],
        "Node 'd0' failed: timed out after 300ms (NODE_TIMEOUT)"
    );
    let job = finished_job(&server, body["job_id"].as_str().unwrap()).await;
    assert_eq!(
        (&job["status"], &job["error"]),
        (&json!("failed"), &body["detail"])
    );
}

#[tokio::test]
async fn cancel_stops_a_running_job_promptly() {
    let server = Builder::new().spawn();
    let id = create(&server, delays(1, 30.0)).await;
    let mut lines = stream(&server, &id, json!({})).await;
    let first = lines.event().await;
    let job_id = first["job_id"].as_str().unwrap().to_owned();
    assert_eq!(lines.event().await["status"], "running");
    let start = Instant::now();
    let (status, job) = call(http().post(server.url(&format!("/api/jobs/{job_id}/cancel")))).await;
    assert_eq!(
        (status, &job["status"]),
        (200, &json!("cancelled")),
        "{job}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    let rest = lines.ndjson().await;
    let last = rest.last().unwrap();
    assert_eq!(
        (&last["type"], &last["error"]),
        (&json!("job_failed"), &json!("Job cancelled"))
    );
    // Cancelling again: it has already ended.
    let (status, _) = call(http().post(server.url(&format!("/api/jobs/{job_id}/cancel")))).await;
    assert_eq!(status, 409);
    let (status, _) = call(http().post(server.url("/api/jobs/nope/cancel"))).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_job_completes_after_its_client_disconnects() {
    let server = Builder::new().spawn();
    let id = create(&server, delays(1, 0.8)).await;
    let mut lines = stream(&server, &id, json!({})).await;
    let job_id = lines.event().await["job_id"].as_str().unwrap().to_owned();
    drop(lines);
    let job = finished_job(&server, &job_id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["results"], json!({"out0": null}));
}

#[tokio::test]
async fn extra_runs_queue_behind_max_concurrent_jobs() {
    let server = Builder::new().env("MAX_CONCURRENT_JOBS", "1").spawn();
    let id = create(&server, delays(1, 0.7)).await;
    let mut first = stream(&server, &id, json!({})).await;
    assert_eq!(first.event().await["status"], "queued");
    assert_eq!(first.event().await["status"], "running");
    let mut second = stream(&server, &id, json!({})).await;
    let queued = second.event().await;
    assert_eq!(queued["status"], "queued");
    let second_id = queued["job_id"].as_str().unwrap().to_owned();
    let (_, listed) = call(http().get(server.url("/api/jobs?status=queued"))).await;
    assert_eq!(listed["jobs"][0]["id"], second_id.as_str());
    // The second starts only once the first has finished.
    let first_events = first.ndjson().await;
    assert_eq!(first_events.last().unwrap()["type"], "job_completed");
    assert_eq!(second.event().await["status"], "running");
    assert_eq!(
        second.ndjson().await.last().unwrap()["type"],
        "job_completed"
    );
    let (_, listed) = call(http().get(server.url(&format!(
        "/api/jobs?workflow_id={id}&status=completed&limit=1"
    ))))
    .await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1);
    assert!(listed["next"].is_string());
    let (status, _) = call(http().get(server.url("/api/jobs?status=bogus"))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn shutdown_fails_running_jobs_after_the_drain_window() {
    let mut server = Builder::new().env("DRAIN_TIMEOUT", "1s").spawn();
    let id = create(&server, delays(1, 30.0)).await;
    let mut lines = stream(&server, &id, json!({})).await;
    let job_id = lines.event().await["job_id"].as_str().unwrap().to_owned();
    assert_eq!(lines.event().await["status"], "running");
    server.signal(libc::SIGTERM);
    server.wait_exit(Duration::from_secs(15));
    assert!(
        server.stderr().contains("interrupting running jobs"),
        "{}",
        server.stderr()
    );
    let dir = server.dir.take().unwrap();
    let server = Builder::new().dir(dir).spawn();
    let job = job(&server, &job_id).await;
    assert_eq!(
        (&job["status"], &job["error"]),
        (&json!("failed"), &json!("interrupted by shutdown"))
    );
    assert!(
        !server.stderr().contains("left unfinished"),
        "the drain recorded it, not recovery"
    );
}

#[tokio::test]
async fn jobs_left_running_by_a_crash_fail_at_start_up() {
    let server = Builder::new().spawn();
    let dir = server.stop();
    let db = rusqlite::Connection::open(dir.path().join("data/platform.db")).unwrap();
    db.execute(
        "INSERT INTO jobs (id, workflow_id, user_id, status, params, created_at, started_at)
         VALUES ('crashed', 'w', '1', 'running', '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z')",
        [],
    )
    .unwrap();
    drop(db);
    let server = Builder::new().dir(dir).spawn();
    let job = job(&server, "crashed").await;
    assert_eq!(
        (&job["status"], &job["error"]),
        (&json!("failed"), &json!("interrupted by shutdown"))
    );
    assert!(job["finished_at"].is_string());
}

/// A multi-user server with users `ada` and `bob`; their session cookies.
async fn two_users() -> (accounts_support::Server, String, String) {
    let server = accounts_support::Server::builder()
        .user("ada", false)
        .user("bob", false)
        .start();
    let ada = accounts_support::signed_in(&server, "ada").await;
    let bob = accounts_support::signed_in(&server, "bob").await;
    (server, ada, bob)
}

#[tokio::test]
async fn others_see_404_and_public_workflows_read_only() {
    let (server, ada, bob) = two_users().await;
    let as_user =
        |req: reqwest::RequestBuilder, cookie: &str| req.header("cookie", cookie.to_owned());
    let (status, wf) = call(
        as_user(http().post(server.url("/api/workflows")), &ada)
            .json(&json!({"name": "ada's", "graph": greeting()})),
    )
    .await;
    assert_eq!(status, 200);
    let id = wf["id"].as_str().unwrap().to_owned();
    let url = server.url(&format!("/api/workflows/{id}"));
    let run = server.url(&format!("/api/workflows/{id}/run"));

    // Private: another user gets 404 for everything, and cannot take the id with PUT.
    for req in [
        http().get(&url),
        http().put(&url).json(&json!({"name": "mine now"})),
        http().delete(&url),
        http().post(&run),
        http().post(server.url(&format!("/workflows/{id}/run"))),
    ] {
        let (status, body) = call(as_user(req, &bob)).await;
        assert_eq!(status, 404, "{body}");
    }
    let (_, list) = call(as_user(http().get(server.url("/api/workflows")), &bob)).await;
    assert_eq!(list["workflows"], json!([]));

    // Public: others may read and run it, not change or delete it.
    let (status, _) =
        call(as_user(http().put(&url), &ada).json(&json!({"access": "public"}))).await;
    assert_eq!(status, 200);
    let (status, got) = call(as_user(http().get(&url), &bob)).await;
    assert_eq!((status, &got["user_id"]), (200, &wf["user_id"]));
    let (status, _) =
        call(as_user(http().put(&url), &bob).json(&json!({"name": "mine now"}))).await;
    assert_eq!(status, 403);
    let (status, _) = call(as_user(http().delete(&url), &bob)).await;
    assert_eq!(status, 403);
    let (status, body) =
        call(as_user(http().post(&run), &bob).json(&json!({"params": {"who": "Bob"}}))).await;
    assert_eq!((status, body), (200, json!({"greeting": "Hello Bob!"})));

    // Bob's job is his: Ada cannot see or cancel it, and lists only her own.
    let (_, jobs) = call(as_user(http().get(server.url("/api/jobs")), &bob)).await;
    let job_id = jobs["jobs"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = call(as_user(
        http().get(server.url(&format!("/api/jobs/{job_id}"))),
        &ada,
    ))
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(as_user(
        http().post(server.url(&format!("/api/jobs/{job_id}/cancel"))),
        &ada,
    ))
    .await;
    assert_eq!(status, 404);
    let (_, jobs) = call(as_user(http().get(server.url("/api/jobs")), &ada)).await;
    assert_eq!(jobs["jobs"], json!([]));

    // Without credentials: 401.
    let (status, _) = call(http().get(&url)).await;
    assert_eq!(status, 401);
}

/// Jobs per second for a small graph through the API (sync runs, each a job row from queued to
/// completed): `cargo test --release --test workflows jobs_per_second -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn jobs_per_second() {
    let server = Builder::new().env("RATE_LIMITS", "off").spawn();
    let id = create(&server, greeting()).await;
    let url = server.url(&format!("/api/workflows/{id}/run"));
    for (total, parallel) in [(300usize, 1usize), (2000, 16)] {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..parallel {
            let (client, url) = (http(), url.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..total / parallel {
                    let res = client
                        .post(&url)
                        .json(&json!({"params": {"who": "bench"}}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                    res.bytes().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let took = start.elapsed();
        println!(
            "{total} runs, {parallel} at a time: {took:?}, {:.0} jobs/s, {:?} per run",
            total as f64 / took.as_secs_f64(),
            took / total as u32 * parallel as u32
        );
    }
}
