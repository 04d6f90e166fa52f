//! `hpa-behavior`: an HPA tunes how it scales down, with a stabilization window or policies.
//!
//! The API server fills in `behavior.scaleDown` (a 100%-per-15s policy) whenever `behavior`
//! is set at all, so at admission only an HPA without `behavior` lacks it; the offline check
//! applies the same default and judges the same way.

use crate::engine::cel::{Cel, RuleCel};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "hpa-behavior";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::HorizontalPodAutoscaler]),
    sees: &[Sees::Admission],
    summary: "behavior.scaleDown sets a stabilization window or policies",
    why: "without a scale-down window and policy the HPA sheds capacity after every brief lull, adding churn and cold starts; scale up fast and down slowly",
    fix: "add behavior.scaleDown with stabilizationWindowSeconds (e.g. 300) and a policy that removes only a few pods or percent per period",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(HpaBehavior)),
};

struct HpaBehavior;

const FIX: &str = "add behavior.scaleDown with stabilizationWindowSeconds (e.g. 300) and a policy (e.g. 10 Percent per 60 seconds)";

impl Rule for HpaBehavior {
    fn cel(&self) -> Option<RuleCel> {
        let behavior = Cel::var("object").get("spec").opt("behavior");
        let down = behavior.opt("scaleDown");
        let damped = Cel::either([
            down.opt("policies").or_empty().size().gt(Cel::int(0)),
            down.opt("selectPolicy")
                .or_value(Cel::str(""))
                .eq(Cel::str("Disabled")),
            down.opt("stabilizationWindowSeconds").is_present(),
        ]);
        Some(RuleCel::one(
            behavior
                .is_present()
                .and(down.is_present().negate().or(damped)),
            "the HPA does not damp its scale-down (no behavior, or behavior.scaleDown without stabilizationWindowSeconds or policies)",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::HorizontalPodAutoscaler(hpa) = object else {
            return;
        };
        let spec = &hpa.spec;
        let message = match spec.behavior.as_ref() {
            None => format!(
                "the HPA has no behavior, so it scales down as fast as the defaults allow; {FIX}"
            ),
            // Defaulted by the API server: a policy is set.
            Some(b) => match b.scale_down.as_ref() {
                None => return,
                Some(down) => {
                    let has_policy = down.policies.as_ref().is_some_and(|p| !p.is_empty())
                        || down.select_policy.as_deref() == Some("Disabled");
                    if has_policy || down.stabilization_window_seconds.is_some() {
                        return;
                    }
                    format!(
                        "behavior.scaleDown sets neither stabilizationWindowSeconds nor policies; {FIX}"
                    )
                }
            },
        };
        out.push_with(|| Finding::new(ID, "spec.behavior.scaleDown", message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::{Value, json};

    fn hpa(behavior: Value) -> Object {
        let mut spec = json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 10
        });
        if !behavior.is_null() {
            spec["behavior"] = behavior;
        }
        mk(Kind::HorizontalPodAutoscaler, json!({"spec": spec}))
    }

    #[test]
    fn flags_a_missing_behavior_or_an_empty_scale_down() {
        let found = run(ID, &hpa(Value::Null));
        assert_eq!(fields(&found), ["spec.behavior.scaleDown"]);
        assert!(found[0].message.contains("has no behavior"));
        let empty = hpa(json!({"scaleDown": {"policies": []}}));
        assert!(run(ID, &empty)[0].message.contains("sets neither"));
    }

    #[test]
    fn passes_a_window_a_policy_a_disabled_scale_down_or_an_api_server_default() {
        for behavior in [
            json!({"scaleDown": {"stabilizationWindowSeconds": 300}}),
            json!({"scaleDown": {"policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]}}),
            json!({"scaleDown": {"selectPolicy": "Disabled"}}),
            json!({"scaleUp": {"stabilizationWindowSeconds": 0}}),
        ] {
            assert!(run(ID, &hpa(behavior.clone())).is_empty(), "{behavior}");
        }
    }
}
