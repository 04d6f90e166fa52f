//! The bundle half of `pdb-allows-disruption`: a budget's `minAvailable` stays below the
//! replicas of the workloads it selects. The single-object half (`maxUnavailable: 0`,
//! `minAvailable: 100%`) is the rule of the same id; this half is registered apart from it in
//! [`BUNDLE_CHECKS`](crate::engine::registry::BUNDLE_CHECKS) and takes that rule's action.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::engine::bundle::Selector;
use crate::engine::rule::{Action, BundleCheck, Context, Finding, Findings, Scope};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "pdb-allows-disruption";

pub static CHECK: BundleCheck = BundleCheck {
    id: ID,
    scope: Scope::Kinds(&[Kind::PodDisruptionBudget]),
    summary: "minAvailable is below the replicas of each workload the budget selects (an HPA's minReplicas when one scales it)",
    why: "minAvailable equal to the replica count means no pod may ever be evicted, so node drains and cluster upgrades hang",
    fix: "lower minAvailable below the replicas of the workload (or its HPA's minReplicas), or use maxUnavailable: 1",
    default_action: Action::Warn,
    check,
};

/// How many pods `minAvailable` keeps of `replicas`; percentages round up, as the disruption
/// controller does. `None` for a value it cannot read, and for 100% (the single-object half
/// reports that one).
fn required(min_available: &IntOrString, replicas: i32) -> Option<i64> {
    match min_available {
        IntOrString::Int(n) => Some(i64::from(*n)),
        IntOrString::String(s) => match s.strip_suffix('%') {
            Some(pct) => {
                // Only 0..100 is a share to compute: outside it the product could overflow,
                // and a wrapped product could turn a violation into a pass.
                let pct: i64 = pct.trim().parse().ok()?;
                (0..100)
                    .contains(&pct)
                    .then(|| (pct * i64::from(replicas) + 99) / 100)
            }
            None => s.trim().parse().ok(),
        },
    }
}

fn show(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn check(object: &Object, ctx: &Context, out: &mut Findings) {
    let Object::PodDisruptionBudget(pdb) = object else {
        return;
    };
    let Some(view) = ctx.namespace_view(object) else {
        return;
    };
    let Some(spec) = &pdb.spec else { return };
    // A budget without a selector selects no pods.
    let (Some(min_available), Some(selector)) = (&spec.min_available, &spec.selector) else {
        return;
    };
    for workload in view.selected(Selector::Label(selector)) {
        // DaemonSets and bare Pods have no replica count to compare with.
        let Some(replicas) = workload.replicas else {
            continue;
        };
        let hpas = view.hpas_for(workload.kind, &workload.name);
        let (replicas, scaled) = match hpas.iter().map(|h| h.min_replicas).min() {
            Some(min) => (min, true),
            None => (replicas, false),
        };
        if replicas <= 0 {
            continue;
        }
        let Some(needed) = required(min_available, replicas) else {
            continue;
        };
        if needed >= i64::from(replicas) {
            let count = if scaled {
                format!("the {replicas} replica(s) its HPA scales down to")
            } else {
                format!("all {replicas} replica(s)")
            };
            out.push_with(|| Finding::new(
                ID,
                "spec.minAvailable",
                format!(
                    "minAvailable {} keeps {count} of {} {} up, so no pod can ever be evicted and node drains hang; set minAvailable below {replicas} or use maxUnavailable: 1",
                    show(min_available),
                    workload.kind.name(),
                    workload.name
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

    fn mk_pdb(min_available: serde_json::Value) -> Object {
        object(
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "web"}}}}),
        )
    }

    #[test]
    fn flags_min_available_at_or_above_the_selected_replicas() {
        let cases = [
            (json!(3), 3, 1),
            (json!(4), 3, 1),
            (json!(2), 3, 0),
            (json!("50%"), 1, 1),
            (json!("50%"), 4, 0),
            (json!("100%"), 3, 1), // reported once, by the single-object half
            (json!("2"), 2, 1),
        ];
        for (min, replicas, expected) in cases {
            let bundle = [mk_pdb(min.clone()), mk_deployment(replicas, one(json!({})))];
            let found = run_bundle(ID, &bundle, 0);
            assert_eq!(found.len(), expected, "minAvailable {min} of {replicas}");
            if expected == 1 && min != json!("100%") {
                assert_eq!(found[0].field, "spec.minAvailable");
                assert!(found[0].message.contains("Deployment web"));
            }
        }
    }

    #[test]
    fn a_percentage_outside_zero_to_a_hundred_never_overflows() {
        for min in ["-9223372036854775808%", "-50%"] {
            let bundle = [mk_pdb(json!(min)), mk_deployment(3, one(json!({})))];
            assert!(run_bundle(ID, &bundle, 0).is_empty(), "{min}");
        }
        // Over 100% blocks every eviction: the single-object half says so, once.
        let bundle = [
            mk_pdb(json!("9223372036854775807%")),
            mk_deployment(3, one(json!({}))),
        ];
        let found = run_bundle(ID, &bundle, 0);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("minAvailable is 100%"));
    }

    #[test]
    fn compares_with_the_hpa_floor_when_an_hpa_scales_the_workload() {
        let bundle = [
            mk_pdb(json!(2)),
            mk_deployment(5, one(json!({}))),
            mk_hpa("web", "web", json!({"minReplicas": 2})),
        ];
        let found = run_bundle(ID, &bundle, 0);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("HPA"));
        // An unset minReplicas is 1.
        let bundle = [
            mk_pdb(json!(1)),
            mk_deployment(5, one(json!({}))),
            mk_hpa("web", "web", json!({})),
        ];
        assert_eq!(run_bundle(ID, &bundle, 0).len(), 1);
    }

    #[test]
    fn silent_without_a_bundle_a_match_or_a_replica_count() {
        assert!(run_manifest(ID, &mk_pdb(json!(5)), "policy/v1").is_empty());
        let other = object(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "shop"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}},
                     "template": {"metadata": {"labels": {"app": "api"}}, "spec": one(json!({}))}}}));
        assert!(run_bundle(ID, &[mk_pdb(json!(5)), other], 0).is_empty());
        let pod = mk_pod(one(json!({})));
        assert!(run_bundle(ID, &[mk_pdb(json!(5)), pod], 0).is_empty());
    }
}
