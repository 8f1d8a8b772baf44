//! Restart under load with socket activation: the test holds the listening socket as systemd
//! would, and replaces the server process (SIGTERM to the old one, a new one started at once
//! with `LISTEN_FDS`) twice while keep-alive load runs straight at the socket. Zero failed,
//! zero refused, and no request needing a retry.

mod e2e_support;

use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::time::Duration;

use e2e_support::{command, load, pass_socket, Server};

fn start_on(socket: &TcpListener, home: &std::path::Path) -> Server {
    let mut cmd = command(home);
    cmd.arg("serve");
    pass_socket(&mut cmd, socket.as_raw_fd());
    Server::start(cmd)
}

/// SIGTERM to `old`, a new process on the same socket straight away; `old` must drain and
/// exit cleanly.
async fn restart(old: Server, socket: &TcpListener, home: &std::path::Path) -> Server {
    old.signal(libc::SIGTERM);
    let new = start_on(socket, home);
    let mut old = old;
    let status = tokio::task::spawn_blocking(move || {
        let status = old.wait_exit(Duration::from_secs(30));
        (status, old)
    });
    let (status, old) = status.await.expect("wait for the old process");
    assert!(status.success(), "old process: {status}\n{}", old.stderr());
    new
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_under_load_with_socket_activation_loses_nothing() {
    let home = tempfile::tempdir().unwrap();
    // Held by the test for the whole run, like systemd's .socket unit.
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let first = start_on(&socket, home.path());
    assert_eq!(first.addr(), addr, "the server serves the passed socket");

    let load = load::start(load::Load {
        url: format!("http://{addr}/api/me"),
        connections: 8,
        per_connection: 2_500,
        cap: Duration::from_secs(60),
        pause: Duration::from_millis(1),
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = restart(first, &socket, home.path()).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let third = restart(second, &socket, home.path()).await;
    // Load continues on the new instance until there are thousands of requests in all.
    let after = load.done() + 500;
    load.wait_for(after.max(3_000), Duration::from_secs(30))
        .await;
    let report = load.finish().await;

    println!(
        "restart: {} requests in {:?} across 2 restarts, {} failed, {} refused, {} retried, p99 {:?}",
        report.total(),
        report.elapsed,
        report.failed,
        report.refused,
        report.retried,
        report.p99()
    );
    assert_eq!(report.failed, 0, "failures: {:#?}", report.errors);
    assert_eq!(report.refused, 0);
    assert_eq!(
        report.retried, 0,
        "the server closed a connection under a request"
    );
    assert!(
        report.total() >= 2_000,
        "too little load: {}",
        report.total()
    );
    assert!(
        third.stderr().contains("route=\"/api/me\""),
        "the last process served part of the load"
    );
}

/// Sends `GET path` on a keep-alive connection, sends SIGTERM once answered, then sends the
/// same request again on that connection while the server drains. Returns both raw responses
/// after checking the server exited cleanly.
fn across_drain(path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let home = tempfile::tempdir().unwrap();
    let mut cmd = command(home.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    let mut server = Server::start(cmd);
    let mut conn = std::net::TcpStream::connect(server.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    conn.write_all(request.as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf).unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();

    server.signal(libc::SIGTERM);
    assert!(server.wait_log("draining", Duration::from_secs(5)));
    conn.write_all(request.as_bytes()).unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    let second = String::from_utf8_lossy(&rest).into_owned();
    assert!(server.wait_exit(Duration::from_secs(10)).success());
    (first, second)
}

/// The mechanism behind the zero above: while draining, a keep-alive connection still gets
/// its next answer, marked `Connection: close`, and then ends, instead of being cut while
/// the request is on its way.
#[test]
fn draining_answers_the_next_keep_alive_request_with_connection_close() {
    let (first, second) = across_drain("/ping");
    let (first, second) = (first.to_ascii_lowercase(), second.to_ascii_lowercase());
    assert!(!first.contains("connection: close"), "{first}");
    assert!(second.starts_with("http/1.1 200"), "{second}");
    assert!(second.contains("connection: close"), "{second}");
}

/// While draining, `/health` answers 503 so a balancer stops sending new work, even on a
/// connection that is still open.
#[test]
fn health_is_503_while_draining() {
    let (first, second) = across_drain("/health");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(second.starts_with("HTTP/1.1 503"), "{second}");
    assert!(second.contains("Server is shutting down"), "{second}");
}
