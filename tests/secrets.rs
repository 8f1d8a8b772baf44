//! Secrets end to end against the real binary: the `/api/secrets` routes and their errors,
//! values never listed nor stored or logged in clear, the development key file, isolation
//! between two users, and the import of Fernet tokens made here as the old Python server did.

mod accounts_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use accounts_support::*;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

const MASTER: &str = "test-master-key-5b7e0c2d9a1f";

/// A multi-user server with the master key set, admin "ada" and user "bob" made by the CLI.
fn server() -> Server {
    Server::builder()
        .env("SECRETS_MASTER_KEY", MASTER)
        .user("ada", true)
        .user("bob", false)
        .start()
}

/// Whether any file under `dir` contains `needle`.
fn found_in_files(dir: &Path, needle: &[u8]) -> Option<String> {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if let Some(hit) = found_in_files(&path, needle) {
                return Some(hit);
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                return Some(path.display().to_string());
            }
        }
    }
    None
}

#[tokio::test]
async fn secrets_put_list_get_delete_and_their_errors() {
    let server = server();
    let t = As::token(&server);
    let value = "sk-live-0123456789-very-secret";
    let (status, body) = t
        .json(
            Method::PUT,
            "/api/secrets/OPENAI_API_KEY",
            json!({"value": value, "description": "OpenAI"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["key"], "OPENAI_API_KEY");
    assert_eq!(body["description"], "OpenAI");
    assert!(body["created_at"].is_string() && body["updated_at"].is_string());
    assert!(body.get("value").is_none());
    // Replacing answers 200 and keeps the description when none is given.
    let (status, body) = t
        .json(
            Method::PUT,
            "/api/secrets/OPENAI_API_KEY",
            json!({ "value": value }),
        )
        .await;
    assert_eq!(
        (status, body["description"].clone()),
        (200, json!("OpenAI"))
    );
    t.json(
        Method::PUT,
        "/api/secrets/a%20key.v2",
        json!({"value": "second"}),
    )
    .await;

    let (status, list) = t.call(Method::GET, "/api/secrets").await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = list["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["OPENAI_API_KEY", "a key.v2"]);
    assert!(
        !list.to_string().contains(value),
        "a listing never has values"
    );
    assert!(list["secrets"][0].get("value").is_none());

    let (status, body) = t.call(Method::GET, "/api/secrets/OPENAI_API_KEY").await;
    assert_eq!(status, 200);
    assert!(body.get("value").is_none(), "{body}");
    for q in ["decrypt=false", "decrypt=no", "other=true"] {
        let (_, body) = t
            .call(Method::GET, &format!("/api/secrets/OPENAI_API_KEY?{q}"))
            .await;
        assert!(body.get("value").is_none(), "{q}");
    }
    let (status, body) = t
        .call(Method::GET, "/api/secrets/OPENAI_API_KEY?decrypt=true")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["value"], value);
    assert_eq!(body["description"], "OpenAI");
    let (_, body) = t
        .call(Method::GET, "/api/secrets/a%20key.v2?decrypt=true")
        .await;
    assert_eq!(body["value"], "second");

    // Errors.
    let (status, body) = t.call(Method::GET, "/api/secrets/NOPE?decrypt=true").await;
    assert_eq!((status, body), (404, json!({"detail": "Not Found"})));
    for (path, body) in [
        ("/api/secrets/K", json!({})),
        ("/api/secrets/K", json!({"value": 5})),
        (
            "/api/secrets/K",
            json!({"value": "v".repeat(64 * 1024 + 1)}),
        ),
        ("/api/secrets/%20lead", json!({"value": "v"})),
        ("/api/secrets/a%0Ab", json!({"value": "v"})),
        ("/api/secrets/%FF", json!({"value": "v"})),
    ] {
        let (status, r) = t.json(Method::PUT, path, body).await;
        assert_eq!(status, 400, "{path}: {r}");
    }
    let res = t
        .raw_body(Method::PUT, "/api/secrets/K", "application/json", "{")
        .await;
    assert_eq!(res.status(), 400);

    let res = t.raw(Method::DELETE, "/api/secrets/a%20key.v2").await;
    assert_eq!(res.status(), 204);
    let (status, _) = t.call(Method::DELETE, "/api/secrets/a%20key.v2").await;
    assert_eq!(status, 404);
    let (status, _) = t.call(Method::GET, "/api/secrets/a%20key.v2").await;
    assert_eq!(status, 404);
    let res = As::anonymous(&server)
        .raw(Method::GET, "/api/secrets")
        .await;
    assert_eq!(res.status(), 401);

    // Neither the value nor the master key is anywhere in the data directory or the logs.
    let data = server.home().join("data");
    assert_eq!(found_in_files(&data, value.as_bytes()), None);
    assert_eq!(found_in_files(&data, MASTER.as_bytes()), None);
    assert!(!data.join("secrets_master.key").exists());
    assert!(!server.stderr().contains(MASTER));
    assert!(!server.stdout().contains(MASTER));
    assert!(!server.stderr().contains(value));
}

#[tokio::test]
async fn users_see_only_their_own_secrets() {
    let server = server();
    let ada = As::user(&server, "ada").await;
    let bob = As::user(&server, "bob").await;
    let (status, _) = ada
        .json(
            Method::PUT,
            "/api/secrets/TOKEN",
            json!({"value": "ada-value"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, list) = bob.call(Method::GET, "/api/secrets").await;
    assert_eq!(list, json!({"secrets": []}));
    let (status, _) = bob
        .call(Method::GET, "/api/secrets/TOKEN?decrypt=true")
        .await;
    assert_eq!(status, 404);
    let (status, _) = bob.call(Method::DELETE, "/api/secrets/TOKEN").await;
    assert_eq!(status, 404);
    // Bob's own secret of the same key is his alone.
    let (status, _) = bob
        .json(
            Method::PUT,
            "/api/secrets/TOKEN",
            json!({"value": "bob-value"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, body) = ada
        .call(Method::GET, "/api/secrets/TOKEN?decrypt=true")
        .await;
    assert_eq!(body["value"], "ada-value");
    let (_, body) = bob
        .call(Method::GET, "/api/secrets/TOKEN?decrypt=true")
        .await;
    assert_eq!(body["value"], "bob-value");
    let (_, list) = As::token(&server).call(Method::GET, "/api/secrets").await;
    assert_eq!(list, json!({"secrets": []}), "the server token is user 1");
}

/// A secret as the old Python server exported it: a Fernet token under the key
/// PBKDF2-HMAC-SHA256(master, salt = user id, 100,000 rounds, 32 bytes), URL-safe base64.
fn old_server_token(master: &str, user_id: &str, value: &str) -> String {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(master.as_bytes(), user_id.as_bytes(), 100_000, &mut key);
    let key = base64::engine::general_purpose::URL_SAFE.encode(key);
    fernet::Fernet::new(&key).unwrap().encrypt(value.as_bytes())
}

#[tokio::test]
async fn secrets_from_the_old_server_import_and_decrypt() {
    let server = server();
    let ada = As::user(&server, "ada").await;
    let (_, me) = ada.call(Method::GET, "/api/me").await;
    let ada_id = me["user_id"].as_str().unwrap().to_owned();
    let export = json!([
        {"user_id": "1", "key": "OPENAI_API_KEY", "encrypted_value": old_server_token(MASTER, "1", "sk-one")},
        {"user_id": ada_id, "key": "HF_TOKEN", "description": "Hugging Face",
         "encrypted_value": old_server_token(MASTER, &ada_id, "hf-ada"),
         "created_at": "2024-05-01T10:20:30.123456", "updated_at": "2024-06-01T08:00:00+00:00"},
        {"user_id": "1", "key": "WRONG_MASTER", "encrypted_value": old_server_token("another", "1", "x")},
        {"user_id": "1", "key": "WRONG_USER", "encrypted_value": old_server_token(MASTER, "2", "x")},
        {"user_id": "1", "key": "GARBAGE", "encrypted_value": "not a token"},
        {"key": "NO_USER", "encrypted_value": "x"},
    ]);
    let (status, body) = As::token(&server)
        .json(Method::POST, "/admin/secrets/import", export.clone())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["imported"], 2, "{body}");
    let failed = body["failed"].as_array().unwrap();
    let failed_keys: Vec<&str> = failed.iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(
        failed_keys,
        ["WRONG_MASTER", "WRONG_USER", "GARBAGE", "NO_USER"]
    );
    for f in failed {
        let mut fields: Vec<&String> = f.as_object().unwrap().keys().collect();
        fields.sort();
        assert_eq!(fields, ["detail", "key", "user_id"], "{f}");
        assert!(f["detail"].as_str().unwrap().len() > 5);
    }
    assert_eq!(failed[0]["user_id"], "1");
    assert_eq!(failed[3]["user_id"], Value::Null);

    let (_, body) = As::token(&server)
        .call(Method::GET, "/api/secrets/OPENAI_API_KEY?decrypt=true")
        .await;
    assert_eq!(body["value"], "sk-one");
    let (_, body) = ada
        .call(Method::GET, "/api/secrets/HF_TOKEN?decrypt=true")
        .await;
    assert_eq!(
        (body["value"].as_str(), body["description"].as_str()),
        (Some("hf-ada"), Some("Hugging Face"))
    );
    // The old row's timestamps are kept.
    assert_eq!(body["created_at"], "2024-05-01T10:20:30.123Z");
    assert_eq!(body["updated_at"], "2024-06-01T08:00:00.000Z");
    let (status, _) = ada.call(Method::GET, "/api/secrets/OPENAI_API_KEY").await;
    assert_eq!(status, 404);
    // Importing again converges (upsert), an admin user may import too.
    let (status, body) = ada
        .json(Method::POST, "/admin/secrets/import", export)
        .await;
    assert_eq!((status, body["imported"].clone()), (200, json!(2)));
    let (_, list) = ada.call(Method::GET, "/api/secrets").await;
    assert_eq!(list["secrets"].as_array().unwrap().len(), 1);
    let (status, _) = As::token(&server)
        .json(Method::POST, "/admin/secrets/import", json!([]))
        .await;
    assert_eq!(status, 200);

    // Refused: a non-admin user, and a body that is not a list.
    let bob = As::user(&server, "bob").await;
    let (status, body) = bob
        .json(Method::POST, "/admin/secrets/import", json!([]))
        .await;
    assert_eq!(
        (status, body),
        (403, json!({"detail": "Admin role required"}))
    );
    let (status, _) = As::token(&server)
        .json(
            Method::POST,
            "/admin/secrets/import",
            json!({"user_id": "1"}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn without_a_master_key_a_0600_key_file_is_made_and_kept() {
    let server = common::Builder::static_token().spawn();
    let key_file = server.home().join("data/secrets_master.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(server.wait_log("SECRETS_MASTER_KEY is not set", Duration::from_secs(5)));
    let master = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        !server.stderr().contains(master.trim()),
        "the key is never logged"
    );
    let res = client()
        .put(server.url("/api/secrets/K"))
        .bearer_auth(common::TOKEN)
        .json(&json!({"value": "kept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // Restarted on the same data, the same key file decrypts what was stored.
    let home = server.stop();
    let server = common::Builder::static_token().dir(home).spawn();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), master);
    let (_, body) = common::get_json(
        client()
            .get(server.url("/api/secrets/K?decrypt=true"))
            .bearer_auth(common::TOKEN),
    )
    .await;
    assert_eq!(body["value"], "kept");
}
