//! Starts the real `platform-server` binary on 127.0.0.1:0 with a clean environment and a
//! temporary data dir, and finds its address from the line it prints when ready.
#![allow(dead_code)] // each test crate uses a different part of this module

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_platform-server");
pub const TOKEN: &str = "test-server-token-0123456789abcdef";

pub struct Builder {
    env: Vec<(String, String)>,
    args: Vec<String>,
    dir: Option<tempfile::TempDir>,
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            env: Vec::new(),
            args: vec!["serve".into(), "--listen".into(), "127.0.0.1:0".into()],
            dir: None,
        }
    }

    /// `AUTH_PROVIDER=static` with [`TOKEN`].
    pub fn static_token() -> Self {
        Self::new()
            .env("AUTH_PROVIDER", "static")
            .env("SERVER_AUTH_TOKEN", TOKEN)
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Reuse a data/config directory (to restart "the same installation").
    pub fn dir(mut self, dir: tempfile::TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    pub fn command(&self, home: &std::path::Path) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("DATA_DIR", home.join("data"))
            .env("DEPLOYMENT_CONFIG", home.join("config/deployment.yaml"))
            .env("METRICS_LISTEN", "off")
            .env("RUST_LOG", "info")
            .args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the server and waits until it prints its listening line.
    pub fn spawn(self) -> Server {
        let dir = self
            .dir
            .unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        let mut cmd = Builder { dir: None, ..self }.command(dir.path());
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn platform-server");
        Server::adopt(child, dir)
    }

    /// Runs the binary to completion in a fresh home (start-up failures, subcommands).
    pub fn run(self) -> (ExitStatus, String, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        self.run_at(dir.path())
    }

    /// Runs the binary to completion with `home` as its home and data directory parent.
    pub fn run_at(self, home: &std::path::Path) -> (ExitStatus, String, String) {
        let out = self
            .command(home)
            .stdin(Stdio::null())
            .output()
            .expect("run platform-server");
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
}

pub struct Server {
    pub child: Child,
    pub addrs: Vec<SocketAddr>,
    pub dir: Option<tempfile::TempDir>,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Waits for the listening line(s) of an already spawned child with piped output.
    pub fn adopt(mut child: Child, dir: tempfile::TempDir) -> Server {
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        let out_pipe = child.stdout.take().expect("piped stdout");
        let sink = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                if let Some(addr) = listening_addr(&line) {
                    let _ = tx.send(addr);
                }
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut server = Server {
            child,
            addrs: Vec::new(),
            dir: Some(dir),
            stdout,
            stderr,
        };
        let first = rx.recv_timeout(Duration::from_secs(30));
        let Ok(first) = first else {
            let _ = server.child.kill();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "server did not start:\nstdout:\n{}\nstderr:\n{}",
                server.stdout(),
                server.stderr()
            );
        };
        server.addrs.push(first);
        while let Ok(more) = rx.recv_timeout(Duration::from_millis(200)) {
            server.addrs.push(more);
        }
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    pub fn home(&self) -> PathBuf {
        self.dir.as_ref().expect("dir").path().to_owned()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// Waits up to `limit` for the process to exit.
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

    /// Stops the server and hands back its directory, to start it again on the same data.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(10));
        self.dir.take().expect("dir")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `platform-server 0.1.0 listening on http://127.0.0.1:41234 (http)` → the address.
pub fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split(" listening on http://").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Status and parsed JSON body.
pub async fn get_json(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}
