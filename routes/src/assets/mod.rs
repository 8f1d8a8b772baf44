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

/// The key of an asset's bytes in the assets bucket: `<id>.<ext>`, named as the old servers
/// named them (so files their clients upload by name line up with the record): the usual
/// extension of the content type, `bin` for types without one; folders have none.
pub fn file_key(id: &str, content_type: &str) -> Option<String> {
    if content_type == FOLDER {
        return None;
    }
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    Some(format!(
        "{id}.{}",
        extension_for(&essence.to_ascii_lowercase())
    ))
}

/// The extension an asset of this type is stored under.
fn extension_for(essence: &str) -> &'static str {
    match essence {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/svg+xml" => "svg",
        "image/webp" => "webp",
        "image/tiff" => "tiff",
        "image/bmp" => "bmp",
        "image/x-icon" => "ico",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "text/html" => "html",
        "text/css" => "css",
        "text/javascript" => "js",
        "text/xml" => "xml",
        "application/x-markdown" => "md",
        "application/json" => "json",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "application/x-tar" => "tar",
        "application/x-gzip" => "gz",
        "application/x-yaml" => "yaml",
        "application/yaml" => "yml",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.ms-powerpoint" => "ppt",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/wav" | "audio/x-wav" => "wav",
        "audio/wave" => "wave",
        "audio/ogg" | "video/ogg" => "ogg",
        "audio/webm" => "webm",
        "audio/aac" => "aac",
        "audio/midi" => "midi",
        "audio/x-flac" => "flac",
        "audio/x-m4a" => "m4a",
        "audio/x-aiff" => "aiff",
        "video/mp4" => "mp4",
        "video/mpeg" => "mpeg",
        "video/quicktime" => "mov",
        "video/x-msvideo" => "avi",
        "video/x-flv" => "flv",
        "video/x-m4v" => "m4v",
        "video/3gpp" => "3gp",
        "model/gltf-binary" => "glb",
        "model/gltf+json" => "gltf",
        "model/obj" => "obj",
        "model/stl" => "stl",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_follow_the_content_type() {
        assert_eq!(file_key("a", "image/png").as_deref(), Some("a.png"));
        assert_eq!(file_key("a", "image/jpeg").as_deref(), Some("a.jpg"));
        assert_eq!(file_key("a", "image/svg+xml").as_deref(), Some("a.svg"));
        assert_eq!(
            file_key("a", "Text/Plain; charset=utf-8").as_deref(),
            Some("a.txt")
        );
        assert_eq!(file_key("a", "weird").as_deref(), Some("a.bin"));
        assert_eq!(file_key("a", "x/../../etc").as_deref(), Some("a.bin"));
        assert_eq!(file_key("a", FOLDER), None);
    }
}
