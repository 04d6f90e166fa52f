//! Mutations: safe defaults added to objects, as pure functions over typed objects.
//!
//! Each mutation only adds what is missing (one documented exception: `set-image-pull-policy`)
//! and is idempotent. `admission::mutate` applies the enabled ones in the fixed order of
//! [`MUTATIONS`] to a copy, then computes the JSON Patch by diffing the typed object before and
//! after, never the raw request JSON: fields the compiled k8s-openapi version does not know are
//! therefore never touched (they are absent on both sides of the diff).

pub mod add_prestop_hook;
pub mod add_recommended_labels;
pub mod add_resource_requests;
pub mod set_image_pull_policy;
pub mod set_run_as_non_root;

use super::mutation::MutationSpec;

/// Every mutation, in the order they are applied.
pub static MUTATIONS: &[&MutationSpec] = &[
    &add_resource_requests::SPEC,
    &set_run_as_non_root::SPEC,
    &add_prestop_hook::SPEC,
    &add_recommended_labels::SPEC,
    &set_image_pull_policy::SPEC,
];

pub fn mutation(id: &str) -> Option<&'static MutationSpec> {
    MUTATIONS.iter().copied().find(|m| m.id == id)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Runs one mutation alone and checks the two properties every mutation must have: the
    //! patch applied to the input JSON gives exactly the expected object, and a second pass
    //! over the result changes nothing.

    use serde_json::Value;

    use crate::engine::Policy;
    use crate::engine::admission::Review;
    use crate::engine::rule::{Context, Operation};
    use crate::engine::rules::testing::object;
    use crate::engine::workload::Object;

    /// A policy with only mutation `id` enabled, with `params` over its defaults.
    pub fn policy_with(id: &str, params: Value) -> Policy {
        let mut text = String::from("apiVersion: bulwark.dev/v1\nkind: Policy\nmutations:\n");
        for spec in super::MUTATIONS {
            if spec.id == id {
                text.push_str(&format!("  {id}: {{ enabled: true, params: {params} }}\n"));
            } else {
                text.push_str(&format!("  {}: {{ enabled: false }}\n", spec.id));
            }
        }
        Policy::layered("test.yaml", &text).expect("valid policy")
    }

    /// Mutates `input` with mutation `id` and asserts the patch gives `expected` and a second
    /// pass is empty. Returns the mutated JSON.
    pub fn assert_mutates(id: &str, params: Value, input: Value, expected: Value) -> Value {
        assert_mutates_in(id, params, input, expected, Operation::Create)
    }

    pub fn assert_mutates_in(
        id: &str,
        params: Value,
        input: Value,
        expected: Value,
        operation: Operation,
    ) -> Value {
        let policy = policy_with(id, params);
        let obj: Object = object(input.clone());
        let ctx = Context {
            operation,
            ..Context::admission(Some("shop"), 1_700_000_000)
        };
        let first = crate::engine::admission::mutate(&policy, &Review::of(&obj), &ctx);
        let mut patched = input.clone();
        json_patch::patch(&mut patched, &first.patch).expect("the patch applies");
        assert_eq!(
            patched,
            expected,
            "patch: {}",
            serde_json::to_string(&first.patch).unwrap_or_default()
        );
        assert_eq!(
            first.changes.is_empty(),
            first.patch.0.is_empty(),
            "changes are reported exactly when the object changes"
        );
        let again_obj = object(patched.clone());
        let again = crate::engine::admission::mutate(&policy, &Review::of(&again_obj), &ctx);
        assert!(
            again.patch.0.is_empty() && again.changes.is_empty(),
            "second pass: {:?}",
            again.patch
        );
        patched
    }

    /// The JSON Patch paths a mutation produces on `input`.
    pub fn patch_paths(id: &str, params: Value, input: Value) -> Vec<String> {
        let policy = policy_with(id, params);
        let ctx = Context::admission(Some("shop"), 1_700_000_000);
        let obj = object(input);
        let mutated = crate::engine::admission::mutate(&policy, &Review::of(&obj), &ctx);
        mutated
            .patch
            .0
            .iter()
            .map(|op| op.path().to_string())
            .collect()
    }

    /// `value` with `f` applied to what `pointer` points at.
    pub fn at(mut value: Value, pointer: &str, f: impl FnOnce(&mut Value)) -> Value {
        f(value.pointer_mut(pointer).expect("pointer exists"));
        value
    }

    /// The six workload kinds the mutations are tested on, each wrapping `pod_spec`, with the
    /// JSON pointer of the pod spec and of the pod template metadata.
    pub fn workloads(pod_spec: Value) -> Vec<(Value, &'static str, &'static str)> {
        let meta = serde_json::json!({"name": "web", "namespace": "shop"});
        let template =
            serde_json::json!({"metadata": {"labels": {"app": "web"}}, "spec": pod_spec});
        let selector = serde_json::json!({"matchLabels": {"app": "web"}});
        vec![
            (
                serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}}, "spec": pod_spec}),
                "/spec",
                "/metadata",
            ),
            (
                serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {"replicas": 3, "selector": selector, "template": template}}),
                "/spec/template/spec",
                "/spec/template/metadata",
            ),
            (
                serde_json::json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": {"serviceName": "web", "selector": selector, "template": template}}),
                "/spec/template/spec",
                "/spec/template/metadata",
            ),
            (
                serde_json::json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta, "spec": {"selector": selector, "template": template}}),
                "/spec/template/spec",
                "/spec/template/metadata",
            ),
            (
                serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {"template": template}}),
                "/spec/template/spec",
                "/spec/template/metadata",
            ),
            (
                serde_json::json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}),
                "/spec/jobTemplate/spec/template/spec",
                "/spec/jobTemplate/spec/template/metadata",
            ),
        ]
    }
}
