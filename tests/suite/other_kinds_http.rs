//! The validating webhook over real TLS for the kinds besides workloads: every rule of the
//! ConfigMap/Secret, Ingress/Service and autoscaling/disruption/network/RBAC tables fails and
//! passes, with the action the policy gives it (or the lower one its finding is capped at).
//!
//! Certificates are made relative to the real clock, because the server judges with it.

use crate::common::*;
use bulwark::engine::registry::RULES;
use bulwark::engine::{Kind, Policy};
use serde_json::{Value, json};

/// One rule broken one way, and an object of the same kind that passes.
struct Case {
    rule: &'static str,
    /// What the case shows, for failure messages.
    name: &'static str,
    failing: Value,
    /// Words the finding's message must contain.
    says: &'static str,
    /// The action under the built-in policy when the finding is capped below the rule's.
    capped: Option<&'static str>,
    passing: Value,
}

fn case(rule: &'static str, name: &'static str, failing: Value, says: &'static str) -> Case {
    let passing = compliant_of(&failing);
    Case {
        rule,
        name,
        failing,
        says,
        capped: None,
        passing,
    }
}

/// The compliant object of the same kind as `object`.
fn compliant_of(object: &Value) -> Value {
    match (object["kind"].as_str(), object["type"].as_str()) {
        (Some("ConfigMap"), _) => compliant_configmap(),
        (Some("Secret"), Some("kubernetes.io/dockerconfigjson")) => compliant_pull_secret(),
        (Some("Secret"), _) => compliant_tls_secret(),
        (Some("Ingress"), _) => compliant_ingress(),
        (Some("Service"), _) => compliant_service(),
        (Some("HorizontalPodAutoscaler"), _) => compliant_hpa(),
        (Some("PodDisruptionBudget"), _) => compliant_pdb(),
        (Some("NetworkPolicy"), _) => compliant_network_policy(),
        (Some("Role"), _) => compliant_role(),
        (Some("ClusterRole"), _) => compliant_cluster_role(),
        other => panic!("no compliant object for {other:?}"),
    }
}

/// `object` with `ops` (a JSON Patch) applied.
fn patched(mut object: Value, ops: Value) -> Value {
    let patch: json_patch::Patch = serde_json::from_value(ops).expect("patch");
    json_patch::patch(&mut object, &patch).expect("patch applies");
    object
}

