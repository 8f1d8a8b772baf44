//! HS256 tokens from a test issuer, for the `AUTH_PROVIDER=jwt` tests.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::Value;

use super::{client, Server};

pub const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters";
pub const ISSUER: &str = "https://project.supabase.test/auth/v1";

/// Seconds since the epoch, for `iat` and `exp`.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `claims` signed with HS256 by `secret`.
pub fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// `GET /api/me` with `token` as the bearer: the status and the JSON body (`null` if none).
pub async fn me(server: &Server, token: &str) -> (u16, Value) {
    let res = client()
        .get(server.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}
