//! A repository (or one file of it) into the cache, reporting progress as SSE events. Each file
//! goes to `blobs/<etag>.incomplete` first and becomes `blobs/<etag>` only once complete and of
//! the announced size, so a failure never leaves a corrupt blob; the next attempt resumes the
//! `.incomplete` file with `Range`. Files whose blob is already there are skipped. A client
//! that goes away stops the download at its next wait, with what was written kept on disk.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::hub::{FileMeta, HubError};
use super::names;
use super::patterns::{Filter, Patterns};
use super::Hub;
use crate::chat::sse;

/// At most this often a progress event goes out while a file downloads.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Bytes gathered before a write to the `.incomplete` file.
const WRITE_BUFFER: usize = 1024 * 1024;

/// Events waiting for a slow client before the download pauses for it.
const QUEUE: usize = 16;

pub struct DownloadRequest {
    pub repo_id: String,
    pub revision: String,
    pub allow: Option<Patterns>,
    pub ignore: Option<Patterns>,
    /// One file instead of the whole repository.
    pub file_path: Option<String>,
}

/// What every event carries.
#[derive(Clone, Serialize)]
struct Progress {
    status: &'static str,
    repo_id: String,
    message: String,
    current_file: Option<String>,
    downloaded_files: usize,
    total_files: usize,
    cached_files: usize,
    downloaded_size: u64,
    total_size: u64,
    local_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Why a download stopped.
enum Stop {
    /// The client went away: nothing left to tell.
    Gone,
    Failed(String),
}

impl From<HubError> for Stop {
    fn from(e: HubError) -> Self {
        Stop::Failed(e.to_string())
    }
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Self {
        tracing::warn!(error = %e, "model download: file system error");
        Stop::Failed(format!("Could not write to the cache: {e}"))
    }
}

/// A repository file, its safe relative path, and what the hub says about it.
type Planned = (String, PathBuf, FileMeta);

struct Run {
    hub: Arc<Hub>,
    req: DownloadRequest,
    tx: mpsc::Sender<Bytes>,
    p: Progress,
}

/// Starts the download; its events end with `data: [DONE]`. Dropping the stream stops it.
pub fn start(hub: Arc<Hub>, req: DownloadRequest) -> impl Stream<Item = Bytes> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let p = Progress {
        status: "starting",
        repo_id: req.repo_id.clone(),
        message: format!("Starting download of {}", req.repo_id),
        current_file: None,
        downloaded_files: 0,
        total_files: 0,
        cached_files: 0,
        downloaded_size: 0,
        total_size: 0,
        local_path: None,
        error: None,
    };
    tokio::spawn(Run { hub, req, tx, p }.run());
    sse::from_channel(rx)
}

/// `fut`, unless the client goes away first.
async fn unless_gone<T>(tx: &mpsc::Sender<Bytes>, fut: impl Future<Output = T>) -> Result<T, Stop> {
    tokio::select! {
        value = fut => Ok(value),
        () = tx.closed() => Err(Stop::Gone),
    }
}

impl Run {
    async fn run(mut self) {
        if self.emit("starting", None).await.is_err() {
            return;
        }
        let lock = self.hub.lock(&self.req.repo_id);
        let Ok(_one_at_a_time) = unless_gone(&self.tx.clone(), lock.lock()).await else {
            return;
        };
        match self.download().await {
            Ok(()) => {
                let done = format!(
                    "Downloaded {} files for {} ({} already cached)",
                    self.p.downloaded_files, self.req.repo_id, self.p.cached_files
                );
                self.p.current_file = None;
                if self.emit("completed", Some(done)).await.is_err() {
                    return;
                }
            }
            Err(Stop::Gone) => return,
            Err(Stop::Failed(error)) => {
                tracing::warn!(repo_id = %self.req.repo_id, error, "model download failed");
                self.p.error = Some(error.clone());
                if self.emit("error", Some(error)).await.is_err() {
                    return;
                }
            }
        }
        let _ = self.tx.send(sse::done()).await;
    }

