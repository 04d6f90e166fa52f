//! The rustls server configuration: TLS 1.2 and 1.3 with the ring provider, ALPN h2 and
//! http/1.1, the certificate and key from PEM, and optional client-certificate verification.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{what} holds no PEM certificate")]
    NoCertificate { what: String },
    #[error("{what} holds no PEM private key: {detail}")]
    NoKey { what: String, detail: String },
    #[error("the certificate and key do not form a usable pair: {0}")]
    Config(#[from] rustls::Error),
    #[error("cannot use the client CA: {0}")]
    ClientCa(String),
}

/// The server configuration in force. A reload swaps it whole; each handshake uses the one
/// current when it starts, so open connections keep theirs.
#[derive(Clone, Debug)]
pub struct Reloadable(Arc<ArcSwap<rustls::ServerConfig>>);

impl Reloadable {
    pub fn new(config: Arc<rustls::ServerConfig>) -> Reloadable {
        Reloadable(Arc::new(ArcSwap::new(config)))
    }

    /// The configuration for the next handshake.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        self.0.load_full()
    }

    pub fn replace(&self, config: Arc<rustls::ServerConfig>) {
        self.0.store(config);
    }
}

/// PEM text of a serving certificate chain and its key, plus an optional client CA bundle.
pub struct TlsMaterial {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub client_ca_pem: Option<Vec<u8>>,
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses a PEM certificate chain.
pub fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what: what.to_string(),
        });
    }
    Ok(certs)
}

/// Builds the server configuration; fails if the pair does not load or match.
pub fn server_config(material: &TlsMaterial) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = parse_certs(&material.cert_pem, "the certificate file")?;
    let key = PrivateKeyDer::from_pem_slice(&material.key_pem).map_err(|e| TlsError::NoKey {
        what: "the key file".into(),
        detail: e.to_string(),
    })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    let builder = match &material.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in parse_certs(pem, "the client CA file")? {
                roots
                    .add(cert)
                    .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// When the first certificate of a PEM chain expires, in Unix seconds.
pub fn leaf_not_after(cert_pem: &[u8]) -> Option<i64> {
    let der = CertificateDer::pem_slice_iter(cert_pem).next()?.ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}
