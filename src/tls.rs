//! Direct TLS for hosts without a proxy: `TLS_CERT`/`TLS_KEY` (PEM), optional mutual TLS with
//! `TLS_CLIENT_CA`. The acceptor sits behind an `ArcSwap` so SIGHUP can swap in re-read files:
//! open connections keep the config they were accepted with, new ones get the new one. Files
//! that fail to load on reload leave the old config in place.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} from {path}: {source}")]
    Pem {
        what: &'static str,
        path: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("no certificate in {0}")]
    NoCertificate(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("TLS_CLIENT_CA: {0}")]
    ClientCa(#[from] rustls::server::VerifierBuilderError),
}

/// The acceptor in use and the files it is re-read from.
pub struct Tls {
    files: TlsFiles,
    current: ArcSwap<TlsAcceptor>,
}

impl Tls {
    /// Loads the files; an error here stops start-up.
    pub fn load(files: TlsFiles) -> Result<Arc<Tls>, TlsError> {
        let acceptor = acceptor(&files)?;
        Ok(Arc::new(Tls {
            files,
            current: ArcSwap::from_pointee(acceptor),
        }))
    }

    /// The acceptor for the next handshake.
    pub fn acceptor(&self) -> Arc<TlsAcceptor> {
        self.current.load_full()
    }

    /// Re-reads the files; on error the config in use is kept.
    pub fn reload(&self) -> Result<(), TlsError> {
        let acceptor = acceptor(&self.files)?;
        self.current.store(Arc::new(acceptor));
        Ok(())
    }
}

/// Handles SIGHUP for as long as the process runs: reloads `tls` when serving TLS, otherwise
/// logs that there is nothing to reload (rather than dying of the default action, which a
/// `systemctl reload` would otherwise cause).
pub fn reload_on_sighup(tls: Option<Arc<Tls>>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let Some(tls) = &tls else {
                tracing::info!("SIGHUP: no TLS certificate configured; nothing to reload");
                continue;
            };
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                Err(e) => tracing::error!(
                    error = %e,
                    "SIGHUP: TLS reload failed; keeping the certificate in use"
                ),
            }
        }
    });
    Ok(())
}

fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certs(ca)? {
                roots.add(cert)?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|source| TlsError::Pem {
        what: "a private key",
        path: files.key.display().to_string(),
        source,
    })?;
    let mut config = builder.with_single_cert(certs(&files.cert)?, key)?;
    // The connection builder speaks both; ALPN lets clients pick h2 without guessing.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |source| TlsError::Pem {
        what: "certificates",
        path: path.display().to_string(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.display().to_string()));
    }
    Ok(certs)
}
