//! deploy/ is what users apply: every object decodes strictly into its Kubernetes type, the
//! Deployment obeys bulwark's own rules, and `bulwark certs` / `bulwark manifests` produce
//! what the README says.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use bulwark::audit::policy_report::ReportApi;
use bulwark::engine::Policy;
use bulwark::manifests::{Item, read_paths};
use bulwark::offline::check::run_paths;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Paths present in `original` but gone after a typed round trip: fields the type does not
/// know, which the API server would reject under strict field validation.
fn unknown_fields(original: &Value, round_trip: &Value, path: &str, out: &mut Vec<String>) {
    match (original, round_trip) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => unknown_fields(value, other, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                unknown_fields(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn strict<T: DeserializeOwned + Serialize>(value: &Value) -> Vec<String> {
    let typed: T =
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{}: {e}", value["kind"]));
    let back = serde_json::to_value(&typed).expect("serializes");
    let mut out = Vec::new();
    unknown_fields(value, &back, "", &mut out);
    out
}

fn all_documents(dir: &Path) -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for item in read_paths(&[dir.to_path_buf()]) {
        match item {
            Item::Object { source, raw, .. } => {
                docs.push((format!("{}:{}", source.file, source.line), raw))
            }
            Item::Skipped {
                source,
                raw: Some(raw),
                ..
            } => docs.push((format!("{}:{}", source.file, source.line), raw)),
            Item::Unread { source, raw, .. } => {
                docs.push((format!("{}:{}", source.file, source.line), *raw))
            }
            Item::Skipped { .. } => {}
            Item::Error { source, message } => panic!("{}:{}: {message}", source.file, source.line),
        }
    }
    docs
}

#[test]
fn the_strict_check_catches_a_misspelled_field() {
    let doc = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicaz": 3, "selector": {}, "template": {"spec": {"containers": [{"name": "c", "imagePullPolicyy": "Always"}]}}}});
    assert_eq!(
        strict::<Deployment>(&doc),
        [
            ".spec.replicaz",
            ".spec.template.spec.containers[0].imagePullPolicyy"
        ]
    );
}

#[test]
fn every_object_under_deploy_decodes_strictly_into_its_type() {
    let mut kinds = Vec::new();
    for (at, doc) in all_documents(&deploy_dir()) {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let unknown = match (
            doc["apiVersion"].as_str().unwrap_or_default(),
            kind.as_str(),
        ) {
            ("v1", "Namespace") => strict::<Namespace>(&doc),
            ("v1", "ServiceAccount") => strict::<ServiceAccount>(&doc),
            ("v1", "ConfigMap") => strict::<ConfigMap>(&doc),
            ("v1", "Service") => strict::<Service>(&doc),
            ("apps/v1", "Deployment") => strict::<Deployment>(&doc),
            ("batch/v1", "CronJob") => strict::<CronJob>(&doc),
            ("policy/v1", "PodDisruptionBudget") => strict::<PodDisruptionBudget>(&doc),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => strict::<ClusterRole>(&doc),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                strict::<ClusterRoleBinding>(&doc)
            }
            ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => {
                strict::<ValidatingWebhookConfiguration>(&doc)
            }
            ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => {
                strict::<MutatingWebhookConfiguration>(&doc)
            }
            ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy") => {
                strict::<ValidatingAdmissionPolicy>(&doc)
            }
            ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding") => {
                strict::<ValidatingAdmissionPolicyBinding>(&doc)
            }
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                strict::<CustomResourceDefinition>(&doc)
            }
            // kustomize's own files and cert-manager's kinds have no k8s-openapi type.
            ("kustomize.config.k8s.io/v1beta1", "Kustomization")
            | ("kustomize.config.k8s.io/v1alpha1", "Component")
            | ("cert-manager.io/v1", "Issuer" | "Certificate") => Vec::new(),
            (api_version, kind) => panic!("{at}: no strict check for {api_version} {kind}"),
        };
        assert!(unknown.is_empty(), "{at}: unknown fields {unknown:?}");
        kinds.push(kind);
    }
    for expected in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "deploy/ has no {expected}"
        );
    }
}

#[test]
fn the_deploy_objects_obey_bulwarks_own_rules_even_without_exemptions() {
    // bulwark-system is exempt by default; judge it anyway, with the bundle rules across the
    // whole set (the Service selects the Deployment's pods, the PDB leaves room to drain).
    let policy = Policy::layered(
        "strict.yaml",
        "apiVersion: bulwark.dev/v1\nkind: Policy\nexemptions:\n  namespaces: []\n",
    )
    .expect("policy");
    let report = run_paths(&policy, &[deploy_dir()], 1_700_000_000);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(report.findings.is_empty(), "{}", report.to_json());
    assert!(
        report.objects.len() >= 7,
        "only {} objects judged",
        report.objects.len()
    );
}

