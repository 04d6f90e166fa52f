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
//! **Cost.** A value can be as large as the API server allows (1 MiB in a ConfigMap), so every
//! detector reads it in one forward pass: each search starts where the previous match ended,
//! a PEM body ends at the next run of dashes instead of being searched for an END line again,
//! where a vendor prefix starts is checked before the token after it is measured, and a base64
//! run is decoded once, from its first marker and at most [`BASE64_PEM_DECODE_MAX`] (8 KiB) of
//! it: a PEM header and a few KiB of its body are enough to tell a private key. The whole value
//! is read (a secret cannot hide behind padding); [`inspect`] returns how many bytes the
//! detectors examined, which the tests hold to a small multiple of the value's length.
//!
//! Callers report *which* key holds *what kind* of secret ([`SecretKind::describe`]); nothing
//! here returns or formats any part of a value.

use std::cell::Cell;

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
    inspect(value).kind
}

/// What [`inspect`] found, and how many bytes it examined to find it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inspection {
    pub kind: Option<SecretKind>,
    /// Bytes read by every detector together, counted by [`Scan`]: the work done.
    pub examined: usize,
}

/// Runs every detector over `value`, most specific first.
pub fn inspect(value: &str) -> Inspection {
    let scan = Scan::new(value.as_bytes());
    // A service account key file also holds a PEM key; name the more specific thing.
    let kind = if has_gcp_service_account_key(&scan) {
        Some(SecretKind::GcpServiceAccountKey)
    } else if has_pem_private_key(&scan) || has_base64_pem_private_key(&scan) {
        Some(SecretKind::PemPrivateKey)
    } else if has_aws_access_key_id(&scan) {
        Some(SecretKind::AwsAccessKeyId)
    } else if has_jwt(&scan) {
        Some(SecretKind::Jwt)
    } else if has_url_with_password(&scan) {
        Some(SecretKind::UrlWithPassword)
    } else {
        vendor_token(&scan).map(SecretKind::VendorToken)
    };
    Inspection {
        kind,
        examined: scan.examined(),
    }
}

/// The bytes of one value as the detectors read them. Every read goes through these methods,
/// which count the bytes they look at: a search never goes back over what it passed, so the
/// count (and the time) stays a small multiple of the value's length.
struct Scan<'a> {
    bytes: &'a [u8],
    examined: Cell<usize>,
}

impl<'a> Scan<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Scan {
            bytes,
            examined: Cell::new(0),
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Bytes examined so far.
    fn examined(&self) -> usize {
        self.examined.get()
    }

    fn count(&self, bytes: usize) {
        self.examined.set(self.examined.get() + bytes);
    }

    /// The byte at `at`, if any.
    fn byte(&self, at: usize) -> Option<u8> {
        self.count(1);
        self.bytes.get(at).copied()
    }

    /// Where `needle` next occurs at or after `from`.
    fn find(&self, from: usize, needle: &[u8]) -> Option<usize> {
        self.find_before(from, self.bytes.len(), needle)
    }

    /// Where `needle` next occurs in `from..end` (entirely inside it).
    fn find_before(&self, from: usize, end: usize, needle: &[u8]) -> Option<usize> {
        let hay = self.bytes.get(from..end.min(self.bytes.len()))?;
        match memchr::memmem::find(hay, needle) {
            Some(i) => {
                self.count(i + needle.len());
                Some(from + i)
            }
            None => {
                self.count(hay.len());
                None
            }
        }
    }

    /// How many bytes from `from` on satisfy `pred`, counting at most `limit`.
    fn run(&self, from: usize, limit: usize, pred: impl Fn(u8) -> bool) -> usize {
        let rest = self.bytes.get(from..).unwrap_or_default();
        let len = rest.iter().take(limit).take_while(|b| pred(**b)).count();
        self.count(len + 1);
        len
    }

    /// How many bytes right before `end` satisfy `pred`.
    fn run_back(&self, end: usize, pred: impl Fn(u8) -> bool) -> usize {
        let before = self.bytes.get(..end).unwrap_or_default();
        let len = before.iter().rev().take_while(|b| pred(**b)).count();
        self.count(len + 1);
        len
    }

    /// The bytes in `range`, to decode or parse whole.
    fn read(&self, range: std::ops::Range<usize>) -> &'a [u8] {
        let bytes = self.bytes.get(range).unwrap_or_default();
        self.count(bytes.len());
        bytes
    }
}