    async fn emit(&mut self, status: &'static str, message: Option<String>) -> Result<(), Stop> {
        self.p.status = status;
        if let Some(m) = message {
            self.p.message = m;
        }
        self.tx
            .send(sse::event(&self.p))
            .await
            .map_err(|_| Stop::Gone)
    }

    /// The files to fetch with their metadata, and the commit the revision points at.
    async fn plan(&mut self) -> Result<(Vec<Planned>, String), Stop> {
        let (repo, rev) = (self.req.repo_id.clone(), self.req.revision.clone());
        let (files, listed_sha) = match &self.req.file_path {
            Some(file) => (vec![file.clone()], None),
            None => {
                let filter = Filter::new(self.req.allow.as_ref(), self.req.ignore.as_ref())
                    .map_err(Stop::Failed)?;
                let info = unless_gone(&self.tx, self.hub.repo_info(&repo, &rev)).await??;
                let files = info.files.into_iter().filter(|f| filter.keeps(f)).collect();
                (files, info.sha)
            }
        };
        let mut planned = Vec::with_capacity(files.len());
        for file in files {
            let path = names::repo_file(&file)
                .ok_or_else(|| Stop::Failed(format!("Refusing unsafe file path '{file}'")))?;
            let meta = unless_gone(&self.tx, self.hub.file_meta(&repo, &rev, &file)).await??;
            planned.push((file, path, meta));
        }
        let commit = listed_sha
            .or_else(|| planned.iter().find_map(|(_, _, m)| m.commit.clone()))
            .filter(|c| names::plain(c))
            .ok_or_else(|| Stop::Failed("The hub named no commit for this revision".into()))?;
        Ok((planned, commit))
    }

    async fn download(&mut self) -> Result<(), Stop> {
        let (repo, rev) = (self.req.repo_id.clone(), self.req.revision.clone());
        let (metas, commit) = self.plan().await?;
        self.p.total_files = metas.len();
        self.p.total_size = metas.iter().filter_map(|(_, _, m)| m.size).sum();
        let found = format!("Found {} files ({} bytes)", metas.len(), self.p.total_size);
        self.emit("progress", Some(found)).await?;

        let repo_dir = self.hub.repo_dir(&repo);
        let snapshot = repo_dir.join("snapshots").join(&commit);
        for (file, path, meta) in &metas {
            self.p.current_file = Some(file.clone());
            let blob = repo_dir.join("blobs").join(&meta.etag);
            let done = if is_complete(&blob, meta.size).await {
                self.p.cached_files += 1;
                self.p.downloaded_size += meta.size.unwrap_or(0);
                format!("{file} is already cached")
            } else {
                self.emit("progress", Some(format!("Downloading {file}")))
                    .await?;
                self.fetch(file, meta, &blob).await?;
                format!("Downloaded {file}")
            };
            link(&snapshot, path, &meta.etag).await?;
            self.p.downloaded_files += 1;
            self.emit("progress", Some(done)).await?;
        }
        if rev != commit {
            write_ref(&repo_dir, &rev, &commit).await?;
        }
        let local = match &self.req.file_path {
            Some(file) => snapshot.join(file),
            None => snapshot,
        };
        self.p.local_path = Some(local.display().to_string());
        Ok(())
    }

