//! `image-tag-pinned`: images name a release tag or a digest, never a mutable tag.

use crate::engine::cel::{Cel, RuleCel, pod};
use serde::Deserialize;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::image::{self, ImageRef};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "image-tag-pinned";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "every image has a tag that is not mutable (params.mutable_tags), or a digest; no tag counts as latest",
    why: "a node does not pull a tag it already has, so pushing a new image under the same tag updates nothing and replicas drift apart",
    fix: "use a release tag (`app:1.4.2`) or a digest (`app@sha256:...`) and push a new tag for every build",
    vap: Vap::Exports(
        "an image reference is held to distribution/reference's grammar (as a regular expression) with sha256 and sha512 digests of their exact length; bulwark's parser may refuse rarer malformed references that the expression accepts",
    ),
    build: |v| Ok(Box::new(ImageTagPinned(serde_json::from_value(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    mutable_tags: Vec<String>,
}

struct ImageTagPinned(Params);

impl Rule for ImageTagPinned {
    fn cel(&self) -> Option<RuleCel> {
        let pinned = |c: Cel| {
            let image = image::cel_reference(c.clone().get("image"));
            let mutable = Cel::strs(&self.0.mutable_tags);
            c.opt("image").is_present().negate().or(image
                .valid
                .and(image.has_digest.or(image.tag.is_in(mutable).negate())))
        };
        Some(RuleCel::one(
            pod::containers(ContainerSet::All).all("c", pinned),
            format!(
                "a container image is not a valid reference, or has no tag or a mutable one ({})",
                self.0.mutable_tags.join(", ")
            ),
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::All) {
            let Some(image) = c.image() else { continue };
            let parsed = match ImageRef::parse(image) {
                Ok(parsed) => parsed,
                Err(e) => {
                    out.push_with(|| Finding::new(
                        ID,
                        c.field("image"),
                        format!(
                            "{} image `{image}` is not a valid image reference: {}; write registry/name:1.2.3 or name@sha256:<64 hex digits>",
                            c.describe(),
                            e.reason
                        ),
                    ));
                    continue;
                }
            };
            if !parsed.has_mutable_tag(&self.0.mutable_tags) {
                continue;
            }
            let tag = parsed.effective_tag().unwrap_or("latest");
            let how = if parsed.tag.is_none() {
                "has no tag, so it means `latest`"
            } else {
                "uses a mutable tag"
            };
            out.push_with(|| Finding::new(
                ID,
                c.field("image"),
                format!("{} image `{image}` {how} (`{tag}`); pin a release tag such as `{}:1.2.3` or a digest `@sha256:...`", c.describe(), parsed.repository),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_latest_missing_and_configured_mutable_tags_in_every_container_list() {
        let spec = json!({
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "web", "image": "nginx:latest"}, {"name": "ok", "image": "nginx:1.25"}],
            "ephemeralContainers": [{"name": "debug", "image": "debug:dev"}]
        });
        let found = run_with(
            ID,
            json!({"mutable_tags": ["latest", "dev"]}),
            &mk_deployment(3, spec.clone()),
        );
        assert_eq!(
            fields(&found),
            [
                "spec.template.spec.containers[web].image",
                "spec.template.spec.ephemeralContainers[debug].image",
                "spec.template.spec.initContainers[init].image",
            ]
        );
        assert_eq!(run(ID, &mk_pod(spec)).len(), 2);
    }

    #[test]
    fn passes_release_tags_and_digests() {
        let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
        for image in [
            "nginx:1.25.3".to_string(),
            format!("nginx@{digest}"),
            format!("nginx:latest@{digest}"),
            "registry:5000/app:v2".to_string(),
        ] {
            assert!(
                run(ID, &mk_cronjob(one(json!({"image": &image})))).is_empty(),
                "{image}"
            );
        }
    }

    #[test]
    fn a_malformed_digest_does_not_pin_an_image() {
        for image in ["nginx:latest@x", "nginx@sha256:0123"] {
            let found = run(ID, &mk_pod(one(json!({"image": image}))));
            assert_eq!(found.len(), 1, "{image}");
            assert!(
                found[0].message.contains("not a valid image reference"),
                "{}",
                found[0].message
            );
        }
    }
}
