//! One file per rule, named after its id. Each exports `SPEC` and is listed once in
//! `registry.rs`.

pub mod configmap_no_secrets;
pub mod configmap_size;
pub mod container_liveness_probe;
pub mod container_readiness_probe;
pub mod container_resources_limits;
pub mod container_resources_requests;
pub mod dedicated_service_account;
pub mod drop_all_capabilities;
pub mod env_secret_literal;
pub mod hpa_behavior;
pub mod hpa_replica_range;
pub mod image_pull_policy_mutable_tag;
pub mod image_tag_pinned;
pub mod ingress_class_name;
pub mod ingress_controller_annotations;
pub mod ingress_path_type;
pub mod ingress_tls;
pub mod netpol_egress_dns;
pub mod netpol_egress_policy_type;
pub mod no_default_namespace;
pub mod no_host_namespaces;
pub mod no_host_path;
pub mod no_privilege_escalation;
pub mod no_privileged;
pub mod pdb_allows_disruption;
pub mod pod_anti_affinity;
pub mod prestop_hook;
pub mod probes_distinct;
pub mod rbac_secrets_access;
pub mod rbac_wildcards;
pub mod read_only_root_filesystem;
pub mod recommended_labels;
pub mod replicas_minimum;
pub mod rolling_update_zero_downtime;
pub mod run_as_non_root;
pub mod secret_dockerconfig_valid;
pub mod secret_tls_valid;
pub mod service_type_internal;
pub mod termination_grace_covers_prestop;

// The rest of the Pod Security standard.
pub mod apparmor_not_unconfined;
pub mod no_host_ports;
pub mod no_host_process;
pub mod proc_mount_default;
pub mod seccomp_profile;
pub mod selinux_options_safe;
pub mod sysctls_safe;
pub mod volume_types_restricted;

pub mod automount_service_account_token;

// Offline and bundle rules.
pub mod config_rollout_checksum;
pub mod deprecated_api_version;
pub mod hpa_replicas_conflict;
pub mod hpa_target_requests;
pub mod hpa_target_unique;
pub mod ingress_backend_exists;
pub mod pdb_allows_disruption_bundle;
pub mod pdb_single_field;
pub mod secret_in_manifest;
pub mod secret_type_explicit;
pub mod selector_matches_template;
pub mod service_selector_matches;

#[cfg(test)]
pub(crate) mod testing {
    //! Builders and a runner for rule tests: build a small object, run one rule with its
    //! built-in parameters (or given ones), look at the fields it reports.

    use serde_json::{Value, json};

    use crate::engine::Policy;
    use crate::engine::bundle::{BundleIndex, Coverage};
    use crate::engine::policy::merge;
    use crate::engine::rule::{Context, Finding};
    use crate::engine::workload::{Kind, Object};

