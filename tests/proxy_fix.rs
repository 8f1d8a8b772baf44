//! ProxyFix over real connections: what the server records as the client, for trusted and
//! untrusted peers, and with spoofed `X-Forwarded-For` entries.

mod common;

use common::{client, get_json, Builder};

async fn client_info(server: &common::Server, headers: &[(&str, &str)]) -> serde_json::Value {
    let mut req = client().get(server.url("/api/client"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (status, body) = get_json(req).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_trusted_proxy_sets_client_scheme_and_host() {
    // The test connects from 127.0.0.1, which is trusted by default.
    let server = Builder::new().spawn();
    let info = client_info(
        &server,
        &[
            ("x-forwarded-for", "203.0.113.50"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "platform.example.com"),
        ],
    )
    .await;
    assert_eq!(info["addr"], "203.0.113.50");
    assert_eq!(info["scheme"], "https");
    assert_eq!(info["host"], "platform.example.com");
    assert!(info["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn spoofed_entries_left_of_the_proxys_are_ignored() {
    let server = Builder::new().spawn();
    let info = client_info(&server, &[("x-forwarded-for", "6.6.6.6, 203.0.113.50")]).await;
    assert_eq!(info["addr"], "203.0.113.50");
    let two_hops = Builder::new().env("PROXY_FIX_X_FOR", "2").spawn();
    let info = client_info(
        &two_hops,
        &[("x-forwarded-for", "6.6.6.6, 203.0.113.50, 10.0.0.2")],
    )
    .await;
    assert_eq!(info["addr"], "203.0.113.50");
}

#[tokio::test]
async fn an_untrusted_peer_is_taken_literally() {
    let server = Builder::new().env("TRUSTED_PROXIES", "10.0.0.0/8").spawn();
    let info = client_info(
        &server,
        &[
            ("x-forwarded-for", "203.0.113.50"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(info["addr"], "127.0.0.1");
    assert_eq!(info["scheme"], "http");
}

#[tokio::test]
async fn malformed_forwarded_values_are_ignored_never_a_500() {
    let server = Builder::new().spawn();
    let info = client_info(
        &server,
        &[
            ("x-forwarded-for", "not-an-address"),
            ("x-forwarded-proto", "ftp"),
            ("x-forwarded-host", "a b"),
        ],
    )
    .await;
    assert_eq!(info["addr"], "127.0.0.1");
    assert_eq!(info["scheme"], "http");
    assert!(info["host"].as_str().unwrap().starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn the_rate_limiter_keys_on_the_forwarded_client() {
    let server = Builder::new().env("RATE_LIMITS", "read=2/minute").spawn();
    let c = client();
    let get = |ip: &'static str| {
        c.get(server.url("/api/me"))
            .header("x-forwarded-for", ip)
            .send()
    };
    assert_eq!(get("203.0.113.1").await.unwrap().status(), 200);
    assert_eq!(get("203.0.113.1").await.unwrap().status(), 200);
    assert_eq!(get("203.0.113.1").await.unwrap().status(), 429);
    // Another client behind the same proxy has its own quota.
    assert_eq!(get("203.0.113.2").await.unwrap().status(), 200);
}
