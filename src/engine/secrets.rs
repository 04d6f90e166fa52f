//! The one detector of secrets, shared by every rule that asks "is this a secret?"
//! (`env-secret-literal`, `configmap-no-secrets`), plus reading a Secret's effective values.
//!
//! **Names.** Names are split into words (`DB_PASSWORD`, `dbPassword`, `db.password` all become
//! `DB PASSWORD`), and a pattern matches when its words appear in a row. A name whose last word
//! says it holds a *reference* to a secret or a setting about one (`PASSWORD_FILE`,
//! `SECRET_NAME`, `TOKEN_URL`, `AWS_ACCESS_KEY_ID`, `TOKEN_TTL_SECONDS`) is not a secret itself,
//! which keeps false positives low.
//!
//! **Values.** [`value_looks_secret`] recognises secrets by their shape, never by guessing at
//! entropy: PEM private keys, AWS access key ids, GCP service account keys, JWTs, URLs with a
//! password, and tokens with a vendor's published prefix. Each check insists on the full shape
//! (a PEM body that is base64, a JWT header that decodes to JSON with `alg`, a password that is
//! not a placeholder), so documentation templates and examples do not match.
//!
//! Callers report *which* key holds *what kind* of secret ([`SecretKind::describe`]); nothing
//! here returns or formats any part of a value.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k8s_openapi::api::core::v1::Secret;

/// Last words that mark a name as pointing at a secret, or describing one, rather than holding
/// one.
const REFERENCE_SUFFIXES: &[&str] = &[
    "FILE",
    "FILES",
    "PATH",
    "DIR",
    "NAME",
    "URL",
    "URI",
    "ENDPOINT",
    "HOST",
    "PORT",
    "TTL",
    "TIMEOUT",
    "EXPIRY",
    "EXPIRES",
    "LENGTH",
    "SIZE",
    "TYPE",
    "HEADER",
    "REF",
    "ID",
    "ENABLED",
    "MODE",
    "VERSION",
    "FORMAT",
    "LOCATION",
    "ISSUER",
    "AUDIENCE",
    "REFRESH",
    "ROTATION",
    "SECONDS",
    "MINUTES",
    "HOURS",
    "DAYS",
    "MS",
    "COUNT",
    "LIMIT",
    "MIN",
    "MAX",
    "POLICY",
    "REQUIRED",
    "ALGORITHM",
    "PROVIDER",
    "STORE",
    "BACKEND",
    "KIND",
];

/// Splits a name into upper-case words at non-alphanumerics and lower→upper case changes.
pub fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if !ch.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        current.push(ch.to_ascii_uppercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Whether `name` looks like it holds a secret, given patterns such as `PASSWORD` or `API_KEY`.
pub fn name_looks_secret(name: &str, patterns: &[String]) -> bool {
    let words = name_words(name);
    let Some(last) = words.last() else {
        return false;
    };
    if REFERENCE_SUFFIXES.contains(&last.as_str()) {
        return false;
    }
    patterns.iter().any(|pattern| {
        let wanted = name_words(pattern);
        if wanted.is_empty() {
            return false;
        }
        let joined = wanted.concat();
        let word_matches = |w: &str, p: &str| w == p || w.strip_suffix('S') == Some(p);
        words.iter().any(|w| word_matches(w, &joined))
            || words
                .windows(wanted.len())
                .any(|window| window.iter().zip(&wanted).all(|(w, p)| word_matches(w, p)))
    })
}

/// Whether a value is only a stand-in for a secret or a switch about one: empty, a boolean
/// (`MYSQL_ALLOW_EMPTY_PASSWORD=1`), or a placeholder that a template or the shell fills in
/// (`${DB_PASSWORD}`, `$(TOKEN)`, `{{ .Values.password }}`).
pub fn value_is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.is_empty()
        || ["true", "false", "yes", "no", "on", "off", "0", "1"]
            .iter()
            .any(|b| v.eq_ignore_ascii_case(b))
        || [("${", "}"), ("$(", ")"), ("{{", "}}")]
            .iter()
            .any(|(open, close)| {
                // Exactly one placeholder: `$(USER):hunter2$(HOST)` holds a literal.
                v.strip_prefix(open)
                    .and_then(|rest| rest.strip_suffix(close))
                    .is_some_and(|inner| !inner.contains(['$', '(', ')', '{', '}']))
            })
}

