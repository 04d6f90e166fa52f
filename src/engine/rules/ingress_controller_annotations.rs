//! `ingress-controller-annotations`: an Ingress carries no annotation meant for another
//! ingress controller than the one its class selects (NGINX annotations on a Traefik Ingress
//! do nothing).
//!
//! `params.class_prefixes` maps an ingress class name to the annotation prefixes its
//! controller reads. An Ingress whose class is not in the map is not judged: bulwark cannot
//! know what its controller reads. An annotation no class claims is left alone.

use crate::engine::cel::{Cel, RuleCel};
use std::collections::BTreeMap;

use serde::Deserialize;

use super::ingress_class_name::{CLASS_ANNOTATION, class_of};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "ingress-controller-annotations";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Ingress]),
    sees: &[Sees::Admission],
    summary: "controller-specific annotations match the Ingress class (params.class_prefixes: nginx.ingress.kubernetes.io/* with nginx, traefik.ingress.kubernetes.io/* with traefik, alb.ingress.kubernetes.io/* with alb, ...)",
    why: "each controller reads only its own annotations; NGINX annotations copied into a Traefik Ingress are silently ignored, so the rewrite, auth or rate limit they promise never happens",
    fix: "use the annotations of the controller the class selects, or set ingressClassName to the controller the annotations are written for",
    vap: Vap::Exports(""),
    build: |v| {
        Ok(Box::new(IngressControllerAnnotations(
            serde_json::from_value(v)?,
        )))
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    class_prefixes: BTreeMap<String, Vec<String>>,
}

struct IngressControllerAnnotations(Params);

impl Rule for IngressControllerAnnotations {
    fn cel(&self) -> Option<RuleCel> {
        let object = Cel::var("object");
        let named = object.opt("spec").opt("ingressClassName");
        // The class as `class_of` reads it: the field, else the deprecated annotation.
        let class = || {
            Cel::cond(
                named.is_set(),
                named.clone().value(),
                object
                    .get("metadata")
                    .opt("annotations")
                    .opt(CLASS_ANNOTATION)
                    .or_value(Cel::str("")),
            )
        };
        let every_prefix: Vec<&String> = self.0.class_prefixes.values().flatten().collect();
        let starts = |k: &Cel, prefixes: &[&String]| {
            Cel::either(
                prefixes
                    .iter()
                    .map(|p| k.clone().call("startsWith", [Cel::str(p)])),
            )
        };
        let mut judged = Cel::bool(true);
        for (name, own) in self.0.class_prefixes.iter().rev() {
            let own: Vec<&String> = own.iter().collect();
            let keys_fit = object
                .get("metadata")
                .opt("annotations")
                .or_value(Cel::empty_map())
                .all("k", |k| {
                    starts(&k, &own).or(starts(&k, &every_prefix).negate())
                });
            judged = Cel::cond(class().eq(Cel::str(name)), keys_fit, judged);
        }
        Some(RuleCel::one(
            judged,
            "an annotation is for another ingress controller than the Ingress's class",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::Ingress(ingress) = object else {
            return;
        };
        let Some(class) = class_of(ingress) else {
            return;
        };
        let Some(own) = self.0.class_prefixes.get(class) else {
            return;
        };
        let matches =
            |prefixes: &[String], key: &str| prefixes.iter().any(|p| key.starts_with(p.as_str()));
        for key in ingress
            .metadata
            .annotations
            .iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if matches(own, key) {
                continue;
            }
            let owners: Vec<&str> = self
                .0
                .class_prefixes
                .iter()
                .filter(|(_, prefixes)| matches(prefixes, key))
                .map(|(c, _)| c.as_str())
                .collect();
            if owners.is_empty() {
                continue;
            }
            out.push_with(|| Finding::new(
                ID,
                format!("metadata.annotations[{key}]"),
                format!(
                    "annotation {key} is for the {} ingress controller, but this Ingress has class {class}, whose controller ignores it; use {class}'s own annotation for the same setting, or remove it",
                    owners.join("/")
                ),
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
    fn flags_nginx_annotations_on_a_traefik_ingress() {
        let ingress = mk_ingress(
            json!({"ingressClassName": "traefik"}),
            json!({
                "nginx.ingress.kubernetes.io/rewrite-target": "/",
                "alb.ingress.kubernetes.io/scheme": "internet-facing",
                "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
                "cert-manager.io/cluster-issuer": "letsencrypt",
            }),
        );
        let found = run(ID, &ingress);
        assert_eq!(
            fields(&found),
            [
                "metadata.annotations[alb.ingress.kubernetes.io/scheme]",
                "metadata.annotations[nginx.ingress.kubernetes.io/rewrite-target]",
            ]
        );
        assert!(
            found[1].message.contains(
                "is for the nginx ingress controller, but this Ingress has class traefik"
            ),
            "{}",
            found[1].message
        );
    }

    #[test]
    fn reads_the_class_from_the_deprecated_annotation_too() {
        let ingress = mk_ingress(
            json!({}),
            json!({"kubernetes.io/ingress.class": "gce", "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                   "kubernetes.io/ingress.global-static-ip-name": "web-ip"}),
        );
        assert_eq!(
            fields(&run(ID, &ingress)),
            ["metadata.annotations[nginx.ingress.kubernetes.io/ssl-redirect]"]
        );
    }

    #[test]
    fn classes_can_be_added_by_the_policy() {
        let ingress = mk_ingress(
            json!({"ingressClassName": "nginx-internal"}),
            json!({"nginx.ingress.kubernetes.io/rewrite-target": "/", "traefik.ingress.kubernetes.io/router.tls": "true"}),
        );
        // Unknown class: not judged.
        assert!(run(ID, &ingress).is_empty());
        let params =
            json!({"class_prefixes": {"nginx-internal": ["nginx.ingress.kubernetes.io/"]}});
        assert_eq!(
            fields(&run_with(ID, params, &ingress)),
            ["metadata.annotations[traefik.ingress.kubernetes.io/router.tls]"]
        );
    }

    #[test]
    fn passes_matching_annotations_and_ingresses_without_a_class() {
        let ingress = mk_ingress(
            json!({"ingressClassName": "nginx"}),
            json!({"nginx.ingress.kubernetes.io/rewrite-target": "/", "nginx.org/rewrites": "x"}),
        );
        assert!(run(ID, &ingress).is_empty());
        let classless = mk_ingress(
            json!({}),
            json!({"alb.ingress.kubernetes.io/scheme": "internal"}),
        );
        assert!(run(ID, &classless).is_empty());
    }
}
