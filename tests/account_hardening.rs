//! Account hardening against the real binary: password hashing memory under load, session
//! families, external subjects kept apart from local users, OPTIONS, browser headers, login
//! CSRF and a signing key standard tools can read.

mod accounts_support;

use std::time::{Duration, Instant};

use accounts_support::jwt::{hs256, me, now, ISSUER, SECRET};
use accounts_support::*;
use serde_json::json;

async fn get(server: &Server, path: &str, cookie: &str) -> reqwest::Response {
    client()
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Ordinary API load on 32 connections (which grows the blocking pool) plus rounds of eight
/// concurrent failed logins: memory stays within 100 MiB of idle.
#[tokio::test]
async fn password_hashing_under_load_keeps_memory_flat() {
    let server = Server::builder().user("ada", false).start();
    let pid = server.child.id();
    let cookie = signed_in(&server, "ada").await;
    let idle = rss_kib(pid);
    let stop = Instant::now() + Duration::from_secs(8);
    let mut load = Vec::new();
    for i in 0..32 {
        let (url, cookie) = (server.origin(), cookie.clone());
        load.push(tokio::spawn(async move {
            let paths = ["/health", "/api/me", "/api/tokens", "/ping"];
            let mut n = 0;
            while Instant::now() < stop && n < 20_000 {
                let path = paths[(i + n) % paths.len()];
                let _ = client()
                    .get(format!("{url}{path}"))
                    .header("cookie", &cookie)
                    .send()
                    .await;
                n += 1;
            }
        }));
    }
    let mut peak = idle;
    for round in 0..12 {
        // Distinct names, so the per-account lockout never answers before the hash runs.
        let names: Vec<String> = (0..8).map(|i| format!("nobody-{round}-{i}")).collect();
        let logins = names
            .iter()
            .map(|n| login(&server, n, "wrong password", None));
        for res in futures_util::future::join_all(logins).await {
            assert_eq!(res.status(), 401);
        }
        peak = peak.max(rss_kib(pid));
    }
    for task in load {
        task.await.unwrap();
    }
    peak = peak.max(rss_kib(pid));
    eprintln!("RSS idle {idle} KiB, peak {peak} KiB");
    assert!(
        peak - idle < 100 * 1024,
        "RSS grew from {idle} KiB to {peak} KiB"
    );
}

/// A copy of the cookie taken before a renewal dies with the logout of the renewed one, and a
/// cookie past half its life renews once however often it is used.
#[tokio::test]
async fn logout_ends_every_copy_of_a_renewed_session() {
    let server = Server::builder()
        .user("ada", false)
        .env("SESSION_TTL", "4s")
        .start();
    let a = signed_in(&server, "ada").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let uses = (0..20).map(|_| get(&server, "/api/me", &a));
    let renewed: Vec<String> = futures_util::future::join_all(uses)
        .await
        .iter()
        .inspect(|res| assert_eq!(res.status(), 200))
        .filter_map(session_cookie)
        .collect();
    assert_eq!(renewed.len(), 1, "renewed once, not into 20 sessions");
    let b = &renewed[0];
    assert_eq!(get(&server, "/api/me", b).await.status(), 200);
    let res = client()
        .post(server.url("/auth/logout"))
        .header("cookie", b)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(get(&server, "/api/me", b).await.status(), 401);
    assert_eq!(
        get(&server, "/api/me", &a).await.status(),
        401,
        "the copy from before the renewal is dead too"
    );
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let server = Server::builder().user("ada", false).start();
    let (here, elsewhere) = (
        signed_in(&server, "ada").await,
        signed_in(&server, "ada").await,
    );
    let res = client()
        .post(server.url("/app/password"))
        .header("cookie", &here)
        .form(&[("current", PASSWORD), ("new", "a brand new password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(get(&server, "/api/me", &here).await.status(), 200);
    assert_eq!(get(&server, "/api/me", &elsewhere).await.status(), 401);
    // The CLI's passwd ends them all.
    let out = server.cli(
        &["user", "passwd", "ada", "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(get(&server, "/api/me", &here).await.status(), 401);
}

/// An issuer's token whose `sub` is "1" is not the server's owner.
#[tokio::test]
async fn an_external_subject_never_acts_as_a_local_user() {
    let server = Server::builder()
        .env("AUTH_PROVIDER", "jwt")
        .env("JWT_SECRET", SECRET)
        .env("JWT_ISSUER", ISSUER)
        .start();
    let res = client()
        .post(server.url("/api/tokens"))
        .bearer_auth(SERVER_TOKEN)
        .json(&json!({"name": "owner's"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let claims = json!({"sub": "1", "iss": ISSUER, "exp": now() + 600});
    let token = hs256(&claims, SECRET.as_bytes());
    let (_, me) = me(&server, &token).await;
    assert_eq!(me["user_id"], format!("jwt:{ISSUER}#1"));
    let res = client()
        .get(server.url("/api/tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "the owner's tokens stay the owner's");
}

#[tokio::test]
async fn options_meets_auth_unless_it_is_a_cors_preflight() {
    let server = Server::builder()
        .env("ADMIN_TOKEN", "the-admin-token")
        .env("CORS_ORIGINS", "https://app.example")
        .start();
    let options = |path: &str| client().request(reqwest::Method::OPTIONS, server.url(path));
    for (path, admin) in [
        ("/admin/status", Some("GUESS")),
        ("/admin/status", Some("the-admin-token")),
        ("/api/tokens", None),
        ("/api/nothing", None),
    ] {
        let mut req = options(path);
        if let Some(t) = admin {
            req = req.header("x-admin-token", t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "OPTIONS {path} with {admin:?}");
        assert!(res.headers().get("allow").is_none());
    }
    let res = options("/api/tokens")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}

#[tokio::test]
async fn pages_and_json_carry_the_browser_headers() {
    let server = Server::builder().start();
    let page = client()
        .get(server.url("/auth/login"))
        .send()
        .await
        .unwrap();
    let h = page.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    for path in ["/api/me", "/ping"] {
        let res = client().get(server.url(path)).send().await.unwrap();
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}

#[tokio::test]
async fn login_is_refused_from_a_foreign_origin() {
    let server = Server::builder().user("ada", false).start();
    let form = [("username", "ada"), ("password", PASSWORD)];
    let post = || client().post(server.url("/auth/login")).form(&form);
    let refused = [
        post().header("origin", "https://evil.example"),
        post().header("sec-fetch-site", "cross-site"),
        post()
            .header("origin", server.origin())
            .header("origin", "https://evil.example"),
    ];
    for req in refused {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403);
        assert!(session_cookie(&res).is_none());
    }
    let res = post()
        .header("origin", server.origin())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(session_cookie(&res).is_some());
}

/// `openssl pkey` and Python's `cryptography` read the generated signing key.
#[tokio::test]
async fn the_signing_key_is_standard_pkcs8() {
    let server = Server::builder().start();
    let key = server.data_dir().join("signing_key.pem");
    assert!(key.exists(), "{}", key.display());
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-noout", "-in"])
        .arg(&key)
        .output()
        .expect("openssl (installed by .ci/run)");
    assert!(out.status.success(), "{out:?}");
    let script = "import sys\n\
        from cryptography.hazmat.primitives.serialization import load_pem_private_key\n\
        load_pem_private_key(open(sys.argv[1], 'rb').read(), None)\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&key)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{out:?}");
}
