//! The validating webhook over real TLS: every rule fails and passes on a Pod and on a
//! controller kind, and the answer (deny, warning, audit annotation) follows the policy.

use crate::common::*;
use bulwark::engine::{Kind, Policy};
use serde_json::{Value, json};

/// One way to break exactly one rule: JSON Patch ops where `{pod}` stands for the pod spec.
struct Breakage {
    rule: &'static str,
    /// Kinds to try it on (the rule applies to all of them).
    kinds: &'static [&'static str],
    ops: Value,
    namespace: Option<&'static str>,
}

fn breakages() -> Vec<Breakage> {
    let all: &[&str] = &["Pod", "Deployment", "CronJob"];
    let serving: &[&str] = &["Pod", "Deployment"];
    let controllers: &[&str] = &["Deployment"];
    let b = |rule, kinds, ops: Value| Breakage {
        rule,
        kinds,
        ops,
        namespace: None,
    };
    vec![
        b(
            "container-resources-requests",
            all,
            json!([{"op": "remove", "path": "{pod}/containers/0/resources/requests"}, {"op": "remove", "path": "{pod}/containers/0/resources/limits/cpu"}]),
        ),
        b(
            "container-resources-limits",
            all,
            json!([{"op": "remove", "path": "{pod}/containers/0/resources/limits"}]),
        ),
        b(
            "container-liveness-probe",
            serving,
            json!([{"op": "remove", "path": "{pod}/containers/0/livenessProbe"}]),
        ),
        b(
            "container-readiness-probe",
            serving,
            json!([{"op": "remove", "path": "{pod}/containers/0/readinessProbe"}]),
        ),
        b(
            "probes-distinct",
            all,
            json!([{"op": "replace", "path": "{pod}/containers/0/readinessProbe/httpGet/path", "value": "/livez"}]),
        ),
        b(
            "image-tag-pinned",
            all,
            json!([{"op": "replace", "path": "{pod}/containers/0/image", "value": "registry.example.com/shop/checkout:latest"}, {"op": "add", "path": "{pod}/containers/0/imagePullPolicy", "value": "Always"}]),
        ),
        b(
            "image-pull-policy-mutable-tag",
            all,
            json!([{"op": "replace", "path": "{pod}/containers/0/image", "value": "registry.example.com/shop/checkout:latest"}, {"op": "add", "path": "{pod}/containers/0/imagePullPolicy", "value": "IfNotPresent"}]),
        ),
        b(
            "run-as-non-root",
            all,
            json!([{"op": "remove", "path": "{pod}/securityContext/runAsNonRoot"}, {"op": "remove", "path": "{pod}/securityContext/runAsUser"}]),
        ),
        b(
            "no-privileged",
            all,
            json!([{"op": "add", "path": "{pod}/containers/0/securityContext/privileged", "value": true}]),
        ),
        b(
            "no-privilege-escalation",
            all,
            json!([{"op": "remove", "path": "{pod}/containers/0/securityContext/allowPrivilegeEscalation"}]),
        ),
        b(
            "drop-all-capabilities",
            all,
            json!([{"op": "replace", "path": "{pod}/containers/0/securityContext/capabilities", "value": {"add": ["SYS_ADMIN"]}}]),
        ),
        b(
            "read-only-root-filesystem",
            all,
            json!([{"op": "remove", "path": "{pod}/containers/0/securityContext/readOnlyRootFilesystem"}]),
        ),
        b(
            "no-host-namespaces",
            all,
            json!([{"op": "add", "path": "{pod}/hostNetwork", "value": true}]),
        ),
        b(
            "no-host-path",
            all,
            json!([{"op": "add", "path": "{pod}/volumes", "value": [{"name": "host", "hostPath": {"path": "/var/run"}}]}]),
        ),
        b(
            "no-host-ports",
            all,
            json!([{"op": "add", "path": "{pod}/containers/0/ports/0/hostPort", "value": 8080}]),
        ),
        b(
            "no-host-process",
            all,
            json!([{"op": "add", "path": "{pod}/containers/0/securityContext/windowsOptions", "value": {"hostProcess": true}}]),
        ),
        b(
            "proc-mount-default",
            all,
            json!([{"op": "add", "path": "{pod}/containers/0/securityContext/procMount", "value": "Unmasked"}]),
        ),
        b(
            "sysctls-safe",
            all,
            json!([{"op": "add", "path": "{pod}/securityContext/sysctls", "value": [{"name": "kernel.msgmax", "value": "65536"}]}]),
        ),
        b(
            "selinux-options-safe",
            all,
            json!([{"op": "add", "path": "{pod}/securityContext/seLinuxOptions", "value": {"type": "spc_t"}}]),
        ),
        b(
            "apparmor-not-unconfined",
            all,
            json!([{"op": "add", "path": "{pod}/containers/0/securityContext/appArmorProfile", "value": {"type": "Unconfined"}}]),
        ),
        b(
            "seccomp-profile",
            all,
            json!([{"op": "remove", "path": "{pod}/securityContext/seccompProfile"}]),
        ),
        b(
            "volume-types-restricted",
            all,
            json!([{"op": "add", "path": "{pod}/volumes", "value": [{"name": "share", "nfs": {"server": "nfs.example.com", "path": "/exports"}}]}]),
        ),
        b(
            "automount-service-account-token",
            all,
            json!([{"op": "remove", "path": "{pod}/serviceAccountName"}]),
        ),
        b(
            "replicas-minimum",
            controllers,
            json!([{"op": "replace", "path": "/spec/replicas", "value": 1}]),
        ),
        b(
            "rolling-update-zero-downtime",
            controllers,
            // One pod of the replicas out of service at a time (the default 25% resolves to
            // 0 pods for the compliant object's few replicas, which keeps full capacity).
            json!([{"op": "replace", "path": "/spec/strategy", "value": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}}]),
        ),
        b(
            "pod-anti-affinity",
            controllers,
            json!([{"op": "remove", "path": "{pod}/affinity"}]),
        ),
        b(
            "prestop-hook",
            serving,
            json!([{"op": "remove", "path": "{pod}/containers/0/lifecycle"}]),
        ),
        b(
            "termination-grace-covers-prestop",
            all,
            json!([{"op": "replace", "path": "{pod}/terminationGracePeriodSeconds", "value": 12}]),
        ),
        b(
            "dedicated-service-account",
            all,
            json!([{"op": "remove", "path": "{pod}/serviceAccountName"}]),
        ),
        b(
            "env-secret-literal",
            all,
            json!([{"op": "replace", "path": "{pod}/containers/0/env/0", "value": {"name": "DB_PASSWORD", "value": "pa55word-literal"}}]),
        ),
        Breakage {
            rule: "no-default-namespace",
            kinds: all,
            ops: json!([{"op": "replace", "path": "/metadata/namespace", "value": "default"}]),
            namespace: Some("default"),
        },
        b(
            "recommended-labels",
            all,
            json!([{"op": "remove", "path": "/metadata/labels"}]),
        ),
    ]
}

