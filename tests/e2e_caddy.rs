//! Behind Caddy (Debian's `caddy`): the client's real address and scheme reach the server,
//! spoofed forwarding headers do not, and a cutover from an old instance to a new one under
//! load loses no request. Fails (never skips) when Caddy is not installed.

mod e2e_support;

use std::net::IpAddr;
use std::time::Duration;

use e2e_support::caddy::{Caddy, Site};
use e2e_support::{command, load, repo_root, Server};

/// The client connects from this loopback address so it differs from Caddy's (127.0.0.1).
const CLIENT_IP: &str = "127.0.0.2";

/// The server token of the instances here (`AUTH_PROVIDER=static`, as in production).
const TOKEN: &str = "e2e-caddy-token-0123456789abcdef";

fn server(home: &std::path::Path) -> Server {
    let mut cmd = command(home);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("AUTH_PROVIDER", "static")
        .env("SERVER_AUTH_TOKEN", TOKEN);
    Server::start(cmd)
}

/// A plain-HTTP keep-alive client that sends the server token.
fn token_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {TOKEN}").parse().expect("header value");
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    reqwest::Client::builder()
        .http1_only()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// A client of Caddy's https site: trusts Caddy's internal CA, connects from [`CLIENT_IP`].
fn https_client(caddy: &Caddy) -> reqwest::Client {
    let root = caddy.root_ca();
    let addr = ([127, 0, 0, 1], caddy.port).into();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&root).expect("Caddy root CA"))
        .resolve("localhost", addr)
        .local_address(CLIENT_IP.parse::<IpAddr>().ok())
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {TOKEN}").parse().expect("header value"),
            )]
            .into_iter()
            .collect(),
        )
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn client_info(
    client: &reqwest::Client,
    url: &str,
    spoof: Option<&str>,
) -> serde_json::Value {
    let mut req = client.get(url);
    if let Some(xff) = spoof {
        req = req
            .header("x-forwarded-for", xff)
            .header("x-forwarded-proto", "http");
    }
    let res = req.send().await.expect("request through caddy");
    assert_eq!(res.status(), 200);
    res.json().await.expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_caddy_the_server_sees_the_real_client_and_scheme() {
    let home = tempfile::tempdir().unwrap();
    let server = server(home.path());
    let caddy = Caddy::start(Site::Https, server.addr());
    let client = https_client(&caddy);
    let url = caddy.url("/api/client");

    let seen = client_info(&client, &url, None).await;
    assert_eq!(seen["addr"], CLIENT_IP, "{seen}");
    assert_eq!(seen["scheme"], "https", "{seen}");
    assert_eq!(seen["host"], format!("localhost:{}", caddy.port), "{seen}");
    let peer: std::net::SocketAddr = seen["peer"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        peer.ip().to_string(),
        "127.0.0.1",
        "Caddy is the TCP peer: {seen}"
    );

    // What the client claims about itself changes nothing.
    let spoofed = client_info(&client, &url, Some("6.6.6.6")).await;
    assert_eq!(spoofed["addr"], CLIENT_IP, "{spoofed}");
    assert_eq!(spoofed["scheme"], "https", "{spoofed}");
    // And the access log records the real client too.
    assert!(server.wait_log(&format!("client={CLIENT_IP}"), Duration::from_secs(5)));
    assert!(!server.stderr().contains("6.6.6.6"), "{}", server.stderr());
}

/// A browser session through Caddy's https site: the cookie `/auth/login` sets is `Secure`
/// (the server learns the scheme from Caddy) and comes back on `/api/*` of the same site.
#[tokio::test(flavor = "multi_thread")]
async fn a_cookie_set_by_auth_is_sent_back_on_the_api_through_caddy() {
    let home = tempfile::tempdir().unwrap();
    let mut add = command(home.path());
    add.args(["user", "add", "ada", "--password-stdin"])
        .env("AUTH_PROVIDER", "multi_user")
        .stdin(std::process::Stdio::piped());
    let mut child = add.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"correct horse battery\n").unwrap();
    }
    assert!(child.wait().unwrap().success(), "user add");
    let mut cmd = command(home.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("AUTH_PROVIDER", "multi_user");
    let server = Server::start(cmd);
    let caddy = Caddy::start(Site::Https, server.addr());
    let root = caddy.root_ca();
    let browser = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&root).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], caddy.port).into())
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let anonymous = browser.get(caddy.url("/api/me")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let origin = caddy.url("");
    let login = browser
        .post(caddy.url("/auth/login"))
        .header("origin", origin.trim_end_matches('/'))
        .form(&[
            ("username", "ada"),
            ("password", "correct horse battery"),
            ("return_to", "/app/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 302, "{:?}", login.text().await);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("platform_token="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    let me = browser.get(caddy.url("/api/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(
        (me["username"].as_str(), me["auth"].as_str()),
        (Some("ada"), Some("cookie"))
    );
}

/// Requests the access log of `server` shows for `route`.
fn served(server: &Server, route: &str) -> usize {
    server
        .stderr()
        .matches(&format!("route=\"{route}\""))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn cutover_from_the_old_port_under_load_loses_no_request() {
    let (old_home, new_home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut old = server(old_home.path());
    let caddy = Caddy::start(Site::Http, old.addr());
    let load = load::start_with(
        load::Load {
            url: caddy.url("/api/me"),
            connections: 8,
            per_connection: 2_500,
            cap: Duration::from_secs(60),
            pause: Duration::from_millis(1),
        },
        token_client,
    );
    tokio::time::sleep(Duration::from_millis(700)).await;

    let new = tokio::task::spawn_blocking(move || server(new_home.path()))
        .await
        .unwrap();
    smoke_test(&new);
    caddy.reload(new.addr());
    tokio::time::sleep(Duration::from_millis(300)).await;
    old.signal(libc::SIGTERM);
    let status = tokio::task::spawn_blocking(move || {
        let status = old.wait_exit(Duration::from_secs(30));
        (status, old)
    });
    let (status, old) = status.await.unwrap();
    assert!(status.success(), "old instance: {status}\n{}", old.stderr());
    // Load continues on the new instance until there are thousands of requests in all.
    let after = load.done() + 500;
    load.wait_for(after.max(3_000), Duration::from_secs(30))
        .await;
    let report = load.finish().await;

    println!(
        "cutover: {} requests in {:?}, {} failed, {} retried after Caddy's reload closed a \
         kept-alive connection, p99 {:?}",
        report.total(),
        report.elapsed,
        report.failed,
        report.retried,
        report.p99()
    );
    assert_eq!(report.failed, 0, "failures: {:#?}", report.errors);
    assert!(
        report.total() >= 2_000,
        "too little load: {}",
        report.total()
    );
    // The load really spanned the switch: both instances answered part of it.
    assert!(served(&old, "/api/me") > 0, "old instance served nothing");
    assert!(served(&new, "/api/me") > 0, "new instance served nothing");
}

/// `smoke-test.sh` against the new instance before traffic is switched to it.
fn smoke_test(server: &Server) {
    let script = repo_root().join("smoke-test.sh");
    assert!(script.is_file(), "{} is missing", script.display());
    let out = std::process::Command::new("sh")
        .arg(&script)
        .arg(server.url(""))
        .env("TOKEN", TOKEN)
        .output()
        .expect("run smoke-test.sh");
    assert!(
        out.status.success(),
        "smoke-test.sh failed against the new instance:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
