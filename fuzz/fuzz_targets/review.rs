//! Any body sent to `/validate` or `/mutate`: never a panic, and either a protocol error or a
//! well-formed AdmissionReview that echoes the request's uid.
#![no_main]

use bulwark::engine::Policy;
use bulwark::server::review::{Endpoint, answer};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static POLICY: LazyLock<Policy> = LazyLock::new(Policy::builtin);

/// What the response must echo, read the way `answer` reads the body (unknown fields skipped
/// unchecked, so the body need not be JSON that a `Value` accepts).
#[derive(serde::Deserialize)]
struct Sent {
    #[serde(rename = "apiVersion")]
    api_version: String,
    request: SentRequest,
}

#[derive(serde::Deserialize)]
struct SentRequest {
    uid: String,
}

fuzz_target!(|body: &[u8]| {
    for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
        let Ok(outcome) = answer(&POLICY, body, endpoint, 1_700_000_000) else {
            continue;
        };
        let sent: Sent = serde_json::from_slice(body).expect("an answered body is a review");
        let response: serde_json::Value =
            serde_json::from_slice(&outcome.body).expect("the response is JSON");
        assert_eq!(response["kind"], "AdmissionReview");
        assert_eq!(response["apiVersion"], sent.api_version.as_str());
        assert_eq!(response["response"]["uid"], sent.request.uid.as_str());
        assert!(response["response"]["allowed"].is_boolean());
    }
});
