//! AUTH_PROVIDER=jwt against the real binary: HS256 by secret, and a JWKS served by a test
//! server on loopback (found through SUPABASE_URL), with every bad-token case refused.

mod accounts_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use accounts_support::jwt::{hs256, me, now, ISSUER, SECRET};
use accounts_support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn claims() -> Value {
    json!({"sub": "0b5c-user", "email": "grace@example.com", "role": "authenticated",
           "aud": "authenticated", "iss": ISSUER, "iat": now(), "exp": now() + 600})
}

fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// The cases every configuration must refuse, built from a valid claim set.
fn bad_tokens(sign: impl Fn(&Value) -> String) -> Vec<(&'static str, String)> {
    let with = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        sign(&c)
    };
    vec![
        ("expired", with("exp", json!(now() - 3600))),
        ("not yet valid", with("nbf", json!(now() + 3600))),
        ("wrong audience", with("aud", json!("someone-else"))),
        ("wrong issuer", with("iss", json!("https://evil.example"))),
        ("alg none", unsigned(&claims())),
        ("garbage", "a.b.c".into()),
    ]
}

#[tokio::test]
async fn hs256_secret() {
    let server = Server::builder()
        .env("AUTH_PROVIDER", "supabase")
        .env("JWT_SECRET", SECRET)
        .env("JWT_ISSUER", ISSUER)
        .env("JWT_AUDIENCE", "authenticated")
        .user("ada", false)
        .start();
    let (status, body) = me(&server, &hs256(&claims(), SECRET.as_bytes())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"user_id": format!("jwt:{ISSUER}#0b5c-user"), "username": "grace@example.com", "role": "user", "auth": "jwt"})
    );
    // An external user has no account row, so no API tokens: listing them says why.
    let res = client()
        .get(server.url("/api/tokens"))
        .bearer_auth(hs256(&claims(), SECRET.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.json::<Value>().await.unwrap()["detail"],
        "API tokens belong to user accounts; sign in as a user"
    );
    let mut cases = bad_tokens(|c| hs256(c, SECRET.as_bytes()));
    cases.push((
        "wrong secret",
        hs256(&claims(), b"another-secret-another-secret-another"),
    ));
    for (name, token) in cases {
        let (status, body) = me(&server, &token).await;
        assert_eq!(status, 401, "{name}");
        assert_eq!(body["detail"], "Invalid authentication token", "{name}");
    }
    // The static token and the browser session work under the jwt provider too.
    assert_eq!(me(&server, SERVER_TOKEN).await.1["auth"], "static");
    let cookie = signed_in(&server, "ada").await;
    let res = client()
        .get(server.url("/api/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["auth"], "cookie");
}

struct Ed {
    kid: &'static str,
    pem: String,
    x: String,
}

impl Ed {
    fn new(kid: &'static str, seed: u8) -> Ed {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        Ed {
            kid,
            pem: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            x: URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
        }
    }

    fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": self.x, "kid": self.kid, "alg": "EdDSA", "use": "sig"})
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.into());
        encode(
            &header,
            claims,
            &EncodingKey::from_ed_pem(self.pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }
}

/// A one-route HTTP server on loopback answering every request with the current JWKS.
async fn jwks_server(jwks: Arc<Mutex<Value>>, hits: Arc<Mutex<Vec<String>>>) -> String {
    slow_jwks_server(jwks, hits, Duration::ZERO).await
}

/// The same, taking `delay` before each answer (an issuer under load).
async fn slow_jwks_server(
    jwks: Arc<Mutex<Value>>,
    hits: Arc<Mutex<Vec<String>>>,
    delay: Duration,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (jwks, hits) = (jwks.clone(), hits.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
                hits.lock().unwrap().push(path);
                tokio::time::sleep(delay).await;
                let body = jwks.lock().unwrap().to_string();
                let res = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(res.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn jwks_from_supabase_url_with_refresh_on_unknown_kid() {
    let (k1, k2, stranger) = (Ed::new("k1", 1), Ed::new("k2", 2), Ed::new("k3", 3));
    let jwks = Arc::new(Mutex::new(json!({"keys": [k1.jwk()]})));
    let hits = Arc::new(Mutex::new(Vec::new()));
    let base = jwks_server(jwks.clone(), hits.clone()).await;
    let server = Server::builder()
        .env("AUTH_PROVIDER", "jwt")
        .env("SUPABASE_URL", &base)
        .env("JWT_ISSUER", ISSUER)
        .env("JWT_AUDIENCE", "authenticated")
        .env("JWKS_REFRESH_MIN_INTERVAL", "1s")
        .start();
    let (status, body) = me(&server, &k1.sign(&claims())).await;
    assert_eq!(
        (status, body["auth"].as_str()),
        (200, Some("jwt")),
        "{body}"
    );
    assert_eq!(
        hits.lock().unwrap().as_slice(),
        ["/auth/v1/.well-known/jwks.json"]
    );
    // Cached: a second token under k1 fetches nothing.
    let mut other = claims();
    other["sub"] = json!("second");
    assert_eq!(
        me(&server, &k1.sign(&other)).await.1["user_id"],
        format!("jwt:{ISSUER}#second")
    );
    assert_eq!(hits.lock().unwrap().len(), 1);
    // The issuer rotates: past the minimum interval, a token under the new kid refetches and
    // passes at once.
    *jwks.lock().unwrap() = json!({"keys": [k1.jwk(), k2.jwk()]});
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(me(&server, &k2.sign(&claims())).await.0, 200);
    assert_eq!(hits.lock().unwrap().len(), 2);
    let mut cases = bad_tokens(|c| k1.sign(c));
    cases.push(("unknown key", stranger.sign(&claims())));
    // HS/RS confusion: an HMAC token keyed with the public key must not verify.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let confused = encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(k1.x.as_bytes()),
    )
    .unwrap();
    cases.push(("hs256 with the public key", confused));
    for (name, token) in cases {
        assert_eq!(me(&server, &token).await.0, 401, "{name}");
    }
}

#[test]
fn jwt_without_secret_or_jwks_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("DATA_DIR".to_string(), dir.path().display().to_string()),
        ("AUTH_PROVIDER".to_string(), "jwt".to_string()),
    ];
    let out = run_cli(&env, &["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "platform-server: error: AUTH_PROVIDER=jwt requires JWT_SECRET (HS256) or a JWKS URL (JWT_JWKS_URL or SUPABASE_URL)"
    );
}

/// A slow JWKS endpoint and tokens naming junk `kid`s: genuine tokens under a known key answer
/// at once meanwhile, junk causes one fetch per interval, and a genuinely rotated key is
/// accepted within that interval however much junk arrives.
#[tokio::test]
async fn junk_kids_neither_stall_genuine_users_nor_starve_rotation() {
    let (k1, k2) = (Ed::new("k1", 1), Ed::new("k2", 2));
    let jwks = Arc::new(Mutex::new(json!({"keys": [k1.jwk()]})));
    let hits = Arc::new(Mutex::new(Vec::new()));
    let base = slow_jwks_server(jwks.clone(), hits.clone(), Duration::from_secs(3)).await;
    let server = Server::builder()
        .env("AUTH_PROVIDER", "jwt")
        .env("JWT_JWKS_URL", &format!("{base}/jwks.json"))
        .env("JWKS_REFRESH_MIN_INTERVAL", "2s")
        .start();
    assert_eq!(me(&server, &k1.sign(&claims())).await.0, 200, "first fetch");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let junk = |n: usize| {
        let key = Ed::new(Box::leak(format!("junk-{n}").into_boxed_str()), 9);
        key.sign(&claims())
    };
    let server = Arc::new(server);
    let mut stalled = Vec::new();
    for n in 0..4 {
        let (server, token) = (server.clone(), junk(n));
        stalled.push(tokio::spawn(async move { me(&server, &token).await.0 }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 0..5 {
        let mut fresh = claims();
        fresh["sub"] = json!(format!("genuine-{n}"));
        let start = Instant::now();
        assert_eq!(me(&server, &k1.sign(&fresh)).await.0, 200);
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
    }
    for task in stalled {
        assert_eq!(task.await.unwrap(), 401);
    }
    // The issuer rotates while junk keeps coming: at most one fetch per interval, and the new
    // key works within one interval (plus the slow fetch itself).
    *jwks.lock().unwrap() = json!({"keys": [k1.jwk(), k2.jwk()]});
    let fetches_before = hits.lock().unwrap().len();
    let start = Instant::now();
    let accepted = loop {
        let tokens: Vec<String> = (0..5).map(|n| junk(100 + n)).collect();
        futures_util::future::join_all(tokens.iter().map(|t| me(&server, t))).await;
        if me(&server, &k2.sign(&claims())).await.0 == 200 {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(12),
            "the rotated key was never accepted"
        );
    };
    let fetches = hits.lock().unwrap().len() - fetches_before;
    eprintln!("rotated key accepted after {accepted:?}, {fetches} fetches");
    assert!(
        accepted < Duration::from_secs(2 + 3 + 3 + 1),
        "{accepted:?}"
    );
    let allowed = accepted.as_secs() / 2 + 2;
    assert!(
        fetches as u64 <= allowed,
        "{fetches} fetches in {accepted:?}"
    );
}
