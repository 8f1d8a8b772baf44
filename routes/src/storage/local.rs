//! The local filesystem as a bucket: one folder, keys as relative paths inside it.
//!
//! Writes go to a temporary file in the target's own folder, are fsynced and renamed over the
//! target, so readers see the old or the new file, never a mix. Every path is resolved
//! (symlinks included) and refused when it leaves the bucket folder.

use std::fs;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use platform_middleware::body::BoxError;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio_util::io::ReaderStream;

use super::key::TEMP_PREFIX;
use super::{ByteStream, Key, Meta, Object, RangeSpec, Storage, StorageError, Stored};

/// Read and write buffer size: memory per transfer stays at about this, whatever the size.
const CHUNK: usize = 256 * 1024;

pub struct LocalFs {
    /// Canonical (symlink-free) path of the bucket folder.
    root: PathBuf,
}

impl LocalFs {
    /// The bucket at `root`, created if missing.
    pub fn open(root: &Path) -> io::Result<LocalFs> {
        fs::create_dir_all(root)?;
        Ok(LocalFs {
            root: fs::canonicalize(root)?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    async fn put_stream(
        &self,
        key: &Key,
        body: &mut ByteStream,
        limit: u64,
    ) -> Result<Stored, StorageError> {
        let (target, temp, file) = self.create_temp(key).await?;
        let guard = TempFile(Some(temp.clone()));
        let mut out = BufWriter::with_capacity(CHUNK, file);
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StorageError::Body)?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(StorageError::TooLarge { limit });
            }
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        let file = out.into_inner();
        file.sync_all().await?;
        drop(file);
        let name = key.as_str().to_owned();
        let stored = blocking(move || commit(&temp, &target, name)).await?;
        guard.keep();
        Ok(stored)
    }

    /// The target path and a new temporary file beside it. A delete pruning the (empty) folder
    /// between its creation and the temporary file's is retried.
    async fn create_temp(
        &self,
        key: &Key,
    ) -> Result<(PathBuf, PathBuf, tokio::fs::File), StorageError> {
        let mut attempts = 0;
        loop {
            let (root, k) = (self.root.clone(), key.clone());
            let target = blocking(move || prepare_write(&root, &k)).await?;
            let name = format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple());
            let temp = target.with_file_name(name);
            let opened = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .await;
            match opened {
                Ok(file) => return Ok((target, temp, file)),
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn open_read(&self, key: &Key, range: Option<RangeSpec>) -> Result<Object, StorageError> {
        let (root, k) = (self.root.clone(), key.clone());
        let (file, meta, range) = blocking(move || open_for_read(&root, &k, range)).await?;
        let len = range.as_ref().map_or(meta.size, |r| r.end - r.start);
        let reader = tokio::fs::File::from_std(file).take(len);
        let body = ReaderStream::with_capacity(reader, CHUNK)
            .map_err(BoxError::from)
            .boxed();
        Ok(Object { meta, range, body })
    }
}

impl Storage for LocalFs {
    fn put<'a>(
        &'a self,
        key: &'a Key,
        body: &'a mut ByteStream,
        limit: u64,
    ) -> BoxFuture<'a, Result<Stored, StorageError>> {
        self.put_stream(key, body, limit).boxed()
    }

    fn get<'a>(
        &'a self,
        key: &'a Key,
        range: Option<RangeSpec>,
    ) -> BoxFuture<'a, Result<Object, StorageError>> {
        self.open_read(key, range).boxed()
    }

    fn head<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Meta, StorageError>> {
        let (root, k) = (self.root.clone(), key.clone());
        blocking(move || {
            let path = resolve_existing(&root, &k)?;
            let md = fs::metadata(&path)?;
            if !md.is_file() {
                return Err(StorageError::NotFound);
            }
            Ok(meta_of(k.as_str().to_owned(), &md))
        })
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<(), StorageError>> {
        let (root, k) = (self.root.clone(), key.clone());
        blocking(move || remove(&root, &k)).boxed()
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<Meta>, StorageError>> {
        let (root, prefix) = (self.root.clone(), prefix.to_owned());
        blocking(move || walk(&root, &prefix)).boxed()
    }
}

/// Runs filesystem work on the blocking pool.
async fn blocking<T, F>(f: F) -> Result<T, StorageError>
where
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Io(io::Error::other(e)))?
}

/// Removes an unfinished upload's file when the upload fails or is dropped mid-way.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

fn inside(root: &Path, real: &Path) -> Result<(), StorageError> {
    if real.starts_with(root) {
        Ok(())
    } else {
        Err(StorageError::Outside)
    }
}

