//! Certificates with rcgen: a CA and a serving certificate signed by it, as PEM.
//!
//! Used by `serve` for its development certificate and by `bulwark certs`. Writing files is
//! the caller's business; this module only makes the PEM text.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

/// A CA and a serving certificate it signed, all PEM.
pub struct IssuedCertificates {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("`{0}` is neither a DNS name nor an IP address")]
    BadName(String),
}

/// What a certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// A TLS server (the webhook).
    Server,
    /// A TLS client (an API server authenticating to the webhook with `--client-ca`).
    Client,
}

/// Issues a CA named `bulwark CA` and a serving certificate for `names` (DNS names or IP
/// addresses), valid from now for `valid_days`.
pub fn issue(names: &[String], valid_days: i64) -> Result<IssuedCertificates, CertError> {
    issue_for(names, valid_days, Usage::Server, KeyType::EcdsaP256)
}

/// The key algorithm of a generated certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KeyType {
    #[default]
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

impl KeyType {
    fn generate(self) -> Result<KeyPair, rcgen::Error> {
        let algorithm = match self {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
        };
        KeyPair::generate_for(algorithm)
    }
}

/// Issues a CA and a certificate for `usage`, both with keys of `key_type`.
pub fn issue_for(
    names: &[String],
    valid_days: i64,
    usage: Usage,
    key_type: KeyType,
) -> Result<IssuedCertificates, CertError> {
    let now = OffsetDateTime::now_utc();
    let not_before = now - Duration::minutes(5);
    let not_after = now + Duration::days(valid_days);

    let ca_key = key_type.generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(DnType::CommonName, "bulwark CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, &ca_key);

    let key = key_type.generate()?;
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name.push(
        DnType::CommonName,
        names.first().map(String::as_str).unwrap_or("bulwark"),
    );
    leaf.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![match usage {
        Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
        Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let cert = leaf.signed_by(&key, &issuer)?;

    Ok(IssuedCertificates {
        ca_cert_pem: ca_cert.pem(),
        ca_key_pem: ca_key.serialize_pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn san(name: &str) -> Result<SanType, CertError> {
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    name.to_string()
        .try_into()
        .map(SanType::DnsName)
        .map_err(|_| CertError::BadName(name.to_string()))
}
