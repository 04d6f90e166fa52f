//! `set-image-pull-policy`: `Always` for mutable tags, `IfNotPresent` for digests.
//!
//! The one mutation that changes a value already there: at admission a defaulted
//! `IfNotPresent` cannot be told from one the user wrote, and `IfNotPresent` on a mutable tag
//! is exactly the mistake the deployment guide warns about. `Never` and any policy on a pinned
//! tag are left as they are.

use serde::Deserialize;

use crate::engine::image::ImageRef;
use crate::engine::mutation::{Change, Mutation, MutationSpec, params, pod_to_mutate};
use crate::engine::rule::Context;
use crate::engine::workload::Object;
use crate::engine::workload::PodMut;

pub const ID: &str = "set-image-pull-policy";

pub static SPEC: MutationSpec = MutationSpec {
    id: ID,
    summary: "imagePullPolicy: Always for mutable tags, IfNotPresent for digests",
    why: "with IfNotPresent a node keeps whatever it first pulled under a mutable tag",
    answers: "image-pull-policy-mutable-tag",
    build: |v| Ok(Box::new(SetImagePullPolicy(params(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    mutable_tags: Vec<String>,
}

struct SetImagePullPolicy(Params);

impl SetImagePullPolicy {
    /// The policy a container should get, if it should change.
    fn wanted(&self, image: Option<&str>, current: Option<&str>) -> Option<&'static str> {
        let image = ImageRef::parse(image?).ok()?;
        if image.has_mutable_tag(&self.0.mutable_tags) {
            return matches!(current, None | Some("IfNotPresent")).then_some("Always");
        }
        (image.is_pinned_by_digest() && current.is_none()).then_some("IfNotPresent")
    }
}

impl Mutation for SetImagePullPolicy {
    fn apply(&self, object: &mut Object, ctx: &Context, changes: &mut Vec<Change>) {
        let Some(PodMut { spec, path, .. }) = pod_to_mutate(object, ctx) else {
            return;
        };
        let mut set = |list: &str, name: &str, image: Option<&str>, policy: &mut Option<String>| {
            if let Some(wanted) = self.wanted(image, policy.as_deref()) {
                let from = policy.as_deref().unwrap_or("unset").to_string();
                *policy = Some(wanted.to_string());
                changes.push(Change {
                    mutation: ID,
                    field: format!("{}.{list}[{name}].imagePullPolicy", path.field),
                    message: format!("container {name}: imagePullPolicy {from} -> {wanted}"),
                });
            }
        };
        for c in &mut spec.containers {
            set(
                "containers",
                &c.name,
                c.image.as_deref(),
                &mut c.image_pull_policy,
            );
        }
        for c in spec.init_containers.iter_mut().flatten() {
            set(
                "initContainers",
                &c.name,
                c.image.as_deref(),
                &mut c.image_pull_policy,
            );
        }
        for c in spec.ephemeral_containers.iter_mut().flatten() {
            set(
                "ephemeralContainers",
                &c.name,
                c.image.as_deref(),
                &mut c.image_pull_policy,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mutations::testing::*;
    use serde_json::json;

    #[test]
    fn mutable_tags_get_always_and_digests_if_not_present() {
        let spec = json!({
            "initContainers": [{"name": "init", "image": "busybox", "imagePullPolicy": "IfNotPresent"}],
            "containers": [{"name": "web", "image": "w:dev"}, {"name": "pinned", "image": "p@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, {"name": "release", "image": "r:1.2"}]
        });
        for (input, pod, _) in workloads(spec) {
            let expected = at(input.clone(), pod, |s| {
                s["initContainers"][0]["imagePullPolicy"] = json!("Always");
                s["containers"][0]["imagePullPolicy"] = json!("Always");
                s["containers"][1]["imagePullPolicy"] = json!("IfNotPresent");
            });
            assert_mutates(
                ID,
                json!({"mutable_tags": ["latest", "dev"]}),
                input,
                expected,
            );
        }
    }

    #[test]
    fn never_overrides_never_or_an_explicit_policy_on_a_pinned_image() {
        let spec = json!({"containers": [
            {"name": "a", "image": "a:latest", "imagePullPolicy": "Never"},
            {"name": "b", "image": "b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "imagePullPolicy": "Always"},
            {"name": "c", "image": "c:1.0", "imagePullPolicy": "IfNotPresent"},
            {"name": "d", "image": "d:latest", "imagePullPolicy": "Always"}
        ]});
        for (input, _, _) in workloads(spec) {
            assert_mutates(ID, json!({}), input.clone(), input);
        }
    }
}
