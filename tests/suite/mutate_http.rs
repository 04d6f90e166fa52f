//! The mutating webhook over real TLS: a base64 JSON Patch that decodes and applies, no patch
//! when nothing changes, audit mode, exemptions.

use crate::common::*;
use base64::Engine as _;
use bulwark::engine::{Kind, Object, Policy};
use serde_json::{Value, json};

/// A Deployment that lacks every default the mutations add.
fn bare_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "shop/web:latest", "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 8080}], "x-unknown-field": {"kept": true}}]}}}
    })
}

fn decode_patch(response: &Value) -> json_patch::Patch {
    assert_eq!(response["patchType"], "JSONPatch");
    let encoded = response["patch"]
        .as_str()
        .expect("the patch is a base64 string on the wire");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("a JSON Patch")
}

#[tokio::test]
async fn mutate_returns_a_base64_patch_that_applies_and_is_idempotent() {
    let server = TestServer::start(Policy::builtin()).await;
    let object = bare_deployment();
    let response = server
        .call("/mutate", &review(&object, "CREATE", Some("shop")))
        .await;
    assert_eq!(response["allowed"], true);
    let patch = decode_patch(&response);
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).expect("the patch applies to the object as sent");

    // Exactly the defaults, once; fields the engine does not model survive.
    let pod = &patched["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["resources"],
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}})
    );
    assert_eq!(
        pod["securityContext"],
        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532})
    );
    assert_eq!(
        pod["containers"][0]["lifecycle"],
        json!({"preStop": {"sleep": {"seconds": 10}}})
    );
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(
        pod["containers"][0]["x-unknown-field"],
        json!({"kept": true})
    );
    assert_eq!(
        patched["metadata"]["labels"]["app.kubernetes.io/name"],
        "web"
    );
    assert_eq!(
        patched["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
        "web"
    );
    assert_eq!(
        patched["spec"]["selector"], object["spec"]["selector"],
        "selectors are never touched"
    );
    assert!(Object::from_value(Kind::Deployment, patched.clone()).is_ok());
    assert_eq!(
        response["auditAnnotations"]["add-resource-requests"]
            .as_str()
            .map(|a| a.starts_with("mutated: ")),
        Some(true)
    );

    // The second call (reinvocation) changes nothing: no patch field at all.
    let again = server
        .call("/mutate", &review(&patched, "CREATE", Some("shop")))
        .await;
    assert_eq!(again["allowed"], true);
    assert!(
        again.get("patch").is_none() && again.get("patchType").is_none(),
        "{again}"
    );

    // And the validating rules these mutations answer no longer fire.
    let verdict = server
        .validate(&review(&patched, "CREATE", Some("shop")))
        .await;
    for rule in [
        "container-resources-requests",
        "run-as-non-root",
        "prestop-hook",
        "recommended-labels",
        "image-pull-policy-mutable-tag",
    ] {
        assert!(
            !verdict.to_string().contains(&format!("[{rule}]")),
            "{rule} still fires: {verdict}"
        );
    }
}

#[tokio::test]
async fn nothing_to_change_means_no_patch_field() {
    let server = TestServer::start(Policy::builtin()).await;
    let response = server
        .call(
            "/mutate",
            &review(&compliant_deployment(), "CREATE", Some("shop")),
        )
        .await;
    assert_eq!(response["allowed"], true);
    assert!(
        response.get("patch").is_none() && response.get("patchType").is_none(),
        "{response}"
    );
}

#[tokio::test]
async fn audit_mode_returns_no_patch_but_would_mutate_warnings() {
    let server = TestServer::start(Policy::builtin().with_mode(bulwark::engine::Mode::Audit)).await;
    let response = server
        .call(
            "/mutate",
            &review(&bare_deployment(), "CREATE", Some("shop")),
        )
        .await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("patch").is_none(), "{response}");
    let warnings = response["warnings"].to_string();
    for id in [
        "add-resource-requests",
        "set-run-as-non-root",
        "add-prestop-hook",
        "add-recommended-labels",
        "set-image-pull-policy",
    ] {
        assert!(
            warnings.contains(&format!("[would mutate] [{id}]")),
            "{id}: {warnings}"
        );
        assert!(
            response["auditAnnotations"][id]
                .as_str()
                .is_some_and(|a| a.starts_with("would mutate: ")),
            "{id}"
        );
    }
}

#[tokio::test]
async fn exempt_objects_and_controller_owned_pods_are_not_mutated() {
    let server = TestServer::start(Policy::builtin()).await;
    let mut system = bare_deployment();
    system["metadata"]["namespace"] = json!("kube-system");
    let response = server
        .call("/mutate", &review(&system, "CREATE", Some("kube-system")))
        .await;
    assert!(response.get("patch").is_none());

    let mut annotated = bare_deployment();
    annotated["metadata"]["annotations"] = json!({"bulwark.dev/exempt": "*"});
    assert!(
        server
            .call("/mutate", &review(&annotated, "CREATE", Some("shop")))
            .await
            .get("patch")
            .is_none()
    );

    // Naming one mutation in the annotation skips only that one.
    annotated["metadata"]["annotations"] = json!({"bulwark.dev/exempt": "add-prestop-hook"});
    let response = server
        .call("/mutate", &review(&annotated, "CREATE", Some("shop")))
        .await;
    let mut patched = annotated.clone();
    json_patch::patch(&mut patched, &decode_patch(&response)).expect("applies");
    assert!(
        patched["spec"]["template"]["spec"]["containers"][0]
            .get("lifecycle")
            .is_none()
    );
    assert!(
        patched["spec"]["template"]["spec"]["containers"][0]
            .get("resources")
            .is_some()
    );

    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-abc", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d", "uid": "1", "controller": true}]},
        "spec": {"containers": [{"name": "web", "image": "shop/web:latest"}]}});
    assert!(
        server
            .call("/mutate", &review(&pod, "CREATE", Some("shop")))
            .await
            .get("patch")
            .is_none()
    );
}

#[tokio::test]
async fn a_pod_update_leaves_the_immutable_spec_alone() {
    let server = TestServer::start(Policy::builtin()).await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"containers": [{"name": "web", "image": "shop/web:latest", "ports": [{"containerPort": 80}]}]}});
    let response = server
        .call(
            "/mutate",
            &review_with_old(&pod, Some(&pod), "UPDATE", Some("shop")),
        )
        .await;
    let patch = decode_patch(&response);
    // Only the labels: a Pod's spec cannot change after creation.
    for op in &patch.0 {
        assert!(
            op.path().to_string().starts_with("/metadata/labels"),
            "{op:?}"
        );
    }
}
