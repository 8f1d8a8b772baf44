//! The server's session signing keys: Ed25519 generated on first start into `SIGNING_KEY_PATH`
//! (mode 0600), or an existing Ed25519 or RSA private key PEM loaded from there. Retired keys
//! (`<stem>.retired*.pem` beside it) only verify, so sessions signed before a rotation stay
//! valid until they expire. [`rotate`] names them `<stem>.retired-<unix time>.pem`, which lets
//! start-up drop those older than a session lifetime.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// One key: what signs (absent for retired keys), what verifies, and its public JWK.
pub struct Key {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: Option<EncodingKey>,
    pub decoding: DecodingKey,
    pub jwk: Value,
}

pub struct KeySet {
    pub current: Key,
    pub retired: Vec<Key>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("signing key {path}: not an Ed25519 or RSA private key PEM")]
    Format { path: PathBuf },
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> KeyError {
    KeyError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// The key id: a short digest of the public key, stable across restarts.
fn kid_of(public: &[u8]) -> String {
    hex::encode(&Sha256::digest(public)[..8])
}

fn from_ed25519(key: &SigningKey, pem: &str) -> Option<Key> {
    let public = key.verifying_key().to_bytes();
    let x = URL_SAFE_NO_PAD.encode(public);
    let kid = kid_of(&public);
    Some(Key {
        alg: Algorithm::EdDSA,
        encoding: Some(EncodingKey::from_ed_pem(pem.as_bytes()).ok()?),
        decoding: DecodingKey::from_ed_components(&x).ok()?,
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}),
        kid,
    })
}

fn from_rsa(pem: &str) -> Option<Key> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
        .ok()?;
    let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
    let kid = kid_of(format!("{n}.{e}").as_bytes());
    Some(Key {
        alg: Algorithm::RS256,
        encoding: Some(EncodingKey::from_rsa_pem(pem.as_bytes()).ok()?),
        decoding: DecodingKey::from_rsa_components(&n, &e).ok()?,
        jwk: json!({"kty": "RSA", "n": n, "e": e, "kid": kid, "alg": "RS256", "use": "sig"}),
        kid,
    })
}

/// Parses a private key PEM of either kind.
pub fn parse(pem: &str) -> Option<Key> {
    match SigningKey::from_pkcs8_pem(pem) {
        Ok(key) => from_ed25519(&key, pem),
        Err(_) => from_rsa(pem),
    }
}

/// Writes `contents` to `path` readable by the owner only, atomically (temp file, fsync, rename).
fn write_private(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let tmp = path.with_extension("pem.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_err(&tmp, e))?;
    f.write_all(contents).map_err(|e| io_err(&tmp, e))?;
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

/// The key as standard PKCS#8 v1 PEM (the private key alone, as `openssl genpkey` writes it):
/// ed25519-dalek's own encoding adds the public key in a v2 form that OpenSSL and Python's
/// `cryptography` refuse, which would leave operators unable to inspect or back it up with
/// standard tools. Keys written that way still load.
fn standard_pem(key: &SigningKey) -> Result<String, ed25519_dalek::pkcs8::Error> {
    let bytes = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    Ok(bytes.to_pkcs8_pem(LineEnding::LF)?.to_string())
}

fn generate(path: &Path) -> Result<String, KeyError> {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let pem = standard_pem(&key).map_err(|e| io_err(path, e))?;
    write_private(path, pem.as_bytes())?;
    tracing::info!(path = %path.display(), "generated a new session signing key");
    Ok(pem)
}

/// When a retired key file was retired, from its `-<unix time>` suffix.
fn retired_at(name: &str) -> Option<i64> {
    name.strip_suffix(".pem")?
        .rsplit_once("retired-")?
        .1
        .parse()
        .ok()
}

/// Retired keys beside `path`: `<stem>.retired*.pem`, verification only. Those retired longer
/// than `keep_for` ago can have signed no live session and are skipped.
fn retired(path: &Path, keep_for: Option<Duration>) -> Vec<Key> {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{stem}.retired");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(&prefix) && name.ends_with(".pem")) {
            continue;
        }
        let now = chrono::Utc::now().timestamp();
        let stale =
            |ttl: Duration| retired_at(&name).is_some_and(|t| t + ttl.as_secs() as i64 <= now);
        if keep_for.is_some_and(stale) {
            tracing::info!(file = %name, "retired signing key is past every session it signed; ignored");
            continue;
        }
        match std::fs::read_to_string(entry.path())
            .ok()
            .as_deref()
            .and_then(parse)
        {
            Some(mut key) => {
                key.encoding = None;
                out.push(key);
            }
            None => tracing::warn!(file = %name, "ignoring an unreadable retired signing key"),
        }
    }
    out
}

/// Loads (or creates) the key at `path` and every retired key beside it. Blocking.
pub fn load(path: &Path) -> Result<KeySet, KeyError> {
    load_for(path, None)
}

/// Like [`load`], skipping keys retired more than `session_ttl` ago. Blocking.
pub fn load_for(path: &Path, session_ttl: Option<Duration>) -> Result<KeySet, KeyError> {
    let pem = match std::fs::read_to_string(path) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate(path)?,
        Err(e) => return Err(io_err(path, e)),
    };
    let current = parse(&pem).ok_or_else(|| KeyError::Format {
        path: path.to_owned(),
    })?;
    Ok(KeySet {
        current,
        retired: retired(path, session_ttl),
    })
}

