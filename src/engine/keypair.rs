//! What a `kubernetes.io/tls` Secret holds: a PEM certificate chain and a PEM private key,
//! parsed, and whether the key belongs to a certificate.
//!
//! Pure parsing and arithmetic: no I/O, no clock, no randomness. The public key of a private
//! key is derived from its private part (the part that signs in a TLS handshake), never taken
//! from a copy stored beside it, the way Go's `tls.X509KeyPair` and OpenSSL's
//! `-modulus` comparison judge a pair. Errors say what is wrong in words and never carry key
//! material or a parser's message (those may quote input bytes).
//!
//! Supported: RSA (PKCS#1 and PKCS#8), ECDSA P-256 and P-384 (SEC1 and PKCS#8) and Ed25519
//! (PKCS#8). Other algorithms parse as [`PublicKey::Unsupported`]: bulwark cannot tell whether
//! such a key matches, so it does not judge it.

use pkcs8::der::Decode;
use pkcs8::der::asn1::OctetStringRef;
use pkcs8::spki::SubjectPublicKeyInfoRef;
use pkcs8::{ObjectIdentifier, PrivateKeyInfoRef};
use rustls::pki_types::pem::{PemObject, SectionKind};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A public key in a form that compares equal exactly when the keys are the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa {
        modulus: Vec<u8>,
        exponent: Vec<u8>,
    },
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    Ed25519([u8; 32]),
    /// An algorithm or curve bulwark does not compare (P-521, DSA, Ed448, ...).
    Unsupported,
}

impl PublicKey {
    /// The algorithm, for messages.
    pub fn algorithm(&self) -> &'static str {
        match self {
            PublicKey::Rsa { .. } => "RSA",
            PublicKey::P256(_) => "ECDSA P-256",
            PublicKey::P384(_) => "ECDSA P-384",
            PublicKey::Ed25519(_) => "Ed25519",
            PublicKey::Unsupported => "another algorithm",
        }
    }

    /// Whether two keys are the same; `None` when either is of an algorithm bulwark does not
    /// compare.
    pub fn same_as(&self, other: &PublicKey) -> Option<bool> {
        match (self, other) {
            (PublicKey::Unsupported, _) | (_, PublicKey::Unsupported) => None,
            (a, b) => Some(a == b),
        }
    }
}

/// One certificate of a chain: what the TLS rules look at.
#[derive(Clone, Debug)]
pub struct Certificate {
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    pub public_key: PublicKey,
}

/// Why a certificate chain cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainError {
    /// No `CERTIFICATE` block: empty, DER instead of PEM, or only other PEM blocks.
    NoCertificate,
    /// A PEM block is malformed (bad base64, no END line).
    BadPem,
    /// Certificate `index` (0 is the first, the leaf) is not X.509.
    Unparsable { index: usize },
}

/// Why a private key cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// No private key block: empty, DER instead of PEM, or only other PEM blocks.
    NoKey,
    /// A password-protected key, which servers reading a Secret cannot open.
    Encrypted,
    /// A PEM block is malformed (bad base64, no END line).
    BadPem,
    /// The block's DER does not parse as the format its label names.
    Unparsable { format: KeyFormat },
}

/// The encodings a PEM private key comes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFormat {
    /// `RSA PRIVATE KEY`
    Pkcs1,
    /// `EC PRIVATE KEY`
    Sec1,
    /// `PRIVATE KEY`
    Pkcs8,
}

impl KeyFormat {
    pub fn label(self) -> &'static str {
        match self {
            KeyFormat::Pkcs1 => "PKCS#1 (RSA PRIVATE KEY)",
            KeyFormat::Sec1 => "SEC1 (EC PRIVATE KEY)",
            KeyFormat::Pkcs8 => "PKCS#8 (PRIVATE KEY)",
        }
    }
}

/// Parses every `CERTIFICATE` block of `pem`, in order (the leaf first, then intermediates).
pub fn parse_chain(pem: &[u8]) -> Result<Vec<Certificate>, ChainError> {
    let mut chain = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        let (kind, der) = section.map_err(|_| ChainError::BadPem)?;
        if kind != SectionKind::Certificate {
            continue;
        }
        let index = chain.len();
        let unparsable = ChainError::Unparsable { index };
        let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| unparsable)?;
        let public_key = spki_public_key(cert.public_key().raw).ok_or(unparsable)?;
        chain.push(Certificate {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            public_key,
        });
    }
    if chain.is_empty() {
        return Err(ChainError::NoCertificate);
    }
    Ok(chain)
}

