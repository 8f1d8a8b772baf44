//! The core routes over real HTTP: statuses, bodies and headers clients of the old services
//! rely on.

mod common;

use common::{client, get_json, Builder, TOKEN};
use serde_json::json;

const MISSING: &str = "Authorization header required. Use 'Authorization: Bearer YOUR_TOKEN'";
const BAD_FORMAT: &str =
    "Invalid authorization header format. Use 'Authorization: Bearer YOUR_TOKEN'";

#[tokio::test]
async fn health_and_ping_are_public() {
    let server = Builder::static_token().spawn();
    let c = client();
    let res = c.get(server.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.text().await.unwrap(), r#""OK""#);

    let (status, body) = get_json(c.get(server.url("/ping"))).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "healthy");
    let ts = body["timestamp"].as_str().unwrap();
    assert!(ts.ends_with("+00:00"), "{ts}");
    chrono::DateTime::parse_from_rfc3339(ts).unwrap();
}

#[tokio::test]
async fn static_token_guards_the_api_with_the_old_bodies() {
    let server = Builder::static_token().spawn();
    let c = client();
    let me = server.url("/api/me");
    let cases: [(Option<&str>, &str); 4] = [
        (None, MISSING),
        (Some("Token abc"), BAD_FORMAT),
        (Some("Bearer a b"), BAD_FORMAT),
        (Some("Bearer wrong-token"), "Invalid authentication token"),
    ];
    for (header, detail) in cases {
        let mut req = c.get(&me);
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{header:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            res.json::<serde_json::Value>().await.unwrap(),
            json!({ "detail": detail })
        );
    }
    let (status, body) = get_json(c.get(&me).bearer_auth(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(body["user_id"], "1");
    assert_eq!(body["auth"], "static");
}

#[tokio::test]
async fn local_provider_acts_as_user_one_and_accepts_its_token() {
    let server = Builder::new().spawn();
    let c = client();
    let (status, body) = get_json(c.get(server.url("/api/me"))).await;
    assert_eq!(
        (status, &body["user_id"], &body["auth"]),
        (200, &json!("1"), &json!("local"))
    );
    // The generated token was written to the deployment config and works as the static token.
    let token = std::fs::read_to_string(server.home().join("config/deployment.yaml")).unwrap();
    let token = token
        .trim()
        .strip_prefix("server_auth_token: ")
        .unwrap()
        .to_owned();
    let (_, body) = get_json(c.get(server.url("/api/me")).bearer_auth(&token)).await;
    assert_eq!(body["auth"], "static");
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let server = Builder::static_token().spawn();
    let c = client();
    let (status, body) = get_json(c.get(server.url("/no/such/route")).bearer_auth(TOKEN)).await;
    assert_eq!((status, body), (404, json!({ "detail": "Not Found" })));

    let res = c
        .delete(server.url("/api/me"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        json!({ "detail": "Method Not Allowed" })
    );

    let res = c.head(server.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], "4");
    assert!(res.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn request_ids_are_kept_or_generated() {
    let server = Builder::new().spawn();
    let c = client();
    let res = c
        .get(server.url("/health"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
    let res = c.get(server.url("/health")).send().await.unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    // Errors carry one too.
    let res = c.get(server.url("/nope")).send().await.unwrap();
    assert!(res.headers().contains_key("x-request-id"));
    drop(server);
}

#[tokio::test]
async fn admin_routes_need_auth_first_then_the_admin_token() {
    let server = Builder::static_token()
        .env("ADMIN_TOKEN", "admin-secret-0123456789")
        .spawn();
    let c = client();
    let url = server.url("/admin/status");
    // No credentials at all: auth answers first.
    let (status, body) = get_json(c.get(&url)).await;
    assert_eq!((status, body), (401, json!({ "detail": MISSING })));
    let (status, body) = get_json(
        c.get(&url)
            .header("x-admin-token", "admin-secret-0123456789"),
    )
    .await;
    assert_eq!((status, body), (401, json!({ "detail": MISSING })));
    // Authenticated, admin token missing or wrong.
    let (status, body) = get_json(c.get(&url).bearer_auth(TOKEN)).await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({ "detail": "Admin token required. Use X-Admin-Token header." })
        )
    );
    let (status, body) = get_json(
        c.get(&url)
            .bearer_auth(TOKEN)
            .header("x-admin-token", "guess"),
    )
    .await;
    assert_eq!(
        (status, body),
        (403, json!({ "detail": "Invalid admin token." }))
    );
    // Both.
    let (status, body) = get_json(
        c.get(&url)
            .bearer_auth(TOKEN)
            .header("x-admin-token", "admin-secret-0123456789"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body["schema_version"].as_i64().unwrap() >= 1);
    assert_eq!(body["draining"], false);
    assert_eq!(body["auth_provider"], "static");
}

#[tokio::test]
async fn admin_without_admin_token_configured_is_bearer_only() {
    let server = Builder::static_token().spawn();
    let (status, _) = get_json(client().get(server.url("/admin/status")).bearer_auth(TOKEN)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn serves_h2c_and_several_listeners() {
    let server = Builder::new()
        .args(&["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"])
        .spawn();
    assert_eq!(server.addrs.len(), 2);
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for addr in &server.addrs {
        let res = h2
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.version(), reqwest::Version::HTTP_2);
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test]
async fn bad_json_is_400_with_the_position_and_big_bodies_413() {
    let server = Builder::static_token().spawn();
    let c = client();
    let url = server.url("/api/tokens");
    let (status, body) = get_json(
        c.post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body("{\"name\": \n oops}"),
    )
    .await;
    assert_eq!(status, 400);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("line 2 column 2"), "{detail}");

    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let (status, body) = get_json(c.post(&url).bearer_auth(TOKEN).body(big)).await;
    assert_eq!(status, 413);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Request body too large"),
        "{body}"
    );

    // A good body still works afterwards: nothing was half-written.
    let (status, body) = get_json(
        c.post(&url)
            .bearer_auth(TOKEN)
            .json(&json!({ "name": "ci" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["token"].as_str().is_some_and(|t| t.len() >= 32),
        "{body}"
    );
}

/// `CORS_ORIGINS`: a listed origin gets its own name back with credentials (never `*`), and a
/// preflight is answered before auth; other origins get no CORS headers.
#[tokio::test]
async fn cors_allows_only_the_listed_origins_with_credentials() {
    let server = Builder::static_token()
        .env("CORS_ORIGINS", "https://app.example")
        .spawn();
    let c = client();
    let preflight = |origin: &'static str| {
        c.request(reqwest::Method::OPTIONS, server.url("/api/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let res = preflight("https://app.example").await.unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("authorization"), "{allowed}");

    let res = preflight("https://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    let res = c
        .get(server.url("/api/me"))
        .header("origin", "https://app.example")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}
