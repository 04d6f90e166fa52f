//! Secret-looking values never appear in a response or a log line. This binary installs a
//! global log subscriber that writes into a buffer, so the whole log can be searched.

mod common;

use std::sync::OnceLock;

use bulwark::engine::{Mode, Policy};
use common::*;
use serde_json::{Value, json};

fn log_buffer() -> LogBuffer {
    static LOG: OnceLock<LogBuffer> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .init();
        buffer
    })
    .clone()
}

const SECRET: &str = "Zx9-very-secret-value-4711";

#[tokio::test]
async fn secret_env_values_appear_in_no_response_and_no_log_line() {
    let log = log_buffer();
    let server = TestServer::start(Policy::builtin()).await;
    let mut object = compliant_deployment();
    object["spec"]["template"]["spec"]["containers"][0]["env"] = json!([
        {"name": "DB_PASSWORD", "value": SECRET},
        {"name": "API_TOKEN", "value": SECRET},
    ]);
    let mut responses = Vec::new();
    responses.push(
        server
            .validate(&review(&object, "CREATE", Some("shop")))
            .await
            .to_string(),
    );
    // Also with the value in a field of the wrong type, which fails to decode.
    let mut broken = object.clone();
    broken["spec"]["replicas"] = json!(SECRET);
    responses.push(
        server
            .validate(&review(&broken, "CREATE", Some("shop")))
            .await
            .to_string(),
    );
    let mut bad_secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"}, "data": {"password": SECRET}});
    responses.push(
        server
            .validate(&review(&bad_secret, "CREATE", Some("shop")))
            .await
            .to_string(),
    );
    bad_secret["data"] = json!({"password": 8_675_309_421_u64});
    responses.push(
        server
            .validate(&review(&bad_secret, "CREATE", Some("shop")))
            .await
            .to_string(),
    );
    // And as a malformed review.
    let (_, text) = server
        .post_raw("/validate", format!("{{\"apiVersion\": \"{SECRET}\""))
        .await;
    responses.push(text);

    assert!(
        responses[0].contains("[env-secret-literal]"),
        "{}",
        responses[0]
    );
    let log = log.text();
    assert!(
        log.contains("\"decision\":\"denied\""),
        "the log has review lines: {log}"
    );
    // Long fragments only: a short number such as 4711 turns up in timestamps.
    let fragments = [
        SECRET,
        "very-secret",
        "value-4711",
        "Zx9-very",
        "8675309421",
    ];
    for (i, response) in responses.iter().enumerate() {
        for fragment in fragments {
            assert!(
                !response.contains(fragment),
                "response {i} leaks {fragment}: {response}"
            );
        }
    }
    for fragment in fragments {
        assert!(!log.contains(fragment), "the log leaks {fragment}");
    }
}

/// The base64 lines of a PEM text: the key material, without the armor.
fn pem_body(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// The 8-character windows of a secret value and of its base64 (at the three alignments a
/// fragment can have). A leak of the value, of its base64 or of any fragment of either that
/// is 8 characters or longer contains one of them.
fn windows(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut texts = vec![value.to_string()];
    texts.extend((0..3).filter_map(|skip| value.get(skip..)).map(b64));
    for text in texts {
        let chars: Vec<char> = text.chars().collect();
        out.extend(chars.windows(8).map(|w| w.iter().collect::<String>()));
    }
    out
}

/// The first window of `haystack` that is one of `needles`.
fn leak<'a>(haystack: &'a str, needles: &std::collections::HashSet<String>) -> Option<&'a str> {
    let mut starts: Vec<usize> = haystack.char_indices().map(|(i, _)| i).collect();
    starts.push(haystack.len());
    starts.windows(9).find_map(|w| {
        let window = &haystack[w[0]..w[8]];
        needles.contains(window).then_some(window)
    })
}

// Distinctive secret values: random-looking, so no 8-character window is an English word
// that a message could contain for another reason.
const OPAQUE_PASSWORD: &str = "Qv7xK2pR9mWz4tLs";
const STRING_DATA_TOKEN: &str = "Hn4bV8cX1zQ6jR3w";
const REGISTRY_PASSWORD: &str = "Kx3rT8vQ2nMp7wYb";
const URL_PASSWORD: &str = "pZ8qW3rT6yU1oI5e";
const CONFIG_PASSWORD: &str = "Lm5nB7vC9xZ2aS4d";
const AWS_KEY_ID: &str = "AKIAQ3VX7PL2M9T4ZRWA";

fn jwt() -> String {
    use base64::Engine as _;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        url.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        url.encode(r#"{"sub":"checkout","scope":"orders:write","jti":"Yt6uJ9kL2mN5"}"#),
        "Xw2Ec4Rv6Tb8Yn1Um3Io5Pa7Sd9Fg0Hj2Kl4Zx6Cv8"
    )
}