fn compliant(kind: &str) -> Value {
    match kind {
        "Pod" => compliant_pod(),
        "Deployment" => compliant_deployment(),
        "CronJob" => compliant_cronjob(),
        other => panic!("no compliant {other}"),
    }
}

fn broken(kind: &str, breakage: &Breakage) -> Value {
    let mut object = compliant(kind);
    let pointer = pod_spec_pointer(&object);
    let ops = breakage.ops.to_string().replace("{pod}", pointer);
    let patch: json_patch::Patch = serde_json::from_str(&ops).expect("patch");
    json_patch::patch(&mut object, &patch)
        .unwrap_or_else(|e| panic!("{} on {kind}: {e}", breakage.rule));
    object
}

fn only_rule(response: &Value, rule: &str) {
    let text = response.to_string();
    // A limit counts as a request, so a missing request always comes with a missing limit; and
    // a mutable tag is also an unpinned one.
    let companion = |id: &str| {
        (rule == "container-resources-requests" && id == "container-resources-limits")
            || (rule == "image-pull-policy-mutable-tag" && id == "image-tag-pinned")
            // A pod without an account of its own runs as `default` and mounts its token.
            || (rule == "dedicated-service-account" && id == "automount-service-account-token")
            || (rule == "automount-service-account-token" && id == "dedicated-service-account")
    };
    for other in bulwark::engine::registry::RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| *id != rule && !companion(id))
    {
        assert!(
            !text.contains(&format!("[{other}]"))
                && response["auditAnnotations"].get(other).is_none(),
            "{rule} also fired {other}: {text}"
        );
    }
}

