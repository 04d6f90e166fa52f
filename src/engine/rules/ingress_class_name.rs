//! `ingress-class-name`: an Ingress names its class in `spec.ingressClassName`, not in the
//! deprecated `kubernetes.io/ingress.class` annotation.

use crate::engine::cel::{Cel, RuleCel};
use k8s_openapi::api::networking::v1::Ingress;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "ingress-class-name";

/// The annotation that named the class before `spec.ingressClassName` existed.
pub const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Ingress]),
    sees: &[Sees::Admission],
    summary: "spec.ingressClassName is set (the kubernetes.io/ingress.class annotation is deprecated)",
    why: "the class picks which controller serves the Ingress when several coexist; the annotation is deprecated, and with neither the Ingress depends on a default class or is served by nothing",
    fix: "set spec.ingressClassName to the class of the controller that should serve it and drop the kubernetes.io/ingress.class annotation",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(IngressClassName)),
};

struct IngressClassName;

/// The class an Ingress asks for: `spec.ingressClassName`, else the deprecated annotation.
pub fn class_of(ingress: &Ingress) -> Option<&str> {
    ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .or_else(|| {
            ingress
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(CLASS_ANNOTATION))
                .map(String::as_str)
        })
        .filter(|c| !c.is_empty())
}

impl Rule for IngressClassName {
    fn cel(&self) -> Option<RuleCel> {
        Some(RuleCel::one(
            Cel::var("object")
                .opt("spec")
                .opt("ingressClassName")
                .or_value(Cel::str(""))
                .ne(Cel::str("")),
            "the Ingress sets no spec.ingressClassName",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::Ingress(ingress) = object else {
            return;
        };
        let field = ingress
            .spec
            .as_ref()
            .and_then(|s| s.ingress_class_name.as_deref());
        if field.is_some_and(|c| !c.is_empty()) {
            return;
        }
        let message = match class_of(ingress) {
            Some(class) => format!(
                "the Ingress names its class `{class}` in the deprecated {CLASS_ANNOTATION} annotation; set spec.ingressClassName: {class} and remove the annotation"
            ),
            None => "the Ingress sets no spec.ingressClassName, so it relies on a default IngressClass or no controller serves it; set spec.ingressClassName".to_string(),
        };
        out.push_with(|| Finding::new(ID, "spec.ingressClassName", message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_a_missing_class_and_the_deprecated_annotation() {
        let none = mk_ingress(json!({}), json!({}));
        let found = run(ID, &none);
        assert_eq!(fields(&found), ["spec.ingressClassName"]);
        assert!(
            found[0]
                .message
                .contains("relies on a default IngressClass")
        );
        let annotated = mk_ingress(json!({}), json!({CLASS_ANNOTATION: "nginx"}));
        let found = run(ID, &annotated);
        assert!(
            found[0]
                .message
                .contains("set spec.ingressClassName: nginx and remove the annotation"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn passes_a_class_name() {
        let ingress = mk_ingress(json!({"ingressClassName": "nginx"}), json!({}));
        assert!(run(ID, &ingress).is_empty());
        assert_eq!(
            class_of(match &ingress {
                Object::Ingress(i) => i,
                _ => unreachable!(),
            }),
            Some("nginx")
        );
    }
}