// === values ===

/// What kind of secret a value holds. Findings name the kind, never the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// `-----BEGIN ... PRIVATE KEY-----` with a base64 body, also when base64-encoded once
    /// more (a kubeconfig's `client-key-data`).
    PemPrivateKey,
    /// `AKIA`/`ASIA` and 16 upper-case letters or digits.
    AwsAccessKeyId,
    /// A JSON key file with `"type": "service_account"` and a `private_key`.
    GcpServiceAccountKey,
    /// Three base64url segments whose header is JSON with `alg`.
    Jwt,
    /// `scheme://user:password@host` with a real password.
    UrlWithPassword,
    /// A token with a vendor's published prefix; the vendor's name.
    VendorToken(&'static str),
}

impl SecretKind {
    /// A few words for messages: "a PEM private key".
    pub fn describe(self) -> String {
        match self {
            SecretKind::PemPrivateKey => "a PEM private key".into(),
            SecretKind::AwsAccessKeyId => "an AWS access key id".into(),
            SecretKind::GcpServiceAccountKey => "a GCP service account key".into(),
            SecretKind::Jwt => "a JWT (a bearer token)".into(),
            SecretKind::UrlWithPassword => "a URL with a password".into(),
            SecretKind::VendorToken(vendor) => format!("a {vendor} token"),
        }
    }
}

/// The first kind of secret found anywhere in `value`, if any.
pub fn value_looks_secret(value: &str) -> Option<SecretKind> {
    // A service account key file also holds a PEM key; name the more specific thing.
    if has_gcp_service_account_key(value) {
        Some(SecretKind::GcpServiceAccountKey)
    } else if has_pem_private_key(value) || has_base64_pem_private_key(value) {
        Some(SecretKind::PemPrivateKey)
    } else if has_aws_access_key_id(value) {
        Some(SecretKind::AwsAccessKeyId)
    } else if has_jwt(value) {
        Some(SecretKind::Jwt)
    } else if has_url_with_password(value) {
        Some(SecretKind::UrlWithPassword)
    } else {
        vendor_token(value).map(SecretKind::VendorToken)
    }
}

/// A PEM block labelled `... PRIVATE KEY` (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK) whose
/// body is real base64, not a placeholder such as `<your key here>`.
fn has_pem_private_key(text: &str) -> bool {
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            return false;
        };
        let label = &after[..label_end];
        let body = &after[label_end + "-----".len()..];
        let body = body.find("-----END").map_or(body, |end| &body[..end]);
        if label.len() <= 40
            && (label.ends_with("PRIVATE KEY") || label.ends_with("PRIVATE KEY BLOCK"))
            && looks_like_base64_body(body)
        {
            return true;
        }
        rest = &after[label_end + "-----".len()..];
    }
    false
}

/// A PEM private key encoded once more in base64, as kubeconfig files carry it in
/// `client-key-data` (the base64 of `-----BEGIN` starts `LS0tLS1CRUdJT`).
fn has_base64_pem_private_key(text: &str) -> bool {
    use base64::engine::general_purpose::STANDARD;
    let bytes = text.as_bytes();
    text.match_indices("LS0tLS1CRUdJT").any(|(i, _)| {
        let len = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            .count();
        STANDARD
            .decode(&text[i..i + len])
            .is_ok_and(|raw| has_pem_private_key(&String::from_utf8_lossy(&raw)))
    })
}

