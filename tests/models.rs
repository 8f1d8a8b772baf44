//! `/admin/models/*` and `/admin/cache/*` against a fake Hugging Face hub and a fake Ollama:
//! the cache layout a download leaves and the scan reads back, skipping cached files, an
//! interrupted download resumed with `Range`, validation, the cache_dir rules, deletes, pulls.

mod common;
mod fakes;

use std::path::{Path, PathBuf};

use common::{client, Builder, Server, TOKEN};
use fakes::hub::{self, FakeHub, COMMIT, CONFIG, CONFIG_ETAG, REPO};
use serde_json::{json, Value};

const HF_TOKEN: &str = "hf_test_secret";

struct Setup {
    server: Server,
    hub: FakeHub,
    hf_home: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Setup {
        Self::with(|b| b).await
    }

    async fn with(more: impl FnOnce(Builder) -> Builder) -> Setup {
        let hub = hub::start(1024).await;
        let hf_home = tempfile::tempdir().unwrap();
        let b = Builder::static_token()
            .env("HF_HOME", hf_home.path().to_str().unwrap())
            .env("HF_ENDPOINT", &hub.url())
            .env("HF_TOKEN", HF_TOKEN)
            .env("UPSTREAM_READ_TIMEOUT", "2s");
        let server = more(b).spawn();
        Setup {
            server,
            hub,
            hf_home,
        }
    }

    fn cache(&self) -> PathBuf {
        self.hf_home.path().join("hub")
    }

    fn repo(&self) -> PathBuf {
        self.cache().join("models--org--tiny")
    }

