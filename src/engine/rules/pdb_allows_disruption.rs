//! `pdb-allows-disruption`: a PodDisruptionBudget lets at least one pod be evicted.
//!
//! On its own a PDB can be seen to block everything with `maxUnavailable: 0` (or `0%`) or
//! `minAvailable: 100%`. Whether `minAvailable` reaches the selected workload's replica count
//! needs that workload: [`blocks_with_replicas`] is the piece the bundle check will call.

use crate::engine::cel::{Cel, RuleCel};
use crate::engine::quantity::int_or_percent_is_zero;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "pdb-allows-disruption";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::PodDisruptionBudget]),
    sees: &[Sees::Admission, Sees::Bundle],
    summary: "not maxUnavailable: 0/0%, not minAvailable: 100%, and (bundle) minAvailable below the selected workload's replicas",
    why: "a budget that allows no eviction makes every node drain and cluster upgrade hang until someone deletes it",
    fix: "let at least one pod go: maxUnavailable: 1, or a minAvailable below the replica count",
    vap: Vap::Exports(
        "the single-object half only (the bundle half compares minAvailable with the selected workload's replicas); percentages are read as plain decimals (`25%`, `12.5 %`)",
    ),
    build: |_| Ok(Box::new(PdbAllowsDisruption)),
};

struct PdbAllowsDisruption;

/// A percentage such as `"25%"` as a number; `None` for anything else.
fn percent(value: &IntOrString) -> Option<f64> {
    match value {
        IntOrString::String(s) => s.trim().strip_suffix('%')?.trim().parse().ok(),
        IntOrString::Int(_) => None,
    }
}

/// The field and message for what makes this PDB block every eviction on its own.
fn blocks_alone(pdb: &PodDisruptionBudget) -> Option<(&'static str, String)> {
    let spec = pdb.spec.as_ref()?;
    if spec
        .max_unavailable
        .as_ref()
        .is_some_and(int_or_percent_is_zero)
    {
        return Some((
            "spec.maxUnavailable",
            "maxUnavailable is 0, so no pod may ever be evicted and node drains hang; allow at least 1 (or 10%)".to_string(),
        ));
    }
    if spec
        .min_available
        .as_ref()
        .and_then(percent)
        .is_some_and(|p| p >= 100.0)
    {
        return Some((
            "spec.minAvailable",
            "minAvailable is 100%, so no pod may ever be evicted and node drains hang; use maxUnavailable: 1 or a minAvailable below the replica count".to_string(),
        ));
    }
    None
}

/// Whether `minAvailable` as a number reaches `replicas`, the selected workload's count (the
/// bundle part of the rule).
pub fn blocks_with_replicas(pdb: &PodDisruptionBudget, replicas: i32) -> bool {
    matches!(
        pdb.spec.as_ref().and_then(|s| s.min_available.as_ref()),
        Some(IntOrString::Int(n)) if *n >= replicas
    )
}

impl Rule for PdbAllowsDisruption {
    fn cel(&self) -> Option<RuleCel> {
        let spec = Cel::var("object").opt("spec");
        let is_int = Cel::is_int;
        let unavailable = spec.opt("maxUnavailable");
        let available = spec.opt("minAvailable");
        let all = |v: Cel| {
            let number = v
                .clone()
                .call("find", [Cel::str(r"[0-9]{1,15}(\.[0-9]{1,15})?")]);
            is_int(v.clone()).negate().and(
                v.call(
                    "matches",
                    [Cel::str(r"^\s*[0-9]{1,15}(\.[0-9]{1,15})?\s*%\s*$")],
                )
                .and(
                    Cel::function("double", [number]).ge(Cel::function("double", [Cel::int(100)])),
                ),
            )
        };
        let blocks = Cel::either([
            unavailable
                .is_set()
                .and(Cel::int_or_percent_is_zero(unavailable.value())),
            available.is_set().and(all(available.value())),
        ]);
        Some(RuleCel::one(
            blocks.negate(),
            "the PodDisruptionBudget allows no eviction (maxUnavailable 0, or minAvailable 100%)",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::PodDisruptionBudget(pdb) = object else {
            return;
        };
        if let Some((field, message)) = blocks_alone(pdb) {
            out.push_with(|| Finding::new(ID, field, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::{Value, json};

    fn pdb(budget: Value) -> Object {
        let mut spec = json!({"selector": {"matchLabels": {"app": "web"}}});
        crate::engine::policy::merge(&mut spec, budget);
        mk(Kind::PodDisruptionBudget, json!({"spec": spec}))
    }

    #[test]
    fn flags_budgets_that_allow_no_eviction() {
        for (budget, field) in [
            (json!({"maxUnavailable": 0}), "spec.maxUnavailable"),
            (json!({"maxUnavailable": "0%"}), "spec.maxUnavailable"),
            (json!({"minAvailable": "100%"}), "spec.minAvailable"),
        ] {
            assert_eq!(fields(&run(ID, &pdb(budget.clone()))), [field], "{budget}");
        }
    }

    #[test]
    fn passes_budgets_that_leave_room() {
        for budget in [
            json!({"maxUnavailable": 1}),
            json!({"maxUnavailable": "25%"}),
            json!({"minAvailable": 2}),
            json!({"minAvailable": "50%"}),
            json!({}),
        ] {
            assert!(run(ID, &pdb(budget.clone())).is_empty(), "{budget}");
        }
    }

    #[test]
    fn the_bundle_part_compares_min_available_with_replicas() {
        let Object::PodDisruptionBudget(two) = pdb(json!({"minAvailable": 2})) else {
            unreachable!()
        };
        assert!(blocks_with_replicas(&two, 2));
        assert!(!blocks_with_replicas(&two, 3));
    }
}
