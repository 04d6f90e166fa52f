//! `secret-tls-valid`: a `kubernetes.io/tls` Secret holds a certificate chain and a key that
//! parse, belong together and are within their validity; one that expires within
//! `params.min_days` is a warning.
//!
//! Messages name `tls.crt` or `tls.key` and say what is wrong with it (and dates, which are
//! facts about a public certificate); they never quote the Secret's content.

use serde::Deserialize;

use crate::engine::keypair::{self, Certificate, ChainError, KeyError, PublicKey};
use crate::engine::rule::{
    Action, Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::secrets::secret_value;
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "secret-tls-valid";

const TLS_TYPE: &str = "kubernetes.io/tls";
const CERT: &str = "tls.crt";
const KEY: &str = "tls.key";
const SECONDS_PER_DAY: i64 = 86_400;
/// A certificate issued a moment ago by a host whose clock runs ahead is not "not yet valid".
const CLOCK_SKEW: i64 = 300;

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Secret]),
    sees: &[Sees::Admission],
    summary: "a kubernetes.io/tls Secret has tls.crt and tls.key that parse, the key matches the certificate, and the certificate is within its validity; a warning when it expires within params.min_days",
    why: "ingress controllers serve what the TLS Secret holds; a broken, mismatched or expired pair takes HTTPS down for every host that uses it",
    fix: "issue a new certificate and its key and store both in the Secret; cert-manager renews them before they expire",
    vap: Vap::No("parses certificates and keys and compares them; CEL has no X.509 or key parsing"),
    build: |v| Ok(Box::new(SecretTlsValid(serde_json::from_value(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    min_days: u32,
}

struct SecretTlsValid(Params);

/// `2025-01-31`, or the raw number if it is out of range.
fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| format!("{unix} (seconds since 1970)"))
}

/// `3 days`, `1 day`, `less than a day`.
fn days(seconds: i64) -> String {
    match seconds / SECONDS_PER_DAY {
        0 => "less than a day".to_string(),
        1 => "1 day".to_string(),
        n => format!("{n} days"),
    }
}

/// `the certificate` for the leaf, `certificate 2 (an intermediate)` for the others.
fn which(index: usize) -> String {
    match index {
        0 => format!("the certificate in {CERT}"),
        i => format!("certificate {} in {CERT} (an intermediate)", i + 1),
    }
}

impl SecretTlsValid {
    fn check_validity(
        &self,
        field: &str,
        index: usize,
        cert: &Certificate,
        now: i64,
        out: &mut Findings,
    ) {
        // An expired intermediate is often a cross-sign that clients route around; the leaf is
        // what every client checks.
        let ceiling = if index == 0 {
            Action::Deny
        } else {
            Action::Warn
        };
        let who = which(index);
        let finding = if cert.not_before > now + CLOCK_SKEW {
            Finding::new(
                ID,
                field,
                format!(
                    "{who} is not valid until {} (in {}); check the issuer's clock or issue it again",
                    date(cert.not_before),
                    days(cert.not_before - now)
                ),
            )
        } else if cert.not_after < now {
            Finding::new(
                ID,
                field,
                format!(
                    "{who} expired on {} ({} ago); renew it (cert-manager renews before expiry)",
                    date(cert.not_after),
                    days(now - cert.not_after)
                ),
            )
        } else if cert.not_after - now < i64::from(self.0.min_days) * SECONDS_PER_DAY {
            Finding::new(
                ID,
                field,
                format!(
                    "{who} expires on {}, in {}, sooner than the {}-day minimum; renew it now",
                    date(cert.not_after),
                    days(cert.not_after - now),
                    self.0.min_days
                ),
            )
            .at_most(Action::Warn)
        } else {
            return;
        };
        let ceiling = ceiling.min(finding.ceiling);
        out.push_with(|| finding.at_most(ceiling));
    }

    fn check_match(
        &self,
        key_field: &str,
        key: &PublicKey,
        chain: &[Certificate],
        out: &mut Findings,
    ) {
        let Some(leaf) = chain.first() else { return };
        // `None`: an algorithm bulwark cannot compare; it says nothing rather than guess.
        if leaf.public_key.same_as(key) != Some(false) {
            return;
        }
        let message = match chain
            .iter()
            .position(|c| c.public_key.same_as(key) == Some(true))
        {
            Some(i) => format!(
                "{KEY} belongs to certificate {} in {CERT}, not the first; put the server certificate first, then its intermediates",
                i + 1
            ),
            None => format!(
                "{KEY} does not belong to the certificate in {CERT} ({} key, {} certificate); use the key the certificate was issued for",
                key.algorithm(),
                leaf.public_key.algorithm()
            ),
        };
        out.push_with(|| Finding::new(ID, key_field, message));
    }
}

fn chain_problem(error: ChainError) -> String {
    match error {
        ChainError::NoCertificate => format!(
            "{CERT} holds no PEM certificate (-----BEGIN CERTIFICATE-----); put the PEM chain there, server certificate first"
        ),
        ChainError::BadPem => format!(
            "{CERT} has a malformed PEM block (bad base64 or no END line); export the chain as PEM again"
        ),
        ChainError::Unparsable { index } => format!(
            "{} is not an X.509 certificate; export the chain as PEM again",
            which(index).replacen(" (an intermediate)", "", 1)
        ),
    }
}

fn key_problem(error: KeyError) -> String {
    match error {
        KeyError::NoKey => format!(
            "{KEY} holds no PEM private key; put the unencrypted PEM key of the certificate there"
        ),
        KeyError::Encrypted => format!(
            "{KEY} is encrypted with a password, which servers reading the Secret cannot open; store it unencrypted (openssl pkey -in key.pem -out tls.key)"
        ),
        KeyError::BadPem => format!(
            "{KEY} has a malformed PEM block (bad base64 or no END line); export the key as PEM again"
        ),
        KeyError::Unparsable { format } => format!(
            "{KEY} is labelled {} but does not parse as one; export the key again",
            format.label()
        ),
    }
}

impl Rule for SecretTlsValid {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        let Object::Secret(secret) = object else {
            return;
        };
        if secret.type_.as_deref() != Some(TLS_TYPE) {
            return;
        }
        let mut present = |name: &str| match secret_value(secret, name) {
            None => {
                out.push_with(|| {
                    Finding::new(
                        ID,
                        format!("data[{name}]"),
                        format!("the {TLS_TYPE} Secret has no {name}; add it (PEM)"),
                    )
                });
                None
            }
            Some((field, bytes)) if bytes.iter().all(u8::is_ascii_whitespace) => {
                out.push_with(|| {
                    Finding::new(ID, field, format!("{name} is empty; put the PEM there"))
                });
                None
            }
            Some(found) => Some(found),
        };
        let cert = present(CERT);
        let key = present(KEY);

        let chain = cert.and_then(|(field, bytes)| match keypair::parse_chain(bytes) {
            Ok(chain) => {
                for (index, c) in chain.iter().enumerate() {
                    self.check_validity(&field, index, c, ctx.now, out);
                }
                Some(chain)
            }
            Err(e) => {
                out.push_with(|| Finding::new(ID, field, chain_problem(e)));
                None
            }
        });
        let Some((key_field, key_bytes)) = key else {
            return;
        };
        match keypair::parse_private_key(key_bytes) {
            Ok(public) => {
                if let Some(chain) = chain {
                    self.check_match(&key_field, &public, &chain, out);
                }
            }
            Err(e) => out.push_with(|| Finding::new(ID, key_field, key_problem(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    fn valid_for_a_year(key: &str) -> String {
        mk_cert(key, NOW - 30 * DAY, NOW + 335 * DAY)
    }

    /// The findings as (field, ceiling) pairs.
    fn judged(object: &Object) -> Vec<(String, Action)> {
        run(ID, object)
            .into_iter()
            .map(|f| (f.field, f.ceiling))
            .collect()
    }

    #[test]
    fn passes_a_valid_pair_of_every_supported_kind() {
        for (cert_key, key) in [
            (keys::RSA_PKCS8, keys::RSA_PKCS8),
            (keys::RSA_PKCS8, keys::RSA_PKCS1),
            (keys::P256_PKCS8, keys::P256_SEC1),
            (keys::P384_PKCS8, keys::P384_PKCS8),
            (keys::P384_PKCS8, keys::P384_SEC1),
            (keys::ED25519_PKCS8, keys::ED25519_PKCS8),
        ] {
            let secret = mk_tls_secret(&valid_for_a_year(cert_key), key);
            assert!(run(ID, &secret).is_empty(), "{key}");
        }
    }

    #[test]
    fn denies_an_expired_or_not_yet_valid_certificate() {
        let expired = mk_tls_secret(
            &mk_cert(keys::P256_PKCS8, NOW - 90 * DAY, NOW - 3 * DAY),
            keys::P256_PKCS8,
        );
        let found = run(ID, &expired);
        assert_eq!(fields(&found), ["data[tls.crt]"]);
        assert_eq!(found[0].ceiling, Action::Deny);
        assert!(
            found[0]
                .message
                .contains("expired on 2023-11-11 (3 days ago)"),
            "{}",
            found[0].message
        );
        let future = mk_tls_secret(
            &mk_cert(keys::P256_PKCS8, NOW + 2 * DAY, NOW + 90 * DAY),
            keys::P256_PKCS8,
        );
        let found = run(ID, &future);
        assert_eq!(judged(&future), [("data[tls.crt]".into(), Action::Deny)]);
        assert!(found[0].message.contains("not valid until"));
    }

    #[test]
    fn tolerates_a_few_minutes_of_clock_skew() {
        let fresh = mk_tls_secret(
            &mk_cert(keys::P256_PKCS8, NOW + 60, NOW + 90 * DAY),
            keys::P256_PKCS8,
        );
        assert!(run(ID, &fresh).is_empty());
    }

    #[test]
    fn only_warns_when_it_expires_within_min_days() {
        let soon = mk_tls_secret(
            &mk_cert(keys::P256_PKCS8, NOW - 80 * DAY, NOW + 5 * DAY),
            keys::P256_PKCS8,
        );
        let found = run(ID, &soon);
        assert_eq!(judged(&soon), [("data[tls.crt]".into(), Action::Warn)]);
        assert!(
            found[0]
                .message
                .contains("in 5 days, sooner than the 14-day minimum"),
            "{}",
            found[0].message
        );
        assert!(run_with(ID, json!({"min_days": 3}), &soon).is_empty());
    }

    #[test]
    fn denies_a_key_that_belongs_to_another_certificate() {
        let other = mk_tls_secret(&valid_for_a_year(keys::RSA_PKCS8), keys::RSA_OTHER);
        let found = run(ID, &other);
        assert_eq!(judged(&other), [("data[tls.key]".into(), Action::Deny)]);
        assert!(
            found[0]
                .message
                .contains("does not belong to the certificate")
        );
        let algorithms = mk_tls_secret(&valid_for_a_year(keys::RSA_PKCS8), keys::P256_SEC1);
        assert!(
            run(ID, &algorithms)[0]
                .message
                .contains("(ECDSA P-256 key, RSA certificate)")
        );
    }

    #[test]
    fn says_when_the_chain_is_in_the_wrong_order() {
        let (leaf, intermediate) = mk_chain(keys::P256_PKCS8, NOW - DAY, NOW + 900 * DAY);
        let right = mk_tls_secret(&format!("{leaf}{intermediate}"), keys::P256_PKCS8);
        assert!(run(ID, &right).is_empty());
        let wrong = mk_tls_secret(&format!("{intermediate}{leaf}"), keys::P256_PKCS8);
        let found = run(ID, &wrong);
        assert_eq!(fields(&found), ["data[tls.key]"]);
        assert!(found[0].message.contains("belongs to certificate 2"));
    }

    #[test]
    fn an_expired_intermediate_is_only_a_warning() {
        let (leaf, intermediate) = mk_chain(keys::P256_PKCS8, NOW - 900 * DAY, NOW - DAY);
        let secret = mk_tls_secret(&format!("{leaf}{intermediate}"), keys::P256_PKCS8);
        let found = run(ID, &secret);
        assert_eq!(judged(&secret), [("data[tls.crt]".into(), Action::Warn)]);
        assert!(
            found[0]
                .message
                .starts_with("certificate 2 in tls.crt (an intermediate) expired")
        );
    }

    #[test]
    fn names_what_is_missing_empty_or_unreadable() {
        let cert = valid_for_a_year(keys::P256_PKCS8);
        let cases: Vec<(Object, Vec<&str>, &str)> = vec![
            (
                mk_secret(TLS_TYPE, json!({"tls.key": keys::P256_PKCS8})),
                vec!["data[tls.crt]"],
                "has no tls.crt",
            ),
            (
                mk_secret(TLS_TYPE, json!({"tls.crt": "", "tls.key": ""})),
                vec!["data[tls.crt]", "data[tls.key]"],
                "is empty",
            ),
            (
                mk_tls_secret("REPLACE_WITH_BASE64_CERT", keys::P256_PKCS8),
                vec!["data[tls.crt]"],
                "holds no PEM certificate",
            ),
            (
                mk_tls_secret(&cert, keys::RSA_ENCRYPTED),
                vec!["data[tls.key]"],
                "encrypted with a password",
            ),
            (
                mk_tls_secret(&cert, &cert),
                vec!["data[tls.key]"],
                "holds no PEM private key",
            ),
        ];
        for (object, expected, words) in cases {
            let found = run(ID, &object);
            assert_eq!(fields(&found), expected, "{words}");
            assert!(found[0].message.contains(words), "{}", found[0].message);
        }
    }

    #[test]
    fn reads_string_data_as_the_api_server_merges_it() {
        let secret = object(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"},
            "type": TLS_TYPE,
            "stringData": {"tls.crt": valid_for_a_year(keys::RSA_PKCS8), "tls.key": keys::RSA_OTHER}
        }));
        assert_eq!(fields(&run(ID, &secret)), ["stringData[tls.key]"]);
    }

    #[test]
    fn does_not_judge_what_it_cannot_compare_or_other_types() {
        let p521 = mk_tls_secret(&valid_for_a_year(keys::P256_PKCS8), keys::P521_SEC1);
        assert!(run(ID, &p521).is_empty());
        let opaque = mk_secret("Opaque", json!({"tls.crt": "x"}));
        assert!(run(ID, &opaque).is_empty());
    }

    #[test]
    fn never_quotes_the_key_or_the_certificate() {
        let secret = mk_tls_secret(
            &mk_cert(keys::RSA_PKCS8, NOW - 90 * DAY, NOW - DAY),
            keys::RSA_OTHER,
        );
        let found = run(ID, &secret);
        assert_eq!(found.len(), 2);
        for f in found {
            for line in keys::RSA_OTHER.lines().filter(|l| !l.starts_with("-----")) {
                for window in line.as_bytes().chunks_exact(8) {
                    let window = std::str::from_utf8(window).expect("ascii");
                    assert!(!f.message.contains(window), "{}", f.message);
                }
            }
        }
    }
}
