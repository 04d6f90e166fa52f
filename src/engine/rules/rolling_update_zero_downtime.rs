//! `rolling-update-zero-downtime`: a Deployment's rolling update adds a pod before it removes
//! one (`maxSurge` >= 1, `maxUnavailable: 0`).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::engine::rule::{Context, Finding, Rule, RuleClass, RuleSpec, Scope, Sees};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "rolling-update-zero-downtime";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Deployment]),
    sees: &[Sees::Admission, Sees::Offline],
    summary: "RollingUpdate has maxUnavailable: 0 and maxSurge >= 1; both 0 deadlocks the rollout (offline)",
    why: "adding one new pod before removing an old one keeps full capacity during a deploy; the default 25% unavailable takes a chunk offline",
    fix: "set strategy.rollingUpdate to maxSurge: 1 and maxUnavailable: 0",
    build: |_| Ok(Box::new(RollingUpdateZeroDowntime)),
};

struct RollingUpdateZeroDowntime;

/// Whether an absolute-or-percent value is zero (`0`, `"0"`, `"0%"`).
fn is_zero(value: &IntOrString) -> bool {
    match value {
        IntOrString::Int(n) => *n == 0,
        IntOrString::String(s) => s
            .trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .is_ok_and(|n| n == 0.0),
    }
}

fn show(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

impl Rule for RollingUpdateZeroDowntime {
    fn check(&self, object: &Object, _ctx: &Context, out: &mut Vec<Finding>) {
        let Object::Deployment(deployment) = object else {
            return;
        };
        let strategy = deployment.spec.as_ref().and_then(|s| s.strategy.as_ref());
        if strategy
            .and_then(|s| s.type_.as_deref())
            .is_some_and(|t| t != "RollingUpdate")
        {
            return;
        }
        let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
        let default = IntOrString::String("25%".into());
        let unavailable = rolling
            .and_then(|r| r.max_unavailable.as_ref())
            .unwrap_or(&default);
        let surge = rolling
            .and_then(|r| r.max_surge.as_ref())
            .unwrap_or(&default);
        let field = "spec.strategy.rollingUpdate";
        if is_zero(unavailable) && is_zero(surge) {
            out.push(Finding::new(ID, field, "maxSurge and maxUnavailable are both 0, which deadlocks the rollout; set maxSurge: 1 and maxUnavailable: 0"));
            return;
        }
        if !is_zero(unavailable) {
            out.push(Finding::new(
                ID,
                format!("{field}.maxUnavailable"),
                format!("maxUnavailable is {}, so a rollout takes pods out of service; set maxUnavailable: 0 and maxSurge: 1", show(unavailable)),
            ));
        }
        if is_zero(surge) {
            out.push(Finding::new(
                ID,
                format!("{field}.maxSurge"),
                "maxSurge is 0; set maxSurge: 1 so a new pod starts before an old one stops",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    fn with_strategy(strategy: serde_json::Value) -> Object {
        object(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {}, "strategy": strategy, "template": {"spec": one(json!({}))}}}),
        )
    }

    #[test]
    fn flags_defaults_percentages_and_a_deadlock() {
        assert_eq!(
            fields(&run(ID, &mk_deployment(3, one(json!({}))))),
            ["spec.strategy.rollingUpdate.maxUnavailable"]
        );
        let pct = with_strategy(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%", "maxSurge": 0}}),
        );
        assert_eq!(
            fields(&run(ID, &pct)),
            [
                "spec.strategy.rollingUpdate.maxSurge",
                "spec.strategy.rollingUpdate.maxUnavailable"
            ]
        );
        let deadlock =
            with_strategy(json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}}));
        let found = run(ID, &deadlock);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("deadlock"));
    }

    #[test]
    fn passes_surge_one_unavailable_zero_and_recreate() {
        assert!(
            run(
                ID,
                &with_strategy(json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}))
            )
            .is_empty()
        );
        assert!(
            run(
                ID,
                &with_strategy(
                    json!({"rollingUpdate": {"maxUnavailable": "0%", "maxSurge": "25%"}})
                )
            )
            .is_empty()
        );
        assert!(run(ID, &with_strategy(json!({"type": "Recreate"}))).is_empty());
    }
}
