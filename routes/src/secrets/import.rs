//! Secrets exported from the old Python server: `[{"user_id","key","encrypted_value",
//! "description"?}]`, each value a Fernet token under that user's PBKDF2-derived key. They are
//! decrypted and re-encrypted in our format; entries that fail are reported, not fatal.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use fernet::Fernet;
use serde::Serialize;
use serde_json::Value;

use super::keyring::{Keyring, Sealed};
use super::{check_key, check_value};

/// An entry ready to store.
#[derive(Debug)]
pub struct Prepared {
    pub user_id: String,
    pub key: String,
    pub sealed: Sealed,
    pub description: Option<String>,
    /// The old row's timestamps, when the export had them, in our format.
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// An entry that could not be imported, with the key and user id as they were sent.
#[derive(Debug, Serialize, PartialEq)]
pub struct Failure {
    pub key: Value,
    pub user_id: Value,
    pub detail: String,
}

/// An exported timestamp (Python's `isoformat()`, with or without an offset; naive is UTC) in
/// our format; anything else is dropped and the import time used.
fn timestamp(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?.trim();
    let utc = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                .map(|n| n.and_utc())
        })
        .ok()?;
    Some(utc.to_rfc3339_opts(SecondsFormat::Millis, true))
}

struct Entry<'a> {
    user_id: &'a str,
    key: &'a str,
    token: &'a str,
    description: Option<String>,
}

fn entry(v: &Value) -> Result<Entry<'_>, String> {
    let field = |name: &str| v.get(name).and_then(Value::as_str);
    let (Some(user_id), Some(key), Some(token)) =
        (field("user_id"), field("key"), field("encrypted_value"))
    else {
        return Err("user_id, key and encrypted_value must be strings".into());
    };
    if user_id.is_empty() {
        return Err("user_id must not be empty".into());
    }
    check_key(key)?;
    let description = match v.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("description must be a string".into()),
    };
    Ok(Entry {
        user_id,
        key,
        token,
        description,
    })
}

/// Decrypts and re-encrypts every entry. CPU heavy (one PBKDF2 per distinct user): run it on a
/// blocking thread.
pub fn prepare(keyring: &Keyring, entries: &[Value]) -> (Vec<Prepared>, Vec<Failure>) {
    let mut fernets: HashMap<&str, Option<Fernet>> = HashMap::new();
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for v in entries {
        let result = entry(v).and_then(|e| {
            let fernet = fernets
                .entry(e.user_id)
                .or_insert_with(|| Fernet::new(&keyring.legacy_fernet_key(e.user_id)))
                .as_ref()
                .ok_or("could not derive the user's key")?;
            let plain = fernet.decrypt(e.token).map_err(|_| {
                "could not decrypt encrypted_value (not a Fernet token under this \
                 SECRETS_MASTER_KEY and user_id)"
            })?;
            let value = String::from_utf8(plain).map_err(|_| "the value is not UTF-8 text")?;
            check_value(&value)?;
            let sealed = keyring
                .seal(e.user_id, e.key, value.as_bytes())
                .map_err(|e| e.to_string())?;
            Ok(Prepared {
                user_id: e.user_id.into(),
                key: e.key.into(),
                sealed,
                description: e.description,
                created_at: timestamp(v.get("created_at")),
                updated_at: timestamp(v.get("updated_at")),
            })
        });
        match result {
            Ok(p) => ok.push(p),
            Err(detail) => failed.push(Failure {
                key: v.get("key").cloned().unwrap_or(Value::Null),
                user_id: v.get("user_id").cloned().unwrap_or(Value::Null),
                detail,
            }),
        }
    }
    (ok, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exported_timestamps_are_normalised() {
        let t = |s: &str| timestamp(Some(&json!(s)));
        assert_eq!(
            t("2024-05-01T10:20:30.123456").as_deref(),
            Some("2024-05-01T10:20:30.123Z")
        );
        assert_eq!(
            t("2024-05-01T12:20:30+02:00").as_deref(),
            Some("2024-05-01T10:20:30.000Z")
        );
        assert_eq!(
            t("2024-05-01 10:20:30").as_deref(),
            Some("2024-05-01T10:20:30.000Z")
        );
        assert_eq!(t("yesterday"), None);
        assert_eq!(timestamp(Some(&json!(5))), None);
        assert_eq!(timestamp(None), None);
    }

    #[test]
    fn good_entries_re_encrypt_and_bad_ones_are_reported() {
        let k = Keyring::new("master");
        let token = Fernet::new(&k.legacy_fernet_key("7"))
            .unwrap()
            .encrypt(b"sk-1");
        let wrong_user = Fernet::new(&k.legacy_fernet_key("8"))
            .unwrap()
            .encrypt(b"sk-2");
        let entries = [
            json!({"user_id": "7", "key": "OPENAI", "encrypted_value": token, "description": "d"}),
            json!({"user_id": "7", "key": "OTHER", "encrypted_value": wrong_user}),
            json!({"user_id": "7", "key": "BAD", "encrypted_value": "not-a-token"}),
            json!({"key": "NOUSER", "encrypted_value": token}),
            json!("nonsense"),
        ];
        let (ok, failed) = prepare(&k, &entries);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].description.as_deref(), Some("d"));
        assert_eq!(k.open("7", "OPENAI", &ok[0].sealed).unwrap(), b"sk-1");
        assert_eq!(failed.len(), 4);
        assert_eq!(failed[0].key, json!("OTHER"));
        assert_eq!(failed[0].user_id, json!("7"));
        assert_eq!(failed[2].user_id, Value::Null);
        assert_eq!(failed[3].key, Value::Null);
    }
}