/// Parses the first private key of `pem` and derives its public key.
pub fn parse_private_key(pem: &[u8]) -> Result<PublicKey, KeyError> {
    // `ENCRYPTED PRIVATE KEY` (PKCS#8) and `Proc-Type: 4,ENCRYPTED` (OpenSSL's traditional
    // format) are both password-protected.
    if contains(pem, b"ENCRYPTED PRIVATE KEY") || contains(pem, b"Proc-Type: 4,ENCRYPTED") {
        return Err(KeyError::Encrypted);
    }
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        let (kind, der) = section.map_err(|_| KeyError::BadPem)?;
        let format = match kind {
            SectionKind::RsaPrivateKey => KeyFormat::Pkcs1,
            SectionKind::EcPrivateKey => KeyFormat::Sec1,
            SectionKind::PrivateKey => KeyFormat::Pkcs8,
            // `EC PARAMETERS` (which `openssl ecparam -genkey` writes first), certificates, ...
            _ => continue,
        };
        let public = match format {
            KeyFormat::Pkcs1 => pkcs1_public_key(&der),
            KeyFormat::Sec1 => sec1_public_key(&der, None),
            KeyFormat::Pkcs8 => pkcs8_public_key(&der),
        };
        return public.ok_or(KeyError::Unparsable { format });
    }
    Err(KeyError::NoKey)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// An `RSAPrivateKey` (PKCS#1): its modulus and public exponent.
fn pkcs1_public_key(der: &[u8]) -> Option<PublicKey> {
    let key = pkcs1::RsaPrivateKeyRef::try_from(der).ok()?;
    Some(PublicKey::Rsa {
        modulus: key.modulus.as_bytes().to_vec(),
        exponent: key.public_exponent.as_bytes().to_vec(),
    })
}

/// An `ECPrivateKey` (SEC1): the public point derived from the private scalar. The curve comes
/// from the key's own parameters, else from the PKCS#8 wrapper, else from the scalar's size.
fn sec1_public_key(der: &[u8], wrapper_curve: Option<ObjectIdentifier>) -> Option<PublicKey> {
    let key = sec1::EcPrivateKey::try_from(der).ok()?;
    let curve = key
        .parameters
        .and_then(|p| p.named_curve())
        .or(wrapper_curve)
        .or(match key.private_key.len() {
            32 => Some(P256),
            48 => Some(P384),
            _ => None,
        });
    match curve {
        Some(c) if c == P256 => p256::SecretKey::from_slice(key.private_key)
            .ok()
            .map(|k| PublicKey::P256(k.public_key())),
        Some(c) if c == P384 => p384::SecretKey::from_slice(key.private_key)
            .ok()
            .map(|k| PublicKey::P384(k.public_key())),
        _ => Some(PublicKey::Unsupported),
    }
}

/// A `PrivateKeyInfo` (PKCS#8) wrapping an RSA, EC or Ed25519 key.
fn pkcs8_public_key(der: &[u8]) -> Option<PublicKey> {
    let info = PrivateKeyInfoRef::try_from(der).ok()?;
    let inner = info.private_key.as_bytes();
    let algorithm = info.algorithm.oid;
    if algorithm == RSA_ENCRYPTION || algorithm == RSASSA_PSS {
        pkcs1_public_key(inner)
    } else if algorithm == EC_PUBLIC_KEY {
        sec1_public_key(inner, info.algorithm.parameters_oid().ok())
    } else if algorithm == ED25519 {
        // CurvePrivateKey ::= OCTET STRING (the 32-byte seed).
        let seed = <&OctetStringRef>::from_der(inner).ok()?;
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed.as_bytes()).ok()?;
        let public: &[u8] = ring::signature::KeyPair::public_key(&pair).as_ref();
        public.try_into().ok().map(PublicKey::Ed25519)
    } else {
        Some(PublicKey::Unsupported)
    }
}

