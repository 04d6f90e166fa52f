//! `image-pull-policy-mutable-tag`: a container on a mutable tag pulls it every time.

use crate::engine::cel::{Cel, RuleCel, pod};
use serde::Deserialize;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::image::{self, ImageRef};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "image-pull-policy-mutable-tag";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "a container with a mutable tag has imagePullPolicy: Always",
    why: "with IfNotPresent a node keeps running whatever it pulled first under a mutable tag",
    fix: "pin the image to a release tag or a digest; until then set imagePullPolicy: Always",
    vap: Vap::Exports("references are read as image-tag-pinned's policy reads them"),
    build: |v| {
        Ok(Box::new(ImagePullPolicyMutableTag(serde_json::from_value(
            v,
        )?)))
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    mutable_tags: Vec<String>,
}

struct ImagePullPolicyMutableTag(Params);

/// The policy the API server defaults when none is set: `Always` for `latest` (or no tag),
/// `IfNotPresent` otherwise.
pub fn effective_pull_policy<'a>(explicit: Option<&'a str>, image: &ImageRef<'_>) -> &'a str {
    match explicit {
        Some(policy) => policy,
        None if !image.is_pinned_by_digest() && image.effective_tag() == Some("latest") => "Always",
        None => "IfNotPresent",
    }
}

impl Rule for ImagePullPolicyMutableTag {
    fn cel(&self) -> Option<RuleCel> {
        let pulls = |c: Cel| {
            let image = image::cel_reference(c.clone().get("image"));
            let mutable = image
                .has_digest
                .negate()
                .and(image.tag.clone().is_in(Cel::strs(&self.0.mutable_tags)));
            // The API server's default: Always for latest (or no tag), else IfNotPresent.
            let policy = c.opt("imagePullPolicy").or_value(Cel::cond(
                image.tag.eq(Cel::str("latest")),
                Cel::str("Always"),
                Cel::str("IfNotPresent"),
            ));
            Cel::either([
                c.opt("image").is_present().negate(),
                image.valid.negate(),
                mutable.negate(),
                policy.eq(Cel::str("Always")),
            ])
        };
        Some(RuleCel::one(
            pod::containers(ContainerSet::All).all("c", pulls),
            format!(
                "a container runs a mutable image ({}) without imagePullPolicy: Always",
                self.0.mutable_tags.join(", ")
            ),
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::All) {
            let Some(image) = c.image() else { continue };
            // An invalid reference is image-tag-pinned's finding; no pull policy helps it.
            let Ok(parsed) = ImageRef::parse(image) else {
                continue;
            };
            if !parsed.has_mutable_tag(&self.0.mutable_tags) {
                continue;
            }
            let policy = effective_pull_policy(c.image_pull_policy(), &parsed);
            if policy != "Always" {
                out.push_with(|| Finding::new(
                    ID,
                    c.field("imagePullPolicy"),
                    format!("{} runs the mutable image `{image}` with imagePullPolicy {policy}; set imagePullPolicy: Always (or pin the tag)", c.describe()),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_if_not_present_on_a_mutable_tag() {
        let spec = one(json!({"image": "shop/web:latest", "imagePullPolicy": "IfNotPresent"}));
        assert_eq!(
            fields(&run(ID, &mk_deployment(3, spec.clone()))),
            ["spec.template.spec.containers[web].imagePullPolicy"]
        );
        assert_eq!(run(ID, &mk_pod(spec)).len(), 1);
        // An unset policy on `dev` defaults to IfNotPresent.
        let dev = one(json!({"image": "shop/web:dev"}));
        assert_eq!(
            run_with(ID, json!({"mutable_tags": ["latest", "dev"]}), &mk_pod(dev)).len(),
            1
        );
    }

    #[test]
    fn passes_always_defaulted_latest_and_pinned_tags() {
        for c in [
            json!({"image": "shop/web:latest", "imagePullPolicy": "Always"}),
            json!({"image": "shop/web"}),
            json!({"image": "shop/web:1.0", "imagePullPolicy": "IfNotPresent"}),
            json!({"image": "shop/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "imagePullPolicy": "IfNotPresent"}),
        ] {
            assert!(run(ID, &mk_cronjob(one(c.clone()))).is_empty(), "{c}");
        }
    }
}