const PEM_BEGIN: &[u8] = b"-----BEGIN ";
const PEM_DASHES: &[u8] = b"-----";
/// Longer labels than any PEM type (`ENCRYPTED PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`) are not
/// looked at: the search for a label's closing dashes stops here.
const PEM_MAX_LABEL: usize = 40;
/// How much of one base64 run that starts like a PEM block is decoded: the header and a few KiB
/// of body are all the PEM detector needs to tell a private key, and a longer run is not
/// decoded to its end.
pub const BASE64_PEM_DECODE_MAX: usize = 8 * 1024;

/// A PEM block labelled `... PRIVATE KEY` (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK) whose
/// body is real base64, not a placeholder such as `<your key here>`. A body ends at the next
/// run of five dashes (its END line, or the next block), so no byte is read twice.
fn has_pem_private_key(scan: &Scan) -> bool {
    let mut at = 0;
    while let Some(start) = scan.find(at, PEM_BEGIN) {
        let label_start = start + PEM_BEGIN.len();
        let window = label_start + PEM_MAX_LABEL + PEM_DASHES.len();
        let Some(label_end) = scan.find_before(label_start, window, PEM_DASHES) else {
            at = label_start;
            continue;
        };
        let label = scan.read(label_start..label_end);
        let body_start = label_end + PEM_DASHES.len();
        let body_end = scan.find(body_start, PEM_DASHES).unwrap_or(scan.len());
        if (label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK"))
            && looks_like_base64_body(scan.read(body_start..body_end))
        {
            return true;
        }
        at = body_end;
    }
    false
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// A PEM private key encoded once more in base64, as kubeconfig files carry it in
/// `client-key-data` (the base64 of `-----BEGIN` starts `LS0tLS1CRUdJT`). Each base64 run is
/// decoded once, from its first marker and at most [`BASE64_PEM_DECODE_MAX`] bytes of it.
fn has_base64_pem_private_key(scan: &Scan) -> bool {
    use base64::engine::general_purpose::STANDARD;
    let mut at = 0;
    while let Some(start) = scan.find(at, b"LS0tLS1CRUdJT") {
        // The window is a whole number of base64 quanta, so a cut run still decodes.
        let window = scan.run(start, BASE64_PEM_DECODE_MAX, is_base64);
        if let Ok(raw) = STANDARD.decode(scan.read(start..start + window)) {
            let inner = Scan::new(&raw);
            let found = has_pem_private_key(&inner);
            scan.count(inner.examined());
            if found {
                return true;
            }
        }
        // Skip the rest of the run: a marker inside it is part of the same base64 text.
        let rest = match window {
            BASE64_PEM_DECODE_MAX => scan.run(start + window, usize::MAX, is_base64),
            _ => 0,
        };
        at = start + window + rest;
    }
    false
}

/// At least 64 characters once line breaks (real or JSON-escaped) are gone, nearly all of them
/// base64, with upper case, lower case and digits as random bytes give. PEM headers such as
/// `Proc-Type: 4,ENCRYPTED` are tolerated.
fn looks_like_base64_body(body: &[u8]) -> bool {
    let (mut total, mut b64) = (0usize, 0usize);
    let (mut upper, mut lower, mut digit) = (false, false, false);
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        i += 1;
        if b == b'\\' && matches!(body.get(i), Some(b'n' | b'r')) {
            i += 1;
            continue;
        }
        if b.is_ascii_whitespace() {
            continue;
        }
        total += 1;
        b64 += usize::from(is_base64(b));
        upper |= b.is_ascii_uppercase();
        lower |= b.is_ascii_lowercase();
        digit |= b.is_ascii_digit();
    }
    total >= 64 && b64 * 100 >= total * 95 && upper && lower && digit
}

/// AWS access key ids: `AKIA` (long-term) or `ASIA` (temporary) and 16 upper-case letters or
/// digits, standing alone. AWS's documentation key `AKIAIOSFODNN7EXAMPLE` and its kin end in
/// `EXAMPLE` and do not count.
fn has_aws_access_key_id(scan: &Scan) -> bool {
    [b"AKIA", b"ASIA"].iter().any(|prefix| {
        let mut at = 0;
        while let Some(i) = scan.find(at, *prefix) {
            at = i + prefix.len();
            let id = scan.read(i..i + 20);
            if id.len() < 20 {
                return false;
            }
            let alone_before =
                i == 0 || scan.byte(i - 1).is_some_and(|b| !b.is_ascii_alphanumeric());
            let alone_after = scan.byte(i + 20).is_none_or(|b| !b.is_ascii_alphanumeric());
            if alone_before
                && alone_after
                && id[4..]
                    .iter()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && !id.ends_with(b"EXAMPLE")
            {
                return true;
            }
        }
        false
    })
}

/// A GCP service account key file: `"type": "service_account"` and a `"private_key"` that
/// holds a PEM key (a redacted `"private_key": ""` does not count).
fn has_gcp_service_account_key(scan: &Scan) -> bool {
    json_member(scan, b"\"type\"", b"\"service_account\"")
        && json_member(scan, b"\"private_key\"", b"\"-----BEGIN")
}

/// Whether `key`, optional whitespace, `:`, optional whitespace and then `value` occur.
fn json_member(scan: &Scan, key: &[u8], value: &[u8]) -> bool {
    let space = |b: u8| b.is_ascii_whitespace();
    let mut at = 0;
    while let Some(i) = scan.find(at, key) {
        at = i + key.len();
        let colon = at + scan.run(at, usize::MAX, space);
        if scan.byte(colon) != Some(b':') {
            continue;
        }
        let start = colon + 1 + scan.run(colon + 1, usize::MAX, space);
        if scan.read(start..start + value.len()) == value {
            return true;
        }
    }
    false
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A JWS-compact JWT: `header.payload.signature`, each base64url; the header and payload
/// decode to JSON objects, the header names its `alg`, and the signature is not empty (an
/// unsigned `alg: none` token grants nothing). Each run of token characters is read once.
fn has_jwt(scan: &Scan) -> bool {
    let token_byte = |b: u8| is_base64url(b) || b == b'.';
    let mut at = 0;
    while let Some(i) = scan.find(at, b"eyJ") {
        // A marker inside a longer token was read with that token.
        if i > 0 && scan.byte(i - 1).is_some_and(token_byte) {
            at = i + 3;
            continue;
        }
        let len = scan.run(i, usize::MAX, token_byte);
        at = i + len;
        let token = scan.read(i..i + len);
        let token = &token[..token.iter().rposition(|b| *b != b'.').map_or(0, |p| p + 1)];
        let mut parts = token.split(|b| *b == b'.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let json = |segment: &[u8]| -> Option<serde_json::Map<String, serde_json::Value>> {
            let raw = URL_SAFE_NO_PAD.decode(segment).ok()?;
            match serde_json::from_slice(&raw).ok()? {
                serde_json::Value::Object(map) => Some(map),
                _ => None,
            }
        };
        if signature.len() >= 16
            && json(header).is_some_and(|h| h.get("alg").is_some_and(|a| a.is_string()))
            && json(payload).is_some()
        {
            return true;
        }
    }
    false
}

/// `scheme://user:password@host` where the password is real: not empty (`user:@host`) and not
/// a placeholder (`${DB_PASSWORD}`, `$(PASS)`, `{{ .password }}`, `<password>`, `****`,
/// or the word `password` itself, as documentation writes it).
fn has_url_with_password(scan: &Scan) -> bool {
    let scheme_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-');
    // An authority ends where the path, query, fragment or the surrounding text starts; the
    // next `://` starts with `/`, so no authority is read twice.
    let authority_byte = |b: u8| {
        !(b.is_ascii_whitespace()
            || matches!(
                b,
                b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\'
            ))
    };
    let mut at = 0;
    while let Some(i) = scan.find(at, b"://") {
        at = i + 3;
        let scheme_len = scan.run_back(i, scheme_byte);
        if scheme_len < 2
            || !scan
                .byte(i - scheme_len)
                .is_some_and(|b| b.is_ascii_alphabetic())
        {
            continue;
        }
        let len = scan.run(at, usize::MAX, authority_byte);
        let authority = scan.read(at..at + len);
        let Some(split) = authority.iter().rposition(|b| *b == b'@') else {
            continue;
        };
        let (userinfo, host) = (&authority[..split], &authority[split + 1..]);
        let Some(colon) = userinfo.iter().position(|b| *b == b':') else {
            continue;
        };
        let password = &userinfo[colon + 1..];
        if !host.is_empty() && !password.is_empty() && !is_placeholder_password(password) {
            return true;
        }
    }
    false
}

fn is_placeholder_password(password: &[u8]) -> bool {
    let p = String::from_utf8_lossy(password).to_ascii_lowercase();
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

/// A vendor's prefix that starts a token (nothing token-like right before it) and is followed
/// by at least the vendor's minimum of token characters. Where a prefix starts is checked
/// before anything after it is read, and no more than the minimum is counted.
fn vendor_token(scan: &Scan) -> Option<&'static str> {
    VENDOR_TOKENS.iter().find_map(|(prefix, vendor, min)| {
        let mut at = 0;
        while let Some(i) = scan.find(at, prefix.as_bytes()) {
            at = i + prefix.len();
            if i > 0 && scan.byte(i - 1).is_some_and(is_base64url) {
                continue;
            }
            let body = scan.run(at, *min, is_base64url);
            if body >= *min {
                return Some(*vendor);
            }
            at += body;
        }
        None
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

    type Detector = fn(&Scan) -> bool;

    /// Each detector with the inputs that cost it most: its trigger repeated so that it never
    /// completes a secret (the values that took quadratic time before each search started
    /// where the previous one ended).
    fn worst_cases() -> Vec<(&'static str, Detector, &'static str)> {
        vec![
            (
                "pem",
                has_pem_private_key,
                "-----BEGIN RSA PRIVATE KEY-----",
            ),
            ("pem", has_pem_private_key, "-----BEGIN "),
            (
                "pem",
                has_pem_private_key,
                "-----BEGIN AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ),
            (
                "pem",
                has_pem_private_key,
                "-----BEGIN X PRIVATE KEY-----a1B2\\n",
            ),
            ("base64 pem", has_base64_pem_private_key, "LS0tLS1CRUdJT"),
            // Short runs that each decode to a key header without a body.
            (
                "base64 pem",
                has_base64_pem_private_key,
                "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ== ",
            ),
            ("aws", has_aws_access_key_id, "AKIA"),
            ("aws", has_aws_access_key_id, " ASIAAAAAAAAAAAAAAAAA0x"),
            ("gcp", has_gcp_service_account_key, "\"type\": "),
            (
                "gcp",
                has_gcp_service_account_key,
                "\"private_key\"   :  \"-",
            ),
            ("jwt", has_jwt, "eyJ."),
            ("jwt", has_jwt, " eyJ"),
            (
                "jwt",
                has_jwt,
                " eyJhbGciOiJIUzI1NiJ9.eyJ9.c2lnbmF0dXJlLWxvbmctZW5vdWdo",
            ),
            ("url", has_url_with_password, "db://user:${PASSWORD}@"),
            ("url", has_url_with_password, "scheme://"),
            ("url", has_url_with_password, "://"),
            ("vendor", |s| vendor_token(s).is_some(), "ghp_"),
            ("vendor", |s| vendor_token(s).is_some(), " ghp_abc"),
            ("vendor", |s| vendor_token(s).is_some(), "xoxb-xoxp-"),
        ]
    }

    fn work(detector: Detector, value: &str) -> usize {
        let scan = Scan::new(value.as_bytes());
        assert!(!detector(&scan), "no secret in a repeated trigger");
        scan.examined()
    }

    #[test]
    fn each_detector_does_linear_work_on_its_worst_input() {
        const SMALL: usize = 16 << 10;
        for (name, detector, unit) in worst_cases() {
            // `x` first, so that no trigger starts the value on its own.
            let small = format!("x{}", unit.repeat(SMALL / unit.len()));
            let large = format!("x{}", unit.repeat(4 * SMALL / unit.len()));
            let (a, b) = (work(detector, &small), work(detector, &large));
            // Four times the bytes cost about four times the work; quadratic work would be
            // sixteen times.
            assert!(
                b <= a * 4 + a / 4,
                "{name} on {unit:?}: {a} bytes examined for {} bytes, {b} for {}",
                small.len(),
                large.len()
            );
            assert!(
                // The vendor detector searches once for each of its 13 prefixes.
                b <= 16 * large.len(),
                "{name} on {unit:?}: {b} bytes examined for {}",
                large.len()
            );
        }
    }

    #[test]
    fn all_detectors_together_read_a_value_a_bounded_number_of_times() {
        for (_, _, unit) in worst_cases() {
            let value = format!("x{}", unit.repeat((256 << 10) / unit.len()));
            let inspection = inspect(&value);
            assert_eq!(inspection.kind, None, "{unit:?}");
            assert!(
                inspection.examined <= 32 * value.len(),
                "{unit:?}: {} bytes examined for {}",
                inspection.examined,
                value.len()
            );
        }
    }

    #[test]
    fn a_long_base64_run_is_decoded_only_at_its_start() {
        use base64::engine::general_purpose::STANDARD;
        // A megabyte-long key, base64-encoded once more: found from the start of its run,
        // without decoding the whole run.
        let line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7o4qne60TB3wo\n";
        let key = format!(
            "-----BEGIN PRIVATE KEY-----\n{}-----END PRIVATE KEY-----\n",
            line.repeat((1 << 20) / line.len())
        );
        let value = format!("client-key-data: {}", STANDARD.encode(&key));
        let inspection = inspect(&value);
        assert_eq!(inspection.kind, Some(SecretKind::PemPrivateKey));
        assert!(
            inspection.examined < 4 * value.len(),
            "{} bytes examined for {}",
            inspection.examined,
            value.len()
        );
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
