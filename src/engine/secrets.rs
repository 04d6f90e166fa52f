//! The one detector of secret-looking names, shared by every rule that asks "is this a
//! secret?" (`env-secret-literal` today, ConfigMap checks with the other kinds).
//!
//! Names are split into words (`DB_PASSWORD`, `dbPassword`, `db.password` all become
//! `DB PASSWORD`), and a pattern matches when its words appear in a row. A name whose last word
//! says it holds a *reference* to a secret (`PASSWORD_FILE`, `SECRET_NAME`, `TOKEN_URL`,
//! `AWS_ACCESS_KEY_ID`) is not a secret itself, which keeps false positives low.

/// Last words that mark a name as pointing at a secret rather than holding one.
const REFERENCE_SUFFIXES: &[&str] = &[
    "FILE", "FILES", "PATH", "DIR", "NAME", "URL", "URI", "ENDPOINT", "HOST", "PORT", "TTL",
    "TIMEOUT", "EXPIRY", "EXPIRES", "LENGTH", "SIZE", "TYPE", "HEADER", "REF", "ID", "ENABLED",
    "MODE", "VERSION", "FORMAT", "LOCATION", "ISSUER", "AUDIENCE", "REFRESH", "ROTATION",
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
        ] {
            assert!(!name_looks_secret(name, &patterns()), "{name}");
        }
    }
}
