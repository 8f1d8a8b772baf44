//! The server token: from `SERVER_AUTH_TOKEN`/`WORKER_AUTH_TOKEN`, else from `deployment.yaml`,
//! else generated (32 random bytes, URL-safe base64) and written there with mode 0600.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde_yaml::{Mapping, Value};

const KEYS: [&str; 2] = ["server_auth_token", "worker_auth_token"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Env(&'static str),
    File(PathBuf),
    Generated(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Generated(path) => write!(f, "newly generated, saved to {}", path.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse {path} as YAML: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("{path} is not a YAML mapping")]
    NotMapping { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The token in use and where it came from.
#[derive(Clone)]
pub struct ServerToken {
    pub token: String,
    pub source: Source,
}

impl ServerToken {
    /// First and last four characters only, for logs.
    pub fn masked(&self) -> String {
        mask(&self.token)
    }
}

impl fmt::Debug for ServerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerToken({}, {})", self.masked(), self.source)
    }
}

pub fn mask(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() < 12 {
        return "****".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Resolves the token in the documented order, generating it on first start.
pub fn resolve(
    from_env: Option<&(&'static str, String)>,
    file: &Path,
) -> Result<ServerToken, TokenError> {
    if let Some((var, token)) = from_env {
        return Ok(ServerToken {
            token: token.clone(),
            source: Source::Env(var),
        });
    }
    if let Some(token) = read(file)? {
        return Ok(ServerToken {
            token,
            source: Source::File(file.to_owned()),
        });
    }
    let token = generate();
    write(file, &token)?;
    Ok(ServerToken {
        token,
        source: Source::Generated(file.to_owned()),
    })
}

/// The token stored in `file`, if the file and the key exist.
pub fn read(file: &Path) -> Result<Option<String>, TokenError> {
    let Some(map) = load(file)? else {
        return Ok(None);
    };
    Ok(KEYS
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned))
}

/// 32 random bytes, URL-safe base64 without padding (43 characters).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Stores `token` under `server_auth_token`, keeping the file's other keys; the write is atomic
/// (temporary file, fsync, rename) and the file is only ever readable by its owner.
pub fn write(file: &Path, token: &str) -> Result<(), TokenError> {
    let werr = |source| TokenError::Write {
        path: file.to_owned(),
        source,
    };
    let mut map = load(file)?.unwrap_or_default();
    map.remove("worker_auth_token");
    map.insert(Value::from("server_auth_token"), Value::from(token));
    let text = serde_yaml::to_string(&map).map_err(|e| werr(std::io::Error::other(e)))?;

    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(werr)?;
    }
    let tmp = dir.join(format!(
        ".{}.tmp",
        file.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("deployment.yaml")
    ));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(werr)?;
    out.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(werr)?;
    out.write_all(text.as_bytes())
        .and_then(|_| out.sync_all())
        .map_err(werr)?;
    std::fs::rename(&tmp, file).map_err(werr)
}

fn load(file: &Path) -> Result<Option<Mapping>, TokenError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TokenError::Read {
                path: file.to_owned(),
                source,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Some(Mapping::new()));
    }
    match serde_yaml::from_str::<Value>(&text) {
        Ok(Value::Mapping(map)) => Ok(Some(map)),
        Ok(Value::Null) => Ok(Some(Mapping::new())),
        Ok(_) => Err(TokenError::NotMapping {
            path: file.to_owned(),
        }),
        Err(source) => Err(TokenError::Parse {
            path: file.to_owned(),
            source,
        }),
    }
}

/// The banner printed once, when the token was just generated: the only time it is shown whole.
pub fn banner(token: &ServerToken) -> String {
    match &token.source {
        Source::Generated(path) => format!(
            "\n  A server token was generated for this installation:\n\n      {}\n\n  \
             Saved to {} (mode 0600). Send it as 'Authorization: Bearer <token>'.\n  \
             Show it again with 'platform-server token show'; replace it with 'platform-server token rotate'.\n",
            token.token,
            path.display()
        ),
        source => format!("server token from {source} ({})", token.masked()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_43_url_safe_chars() {
        let t = generate();
        assert_eq!(t.len(), 43);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(t, generate());
    }

    #[test]
    fn order_env_then_file_then_generated() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cfg/deployment.yaml");
        let first = resolve(None, &file).unwrap();
        assert_eq!(first.source, Source::Generated(file.clone()));
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(file.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );

        let again = resolve(None, &file).unwrap();
        assert_eq!(
            (again.token.as_str(), again.source),
            (first.token.as_str(), Source::File(file.clone()))
        );

        let env = ("SERVER_AUTH_TOKEN", "from-env".to_string());
        assert_eq!(
            resolve(Some(&env), &file).unwrap().source,
            Source::Env("SERVER_AUTH_TOKEN")
        );
    }

    #[test]
    fn reads_the_old_workers_key_and_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("deployment.yaml");
        std::fs::write(&file, "worker_auth_token: old-one\nregion: eu\n").unwrap();
        assert_eq!(read(&file).unwrap().as_deref(), Some("old-one"));
        write(&file, "new-one").unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("server_auth_token: new-one") && text.contains("region: eu"),
            "{text}"
        );
        assert!(!text.contains("old-one"));
    }

    #[test]
    fn bad_files_are_errors_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("deployment.yaml");
        std::fs::write(&file, "- a list\n").unwrap();
        assert!(matches!(
            resolve(None, &file),
            Err(TokenError::NotMapping { .. })
        ));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "- a list\n");
    }

    #[test]
    fn masking() {
        assert_eq!(mask("abcdefghijklmnop"), "abcd…mnop");
        assert_eq!(mask("short"), "****");
    }
}