#[tokio::test]
async fn every_rule_fails_and_passes_on_a_pod_and_a_controller() {
    let server = TestServer::start(Policy::builtin()).await;
    let policy = Policy::builtin();
    let mut tried = std::collections::BTreeSet::new();
    for breakage in breakages() {
        let action = policy.action(breakage.rule).as_str();
        for kind in breakage.kinds {
            // Failing case: exactly this rule fires, with the built-in action.
            let object = broken(kind, &breakage);
            let response = server
                .validate(&review(
                    &object,
                    "CREATE",
                    breakage.namespace.or(Some("shop")),
                ))
                .await;
            if action == "off" {
                // Off in the built-in policy: silent here, judged in the next test.
                assert!(
                    !response
                        .to_string()
                        .contains(&format!("[{}]", breakage.rule)),
                    "{response}"
                );
            } else {
                assert!(
                    shows(&response, breakage.rule, action),
                    "{} on {kind} should {action}: {response}",
                    breakage.rule
                );
            }
            only_rule(&response, breakage.rule);
            // Passing case: the compliant object has no finding at all.
            let response = server
                .validate(&review(&compliant(kind), "CREATE", Some("shop")))
                .await;
            assert_eq!(response["allowed"], true);
            assert!(
                response.get("warnings").is_none() && response.get("auditAnnotations").is_none(),
                "{kind}: {response}"
            );
        }
        tried.insert(breakage.rule);
    }
    // Every admission rule that judges workloads has a case here (the workload and namespaced
    // tables); the other kinds have theirs in other_kinds_http.rs, and offline and bundle-only
    // rules, which never fire in the webhook, are tested through `check`.
    let admission = bulwark::engine::registry::RULES.iter().filter(|spec| {
        spec.sees.contains(&bulwark::engine::rule::Sees::Admission)
            && Kind::WORKLOADS.iter().any(|k| spec.applies_to(*k))
    });
    for spec in admission {
        assert!(tried.contains(spec.id), "no HTTP case for {}", spec.id);
    }
}

#[tokio::test]
async fn the_answer_follows_the_policy_file() {
    for action in ["deny", "warn", "audit"] {
        let mut text = String::from("apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n");
        for spec in bulwark::engine::registry::RULES {
            text.push_str(&format!("  {}: {{ action: {action} }}\n", spec.id));
        }
        let server = TestServer::start(Policy::layered("all.yaml", &text).expect("policy")).await;
        for breakage in breakages() {
            let kind = breakage.kinds[breakage.kinds.len() - 1];
            let response = server
                .validate(&review(
                    &broken(kind, &breakage),
                    "CREATE",
                    breakage.namespace.or(Some("shop")),
                ))
                .await;
            assert!(
                shows(&response, breakage.rule, action),
                "{} with action {action}: {response}",
                breakage.rule
            );
        }
    }
    // `off` silences a rule.
    let server = TestServer::start(Policy::layered("off.yaml", "apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  image-tag-pinned: { action: off }\n").expect("policy")).await;
    let object = broken(
        "Deployment",
        &breakages()
            .into_iter()
            .find(|b| b.rule == "image-tag-pinned")
            .expect("case"),
    );
    let response = server
        .validate(&review(&object, "CREATE", Some("shop")))
        .await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("warnings").is_none(), "{response}");
}

#[tokio::test]
async fn the_production_template_is_allowed_with_zero_findings() {
    let server = TestServer::start(Policy::builtin()).await;
    let response = server
        .validate(&review(&compliant_deployment(), "CREATE", Some("shop")))
        .await;
    assert_eq!(response["allowed"], true);
    assert!(
        response.get("status").is_none()
            && response.get("warnings").is_none()
            && response.get("auditAnnotations").is_none(),
        "{response}"
    );
}