/// A certificate's `SubjectPublicKeyInfo`.
fn spki_public_key(der: &[u8]) -> Option<PublicKey> {
    let spki = SubjectPublicKeyInfoRef::try_from(der).ok()?;
    let bits = spki.subject_public_key.raw_bytes();
    let algorithm = spki.algorithm.oid;
    if algorithm == RSA_ENCRYPTION || algorithm == RSASSA_PSS {
        let key = pkcs1::RsaPublicKey::<pkcs1::UintRef>::try_from(bits).ok()?;
        Some(PublicKey::Rsa {
            modulus: key.modulus.as_bytes().to_vec(),
            exponent: key.public_exponent.as_bytes().to_vec(),
        })
    } else if algorithm == EC_PUBLIC_KEY {
        match spki.algorithm.parameters_oid().ok() {
            Some(c) if c == P256 => p256::PublicKey::from_sec1_bytes(bits)
                .ok()
                .map(PublicKey::P256),
            Some(c) if c == P384 => p384::PublicKey::from_sec1_bytes(bits)
                .ok()
                .map(PublicKey::P384),
            _ => Some(PublicKey::Unsupported),
        }
    } else if algorithm == ED25519 {
        bits.try_into().ok().map(PublicKey::Ed25519)
    } else {
        Some(PublicKey::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::{DAY, NOW, keys, mk_cert, mk_chain};

    fn leaf_key(cert_pem: &str) -> PublicKey {
        parse_chain(cert_pem.as_bytes()).expect("chain")[0]
            .public_key
            .clone()
    }

    #[test]
    fn every_supported_key_format_matches_its_certificate() {
        // (the key a certificate is made for, the same key in the format under test)
        let pairs = [
            (keys::RSA_PKCS8, keys::RSA_PKCS8),
            (keys::RSA_PKCS8, keys::RSA_PKCS1),
            (keys::P256_PKCS8, keys::P256_PKCS8),
            (keys::P256_PKCS8, keys::P256_SEC1),
            (keys::P384_PKCS8, keys::P384_PKCS8),
            (keys::P384_PKCS8, keys::P384_SEC1),
            (keys::ED25519_PKCS8, keys::ED25519_PKCS8),
        ];
        for (cert_key, key) in pairs {
            let cert = leaf_key(&mk_cert(cert_key, NOW, NOW + DAY));
            let public = parse_private_key(key.as_bytes()).expect("key parses");
            assert_eq!(public.same_as(&cert), Some(true), "{}", public.algorithm());
        }
    }

    #[test]
    fn a_generated_pkcs8_key_with_its_public_key_inside_matches_too() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = leaf_key(&mk_cert(&key.serialize_pem(), NOW, NOW + DAY));
        let public = parse_private_key(key.serialize_pem().as_bytes()).expect("key parses");
        assert_eq!(public.same_as(&cert), Some(true));
    }

    #[test]
    fn a_key_of_another_pair_or_algorithm_does_not_match() {
        let rsa_cert = leaf_key(&mk_cert(keys::RSA_PKCS8, NOW, NOW + DAY));
        let p256_cert = leaf_key(&mk_cert(keys::P256_PKCS8, NOW, NOW + DAY));
        for (key, cert) in [
            (keys::RSA_OTHER, &rsa_cert),
            (keys::P256_SEC1, &rsa_cert),
            (keys::P384_SEC1, &p256_cert),
            (keys::ED25519_PKCS8, &p256_cert),
        ] {
            let public = parse_private_key(key.as_bytes()).expect("key parses");
            assert_eq!(public.same_as(cert), Some(false), "{}", public.algorithm());
        }
    }

    #[test]
    fn an_unsupported_curve_is_not_judged() {
        let cert = leaf_key(&mk_cert(keys::P256_PKCS8, NOW, NOW + DAY));
        let public = parse_private_key(keys::P521_SEC1.as_bytes()).expect("key parses");
        assert_eq!(public, PublicKey::Unsupported);
        assert_eq!(public.same_as(&cert), None);
    }

    #[test]
    fn broken_keys_say_what_is_wrong() {
        let body_of = |pem: &str| {
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>()
        };
        let truncated = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            &body_of(keys::RSA_PKCS8)[..200]
        );
        let cases = [
            ("", KeyError::NoKey),
            ("REPLACE_WITH_BASE64_KEY", KeyError::NoKey),
            (keys::RSA_ENCRYPTED, KeyError::Encrypted),
            (
                "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n",
                KeyError::BadPem,
            ),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n", KeyError::BadPem),
        ];
        for (pem, expected) in cases {
            assert_eq!(parse_private_key(pem.as_bytes()), Err(expected), "{pem}");
        }
        assert_eq!(
            parse_private_key(truncated.as_bytes()),
            Err(KeyError::Unparsable {
                format: KeyFormat::Pkcs8
            })
        );
        let mislabelled = keys::P256_SEC1
            .replace("EC PRIVATE KEY", "RSA PRIVATE KEY")
            .replace(
                "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n",
                "",
            );
        assert_eq!(
            parse_private_key(mislabelled.as_bytes()),
            Err(KeyError::Unparsable {
                format: KeyFormat::Pkcs1
            })
        );
    }

    #[test]
    fn a_chain_is_read_in_order_with_its_validity() {
        let (leaf, intermediate) = mk_chain(keys::P256_PKCS8, NOW - DAY, NOW + 2 * DAY);
        let chain = parse_chain(format!("{leaf}{intermediate}").as_bytes()).expect("chain");
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1].not_before, NOW - DAY);
        assert_eq!(chain[1].not_after, NOW + 2 * DAY);
        let key = parse_private_key(keys::P256_PKCS8.as_bytes()).expect("key");
        assert_eq!(key.same_as(&chain[0].public_key), Some(true));
        assert_eq!(key.same_as(&chain[1].public_key), Some(false));
    }

    #[test]
    fn broken_chains_say_what_is_wrong() {
        let good = mk_cert(keys::P256_PKCS8, NOW, NOW + DAY);
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let cases = [
            (String::new(), ChainError::NoCertificate),
            (keys::P256_PKCS8.to_string(), ChainError::NoCertificate),
            (
                "REPLACE_WITH_BASE64_CERT".to_string(),
                ChainError::NoCertificate,
            ),
            (
                "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".to_string(),
                ChainError::BadPem,
            ),
            (garbage.to_string(), ChainError::Unparsable { index: 0 }),
            (
                format!("{good}{garbage}"),
                ChainError::Unparsable { index: 1 },
            ),
        ];
        for (pem, expected) in cases {
            assert_eq!(parse_chain(pem.as_bytes()).err(), Some(expected), "{pem}");
        }
    }
}
