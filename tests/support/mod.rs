//! The one place tests start the real `platform-server` binary: a clean environment rooted at a
//! temporary home, output captured, the ready lines parsed, the process killed on drop. The
//! harness modules (`common`, `e2e_support`, `accounts_support`) build on this.
#![allow(dead_code)] // each test crate uses a different part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
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

/// Runs `cmd` to completion, writing `stdin` (plus a newline) to it first.
pub fn run_with_input(mut cmd: Command, stdin: Option<&str>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn platform-server");
    let mut pipe = child.stdin.take().expect("piped stdin");
    if let Some(input) = stdin {
        writeln!(pipe, "{input}").expect("write stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("wait for platform-server")
}

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addrs: Vec<SocketAddr>,
    pub https: bool,
    pub metrics: Option<SocketAddr>,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
    /// The home the server runs in, when the harness owns it.
    pub dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Spawns `cmd` and waits until it printed its ready lines.
    pub fn start(mut cmd: Command) -> Server {
        let child = cmd.spawn().expect("spawn platform-server");
        Self::adopt(child, None)
    }

    /// Waits for the ready lines of an already spawned child with piped output; `dir` is kept
    /// alive (and removed) with the server.
    pub fn adopt(mut child: Child, dir: Option<tempfile::TempDir>) -> Server {
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
                let mut s = sink.lock().expect("stdout sink");
                s.push_str(&line);
                s.push('\n');
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
            dir,
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

    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// The home the harness created for this server.
    pub fn home(&self) -> PathBuf {
        self.dir
            .as_ref()
            .expect("a harness-owned home")
            .path()
            .to_owned()
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
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
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

    /// Stops the server and hands back its home, to start it again on the same data.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(10));
        self.dir.take().expect("a harness-owned home")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that does not follow redirects and keeps no cookies: tests pass cookies by
/// hand.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}