#[tokio::test]
async fn a_denial_lists_every_denying_finding_with_its_reason() {
    let server = TestServer::start(Policy::builtin()).await;
    let mut object = compliant_deployment();
    object["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:latest");
    object["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] =
        json!(true);
    object["spec"]["replicas"] = json!(1);
    let response = server
        .validate(&review(&object, "CREATE", Some("shop")))
        .await;
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    let message = response["status"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("Deployment shop/checkout breaks 2 bulwark rules:"),
        "{message}"
    );
    assert!(
        message.contains("[image-tag-pinned] container checkout image `nginx:latest`"),
        "{message}"
    );
    assert!(
        message.contains("[no-privileged] container checkout is privileged"),
        "{message}"
    );
    assert!(message.contains("why: "), "{message}");
    let warnings = response["warnings"].as_array().expect("warnings");
    assert!(warnings.iter().any(|w| {
        w.as_str()
            .is_some_and(|w| w.starts_with("[replicas-minimum]"))
    }));
    assert!(
        warnings
            .iter()
            .all(|w| w.as_str().is_some_and(|w| w.chars().count() <= 251))
    );
}

#[tokio::test]
async fn audit_mode_never_denies_and_reports_what_it_would_deny() {
    let policy = Policy::builtin().with_mode(bulwark::engine::Mode::Audit);
    let server = TestServer::start(policy).await;
    let mut object = compliant_pod();
    object["spec"]["containers"][0]["image"] = json!("nginx");
    object["spec"]["hostPID"] = json!(true);
    let response = server
        .validate(&review(&object, "CREATE", Some("shop")))
        .await;
    assert_eq!(response["allowed"], true, "{response}");
    assert!(response.get("status").is_none());
    let warnings: Vec<&str> = response["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(warnings.contains(&"[would deny] [no-host-namespaces] the pod sets hostPID: true; remove it so the pod gets its own namespace"), "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("[would deny] [image-tag-pinned]"))
    );
    let annotations = &response["auditAnnotations"];
    assert!(
        annotations["image-tag-pinned"]
            .as_str()
            .is_some_and(|a| a.starts_with("would deny: spec.containers[checkout].image")),
        "{annotations}"
    );
    // A policy file can ask for audit mode too.
    let server = TestServer::start(
        Policy::layered(
            "p.yaml",
            "apiVersion: bulwark.dev/v1\nkind: Policy\nmode: audit\n",
        )
        .expect("policy"),
    )
    .await;
    assert_eq!(
        server
            .validate(&review(&object, "CREATE", Some("shop")))
            .await["allowed"],
        true
    );
}

