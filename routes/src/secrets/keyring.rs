//! The master key and what is derived from it: a per-user AES-256-GCM key (HKDF-SHA256, the
//! user id as `info`) for our own format, and the old Python server's per-user Fernet key
//! (PBKDF2-HMAC-SHA256) for imports. The master key is held only here; it is never logged,
//! stored in the database or shown by `Debug`.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

/// The key file made in DATA_DIR when `SECRETS_MASTER_KEY` is not set (development only).
pub const KEY_FILE: &str = "secrets_master.key";
/// Salt of the HKDF extraction: fixed, so the same master key always gives the same user keys.
const HKDF_SALT: &[u8] = b"platform-server/secrets/v1";
/// PBKDF2 rounds of the old Python server's Fernet keys.
pub const LEGACY_ITERATIONS: u32 = 100_000;
pub const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("secrets key file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secrets key file {0} is empty")]
    Empty(PathBuf),
}

/// Encryption or authentication failed: a tampered row, or a different master key.
#[derive(Debug, thiserror::Error)]
#[error("secret could not be decrypted (a different SECRETS_MASTER_KEY?)")]
pub struct CryptoError;

/// A value encrypted in our format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Where the master key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Setting,
    File(PathBuf),
    Generated(PathBuf),
}

pub struct Keyring {
    master: Vec<u8>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyring(<redacted>)")
    }
}

/// Row owner and key as associated data, length-prefixed so no two pairs encode alike: a
/// ciphertext copied to another row or user does not decrypt.
fn aad(user_id: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + user_id.len() + key.len());
    out.extend_from_slice(&(user_id.len() as u64).to_be_bytes());
    out.extend_from_slice(user_id.as_bytes());
    out.extend_from_slice(key.as_bytes());
    out
}

impl Keyring {
    pub fn new(master: &str) -> Keyring {
        Keyring {
            master: master.as_bytes().to_vec(),
        }
    }

    /// The master key from the setting, else from `DATA_DIR/secrets_master.key` (made with 32
    /// random bytes and mode 0600 when missing), with a warning that this is for development.
    /// Blocking: call from a blocking thread.
    pub fn load(setting: Option<&str>, data_dir: &Path) -> Result<(Keyring, Source), KeyringError> {
        if let Some(master) = setting {
            return Ok((Keyring::new(master), Source::Setting));
        }
        let path = data_dir.join(KEY_FILE);
        let err = |source| KeyringError::File {
            path: path.clone(),
            source,
        };
        let generated = match read_key_file(&path) {
            Ok(master) => return Self::from_file(master, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate_key_file(&path),
            Err(e) => return Err(err(e)),
        };
        match generated {
            Ok(master) => {
                tracing::warn!(
                    path = %path.display(),
                    "SECRETS_MASTER_KEY is not set: generated a secrets key file (development \
                     only; set SECRETS_MASTER_KEY in production and keep a copy of this key)"
                );
                Ok((Keyring::new(&master), Source::Generated(path)))
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let master = read_key_file(&path).map_err(err)?;
                Self::from_file(master, path)
            }
            Err(e) => Err(err(e)),
        }
    }

    fn from_file(master: String, path: PathBuf) -> Result<(Keyring, Source), KeyringError> {
        if master.is_empty() {
            return Err(KeyringError::Empty(path));
        }
        tracing::warn!(
            path = %path.display(),
            "SECRETS_MASTER_KEY is not set: using the secrets key file (development only)"
        );
        Ok((Keyring::new(&master), Source::File(path)))
    }

    fn cipher(&self, user_id: &str) -> Result<Aes256Gcm, CryptoError> {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(HKDF_SALT), &self.master)
            .expand(user_id.as_bytes(), &mut key)
            .map_err(|_| CryptoError)?;
        Ok(Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)))
    }

    /// Encrypts `plaintext` for `user_id`'s secret `key` under a fresh random nonce.
    pub fn seal(&self, user_id: &str, key: &str, plaintext: &[u8]) -> Result<Sealed, CryptoError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = aad(user_id, key);
        let ciphertext = self
            .cipher(user_id)?
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError)?;
        Ok(Sealed {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub fn open(&self, user_id: &str, key: &str, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
        let nonce: [u8; NONCE_LEN] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError)?;
        let aad = aad(user_id, key);
        self.cipher(user_id)?
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError)
    }

    /// The old Python server's Fernet key for `user_id`: PBKDF2-HMAC-SHA256 of the master key,
    /// salt = the user id, 100,000 rounds, 32 bytes, URL-safe base64. Deliberately slow: call
    /// from a blocking thread, once per user.
    pub fn legacy_fernet_key(&self, user_id: &str) -> String {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(
            &self.master,
            user_id.as_bytes(),
            LEGACY_ITERATIONS,
            &mut out,
        );
        base64::engine::general_purpose::URL_SAFE.encode(out)
    }
}

fn read_key_file(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "secrets key file is readable by others; chmod 600 it");
        }
    }
    Ok(text.trim().to_owned())
}

/// Writes a new key file (fails with AlreadyExists rather than replace one).
fn generate_key_file(path: &Path) -> std::io::Result<String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let master = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{master}\n").as_bytes())?;
    file.sync_all()?;
    Ok(master)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_bound_to_user_and_key() {
        let k = Keyring::new("master");
        let a = k.seal("u1", "API_KEY", b"s3cret").unwrap();
        let b = k.seal("u1", "API_KEY", b"s3cret").unwrap();
        assert_ne!(a.nonce, b.nonce, "a fresh nonce per write");
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(k.open("u1", "API_KEY", &a).unwrap(), b"s3cret");
        assert!(k.open("u2", "API_KEY", &a).is_err());
        assert!(k.open("u1", "OTHER", &a).is_err());
        assert!(Keyring::new("other").open("u1", "API_KEY", &a).is_err());
        let mut tampered = a.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(k.open("u1", "API_KEY", &tampered).is_err());
        assert!(!format!("{k:?}").contains("master"));
    }

    #[test]
    fn key_file_is_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (k1, src) = Keyring::load(None, &data).unwrap();
        let path = data.join(KEY_FILE);
        assert_eq!(src, Source::Generated(path.clone()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (k2, src) = Keyring::load(None, &data).unwrap();
        assert_eq!(src, Source::File(path));
        let sealed = k1.seal("1", "k", b"v").unwrap();
        assert_eq!(k2.open("1", "k", &sealed).unwrap(), b"v");
        let (_, src) = Keyring::load(Some("set"), &data).unwrap();
        assert_eq!(src, Source::Setting);
    }

    #[test]
    fn legacy_key_and_token_match_python_cryptography() {
        // Made with Python: base64.urlsafe_b64encode(hashlib.pbkdf2_hmac("sha256", b"master",
        // b"1", 100000, 32)), then cryptography's Fernet(key).encrypt(b"sk-old-value").
        let key = Keyring::new("master").legacy_fernet_key("1");
        assert_eq!(key, "vbHcJiZtpFMyMa1cULPb0J7yIMSMhTc0PiZ0AZVVLBE=");
        let token =
            "gAAAAABrDDrxvXoEedHHi-ulHZQhK8v-D4HQFCLqbvw0krFPfnJSTXd6rHvPC6OFNchJm5ebQ4OtQg\
                     aL1_-u6PeIvWxG_qzV0w==";
        let plain = fernet::Fernet::new(&key).unwrap().decrypt(token).unwrap();
        assert_eq!(plain, b"sk-old-value");
    }
}