#[test]
fn bulwark_check_on_deploy_reports_nothing() {
    let deploy = deploy_dir();
    let out = bulwark(&[
        "check",
        "-f",
        deploy.to_str().expect("path"),
        "--fail-on",
        "warn",
        "--output",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["findings"], serde_json::json!([]));
    assert_eq!(report["errors"], serde_json::json!([]));
}

fn bulwark(args: &[&str]) -> std::process::Output {
    crate::common::bulwark_cli(args, None)
}

#[test]
fn certs_names_the_service_and_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf-8 path");
    let first = bulwark(&[
        "certs",
        "--service",
        "bulwark",
        "--namespace",
        "admission",
        "--out",
        out,
    ]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let cert = std::fs::read(dir.path().join("tls.crt")).expect("tls.crt");
    let der = rustls::pki_types::CertificateDer::from(pem_body(&cert));
    let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).expect("x509");
    let san = parsed
        .subject_alternative_name()
        .expect("ext")
        .expect("san");
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "DNSName(bulwark)",
            "DNSName(bulwark.admission)",
            "DNSName(bulwark.admission.svc)",
            "DNSName(bulwark.admission.svc.cluster.local)"
        ]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("tls.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private keys are not readable by others");
    }

    let again = bulwark(&[
        "certs",
        "--service",
        "bulwark",
        "--namespace",
        "admission",
        "--out",
        out,
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(
        std::fs::read(dir.path().join("tls.crt")).expect("unchanged"),
        cert
    );

    for key_type in ["ecdsa-p384", "ed25519"] {
        let forced = bulwark(&[
            "certs",
            "--service",
            "bulwark",
            "--namespace",
            "admission",
            "--out",
            out,
            "--force",
            "--key-type",
            key_type,
            "--days",
            "30",
        ]);
        assert!(forced.status.success(), "{key_type}");
        assert_ne!(
            std::fs::read(dir.path().join("tls.crt")).expect("replaced"),
            cert
        );
    }
}

fn pem_body(pem: &[u8]) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::from_pem_slice(pem)
        .expect("pem")
        .to_vec()
}

#[test]
fn manifests_fill_in_the_exact_ca_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf-8 path");
    assert!(bulwark(&["certs", "--out", out]).status.success());
    let ca_path = dir.path().join("ca.crt");
    let rendered = bulwark(&["manifests", "--ca", ca_path.to_str().expect("path")]);
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let docs: Vec<Value> =
        serde_saphyr::from_multiple::<Value>(&String::from_utf8_lossy(&rendered.stdout))
            .expect("yaml")
            .into_iter()
            .filter(|d| !d.is_null())
            .collect();
    let expected =
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&ca_path).expect("ca"));
    let webhooks: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            d["kind"]
                .as_str()
                .is_some_and(|k| k.ends_with("WebhookConfiguration"))
        })
        .collect();
    assert_eq!(webhooks.len(), 2);
    for config in webhooks {
        assert_eq!(
            config["webhooks"][0]["clientConfig"]["caBundle"],
            expected.as_str()
        );
        assert_eq!(config["webhooks"][0]["sideEffects"], "None");
        assert_eq!(
            config["webhooks"][0]["admissionReviewVersions"],
            serde_json::json!(["v1"])
        );
        assert!(
            config["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("bulwark"))
        );
    }
    assert!(docs.iter().any(|d| d["kind"] == "Deployment"));
    let missing = bulwark(&["manifests", "--ca", "/nonexistent/ca.crt"]);
    assert!(!missing.status.success());
}

#[test]
fn the_audit_role_grants_exactly_what_bulwark_audit_uses() {
    use std::collections::BTreeSet;
    let docs = all_documents(&deploy_dir().join("audit.yaml"));
    let role = docs
        .iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == "ClusterRole")
        .expect("the audit ClusterRole");
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        for group in rule["apiGroups"].as_array().expect("groups") {
            for resource in rule["resources"].as_array().expect("resources") {
                for verb in rule["verbs"].as_array().expect("verbs") {
                    granted.insert(format!(
                        "{}/{}:{}",
                        group.as_str().unwrap_or_default(),
                        resource.as_str().unwrap_or_default(),
                        verb.as_str().unwrap_or_default()
                    ));
                }
            }
        }
    }
    // What the audit does: list every kind it judges, and list, read, create and apply its reports.
    let mut needed: BTreeSet<String> = bulwark::engine::Kind::ALL
        .iter()
        .map(|k| format!("{}/{}:list", k.group(), k.plural()))
        .collect();
    for api in [ReportApi::Wgpolicyk8s, ReportApi::Openreports] {
        for resource in [api.plural(true), api.plural(false)] {
            for verb in ["list", "get", "create", "patch"] {
                needed.insert(format!("{}/{resource}:{verb}", api.group()));
            }
        }
    }
    assert_eq!(granted, needed);
}