#[tokio::test]
async fn an_update_keeps_old_violations_but_not_new_ones() {
    let server = TestServer::start(Policy::builtin()).await;
    let mut legacy = compliant_deployment();
    legacy["spec"]["template"]["spec"]["containers"][0]["image"] = json!("legacy:latest");
    // Scaling the legacy workload is allowed; the old violation comes back as a warning.
    let mut scaled = legacy.clone();
    scaled["spec"]["replicas"] = json!(5);
    let response = server
        .validate(&review_with_old(
            &scaled,
            Some(&legacy),
            "UPDATE",
            Some("shop"),
        ))
        .await;
    assert_eq!(response["allowed"], true, "{response}");
    assert!(
        response["warnings"]
            .to_string()
            .contains("[image-tag-pinned]")
    );
    // Adding a new violation in the same update is denied.
    let mut worse = scaled.clone();
    worse["spec"]["template"]["spec"]["hostNetwork"] = json!(true);
    let response = server
        .validate(&review_with_old(
            &worse,
            Some(&legacy),
            "UPDATE",
            Some("shop"),
        ))
        .await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().expect("message");
    assert!(
        message.contains("[no-host-namespaces]") && !message.contains("[image-tag-pinned]"),
        "{message}"
    );
    // The same object as a CREATE is denied for both.
    let response = server
        .validate(&review(&worse, "CREATE", Some("shop")))
        .await;
    assert!(
        response["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("[image-tag-pinned]"))
    );
}

#[tokio::test]
async fn exempt_namespaces_and_practice_annotations_are_honoured_and_recorded() {
    let server = TestServer::start(Policy::builtin()).await;
    let mut bad = compliant_pod();
    bad["spec"]["containers"][0]["image"] = json!("nginx:latest");
    bad["spec"]["hostNetwork"] = json!(true);
    assert_eq!(
        server.validate(&review(&bad, "CREATE", Some("shop"))).await["allowed"],
        false
    );

    let mut in_kube_system = bad.clone();
    in_kube_system["metadata"]["namespace"] = json!("kube-system");
    let response = server
        .validate(&review(&in_kube_system, "CREATE", Some("kube-system")))
        .await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("warnings").is_none());
    assert_eq!(
        response["auditAnnotations"]["exempted"],
        "image-tag-pinned (namespace), no-host-namespaces (namespace)"
    );

    // The annotation exempts the practice rule it names; the security rule still denies.
    let mut annotated = bad.clone();
    annotated["metadata"]["annotations"] = json!({"bulwark.dev/exempt": "image-tag-pinned"});
    let response = server
        .validate(&review(&annotated, "CREATE", Some("shop")))
        .await;
    let message = response["status"]["message"]
        .as_str()
        .expect("still denied");
    assert!(
        message.contains("[no-host-namespaces]") && !message.contains("[image-tag-pinned]"),
        "{message}"
    );
    assert_eq!(
        response["auditAnnotations"]["exempted"],
        "image-tag-pinned (annotation)"
    );
}

#[tokio::test]
async fn deletes_connects_and_uncovered_kinds_are_allowed_at_once() {
    let server = TestServer::start(Policy::builtin()).await;
    let mut bad = compliant_pod();
    bad["spec"]["hostNetwork"] = json!(true);
    let response = server.validate(&review(&bad, "DELETE", Some("shop"))).await;
    assert_eq!(response["allowed"], true);
    let mut connect = review(&bad, "CONNECT", Some("shop"));
    connect["request"]["object"] = json!({"kind": "PodExecOptions", "apiVersion": "v1"});
    assert_eq!(server.validate(&connect).await["allowed"], true);
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}, "spec": {"hostNetwork": true}});
    let response = server
        .validate(&review(&widget, "CREATE", Some("default")))
        .await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("warnings").is_none());
    // An old apiVersion is another kind: not judged by the webhook.
    let mut old = compliant_deployment();
    old["apiVersion"] = json!("extensions/v1beta1");
    assert_eq!(
        server.validate(&review(&old, "CREATE", Some("shop"))).await["allowed"],
        true
    );
}

#[tokio::test]
async fn v1beta1_reviews_get_v1beta1_answers() {
    let server = TestServer::start(Policy::builtin()).await;
    let mut request = review(&compliant_deployment(), "CREATE", Some("shop"));
    request["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let response = server.validate(&request).await;
    assert_eq!(response["allowed"], true);
}

#[tokio::test]
async fn an_object_that_does_not_decode_is_refused_with_the_kind_and_the_error() {
    let server = TestServer::start(Policy::builtin()).await;
    let mut object = compliant_deployment();
    object["spec"]["replicas"] = json!("three");
    let response = server
        .validate(&review(&object, "CREATE", Some("shop")))
        .await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().expect("message");
    assert!(
        message.contains("apps/v1 Deployment")
            && message.contains("spec.replicas")
            && message.contains("invalid type: string"),
        "{message}"
    );
    assert!(
        !message.contains("three"),
        "the value itself is not echoed: {message}"
    );
}

#[tokio::test]
async fn the_mutate_endpoint_answers_with_the_uid() {
    let server = TestServer::start(Policy::builtin()).await;
    let response = server
        .call(
            "/mutate",
            &review(&compliant_deployment(), "CREATE", Some("shop")),
        )
        .await;
    assert_eq!(response["allowed"], true);
}
