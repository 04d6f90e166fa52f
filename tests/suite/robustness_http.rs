//! Bad input over real TLS gets a clear 4xx and the server keeps answering; every manifest of
//! the shared corpus gets an answer with its uid; the admin port and ALPN work.

use crate::common::*;
use bulwark::engine::Policy;
use serde_json::json;

async fn still_answers(server: &TestServer) {
    let response = server
        .validate(&review(&compliant_deployment(), "CREATE", Some("shop")))
        .await;
    assert_eq!(response["allowed"], true);
}

#[tokio::test]
async fn malformed_bodies_get_a_4xx_with_a_clear_message() {
    let server = TestServer::start(Policy::builtin()).await;
    let good = serde_json::to_string(&review(&compliant_deployment(), "CREATE", Some("shop")))
        .expect("json");
    let mut missing_uid = review(&compliant_deployment(), "CREATE", Some("shop"));
    missing_uid["request"]
        .as_object_mut()
        .expect("object")
        .remove("uid");
    let mut wrong_types = review(&compliant_deployment(), "CREATE", Some("shop"));
    wrong_types["request"]["operation"] = json!(42);
    let mut wrong_kind_type = review(&compliant_deployment(), "CREATE", Some("shop"));
    wrong_kind_type["request"]["kind"] = json!("Deployment");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "not json",
            "this is not json".into(),
            "not an AdmissionReview",
        ),
        ("empty", String::new(), "not an AdmissionReview"),
        (
            "truncated",
            good[..good.len() / 2].to_string(),
            "not an AdmissionReview",
        ),
        (
            "wrong apiVersion",
            good.replace("admission.k8s.io/v1", "admission.k8s.io/v2"),
            "expected kind AdmissionReview with apiVersion",
        ),
        (
            "wrong kind",
            good.replace("\"AdmissionReview\"", "\"ConfigMap\""),
            "expected kind AdmissionReview",
        ),
        (
            "missing request",
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).to_string(),
            "has no request",
        ),
        (
            "missing uid",
            missing_uid.to_string(),
            "missing field `uid`",
        ),
        (
            "wrong operation type",
            wrong_types.to_string(),
            "request is malformed",
        ),
        (
            "wrong kind type",
            wrong_kind_type.to_string(),
            "request is malformed",
        ),
        ("array body", "[1, 2, 3]".into(), "not an AdmissionReview"),
    ];
    for (name, body, expected) in cases {
        let (status, text) = server.post_raw("/validate", body).await;
        assert_eq!(status, 400, "{name}: {text}");
        assert!(text.contains(expected), "{name}: {text}");
        still_answers(&server).await;
    }
}

#[tokio::test]
async fn a_huge_body_gets_413_and_the_server_keeps_answering() {
    let server = TestServer::start(Policy::builtin()).await;
    let mut object = compliant_deployment();
    object["metadata"]["annotations"] = json!({"big": "x".repeat(12 * 1024 * 1024)});
    let body = serde_json::to_vec(&review(&object, "CREATE", Some("shop"))).expect("json");
    assert!(body.len() > 12 * 1024 * 1024);
    let (status, _) = server.post_raw("/validate", body).await;
    assert_eq!(status, 413);
    still_answers(&server).await;
}

#[tokio::test]
async fn wrong_paths_and_methods_are_refused_by_the_router() {
    let server = TestServer::start(Policy::builtin()).await;
    let (status, _) = server.post_raw("/nope", "{}").await;
    assert_eq!(status, 404);
    let status = server
        .client
        .get(format!("{}/validate", server.base))
        .send()
        .await
        .expect("response")
        .status();
    assert_eq!(status.as_u16(), 405);
    // The admin endpoints live on the admin port only.
    let status = server
        .client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("response")
        .status();
    assert_eq!(status.as_u16(), 404);
}

#[tokio::test]
async fn the_admin_port_reports_health_and_readiness() {
    let server = TestServer::start(Policy::builtin()).await;
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let response = client
            .get(format!("{}{path}", server.admin))
            .send()
            .await
            .expect("admin answers");
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    server.running.state.health.start_draining();
    let response = client
        .get(format!("{}/readyz", server.admin))
        .send()
        .await
        .expect("admin answers");
    assert_eq!(response.status().as_u16(), 503);
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn() {
    let server = TestServer::start(Policy::builtin()).await;
    let response = server
        .client
        .post(format!("{}/validate", server.base))
        .json(&review(&compliant_deployment(), "CREATE", Some("shop")))
        .send()
        .await
        .expect("response");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn every_corpus_manifest_gets_an_answer_with_its_uid() {
    let Some(dir) = corpus_dir() else {
        eprintln!("../shared/corpus is absent: skipping the corpus sweep");
        return;
    };
    let server = TestServer::start(Policy::builtin()).await;
    let mut sent = 0;
    let mut judged = 0;
    for file in manifest_files(&dir) {
        for document in documents(&file) {
            let namespace = document["metadata"]["namespace"]
                .as_str()
                .unwrap_or("corpus")
                .to_string();
            for operation in ["CREATE", "UPDATE"] {
                let old = (operation == "UPDATE").then_some(&document);
                let request = review_with_old(&document, old, operation, Some(&namespace));
                let (status, body) = server
                    .post_raw("/validate", serde_json::to_vec(&request).expect("json"))
                    .await;
                assert_eq!(status, 200, "{}: {body}", file.display());
                let answer: serde_json::Value = serde_json::from_str(&body).expect("json answer");
                assert_eq!(
                    answer["response"]["uid"],
                    request["request"]["uid"],
                    "{}",
                    file.display()
                );
                sent += 1;
                if answer["response"]["allowed"] == false
                    || answer["response"].get("warnings").is_some()
                {
                    judged += 1;
                }
            }
        }
    }
    assert!(sent > 500, "only {sent} reviews sent");
    assert!(judged > 200, "only {judged} reviews had findings");
}

/// Found by fuzzing the review decoder: a lone UTF-16 surrogate escape (`"\ud800"`) in a field
/// bulwark does not read is skipped, not refused, so the review is still answered with its
/// uid; and one in a field it does read is a clear protocol error, never a panic.
#[tokio::test]
async fn fuzz_lone_surrogate_escapes_are_skipped_or_refused_cleanly() {
    let server = TestServer::start(Policy::builtin()).await;
    let mut skipped = review(&compliant_deployment(), "CREATE", Some("shop"));
    skipped["request"]["options"] = json!({"fieldManager": "SURROGATE"});
    let body = skipped.to_string().replace("SURROGATE", "\\ud800");
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
    let (status, text) = server.post_raw("/validate", body).await;
    assert_eq!(status, 200, "{text}");
    let answer: serde_json::Value = serde_json::from_str(&text).expect("a JSON review");
    assert_eq!(answer["response"]["uid"], skipped["request"]["uid"]);

    let mut read = review(&compliant_deployment(), "CREATE", Some("shop"));
    read["request"]["uid"] = json!("SURROGATE");
    let body = read.to_string().replace("SURROGATE", "\\ud800");
    let (status, text) = server.post_raw("/validate", body).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("request is malformed"), "{text}");
    still_answers(&server).await;
}
