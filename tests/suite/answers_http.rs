//! Answers stay within what the API server passes on and within a fixed size, whatever the
//! object: warnings per webhook and in total, the status message, audit annotations, patches.

use crate::common::*;
use bulwark::engine::{Mode, Policy};
use bulwark::server::Limits;
use bulwark::server::review::RESPONSE_MAX_BYTES;
use serde_json::{Value, json};

/// The API server's limits: 256 characters per warning, 4 KiB of characters for all the
/// warnings of one request, whichever webhooks wrote them.
const WARNING_CHARS: usize = 256;
const WARNINGS_TOTAL_CHARS: usize = 4096;

/// A Deployment of `n` containers with long names and many warn-level (and mutable) gaps.
fn wide_deployment(n: usize, name_len: usize) -> Value {
    let mut deployment = compliant_deployment();
    let containers: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "name": format!("c{i}-{}", "x".repeat(name_len)),
                "image": "registry.example.com/shop/checkout:2.14.3",
                "ports": [{"containerPort": 8080 + i}],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                    "capabilities": {"drop": ["ALL"]}}
            })
        })
        .collect();
    deployment["spec"]["template"]["spec"]["containers"] = json!(containers);
    deployment
}

fn warning_chars(response: &Value) -> Vec<usize> {
    response["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| w.as_str().expect("a string").chars().count())
        .collect()
}

#[tokio::test]
async fn warnings_of_both_webhooks_fit_the_api_servers_budget_together() {
    let server = TestServer::start(Policy::builtin()).await;
    let deployment = wide_deployment(60, 200);
    let request = review(&deployment, "CREATE", Some("shop"));
    let validated = server.validate(&request).await;
    let mutated = server.call("/mutate", &request).await;
    assert_eq!(validated["allowed"], true, "{validated}");
    let v = warning_chars(&validated);
    let m = warning_chars(&mutated);
    assert!(v.len() > 3 && m.len() > 3, "{validated}\n{mutated}");
    for chars in v.iter().chain(&m) {
        assert!(*chars <= WARNING_CHARS, "a warning of {chars} characters");
    }
    let total: usize = v.iter().chain(&m).sum();
    assert!(
        total <= WARNINGS_TOTAL_CHARS,
        "{total} characters of warnings"
    );
    // What is left out is counted, not lost silently.
    for response in [&validated, &mutated] {
        let last = response["warnings"]
            .as_array()
            .and_then(|w| w.last())
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(
            last.starts_with("[bulwark]") && last.contains("more not shown"),
            "{last}"
        );
    }
    // A long warning is cut with an ellipsis, never split inside a character.
    assert!(
        validated["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.ends_with('…'))),
        "{validated}"
    );
}

#[tokio::test]
async fn the_largest_answer_the_suite_can_provoke_stays_under_the_cap() {
    let mut worst = 0;
    for mode in [Mode::Enforce, Mode::Audit] {
        // What is measured is the answer's size, not its time: a debug build judging thousands
        // of containers on a busy machine may need longer than the default deadline.
        let limits = Limits {
            request_timeout: std::time::Duration::from_secs(30),
            ..Limits::default()
        };
        let server = TestServer::start_with(Policy::builtin().with_mode(mode), limits).await;
        // Thousands of containers, each breaking deny rules with a long name.
        let mut deployment = wide_deployment(4000, 60);
        let spec = &mut deployment["spec"]["template"]["spec"];
        spec["hostNetwork"] = json!(true);
        for c in spec["containers"].as_array_mut().expect("containers") {
            c["image"] = json!("nginx:latest");
            c["securityContext"]["privileged"] = json!(true);
            c["env"] =
                json!([{"name": "DB_PASSWORD", "value": "hunter2-but-longer-than-a-placeholder"}]);
            c.as_object_mut().map(|c| c.remove("resources"));
        }
        let old = deployment.clone();
        for request in [
            review(&deployment, "CREATE", Some("shop")),
            review_with_old(&deployment, Some(&old), "UPDATE", Some("shop")),
        ] {
            for path in ["/validate", "/mutate"] {
                let (status, body) = server
                    .post_raw(path, serde_json::to_vec(&request).expect("json"))
                    .await;
                assert_eq!(status, 200, "{path}: {body:.300}");
                assert!(
                    body.len() < RESPONSE_MAX_BYTES,
                    "{path} {mode:?}: a {} byte answer",
                    body.len()
                );
                worst = worst.max(body.len());
                let answer: Value = serde_json::from_str(&body).expect("an AdmissionReview");
                let response = &answer["response"];
                let create = request["request"]["operation"] == "CREATE";
                // On UPDATE every denial is the old object's too: ratcheted to warnings.
                if path == "/validate" && mode == Mode::Enforce && create {
                    let message = response["status"]["message"].as_str().unwrap_or_default();
                    assert!(
                        message.contains("more; the bulwark log lists them"),
                        "{message:.300}"
                    );
                }
                if path == "/mutate" && mode == Mode::Enforce {
                    // Too large a patch: admitted unchanged, and the user is told.
                    assert!(response.get("patch").is_none(), "{body:.300}");
                    assert!(
                        response["warnings"][0]
                            .as_str()
                            .is_some_and(|w| w.contains("admitted unchanged")),
                        "{body:.300}"
                    );
                }
                assert!(!body.contains("hunter2"), "a secret value in the answer");
            }
        }
    }
    eprintln!("largest answer: {worst} bytes (cap {RESPONSE_MAX_BYTES})");
}

#[tokio::test]
async fn a_uid_the_api_server_never_writes_is_refused_as_malformed() {
    let server = TestServer::start(Policy::builtin()).await;
    let mut request = review(&compliant_pod(), "CREATE", Some("shop"));
    request["request"]["uid"] = json!("u".repeat(100_000));
    let (status, body) = server
        .post_raw("/validate", serde_json::to_vec(&request).expect("json"))
        .await;
    assert_eq!(status, 400, "{body:.200}");
    assert!(body.len() < 200, "{body:.200}");
}