fn not_found_as(e: io::Error) -> StorageError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StorageError::NotFound,
        _ => StorageError::Io(e),
    }
}

/// The real path of an existing key, inside the bucket.
fn resolve_existing(root: &Path, key: &Key) -> Result<PathBuf, StorageError> {
    let path = key.segments().fold(root.to_path_buf(), |p, s| p.join(s));
    let real = fs::canonicalize(&path).map_err(not_found_as)?;
    inside(root, &real)?;
    Ok(real)
}

/// The final path to rename an upload onto: parent folders created, none of them (nor what
/// already exists of them) resolving outside the bucket.
fn prepare_write(root: &Path, key: &Key) -> Result<PathBuf, StorageError> {
    let path = key.segments().fold(root.to_path_buf(), |p, s| p.join(s));
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(StorageError::NotAFile);
    };
    // The deepest folder that exists must already be inside before anything is created.
    let mut existing = parent;
    while fs::symlink_metadata(existing).is_err() {
        existing = existing.parent().ok_or(StorageError::Outside)?;
    }
    inside(root, &fs::canonicalize(existing)?)?;
    fs::create_dir_all(parent).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => StorageError::NotAFile,
        _ => StorageError::Io(e),
    })?;
    let real_parent = fs::canonicalize(parent)?;
    inside(root, &real_parent)?;
    let target = real_parent.join(name);
    if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Err(StorageError::NotAFile);
    }
    Ok(target)
}

/// Renames a complete upload over its target and makes the rename durable.
fn commit(temp: &Path, target: &Path, key: String) -> Result<Stored, StorageError> {
    let created = fs::symlink_metadata(target).is_err();
    fs::rename(temp, target)?;
    if let Some(parent) = target.parent() {
        // The rename is durable once the folder is synced; some filesystems refuse, harmlessly.
        let _ = fs::File::open(parent).and_then(|d| d.sync_all());
    }
    let md = fs::metadata(target)?;
    Ok(Stored {
        meta: meta_of(key, &md),
        created,
    })
}

fn open_for_read(
    root: &Path,
    key: &Key,
    range: Option<RangeSpec>,
) -> Result<(fs::File, Meta, Option<std::ops::Range<u64>>), StorageError> {
    let path = resolve_existing(root, key)?;
    let mut file = fs::File::open(&path).map_err(not_found_as)?;
    // Metadata of the opened file, so headers and bytes describe the same version.
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(StorageError::NotFound);
    }
    let meta = meta_of(key.as_str().to_owned(), &md);
    let range = match range {
        None => None,
        Some(spec) => match spec.resolve(meta.size) {
            Some(r) => Some(r),
            None => return Err(StorageError::Unsatisfiable { meta }),
        },
    };
    if let Some(r) = &range {
        file.seek(SeekFrom::Start(r.start))?;
    }
    Ok((file, meta, range))
}

fn remove(root: &Path, key: &Key) -> Result<(), StorageError> {
    let path = key.segments().fold(root.to_path_buf(), |p, s| p.join(s));
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(StorageError::NotFound);
    };
    let real_parent = fs::canonicalize(parent).map_err(not_found_as)?;
    inside(root, &real_parent)?;
    let target = real_parent.join(name);
    let md = fs::symlink_metadata(&target).map_err(not_found_as)?;
    if md.is_dir() {
        return Err(StorageError::NotFound);
    }
    if md.file_type().is_symlink() {
        let real = fs::canonicalize(&target).map_err(not_found_as)?;
        inside(root, &real)?;
    }
    fs::remove_file(&target).map_err(not_found_as)?;
    // Drop folders the delete left empty, up to the bucket (stops at the first non-empty one).
    let mut dir = real_parent.as_path();
    while dir != root && fs::remove_dir(dir).is_ok() {
        match dir.parent() {
            Some(up) => dir = up,
            None => break,
        }
    }
    Ok(())
}

