//! Account tests' harness: a multi-user server (through `common`) with users created by the
//! `user` CLI first, helpers for the login form and the session cookie, and JSON calls as the
//! server token or a signed-in user (`api`).

#![allow(dead_code)]

mod api;
#[path = "../common/mod.rs"]
pub mod common;
pub mod jwt;

use std::path::PathBuf;
use std::process::Output;
use std::time::Instant;

#[allow(unused_imports)] // each test crate uses a different part
pub use api::{multipart, send, As, Caller};
pub use common::client;

/// The server token every test server is started with (user "1", `auth: static`).
pub const SERVER_TOKEN: &str = "static-test-token-0123456789";
pub const PASSWORD: &str = "correct horse battery";

/// A multi-user server with users created through the `user` CLI before it starts.
pub struct Builder {
    inner: common::Builder,
    users: Vec<(String, bool)>,
}

/// A running server and the settings its `user` CLI runs with.
pub struct Server {
    server: common::Server,
    cli: common::Builder,
}

impl std::ops::Deref for Server {
    type Target = common::Server;
    fn deref(&self) -> &common::Server {
        &self.server
    }
}

impl Builder {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.inner = self.inner.env(k, v);
        self
    }

    /// A user with password [`PASSWORD`].
    pub fn user(mut self, name: &str, admin: bool) -> Self {
        self.users.push((name.into(), admin));
        self
    }

    pub fn start(self) -> Server {
        self.start_with(|_| {})
    }

    /// Starts with `adjust` applied to the server's command (limits, say).
    pub fn start_with(self, adjust: impl FnOnce(&mut std::process::Command)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let cli = self.inner.settings();
        for (name, admin) in &self.users {
            let mut args = vec!["user", "add", name.as_str(), "--password-stdin"];
            if *admin {
                args.push("--admin");
            }
            let out = cli.cli(dir.path(), &args, Some(PASSWORD));
            assert!(out.status.success(), "user add: {out:?}");
        }
        let mut cmd = self.inner.command(dir.path());
        adjust(&mut cmd);
        let server = common::Server::adopt(cmd.spawn().expect("spawn platform-server"), Some(dir));
        Server { server, cli }
    }
}

/// Runs the binary to completion with exactly `env` (plus a clean home) and `args`.
pub fn run_cli(env: &[(String, String)], args: &[&str], stdin: Option<&str>) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = common::command(home.path());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run_with_input(cmd, stdin)
}

impl Server {
    /// Multi-user server with the static token set and rate limits off; tests add to it.
    pub fn builder() -> Builder {
        Builder {
            inner: common::Builder::new()
                .env("AUTH_PROVIDER", "multi_user")
                .env("RATE_LIMITS", "off")
                .env("SERVER_AUTH_TOKEN", SERVER_TOKEN),
            users: Vec::new(),
        }
    }

    /// The server's data directory (`DATA_DIR`).
    pub fn data_dir(&self) -> PathBuf {
        self.home().join("data")
    }

    /// The `user` CLI against this server's database.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.cli.cli(&self.home(), args, stdin)
    }
}

/// POSTs the login form; returns the response.
pub async fn login(
    server: &Server,
    username: &str,
    password: &str,
    return_to: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("username", username), ("password", password)];
    if let Some(r) = return_to {
        form.push(("return_to", r));
    }
    client()
        .post(server.url("/auth/login"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The `platform_token=...` pair of a response's Set-Cookie, for a `Cookie` header.
pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    set_cookie(res).map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// The raw Set-Cookie header for the session cookie.
pub fn set_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("platform_token="))
        .map(str::to_owned)
}

/// Logs in and returns the cookie pair.
pub async fn signed_in(server: &Server, username: &str) -> String {
    let res = login(server, username, PASSWORD, None).await;
    assert_eq!(res.status(), 302);
    session_cookie(&res).expect("a session cookie")
}

pub fn elapsed_ms(start: Instant) -> u128 {
    start.elapsed().as_millis()
}
