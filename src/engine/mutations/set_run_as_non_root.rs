//! `set-run-as-non-root`: a pod that says nothing about its user runs as a numeric non-root
//! user: `runAsNonRoot: true`, `runAsUser` and `runAsGroup` on the pod's securityContext.
//!
//! `runAsNonRoot` alone is not enough: the kubelet then has to read the user from the image,
//! and refuses to start an image that runs as root (postgres, redis) or whose `USER` is a name
//! (`CreateContainerConfigError`). A numeric user decides it for the kubelet. Pod-level values
//! reach only the containers that set none of their own, so containers that name a user keep
//! it; a pod where anything says `runAsUser: 0` or `runAsNonRoot: false` chose root on purpose
//! and is left to the validating rule, and so are Windows pods (no numeric users there).

use k8s_openapi::api::core::v1::{PodSpec, SecurityContext};
use serde::Deserialize;

use crate::engine::mutation::{Change, Mutation, MutationSpec, params, pod_to_mutate};
use crate::engine::rule::Context;
use crate::engine::workload::Object;
use crate::engine::workload::PodMut;

pub const ID: &str = "set-run-as-non-root";

pub static SPEC: MutationSpec = MutationSpec {
    id: ID,
    summary: "pod securityContext runAsNonRoot: true with a numeric runAsUser and runAsGroup (params, default 65532) when a container has no user of its own; never where anything says runAsUser: 0 or runAsNonRoot: false",
    why: "defense in depth: the process is not root, and a numeric user means the kubelet never has to refuse an image whose USER is root or a name",
    answers: "run-as-non-root",
    build: |v| {
        let p: Params = params(v)?;
        if p.run_as_user <= 0 || p.run_as_group < 0 {
            return Err(
                "runAsUser must be above 0 (a non-root uid) and runAsGroup 0 or above".into(),
            );
        }
        Ok(Box::new(SetRunAsNonRoot(p)))
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Params {
    /// The uid for containers without one (65532: `nonroot` in distroless and Chainguard images).
    run_as_user: i64,
    /// The primary gid that goes with it.
    run_as_group: i64,
}

struct SetRunAsNonRoot(Params);

/// The security contexts of every container of `spec`, in all three lists.
fn container_contexts(spec: &PodSpec) -> impl Iterator<Item = Option<&SecurityContext>> {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| c.security_context.as_ref())
        .chain(
            spec.ephemeral_containers
                .iter()
                .flatten()
                .map(|c| c.security_context.as_ref()),
        )
}

impl Mutation for SetRunAsNonRoot {
    fn apply(&self, object: &mut Object, ctx: &Context, changes: &mut Vec<Change>) {
        let Some(PodMut { spec, path, .. }) = pod_to_mutate(object, ctx) else {
            return;
        };
        let windows = spec.os.as_ref().is_some_and(|os| os.name == "windows")
            || spec
                .node_selector
                .as_ref()
                .is_some_and(|s| s.get("kubernetes.io/os").is_some_and(|os| os == "windows"))
            || spec
                .security_context
                .as_ref()
                .is_some_and(|s| s.windows_options.is_some())
            || container_contexts(spec)
                .flatten()
                .any(|s| s.windows_options.is_some());
        let pod = spec.security_context.as_ref();
        let chose_root =
            |user: Option<i64>, non_root: Option<bool>| user == Some(0) || non_root == Some(false);
        let pod_chose_root = pod.is_some_and(|s| chose_root(s.run_as_user, s.run_as_non_root));
        let container_chose_root = container_contexts(spec)
            .flatten()
            .any(|s| chose_root(s.run_as_user, s.run_as_non_root));
        let pod_user = pod.and_then(|s| s.run_as_user);
        // Only containers that name no user of their own get the pod's.
        let a_container_lacks_a_user =
            container_contexts(spec).any(|s| s.and_then(|s| s.run_as_user).is_none());
        if windows
            || pod_chose_root
            || container_chose_root
            || pod_user.is_some()
            || !a_container_lacks_a_user
        {
            return;
        }
        let context = spec.security_context.get_or_insert_default();
        let mut set = Vec::new();
        if context.run_as_non_root.is_none() {
            context.run_as_non_root = Some(true);
            set.push("runAsNonRoot: true".to_string());
        }
        context.run_as_user = Some(self.0.run_as_user);
        set.push(format!("runAsUser: {}", self.0.run_as_user));
        if context.run_as_group.is_none() {
            context.run_as_group = Some(self.0.run_as_group);
            set.push(format!("runAsGroup: {}", self.0.run_as_group));
        }
        changes.push(Change {
            mutation: ID,
            field: format!("{}.securityContext", path.field),
            message: format!(
                "set pod securityContext {} for containers without a user of their own",
                set.join(", ")
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mutations::testing::*;
    use serde_json::json;

    fn pod(extra: serde_json::Value) -> serde_json::Value {
        let mut spec =
            json!({"containers": [{"name": "web", "image": "ghcr.io/stefanprodan/podinfo:6.7.0"}]});
        crate::engine::policy::merge(&mut spec, extra);
        spec
    }

    #[test]
    fn a_pod_with_no_user_gets_run_as_non_root_a_numeric_user_and_group_on_every_kind() {
        for (input, pod_at, _) in workloads(pod(json!({}))) {
            let expected =
                at(
                    input.clone(),
                    pod_at,
                    |s| {
                        s["securityContext"] =
                            json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532})
                    },
                );
            assert_mutates(ID, json!({}), input, expected);
        }
    }

    #[test]
    fn keeps_what_the_pod_already_says_and_takes_the_ids_from_params() {
        let spec = pod(
            json!({"securityContext": {"fsGroup": 2000, "runAsNonRoot": true, "runAsGroup": 3000}}),
        );
        let (input, pod_at, _) = workloads(spec).remove(1);
        let expected = at(input.clone(), pod_at, |s| {
            s["securityContext"]["runAsUser"] = json!(10001)
        });
        assert_mutates(
            ID,
            json!({"runAsUser": 10001, "runAsGroup": 10001}),
            input,
            expected,
        );
    }

    #[test]
    fn containers_that_name_their_user_keep_it_and_the_others_get_the_pods() {
        let spec = json!({"containers": [
            {"name": "web", "image": "w:1", "securityContext": {"runAsUser": 1000}},
            {"name": "sidecar", "image": "s:1"}
        ]});
        let (input, pod_at, _) = workloads(spec).remove(1);
        let expected =
            at(
                input.clone(),
                pod_at,
                |s| {
                    s["securityContext"] =
                        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532})
                },
            );
        assert_mutates(ID, json!({}), input, expected);
        // Every container names its user: nothing to decide.
        let named = json!({"containers": [{"name": "web", "image": "w:1", "securityContext": {"runAsUser": 1000}}]});
        for (input, _, _) in workloads(named) {
            assert_mutates(ID, json!({}), input.clone(), input);
        }
    }

    #[test]
    fn a_root_uid_in_params_is_refused() {
        let text = "apiVersion: bulwark.dev/v1\nkind: Policy\nmutations:\n  set-run-as-non-root: { enabled: true, params: { runAsUser: 0 } }\n";
        let err = crate::engine::Policy::layered("p.yaml", text).expect_err("uid 0 is root");
        assert!(err.message.contains("runAsUser must be above 0"), "{err}");
    }

    #[test]
    fn never_touches_a_pod_that_chose_root_or_a_user() {
        let cases = [
            json!({"securityContext": {"runAsNonRoot": false}, "containers": [{"name": "web", "image": "w:1"}]}),
            json!({"securityContext": {"runAsUser": 0}, "containers": [{"name": "web", "image": "w:1"}]}),
            json!({"securityContext": {"runAsUser": 999}, "containers": [{"name": "web", "image": "w:1"}]}),
            json!({"containers": [{"name": "web", "image": "w:1", "securityContext": {"runAsNonRoot": false}}]}),
            json!({"containers": [{"name": "db", "image": "postgres:16", "securityContext": {"runAsUser": 0}}, {"name": "exporter", "image": "e:1"}]}),
            json!({"initContainers": [{"name": "chown", "image": "busybox:1", "securityContext": {"runAsUser": 0}}], "containers": [{"name": "web", "image": "w:1"}]}),
            json!({"os": {"name": "windows"}, "containers": [{"name": "web", "image": "w:1"}]}),
            json!({"nodeSelector": {"kubernetes.io/os": "windows"}, "containers": [{"name": "web", "image": "w:1"}]}),
            json!({"containers": [{"name": "web", "image": "w:1", "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}}}]}),
        ];
        for spec in cases {
            for (input, _, _) in workloads(spec.clone()) {
                assert_mutates(ID, json!({}), input.clone(), input);
            }
        }
    }
}
