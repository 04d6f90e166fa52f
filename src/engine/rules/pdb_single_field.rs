//! `pdb-single-field`: a PodDisruptionBudget sets exactly one of `minAvailable` and
//! `maxUnavailable`.

use crate::engine::rule::{
    Context, Finding, Findings, Origin, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "pdb-single-field";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::PodDisruptionBudget]),
    sees: &[Sees::Offline],
    summary: "exactly one of minAvailable and maxUnavailable is set",
    why: "a budget is one number: the API server rejects both, and with neither the budget says nothing about how many pods may go",
    fix: "keep exactly one of minAvailable and maxUnavailable (usually maxUnavailable: 1)",
    vap: Vap::No(
        "fires only on manifest files: the API server defaults or rejects the field before any admission check sees it",
    ),
    build: |_| Ok(Box::new(PdbSingleField)),
};

struct PdbSingleField;

impl Rule for PdbSingleField {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        // The API server rejects both fields before any webhook sees them.
        if ctx.origin != Origin::Manifest {
            return;
        }
        let Object::PodDisruptionBudget(pdb) = object else {
            return;
        };
        let spec = pdb.spec.as_ref();
        let min = spec.is_some_and(|s| s.min_available.is_some());
        let max = spec.is_some_and(|s| s.max_unavailable.is_some());
        let message = match (min, max) {
            (true, true) => {
                "sets both minAvailable and maxUnavailable, which the API server rejects; keep one"
            }
            (false, false) => {
                "sets neither minAvailable nor maxUnavailable; set one (minAvailable: 2 for a few replicas, maxUnavailable: 25% for many)"
            }
            _ => return,
        };
        out.push_with(|| Finding::new(ID, "spec", message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    fn pdb(spec: serde_json::Value) -> Object {
        object(
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "shop"}, "spec": spec}),
        )
    }

    #[test]
    fn wants_exactly_one_field() {
        let selector = json!({"matchLabels": {"app": "web"}});
        let cases = [
            (json!({"selector": selector, "minAvailable": 2}), 0),
            (json!({"selector": selector, "maxUnavailable": "25%"}), 0),
            (
                json!({"selector": selector, "minAvailable": 2, "maxUnavailable": 1}),
                1,
            ),
            (json!({"selector": selector}), 1),
        ];
        for (spec, expected) in cases {
            assert_eq!(
                run_manifest(ID, &pdb(spec.clone()), "policy/v1").len(),
                expected,
                "{spec}"
            );
        }
        assert!(run(ID, &pdb(json!({"minAvailable": 2, "maxUnavailable": 1}))).is_empty());
    }
}
