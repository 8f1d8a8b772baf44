//! The hub's HTTP API as huggingface_hub uses it: the revision's file list
//! (`/api/models/{repo}/revision/{rev}`), each file's metadata from a `HEAD` on
//! `/{repo}/resolve/{rev}/{file}` (`X-Linked-Etag`/`ETag`, `X-Linked-Size`/`Content-Length`,
//! `X-Repo-Commit`), and the file itself, following redirects to a CDN and resuming with `Range`.

use http::header;
use reqwest::{Method, StatusCode};
use url::Url;

use super::{names, Hub};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{0}")]
    Status(String),
    #[error("could not reach the hub: {0}")]
    Request(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl HubError {
    pub fn request(e: reqwest::Error) -> Self {
        tracing::warn!(error = %e, "hub request failed");
        if e.is_timeout() {
            return HubError::Request("no answer within the read timeout".into());
        }
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text = s.to_string();
            source = s.source();
        }
        HubError::Request(text)
    }
}

/// How many redirects a request follows.
const MAX_REDIRECTS: usize = 10;

pub struct RepoInfo {
    /// The commit the revision points at.
    pub sha: Option<String>,
    pub files: Vec<String>,
}

/// What a file's `HEAD` says.
#[derive(Debug)]
pub struct FileMeta {
    /// The blob name: the LFS sha256 or the git blob id.
    pub etag: String,
    pub size: Option<u64>,
    pub commit: Option<String>,
}

impl Hub {
    /// `endpoint` followed by `segments`, each percent-encoded as one path part.
    fn url(&self, segments: &[&str]) -> Result<Url, HubError> {
        let mut url = Url::parse(&self.settings.endpoint)
            .map_err(|e| HubError::Invalid(format!("HF_ENDPOINT is not a URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| HubError::Invalid("HF_ENDPOINT cannot be a base URL".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    pub fn resolve_url(&self, repo_id: &str, revision: &str, file: &str) -> Result<Url, HubError> {
        let mut segments: Vec<&str> = repo_id.split('/').collect();
        segments.extend(["resolve", revision]);
        segments.extend(file.split('/'));
        self.url(&segments)
    }

    /// Sends `method` to `url`, following redirects: all of them (`follow_all`), or only those
    /// to the same host (a renamed repository), so a metadata `HEAD` can read the headers of
    /// the hub's own answer rather than the CDN's. The token goes to the hub's host only.
    async fn send(
        &self,
        method: Method,
        mut url: Url,
        range_from: Option<u64>,
        follow_all: bool,
    ) -> Result<reqwest::Response, HubError> {
        let hub_host = url.host_str().map(str::to_owned);
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.http.request(method.clone(), url.clone());
            if let (Some(token), true) =
                (&self.settings.token, url.host_str() == hub_host.as_deref())
            {
                req = req.bearer_auth(token);
            }
            if let Some(from) = range_from.filter(|&n| n > 0) {
                req = req.header(header::RANGE, format!("bytes={from}-"));
            }
            let res = req.send().await.map_err(HubError::request)?;
            if !res.status().is_redirection() {
                return Ok(res);
            }
            let Some(next) = res
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
            else {
                return Ok(res);
            };
            if !follow_all && next.host_str() != url.host_str() {
                return Ok(res);
            }
            url = next;
        }
        Err(HubError::Status("too many redirects".into()))
    }

    /// The files of `repo_id` at `revision`, and the commit it points at.
    pub async fn repo_info(&self, repo_id: &str, revision: &str) -> Result<RepoInfo, HubError> {
        let mut segments = vec!["api", "models"];
        segments.extend(repo_id.split('/'));
        segments.extend(["revision", revision]);
        let res = self
            .send(Method::GET, self.url(&segments)?, None, true)
            .await?;
        check(res.status(), repo_id, None)?;
        let info: serde_json::Value = res.json().await.map_err(HubError::request)?;
        let files = info["siblings"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|s| s["rfilename"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(RepoInfo {
            sha: info["sha"].as_str().map(str::to_owned),
            files,
        })
    }

    /// A file's blob name, size and commit. Hubs that refuse `HEAD` (any error status: a
    /// `GET`-only server may say 404 or 405), or say less to it, are asked with a `GET` whose
    /// body is dropped unread; its status decides.
    pub async fn file_meta(
        &self,
        repo_id: &str,
        revision: &str,
        file: &str,
    ) -> Result<FileMeta, HubError> {
        let url = self.resolve_url(repo_id, revision, file)?;
        let res = self.send(Method::HEAD, url.clone(), None, false).await?;
        if res.status().is_success() || res.status().is_redirection() {
            if let Ok(meta) = meta_of(&res, file) {
                return Ok(meta);
            }
        }
        let res = self.send(Method::GET, url, None, false).await?;
        if !res.status().is_redirection() {
            check(res.status(), repo_id, Some(file))?;
        }
        meta_of(&res, file)
    }

    /// The file's bytes from offset `from` (a `Range` request when above zero).
    pub async fn get(
        &self,
        repo_id: &str,
        revision: &str,
        file: &str,
        from: u64,
    ) -> Result<reqwest::Response, HubError> {
        let url = self.resolve_url(repo_id, revision, file)?;
        let res = self.send(Method::GET, url, Some(from), true).await?;
        if res.status() != StatusCode::RANGE_NOT_SATISFIABLE {
            check(res.status(), repo_id, Some(file))?;
        }
        Ok(res)
    }
}

/// Blob name, size and commit from a resolve answer's headers. A zero `Content-Length` is
/// taken as unknown: some servers send it on every `HEAD`.
fn meta_of(res: &reqwest::Response, file: &str) -> Result<FileMeta, HubError> {
    let h = res.headers();
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let etag = text("x-linked-etag")
        .or_else(|| text("etag"))
        .map(|e| e.trim_start_matches("W/").trim_matches('"').to_owned())
        .filter(|e| names::plain(e))
        .ok_or_else(|| HubError::Invalid(format!("The hub sent no usable ETag for {file}")))?;
    let size = text("x-linked-size")
        .and_then(|s| s.parse().ok())
        .or_else(|| {
            text("content-length")?
                .parse()
                .ok()
                .filter(|&n: &u64| n > 0)
        });
    let commit = text("x-repo-commit").map(str::to_owned);
    Ok(FileMeta { etag, size, commit })
}

fn check(status: StatusCode, repo_id: &str, file: Option<&str>) -> Result<(), HubError> {
    if status.is_success() {
        return Ok(());
    }
    let what = match file {
        Some(f) => format!("{repo_id}/{f}"),
        None => repo_id.to_owned(),
    };
    Err(HubError::Status(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
            "Access to {what} was refused ({status}): a gated or private repository needs HF_TOKEN"
        ),
        StatusCode::NOT_FOUND => format!("{what} was not found on the hub"),
        other => format!("The hub answered {other} for {what}"),
    }))
}
