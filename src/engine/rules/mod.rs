//! One file per rule, named after its id. Each exports `SPEC` and is listed once in
//! `registry.rs`.

pub mod container_liveness_probe;
pub mod container_readiness_probe;
pub mod container_resources_limits;
pub mod container_resources_requests;
pub mod dedicated_service_account;
pub mod drop_all_capabilities;
pub mod env_secret_literal;
pub mod image_pull_policy_mutable_tag;
pub mod image_tag_pinned;
pub mod no_default_namespace;
pub mod no_host_namespaces;
pub mod no_host_path;
pub mod no_privilege_escalation;
pub mod no_privileged;
pub mod pod_anti_affinity;
pub mod prestop_hook;
pub mod probes_distinct;
pub mod read_only_root_filesystem;
pub mod recommended_labels;
pub mod replicas_minimum;
pub mod rolling_update_zero_downtime;
pub mod run_as_non_root;
pub mod termination_grace_covers_prestop;

// Offline and bundle rules.
pub mod config_rollout_checksum;
pub mod deprecated_api_version;
pub mod hpa_replicas_conflict;
pub mod hpa_target_requests;
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

    use crate::engine::bundle::{BundleIndex, Coverage};
    use crate::engine::policy::merge;
    use crate::engine::{Context, Finding, Kind, Object, Policy};

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
        let mut out = Vec::new();
        if let Some(rule) = rule
            && rule.spec.applies_to(object.kind())
        {
            rule.check(object, ctx, &mut out);
        }
        if ctx.bundle.is_some() {
            for check in checks {
                if check.applies_to(object.kind()) {
                    (check.check)(object, ctx, &mut out);
                }
            }
        }
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
