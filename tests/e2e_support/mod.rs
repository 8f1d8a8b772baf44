//! Helpers for the end-to-end tests: the release-shaped binary as a child process, a bounded
//! load generator, Caddy as a child process. Everything listens on 127.0.0.1 only.
#![allow(dead_code)] // each test crate uses a different part of this module

pub mod caddy;
pub mod load;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_platform-server");

/// What the server printed when ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ready {
    /// `platform-server <ver> listening on http(s)://ADDR (name)`
    Listener { addr: SocketAddr, https: bool },
    /// `metrics listening on http://ADDR`
    Metrics(SocketAddr),
}

/// Parses one stdout line.
pub fn parse_ready(line: &str) -> Option<Ready> {
    if let Some(rest) = line.strip_prefix("metrics listening on http://") {
        return rest.trim().parse().ok().map(Ready::Metrics);
    }
    let rest = line.split(" listening on ").nth(1)?;
    let (https, rest) = match rest.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (false, rest.strip_prefix("http://")?),
    };
    let addr = rest.split_whitespace().next()?.parse().ok()?;
    Some(Ready::Listener { addr, https })
}

/// A command for the binary with a clean environment rooted at `home`: its own data dir and
/// deployment config, rate limits and the metrics listener off unless the test says otherwise.
pub fn command(home: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("DATA_DIR", home.join("data"))
        .env("DEPLOYMENT_CONFIG", home.join("config/deployment.yaml"))
        .env("RATE_LIMITS", "off")
        .env("METRICS_LISTEN", "off")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Makes `fd` the child's descriptor 3 and sets `LISTEN_FDS=1`, as systemd would. `LISTEN_PID`
/// is left unset: the pid is unknown before exec, and the server accepts that.
pub fn pass_socket(cmd: &mut Command, fd: RawFd) {
    cmd.env("LISTEN_FDS", "1").env("LISTEN_FDNAMES", "http");
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if fd != 3 && libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // dup2 clears FD_CLOEXEC on the copy; when fd already is 3, clear it by hand.
            let flags = libc::fcntl(3, libc::F_GETFD);
            if flags < 0 || libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addrs: Vec<SocketAddr>,
    pub https: bool,
    pub metrics: Option<SocketAddr>,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Spawns `cmd` and waits until it printed its ready lines.
    pub fn start(mut cmd: Command) -> Server {
        let child = cmd.spawn().expect("spawn platform-server");
        Self::adopt(child)
    }

    fn adopt(mut child: Child) -> Server {
        let (tx, rx) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("piped stdout");
        let sink = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(ready) = parse_ready(&line) {
                    let _ = tx.send(ready);
                }
                push_line(&sink, &line);
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                sink.lock().expect("stderr sink").push_str(&text);
            }
        });
        let mut server = Server {
            child,
            addrs: Vec::new(),
            https: false,
            metrics: None,
            stdout,
            stderr,
        };
        server.collect_ready(&rx);
        server
    }

    /// The ready lines arrive together; after the first, a short quiet period ends the list.
    fn collect_ready(&mut self, rx: &mpsc::Receiver<Ready>) {
        let mut wait = Duration::from_secs(30);
        while let Ok(ready) = rx.recv_timeout(wait) {
            match ready {
                Ready::Listener { addr, https } => {
                    self.addrs.push(addr);
                    self.https = https;
                }
                Ready::Metrics(addr) => self.metrics = Some(addr),
            }
            wait = Duration::from_millis(200);
        }
        if self.addrs.is_empty() {
            let _ = self.child.kill();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "server did not start:\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr())
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout sink").clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr sink").clone()
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// Waits up to `limit` for the process to exit; panics with its log otherwise.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "server still running after {limit:?}\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until stderr contains `needle`, up to `limit`.
    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.stderr().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn push_line(sink: &Mutex<String>, line: &str) {
    let mut s = sink.lock().expect("sink");
    s.push_str(line);
    s.push('\n');
}

/// A free loopback port (bound and released; good enough for a child to bind right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The repository root (for `smoke-test.sh`, `systemd/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The path of `tool` on PATH; panics (the test fails, never skips) when it is missing, naming
/// the Debian package to install.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{tool}` is not installed: this end-to-end test needs it (apt-get install -y {package})")
        })
}
