//! Accounts end to end against the real binary: login, lockout, cookie attributes, logout
//! revocation, API tokens, the management UI, open redirects, CSRF and errors by audience.

mod accounts_support;

use std::time::Instant;

use accounts_support::*;
use serde_json::{json, Value};

async fn me(server: &Server, cookie: Option<&str>, bearer: Option<&str>) -> (u16, Value) {
    let mut req = client().get(server.url("/api/me"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The published session keys.
async fn jwks(server: &Server) -> Value {
    let res = client()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    res.json().await.unwrap()
}

#[tokio::test]
async fn login_sets_the_session_cookie_and_api_me_accepts_it() {
    let server = Server::builder().user("ada", true).start();
    let start = Instant::now();
    let res = login(&server, "ada", PASSWORD, None).await;
    eprintln!("login took {} ms", elapsed_ms(start));
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/app/");
    let raw = set_cookie(&res).unwrap();
    // Plain http on loopback in development: no Secure, no Domain.
    let attrs: Vec<&str> = raw.split("; ").skip(1).collect();
    assert_eq!(
        attrs,
        ["Max-Age=86400", "Path=/", "HttpOnly", "SameSite=Lax"],
        "{raw}"
    );
    let cookie = session_cookie(&res).unwrap();
    let (status, body) = me(&server, Some(&cookie), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["username"], "ada");
    assert_eq!(body["role"], "admin");
    assert_eq!(body["auth"], "cookie");
    // The login page sends a signed-in browser on.
    let res = client()
        .get(server.url("/auth/login?return_to=/app/account"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/app/account");
}

#[tokio::test]
async fn session_jwt_has_the_claims_and_verifies_against_jwks() {
    let server = Server::builder().user("ada", false).start();
    let cookie = signed_in(&server, "ada").await;
    let token = cookie.trim_start_matches("platform_token=");
    let jwks = jwks(&server).await;
    let header = jsonwebtoken::decode_header(token).unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid in the JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&["platform-server"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &v)
        .unwrap()
        .claims;
    for claim in ["sub", "name", "role", "iss", "aud", "iat", "exp", "jti"] {
        assert!(claims.get(claim).is_some(), "{claim} in {claims}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86400
    );
    let key_file = server.data_dir().join("signing_key.pem");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn failed_logins_are_generic_401_pages() {
    let server = Server::builder().user("ada", false).start();
    for (user, pass) in [("ada", "wrong password"), ("nobody", PASSWORD)] {
        let start = Instant::now();
        let res = login(&server, user, pass, None).await;
        eprintln!("failed login for {user} took {} ms", elapsed_ms(start));
        assert_eq!(res.status(), 401);
        assert!(set_cookie(&res).is_none());
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let page = res.text().await.unwrap();
        assert!(page.contains("Invalid username or password"), "{page}");
        assert!(page.contains("<form"), "the form is shown again");
    }
}

#[tokio::test]
async fn ten_failures_lock_the_username_with_retry_after() {
    let server = Server::builder()
        .user("ada", false)
        .user("bob", false)
        .start();
    for _ in 0..10 {
        assert_eq!(login(&server, "ada", "wrong", None).await.status(), 401);
    }
    // Locked even with the right password, and case does not matter.
    let res = login(&server, "ADA", PASSWORD, None).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 500 && retry <= 600, "{retry}");
    assert!(res.text().await.unwrap().contains("429"));
    assert_eq!(login(&server, "bob", PASSWORD, None).await.status(), 302);
}

#[tokio::test]
async fn cookie_domain_and_secure_behind_a_trusted_https_proxy() {
    let server = Server::builder()
        .user("ada", false)
        .env("COOKIE_DOMAIN", "example.com")
        .env("SESSION_TTL", "2h")
        .start();
    let form = [("username", "ada"), ("password", PASSWORD)];
    let res = client()
        .post(server.url("/auth/login"))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let raw = set_cookie(&res).unwrap();
    let attrs: Vec<&str> = raw.split("; ").skip(1).collect();
    assert_eq!(
        attrs,
        [
            "Max-Age=7200",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Domain=example.com",
            "Secure"
        ]
    );
    // Logout clears it with the same Domain and Path.
    let res = client()
        .post(server.url("/auth/logout"))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("origin", "https://app.example.com")
        .header("cookie", session_cookie_of(&raw))
        .send()
        .await
        .unwrap();
    let cleared = set_cookie(&res).unwrap();
    assert!(
        cleared.starts_with("platform_token=; Max-Age=0"),
        "{cleared}"
    );
    assert!(
        cleared.contains("; Path=/") && cleared.contains("; Domain=example.com"),
        "{cleared}"
    );
    // Straight to loopback over http in development: the Domain, but not Secure.
    let res = login(&server, "ada", PASSWORD, None).await;
    let raw = set_cookie(&res).unwrap();
    assert!(raw.ends_with("; Domain=example.com"), "{raw}");
    // Never a Domain for localhost, which browsers would refuse.
    let res = client()
        .post(server.url("/auth/login"))
        .header("host", format!("localhost:{}", server.addr().port()))
        .form(&form)
        .send()
        .await
        .unwrap();
    let raw = set_cookie(&res).unwrap();
    assert!(!raw.contains("Domain=") && !raw.contains("Secure"), "{raw}");
}

async fn signed_in_with(server: &Server, user: &str, password: &str) -> String {
    let res = login(server, user, password, None).await;
    assert_eq!(res.status(), 302);
    session_cookie(&res).unwrap()
}

fn session_cookie_of(raw: &str) -> String {
    raw.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn logout_revokes_the_session_server_side() {
    let server = Server::builder().user("ada", false).start();
    let cookie = signed_in(&server, "ada").await;
    assert_eq!(me(&server, Some(&cookie), None).await.0, 200);
    let res = client()
        .post(server.url("/auth/logout"))
        .header("cookie", &cookie)
        .header("origin", server.origin())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/auth/login");
    assert!(set_cookie(&res).unwrap().starts_with("platform_token=;"));
    // The old cookie, replayed, is dead.
    let (status, body) = me(&server, Some(&cookie), None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["detail"],
        "Authorization header required. Use 'Authorization: Bearer YOUR_TOKEN'"
    );
    // GET works for old links too.
    let cookie = signed_in(&server, "ada").await;
    let res = client()
        .get(server.url("/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(me(&server, Some(&cookie), None).await.0, 401);
}

#[tokio::test]
async fn api_tokens_create_use_list_revoke() {
    let server = Server::builder().user("ada", false).start();
    let cookie = signed_in(&server, "ada").await;
    let res = client()
        .post(server.url("/api/tokens"))
        .header("cookie", &cookie)
        .header("origin", server.origin())
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let (status, body) = me(&server, None, Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["username"].as_str(), body["auth"].as_str()),
        (Some("ada"), Some("token"))
    );
    // A token can manage tokens as well, and the listing never shows the secret.
    let list: Value = client()
        .get(server.url("/api/tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "ci");
    assert!(list[0]["last_used_at"].is_string());
    assert!(!list.to_string().contains(&token));
    let id = created["id"].as_str().unwrap();
    let res = client()
        .delete(server.url(&format!("/api/tokens/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, body) = me(&server, None, Some(&token)).await;
    assert_eq!(status, 401);
    assert_eq!(body["detail"], "Invalid authentication token");
    // The server token is still user "1", and may own tokens too.
    let (status, body) = me(&server, None, Some(SERVER_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["user_id"].as_str(), body["auth"].as_str()),
        (Some("1"), Some("static"))
    );
    let res = client()
        .post(server.url("/api/tokens"))
        .bearer_auth(SERVER_TOKEN)
        .json(&json!({"name": "deploy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = me(&server, None, Some(&token)).await;
    assert_eq!(
        (body["user_id"].as_str(), body["role"].as_str()),
        (Some("1"), Some("admin"))
    );
    let res = client()
        .post(server.url("/api/tokens"))
        .bearer_auth(&token)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn app_pages_redirect_anonymous_users_and_manage_tokens() {
    let server = Server::builder().user("ada", false).start();
    let res = client()
        .get(server.url("/app/account?tab=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        res.headers()["location"],
        "/auth/login?return_to=%2Fapp%2Faccount%3Ftab%3D1"
    );
    // Bearer credentials do not open the browser UI.
    let res = client()
        .get(server.url("/app/"))
        .bearer_auth(SERVER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let cookie = signed_in(&server, "ada").await;
    let get = |path: &str| {
        client()
            .get(server.url(path))
            .header("cookie", &cookie)
            .send()
    };
    let page = get("/app/").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("ada"));
    let post = |path: &str, form: &[(&str, &str)]| {
        client()
            .post(server.url(path))
            .header("cookie", &cookie)
            .header("origin", server.origin())
            .form(form)
            .send()
    };
    let res = post("/app/tokens", &[("name", "laptop <script>")])
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let page = res.text().await.unwrap();
    assert!(page.contains("laptop &lt;script&gt;"), "names are escaped");
    let token = page
        .split("id=\"new-token\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_eq!(me(&server, None, Some(token)).await.0, 200);
    // Shown once: the account page lists it without the secret.
    let page = get("/app/account").await.unwrap().text().await.unwrap();
    assert!(!page.contains(token));
    let id = page
        .split("/app/tokens/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let res = post(&format!("/app/tokens/{id}/revoke"), &[])
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(me(&server, None, Some(token)).await.0, 401);
    // Password change: the old one stops working.
    let res = post(
        "/app/password",
        &[("current", "nope nope"), ("new", "another password")],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let res = post(
        "/app/password",
        &[("current", PASSWORD), ("new", "another password")],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(login(&server, "ada", PASSWORD, None).await.status(), 401);
    assert_eq!(
        login(&server, "ada", "another password", None)
            .await
            .status(),
        302
    );
}

#[tokio::test]
async fn return_to_never_leaves_the_origin() {
    let server = Server::builder().user("ada", false).start();
    for (asked, location) in [
        ("/app/account", "/app/account"),
        ("//evil.example/x", "/app/"),
        ("https://evil.example/", "/app/"),
        ("/\\evil.example", "/app/"),
        ("javascript:alert(1)", "/app/"),
    ] {
        let res = login(&server, "ada", PASSWORD, Some(asked)).await;
        assert_eq!(res.headers()["location"], location, "{asked}");
    }
    let cookie = signed_in(&server, "ada").await;
    let res = client()
        .get(server.url("/auth/login?return_to=%2F%2Fevil.example"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/app/");
}

#[tokio::test]
async fn cross_site_cookie_writes_are_refused() {
    let server = Server::builder().user("ada", false).start();
    let cookie = signed_in(&server, "ada").await;
    let cases: [&[(&str, &str)]; 3] = [
        &[("origin", "https://evil.example")],
        &[("sec-fetch-site", "cross-site")],
        &[("origin", "null")],
    ];
    for headers in cases {
        for path in ["/api/tokens", "/app/tokens", "/auth/logout"] {
            let mut req = client().post(server.url(path)).header("cookie", &cookie);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let res = req.json(&json!({"name": "x"})).send().await.unwrap();
            assert_eq!(res.status(), 403, "{path} {headers:?}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body, json!({"detail": "Cross-site request refused"}));
        }
    }
    // Not logged out by the refused attempts; bearer clients are not affected.
    assert_eq!(me(&server, Some(&cookie), None).await.0, 200);
    let res = client()
        .post(server.url("/api/tokens"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"name": "same"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let token: Value = res.json().await.unwrap();
    let res = client()
        .post(server.url("/api/tokens"))
        .bearer_auth(token["token"].as_str().unwrap())
        .header("origin", "https://evil.example")
        .json(&json!({"name": "bearer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn browsers_get_error_pages_api_clients_json() {
    let server = Server::builder()
        .user("ada", false)
        .env("RATE_LIMITS", "auth=2/minute")
        .start();
    let res = client().get(server.url("/api/me")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    let res = client()
        .get(server.url("/api/me"))
        .header("accept", "text/html,application/xhtml+xml;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("<h2>401 Unauthorized</h2>"));
    let res = client()
        .get(server.url("/auth/missing"))
        .send()
        .await
        .unwrap();
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    for _ in 0..2 {
        login(&server, "ada", "wrong", None).await;
    }
    let res = login(&server, "ada", "wrong", None).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let page = res.text().await.unwrap();
    assert!(page.contains("<h2>429 Too Many Requests</h2>"), "{page}");
}

#[tokio::test]
async fn user_cli_import_keeps_ids_and_token_hashes() {
    use sha2::Digest;
    let server = Server::builder().start();
    let hash = hex::encode(sha2::Sha256::digest(b"legacy-token-of-grace"));
    let yaml = format!(
        "users:\n  grace:\n    user_id: \"1234\"\n    username: grace\n    role: admin\n    token_hash: {hash}\n    created_at: '2024-01-02T03:04:05'\n  linus:\n    user_id: u-2\n    username: linus\n    role: user\n    token_hash: {}\n",
        hex::encode(sha2::Sha256::digest(b"other"))
    );
    let file = server.data_dir().join("users.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = server.cli(&["user", "import", file.to_str().unwrap()], None);
    assert!(out.status.success(), "{out:?}");
    let (status, body) = me(&server, None, Some("legacy-token-of-grace")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["user_id"].as_str(),
            body["role"].as_str(),
            body["auth"].as_str()
        ),
        (Some("1234"), Some("admin"), Some("token"))
    );
    let list = String::from_utf8(server.cli(&["user", "list"], None).stdout).unwrap();
    assert!(
        list.contains("grace") && list.contains("linus") && list.contains("2024-01-02T03:04:05"),
        "{list}"
    );
    // Importing again skips, and disabling stops the token.
    let again = server.cli(&["user", "import", file.to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&again.stdout).contains("skipped grace"));
    assert!(server
        .cli(&["user", "disable", "grace"], None)
        .status
        .success());
    assert_eq!(
        me(&server, None, Some("legacy-token-of-grace")).await.0,
        401
    );
    assert!(server
        .cli(&["user", "remove", "linus"], None)
        .status
        .success());
    assert!(!server
        .cli(&["user", "remove", "linus"], None)
        .status
        .success());
    // passwd from stdin, then a login works.
    assert!(server
        .cli(
            &[
                "user",
                "add",
                "eve",
                "--password-stdin",
                "--display-name",
                "Eve Example"
            ],
            Some("first password")
        )
        .status
        .success());
    let list = String::from_utf8(server.cli(&["user", "list"], None).stdout).unwrap();
    assert!(list.contains("Eve Example"), "{list}");
    assert!(server
        .cli(
            &["user", "passwd", "eve", "--password-stdin"],
            Some("second password")
        )
        .status
        .success());
    assert_eq!(
        login(&server, "eve", "second password", None)
            .await
            .status(),
        302
    );
    let cookie = signed_in_with(&server, "eve", "second password").await;
    assert!(server
        .cli(&["user", "disable", "eve"], None)
        .status
        .success());
    assert_eq!(
        login(&server, "eve", "second password", None)
            .await
            .status(),
        401
    );
    assert_eq!(
        me(&server, Some(&cookie), None).await.0,
        401,
        "sessions end too"
    );
    // Short passwords are warned about, empty ones refused.
    let short = server.cli(
        &["user", "add", "mallory", "--password-stdin"],
        Some("short"),
    );
    assert!(short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8 characters"));
    assert_eq!(login(&server, "mallory", "short", None).await.status(), 302);
    let empty = server.cli(&["user", "add", "trudy", "--password-stdin"], Some(""));
    assert!(!empty.status.success());
    assert!(
        !server
            .cli(&["user", "add", "eve", "--password-stdin"], Some("x"))
            .status
            .success(),
        "taken"
    );
}

#[tokio::test]
async fn sessions_renew_past_half_life_and_expire() {
    let server = Server::builder()
        .user("ada", false)
        .env("SESSION_TTL", "4s")
        .start();
    let res = login(&server, "ada", PASSWORD, None).await;
    assert!(set_cookie(&res).unwrap().contains("Max-Age=4;"));
    let cookie = session_cookie(&res).unwrap();
    let res = client()
        .get(server.url("/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(set_cookie(&res).is_none(), "fresh sessions are not renewed");
    // Issued in second t, used in t+2 or t+3: past half of its 4 s, not yet expired.
    tokio::time::sleep(std::time::Duration::from_millis(2050)).await;
    let res = client()
        .get(server.url("/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let renewed = session_cookie(&res).expect("a renewed cookie");
    assert_ne!(renewed, cookie);
    tokio::time::sleep(std::time::Duration::from_millis(2050)).await;
    assert_eq!(
        me(&server, Some(&cookie), None).await.0,
        401,
        "the old one expired"
    );
    assert_eq!(me(&server, Some(&renewed), None).await.0, 200);
}

#[tokio::test]
async fn a_rotated_key_keeps_verifying_its_sessions() {
    let server = Server::builder().user("ada", false).start();
    let cookie = signed_in(&server, "ada").await;
    let out = server.cli(&["key", "rotate"], None);
    assert!(out.status.success(), "{out:?}");
    let env = [
        ("AUTH_PROVIDER", "multi_user"),
        ("RATE_LIMITS", "off"),
        ("SERVER_AUTH_TOKEN", SERVER_TOKEN),
    ];
    // Restart on the same data directory.
    let dir = server.data_dir().to_owned();
    let mut restarted = Server::builder();
    for (k, v) in env {
        restarted = restarted.env(k, v);
    }
    let restarted = restarted
        .env("DATA_DIR", dir.to_str().unwrap())
        .env(
            "DEPLOYMENT_CONFIG",
            dir.join("deployment.yaml").to_str().unwrap(),
        )
        .start();
    drop(server);
    let jwks = jwks(&restarted).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert_eq!(me(&restarted, Some(&cookie), None).await.0, 200);
    let fresh = signed_in(&restarted, "ada").await;
    let kid = |c: &str| {
        jsonwebtoken::decode_header(c.trim_start_matches("platform_token="))
            .unwrap()
            .kid
    };
    assert_ne!(kid(&cookie), kid(&fresh));
}
