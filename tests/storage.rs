//! Stored files end to end against the real binary: the three route shapes, ranges,
//! conditional requests, the upload limit, aborted and concurrent uploads, traversal attempts
//! over a raw socket, and `PUBLIC_STORAGE`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use common::{client, Builder, Server, TOKEN};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

/// The headers the old worker's admin client sends on every call, raw uploads included.
fn worker_headers(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req.bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
}

async fn put(server: &Server, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let res = worker_headers(client().put(server.url(path)))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, Vec<u8>) {
    let mut req = client().get(server.url(path)).bearer_auth(TOKEN);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let (status, h) = (res.status().as_u16(), res.headers().clone());
    (status, h, res.bytes().await.unwrap().to_vec())
}

fn assets_dir(server: &Server) -> PathBuf {
    server.home().join("data/storage/assets")
}

/// Sends `head` (and `body`) over a fresh connection; returns the status and body text.
fn raw(server: &Server, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

fn raw_get(server: &Server, method: &str, path: &str) -> (u16, String) {
    raw(
        server,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Length: 1\r\nConnection: close\r\n\r\n"
        ),
        b"x",
    )
}

#[tokio::test]
async fn put_get_head_delete_on_every_shape() {
    let server = Builder::static_token().spawn();
    let (status, body) = put(&server, "/api/storage/dir/sub/hello.txt", "hello world").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["key"], "dir/sub/hello.txt");
    assert_eq!(body["size"], 11);
    let etag = body["etag"].as_str().unwrap().to_owned();
    // Replacing is 200 on the new shape, and the tag changes.
    let (status, again) = put(&server, "/api/storage/dir/sub/hello.txt", "hello again").await;
    assert_eq!(status, 200);
    assert_ne!(again["etag"], etag.as_str());
    let etag = again["etag"].as_str().unwrap().to_owned();

    for path in [
        "/api/storage/dir/sub/hello.txt",
        "/storage/assets/dir/sub/hello.txt",
        "/admin/storage/assets/dir/sub/hello.txt",
    ] {
        let (status, h, bytes) = get(&server, path, &[]).await;
        assert_eq!(
            (status, bytes.as_slice()),
            (200, &b"hello again"[..]),
            "{path}"
        );
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["content-length"], "11");
        assert_eq!(h["etag"], etag.as_str());
        assert_eq!(h["accept-ranges"], "bytes");
        assert!(h.contains_key("last-modified"));
    }
    let res = client()
        .head(server.url("/storage/assets/dir/sub/hello.txt"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], "11");
    assert_eq!(res.headers()["etag"], etag.as_str());
    assert_eq!(res.headers()["content-type"], "text/plain");
    assert!(res.bytes().await.unwrap().is_empty());

    // The worker's shape answers 200 even for a new key, and the type comes from the extension.
    let (status, body) = put(
        &server,
        "/admin/storage/temp/run/1/out.png",
        &b"\x89PNG"[..],
    )
    .await;
    assert_eq!((status, body["size"].clone()), (200, json!(4)));
    let (_, h, _) = get(&server, "/storage/temp/run/1/out.png", &[]).await;
    assert_eq!(h["content-type"], "image/png");
    let (_, h, _) = get(&server, "/storage/temp/run/1/out.png", &[]).await;
    assert_eq!(h["x-content-type-options"], "nosniff");
    // The temp bucket is not the assets bucket.
    assert_eq!(get(&server, "/api/storage/run/1/out.png", &[]).await.0, 404);

    let delete = |path: &'static str| {
        let url = server.url(path);
        async move {
            client()
                .delete(url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(delete("/api/storage/dir/sub/hello.txt").await, 204);
    assert_eq!(delete("/api/storage/dir/sub/hello.txt").await, 404);
    assert_eq!(delete("/admin/storage/temp/run/1/out.png").await, 204);
    assert_eq!(
        get(&server, "/storage/temp/run/1/out.png", &[]).await.0,
        404
    );
    assert_eq!(
        get(&server, "/api/storage/dir/sub/hello.txt", &[]).await.0,
        404
    );
    // Unknown buckets are 404 on every route.
    assert_eq!(get(&server, "/storage/secrets/x", &[]).await.0, 404);
    assert_eq!(put(&server, "/admin/storage/secrets/x", "x").await.0, 404);
    assert_eq!(delete("/admin/storage/nope/x").await, 404);
}

#[tokio::test]
async fn ranges() {
    let server = Builder::static_token().spawn();
    let data: Vec<u8> = (0..100u8).collect();
    assert_eq!(
        put(&server, "/api/storage/r.bin", data.clone()).await.0,
        201
    );
    let range = |r: &'static str| {
        let server = &server;
        async move { get(server, "/api/storage/r.bin", &[("range", r)]).await }
    };

    let (status, h, bytes) = range("bytes=0-0").await;
    assert_eq!((status, bytes.as_slice()), (206, &data[..1]));
    assert_eq!(h["content-range"], "bytes 0-0/100");
    assert_eq!(h["content-length"], "1");
    let (status, h, bytes) = range("bytes=99-99").await;
    assert_eq!((status, bytes.as_slice()), (206, &data[99..]));
    assert_eq!(h["content-range"], "bytes 99-99/100");
    let (status, h, bytes) = range("bytes=-1").await;
    assert_eq!((status, bytes.as_slice()), (206, &data[99..]));
    assert_eq!(h["content-range"], "bytes 99-99/100");
    // A suffix longer than the file is the whole file.
    let (status, h, bytes) = range("bytes=-500").await;
    assert_eq!((status, bytes.as_slice()), (206, &data[..]));
    assert_eq!(h["content-range"], "bytes 0-99/100");
    let (status, h, bytes) = range("bytes=90-").await;
    assert_eq!((status, bytes.as_slice()), (206, &data[90..]));
    assert_eq!(h["content-range"], "bytes 90-99/100");
    let (status, _, bytes) = range("bytes=10-19").await;
    assert_eq!((status, bytes.as_slice()), (206, &data[10..20]));
    let (status, _, bytes) = range("bytes=95-500").await;
    assert_eq!((status, bytes.as_slice()), (206, &data[95..]));

    for unsatisfiable in ["bytes=100-", "bytes=100-200", "bytes=-0"] {
        let (status, h, body) = range(unsatisfiable).await;
        assert_eq!(status, 416, "{unsatisfiable}");
        assert_eq!(h["content-range"], "bytes */100");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["detail"], "Range Not Satisfiable");
    }
    // Malformed or multiple ranges are ignored: the whole file.
    for ignored in ["bytes=5-2", "bytes=0-1,5-6", "lines=1-2", "bytes=x-"] {
        let (status, h, bytes) = range(ignored).await;
        assert_eq!((status, bytes.len()), (200, 100), "{ignored}");
        assert!(!h.contains_key("content-range"));
    }
    // If-Range with a stale tag: the whole file.
    let (status, _, bytes) = get(
        &server,
        "/api/storage/r.bin",
        &[("range", "bytes=0-0"), ("if-range", "\"stale\"")],
    )
    .await;
    assert_eq!((status, bytes.len()), (200, 100));
}

