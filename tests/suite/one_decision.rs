//! The same object judged with the same policy gets the same actions from every front: the
//! webhook (as its metrics count them), `bulwark check --output json`, and `bulwark audit`
//! (its pure judging step, which `audit --output json` renders; the end-to-end suite runs the
//! command against a real API server).

use std::collections::BTreeMap;

use crate::common::*;
use bulwark::audit::cluster::Listed;
use bulwark::engine::{Kind, Policy};
use serde_json::{Value, json};

const AUDIT_POLICY: &str = "apiVersion: bulwark.dev/v1\nkind: Policy\nmode: audit\n";

/// Objects with deny, warn and audit findings, and one generated Pod.
fn objects() -> Vec<Value> {
    let mut bad = compliant_deployment();
    bad["metadata"]["name"] = json!("bad");
    let spec = &mut bad["spec"]["template"]["spec"];
    spec["containers"][0]["image"] = json!("nginx:latest");
    spec["containers"][0]["securityContext"]["privileged"] = json!(true);
    spec["hostPID"] = json!(true);
    bad["spec"]["replicas"] = json!(1);
    let mut owned = compliant_pod();
    owned["metadata"]["name"] = json!("bad-5d9f-x2");
    owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": "bad-5d9f", "uid": "1", "controller": true}]);
    owned["spec"]["containers"][0]["image"] = json!("nginx:latest");
    owned["spec"]["hostNetwork"] = json!(true);
    let mut configmap = compliant_configmap();
    configmap["data"] = json!({"DB_PASSWORD": "correct-horse-battery-staple"});
    vec![bad, owned, configmap]
}

/// `(rule, action)` → count, from a JSON report's findings.
fn report_counts(report: &Value) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for f in report["findings"].as_array().expect("findings") {
        let key = (
            f["rule"].as_str().expect("rule").to_string(),
            f["action"].as_str().expect("action").to_string(),
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// `(rule, action)` → count, from the webhook's `bulwark_rule_findings_total`.
fn metric_counts(metrics: &str) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("bulwark_rule_findings_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").expect("a sample");
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .expect("label")
        };
        counts.insert(
            (label("rule"), label("action")),
            value.parse().expect("a count"),
        );
    }
    counts
}

#[tokio::test]
async fn the_webhook_check_and_audit_give_one_object_the_same_actions() {
    let policy = Policy::layered("audit.yaml", AUDIT_POLICY).expect("policy");
    let server = TestServer::start(policy).await;
    for object in objects() {
        let response = server
            .validate(&review(&object, "CREATE", Some("shop")))
            .await;
        assert_eq!(response["allowed"], true, "audit mode admits everything");
    }
    let metrics = server.metrics().await;
    let webhook = metric_counts(&metrics);
    // An audit-first rollout still sees what would deny.
    assert!(
        metrics.contains(r#"bulwark_rule_would_deny_total{rule="no-privileged"} 1"#),
        "{metrics}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("objects.yaml");
    let text = objects()
        .iter()
        .map(|o| serde_json::to_string(o).expect("json"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    std::fs::write(&manifests, text).expect("write");
    let policy_file = dir.path().join("audit.yaml");
    std::fs::write(&policy_file, AUDIT_POLICY).expect("write");
    let out = bulwark_cli(
        &[
            "check",
            "-f",
            manifests.to_str().expect("path"),
            "--policy",
            policy_file.to_str().expect("path"),
            "--output",
            "json",
            "--fail-on",
            "never",
        ],
        None,
    );
    let check: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let check = report_counts(&check);

    let policy = Policy::layered("audit.yaml", AUDIT_POLICY).expect("policy");
    let listed = objects()
        .into_iter()
        .map(|raw| {
            let kind = Kind::from_api_version(
                raw["apiVersion"].as_str().expect("apiVersion"),
                raw["kind"].as_str().expect("kind"),
            )
            .expect("a kind bulwark reads");
            Listed { kind, raw }
        })
        .collect();
    let audit = bulwark::audit::judge(&policy, listed, Vec::new(), 1_700_000_000);
    let audit: Value = serde_json::from_str(&audit.to_json()).expect("JSON");
    let audit = report_counts(&audit);

    // Bundle rules differ by design (a manifest run and a cluster see other objects); compare
    // the single-object rules the webhook can see.
    let single_object =
        |counts: &BTreeMap<(String, String), u64>| -> BTreeMap<(String, String), u64> {
            counts
                .iter()
                .filter(|((rule, _), _)| {
                    bulwark::engine::registry::rule(rule)
                        .is_some_and(|r| r.sees.contains(&bulwark::engine::rule::Sees::Admission))
                })
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        };
    let webhook = single_object(&webhook);
    assert!(
        webhook.contains_key(&("no-privileged".to_string(), "warn".to_string())),
        "a would-be denial counts as a warning: {webhook:?}"
    );
    assert!(
        !webhook.keys().any(|(_, action)| action == "deny"),
        "{webhook:?}"
    );
    assert!(webhook.len() >= 5, "{webhook:?}");
    assert_eq!(single_object(&check), webhook, "check against the webhook");
    assert_eq!(single_object(&audit), webhook, "audit against the webhook");
}
