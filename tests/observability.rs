//! `/metrics` on METRICS_LISTEN and the access log (text and JSON), against the real binary.

mod e2e_support;

use std::time::Duration;

use e2e_support::{command, Server};

const TOKEN: &str = "observability-test-token-0123456789";

fn start(extra: &[(&str, &str)]) -> (Server, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = command(home.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("AUTH_PROVIDER", "static")
        .env("SERVER_AUTH_TOKEN", TOKEN);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    (Server::start(cmd), home)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn scrape(server: &Server) -> String {
    let addr = server.metrics.expect("a 'metrics listening on' line");
    let res = client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    res.text().await.unwrap()
}

/// The value of the sample `name{labels}` (exact series), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_refusals_latency_pool_and_draining() {
    let (server, _home) = start(&[
        ("METRICS_LISTEN", "127.0.0.1:0"),
        ("RATE_LIMITS", "read=3/minute"),
    ]);
    let c = client();
    let ok = c
        .get(server.url("/api/me"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let missing = c.get(server.url("/api/me")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let wrong = c
        .get(server.url("/api/me"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let limited = c
        .get(server.url("/api/me"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    for _ in 0..2 {
        assert_eq!(
            c.get(server.url("/health")).send().await.unwrap().status(),
            200
        );
    }

    let text = scrape(&server).await;
    let expect = [
        (r#"http_requests_total{set="api",status="200"}"#, 1.0),
        (r#"http_requests_total{set="health",status="200"}"#, 2.0),
        // Refusals count against the set of the route they were for.
        (r#"http_requests_total{set="api",status="401"}"#, 2.0),
        (r#"http_requests_total{set="api",status="429"}"#, 1.0),
        (r#"auth_refused_total{reason="missing"}"#, 1.0),
        (r#"auth_refused_total{reason="invalid"}"#, 1.0),
        (r#"rate_limited_total{class="read"}"#, 1.0),
        (r#"http_request_duration_seconds_count{set="health"}"#, 2.0),
        (
            r#"http_request_duration_seconds_bucket{set="health",le="+Inf"}"#,
            2.0,
        ),
        ("http_requests_in_flight", 0.0),
        ("draining", 0.0),
        (r#"db_pool_connections{state="in_use"}"#, 0.0),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
    assert!(
        sample(&text, r#"db_pool_connections{state="idle"}"#).is_some(),
        "{text}"
    );
    assert!(
        text.contains("# TYPE http_request_duration_seconds histogram"),
        "{text}"
    );
    // Only /metrics is served there.
    let addr = server.metrics.unwrap();
    let other = c.get(format!("http://{addr}/api/me")).send().await.unwrap();
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn draining_shows_in_metrics() {
    let (server, _home) = start(&[("METRICS_LISTEN", "127.0.0.1:0"), ("DRAIN_TIMEOUT", "5s")]);
    // An unfinished request keeps the process draining while we scrape.
    let mut slow = std::net::TcpStream::connect(server.addr()).unwrap();
    std::io::Write::write_all(&mut slow, b"GET /health HTTP/1.1\r\nHost: t\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.signal(libc::SIGTERM);
    assert!(server.wait_log("draining", Duration::from_secs(5)));
    assert_eq!(sample(&scrape(&server).await, "draining"), Some(1.0));
}

#[test]
fn metrics_off_prints_no_metrics_line_and_a_bad_address_names_the_variable() {
    let (server, _home) = start(&[("METRICS_LISTEN", "off")]);
    assert_eq!(server.metrics, None);
    assert!(!server.stdout().contains("metrics listening"));
    drop(server);

    let home = tempfile::tempdir().unwrap();
    let out = command(home.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("METRICS_LISTEN", "not an address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("METRICS_LISTEN"));
}

#[tokio::test]
async fn json_access_log_has_id_client_route_status_latency_and_no_secrets() {
    let (server, _home) = start(&[("LOG_FORMAT", "json")]);
    let c = client();
    let res = c
        .get(server.url("/api/me"))
        .bearer_auth(TOKEN)
        .header("cookie", "session=cookie-secret-value")
        .header("x-request-id", "req-observability-1")
        .header("x-admin-token", "admin-secret-value")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let bad = c
        .get(server.url("/api/me?password=query-secret"))
        .bearer_auth("wrong-token-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(server.wait_log("req-observability-1", Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(200));

    let log = server.stderr();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["span"]["id"] == "req-observability-1" && v["status"] == 200)
        .unwrap_or_else(|| panic!("no JSON access line for the request:\n{log}"));
    assert_eq!(line["span"]["client"], "127.0.0.1", "{line}");
    assert_eq!(line["route"], "/api/me", "{line}");
    assert!(line["latency_ms"].as_f64().is_some(), "{line}");
    for secret in [
        TOKEN,
        "cookie-secret-value",
        "admin-secret-value",
        "wrong-token-secret",
        "query-secret",
    ] {
        assert!(!log.contains(secret), "{secret} was logged:\n{log}");
    }
}