    /// Starts a download; the response streams its events.
    async fn post_download(&self, body: Value) -> reqwest::Response {
        client()
            .post(self.server.url("/admin/models/huggingface/download"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Paces the hub's next CDN download (one 64 KiB chunk every 100 ms).
    fn slow_next(&self) {
        self.hub
            .slow_next
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The `Range` header of each CDN request so far, in order.
    fn cdn_ranges(&self) -> Vec<Option<String>> {
        self.hub
            .log
            .all()
            .iter()
            .filter(|r| r.path.starts_with("/cdn/"))
            .map(|r| r.header("range"))
            .collect()
    }

    async fn download(&self, body: Value) -> Vec<Value> {
        let res = self.post_download(body).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        events(&res.text().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        common::get_json(client().get(self.server.url(path)).bearer_auth(TOKEN)).await
    }
}

fn events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.trim().strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_owned())))
        .collect()
}

/// The event before `[DONE]`.
fn last(ev: &[Value]) -> &Value {
    assert_eq!(ev.last().unwrap(), "[DONE]", "{ev:?}");
    &ev[ev.len() - 2]
}

fn link(path: &Path) -> String {
    std::fs::read_link(path).unwrap().display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_fills_the_hub_cache_layout_and_the_scan_reads_it_back() {
    let s = Setup::start().await;
    let weights = hub::weights();
    let weights_etag = hub::sha256_hex(&weights);
    let total = (CONFIG.len() + weights.len()) as u64;

    let ev = s.download(json!({"repo_id": REPO})).await;
    assert_eq!(ev[0]["status"], "starting");
    assert!(ev.iter().any(|e| e["status"] == "progress"));
    let done = last(&ev);
    assert_eq!(done["status"], "completed", "{ev:?}");
    let snapshot = s.repo().join("snapshots").join(COMMIT);
    assert_eq!(
        (
            &done["repo_id"],
            &done["total_files"],
            &done["downloaded_files"],
            &done["total_size"],
            &done["downloaded_size"],
            &done["local_path"],
        ),
        (
            &json!(REPO),
            &json!(2),
            &json!(2),
            &json!(total),
            &json!(total),
            &json!(snapshot.display().to_string()),
        )
    );
    for e in &ev[..ev.len() - 1] {
        for key in [
            "status",
            "repo_id",
            "current_file",
            "downloaded_files",
            "total_files",
            "downloaded_size",
            "total_size",
            "local_path",
        ] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
    }

    // huggingface_hub's layout: blobs by ETag, relative links in the snapshot, the ref.
    let repo = s.repo();
    assert_eq!(
        std::fs::read(repo.join("blobs").join(CONFIG_ETAG)).unwrap(),
        CONFIG
    );
    assert_eq!(
        std::fs::read(repo.join("blobs").join(&weights_etag)).unwrap(),
        weights
    );
    assert_eq!(
        link(&snapshot.join("config.json")),
        format!("../../blobs/{CONFIG_ETAG}")
    );
    assert_eq!(
        link(&snapshot.join("sub/weights.bin")),
        format!("../../../blobs/{weights_etag}")
    );
    assert_eq!(
        std::fs::read(snapshot.join("sub/weights.bin")).unwrap(),
        weights
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).unwrap(),
        COMMIT
    );

    // The token went to the hub, never to the CDN it redirects to.
    let log = s.hub.log.all();
    assert!(log
        .iter()
        .filter(|r| !r.path.starts_with("/cdn/"))
        .all(|r| r.header("authorization").as_deref() == Some(&format!("Bearer {HF_TOKEN}"))));
    let cdn: Vec<_> = log.iter().filter(|r| r.path.starts_with("/cdn/")).collect();
    assert_eq!(cdn.len(), 1);
    assert!(cdn[0].header("authorization").is_none());

    let (status, scan) = s.get("/admin/cache/scan").await;
    assert_eq!(status, 200);
    assert_eq!(scan["status"], "completed");
    let info = &scan["cache_info"];
    assert_eq!(info["size_on_disk"], total);
    assert_eq!(info["warnings"], json!([]));
    let r = &info["repos"][0];
    assert_eq!(
        (
            &r["repo_id"],
            &r["repo_type"],
            &r["nb_files"],
            &r["size_on_disk"]
        ),
        (&json!(REPO), &json!("model"), &json!(2), &json!(total))
    );
    assert_eq!(r["repo_path"], repo.display().to_string());
    let rev = &r["revisions"][0];
    assert_eq!(rev["commit_hash"], COMMIT);
    assert_eq!(rev["snapshot_path"], snapshot.display().to_string());
    assert_eq!(rev["size_on_disk"], total);
    let names: Vec<&str> = rev["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["config.json", "weights.bin"]);

    // Cached files are skipped: nothing more from the CDN.
    let ev = s
        .download(json!({"repo_id": REPO, "revision": "main"}))
        .await;
    let done = last(&ev);
    assert_eq!(
        (&done["status"], &done["cached_files"]),
        (&json!("completed"), &json!(2))
    );
    assert_eq!(
        s.hub
            .log
            .all()
            .iter()
            .filter(|r| r.path.starts_with("/cdn/"))
            .count(),
        1
    );

    // Size: the cache only, for the old container path and the configured one; nothing else.
    let on_disk = total + COMMIT.len() as u64;
    let configured = s.cache().display().to_string();
    for query in [
        "",
        "?cache_dir=/app/.cache/huggingface/hub",
        &format!("?cache_dir={configured}/"),
    ] {
        let (status, size) = s.get(&format!("/admin/cache/size{query}")).await;
        assert_eq!(status, 200, "{query}: {size}");
        assert_eq!(
            size,
            json!({"success": true, "cache_dir": configured, "total_size_bytes": on_disk,
                   "size_gb": 0.0})
        );
    }
    for other in [
        "/etc",
        "/",
        "/app/.cache/huggingface",
        &format!("{configured}/.."),
    ] {
        let (status, body) = s.get(&format!("/admin/cache/size?cache_dir={other}")).await;
        assert_eq!(status, 400, "{other}");
        assert!(body["detail"].as_str().unwrap().contains("cache_dir"));
    }

    let delete = |path: &str| {
        client()
            .delete(s.server.url(path))
            .bearer_auth(TOKEN)
            .send()
    };
    let res = delete("/admin/models/huggingface/org/tiny").await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (&body["status"], &body["repo_id"]),
        (&json!("completed"), &json!(REPO))
    );
    assert!(!repo.exists());
    assert_eq!(
        s.get("/admin/cache/scan").await.1["cache_info"]["repos"],
        json!([])
    );
    assert_eq!(
        delete("/admin/models/huggingface/org/tiny")
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        delete("/admin/models/huggingface/org/a--b")
            .await
            .unwrap()
            .status(),
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_leaves_no_blob_and_resumes_with_range() {
    let s = Setup::start().await;
    let weights = hub::weights();
    let etag = hub::sha256_hex(&weights);
    s.hub
        .break_next
        .store(true, std::sync::atomic::Ordering::SeqCst);

    let ev = s.download(json!({"repo_id": REPO})).await;
    let failed = last(&ev);
    assert_eq!(failed["status"], "error", "{ev:?}");
    assert_eq!(failed["current_file"], "sub/weights.bin");
    assert!(
        failed["error"].as_str().unwrap().contains("broke off"),
        "{failed}"
    );
    let blobs = s.repo().join("blobs");
    assert!(
        !blobs.join(&etag).exists(),
        "no blob from a failed download"
    );
    let part = blobs.join(format!("{etag}.incomplete"));
    let half = std::fs::metadata(&part).unwrap().len();
    assert_eq!(half, weights.len() as u64 / 2);

    let ev = s.download(json!({"repo_id": REPO})).await;
    let done = last(&ev);
    assert_eq!(done["status"], "completed", "{ev:?}");
    assert_eq!(done["downloaded_size"], weights.len() + CONFIG.len());
    assert_eq!(std::fs::read(blobs.join(&etag)).unwrap(), weights);
    assert!(!part.exists());
    let ranges = s.cdn_ranges();
    assert_eq!(ranges, [None, Some(format!("bytes={half}-"))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_download_keeps_the_bytes_for_a_resume() {
    let s = Setup::start().await;
    let weights = hub::weights();
    let etag = hub::sha256_hex(&weights);
    s.slow_next();
    let mut res = s.post_download(json!({"repo_id": REPO})).await;
    // Leave once a progress event shows part of the big file arrived.
    let mut text = String::new();
    loop {
        let chunk = res
            .chunk()
            .await
            .unwrap()
            .expect("events until the file is partly in");
        text.push_str(&String::from_utf8_lossy(&chunk));
        let partway = events(&text).iter().any(|e| {
            e["current_file"] == "sub/weights.bin"
                && e["downloaded_size"].as_u64().unwrap_or(0) > CONFIG.len() as u64
        });
        if partway {
            break;
        }
    }
    drop(res);
    let part = s.repo().join("blobs").join(format!("{etag}.incomplete"));
    let mut kept = 0;
    for _ in 0..100 {
        kept = std::fs::metadata(&part).map_or(0, |m| m.len());
        if kept > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    assert!(kept > 0 && kept < weights.len() as u64, "kept {kept} bytes");

    let ev = s.download(json!({"repo_id": REPO})).await;
    assert_eq!(last(&ev)["status"], "completed", "{ev:?}");
    assert_eq!(
        std::fs::read(s.repo().join("blobs").join(&etag)).unwrap(),
        weights
    );
    let ranges = s.cdn_ranges();
    assert_eq!(ranges, [None, Some(format!("bytes={kept}-"))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_check_their_input_and_report_hub_failures() {
    let s = Setup::with(|b| b.env("ADMIN_TOKEN", "admin-secret")).await;
    let post = |body: Value, admin: Option<&str>| {
        let mut req = client()
            .post(s.server.url("/admin/models/huggingface/download"))
            .bearer_auth(TOKEN)
            .json(&body);
        if let Some(a) = admin {
            req = req.header("x-admin-token", a);
        }
        req.send()
    };
    let res = post(json!({"repo_id": REPO}), None).await.unwrap();
    assert_eq!(res.status(), 403, "the admin token layer applies");
    for body in [
        json!({}),
        json!({"repo_id": ""}),
        json!({"revision": "main"}),
    ] {
        let res = post(body, Some("admin-secret")).await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(
            res.json::<Value>().await.unwrap(),
            json!({"detail": "repo_id is required"})
        );
    }
    for bad in ["../../etc", "a/b/c", "org/na me", "org/..", "-x/y"] {
        let res = post(json!({"repo_id": bad}), Some("admin-secret"))
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }
    let res = post(
        json!({"repo_id": REPO, "revision": "../x"}),
        Some("admin-secret"),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);

    // A repository the hub does not know: an error event, nothing in the cache.
    let res = post(json!({"repo_id": "org/unknown"}), Some("admin-secret"))
        .await
        .unwrap();
    let ev = events(&res.text().await.unwrap());
    let err = last(&ev);
    assert_eq!(err["status"], "error");
    assert!(
        err["error"].as_str().unwrap().contains("org/unknown"),
        "{err}"
    );
    assert!(!s.cache().join("models--org--unknown").exists());

    // One file by `file_path`: its own path as local_path, the commit from X-Repo-Commit.
    let res = post(
        json!({"repo_id": REPO, "file_path": "config.json"}),
        Some("admin-secret"),
    )
    .await
    .unwrap();
    let ev = events(&res.text().await.unwrap());
    let done = last(&ev);
    let file = s.repo().join("snapshots").join(COMMIT).join("config.json");
    assert_eq!(
        (&done["status"], &done["total_files"], &done["local_path"]),
        (
            &json!("completed"),
            &json!(1),
            &json!(file.display().to_string())
        )
    );
    assert_eq!(std::fs::read(&file).unwrap(), CONFIG);
    let res = post(
        json!({"repo_id": REPO, "file_path": "../x"}),
        Some("admin-secret"),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);

    // A hub that refuses HEAD is asked with a GET.
    let res = post(json!({"repo_id": hub::NO_HEAD_REPO}), Some("admin-secret"))
        .await
        .unwrap();
    let ev = events(&res.text().await.unwrap());
    assert_eq!(last(&ev)["status"], "completed", "{ev:?}");

    // Patterns pick files, as huggingface_hub's do.
    let res = post(
        json!({"repo_id": REPO, "allow_patterns": ["*.json"]}),
        Some("admin-secret"),
    )
    .await
    .unwrap();
    let ev = events(&res.text().await.unwrap());
    assert_eq!(last(&ev)["total_files"], 1);
    assert!(s
        .repo()
        .join("snapshots")
        .join(COMMIT)
        .join("config.json")
        .exists());
    assert!(!s.repo().join("snapshots").join(COMMIT).join("sub").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_pulls_are_relayed_between_starting_and_completed() {
    let ollama = fakes::ollama::start().await;
    let server = Builder::static_token()
        .env("OLLAMA_API_URL", &ollama.url())
        .spawn();
    let pull = |body: Value| {
        client()
            .post(server.url("/admin/models/ollama/download"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let res = pull(json!({"model_name": "qwen2.5:0.5b"})).await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let ev = events(&res.text().await.unwrap());
    let statuses: Vec<&str> = ev
        .iter()
        .map(|e| e["status"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        statuses,
        [
            "starting",
            "pulling manifest",
            "downloading sha256:abc",
            "downloading sha256:abc",
            "success",
            "completed",
            "-"
        ]
    );
    assert_eq!(ev[0]["model"], "qwen2.5:0.5b");
    assert_eq!(ev[2]["completed"], 50);
    assert_eq!(ev.last().unwrap(), "[DONE]");
    assert_eq!(
        ollama.log.to("/api/pull")[0].json()["model"],
        "qwen2.5:0.5b"
    );

    let ev = events(
        &pull(json!({"model_name": "nope"}))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let err = last(&ev);
    assert_eq!(err["status"], "error");
    assert_eq!(err["error"], "pull model manifest: file does not exist");

    let res = pull(json!({})).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"detail": "model_name is required"})
    );

    // Ollama not running: an error event after the start.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let down = Builder::static_token().env("OLLAMA_API_URL", &url).spawn();
    let res = client()
        .post(down.url("/admin/models/ollama/download"))
        .bearer_auth(TOKEN)
        .json(&json!({"model_name": "x"}))
        .send()
        .await
        .unwrap();
    let ev = events(&res.text().await.unwrap());
    assert_eq!(ev[0]["status"], "starting");
    assert_eq!(last(&ev)["status"], "error");
}

/// `VmHWM` and `VmRSS` of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Peak RSS of the server while it downloads 128 MiB and 1 GiB files from the fake hub: flat,
/// not growing with the file. Run on a release build:
/// `cargo test --release --test models -- --ignored --nocapture measure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_download_peak_rss() {
    for mib in [128u64, 1024] {
        let hub = hub::start(mib * 1024 * 1024).await;
        let hf_home = tempfile::tempdir().unwrap();
        let server = Builder::static_token()
            .env("HF_HOME", hf_home.path().to_str().unwrap())
            .env("HF_ENDPOINT", &hub.url())
            .spawn();
        let pid = server.child.id();
        let (_, cache) = common::get_json(
            client()
                .get(server.url("/admin/cache/scan"))
                .bearer_auth(TOKEN),
        )
        .await;
        assert_eq!(cache["status"], "completed");
        let (before, _) = memory_kib(pid);
        let start = std::time::Instant::now();
        let mut res = client()
            .post(server.url("/admin/models/huggingface/download"))
            .bearer_auth(TOKEN)
            .json(&json!({"repo_id": hub::BIG_REPO}))
            .send()
            .await
            .unwrap();
        let (mut text, mut peak_rss) = (String::new(), 0);
        while let Some(chunk) = res.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            peak_rss = peak_rss.max(memory_kib(pid).1);
        }
        let secs = start.elapsed().as_secs_f64();
        let ev = events(&text);
        assert_eq!(last(&ev)["status"], "completed", "{ev:?}");
        let (after, _) = memory_kib(pid);
        println!(
            "{mib:5} MiB file: VmHWM {before} KiB before, {after} KiB after \
             (sampled VmRSS peak {peak_rss} KiB); {:.0} MiB/s",
            mib as f64 / secs
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_in_flight_finishes_through_a_drain() {
    let mut s = Setup::with(|b| b.env("DRAIN_TIMEOUT", "10s")).await;
    s.slow_next();
    let mut res = s.post_download(json!({"repo_id": REPO})).await;
    let mut text = String::new();
    while !text.contains("Downloading sub/weights.bin") {
        let chunk = res
            .chunk()
            .await
            .unwrap()
            .expect("events until the big file starts");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    s.server.signal(libc::SIGTERM);
    text.push_str(&res.text().await.unwrap());
    let ev = events(&text);
    assert_eq!(last(&ev)["status"], "completed", "{ev:?}");
    let status =
        tokio::task::block_in_place(|| s.server.wait_exit(std::time::Duration::from_secs(10)));
    assert!(status.success());
    let etag = hub::sha256_hex(&hub::weights());
    assert_eq!(
        std::fs::read(s.repo().join("blobs").join(etag)).unwrap(),
        hub::weights()
    );
}
