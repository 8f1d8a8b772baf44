//! `smoke-test.sh` passes against a good instance and fails, naming the failing check, against
//! misconfigured ones.

mod e2e_support;

use std::process::Output;

use e2e_support::{command, repo_root, require_tool, Server};

const TOKEN: &str = "smoke-test-token-0123456789abcdef";

fn smoke(base_url: &str) -> Output {
    require_tool("curl", "curl");
    let script = repo_root().join("smoke-test.sh");
    assert!(script.is_file(), "{} is missing", script.display());
    std::process::Command::new("bash")
        .arg(&script)
        .arg(base_url)
        .env("SERVER_AUTH_TOKEN", TOKEN)
        .output()
        .expect("run smoke-test.sh")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn server(home: &std::path::Path, auth: &str) -> Server {
    let mut cmd = command(home);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("AUTH_PROVIDER", auth)
        .env("SERVER_AUTH_TOKEN", TOKEN);
    Server::start(cmd)
}

#[test]
fn smoke_test_passes_against_a_good_instance() {
    let home = tempfile::tempdir().unwrap();
    let good = server(home.path(), "static");
    let out = smoke(&good.url(""));
    assert!(
        out.status.success(),
        "smoke-test.sh failed:\n{}",
        text(&out)
    );
}

#[test]
fn smoke_test_fails_naming_the_check_behind_a_proxy_pointed_at_the_wrong_port() {
    // Caddy answers, but with 502: its upstream address names no running server.
    let dead = std::net::SocketAddr::from(([127, 0, 0, 1], e2e_support::free_port()));
    let caddy = e2e_support::caddy::Caddy::start(e2e_support::caddy::Site::Http, dead);
    let out = smoke(&caddy.url(""));
    assert!(
        !out.status.success(),
        "passed against a 502:\n{}",
        text(&out)
    );
    assert!(
        text(&out).to_lowercase().contains("health"),
        "{}",
        text(&out)
    );
}

#[test]
fn smoke_test_fails_naming_the_check_when_nothing_healthy_answers() {
    // A port where no server listens: what a wrong upstream address in the proxy looks like.
    let port = e2e_support::free_port();
    let out = smoke(&format!("http://127.0.0.1:{port}"));
    assert!(
        !out.status.success(),
        "passed with no server:\n{}",
        text(&out)
    );
    assert!(
        text(&out).to_lowercase().contains("health"),
        "{}",
        text(&out)
    );
}
