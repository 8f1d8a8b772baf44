//! Starts the real server binary on a free loopback port with its own data directory, creates
//! users through the `user` CLI first, and kills the server on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_platform-server");
/// The server token every test server is started with (user "1", `auth: static`).
pub const SERVER_TOKEN: &str = "static-test-token-0123456789";
pub const PASSWORD: &str = "correct horse battery";

pub struct Builder {
    env: Vec<(String, String)>,
    users: Vec<(String, bool)>,
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Builder {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.into(), v.into()));
        self
    }

    /// A user with password [`PASSWORD`].
    pub fn user(mut self, name: &str, admin: bool) -> Self {
        self.users.push((name.into(), admin));
        self
    }

    pub fn start(self) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut env = vec![
            ("DATA_DIR".to_string(), dir.path().display().to_string()),
            (
                "DEPLOYMENT_CONFIG".to_string(),
                dir.path().join("deployment.yaml").display().to_string(),
            ),
        ];
        env.extend(self.env);
        for (name, admin) in &self.users {
            let mut args = vec!["user", "add", name.as_str(), "--password-stdin"];
            if *admin {
                args.push("--admin");
            }
            let out = run_cli(&env, &args, Some(PASSWORD));
            assert!(out.status.success(), "user add: {out:?}");
        }
        let mut child = command(&env)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = listening_addr(&mut child);
        Server {
            child,
            addr,
            dir,
            env,
        }
    }
}

fn command(env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub fn run_cli(
    env: &[(String, String)],
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    let mut child = command(env)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        writeln!(child.stdin.take().unwrap(), "{input}").unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Reads stdout until `platform-server <ver> listening on http://ADDR (name)`.
fn listening_addr(child: &mut Child) -> SocketAddr {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split(" listening on http://").nth(1) {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server did not print its address");
    addr.parse().unwrap()
}

impl Server {
    /// Multi-user server with the static token set and rate limits off; tests add to it.
    pub fn builder() -> Builder {
        Builder {
            env: vec![
                ("AUTH_PROVIDER".into(), "multi_user".into()),
                ("RATE_LIMITS".into(), "off".into()),
                ("SERVER_AUTH_TOKEN".into(), SERVER_TOKEN.into()),
            ],
            users: Vec::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `user` CLI against this server's database.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        run_cli(&self.env, args, stdin)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that does not follow redirects and keeps no cookies: tests pass cookies by hand.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
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