fn cases() -> Vec<Case> {
    let mut big = compliant_configmap();
    big["data"]["catalog.json"] = json!("x".repeat(950_000));
    let nginx_on_traefik = patched(
        compliant_ingress(),
        json!([
            {"op": "replace", "path": "/spec/ingressClassName", "value": "traefik"},
            {"op": "add", "path": "/metadata/annotations", "value": {
                "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
                "traefik.ingress.kubernetes.io/router.entrypoints": "websecure"}}
        ]),
    );
    let mut public_lb = compliant_service();
    public_lb["spec"]["type"] = json!("LoadBalancer");
    public_lb["metadata"]["annotations"] = json!({"bulwark.dev/exposure": "public"});
    vec![
        case(
            "configmap-no-secrets",
            "a ConfigMap holding a private key",
            patched(
                compliant_configmap(),
                json!([{"op": "add", "path": "/data/server.pem", "value": RSA_KEY}]),
            ),
            "ConfigMap key server.pem holds a PEM private key; move it to a Secret",
        ),
        case(
            "configmap-size",
            "a ConfigMap of 950 kB",
            big,
            "over the 921600 allowed",
        ),
        case(
            "secret-tls-valid",
            "an expired certificate",
            tls_secret(&certificate(EC_KEY, -90, -2), EC_KEY),
            "the certificate in tls.crt expired on",
        ),
        Case {
            passing: tls_secret(&certificate(RSA_KEY, -1, 365), RSA_KEY_PKCS1),
            ..case(
                "secret-tls-valid",
                "a key that does not match",
                tls_secret(&certificate(RSA_KEY, -1, 365), RSA_OTHER_KEY),
                "tls.key does not belong to the certificate in tls.crt (RSA key, RSA certificate)",
            )
        },
        Case {
            capped: Some("warn"),
            ..case(
                "secret-tls-valid",
                "a certificate that expires in a few days",
                tls_secret(&certificate(EC_KEY, -80, 4), EC_KEY_SEC1),
                "sooner than the 14-day minimum",
            )
        },
        case(
            "secret-tls-valid",
            "an encrypted key",
            tls_secret(&certificate(RSA_KEY, -1, 365), RSA_ENCRYPTED_KEY),
            "tls.key is encrypted with a password",
        ),
        case(
            "secret-dockerconfig-valid",
            "a dockerconfigjson that is not JSON",
            pull_secret("registry.example.com robot:Rg7-pull-token-x81"),
            ".dockerconfigjson is not JSON",
        ),
        case(
            "ingress-class-name",
            "an Ingress without a class",
            patched(
                compliant_ingress(),
                json!([{"op": "remove", "path": "/spec/ingressClassName"}]),
            ),
            "sets no spec.ingressClassName",
        ),
        case(
            "ingress-path-type",
            "an ImplementationSpecific path",
            patched(
                compliant_ingress(),
                json!([{"op": "replace", "path": "/spec/rules/0/http/paths/0/pathType", "value": "ImplementationSpecific"}]),
            ),
            "path / has pathType ImplementationSpecific",
        ),
        case(
            "ingress-tls",
            "a host without TLS",
            patched(
                compliant_ingress(),
                json!([{"op": "replace", "path": "/spec/rules/0/host", "value": "shop.example.org"}]),
            ),
            "host shop.example.org has no TLS",
        ),
        case(
            "ingress-controller-annotations",
            "nginx annotations on a traefik Ingress",
            nginx_on_traefik,
            "annotation nginx.ingress.kubernetes.io/rewrite-target is for the nginx ingress controller, but this Ingress has class traefik",
        ),
        Case {
            passing: public_lb,
            ..case(
                "service-type-internal",
                "a LoadBalancer without the public-exposure annotation",
                patched(
                    compliant_service(),
                    json!([{"op": "add", "path": "/spec/type", "value": "LoadBalancer"}]),
                ),
                "type LoadBalancer provisions a cloud load balancer",
            )
        },
        case(
            "hpa-replica-range",
            "an HPA whose floor is one replica",
            patched(
                compliant_hpa(),
                json!([{"op": "remove", "path": "/spec/minReplicas"}]),
            ),
            "minReplicas is 1 (unset means 1)",
        ),
        case(
            "hpa-behavior",
            "an HPA without behavior",
            patched(
                compliant_hpa(),
                json!([{"op": "remove", "path": "/spec/behavior"}]),
            ),
            "has no behavior",
        ),
        case(
            "pdb-allows-disruption",
            "a PDB with maxUnavailable 0",
            patched(
                compliant_pdb(),
                json!([{"op": "remove", "path": "/spec/minAvailable"}, {"op": "add", "path": "/spec/maxUnavailable", "value": 0}]),
            ),
            "maxUnavailable is 0",
        ),
        case(
            "netpol-egress-dns",
            "egress to the database but not to DNS",
            patched(
                compliant_network_policy(),
                json!([{"op": "remove", "path": "/spec/egress/0"}]),
            ),
            "allows no DNS over UDP or TCP",
        ),
        case(
            "netpol-egress-policy-type",
            "egress rules with only Ingress in policyTypes",
            patched(
                compliant_network_policy(),
                json!([{"op": "replace", "path": "/spec/policyTypes", "value": ["Ingress"]}]),
            ),
            "policyTypes lists only Ingress",
        ),
        case(
            "rbac-secrets-access",
            "a ClusterRole that reads all Secrets",
            patched(
                compliant_cluster_role(),
                json!([{"op": "add", "path": "/rules/-", "value": {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}}]),
            ),
            "rules[1] grants get, list, watch on every Secret",
        ),
        case(
            "rbac-wildcards",
            "a Role with every verb",
            patched(
                compliant_role(),
                json!([{"op": "replace", "path": "/rules/0/verbs", "value": ["*"]}]),
            ),
            "rules[0].verbs has *",
        ),
    ]
}

/// The namespace a review of `object` carries (none for cluster-scoped kinds).
fn namespace_of(object: &Value) -> Option<&str> {
    object["metadata"]["namespace"].as_str()
}

/// No rule other than `rule` shows up in `response`.
fn only_rule(response: &Value, rule: &str) {
    let text = response.to_string();
    for other in RULES.iter().map(|r| r.id).filter(|id| *id != rule) {
        assert!(
            !text.contains(&format!("[{other}]"))
                && response["auditAnnotations"].get(other).is_none(),
            "{rule} also fired {other}: {text}"
        );
    }
}

fn message_of(response: &Value, rule: &str) -> String {
    let tag = format!("[{rule}]");
    let denial = response["status"]["message"].as_str().unwrap_or_default();
    let warnings = response["warnings"].as_array().cloned().unwrap_or_default();
    let annotation = response["auditAnnotations"][rule]
        .as_str()
        .unwrap_or_default();
    let mut all = vec![denial.to_string(), annotation.to_string()];
    all.extend(
        warnings
            .iter()
            .filter_map(Value::as_str)
            .filter(|w| w.contains(&tag))
            .map(String::from),
    );
    all.join("\n")
}