/// At least 64 characters once line breaks (real or JSON-escaped) are gone, nearly all of them
/// base64, with upper case, lower case and digits as random bytes give. PEM headers such as
/// `Proc-Type: 4,ENCRYPTED` are tolerated.
fn looks_like_base64_body(body: &str) -> bool {
    let compact: String = body
        .replace("\\n", "")
        .replace("\\r", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    let b64 = compact.chars().filter(|c| is_b64(*c)).count();
    compact.len() >= 64
        && b64 * 100 >= compact.len() * 95
        && compact.chars().any(|c| c.is_ascii_uppercase())
        && compact.chars().any(|c| c.is_ascii_lowercase())
        && compact.chars().any(|c| c.is_ascii_digit())
}

/// AWS access key ids: `AKIA` (long-term) or `ASIA` (temporary) and 16 upper-case letters or
/// digits, standing alone. AWS's documentation key `AKIAIOSFODNN7EXAMPLE` and its kin end in
/// `EXAMPLE` and do not count.
fn has_aws_access_key_id(text: &str) -> bool {
    let bytes = text.as_bytes();
    ["AKIA", "ASIA"].iter().any(|prefix| {
        text.match_indices(prefix).any(|(i, _)| {
            let Some(id) = bytes.get(i..i + 20) else {
                return false;
            };
            let alone_before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
            let alone_after = bytes.get(i + 20).is_none_or(|b| !b.is_ascii_alphanumeric());
            alone_before
                && alone_after
                && id[4..]
                    .iter()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && !id.ends_with(b"EXAMPLE")
        })
    })
}

/// A GCP service account key file: `"type": "service_account"` and a `"private_key"` that
/// holds a PEM key (a redacted `"private_key": ""` does not count).
fn has_gcp_service_account_key(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains("\"type\":\"service_account\"")
        && compact.contains("\"private_key\":\"-----BEGIN")
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A JWS-compact JWT: `header.payload.signature`, each base64url; the header and payload
/// decode to JSON objects, the header names its `alg`, and the signature is not empty (an
/// unsigned `alg: none` token grants nothing).
fn has_jwt(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices("eyJ").any(|(i, _)| {
        if i > 0 && (is_base64url(bytes[i - 1]) || bytes[i - 1] == b'.') {
            return false;
        }
        let len = bytes[i..]
            .iter()
            .take_while(|b| is_base64url(**b) || **b == b'.')
            .count();
        let token = text[i..i + len].trim_end_matches('.');
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts.as_slice() else {
            return false;
        };
        let json = |segment: &str| -> Option<serde_json::Map<String, serde_json::Value>> {
            let raw = URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()?;
            match serde_json::from_slice(&raw).ok()? {
                serde_json::Value::Object(map) => Some(map),
                _ => None,
            }
        };
        signature.len() >= 16
            && json(header).is_some_and(|h| h.get("alg").is_some_and(|a| a.is_string()))
            && json(payload).is_some()
    })
}

/// `scheme://user:password@host` where the password is real: not empty (`user:@host`) and not
/// a placeholder (`${DB_PASSWORD}`, `$(PASS)`, `{{ .password }}`, `<password>`, `****`,
/// or the word `password` itself, as documentation writes it).
fn has_url_with_password(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices("://").any(|(i, _)| {
        let scheme_len = bytes[..i]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
            .count();
        if scheme_len < 2 || !bytes[i - scheme_len].is_ascii_alphabetic() {
            return false;
        }
        let rest = &text[i + 3..];
        let end = rest
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | '\\')
            })
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        let Some((userinfo, host)) = authority.rsplit_once('@') else {
            return false;
        };
        let Some((_, password)) = userinfo.split_once(':') else {
            return false;
        };
        !host.is_empty() && !password.is_empty() && !is_placeholder_password(password)
    })
}

fn is_placeholder_password(password: &str) -> bool {
    let p = password.to_ascii_lowercase();
    p.contains("${")
        || p.contains("$(")
        || p.contains("{{")
        || p.starts_with('$')
        || p.starts_with('%')
        || (p.starts_with('<') || p.ends_with('>'))
        || p.chars().all(|c| matches!(c, '*' | 'x' | '.' | '#'))
        || ["password", "passwd", "pass", "pwd", "secret"].contains(&p.as_str())
}

/// Tokens whose prefix the vendor publishes so that scanners can find them: the prefix, the
/// vendor, and the fewest characters that follow it.
const VENDOR_TOKENS: &[(&str, &str, usize)] = &[
    ("ghp_", "GitHub", 36),
    ("gho_", "GitHub", 36),
    ("ghu_", "GitHub", 36),
    ("ghs_", "GitHub", 36),
    ("ghr_", "GitHub", 36),
    ("github_pat_", "GitHub", 60),
    ("glpat-", "GitLab", 20),
    ("xoxb-", "Slack", 20),
    ("xoxp-", "Slack", 20),
    ("xoxa-", "Slack", 20),
    ("xoxr-", "Slack", 20),
    ("sk_live_", "Stripe", 24),
    ("rk_live_", "Stripe", 24),
];

