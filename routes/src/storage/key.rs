//! Object keys: what a client may name a file, checked before any path is built from it.

use percent_encoding::percent_decode_str;

/// Prefix of in-progress upload files; no key may name one.
pub const TEMP_PREFIX: &str = ".~upload-";

/// Longest key accepted, in bytes (after normalisation).
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest path segment (filesystems stop at 255 bytes per name).
pub const MAX_SEGMENT_BYTES: usize = 200;

/// A validated, normalised key: `/`-separated segments, none empty, `.`, `..` or reserved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("Invalid key: key must not be empty")]
    Empty,
    #[error("Invalid key: absolute paths are not allowed")]
    Absolute,
    #[error("Invalid key: path traversal is not allowed")]
    Traversal,
    #[error("Invalid key: control characters are not allowed")]
    Control,
    #[error("Invalid key: key must be valid UTF-8")]
    Encoding,
    #[error("Invalid key: key or path segment too long")]
    TooLong,
    #[error("Invalid key: names starting with '.~upload-' are reserved")]
    Reserved,
}

impl Key {
    /// A key from a URL path parameter: percent-decoded first, so `%2e%2e` is `..` here.
    pub fn from_url(raw: &str) -> Result<Key, KeyError> {
        let decoded = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| KeyError::Encoding)?;
        Key::parse(&decoded)
    }

    /// The old servers' rules (backslashes are `/`, empty and `.` segments dropped; then empty,
    /// absolute and `..` refused, in that order), plus control characters and length.
    pub fn parse(key: &str) -> Result<Key, KeyError> {
        if key.chars().any(char::is_control) {
            return Err(KeyError::Control);
        }
        let normalized = key.replace('\\', "/");
        let parts: Vec<&str> = normalized
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if parts.is_empty() {
            return Err(KeyError::Empty);
        }
        if normalized.starts_with('/') {
            return Err(KeyError::Absolute);
        }
        if parts.contains(&"..") {
            return Err(KeyError::Traversal);
        }
        if parts.iter().any(|p| p.len() > MAX_SEGMENT_BYTES) {
            return Err(KeyError::TooLong);
        }
        if parts.iter().any(|p| p.starts_with(TEMP_PREFIX)) {
            return Err(KeyError::Reserved);
        }
        let joined = parts.join("/");
        if joined.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong);
        }
        Ok(Key(joined))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments, for building a path one component at a time.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The extension of the last segment, if any (`a/b.tar.gz` → `gz`).
    pub fn extension(&self) -> Option<&str> {
        let name = self.0.rsplit('/').next()?;
        let (stem, ext) = name.rsplit_once('.')?;
        (!stem.is_empty() && !ext.is_empty()).then_some(ext)
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        Key::from_url(raw).unwrap().as_str().to_owned()
    }

    fn err(raw: &str) -> KeyError {
        Key::from_url(raw).unwrap_err()
    }

    #[test]
    fn normalises_like_the_old_servers() {
        assert_eq!(ok("a/b.png"), "a/b.png");
        assert_eq!(ok("a//./b\\c.txt"), "a/b/c.txt");
        assert_eq!(ok("a%2Fb%20c"), "a/b c");
        assert_eq!(ok("foo..bar"), "foo..bar");
        assert_eq!(ok("%252e%252e"), "%2e%2e");
    }

    #[test]
    fn refuses_with_the_old_messages() {
        assert_eq!(err(""), KeyError::Empty);
        assert_eq!(err("./"), KeyError::Empty);
        assert_eq!(err("/etc/passwd"), KeyError::Absolute);
        assert_eq!(err("\\etc\\passwd"), KeyError::Absolute);
        assert_eq!(err("../x"), KeyError::Traversal);
        assert_eq!(err("a/../../x"), KeyError::Traversal);
        assert_eq!(err("..\\x"), KeyError::Traversal);
        assert_eq!(err("%2e%2e/x"), KeyError::Traversal);
        assert_eq!(err("%2E%2E%2Fx"), KeyError::Traversal);
        assert_eq!(err("a%00b"), KeyError::Control);
        assert_eq!(err("a%0Ab"), KeyError::Control);
        assert_eq!(err("%ff"), KeyError::Encoding);
        assert_eq!(err(&"a".repeat(300)), KeyError::TooLong);
        assert_eq!(err("x/.~upload-1"), KeyError::Reserved);
        assert_eq!(
            KeyError::Traversal.to_string(),
            "Invalid key: path traversal is not allowed"
        );
    }

    #[test]
    fn extensions() {
        let ext = |k: &str| Key::parse(k).unwrap().extension().map(str::to_owned);
        assert_eq!(ext("a/b.tar.gz").as_deref(), Some("gz"));
        assert_eq!(ext("a.b/c"), None);
        assert_eq!(ext(".hidden"), None);
    }
}
