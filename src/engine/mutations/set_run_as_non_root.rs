//! `set-run-as-non-root`: `securityContext.runAsNonRoot: true` on the pod when nothing in the
//! pod says who it runs as.

use crate::engine::mutation::{Change, Mutation, MutationSpec, pod_to_mutate};
use crate::engine::rule::Context;
use crate::engine::workload::Object;
use crate::engine::workload::PodMut;

pub const ID: &str = "set-run-as-non-root";

pub static SPEC: MutationSpec = MutationSpec {
    id: ID,
    summary: "pod securityContext.runAsNonRoot: true when neither the pod nor any container sets runAsNonRoot or runAsUser",
    why: "defense in depth: the kubelet then refuses to start an image that would run as root",
    answers: "run-as-non-root",
    build: |_| Ok(Box::new(SetRunAsNonRoot)),
};

struct SetRunAsNonRoot;

impl Mutation for SetRunAsNonRoot {
    fn apply(&self, object: &mut Object, ctx: &Context, changes: &mut Vec<Change>) {
        let Some(PodMut { spec, path, .. }) = pod_to_mutate(object, ctx) else {
            return;
        };
        let pod_says = spec
            .security_context
            .as_ref()
            .is_some_and(|s| s.run_as_non_root.is_some() || s.run_as_user.is_some());
        let says = |sc: Option<&k8s_openapi::api::core::v1::SecurityContext>| {
            sc.is_some_and(|s| s.run_as_non_root.is_some() || s.run_as_user.is_some())
        };
        let a_container_says = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .any(|c| says(c.security_context.as_ref()))
            || spec
                .ephemeral_containers
                .iter()
                .flatten()
                .any(|c| says(c.security_context.as_ref()));
        // Any explicit choice, even runAsNonRoot: false, is the user's to make.
        if pod_says || a_container_says {
            return;
        }
        spec.security_context
            .get_or_insert_default()
            .run_as_non_root = Some(true);
        changes.push(Change {
            mutation: ID,
            field: format!("{}.securityContext.runAsNonRoot", path.field),
            message: "set pod securityContext.runAsNonRoot: true".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mutations::testing::*;
    use serde_json::json;

    #[test]
    fn sets_run_as_non_root_on_every_workload_kind_and_creates_the_context() {
        for (input, pod, _) in workloads(json!({"containers": [{"name": "web", "image": "w:1"}]})) {
            let expected = at(input.clone(), pod, |s| {
                s["securityContext"] = json!({"runAsNonRoot": true})
            });
            assert_mutates(ID, json!({}), input, expected);
        }
        // An existing pod securityContext gains the field.
        for (input, pod, _) in workloads(
            json!({"securityContext": {"fsGroup": 2000}, "containers": [{"name": "web", "image": "w:1"}]}),
        ) {
            let expected = at(input.clone(), pod, |s| {
                s["securityContext"]["runAsNonRoot"] = json!(true)
            });
            assert_mutates(ID, json!({}), input, expected);
        }
    }

    #[test]
    fn never_overrides_an_explicit_choice() {
        let cases = [
            json!({"securityContext": {"runAsNonRoot": false}, "containers": [{"name": "web", "image": "w:1"}]}),
            json!({"securityContext": {"runAsUser": 0}, "containers": [{"name": "web", "image": "w:1"}]}),
            json!({"containers": [{"name": "web", "image": "w:1", "securityContext": {"runAsNonRoot": false}}]}),
            json!({"initContainers": [{"name": "i", "image": "i:1", "securityContext": {"runAsUser": 1000}}], "containers": [{"name": "web", "image": "w:1"}]}),
        ];
        for spec in cases {
            for (input, _, _) in workloads(spec.clone()) {
                assert_mutates(ID, json!({}), input.clone(), input);
            }
        }
    }
}