/// Retires the current key (renamed `<stem>.retired-<unix time>.pem`) and generates a new one;
/// returns the new key id. The server signs with the new key after a restart. Blocking.
pub fn rotate(path: &Path) -> Result<String, KeyError> {
    if path.exists() {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("signing_key");
        let name = format!("{stem}.retired-{}.pem", chrono::Utc::now().timestamp());
        let to = path.with_file_name(name);
        std::fs::rename(path, &to).map_err(|e| io_err(&to, e))?;
    }
    let pem = generate(path)?;
    parse(&pem).map(|k| k.kid).ok_or_else(|| KeyError::Format {
        path: path.to_owned(),
    })
}

impl KeySet {
    pub fn find(&self, kid: &str) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(&self.retired)
            .find(|k| k.kid == kid)
    }

    /// `{"keys": [...]}` for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        let keys: Vec<&Value> = std::iter::once(&self.current)
            .chain(&self.retired)
            .map(|k| &k.jwk)
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_on_first_start_with_mode_0600_and_stable_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing_key.pem");
        let first = load(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load(&path).unwrap();
        assert_eq!(first.current.kid, again.current.kid);
        assert_eq!(first.current.alg, Algorithm::EdDSA);
    }

    #[test]
    fn retired_keys_verify_but_do_not_sign() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing_key.pem");
        let old = load(&path).unwrap();
        std::fs::rename(&path, dir.path().join("signing_key.retired-1.pem")).unwrap();
        let new = load(&path).unwrap();
        assert_ne!(old.current.kid, new.current.kid);
        let found = new.find(&old.current.kid).unwrap();
        assert!(found.encoding.is_none());
        assert_eq!(new.jwks()["keys"].as_array().unwrap().len(), 2);
    }

    /// A throwaway PKCS#1 key made for this test only (`openssl genrsa -traditional 2048`).
    const RSA_PEM: &str = include_str!("../../testdata/rsa_test_key.pem");

    #[test]
    fn an_existing_rsa_key_is_loaded_and_signs_rs256() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing_key.pem");
        std::fs::write(&path, RSA_PEM).unwrap();
        let keys = load(&path).unwrap();
        assert_eq!(keys.current.alg, Algorithm::RS256);
        assert_eq!(keys.jwks()["keys"][0]["kty"], "RSA");
        let header = jsonwebtoken::Header {
            kid: Some(keys.current.kid.clone()),
            ..jsonwebtoken::Header::new(Algorithm::RS256)
        };
        let claims = json!({"sub": "x", "exp": 4_000_000_000u64});
        let token = jsonwebtoken::encode(&header, &claims, keys.current.encoding.as_ref().unwrap())
            .unwrap();
        let v = jsonwebtoken::Validation::new(Algorithm::RS256);
        jsonwebtoken::decode::<serde_json::Value>(&token, &keys.current.decoding, &v).unwrap();
    }

    #[test]
    fn rotation_keeps_old_keys_for_one_session_lifetime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing_key.pem");
        let old = load(&path).unwrap().current.kid;
        let new = rotate(&path).unwrap();
        assert_ne!(old, new);
        let keys = load_for(&path, Some(Duration::from_secs(3600))).unwrap();
        assert_eq!(keys.current.kid, new);
        assert!(keys.find(&old).is_some_and(|k| k.encoding.is_none()));
        // A key retired longer ago than a session lives is dropped.
        let long_ago = dir.path().join("signing_key.retired-1000.pem");
        let retired = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().contains("retired-"))
            .unwrap();
        std::fs::rename(retired.path(), &long_ago).unwrap();
        let keys = load_for(&path, Some(Duration::from_secs(3600))).unwrap();
        assert!(keys.find(&old).is_none());
        assert!(
            load(&path).unwrap().find(&old).is_some(),
            "kept when no lifetime is given"
        );
    }

    #[test]
    fn generated_keys_are_pkcs8_v1_and_v2_keys_of_earlier_versions_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing_key.pem");
        load(&path).unwrap();
        let pem = std::fs::read_to_string(&path).unwrap();
        // SEQUENCE { INTEGER 0, AlgorithmIdentifier { Ed25519 }, OCTET STRING { seed } }
        assert!(pem.contains("\nMC4CAQAwBQYDK2VwBCIEI"), "{pem}");
        let earlier = "-----BEGIN PRIVATE KEY-----\n\
            MFECAQEwBQYDK2VwBCIEIOxTrX5zOYvDYEsczZMjAgz3/n3NpkzQmGlloVbhCMS9\n\
            gSEAek/WKlK7XFjANigtaYpM47V6SpkMua5YHTSKJ6L8d6Y=\n\
            -----END PRIVATE KEY-----\n";
        std::fs::write(&path, earlier).unwrap();
        let key = load(&path).unwrap().current;
        assert_eq!(key.alg, Algorithm::EdDSA);
        assert!(key.encoding.is_some());
    }

    #[test]
    fn garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, "nope").unwrap();
        assert!(matches!(load(&path), Err(KeyError::Format { .. })));
    }
}
