//! Drain on SIGTERM and socket activation, against the real binary.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Builder, Server};

/// A client that has sent only part of its request head: in flight from the server's view.
fn start_slow_request(server: &Server) -> TcpStream {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(b"GET /api/me HTTP/1.1\r\nHost: test\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn finish_and_read(mut s: TcpStream) -> String {
    s.write_all(b"\r\n").unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A keep-alive connection that finished one request and now sits idle.
fn idle_keep_alive(server: &Server) -> TcpStream {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    s
}

#[test]
fn sigterm_finishes_in_flight_requests_and_refuses_new_ones() {
    let mut server = Builder::new().spawn();
    let idle = idle_keep_alive(&server);
    let slow = start_slow_request(&server);
    std::thread::sleep(Duration::from_millis(200));
    server.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));

    // New connections are refused once accepting stopped.
    let refused = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(2));
    assert!(
        refused.is_err(),
        "a new connection was accepted while draining"
    );
    // The idle keep-alive connection was closed: EOF, no response.
    let mut buf = [0u8; 16];
    let mut idle = idle;
    assert_eq!(idle.read(&mut buf).unwrap_or(0), 0);
    // The slow request still completes.
    let response = finish_and_read(slow);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(server.wait_exit(Duration::from_secs(10)).success());
    assert!(server.stderr().contains("draining"));
}

#[test]
fn drain_timeout_bounds_the_wait() {
    let mut server = Builder::new().env("DRAIN_TIMEOUT", "1s").spawn();
    let _stuck = start_slow_request(&server);
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(
        server.stderr().contains("DRAIN_TIMEOUT"),
        "{}",
        server.stderr()
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut server = Builder::new().env("DRAIN_TIMEOUT", "60s").spawn();
    let _stuck = start_slow_request(&server);
    std::thread::sleep(Duration::from_millis(200));
    server.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.signal(libc::SIGINT);
    let status = server.wait_exit(Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(status.code(), Some(130));
}

/// What systemd does before exec: the socket at fd 3, inheritable.
fn pass_as_fd3(fd: i32) -> std::io::Result<()> {
    // SAFETY: async-signal-safe calls on descriptors of this (forked) process.
    let ok = unsafe {
        if fd == 3 {
            libc::fcntl(3, libc::F_SETFD, 0) >= 0 // dup2(3, 3) would keep FD_CLOEXEC
        } else {
            libc::dup2(fd, 3) >= 0
        }
    };
    if ok {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[test]
fn serves_a_socket_passed_as_fd_3() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = listener.as_raw_fd();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Builder::new().args(&["serve"]).command(dir.path());
    cmd.env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "worker")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || pass_as_fd3(fd));
    }
    let server = Server::adopt(cmd.spawn().unwrap(), Some(dir));
    // Only the passed socket is served: the default 127.0.0.1:7777 was not bound.
    assert_eq!(server.addrs, vec![addr]);
    assert!(server.stdout().contains("(worker)"), "{}", server.stdout());
    drop(listener);
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200 OK") && out.ends_with("\"OK\""),
        "{out}"
    );
}

#[test]
fn a_listen_pid_of_another_process_is_ignored() {
    let (status, _, stderr) = Builder::new()
        .args(&["serve", "--port", "0", "--host", "256.0.0.1"])
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1")
        .run();
    // The fd is not adopted (LISTEN_PID is not ours), so start-up fails on the bad host instead.
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("HOST"), "{stderr}");
}

#[test]
fn a_closed_fd_3_is_a_clear_error_not_an_abort() {
    let (status, _, stderr) = Builder::new().args(&["serve"]).env("LISTEN_FDS", "1").run();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("inherited file descriptor 3"), "{stderr}");
}

#[test]
fn notifies_systemd_ready_after_binding_and_stopping_on_drain() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Builder::new().command(home.path());
    cmd.env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut server = Server::adopt(cmd.spawn().unwrap(), Some(home));

    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).unwrap();
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    // By the time READY=1 was sent the socket was already accepting.
    TcpStream::connect(server.addr()).unwrap();

    server.signal(libc::SIGTERM);
    let n = notify.recv(&mut buf).unwrap();
    let stopping = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping}");
    assert!(server.wait_exit(Duration::from_secs(10)).success());
}

/// User + system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `fields` starts at field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn running_out_of_file_descriptors_backs_off_instead_of_spinning() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Builder::new().command(home.path());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
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
    }
    let server = Server::adopt(cmd.spawn().unwrap(), Some(home));
    // More connections than the server has descriptors: the kernel queues them, accept() fails.
    let hogs: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(server.addr()).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(server.child.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(server.child.id()) - before;
    // A spinning loop would burn ~200 ticks (2 s of a core at 100 Hz).
    assert!(used < 40, "accept loop used {used} ticks in 2 s");
    assert!(
        server.stderr().contains("accept failed"),
        "{}",
        server.stderr()
    );

    drop(hogs);
    std::thread::sleep(Duration::from_millis(1500));
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "recovered: {out}");
}