#[tokio::test]
async fn every_rule_of_the_other_kinds_fails_and_passes() {
    let server = TestServer::start(Policy::builtin()).await;
    let policy = Policy::builtin();
    for case in cases() {
        let action = case.capped.unwrap_or(policy.action(case.rule).as_str());
        let response = server
            .validate(&review(
                &case.failing,
                "CREATE",
                namespace_of(&case.failing),
            ))
            .await;
        assert!(
            shows(&response, case.rule, action),
            "{} ({}) should {action}: {response}",
            case.rule,
            case.name
        );
        only_rule(&response, case.rule);
        let message = message_of(&response, case.rule);
        assert!(message.contains(case.says), "{}: {message}", case.name);

        let response = server
            .validate(&review(
                &case.passing,
                "CREATE",
                namespace_of(&case.passing),
            ))
            .await;
        assert_eq!(response["allowed"], true, "{}: {response}", case.name);
        assert!(
            response.get("warnings").is_none() && response.get("auditAnnotations").is_none(),
            "the passing object for {} has findings: {response}",
            case.name
        );
    }
}

#[tokio::test]
async fn every_rule_that_does_not_judge_workloads_has_a_case() {
    let covered: Vec<&str> = cases().iter().map(|c| c.rule).collect();
    let mut count = 0;
    // Offline and bundle-only rules never fire in the webhook; `check` tests them.
    for spec in RULES.iter().filter(|spec| {
        !Kind::WORKLOADS.iter().any(|k| spec.applies_to(*k))
            && spec.sees.contains(&bulwark::engine::rule::Sees::Admission)
    }) {
        assert!(covered.contains(&spec.id), "no HTTP case for {}", spec.id);
        count += 1;
    }
    assert_eq!(count, 16);
}

#[tokio::test]
async fn the_answer_follows_the_policy_file_and_a_capped_finding_stays_capped() {
    for action in ["deny", "warn", "audit"] {
        let mut text = String::from("apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n");
        for spec in RULES {
            text.push_str(&format!("  {}: {{ action: {action} }}\n", spec.id));
        }
        let server = TestServer::start(Policy::layered("all.yaml", &text).expect("policy")).await;
        for case in cases() {
            // A finding capped at warn is a warning under deny, and follows the policy below.
            let expected = match (case.capped, action) {
                (Some("warn"), "deny") => "warn",
                _ => action,
            };
            let response = server
                .validate(&review(
                    &case.failing,
                    "CREATE",
                    namespace_of(&case.failing),
                ))
                .await;
            assert!(
                shows(&response, case.rule, expected),
                "{} ({}) with action {action}: {response}",
                case.rule,
                case.name
            );
        }
    }
}

#[tokio::test]
async fn params_from_a_policy_file_reach_the_rules() {
    let policy = Policy::layered(
        "params.yaml",
        r#"apiVersion: bulwark.dev/v1
kind: Policy
rules:
  configmap-size: { params: { max_bytes: 50 } }
  configmap-no-secrets: { params: { name_patterns: [LOG_LEVEL] } }
  secret-tls-valid: { params: { min_days: 120 } }
  ingress-controller-annotations:
    params:
      class_prefixes:
        nginx: []
        nginx-internal: [nginx.ingress.kubernetes.io/]
  hpa-replica-range: { params: { headroom: 10 } }
"#,
    )
    .expect("policy");
    let server = TestServer::start(policy).await;
    let mut internal = compliant_ingress();
    internal["spec"]["ingressClassName"] = json!("nginx-internal");
    internal["metadata"]["annotations"] =
        json!({"traefik.ingress.kubernetes.io/router.tls": "true"});
    let expectations = [
        (compliant_configmap(), "configmap-size", "warn"),
        (compliant_configmap(), "configmap-no-secrets", "deny"),
        (compliant_tls_secret(), "secret-tls-valid", "warn"),
        (internal, "ingress-controller-annotations", "warn"),
        (compliant_hpa(), "hpa-replica-range", "warn"),
    ];
    for (object, rule, action) in expectations {
        let response = server
            .validate(&review(&object, "CREATE", namespace_of(&object)))
            .await;
        assert!(shows(&response, rule, action), "{rule}: {response}");
    }
}

#[tokio::test]
async fn an_update_keeps_an_old_certificate_problem_as_a_warning() {
    let server = TestServer::start(Policy::builtin()).await;
    let expired = tls_secret(&certificate(EC_KEY, -90, -2), EC_KEY);
    let mut relabelled = expired.clone();
    relabelled["metadata"]["labels"]["team"] = json!("payments");
    let response = server
        .validate(&review_with_old(
            &relabelled,
            Some(&expired),
            "UPDATE",
            Some("shop"),
        ))
        .await;
    assert!(shows(&response, "secret-tls-valid", "warn"), "{response}");
    // Replacing a good pair with a mismatched one is denied.
    let good = compliant_tls_secret();
    let mut broken = good.clone();
    broken["data"]["tls.key"] = json!(b64(RSA_KEY));
    let response = server
        .validate(&review_with_old(
            &broken,
            Some(&good),
            "UPDATE",
            Some("shop"),
        ))
        .await;
    assert!(shows(&response, "secret-tls-valid", "deny"), "{response}");
}
