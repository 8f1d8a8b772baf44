//! Start-up validation and the server token, against the real binary.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{client, Builder};

fn refused(builder: Builder) -> String {
    let (status, stdout, stderr) = builder.run();
    assert_eq!(status.code(), Some(2), "stdout: {stdout}\nstderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one clear line: {stderr}");
    lines[0].to_owned()
}

#[test]
fn production_needs_a_secrets_master_key() {
    let line = refused(
        Builder::new()
            .env("ENV", "production")
            .env("AUTH_PROVIDER", "static"),
    );
    assert!(line.contains("SECRETS_MASTER_KEY"), "{line}");
    assert!(line.contains("openssl rand -base64 32"), "{line}");
}

#[test]
fn production_refuses_unauthenticated_providers() {
    for provider in ["none", "local"] {
        let line = refused(
            Builder::new()
                .env("ENV", "production")
                .env("SECRETS_MASTER_KEY", "k")
                .env("AUTH_PROVIDER", provider),
        );
        assert!(
            line.contains(&format!("AUTH_PROVIDER={provider}")),
            "{line}"
        );
    }
}

#[test]
fn server_modes() {
    let line = refused(Builder::new().env("SERVER_MODE", "cloud"));
    assert!(
        line.ends_with("Invalid server mode 'cloud'. Expected one of: desktop, public, private."),
        "{line}"
    );
    let line = refused(
        Builder::new()
            .env("NODETOOL_SERVER_MODE", "public")
            .env("AUTH_PROVIDER", "static"),
    );
    assert!(line.contains("AUTH_PROVIDER=jwt"), "{line}");
    let line = refused(
        Builder::new()
            .env("SERVER_MODE", "private")
            .env("AUTH_PROVIDER", "local"),
    );
    assert!(line.contains("static, multi_user or jwt"), "{line}");
}

#[test]
fn invalid_values_name_the_variable() {
    for (var, value) in [
        ("PORT", "seventy"),
        ("RATE_LIMITS", "read=many"),
        ("TRUSTED_PROXIES", "everyone"),
    ] {
        let line = refused(Builder::new().args(&["serve"]).env(var, value));
        assert!(line.contains(var), "{var}: {line}");
    }
}

#[tokio::test]
async fn production_without_admin_token_starts_with_a_warning() {
    let server = Builder::static_token()
        .env("ENV", "production")
        .env("SECRETS_MASTER_KEY", "k")
        .spawn();
    assert_eq!(
        client()
            .get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(
        server
            .stderr()
            .contains("/admin/* is protected by bearer auth only"),
        "{}",
        server.stderr()
    );
}

#[test]
fn the_token_is_generated_once_with_mode_0600_and_reused() {
    let server = Builder::new().env("AUTH_PROVIDER", "static").spawn();
    let file = server.home().join("config/deployment.yaml");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(file.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let saved = std::fs::read_to_string(&file).unwrap();
    let token = saved
        .trim()
        .strip_prefix("server_auth_token: ")
        .unwrap()
        .to_owned();
    assert_eq!(token.len(), 43);
    let first = server.stdout();
    assert!(
        first.contains(&token),
        "first start prints the full token once"
    );

    let again = Builder::new()
        .env("AUTH_PROVIDER", "static")
        .dir(server.stop())
        .spawn();
    let second = again.stdout();
    assert!(
        !second.contains(&token),
        "later starts print it masked: {second}"
    );
    assert!(
        second.contains(&format!("{}…{}", &token[..4], &token[39..])),
        "{second}"
    );
    assert!(
        second.contains("deployment.yaml"),
        "names the source: {second}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        saved,
        "reused, not rewritten"
    );
}

#[test]
fn token_show_and_rotate() {
    let home = tempfile::tempdir().unwrap();
    let (status, _, stderr) = Builder::new().args(&["token", "show"]).run_at(home.path());
    assert_eq!(status.code(), Some(2), "nothing to show yet: {stderr}");

    let (status, stdout, _) = Builder::new()
        .args(&["token", "rotate"])
        .run_at(home.path());
    assert!(status.success());
    let rotated = stdout.lines().next().unwrap().to_owned();
    assert_eq!(rotated.len(), 43);

    let (status, stdout, _) = Builder::new().args(&["token", "show"]).run_at(home.path());
    assert!(status.success());
    assert_eq!(stdout.lines().next(), Some(rotated.as_str()));
    let file = home.path().join("config/deployment.yaml");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A rotated token is the one the server uses on its next start.
    let (status, stdout2, _) = Builder::new()
        .args(&["token", "rotate"])
        .run_at(home.path());
    assert!(status.success());
    assert_ne!(stdout2.lines().next(), Some(rotated.as_str()));
}

#[test]
fn the_old_worker_token_variable_still_works() {
    let (status, stdout, _) = Builder::new()
        .args(&["token", "show"])
        .env("WORKER_AUTH_TOKEN", "legacy-token")
        .run();
    assert!(status.success());
    assert!(
        stdout.starts_with("legacy-token\n") && stdout.contains("WORKER_AUTH_TOKEN"),
        "{stdout}"
    );
}
