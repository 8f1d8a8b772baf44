//! Starts the real `platform-server` binary on 127.0.0.1:0 with a clean environment and a
//! temporary home, with the settings a test chooses (rate limits at their defaults unless set).
#![allow(dead_code)] // each test crate uses a different part of this module

#[path = "../support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, ExitStatus, Output};

#[allow(unused_imports)] // each test crate uses a different part
pub use support::{client, command, run_with_input, Server, BIN};

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

    /// The binary with this builder's arguments and environment, rooted at `home`.
    pub fn command(&self, home: &Path) -> Command {
        let mut cmd = command(home);
        // Core tests exercise the default quotas unless they set `RATE_LIMITS` themselves.
        cmd.env_remove("RATE_LIMITS").args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The same arguments and environment without the home, to run the CLI against it.
    pub fn settings(&self) -> Builder {
        Builder {
            env: self.env.clone(),
            args: self.args.clone(),
            dir: None,
        }
    }

    /// Runs `args` (instead of the builder's) to completion with this environment at `home`.
    pub fn cli(&self, home: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let cmd = Builder {
            args: args.iter().map(|a| a.to_string()).collect(),
            ..self.settings()
        }
        .command(home);
        run_with_input(cmd, stdin)
    }

    /// Starts the server and waits until it prints its listening line.
    pub fn spawn(self) -> Server {
        let dir = self
            .dir
            .unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        let child = Builder { dir: None, ..self }
            .command(dir.path())
            .spawn()
            .expect("spawn platform-server");
        Server::adopt(child, Some(dir))
    }

    /// Runs the binary to completion in a fresh home (start-up failures, subcommands).
    pub fn run(self) -> (ExitStatus, String, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        self.run_at(dir.path())
    }

    /// Runs the binary to completion with `home` as its home and data directory parent.
    pub fn run_at(self, home: &Path) -> (ExitStatus, String, String) {
        let out = self.command(home).output().expect("run platform-server");
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
}

/// Status and parsed JSON body.
pub async fn get_json(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}
