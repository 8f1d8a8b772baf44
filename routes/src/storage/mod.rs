//! File storage behind a small trait, so an S3-compatible backend can replace the local
//! filesystem without touching the handlers. Buckets `assets` and `temp`; keys are validated
//! [`Key`]s; bodies stream in both directions and are never held whole.

pub mod key;
pub mod local;
pub mod range;
pub mod serve;

use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use platform_middleware::body::BoxError;

pub use key::{Key, KeyError};
pub use local::LocalFs;
pub use range::RangeSpec;

/// Bytes in or out of storage, a chunk at a time.
pub type ByteStream = BoxStream<'static, Result<Bytes, BoxError>>;

/// What is known about a stored object without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub key: String,
    pub size: u64,
    pub modified: SystemTime,
    /// Strong entity tag, quoted, changing whenever the content is replaced.
    pub etag: String,
}

/// An object opened for reading: its metadata, the byte range served, and the bytes.
pub struct Object {
    pub meta: Meta,
    /// The resolved range when one was asked for and satisfiable; `None` is the whole object.
    pub range: Option<Range<u64>>,
    pub body: ByteStream,
}

/// The outcome of a put.
#[derive(Clone, Debug)]
pub struct Stored {
    pub meta: Meta,
    /// Whether the key was new (rather than replaced).
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("Not Found")]
    NotFound,
    #[error("Upload too large (limit {limit} bytes)")]
    TooLarge { limit: u64 },
    #[error("Range Not Satisfiable")]
    Unsatisfiable { meta: Meta },
    /// The key's path resolves outside the bucket (a symlink pointing out).
    #[error("Invalid key: path traversal is not allowed")]
    Outside,
    /// The key names a folder, or a file stands where a folder is needed.
    #[error("Invalid key: the key names a folder, or a parent of it is a file")]
    NotAFile,
    /// Reading the upload failed (the client went away or stalled).
    #[error("Could not read the request body: {0}")]
    Body(BoxError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One bucket's storage.
pub trait Storage: Send + Sync {
    /// Streams `body` in, replacing `key` atomically once complete; refused past `limit` bytes,
    /// leaving the previous version in place.
    fn put<'a>(
        &'a self,
        key: &'a Key,
        body: &'a mut ByteStream,
        limit: u64,
    ) -> BoxFuture<'a, Result<Stored, StorageError>>;

    /// Opens `key` for reading, the whole object or `range` of it.
    fn get<'a>(
        &'a self,
        key: &'a Key,
        range: Option<RangeSpec>,
    ) -> BoxFuture<'a, Result<Object, StorageError>>;

    fn head<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Meta, StorageError>>;

    /// Removes `key`; [`StorageError::NotFound`] when there was nothing.
    fn delete<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Every object whose key starts with `prefix`, in key order.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<Meta>, StorageError>>;
}

/// The buckets served, and the upload limit.
pub struct Buckets {
    pub assets: Arc<dyn Storage>,
    pub temp: Arc<dyn Storage>,
    pub max_upload: u64,
}

impl Buckets {
    /// The bucket called `name` in URLs; `None` for unknown names (404).
    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn Storage>> {
        match name {
            "assets" => Some(&self.assets),
            "temp" => Some(&self.temp),
            _ => None,
        }
    }

    /// Local folders (created if missing).
    pub fn local(
        assets: &std::path::Path,
        temp: &std::path::Path,
        max_upload: u64,
    ) -> std::io::Result<Buckets> {
        Ok(Buckets {
            assets: Arc::new(LocalFs::open(assets)?),
            temp: Arc::new(LocalFs::open(temp)?),
            max_upload,
        })
    }
}
