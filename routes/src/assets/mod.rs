//! Assets: each user's files and folders, as rows in the `assets` table; a file's bytes are in
//! the assets bucket under the asset's `file_key`. Independent of HTTP.

pub mod queries;

use serde::Serialize;
use serde_json::Value;

pub const FOLDER: &str = "folder";

/// Default and largest page of a listing on `/api/assets`.
pub const PAGE_DEFAULT: u32 = 100;
pub const PAGE_MAX: u32 = 1000;
/// Largest page on the worker's `/admin/assets` (as the old worker allowed).
pub const ADMIN_PAGE_MAX: u32 = 10_000;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Asset {
    pub id: String,
    pub user_id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub content_type: String,
    pub size: Option<i64>,
    pub metadata: Option<Value>,
    pub workflow_id: Option<String>,
    pub created_at: String,
    /// Where the bytes are served (`/api/storage/<file_key>`); `null` for folders.
    pub get_url: Option<String>,
    #[serde(skip)]
    pub file_key: Option<String>,
}

impl Asset {
    pub fn is_folder(&self) -> bool {
        self.content_type == FOLDER
    }

    /// A user's root folder, which has no row: its id is the user's id (the old servers'
    /// convention, kept so old clients can address it).
    pub fn home(user_id: &str) -> Asset {
        Asset {
            id: user_id.into(),
            user_id: user_id.into(),
            parent_id: Some(String::new()),
            name: "Home".into(),
            content_type: FOLDER.into(),
            size: None,
            metadata: None,
            workflow_id: None,
            created_at: String::new(),
            get_url: None,
            file_key: None,
        }
    }
}

/// What a new or saved asset row holds.
#[derive(Clone, Debug, Default)]
pub struct NewAsset {
    pub id: String,
    pub user_id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub content_type: String,
    pub size: Option<i64>,
    pub metadata: Option<Value>,
    pub workflow_id: Option<String>,
    /// Kept when saving a row exported elsewhere; now otherwise.
    pub created_at: Option<String>,
}

/// Changes to an asset; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub parent_id: Option<String>,
    pub content_type: Option<String>,
    pub metadata: Option<Value>,
}

/// The key of an asset's bytes in the assets bucket: `<id>.<subtype>` as the old servers named
/// them (`image/png` → `<id>.png`, `bin` when the type has no usable subtype); folders have none.
pub fn file_key(id: &str, content_type: &str) -> Option<String> {
    if content_type == FOLDER {
        return None;
    }
    let subtype = content_type
        .split(';')
        .next()
        .and_then(|t| t.split_once('/'))
        .map(|(_, s)| s.trim())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 32
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                && !s.starts_with('.')
        })
        .unwrap_or("bin");
    Some(format!("{id}.{subtype}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_follow_the_content_type() {
        assert_eq!(file_key("a", "image/png").as_deref(), Some("a.png"));
        assert_eq!(file_key("a", "image/svg+xml").as_deref(), Some("a.svg+xml"));
        assert_eq!(
            file_key("a", "text/plain; charset=utf-8").as_deref(),
            Some("a.plain")
        );
        assert_eq!(file_key("a", "weird").as_deref(), Some("a.bin"));
        assert_eq!(file_key("a", "x/../../etc").as_deref(), Some("a.bin"));
        assert_eq!(file_key("a", FOLDER), None);
    }
}