    /// One file into `blob`, through `<blob>.incomplete`, resuming what a failed try left.
    async fn fetch(&mut self, file: &str, meta: &FileMeta, blob: &Path) -> Result<(), Stop> {
        let part = PathBuf::from(format!("{}.incomplete", blob.display()));
        if let Some(dir) = part.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut have = tokio::fs::metadata(&part).await.map_or(0, |m| m.len());
        if meta.size.is_some_and(|size| have > size) {
            have = 0;
        }
        let (repo, rev) = (self.req.repo_id.clone(), self.req.revision.clone());
        let tx = self.tx.clone();
        let mut res = unless_gone(&tx, self.hub.get(&repo, &rev, file, have)).await??;
        if have > 0 && !resumes_at(&res, have) {
            // The hub ignored the range (200) or refused it (416): start over.
            if res.status() != reqwest::StatusCode::OK {
                res = unless_gone(&tx, self.hub.get(&repo, &rev, file, 0)).await??;
            }
            have = 0;
        }
        let partial = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(have > 0)
            .truncate(have == 0)
            .open(&part)
            .await?;
        // Fewer, larger writes on the blocking pool; a fixed buffer, whatever the file size.
        let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, partial);
        self.p.downloaded_size += have;
        let copied = self.copy(&mut res, &mut out, file, have).await;
        // Whatever stopped the copy, what arrived stays on disk for a resume.
        out.flush().await?;
        let written = copied?;
        out.get_ref().sync_all().await?;
        drop(out);
        if let Some(size) = meta.size.filter(|&s| s != written) {
            tokio::fs::remove_file(&part).await?;
            return Err(Stop::Failed(format!(
                "Download of {file} has {written} bytes, the hub announced {size}"
            )));
        }
        tokio::fs::rename(&part, blob).await?;
        Ok(())
    }

    /// The response body into `out`, with progress events; the bytes in `out` at the end.
    async fn copy(
        &mut self,
        res: &mut reqwest::Response,
        out: &mut (impl AsyncWrite + Unpin),
        file: &str,
        have: u64,
    ) -> Result<u64, Stop> {
        let tx = self.tx.clone();
        let mut written = have;
        let mut last = Instant::now();
        loop {
            let chunk = match unless_gone(&tx, res.chunk()).await? {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Ok(written),
                Err(e) => {
                    return Err(Stop::Failed(format!(
                        "Download of {file} broke off after {written} bytes: {}",
                        HubError::request(e)
                    )))
                }
            };
            out.write_all(&chunk).await?;
            written += chunk.len() as u64;
            self.p.downloaded_size += chunk.len() as u64;
            if last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                self.emit("progress", None).await?;
            }
        }
    }
}

/// A 206 that starts where the partial file ends.
fn resumes_at(res: &reqwest::Response, have: u64) -> bool {
    res.status() == reqwest::StatusCode::PARTIAL_CONTENT
        && res
            .headers()
            .get(http::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|start| start.parse::<u64>().ok())
            == Some(have)
}

async fn is_complete(blob: &Path, size: Option<u64>) -> bool {
    match tokio::fs::metadata(blob).await {
        Ok(m) => m.is_file() && size.is_none_or(|s| s == m.len()),
        Err(_) => false,
    }
}

/// `snapshots/<commit>/<path>` as a relative link to `blobs/<etag>`, as huggingface_hub makes it.
async fn link(snapshot: &Path, path: &Path, etag: &str) -> Result<(), Stop> {
    let at = snapshot.join(path);
    if let Some(dir) = at.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let depth = path.components().count();
    let target = PathBuf::from(format!("{}blobs/{etag}", "../".repeat(depth + 1)));
    match tokio::fs::symlink_metadata(&at).await {
        Ok(m) if m.is_dir() => {
            return Err(Stop::Failed(format!(
                "{} is a folder in the cache",
                at.display()
            )))
        }
        Ok(_) => tokio::fs::remove_file(&at).await?,
        Err(_) => {}
    }
    tokio::fs::symlink(&target, &at).await?;
    Ok(())
}

/// `refs/<revision>` holding the commit, replaced atomically.
async fn write_ref(repo_dir: &Path, revision: &str, commit: &str) -> Result<(), Stop> {
    let at = repo_dir.join("refs").join(revision);
    if let Some(dir) = at.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = PathBuf::from(format!("{}.tmp", at.display()));
    tokio::fs::write(&tmp, commit).await?;
    tokio::fs::rename(&tmp, &at).await?;
    Ok(())
}
