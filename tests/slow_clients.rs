//! Slow and hostile clients, over raw sockets: stalled bodies, trickles, silent connections,
//! oversized announcements and a flood past the file limit. None of them may hold anything
//! another client needs.

mod accounts_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use accounts_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Everything the server sends until it closes the connection (or `limit` passes).
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&out).into_owned())
}

/// Opens a connection and sends `head` (request line and headers, without the blank line).
async fn send_head(addr: SocketAddr, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    stream
}

async fn api_token(server: &Server, cookie: &str) -> String {
    let res = client()
        .post(server.url("/api/tokens"))
        .header("cookie", cookie)
        .header("origin", server.origin())
        .json(&serde_json::json!({"name": "load"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// 100 requests of one account that send headers and never their body hold no database
/// connection: another user still signs in and reads `/api/me` at once.
#[tokio::test]
async fn stalled_bodies_of_one_account_do_not_starve_the_others() {
    let server = Server::builder()
        .user("mallory", false)
        .user("ada", false)
        .env("BODY_READ_TIMEOUT", "60s")
        .start();
    let token = api_token(&server, &signed_in(&server, "mallory").await).await;
    let head = format!(
        "POST /api/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100"
    );
    let mut stalled = Vec::new();
    for _ in 0..100 {
        stalled.push(send_head(server.addr(), &head).await);
    }
    // Let every one of them reach its handler and wait on its body.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    let cookie = signed_in(&server, "ada").await;
    let res = client()
        .get(server.url("/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "login and /api/me took {:?}",
        start.elapsed()
    );
    drop(stalled);
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_the_connection_closed() {
    let server = Server::builder().env("BODY_READ_TIMEOUT", "1s").start();
    let mut stream = send_head(
        server.addr(),
        "POST /auth/login HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000",
    )
    .await;
    stream.write_all(b"username=a").await.unwrap();
    let start = Instant::now();
    let answer = read_to_close(&mut stream, Duration::from_secs(10))
        .await
        .expect("the server closes the connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.ends_with(r#"{"detail":"Request body timeout"}"#),
        "{answer}"
    );
    assert!(answer.to_ascii_lowercase().contains("connection: close"));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_body_trickling_below_the_minimum_rate_is_cut_off() {
    let server = Server::builder()
        .env("BODY_READ_TIMEOUT", "1s")
        .env("BODY_MIN_RATE", "100")
        .start();
    let mut stream = send_head(
        server.addr(),
        "POST /auth/login HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000",
    )
    .await;
    let start = Instant::now();
    // One byte every 300 ms: never a 1 s gap, far below 100 bytes/s.
    let (mut read, mut write) = stream.split();
    let trickle = async {
        for _ in 0..40 {
            if write.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let answer = async {
        let mut out = Vec::new();
        let _ = read.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    let answer = tokio::select! {
        answer = answer => answer,
        () = trickle => panic!("still reading a trickle after 12 s"),
    };
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

/// `Expect: 100-continue` with a body over the limit: 413 at once, never `100 Continue`.
#[tokio::test]
async fn an_announced_oversized_body_is_refused_at_once_without_100_continue() {
    let server = Server::builder().start();
    let start = Instant::now();
    let mut stream = send_head(
        server.addr(),
        "POST /auth/login HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000",
    )
    .await;
    let answer = read_to_close(&mut stream, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // Without Expect, a client that sends nothing more is not waited for either.
    let start = Instant::now();
    let mut stream = send_head(
        server.addr(),
        "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000",
    )
    .await;
    let answer = read_to_close(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

/// Over HTTP/2 a stalled body ends its own stream with the 408; the connection serves on.
#[tokio::test]
async fn a_stalled_http2_body_gets_408_and_only_its_stream_ends() {
    use futures_util::StreamExt;
    let server = Server::builder().env("BODY_READ_TIMEOUT", "1s").start();
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let first = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"username=a"))
    });
    let stalled = reqwest::Body::wrap_stream(first.chain(futures_util::stream::pending()));
    let start = Instant::now();
    let res = h2
        .post(server.url("/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(stalled)
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), 408);
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"detail":"Request body timeout"}"#
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let res = h2.get(server.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn http2_bodies_over_the_limit_get_413() {
    let server = Server::builder().start();
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = h2
        .post(server.url("/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'x'; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), 413);
    // The connection lives on for the next stream.
    let res = h2.get(server.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_header_timeout() {
    let server = Server::builder().env("HEADER_READ_TIMEOUT", "1s").start();
    let start = Instant::now();
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    let mut one_byte = TcpStream::connect(server.addr()).await.unwrap();
    one_byte.write_all(b"P").await.unwrap();
    for stream in [&mut silent, &mut one_byte] {
        let answer = read_to_close(stream, Duration::from_secs(5)).await;
        assert!(answer.is_some(), "still open after {:?}", start.elapsed());
    }
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

/// With the file limit at 64, 150 silent connections exhaust it; `/health` answers again
/// within the header timeout of the flood starting.
#[tokio::test]
async fn the_server_recovers_from_a_flood_of_silent_connections_past_the_file_limit() {
    let server = Server::builder()
        .env("HEADER_READ_TIMEOUT", "2s")
        .start_with(|cmd| unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 64,
                    rlim_max: 64,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        });
    let start = Instant::now();
    let mut flood = Vec::new();
    for _ in 0..150 {
        if let Ok(s) = TcpStream::connect(server.addr()).await {
            flood.push(s);
        }
    }
    let res = client()
        .get(server.url("/health"))
        .timeout(Duration::from_secs(8))
        .send()
        .await
        .expect("/health answers while the flood is held");
    assert_eq!(res.status(), 200);
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    drop(flood);
}
