//! `no-default-namespace`: objects live in a namespace of their own, not `default`.

use crate::engine::cel::{Cel, RuleCel};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "no-default-namespace";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Namespaced,
    sees: &[Sees::Admission],
    summary: "the object is not in namespace default",
    why: "namespaces are the boundary for RBAC, network policies and quotas; isolation is much harder to retrofit than to start with",
    fix: "create a namespace per team or environment and set metadata.namespace",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(NoDefaultNamespace)),
};

struct NoDefaultNamespace;

impl Rule for NoDefaultNamespace {
    fn cel(&self) -> Option<RuleCel> {
        Some(RuleCel::one(
            Cel::var("request").get("namespace").ne(Cel::str("default")),
            "the object is in the default namespace",
        ))
    }

    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        // A manifest without a namespace is judged when it is applied, not here.
        let namespace = ctx.namespace.or(object.meta().namespace.as_deref());
        if namespace == Some("default") {
            out.push_with(|| Finding::new(
                ID,
                "metadata.namespace",
                format!("{} is in the default namespace; deploy it into a namespace per team or environment", object.kind().name()),
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
    fn flags_the_default_namespace() {
        let object = mk_deployment(3, one(json!({})));
        assert_eq!(
            fields(&run_in(ID, json!({}), &object, Some("default"))),
            ["metadata.namespace"]
        );
        assert_eq!(
            run_in(ID, json!({}), &mk_pod(one(json!({}))), Some("default")).len(),
            1
        );
    }

    #[test]
    fn passes_other_and_unknown_namespaces() {
        let object = mk_deployment(3, one(json!({})));
        assert!(run_in(ID, json!({}), &object, Some("shop")).is_empty());
        let bare = object_without_namespace();
        assert!(run_in(ID, json!({}), &bare, None).is_empty());
    }

    fn object_without_namespace() -> Object {
        object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}))
    }
}
