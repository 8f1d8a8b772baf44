//! Direct TLS (`TLS_CERT`/`TLS_KEY`), mutual TLS (`TLS_CLIENT_CA`) and certificate reload on
//! SIGHUP, with certificates generated here by rcgen.

mod e2e_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e_support::{command, Server};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

/// A CA that signs server and client certificates.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Ca {
            cert: params.self_signed(&key).unwrap(),
            key,
        }
    }

    /// `(certificate PEM, key PEM, certificate DER)` for `purpose`.
    fn issue(&self, name: &str, purpose: ExtendedKeyUsagePurpose) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }
}

struct Files {
    cert: PathBuf,
    key: PathBuf,
}

fn write_server_files(dir: &Path, ca: &Ca, name: &str) -> (Files, Vec<u8>) {
    let (cert, key, der) = ca.issue(name, ExtendedKeyUsagePurpose::ServerAuth);
    let files = Files {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    };
    std::fs::write(&files.cert, cert).unwrap();
    std::fs::write(&files.key, key).unwrap();
    (files, der)
}

fn start(home: &Path, files: &Files, client_ca: Option<&Path>) -> Server {
    let mut cmd = command(home);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("TLS_CERT", &files.cert)
        .env("TLS_KEY", &files.key);
    if let Some(ca) = client_ca {
        cmd.env("TLS_CLIENT_CA", ca);
    }
    Server::start(cmd)
}

fn client(server: &Server, ca: &Ca, identity: Option<reqwest::Identity>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .resolve("localhost", server.addr())
        .tls_info(true)
        .timeout(Duration::from_secs(10));
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    builder.build().unwrap()
}

fn url(server: &Server, path: &str) -> String {
    format!("https://localhost:{}{path}", server.addr().port())
}

/// The DER of the certificate the server presented on the connection that answered.
fn presented(res: &reqwest::Response) -> Vec<u8> {
    res.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

#[tokio::test]
async fn serves_https_and_the_server_sees_scheme_https() {
    let (home, ca) = (tempfile::tempdir().unwrap(), Ca::new("test CA"));
    let (files, der) = write_server_files(home.path(), &ca, "server one");
    let server = start(home.path(), &files, None);
    assert!(server.https, "{}", server.stdout());
    assert!(server.stdout().contains("listening on https://"));

    let res = client(&server, &ca, None)
        .get(url(&server, "/api/client"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(presented(&res), der);
    let seen: serde_json::Value = res.json().await.unwrap();
    assert_eq!(seen["scheme"], "https", "{seen}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/health", server.addr()))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_from_the_ca() {
    let (home, server_ca, client_ca) = (
        tempfile::tempdir().unwrap(),
        Ca::new("server CA"),
        Ca::new("client CA"),
    );
    let (files, _) = write_server_files(home.path(), &server_ca, "server");
    let ca_file = home.path().join("clients.crt");
    std::fs::write(&ca_file, client_ca.pem()).unwrap();
    let server = start(home.path(), &files, Some(&ca_file));

    let anonymous = client(&server, &server_ca, None)
        .get(url(&server, "/health"))
        .send()
        .await;
    assert!(anonymous.is_err(), "served without a client certificate");

    let stranger = Ca::new("other CA");
    let (cert, key, _) = stranger.issue("intruder", ExtendedKeyUsagePurpose::ClientAuth);
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    let foreign = client(&server, &server_ca, Some(identity))
        .get(url(&server, "/health"))
        .send()
        .await;
    assert!(foreign.is_err(), "served a certificate from another CA");

    let (cert, key, _) = client_ca.issue("internal caller", ExtendedKeyUsagePurpose::ClientAuth);
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    let res = client(&server, &server_ca, Some(identity))
        .get(url(&server, "/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_keeps_open_connections() {
    let (home, ca) = (tempfile::tempdir().unwrap(), Ca::new("test CA"));
    let (files, first) = write_server_files(home.path(), &ca, "first");
    let server = start(home.path(), &files, None);
    let kept = client(&server, &ca, None);
    let res = kept.get(url(&server, "/health")).send().await.unwrap();
    assert_eq!(presented(&res), first);
    res.bytes().await.unwrap();

    let (_, second) = write_server_files(home.path(), &ca, "second");
    server.signal(libc::SIGHUP);
    assert!(
        server.wait_log("TLS certificate reloaded", Duration::from_secs(5)),
        "{}",
        server.stderr()
    );
    // The open keep-alive connection still works, with the certificate it was made with.
    let res = kept.get(url(&server, "/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(presented(&res), first, "the kept connection was replaced");
    // New connections get the new certificate.
    let res = client(&server, &ca, None)
        .get(url(&server, "/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(presented(&res), second);

    // Broken files on the next SIGHUP: logged, and the certificate in use stays.
    std::fs::write(&files.cert, "not a certificate").unwrap();
    server.signal(libc::SIGHUP);
    assert!(server.wait_log("TLS reload failed", Duration::from_secs(5)));
    let res = client(&server, &ca, None)
        .get(url(&server, "/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(presented(&res), second);
}

#[test]
fn unreadable_certificate_files_stop_start_up_with_the_variable_named() {
    let home = tempfile::tempdir().unwrap();
    let out = command(home.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TLS_CERT", home.path().join("missing.crt"))
        .env("TLS_KEY", home.path().join("missing.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TLS_CERT") && stderr.contains("missing"),
        "{stderr}"
    );
}

#[test]
fn sighup_without_tls_is_logged_not_fatal() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = command(home.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    let mut server = Server::start(cmd);
    server.signal(libc::SIGHUP);
    assert!(server.wait_log("nothing to reload", Duration::from_secs(5)));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "SIGHUP stopped the server"
    );
    let res = std::net::TcpStream::connect(server.addr());
    assert!(res.is_ok());
}

#[tokio::test]
async fn a_client_stuck_in_the_handshake_does_not_hold_up_others() {
    let (home, ca) = (tempfile::tempdir().unwrap(), Ca::new("test CA"));
    let (files, _) = write_server_files(home.path(), &ca, "server");
    let server = start(home.path(), &files, None);
    // Connected, but never sends a ClientHello.
    let _stuck: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(server.addr()).unwrap())
        .collect();
    let res = client(&server, &ca, None)
        .get(url(&server, "/health"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// A connection that sends nothing is closed after `HEADER_READ_TIMEOUT`, before the handshake
/// and after it.
#[tokio::test]
async fn silent_tls_connections_are_closed_before_and_after_the_handshake() {
    use rustls_pki_types::pem::PemObject;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    let (home, ca) = (tempfile::tempdir().unwrap(), Ca::new("test CA"));
    let (files, _) = write_server_files(home.path(), &ca, "server");
    let mut cmd = command(home.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("TLS_CERT", &files.cert)
        .env("TLS_KEY", &files.key)
        .env("HEADER_READ_TIMEOUT", "1s");
    let server = Server::start(cmd);
    // Before: no ClientHello at all.
    let start = std::time::Instant::now();
    let mut raw = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut [0u8; 16]))
        .await
        .expect("closed before the timeout of the test");
    assert!(matches!(n, Ok(0) | Err(_)));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );

    // After: a complete handshake, then silence.
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls_pki_types::CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap();
    roots.add(der).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    let start = std::time::Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut [0u8; 16]))
        .await
        .expect("closed before the timeout of the test");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}
