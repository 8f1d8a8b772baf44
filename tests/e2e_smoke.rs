//! `smoke-test.sh` passes against a good instance and exits non-zero, naming the failing
//! check, against misconfigured ones.

mod e2e_support;

use std::process::Output;

use e2e_support::{command, repo_root, require_tool, Server};

const TOKEN: &str = "smoke-test-token-0123456789abcdef";
const ADMIN_TOKEN: &str = "smoke-test-admin-token-0123456789";

/// Runs the script against `base_url` with the tokens, waiting at most 2 s for /health.
fn smoke(base_url: &str) -> Output {
    require_tool("curl", "curl");
    let script = repo_root().join("smoke-test.sh");
    assert!(script.is_file(), "{} is missing", script.display());
    std::process::Command::new("sh")
        .arg(&script)
        .arg(base_url)
        .env("TOKEN", TOKEN)
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SMOKE_WAIT", "2")
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
        .env("SERVER_AUTH_TOKEN", TOKEN)
        .env("ADMIN_TOKEN", ADMIN_TOKEN);
    Server::start(cmd)
}

/// Asserts the script failed and printed `FAIL <check>:`.
fn assert_fails(out: &Output, check: &str) {
    assert!(!out.status.success(), "passed:\n{}", text(out));
    assert!(
        text(out).contains(&format!("FAIL {check}:")),
        "no 'FAIL {check}:' line:\n{}",
        text(out)
    );
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
    let report = text(&out);
    for check in [
        "health",
        "ping",
        "api-me-without-token",
        "api-me-with-token",
    ] {
        assert!(report.contains(&format!("PASS {check}")), "{report}");
    }
    assert!(report.contains("PASS admin-with-admin-token"), "{report}");
}

#[test]
fn smoke_test_names_the_auth_check_when_auth_is_not_enforced() {
    // AUTH_PROVIDER=local lets anyone in: the classic misconfiguration of a public host.
    let home = tempfile::tempdir().unwrap();
    let open = server(home.path(), "local");
    assert_fails(&smoke(&open.url("")), "api-me-without-token");
}

#[test]
fn smoke_test_names_the_health_check_behind_a_proxy_pointed_at_the_wrong_port() {
    // Caddy answers, but with 502: its upstream address names no running server.
    let dead = std::net::SocketAddr::from(([127, 0, 0, 1], e2e_support::free_port()));
    let caddy = e2e_support::caddy::Caddy::start(e2e_support::caddy::Site::Http, dead);
    assert_fails(&smoke(&caddy.url("")), "health");
}
