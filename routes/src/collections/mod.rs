//! Collections: named sets of documents (id, text, metadata JSON) per owner, searched with
//! SQLite FTS5 and ranked by BM25. Old clients' `embedding_model` and `embeddings` are stored
//! as sent and returned, but search stays full-text.
//!
//! Independent of HTTP: the route set in `sets/collections.rs` calls these functions through
//! `ctx.db` and maps [`CollectionError`] to responses.

pub mod chunk;
pub mod documents;
pub mod filter;
pub mod query;
pub mod store;

use serde::Serialize;
use serde_json::{Map, Value};

pub use filter::Filter;

/// Longest collection name: the pattern `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`.
pub const NAME_MAX: usize = 64;
/// Longest document id.
pub const ID_MAX: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum CollectionError {
    #[error("{0}")]
    Invalid(String),
    #[error("Collection '{0}' already exists")]
    Exists(String),
    #[error("Not Found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}

/// A collection as the routes answer it (the old worker's `CollectionResponse` fields first).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Collection {
    pub name: String,
    pub count: i64,
    /// The collection's metadata; includes `embedding_model` when one was given, as the old
    /// worker kept it there.
    pub metadata: Map<String, Value>,
    pub embedding_model: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Checks a collection name against `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`.
pub fn check_name(name: &str) -> Result<(), CollectionError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if first_ok && rest_ok && name.len() <= NAME_MAX {
        Ok(())
    } else {
        Err(CollectionError::Invalid(format!(
            "Invalid collection name {name:?}: use 1-64 letters, digits, '.', '_' or '-', \
             starting with a letter or digit"
        )))
    }
}

/// Checks a document id: 1-512 characters, no control characters.
pub fn check_id(id: &str) -> Result<(), CollectionError> {
    if id.is_empty() || id.len() > ID_MAX || id.chars().any(char::is_control) {
        return Err(CollectionError::Invalid(format!(
            "Invalid document id {id:?}: use 1-{ID_MAX} characters without control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        for ok in ["a", "A1", "docs.v2", "my_notes-1", &"x".repeat(64)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            "a b",
            "a/b",
            "é",
            &"x".repeat(65),
            "a\0",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_refuse_empty_long_and_control() {
        assert!(check_id("notes.md:0").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("a\nb").is_err());
        assert!(check_id(&"x".repeat(513)).is_err());
    }
}