#[tokio::test]
async fn secret_and_configmap_values_appear_in_no_response_and_no_log_line() {
    let log = log_buffer();
    let expired = certificate(EC_KEY, -90, -2);
    let valid_rsa = certificate(RSA_KEY, -1, 365);
    let truncated_key = RSA_OTHER_KEY.replace(&pem_body(RSA_OTHER_KEY)[3], "");
    let bad_auth = b64(format!("robot{REGISTRY_PASSWORD}"));
    let good_auth = b64(format!("robot:{REGISTRY_PASSWORD}"));
    let token = jwt();

    let mut objects: Vec<(Value, &str)> = vec![
        (tls_secret(&expired, EC_KEY_SEC1), "[secret-tls-valid]"),
        (tls_secret(&valid_rsa, RSA_OTHER_KEY), "[secret-tls-valid]"),
        (
            tls_secret(&valid_rsa, RSA_ENCRYPTED_KEY),
            "[secret-tls-valid]",
        ),
        (tls_secret(&valid_rsa, &truncated_key), "[secret-tls-valid]"),
        (tls_secret(&valid_rsa, RSA_KEY_PKCS1), ""),
        (
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "db", "namespace": "shop", "labels": labels()},
                   "type": "Opaque",
                   "data": {"password": b64(OPAQUE_PASSWORD)},
                   "stringData": {"token": STRING_DATA_TOKEN}}),
            "",
        ),
        (
            pull_secret(
                &json!({"auths": {"registry.example.com": {"auth": bad_auth}}}).to_string(),
            ),
            "[secret-dockerconfig-valid]",
        ),
        (
            pull_secret(&format!("registry.example.com robot:{REGISTRY_PASSWORD}")),
            "[secret-dockerconfig-valid]",
        ),
        (
            pull_secret(
                &json!({"auths": {"registry.example.com": {"auth": good_auth}}}).to_string(),
            ),
            "",
        ),
        (
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "checkout", "namespace": "shop", "labels": labels()},
            "data": {
                "api.jwt": token,
                "aws.conf": format!("[default]\naws_access_key_id = {AWS_KEY_ID}\n"),
                "DATABASE_URL": format!("postgres://checkout:{URL_PASSWORD}@db:5432/orders"),
                "DB_PASSWORD": CONFIG_PASSWORD,
                "server.key": RSA_OTHER_KEY
            }}),
            "[configmap-no-secrets]",
        ),
    ];
    // A value that is not base64 fails to decode; the error must not quote it either.
    objects.push((
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "raw", "namespace": "shop"},
               "data": {"password": format!("%{OPAQUE_PASSWORD}%")}}),
        "cannot decode",
    ));

    let mut responses = Vec::new();
    for mode in [Mode::Enforce, Mode::Audit] {
        let server = TestServer::start(Policy::builtin().with_mode(mode)).await;
        for (object, expected) in &objects {
            for (operation, old) in [("CREATE", None), ("UPDATE", Some(object))] {
                let response = server
                    .validate(&review_with_old(object, old, operation, Some("shop")))
                    .await
                    .to_string();
                assert!(
                    response.contains(expected),
                    "expected {expected}: {response}"
                );
                responses.push(response);
            }
        }
    }

    let mut secrets: Vec<String> = [
        OPAQUE_PASSWORD,
        STRING_DATA_TOKEN,
        REGISTRY_PASSWORD,
        URL_PASSWORD,
        CONFIG_PASSWORD,
        AWS_KEY_ID,
        &token,
        &bad_auth,
        &good_auth,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for pem in [
        EC_KEY_SEC1,
        RSA_OTHER_KEY,
        RSA_ENCRYPTED_KEY,
        RSA_KEY_PKCS1,
        &truncated_key,
        &expired,
        &valid_rsa,
    ] {
        secrets.extend(pem_body(pem));
        secrets.push(b64(pem));
    }
    let needles: std::collections::HashSet<String> =
        secrets.iter().flat_map(|s| windows(s)).collect();
    // The search finds what it looks for: a fragment, a base64 fragment, a value at the end.
    let body = &pem_body(RSA_OTHER_KEY)[5];
    for planted in [
        format!("a {} b", &OPAQUE_PASSWORD[3..12]),
        format!("x{}", &b64(&token)[20..30]),
        format!("ends with {}", &body[body.len() - 8..]),
    ] {
        assert!(leak(&planted, &needles).is_some(), "{planted}");
    }
    let log = log.text();
    assert!(log.contains("secret-tls-valid"), "the log has review lines");
    for (i, response) in responses.iter().enumerate() {
        if let Some(window) = leak(response, &needles) {
            panic!("response {i} leaks {window}: {response}");
        }
    }
    if let Some(window) = leak(&log, &needles) {
        panic!("the log leaks {window}");
    }
}

/// A value that holds serde's own words (`, expected`) and a token after them.
const SLY: &str = "x, expected ghp_Q8w2Zr5Tn1Lk7Vb3Xc9Md4Hf6Js0Pa2Ye8Ui, expected i32";

/// Objects that do not decode, each because of a value that carries [`SLY`]: a count, a
/// Secret value that is not base64, a timestamp, a quantity.
fn undecodable_objects() -> Vec<Value> {
    let meta = |name: &str| json!({"name": name, "namespace": "shop"});
    vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
               "spec": {"replicas": SLY, "selector": {}, "template": {}}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("db"),
               "data": {"password": format!("%{SLY}%")}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "namespace": "shop", "creationTimestamp": SLY}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta("p"),
               "spec": {"containers": [{"name": "a", "image": "a:1",
                                        "resources": {"limits": {"cpu": [SLY]}}}]}}),
    ]
}

#[tokio::test]
async fn decode_errors_name_the_field_but_never_a_value() {
    let log = log_buffer();
    let server = TestServer::start(Policy::builtin()).await;
    let mut messages = Vec::new();
    for object in undecodable_objects() {
        for (operation, old) in [("CREATE", None), ("UPDATE", Some(&object))] {
            for path in ["/validate", "/mutate"] {
                let request = review_with_old(&object, old, operation, Some("shop"));
                let response = server.call(path, &request).await;
                let message = response["status"]["message"].as_str().unwrap_or_default();
                assert!(
                    response["allowed"] == false && message.contains("cannot decode the"),
                    "{path} {operation} {}: {response}",
                    object["kind"]
                );
                assert!(message.contains("at `"), "the field is named: {message}");
                messages.push(response.to_string());
            }
        }
    }
    let log = log.text();
    for text in messages.iter().chain([&log]) {
        assert!(!text.contains("ghp_"), "a token leaks: {text}");
        assert!(!text.contains("x, expected"), "a value leaks: {text}");
    }
}
