//! A fake Hugging Face hub. `/api/models/{org}/{name}/revision/{rev}` lists the files;
//! `/{org}/{name}/resolve/{rev}/{file}` answers `HEAD` and `GET` with `ETag` and
//! `X-Repo-Commit`. `config.json` is served directly; the LFS file `sub/weights.bin` and the
//! large `big.bin` redirect (302, with `X-Linked-Etag`/`X-Linked-Size`) to a "CDN" on
//! `localhost` (another host name than the hub's 127.0.0.1, as a real CDN is), which honours
//! `Range`. `break_next` makes the next full download of a CDN file stop halfway; `slow_next`
//! sends the next one 64 KiB every 100 ms.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http::Response;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{full, json, streamed, Log, Req, Resp};

pub const REPO: &str = "org/tiny";
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
pub const CONFIG: &[u8] = br#"{"model_type": "tiny"}"#;
pub const CONFIG_ETAG: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
pub const BIG_REPO: &str = "org/big";
/// Serves `config.json` like `org/tiny`, but answers `HEAD` with 404 (a GET-only server).
pub const NO_HEAD_REPO: &str = "org/nohead";

/// The LFS file's bytes (256 KiB, not all alike so a bad resume would show).
pub fn weights() -> Vec<u8> {
    (0..256 * 1024u32).map(|i| (i % 251) as u8).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[derive(Clone)]
pub struct FakeHub {
    pub addr: SocketAddr,
    pub log: Log,
    /// The next full (not ranged) CDN download sends half its bytes and breaks off.
    pub break_next: Arc<AtomicBool>,
    /// The next CDN download is paced: one 64 KiB chunk every 100 ms.
    pub slow_next: Arc<AtomicBool>,
}

impl FakeHub {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

struct Files {
    weights: Bytes,
    weights_etag: String,
    big_size: u64,
}

/// A hub whose `org/big` repository holds one file of `big_size` bytes.
pub async fn start(big_size: u64) -> FakeHub {
    let log = Log::default();
    let break_next = Arc::new(AtomicBool::new(false));
    let slow_next = Arc::new(AtomicBool::new(false));
    let weights = Bytes::from(weights());
    let files = Arc::new(Files {
        weights_etag: sha256_hex(&weights),
        weights,
        big_size,
    });
    let (l, b, sl) = (log.clone(), break_next.clone(), slow_next.clone());
    let port = Arc::new(std::sync::OnceLock::<u16>::new());
    let p = port.clone();
    let addr = super::serve(move |req: Req| {
        l.push(&req);
        let (files, b, sl, port) = (files.clone(), b.clone(), sl.clone(), *p.get().unwrap_or(&0));
        async move { handle(req, &files, (&b, &sl), port) }
    })
    .await;
    let _ = port.set(addr.port());
    FakeHub {
        addr,
        log,
        break_next,
        slow_next,
    }
}

/// `faults`: break the next CDN download, pace the next one.
fn handle(req: Req, files: &Files, faults: (&AtomicBool, &AtomicBool), port: u16) -> Resp {
    let path = req.path.clone();
    if let Some(rest) = path.strip_prefix("/api/models/") {
        return revision(rest);
    }
    if let Some(etag) = path.strip_prefix("/cdn/") {
        return cdn(&req, etag, files, faults);
    }
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    if parts.len() < 5 || parts[2] != "resolve" || !matches!(parts[3], "main" | COMMIT) {
        return json(404, &json!({"error": "Entry not found"}));
    }
    let (repo, file) = (format!("{}/{}", parts[0], parts[1]), parts[4]);
    let head = req.method == http::Method::HEAD;
    let base = |status: u16| {
        Response::builder()
            .status(status)
            .header("x-repo-commit", COMMIT)
    };
    let cdn = |etag: &str, size: u64| {
        base(302)
            .header("location", format!("http://localhost:{port}/cdn/{etag}"))
            .header("x-linked-etag", format!("\"{etag}\""))
            .header("x-linked-size", size.to_string())
            .header("etag", "\"not-the-blob\"")
            .body(super::full(200, "text/plain", "").into_body())
            .unwrap()
    };
    if head && repo == NO_HEAD_REPO {
        return full(404, "text/plain", "");
    }
    match (repo.as_str(), file) {
        (REPO | NO_HEAD_REPO, "config.json") => {
            let body = if head {
                Bytes::new()
            } else {
                Bytes::from_static(CONFIG)
            };
            base(200)
                .header("etag", format!("\"{CONFIG_ETAG}\""))
                .header("content-length", CONFIG.len().to_string())
                .body(super::full(200, "application/json", body).into_body())
                .unwrap()
        }
        (REPO, "sub/weights.bin") => cdn(&files.weights_etag, files.weights.len() as u64),
        (BIG_REPO, "big.bin") => cdn("big-etag", files.big_size),
        _ => json(404, &json!({"error": "Entry not found"})),
    }
}

fn revision(rest: &str) -> Resp {
    let (repo, rev) = rest.split_once("/revision/").unwrap_or((rest, ""));
    if !matches!(rev, "main" | COMMIT) {
        return json(404, &json!({"error": "Invalid rev id"}));
    }
    let files = match repo {
        REPO => vec!["config.json", "sub/weights.bin"],
        NO_HEAD_REPO => vec!["config.json"],
        BIG_REPO => vec!["big.bin"],
        _ => return json(401, &json!({"error": "Repository not found"})),
    };
    let siblings: Vec<_> = files.iter().map(|f| json!({"rfilename": f})).collect();
    json(
        200,
        &json!({"id": repo, "sha": COMMIT, "siblings": siblings}),
    )
}

/// The CDN: bytes by etag, `Range: bytes=N-` answered with 206.
fn cdn(req: &Req, etag: &str, files: &Files, faults: (&AtomicBool, &AtomicBool)) -> Resp {
    let (break_next, slow_next) = faults;
    let size = if etag == files.weights_etag {
        files.weights.len() as u64
    } else if etag == "big-etag" {
        files.big_size
    } else {
        return full(404, "text/plain", "no such blob");
    };
    let from: u64 = req
        .header("range")
        .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
        .unwrap_or(0);
    if from > size {
        return full(416, "text/plain", "");
    }
    let broken = from == 0 && break_next.swap(false, Ordering::SeqCst);
    let slow = slow_next.swap(false, Ordering::SeqCst);
    let end = if broken { size / 2 } else { size };
    let weights = files.weights.clone();
    let big = etag == "big-etag";
    let chunk = 64 * 1024u64;
    let frames = stream::iter((from..end).step_by(chunk as usize).map(move |at| {
        let n = chunk.min(end - at);
        Ok(if big {
            Bytes::from(vec![0u8; n as usize])
        } else {
            weights.slice(at as usize..(at + n) as usize)
        })
    }))
    .then(move |chunk| async move {
        if slow {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        chunk
    })
    .chain(stream::iter(broken.then_some(())).then(|()| async {
        // Let the first half reach the client before the connection goes.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        Err(std::io::Error::other("connection lost halfway"))
    }));
    let mut res = streamed(
        if from > 0 { 206 } else { 200 },
        "application/octet-stream",
        frames,
    );
    let h = res.headers_mut();
    h.insert("content-length", (size - from).into());
    h.insert("etag", format!("\"{etag}\"").parse().unwrap());
    if from > 0 {
        let range = format!("bytes {from}-{}/{size}", size - 1);
        h.insert("content-range", range.parse().unwrap());
    }
    res
}
