//! Any object of any kind bulwark judges, inside a well-formed AdmissionReview (CREATE, or
//! UPDATE with itself as the old object): never a panic, always an answer that echoes the uid.
#![no_main]

use bulwark::engine::Policy;
use bulwark::server::review::{Endpoint, answer};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static POLICY: LazyLock<Policy> = LazyLock::new(Policy::builtin);

/// (group, version, kind) of every kind bulwark reads.
const KINDS: [(&str, &str, &str); 17] = [
    ("", "v1", "Pod"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "StatefulSet"),
    ("apps", "v1", "DaemonSet"),
    ("apps", "v1", "ReplicaSet"),
    ("", "v1", "ReplicationController"),
    ("batch", "v1", "Job"),
    ("batch", "v1", "CronJob"),
    ("", "v1", "Secret"),
    ("", "v1", "ConfigMap"),
    ("", "v1", "Service"),
    ("networking.k8s.io", "v1", "Ingress"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "v1", "Role"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, object)) = data.split_first() else {
        return;
    };
    let Ok(object) = serde_json::from_slice::<serde_json::Value>(object) else {
        return;
    };
    let (group, version, kind) = KINDS[usize::from(selector) % KINDS.len()];
    let update = selector >= 128;
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "fuzz-uid",
            "kind": {"group": group, "version": version, "kind": kind},
            "namespace": "shop",
            "operation": if update { "UPDATE" } else { "CREATE" },
            "object": object,
            "oldObject": if update { object.clone() } else { serde_json::Value::Null },
        }
    });
    let body = serde_json::to_vec(&review).expect("a value serializes");
    for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
        let outcome = answer(&POLICY, &body, endpoint, 1_700_000_000)
            .expect("a well-formed review always gets an answer");
        let response: serde_json::Value =
            serde_json::from_slice(&outcome.body).expect("the response is JSON");
        assert_eq!(response["response"]["uid"], "fuzz-uid");
        assert!(response["response"]["allowed"].is_boolean());
    }
});