#[tokio::test]
async fn conditional_requests() {
    let server = Builder::static_token().spawn();
    put(&server, "/api/storage/c.json", "{}").await;
    let (_, h, _) = get(&server, "/api/storage/c.json", &[]).await;
    let etag = h["etag"].to_str().unwrap().to_owned();
    let modified = h["last-modified"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong tag: {etag}"
    );

    let (status, h, body) = get(&server, "/api/storage/c.json", &[("if-none-match", &etag)]).await;
    assert_eq!((status, body.len()), (304, 0));
    assert_eq!(h["etag"], etag.as_str());
    let list = format!("\"other\", {etag}");
    assert_eq!(
        get(&server, "/api/storage/c.json", &[("if-none-match", &list)])
            .await
            .0,
        304
    );
    assert_eq!(
        get(
            &server,
            "/api/storage/c.json",
            &[("if-none-match", "\"other\"")]
        )
        .await
        .0,
        200
    );
    let (status, _, _) = get(
        &server,
        "/api/storage/c.json",
        &[("if-modified-since", &modified)],
    )
    .await;
    assert_eq!(status, 304);
    let old = "Mon, 01 Jan 2001 00:00:00 GMT";
    assert_eq!(
        get(
            &server,
            "/api/storage/c.json",
            &[("if-modified-since", old)]
        )
        .await
        .0,
        200
    );
    // If-None-Match decides when both are sent.
    let both = [
        ("if-none-match", "\"other\""),
        ("if-modified-since", modified.as_str()),
    ];
    assert_eq!(get(&server, "/api/storage/c.json", &both).await.0, 200);
    // A replaced file no longer matches the old tag.
    put(&server, "/api/storage/c.json", "{\"a\":1}").await;
    let (status, _, body) = get(&server, "/api/storage/c.json", &[("if-none-match", &etag)]).await;
    assert_eq!((status, body.as_slice()), (200, &b"{\"a\":1}"[..]));
    // HEAD honours them too.
    let res = client()
        .head(server.url("/storage/assets/c.json"))
        .bearer_auth(TOKEN)
        .header("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
}

#[tokio::test]
async fn reads_need_credentials_unless_public_storage() {
    let server = Builder::static_token().spawn();
    put(&server, "/api/storage/p.txt", "p").await;
    for path in [
        "/storage/assets/p.txt",
        "/api/storage/p.txt",
        "/admin/storage/assets/p.txt",
    ] {
        let res = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}");
    }
    drop(server);

    let server = Builder::static_token()
        .env("PUBLIC_STORAGE", "true")
        .spawn();
    put(&server, "/api/storage/p.txt", "p").await;
    let res = client()
        .get(server.url("/storage/assets/p.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "p");
    let res = client()
        .head(server.url("/storage/assets/p.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Only reads of /storage are public.
    for (method, path) in [
        (reqwest::Method::GET, "/api/storage/p.txt"),
        (reqwest::Method::PUT, "/api/storage/p.txt"),
        (reqwest::Method::GET, "/admin/storage/assets/p.txt"),
        (reqwest::Method::DELETE, "/admin/storage/assets/p.txt"),
    ] {
        let res = client()
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{method} {path}");
    }
}

#[tokio::test]
async fn traversal_attempts_are_refused() {
    let server = Builder::static_token().spawn();
    let detail = |d: &str| json!({ "detail": d }).to_string();
    let traversal = detail("Invalid key: path traversal is not allowed");
    let absolute = detail("Invalid key: absolute paths are not allowed");
    let empty = detail("Invalid key: key must not be empty");
    let control = detail("Invalid key: control characters are not allowed");
    let cases = [
        ("/api/storage/../etc/passwd", &traversal),
        ("/api/storage/a/../../etc/passwd", &traversal),
        ("/api/storage/%2e%2e/etc/passwd", &traversal),
        ("/api/storage/%2E%2E%2Fetc%2Fpasswd", &traversal),
        ("/api/storage/..%5Cetc%5Cpasswd", &traversal),
        ("/storage/assets/..%5c..%5cx", &traversal),
        ("/admin/storage/temp/x/%2e%2e/%2e%2e/y", &traversal),
        ("/api/storage//etc/passwd", &absolute),
        ("/api/storage/%2Fetc%2Fpasswd", &absolute),
        ("/storage/assets/%5Cetc", &absolute),
        ("/api/storage/%2F", &empty),
        ("/api/storage/.", &empty),
        ("/api/storage/a%00b", &control),
        ("/api/storage/a%0d%0ab", &control),
    ];
    for method in ["GET", "PUT", "DELETE"] {
        for (path, want) in &cases {
            if method != "GET" && path.starts_with("/storage/") {
                continue;
            }
            let (status, body) = raw_get(&server, method, path);
            assert_eq!((status, &body), (400, *want), "{method} {path}");
        }
    }
    // A raw backslash is refused before it reaches a path (400 either way).
    assert_eq!(raw_get(&server, "GET", "/api/storage/..\\x").0, 400);
    assert!(!server.home().join("data/storage/etc").exists());
    assert!(!server.home().join("data/etc").exists());
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_pointing_out_are_refused() {
    let server = Builder::static_token().spawn();
    let outside = server.home().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "secret").unwrap();
    let assets = assets_dir(&server);
    std::fs::create_dir_all(&assets).unwrap();
    std::os::unix::fs::symlink(&outside, assets.join("out")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), assets.join("s.txt")).unwrap();
    let traversal = json!({"detail": "Invalid key: path traversal is not allowed"});
    for path in ["/api/storage/out/secret.txt", "/storage/assets/s.txt"] {
        let (status, _, body) = get(&server, path, &[]).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), traversal);
    }
    assert_eq!(
        put(&server, "/api/storage/out/new/x.txt", "x").await,
        (400, traversal.clone())
    );
    let res = client()
        .delete(server.url("/api/storage/out/secret.txt"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(outside.join("secret.txt").exists());
    assert!(!outside.join("new").exists());
}

#[tokio::test]
async fn failed_uploads_leave_the_old_version() {
    let server = Builder::static_token()
        .env("MAX_UPLOAD_BYTES", "1000")
        .spawn();
    assert_eq!(
        put(&server, "/api/storage/keep.bin", vec![b'o'; 500])
            .await
            .0,
        201
    );
    let old = || async { get(&server, "/api/storage/keep.bin", &[]).await.2 };

    // Declared too large: refused before reading.
    let (status, body) = put(&server, "/api/storage/keep.bin", vec![b'n'; 1001]).await;
    assert_eq!(status, 413);
    assert_eq!(body["detail"], "Request body too large (limit 1000 bytes)");
    // A client waiting for `100 Continue` is answered before it sends anything.
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "PUT /api/storage/keep.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    // Chunked, found too large while streaming.
    let chunk = format!("{:x}\r\n{}\r\n", 800, "n".repeat(800));
    let (status, _) = raw(
        &server,
        &format!(
            "PUT /api/storage/keep.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ),
        format!("{chunk}{chunk}0\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, 413);
    assert_eq!(old().await, vec![b'o'; 500]);

    // Aborted half-way: the client promises 800 bytes, sends 400 and goes away.
    let mut s = TcpStream::connect(server.addr()).unwrap();
    write!(
        s,
        "PUT /api/storage/keep.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Length: 800\r\n\r\n{}",
        "n".repeat(400)
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(old().await, vec![b'o'; 500]);
    // No partial upload is left behind.
    let names: Vec<String> = std::fs::read_dir(assets_dir(&server))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["keep.bin"]);
}

#[tokio::test]
async fn concurrent_puts_to_one_key_never_mix() {
    let server = Builder::static_token().spawn();
    const SIZE: usize = 512 * 1024;
    let url = server.url("/api/storage/race.bin");
    let mut tasks = Vec::new();
    for i in 0..6u8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let body = vec![b'a' + i; SIZE];
            client()
                .put(url)
                .bearer_auth(TOKEN)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    // Readers during the writes see one whole version or nothing yet.
    for _ in 0..10 {
        let res = client().get(&url).bearer_auth(TOKEN).send().await.unwrap();
        if res.status() == 200 {
            let bytes = res.bytes().await.unwrap();
            assert_eq!(bytes.len(), SIZE);
            assert!(bytes.iter().all(|b| *b == bytes[0]), "a mixed file");
        }
    }
    for t in tasks {
        assert!(t.await.unwrap().is_success());
    }
    let (_, _, bytes) = get(&server, "/api/storage/race.bin", &[]).await;
    assert_eq!(bytes.len(), SIZE);
    assert!(bytes.iter().all(|b| *b == bytes[0]), "a mixed file");
    let count = std::fs::read_dir(assets_dir(&server)).unwrap().count();
    assert_eq!(count, 1, "temporary files left behind");
}