#[test]
fn the_webhooks_ask_for_exactly_the_subresources_bulwark_judges() {
    use std::collections::BTreeSet;
    let docs = all_documents(&deploy_dir().join("webhooks.yaml"));
    let subresources = |kind: &str| -> BTreeSet<String> {
        let config = docs
            .iter()
            .map(|(_, d)| d)
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} in deploy/webhooks.yaml"));
        let mut found = BTreeSet::new();
        for webhook in config["webhooks"].as_array().expect("webhooks") {
            for rule in webhook["rules"].as_array().expect("rules") {
                for resource in rule["resources"].as_array().expect("resources") {
                    let resource = resource.as_str().expect("a resource name");
                    if resource.contains('/') {
                        found.insert(resource.to_string());
                    }
                }
            }
        }
        found
    };
    let judged: BTreeSet<String> = bulwark::engine::admission::JUDGED_SUBRESOURCES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(!judged.is_empty());
    assert_eq!(subresources("ValidatingWebhookConfiguration"), judged);
    // Mutations never patch a subresource.
    assert!(subresources("MutatingWebhookConfiguration").is_empty());
}

#[test]
fn the_report_crds_accept_what_bulwark_audit_writes_in_both_apis() {
    use bulwark::audit::cluster::Listed;
    use bulwark::audit::policy_report::{MAX_RESULTS, render};
    use bulwark::engine::Kind;
    let deployment = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web:latest"}]}}}});
    let role = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "everything"}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]});
    let report = bulwark::audit::judge(
        &Policy::builtin(),
        vec![
            Listed {
                kind: Kind::Deployment,
                raw: deployment,
            },
            Listed {
                kind: Kind::ClusterRole,
                raw: role,
            },
        ],
        Vec::new(),
        1_700_000_000,
    );
    for (file, api) in [
        ("policyreports.yaml", ReportApi::Wgpolicyk8s),
        ("openreports.yaml", ReportApi::Openreports),
    ] {
        let crds: Vec<Value> = all_documents(&deploy_dir().join("crds").join(file))
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        let rendered = render(&report, api, 1_700_000_000, MAX_RESULTS);
        assert_eq!(rendered.len(), 2, "a namespaced and a cluster-wide report");
        for r in &rendered {
            let namespaced = r.namespace.is_some();
            let crd = crds
                .iter()
                .find(|c| c["spec"]["names"]["kind"] == api.kind(namespaced))
                .unwrap_or_else(|| panic!("{file} defines {}", api.kind(namespaced)));
            assert_eq!(crd["spec"]["group"], api.group());
            assert_eq!(crd["spec"]["names"]["plural"], api.plural(namespaced));
            assert_eq!(
                crd["spec"]["scope"],
                if namespaced { "Namespaced" } else { "Cluster" }
            );
            let version = &crd["spec"]["versions"][0];
            assert_eq!(version["name"], api.version());
            let columns: Vec<&str> = version["additionalPrinterColumns"]
                .as_array()
                .expect("printer columns")
                .iter()
                .filter_map(|c| c["name"].as_str())
                .collect();
            for column in ["Pass", "Fail", "Warn", "Error", "Skip", "Age"] {
                assert!(columns.contains(&column), "{file}: {column}");
            }
            let validator =
                jsonschema::validator_for(&version["schema"]["openAPIV3Schema"]).expect("schema");
            let errors: Vec<String> = validator
                .iter_errors(&r.body)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{file}: {errors:?}");
            assert!(!r.body["results"].as_array().expect("results").is_empty());
            // The schema does hold the writer to something.
            let mut wrong = r.body.clone();
            wrong["results"][0]["result"] = "broken".into();
            assert!(validator.iter_errors(&wrong).next().is_some(), "{file}");
        }
    }
}

#[test]
fn deploy_vap_holds_the_policies_of_the_built_in_policy() {
    let committed = std::fs::read_to_string(deploy_dir().join("vap/policies.yaml"))
        .expect("deploy/vap/policies.yaml");
    assert_eq!(
        committed,
        bulwark::vap::render(&Policy::builtin()),
        "deploy/vap/policies.yaml is stale; regenerate it with:\n    cargo run -- vap > deploy/vap/policies.yaml"
    );
    let kustomization = std::fs::read_to_string(deploy_dir().join("vap/kustomization.yaml"))
        .expect("deploy/vap/kustomization.yaml");
    assert!(kustomization.contains("kind: Component") && kustomization.contains("- policies.yaml"));
}
