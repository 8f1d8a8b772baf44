//! A real browser on the same origin: headless Chromium (driven over WebDriver by chromedriver)
//! logs in through the form, loads `/app/`, and calls the API with `fetch` and the session
//! cookie; after logout the same call is 401. Chromium missing is a failure, not a skip: CI must
//! install Debian's `chromium` and `chromium-driver`.

mod accounts_support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use accounts_support::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

fn path_of(var: &str, default: &str) -> String {
    let path = std::env::var(var).unwrap_or_else(|_| default.into());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: install Debian's chromium and chromium-driver (or set {var})"
    );
    path
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver() -> (Driver, String) {
    let chromedriver = path_of("CHROMEDRIVER", "/usr/bin/chromedriver");
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (driver, url)
}

async fn browser(driver_url: &str, profile: &std::path::Path) -> Client {
    let chromium = path_of("CHROMIUM", "/usr/bin/chromium");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--no-first-run", "--disable-dev-shm-usage",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("chromedriver session")
}

/// `fetch('/api/me')` from the page, with the session cookie, as `{status, body}`.
async fn fetch_me(c: &Client) -> Value {
    let script = r#"
        const done = arguments[arguments.length - 1];
        fetch('/api/me', {credentials: 'same-origin'})
            .then(r => r.json().then(body => done({status: r.status, body})))
            .catch(e => done({status: 0, body: String(e)}));
    "#;
    c.execute_async(script, vec![]).await.unwrap()
}

async fn wait_for_path(c: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let url = c.current_url().await.unwrap();
        if url.path() == path {
            return;
        }
        assert!(Instant::now() < deadline, "still at {url}, expected {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn chromium_logs_in_fetches_the_api_and_logs_out() {
    let server = Server::builder().user("ada", false).start();
    let (_driver, driver_url) = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path()).await;
    let outcome = async {
        c.goto(&server.url("/app/")).await.unwrap();
        // Anonymous: sent to the login form with a way back.
        wait_for_path(&c, "/auth/login").await;
        c.find(Locator::Id("username"))
            .await
            .unwrap()
            .send_keys("ada")
            .await
            .unwrap();
        c.find(Locator::Id("password"))
            .await
            .unwrap()
            .send_keys(PASSWORD)
            .await
            .unwrap();
        c.find(Locator::Id("submit"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&c, "/app/").await;
        let welcome = c
            .find(Locator::Id("welcome"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(welcome.contains("ada"), "{welcome}");
        // The page's own inline style applies under its Content-Security-Policy (by hash).
        let width: Value = c
            .execute("return getComputedStyle(document.body).maxWidth", vec![])
            .await
            .unwrap();
        assert_eq!(width, "768px", "the template's style was blocked");
        let me = fetch_me(&c).await;
        assert_eq!(me["status"], 200, "{me}");
        assert_eq!(me["body"]["username"], "ada");
        assert_eq!(me["body"]["auth"], "cookie");
        // The cookie is HttpOnly: the page cannot read it.
        let cookies: Value = c.execute("return document.cookie", vec![]).await.unwrap();
        assert!(!cookies.as_str().unwrap_or("").contains("platform_token"));
        // Log out through the page's own form (a same-origin POST).
        c.find(Locator::Css("form[action='/auth/logout'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&c, "/auth/login").await;
        let me = fetch_me(&c).await;
        assert_eq!(me["status"], 401, "{me}");
    }
    .await;
    c.close().await.unwrap();
    outcome
}