/// Files under the bucket whose key starts with `prefix`; symlinks and uploads in progress are
/// skipped.
fn walk(root: &Path, prefix: &str) -> Result<Vec<Meta>, StorageError> {
    let mut out = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = dirs.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let key = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if prefix.starts_with(&key) || key.starts_with(prefix) {
                    dirs.push((entry.path(), key));
                }
            } else if kind.is_file() && key.starts_with(prefix) {
                out.push(meta_of(key, &entry.metadata()?));
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn meta_of(key: String, md: &fs::Metadata) -> Meta {
    let modified = md.modified().unwrap_or(UNIX_EPOCH);
    Meta {
        key,
        size: md.len(),
        etag: etag(md.len(), modified, inode(md)),
        modified,
    }
}

/// Size, modification time and inode: every put writes a new inode, so a replaced file never
/// keeps its tag, and the tag needs no read of the content.
fn etag(size: u64, modified: SystemTime, inode: u64) -> String {
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("\"{size:x}-{nanos:x}-{inode:x}\"")
}

#[cfg(unix)]
fn inode(md: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(md)
}

#[cfg(not(unix))]
fn inode(_: &fs::Metadata) -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn stream(chunks: &[&'static [u8]]) -> ByteStream {
        let items: Vec<Result<Bytes, BoxError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        futures_util::stream::iter(items).boxed()
    }

    async fn read_all(obj: Object) -> Vec<u8> {
        let chunks: Vec<Bytes> = obj.body.try_collect().await.unwrap();
        chunks.concat()
    }

    fn key(k: &str) -> Key {
        Key::parse(k).unwrap()
    }

    #[tokio::test]
    async fn put_get_head_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let fs = LocalFs::open(&dir.path().join("b")).unwrap();
        let k = key("a/b/c.txt");
        let stored = fs
            .put(&k, &mut stream(&[b"hello ", b"world"]), 100)
            .await
            .unwrap();
        assert!(stored.created);
        assert_eq!(stored.meta.size, 11);
        let again = fs
            .put(&k, &mut stream(&[b"HELLO world"]), 100)
            .await
            .unwrap();
        assert!(!again.created);
        assert_ne!(again.meta.etag, stored.meta.etag);
        assert_eq!(fs.head(&k).await.unwrap(), again.meta);
        let obj = fs.get(&k, Some(RangeSpec::Suffix(5))).await.unwrap();
        assert_eq!(obj.range, Some(6..11));
        assert_eq!(read_all(obj).await, b"world");
        fs.put(&key("a/z"), &mut stream(&[b"z"]), 100)
            .await
            .unwrap();
        let keys: Vec<String> = fs
            .list("a/b")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(keys, ["a/b/c.txt"]);
        assert_eq!(fs.list("").await.unwrap().len(), 2);
        fs.delete(&k).await.unwrap();
        assert!(matches!(fs.delete(&k).await, Err(StorageError::NotFound)));
        assert!(matches!(
            fs.get(&k, None).await,
            Err(StorageError::NotFound)
        ));
        assert!(!fs.root().join("a/b").exists(), "empty folders are pruned");
        assert!(matches!(
            fs.get(&key("a"), None).await,
            Err(StorageError::NotFound)
        ));
    }

    #[tokio::test]
    async fn failed_uploads_leave_the_old_version_and_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let fs = LocalFs::open(dir.path()).unwrap();
        let k = key("x.bin");
        fs.put(&k, &mut stream(&[b"old"]), 10).await.unwrap();
        let err = fs
            .put(&k, &mut stream(&[b"new new ", b"new new"]), 10)
            .await;
        assert!(matches!(err, Err(StorageError::TooLarge { limit: 10 })));
        let broken: ByteStream = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"ne")),
            Err::<Bytes, BoxError>("reset".into()),
        ])
        .boxed();
        let mut broken = broken;
        assert!(matches!(
            fs.put(&k, &mut broken, 10).await,
            Err(StorageError::Body(_))
        ));
        assert_eq!(read_all(fs.get(&k, None).await.unwrap()).await, b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlinks_out_of_the_bucket_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), "s").unwrap();
        let fs = LocalFs::open(&dir.path().join("b")).unwrap();
        std::os::unix::fs::symlink(&outside, fs.root().join("out")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), fs.root().join("s")).unwrap();
        let outside_err = |r: Result<_, StorageError>| matches!(r, Err(StorageError::Outside));
        assert!(outside_err(
            fs.get(&key("out/secret"), None).await.map(|_| ())
        ));
        assert!(outside_err(fs.get(&key("s"), None).await.map(|_| ())));
        assert!(outside_err(fs.head(&key("s")).await.map(|_| ())));
        assert!(outside_err(fs.delete(&key("out/secret")).await));
        assert!(outside_err(fs.delete(&key("s")).await));
        assert!(outside_err(
            fs.put(&key("out/new/x"), &mut stream(&[b"x"]), 10)
                .await
                .map(|_| ())
        ));
        assert!(!outside.join("new").exists());
        assert!(outside.join("secret").exists());
    }
}