    /// Decodes a JSON object with `apiVersion` and `kind` into its typed form.
    pub fn object(value: Value) -> Object {
        let api_version = value["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        let kind = Kind::from_api_version(&api_version, &kind).expect("a known kind");
        Object::from_value(kind, value).expect("a valid object")
    }

    /// A Pod in namespace `shop` with the given spec.
    pub fn mk_pod(spec: Value) -> Object {
        object(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"}, "spec": spec}),
        )
    }

    /// A Deployment in namespace `shop` with the given replicas and pod spec.
    pub fn mk_deployment(replicas: i32, spec: Value) -> Object {
        object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}}
        }))
    }

    /// A CronJob in namespace `shop` with the given pod spec.
    pub fn mk_cronjob(spec: Value) -> Object {
        object(json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": "shop"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}}
        }))
    }

    /// A Secret in namespace `shop` of `type_`, with `data` given as plain text (encoded here).
    pub fn mk_secret(type_: &str, data: Value) -> Object {
        use base64::Engine as _;
        let encoded: serde_json::Map<String, Value> = data
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                let text = v.as_str().unwrap_or_default();
                let b64 = base64::engine::general_purpose::STANDARD.encode(text);
                (k.clone(), Value::String(b64))
            })
            .collect();
        object(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "web", "namespace": "shop"},
            "type": type_, "data": encoded
        }))
    }

    /// A ConfigMap in namespace `shop` with the given `data`.
    pub fn mk_configmap(data: Value) -> Object {
        object(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web", "namespace": "shop"}, "data": data
        }))
    }

    /// An object of `kind` (`apiVersion` from the catalog) named `web` in namespace `shop`, with
    /// `fields` laid over it (`spec`, `rules`, `metadata`, ...).
    pub fn mk(kind: Kind, fields: Value) -> Object {
        let mut value = json!({
            "apiVersion": kind.api_version(), "kind": kind.name(),
            "metadata": {"name": "web", "namespace": "shop"}
        });
        merge(&mut value, fields);
        object(value)
    }

    /// An Ingress in namespace `shop` with the given spec and annotations.
    pub fn mk_ingress(spec: Value, annotations: Value) -> Object {
        mk(
            Kind::Ingress,
            json!({"metadata": {"annotations": annotations}, "spec": spec}),
        )
    }

    /// Test-only private keys (see `tests/fixtures/tls/README.md`).
    pub mod keys {
        pub const RSA_PKCS8: &str = include_str!("../../../tests/fixtures/tls/rsa-2048.pkcs8.key");
        pub const RSA_PKCS1: &str = include_str!("../../../tests/fixtures/tls/rsa-2048.pkcs1.key");
        pub const RSA_ENCRYPTED: &str =
            include_str!("../../../tests/fixtures/tls/rsa-2048.encrypted.key");
        pub const RSA_OTHER: &str = include_str!("../../../tests/fixtures/tls/rsa-other.pkcs8.key");
        pub const P256_PKCS8: &str = include_str!("../../../tests/fixtures/tls/ec-p256.pkcs8.key");
        pub const P256_SEC1: &str = include_str!("../../../tests/fixtures/tls/ec-p256.sec1.key");
        pub const P384_PKCS8: &str = include_str!("../../../tests/fixtures/tls/ec-p384.pkcs8.key");
        pub const P384_SEC1: &str = include_str!("../../../tests/fixtures/tls/ec-p384.sec1.key");
        pub const P521_SEC1: &str = include_str!("../../../tests/fixtures/tls/ec-p521.sec1.key");
        pub const ED25519_PKCS8: &str =
            include_str!("../../../tests/fixtures/tls/ed25519.pkcs8.key");
    }

    /// The `now` every rule test runs at (2023-11-14).
    pub const NOW: i64 = 1_700_000_000;
    pub const DAY: i64 = 86_400;

    fn time(unix: i64) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(unix).expect("a valid time")
    }

    fn leaf_params(not_before: i64, not_after: i64) -> rcgen::CertificateParams {
        let mut params =
            rcgen::CertificateParams::new(vec!["shop.example.com".to_string()]).expect("params");
        params.not_before = time(not_before);
        params.not_after = time(not_after);
        params
    }

    /// A self-signed certificate for the PKCS#8 key `key_pem`, valid between two instants.
    pub fn mk_cert(key_pem: &str, not_before: i64, not_after: i64) -> String {
        let key = rcgen::KeyPair::from_pem(key_pem).expect("a PKCS#8 test key");
        leaf_params(not_before, not_after)
            .self_signed(&key)
            .expect("certificate")
            .pem()
    }

    /// A leaf for `key_pem` valid for a year around [`NOW`], signed by a fresh intermediate CA
    /// valid between two instants: `(leaf, intermediate)`.
    pub fn mk_chain(key_pem: &str, ca_not_before: i64, ca_not_after: i64) -> (String, String) {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca = rcgen::CertificateParams::default();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.not_before = time(ca_not_before);
        ca.not_after = time(ca_not_after);
        let ca_cert = ca.self_signed(&ca_key).expect("CA");
        let issuer = rcgen::Issuer::new(ca, &ca_key);
        let key = rcgen::KeyPair::from_pem(key_pem).expect("a PKCS#8 test key");
        let leaf = leaf_params(NOW - 180 * DAY, NOW + 180 * DAY)
            .signed_by(&key, &issuer)
            .expect("leaf");
        (leaf.pem(), ca_cert.pem())
    }

    /// A `kubernetes.io/tls` Secret with the given certificate chain and key PEM.
    pub fn mk_tls_secret(cert_pem: &str, key_pem: &str) -> Object {
        mk_secret(
            "kubernetes.io/tls",
            json!({"tls.crt": cert_pem, "tls.key": key_pem}),
        )
    }

    /// A pod spec with one container built from `container` (name `web` unless given).
    pub fn one(container: Value) -> Value {
        let mut c = json!({"name": "web", "image": "shop/web:1.0"});
        merge(&mut c, container);
        json!({"containers": [c]})
    }

    /// Runs rule `id` with its built-in params on `object`, in namespace `shop`.
    pub fn run(id: &str, object: &Object) -> Vec<Finding> {
        run_with(id, json!({}), object)
    }

    /// Runs rule `id` with `params` laid over its built-in params.
    pub fn run_with(id: &str, params: Value, object: &Object) -> Vec<Finding> {
        run_in(id, params, object, Some("shop"))
    }

    /// Runs rule `id`, switched on at `deny` (for rules the built-in policy leaves off).
    pub fn run_enabled(id: &str, object: &Object) -> Vec<Finding> {
        let text = format!(
            "apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  {id}: {{ action: deny }}\n"
        );
        let policy = Policy::layered("test.yaml", &text).expect("valid policy");
        run_policy(&policy, id, object, &Context::admission(Some("shop"), NOW))
    }

    /// Runs rule `id` with `params` in `namespace`.
    pub fn run_in(
        id: &str,
        params: Value,
        object: &Object,
        namespace: Option<&str>,
    ) -> Vec<Finding> {
        let text = format!(
            "apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  {id}:\n    params: {params}\n"
        );
        let policy = Policy::layered("test.yaml", &text).expect("valid params");
        run_policy(
            &policy,
            id,
            object,
            &Context::admission(namespace, 1_700_000_000),
        )
    }

    /// Runs rule `id` (and any bundle check of that id) of `policy` on `object` in `ctx`.
    pub fn run_policy(policy: &Policy, id: &str, object: &Object, ctx: &Context) -> Vec<Finding> {
        let rule = policy.active_rules().find(|r| r.spec.id == id);
        let checks: Vec<_> = policy
            .active_bundle_checks()
            .filter(|c| c.id == id)
            .collect();
        assert!(rule.is_some() || !checks.is_empty(), "{id} is active");
        let mut found = crate::engine::rule::Findings::new();
        if let Some(rule) = rule
            && rule.spec.applies_to(object.kind())
        {
            rule.check(object, ctx, &mut found);
        }
        if ctx.bundle.is_some() {
            for check in checks {
                if check.applies_to(object.kind()) {
                    (check.check)(object, ctx, &mut found);
                }
            }
        }
        let (mut out, _) = found.take();
        out.sort_by(|a, b| (a.rule, &a.field).cmp(&(b.rule, &b.field)));
        for f in &out {
            assert_eq!(f.rule, id);
            assert!(!f.message.is_empty());
        }
        out
    }

    /// Runs rule `id` with its built-in params on `object` read from a manifest written in
    /// `api_version`, with no other documents.
    pub fn run_manifest(id: &str, object: &Object, api_version: &str) -> Vec<Finding> {
        let policy = Policy::builtin();
        let namespace = object.meta().namespace.clone();
        let ctx = Context::manifest(namespace.as_deref(), Some(api_version), None, 1_700_000_000);
        run_policy(&policy, id, object, &ctx)
    }

    /// Runs rule `id` with its built-in params on `bundle[at]`, read from a manifest together
    /// with every object of `bundle`.
    pub fn run_bundle(id: &str, bundle: &[Object], at: usize) -> Vec<Finding> {
        let policy = Policy::builtin();
        let index = BundleIndex::from_objects(Coverage::Partial, bundle);
        let object = &bundle[at];
        let namespace = object.meta().namespace.clone();
        let api_version = object.kind().api_version();
        let ctx = Context::manifest(
            namespace.as_deref(),
            Some(&api_version),
            Some(&index),
            1_700_000_000,
        );
        run_policy(&policy, id, object, &ctx)
    }

    /// A Service in namespace `shop` selecting `selector`, with `ports`.
    pub fn mk_service(name: &str, selector: Value, ports: Value) -> Object {
        object(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"selector": selector, "ports": ports}}),
        )
    }

    /// An HPA in namespace `shop` scaling Deployment `target`, with `spec` laid over it.
    pub fn mk_hpa(name: &str, target: &str, spec: Value) -> Object {
        let mut full = json!({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}, "maxReplicas": 5});
        merge(&mut full, spec);
        object(
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": "shop"}, "spec": full}),
        )
    }

    /// The fields of the findings, for compact assertions.
    pub fn fields(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.field.as_str()).collect()
    }
}