fn vendor_token(text: &str) -> Option<&'static str> {
    let bytes = text.as_bytes();
    VENDOR_TOKENS.iter().find_map(|(prefix, vendor, min)| {
        text.match_indices(prefix)
            .any(|(i, _)| {
                let alone_before = i == 0 || !is_base64url(bytes[i - 1]);
                let body = bytes[i + prefix.len()..]
                    .iter()
                    .take_while(|b| is_base64url(**b))
                    .count();
                alone_before && body >= *min
            })
            .then_some(*vendor)
    })
}

// === Secret objects ===

/// The effective value of `key` in a Secret and the field it comes from: `stringData` wins
/// over `data`, as the API server merges them (the webhook only ever sees `data`; a manifest
/// may use either).
pub fn secret_value<'a>(secret: &'a Secret, key: &str) -> Option<(String, &'a [u8])> {
    if let Some(value) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
        return Some((format!("stringData[{key}]"), value.as_bytes()));
    }
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|value| (format!("data[{key}]"), value.0.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns() -> Vec<String> {
        [
            "PASSWORD",
            "SECRET",
            "TOKEN",
            "API_KEY",
            "PRIVATE_KEY",
            "CREDENTIALS",
            "ACCESS_KEY",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// A JWT made of the given header and payload JSON and a fixed signature.
    fn jwt(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            "dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        )
    }

    const PEM_KEY: &str = include_str!("../../tests/fixtures/tls/ec-p256.pkcs8.key");

    #[test]
    fn recognises_each_kind_of_secret_value() {
        let gcp = format!(
            r#"{{"type": "service_account", "project_id": "shop", "private_key": "{}"}}"#,
            PEM_KEY.replace('\n', "\\n")
        );
        let token = jwt(r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"sub":"1234567890"}"#);
        let cases: Vec<(String, SecretKind)> = vec![
            (PEM_KEY.to_string(), SecretKind::PemPrivateKey),
            (
                format!("key: |\n  {}", PEM_KEY.replace('\n', "\n  ")),
                SecretKind::PemPrivateKey,
            ),
            (gcp, SecretKind::GcpServiceAccountKey),
            (
                format!(
                    "users:\n- name: ci\n  user:\n    client-key-data: {}\n",
                    base64::engine::general_purpose::STANDARD.encode(PEM_KEY)
                ),
                SecretKind::PemPrivateKey,
            ),
            ("AKIAZ7QX4LB2M5T3PRKW".into(), SecretKind::AwsAccessKeyId),
            (
                "aws_access_key_id = ASIAZ7QX4LB2M5T3PRKW\n".into(),
                SecretKind::AwsAccessKeyId,
            ),
            (token.clone(), SecretKind::Jwt),
            (format!("Authorization: Bearer {token}"), SecretKind::Jwt),
            (
                "postgres://shop:Xk82-pq@db.shop.svc:5432/orders".into(),
                SecretKind::UrlWithPassword,
            ),
            (
                "redis://:s3cr3tpw@cache:6379/0".into(),
                SecretKind::UrlWithPassword,
            ),
            (
                "spring.datasource.url=jdbc:mysql://app:Pa55w0rd@mysql:3306/db".into(),
                SecretKind::UrlWithPassword,
            ),
            (
                format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
                SecretKind::VendorToken("GitHub"),
            ),
            (
                "xoxb-2048-4096-8192abcdefABCDEF1234".into(),
                SecretKind::VendorToken("Slack"),
            ),
        ];
        for (value, kind) in cases {
            assert_eq!(value_looks_secret(&value), Some(kind), "{value}");
        }
    }

    #[test]
    fn examples_placeholders_and_public_material_are_not_secrets() {
        let public_cert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ3mZ0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6A7B8C9D0\n-----END CERTIFICATE-----\n";
        let ca_data = format!(
            "certificate-authority-data: {}",
            base64::engine::general_purpose::STANDARD.encode(public_cert)
        );
        for value in [
            "",
            ca_data.as_str(),
            "log_level: INFO",
            "kq4gihvszzgn1p0r",
            public_cert,
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH\n-----END PUBLIC KEY-----",
            "-----BEGIN PRIVATE KEY-----\n<paste your private key here>\n-----END PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nREPLACE_WITH_YOUR_OWN_BASE64_ENCODED_PRIVATE_KEY_CONTENT_BEFORE_APPLYING_THIS\n-----END RSA PRIVATE KEY-----",
            "AKIAIOSFODNN7EXAMPLE",
            "XAKIAZ7QX4LB2M5T3PRKW",
            "AKIAZ7QX4LB2M5T3PRKWX",
            "AKIAz7qx4lb2m5t3prkw",
            "eyJhbGciOiJIUzI1NiJ9",
            "eyJub3QiOiJhIGhlYWRlciJ9.eyJzdWIiOiIxIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "a.b.c",
            "postgres://shop:${DB_PASSWORD}@db:5432/orders",
            "postgres://shop:$(DB_PASSWORD)@db:5432/orders",
            "postgres://shop:{{ .Values.password }}@db/orders",
            "postgres://user:password@localhost/db",
            "amqp://guest:****@rabbitmq:5672",
            "mysql://root:<password>@mysql:3306",
            "redis://:@cache:6379",
            "https://user@example.com/path",
            "http://example.com:8080/a:b@c",
            "http://[::1]:8080/healthz",
            "ssh://git@github.com:22/org/repo.git",
            "mailto:ops:team@example.com",
            "ghp_short",
            r#"{"type": "service_account", "private_key": ""}"#,
        ] {
            assert_eq!(value_looks_secret(value), None, "{value}");
        }
    }

    #[test]
    fn describes_a_kind_without_any_value() {
        assert_eq!(SecretKind::Jwt.describe(), "a JWT (a bearer token)");
        assert_eq!(
            SecretKind::VendorToken("GitHub").describe(),
            "a GitHub token"
        );
    }

    #[test]
    fn placeholders_and_booleans_are_not_values() {
        for value in [
            "",
            "  ",
            "true",
            "No",
            "${DB_PASSWORD}",
            "$(TOKEN)",
            "{{ .Values.x }}",
        ] {
            assert!(value_is_placeholder(value), "{value}");
        }
        for value in ["hunter2", "10", "${A}x", "$(USER):hunter2$(HOST)"] {
            assert!(!value_is_placeholder(value), "{value}");
        }
    }

    #[test]
    fn string_data_wins_over_data_and_names_its_field() {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s"},
            "data": {"a": "ZGF0YQ==", "b": "ZGF0YQ=="},
            "stringData": {"b": "plain"}
        }))
        .expect("secret");
        assert_eq!(
            secret_value(&secret, "a"),
            Some(("data[a]".to_string(), b"data".as_slice()))
        );
        assert_eq!(
            secret_value(&secret, "b"),
            Some(("stringData[b]".to_string(), b"plain".as_slice()))
        );
        assert_eq!(secret_value(&secret, "c"), None);
    }

    #[test]
    fn splits_names_in_every_common_style() {
        assert_eq!(name_words("DB_PASSWORD"), ["DB", "PASSWORD"]);
        assert_eq!(name_words("dbPassword"), ["DB", "PASSWORD"]);
        assert_eq!(name_words("db.password"), ["DB", "PASSWORD"]);
        assert_eq!(name_words("api-key"), ["API", "KEY"]);
    }

    #[test]
    fn secret_names_match() {
        for name in [
            "DB_PASSWORD",
            "dbPassword",
            "GITHUB_TOKEN",
            "STRIPE_API_KEY",
            "apikey",
            "CLIENT_SECRET",
            "AWS_SECRET_ACCESS_KEY",
            "TLS_PRIVATE_KEY",
            "GCP_CREDENTIALS",
            "API_TOKENS",
        ] {
            assert!(name_looks_secret(name, &patterns()), "{name}");
        }
    }

    #[test]
    fn references_and_lookalikes_do_not_match() {
        for name in [
            "PASSWORD_FILE",
            "SECRET_NAME",
            "TOKEN_URL",
            "AWS_ACCESS_KEY_ID",
            "LOG_LEVEL",
            "TOKENIZER",
            "KEYCLOAK_HOST",
            "SECRETARY",
            "PWD",
            "PUBLIC_KEY",
            "TOKEN_TTL_SECONDS",
            "PASSWORD_MIN_LENGTH",
            "SECRET_STORE",
            "password-policy",
        ] {
            assert!(!name_looks_secret(name, &patterns()), "{name}");
        }
    }
}
