//! `hpa-replica-range`: an HPA keeps at least two replicas and leaves room to scale:
//! `minReplicas` >= 2 and `maxReplicas` >= `minReplicas` + `params.headroom`.

use crate::engine::cel::{Cel, RuleCel};
use serde::Deserialize;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "hpa-replica-range";

/// The fewest replicas that survive losing one.
const MIN_REPLICAS: i32 = 2;

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::HorizontalPodAutoscaler]),
    sees: &[Sees::Admission],
    summary: "minReplicas >= 2 (unset means 1) and maxReplicas >= minReplicas + params.headroom (default 2)",
    why: "minReplicas is the availability floor, and one replica is a single point of failure; a maxReplicas too close to it leaves the HPA nothing to do during a spike",
    fix: "set minReplicas to 2 or more and maxReplicas far enough above it to absorb a spike",
    vap: Vap::Exports(""),
    build: |v| Ok(Box::new(HpaReplicaRange(serde_json::from_value(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    headroom: i32,
}

struct HpaReplicaRange(Params);

impl Rule for HpaReplicaRange {
    fn cel(&self) -> Option<RuleCel> {
        let spec = Cel::var("object").get("spec");
        // The API server defaults minReplicas to 1; zero is a deliberate choice.
        let min = || spec.opt("minReplicas").or_value(Cel::int(1));
        let max = spec.opt("maxReplicas").or_value(Cel::int(0));
        let headroom = i64::from(self.0.headroom);
        Some(
            RuleCel::one(
                min()
                    .ge(Cel::int(1))
                    .and(min().lt(Cel::int(i64::from(MIN_REPLICAS))))
                    .negate(),
                format!("minReplicas is below {MIN_REPLICAS}, a single point of failure"),
            )
            .and(
                max.ge(min().plus(Cel::int(headroom))),
                format!(
                    "maxReplicas leaves less than {headroom} replicas of headroom above minReplicas"
                ),
            ),
        )
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::HorizontalPodAutoscaler(hpa) = object else {
            return;
        };
        let spec = &hpa.spec;
        // The API server defaults minReplicas to 1.
        let min = spec.min_replicas.unwrap_or(1);
        let max = spec.max_replicas;
        // Zero needs the HPAScaleToZero feature and is a deliberate choice.
        if (1..MIN_REPLICAS).contains(&min) {
            let how = if spec.min_replicas.is_none() {
                " (unset means 1)"
            } else {
                ""
            };
            out.push_with(|| Finding::new(
                ID,
                "spec.minReplicas",
                format!(
                    "minReplicas is {min}{how}, a single point of failure; set it to at least {MIN_REPLICAS}"
                ),
            ));
        }
        let wanted = min.saturating_add(self.0.headroom);
        if max < wanted {
            out.push_with(|| Finding::new(
                ID,
                "spec.maxReplicas",
                format!(
                    "maxReplicas {max} leaves less than {} replicas of headroom above minReplicas {min}; set it to at least {wanted} so the HPA can absorb a spike",
                    self.0.headroom
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::{Value, json};

    fn hpa(min: Value, max: i32) -> Object {
        let mut spec = json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": max
        });
        if !min.is_null() {
            spec["minReplicas"] = min;
        }
        mk(Kind::HorizontalPodAutoscaler, json!({"spec": spec}))
    }

    #[test]
    fn flags_a_floor_of_one_and_too_little_headroom() {
        let cases = [
            (hpa(Value::Null, 10), vec!["spec.minReplicas"]),
            (hpa(json!(1), 10), vec!["spec.minReplicas"]),
            (hpa(json!(2), 3), vec!["spec.maxReplicas"]),
            (
                hpa(Value::Null, 2),
                vec!["spec.maxReplicas", "spec.minReplicas"],
            ),
            (hpa(json!(5), 5), vec!["spec.maxReplicas"]),
        ];
        for (object, expected) in cases {
            assert_eq!(fields(&run(ID, &object)), expected);
        }
        assert!(
            run(ID, &hpa(Value::Null, 10))[0]
                .message
                .contains("(unset means 1)")
        );
        let found = run(ID, &hpa(json!(3), 4));
        assert!(
            found[0].message.contains("set it to at least 5"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn passes_a_sound_range_and_the_headroom_is_a_param() {
        assert!(run(ID, &hpa(json!(2), 4)).is_empty());
        assert!(run(ID, &hpa(json!(3), 20)).is_empty());
        assert!(run(ID, &hpa(json!(0), 5)).is_empty());
        assert_eq!(
            run_with(ID, json!({"headroom": 5}), &hpa(json!(2), 6)).len(),
            1
        );
    }
}
