//! `image-tag-pinned`: images name a release tag or a digest, never a mutable tag.

use crate::engine::cel::{Cel, RuleCel, pod};
use serde::Deserialize;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::image::ImageRef;
use crate::engine::rule::{Context, Finding, Rule, RuleClass, RuleSpec, Scope, Sees, Vap};
use crate::engine::workload::Object;

pub const ID: &str = "image-tag-pinned";

/// distribution/reference's grammar for an image reference, anchored: an optional registry host
/// and port, path components of lowercase alphanumerics and separators, an optional tag of at
/// most 128 characters, an optional digest (RE2 repeats at most 1000 times, so the digest's
/// ceiling of 1024 hex digits is checked apart).
const REFERENCE: &str = concat!(
    r"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*",
    r"(?::[0-9]+)?/|\[[a-fA-F0-9:]+\](?::[0-9]+)?/)?",
    r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*",
    r"(?::[\w][\w.-]{0,127})?",
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$",
);

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
            let image = c.clone().get("image");
            let rest = image
                .clone()
                .call("split", [Cel::str("@")])
                .index(Cel::int(0));
            let last = rest.clone().call(
                "substring",
                [rest
                    .clone()
                    .call("lastIndexOf", [Cel::str("/")])
                    .plus(Cel::int(1))],
            );
            let tag = Cel::cond(
                last.clone().call("contains", [Cel::str(":")]),
                last.clone().call(
                    "substring",
                    [last
                        .clone()
                        .call("lastIndexOf", [Cel::str(":")])
                        .plus(Cel::int(1))],
                ),
                Cel::str("latest"),
            );
            let name_len = rest.clone().size().minus(Cel::cond(
                last.clone().call("contains", [Cel::str(":")]),
                tag.clone().size().plus(Cel::int(1)),
                Cel::int(0),
            ));
            let digest = image.clone().call(
                "substring",
                [image
                    .clone()
                    .call("indexOf", [Cel::str("@")])
                    .plus(Cel::int(1))],
            );
            let has_digest = image.clone().call("contains", [Cel::str("@")]);
            let encoded = digest.clone().call(
                "substring",
                [digest
                    .clone()
                    .call("indexOf", [Cel::str(":")])
                    .plus(Cel::int(1))],
            );
            let registered_ok = Cel::every([
                encoded.size().le(Cel::int(1024)),
                digest
                    .clone()
                    .call("startsWith", [Cel::str("sha256:")])
                    .negate()
                    .or(digest
                        .clone()
                        .call("matches", [Cel::str("^sha256:[a-f0-9]{64}$")])),
                digest
                    .clone()
                    .call("startsWith", [Cel::str("sha512:")])
                    .negate()
                    .or(digest.call("matches", [Cel::str("^sha512:[a-f0-9]{128}$")])),
            ]);
            let valid = Cel::every([
                image.clone().call("matches", [Cel::str(REFERENCE)]),
                name_len.le(Cel::int(255)),
                has_digest.clone().negate().or(registered_ok),
            ]);
            let mutable = Cel::strs(&self.0.mutable_tags);
            c.opt("image")
                .is_present()
                .negate()
                .or(valid.and(has_digest.or(tag.is_in(mutable).negate())))
        };
        Some(RuleCel::one(
            pod::containers(ContainerSet::All).all("c", pinned),
            format!(
                "a container image is not a valid reference, or has no tag or a mutable one ({})",
                self.0.mutable_tags.join(", ")
            ),
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Vec<Finding>) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::All) {
            let Some(image) = c.image() else { continue };
            let parsed = match ImageRef::parse(image) {
                Ok(parsed) => parsed,
                Err(e) => {
                    out.push(Finding::new(
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
            out.push(Finding::new(
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
