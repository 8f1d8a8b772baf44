//! Secrets per user, encrypted at rest (AES-256-GCM under a per-user key derived from
//! `SECRETS_MASTER_KEY`), and the import of secrets exported from the old Python server.
//!
//! Independent of HTTP: the route set in `sets/secrets.rs` calls these through `ctx.db` and
//! blocking threads.

pub mod import;
pub mod keyring;
pub mod store;

pub use keyring::{Keyring, Source};

/// Longest secret key, in bytes.
pub const KEY_MAX: usize = 255;
/// Largest secret value, in bytes.
pub const VALUE_MAX: usize = 64 * 1024;

/// A secret key: 1-255 bytes, no control characters, no surrounding whitespace.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty()
        || key.len() > KEY_MAX
        || key.chars().any(char::is_control)
        || key.trim() != key
    {
        return Err(format!(
            "Invalid secret key {key:?}: use 1-{KEY_MAX} bytes without control characters or \
             surrounding spaces"
        ));
    }
    Ok(())
}

/// A secret value: at most [`VALUE_MAX`] bytes.
pub fn check_value(value: &str) -> Result<(), String> {
    if value.len() > VALUE_MAX {
        return Err(format!("value must be at most {VALUE_MAX} bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_and_values_are_bounded() {
        assert!(super::check_key("OPENAI_API_KEY").is_ok());
        assert!(super::check_key("my key.v2/x").is_ok());
        for bad in ["", " a", "a ", "a\nb", &"k".repeat(256)] {
            assert!(super::check_key(bad).is_err(), "{bad:?}");
        }
        assert!(super::check_value(&"v".repeat(64 * 1024)).is_ok());
        assert!(super::check_value(&"v".repeat(64 * 1024 + 1)).is_err());
    }
}
