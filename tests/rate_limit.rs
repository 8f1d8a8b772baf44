//! Rate limiting over HTTP: 429 with `Retry-After`, JSON or HTML, health checks exempt.

mod common;

use common::{client, Builder};
use serde_json::json;

#[tokio::test]
async fn over_quota_is_429_with_retry_after() {
    let server = Builder::new()
        .env("RATE_LIMITS", "read=3/minute,write=1/minute")
        .spawn();
    let c = client();
    for _ in 0..3 {
        assert_eq!(
            c.get(server.url("/api/me")).send().await.unwrap().status(),
            200
        );
    }
    let res = c.get(server.url("/api/me")).send().await.unwrap();
    assert_eq!(res.status(), 429);
    let after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&after), "retry-after {after}");
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        json!({ "detail": "Rate limit exceeded" })
    );

    // Browsers get a page.
    let res = c
        .get(server.url("/api/me"))
        .header("accept", "text/html,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("Rate limit exceeded"));

    // Health checks are never limited; writes have their own quota.
    for _ in 0..10 {
        assert_eq!(
            c.get(server.url("/health")).send().await.unwrap().status(),
            200
        );
        assert_eq!(
            c.get(server.url("/ping")).send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(
        c.post(server.url("/api/me")).send().await.unwrap().status(),
        405
    );
    assert_eq!(
        c.post(server.url("/api/me")).send().await.unwrap().status(),
        429
    );
}

#[tokio::test]
async fn off_disables_limits() {
    let server = Builder::new().env("RATE_LIMITS", "off").spawn();
    let c = client();
    for _ in 0..50 {
        assert_eq!(
            c.get(server.url("/api/me")).send().await.unwrap().status(),
            200
        );
    }
}
