//! `rolling-update-zero-downtime`: a Deployment's rolling update adds a pod before it removes
//! one (`maxSurge` >= 1, `maxUnavailable: 0`).

use crate::engine::cel::{Cel, RuleCel};
use crate::engine::quantity::int_or_percent_is_zero;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
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
    vap: Vap::Exports(
        "without an HPA in view (the webhook has none at admission) percentages resolve against spec.replicas; a percentage of more than 18 digits is not read",
    ),
    build: |_| Ok(Box::new(RollingUpdateZeroDowntime)),
};

struct RollingUpdateZeroDowntime;

fn show(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// A number of pods from an absolute-or-percent value of `replicas`, as the Deployment
/// controller resolves it (`GetScaledValueFromIntOrPercent`): a percentage rounds up for
/// `maxSurge` and down for `maxUnavailable`. `None` for what the API server would reject.
fn scaled(value: &IntOrString, replicas: i32, round_up: bool) -> Option<i64> {
    match value {
        IntOrString::Int(n) => Some(i64::from(*n)),
        IntOrString::String(s) => {
            let pct: i64 = s.strip_suffix('%')?.parse().ok()?;
            let share = pct.checked_mul(i64::from(replicas))?;
            Some(if round_up {
                share.div_euclid(100) + i64::from(share.rem_euclid(100) != 0)
            } else {
                share.div_euclid(100)
            })
        }
    }
}

fn pods(n: i64) -> String {
    if n == 1 {
        "1 pod".to_string()
    } else {
        format!("{n} pods")
    }
}

impl Rule for RollingUpdateZeroDowntime {
    fn cel(&self) -> Option<RuleCel> {
        let spec = Cel::var("object").get("spec");
        let strategy = spec.opt("strategy");
        let value = |field: &str| {
            strategy
                .opt("rollingUpdate")
                .opt(field)
                .or_value(Cel::str("25%"))
        };
        let is_int = Cel::is_int;
        let replicas = || spec.opt("replicas").or_value(Cel::int(1));
        let percent = |v: Cel| v.call("matches", [Cel::str(r"^[+-]?[0-9]{1,18}%$")]);
        let pct = |v: Cel| {
            Cel::function(
                "int",
                [v.clone()
                    .call("substring", [Cel::int(0), v.size().minus(Cel::int(1))])],
            )
        };
        let abs = |x: Cel| Cel::cond(x.clone().lt(Cel::int(0)), Cel::int(0).minus(x.clone()), x);
        // The share must fit in 64 bits, as `scaled` checks it does.
        let fits = |v: Cel| {
            replicas()
                .eq(Cel::int(0))
                .or(abs(pct(v)).le(Cel::int(i64::MAX).divided_by(abs(replicas()))))
        };
        let readable = |v: Cel| is_int(v.clone()).or(percent(v.clone()).and(fits(v)));
        // Pods from a value, as the Deployment controller resolves it: a percentage rounds
        // down for maxUnavailable and up for maxSurge (Euclidean, like `scaled`).
        let pods = |v: Cel, round_up: bool| {
            let share = pct(v.clone()).times(replicas());
            let down = share.clone().divided_by(Cel::int(100)).minus(Cel::cond(
                share.clone().modulo(Cel::int(100)).lt(Cel::int(0)),
                Cel::int(1),
                Cel::int(0),
            ));
            let scaled = if round_up {
                down.plus(Cel::cond(
                    share.modulo(Cel::int(100)).ne(Cel::int(0)),
                    Cel::int(1),
                    Cel::int(0),
                ))
            } else {
                down
            };
            Cel::cond(is_int(v.clone()), v, scaled)
        };
        let unavailable = || value("maxUnavailable");
        let surge = || value("maxSurge");
        let rolling = strategy
            .opt("type")
            .or_value(Cel::str("RollingUpdate"))
            .eq(Cel::str("RollingUpdate"));
        let deadlock =
            Cel::int_or_percent_is_zero(unavailable()).and(Cel::int_or_percent_is_zero(surge()));
        let zero_downtime = readable(unavailable())
            .and(readable(surge()))
            .negate()
            .or(pods(unavailable(), false)
                .le(Cel::int(0))
                .and(pods(surge(), true).gt(Cel::int(0))));
        Some(RuleCel::one(
            rolling.negate().or(deadlock.negate().and(zero_downtime)),
            "the rolling update takes pods out of service (maxUnavailable above 0 pods, or maxSurge of 0 pods), or deadlocks (both 0)",
        ))
    }

    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        let Object::Deployment(deployment) = object else {
            return;
        };
        let spec = deployment.spec.as_ref();
        let strategy = spec.and_then(|s| s.strategy.as_ref());
        if strategy
            .and_then(|s| s.type_.as_deref())
            .is_some_and(|t| t != "RollingUpdate")
        {
            return;
        }
        let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
        let default = IntOrString::String("25%".into());
        let written = |v: Option<&IntOrString>| match v {
            Some(v) => (v.clone(), ""),
            None => (default.clone(), " (the default)"),
        };
        let (unavailable, unavailable_note) =
            written(rolling.and_then(|r| r.max_unavailable.as_ref()));
        let (surge, surge_note) = written(rolling.and_then(|r| r.max_surge.as_ref()));
        let field = "spec.strategy.rollingUpdate";
        if int_or_percent_is_zero(&unavailable) && int_or_percent_is_zero(&surge) {
            out.push_with(|| Finding::new(ID, field, "maxSurge and maxUnavailable are both 0, which deadlocks the rollout; set maxSurge: 1 and maxUnavailable: 0"));
            return;
        }
        // The count the percentages resolve against: the replicas, or the most an HPA that
        // scales the Deployment may reach.
        let hpa_max = ctx
            .hpas_scaling(object)
            .iter()
            .map(|h| h.max_replicas)
            .max();
        let (replicas, of) = match hpa_max {
            Some(max) => (max, format!("the {max} replicas its HPA may scale to")),
            None => {
                let r = object.replicas().unwrap_or(1);
                (
                    r,
                    if r == 1 {
                        "1 replica".to_string()
                    } else {
                        format!("{r} replicas")
                    },
                )
            }
        };
        let (Some(surge_pods), Some(unavailable_pods)) = (
            scaled(&surge, replicas, true),
            scaled(&unavailable, replicas, false),
        ) else {
            return;
        };
        if unavailable_pods > 0 {
            out.push_with(|| Finding::new(
                ID,
                format!("{field}.maxUnavailable"),
                format!(
                    "maxUnavailable {}{unavailable_note} of {of} is {}, so a rollout takes {} out of service at once; set maxUnavailable: 0 and maxSurge: 1",
                    show(&unavailable),
                    pods(unavailable_pods),
                    pods(unavailable_pods)
                ),
            ));
        } else if surge_pods <= 0 {
            // Neither resolves to a pod: the controller then takes one pod out at a time.
            out.push_with(|| Finding::new(
                ID,
                format!("{field}.maxSurge"),
                format!(
                    "maxSurge {}{surge_note} of {of} is 0 pods and maxUnavailable is 0, so the controller takes 1 pod out of service at a time; set maxSurge: 1 so a new pod starts before an old one stops",
                    show(&surge)
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

    fn with_strategy(strategy: serde_json::Value) -> Object {
        object(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {}, "strategy": strategy, "template": {"spec": one(json!({}))}}}),
        )
    }

    fn with_replicas(replicas: i32, rolling: serde_json::Value) -> Object {
        let mut d = mk_deployment(replicas, one(json!({})));
        if let Object::Deployment(d) = &mut d
            && let Some(spec) = d.spec.as_mut()
        {
            spec.strategy =
                serde_json::from_value(json!({"type": "RollingUpdate", "rollingUpdate": rolling}))
                    .expect("strategy");
        }
        d
    }

    #[test]
    fn the_default_strategy_keeps_full_capacity_for_up_to_three_replicas() {
        for replicas in 1..=3 {
            assert!(
                run(ID, &mk_deployment(replicas, one(json!({})))).is_empty(),
                "{replicas} replicas: 25% unavailable rounds down to 0, 25% surge up to 1"
            );
        }
    }

    #[test]
    fn flags_what_resolves_to_pods_out_of_service_and_says_how_many() {
        let found = run(ID, &mk_deployment(10, one(json!({}))));
        assert_eq!(
            fields(&found),
            ["spec.strategy.rollingUpdate.maxUnavailable"]
        );
        assert!(
            found[0]
                .message
                .contains("maxUnavailable 25% (the default) of 10 replicas is 2 pods"),
            "{}",
            found[0].message
        );
        let found = run(
            ID,
            &with_replicas(3, json!({"maxUnavailable": 1, "maxSurge": 1})),
        );
        assert!(
            found[0]
                .message
                .contains("maxUnavailable 1 of 3 replicas is 1 pod")
        );
        // Neither resolves to a pod: the controller takes one out at a time.
        let found = run(
            ID,
            &with_replicas(2, json!({"maxUnavailable": "10%", "maxSurge": "0%"})),
        );
        assert_eq!(fields(&found), ["spec.strategy.rollingUpdate.maxSurge"]);
        assert!(found[0].message.contains("takes 1 pod out of service"));
        let deadlock =
            with_strategy(json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}}));
        let found = run(ID, &deadlock);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("deadlock"));
    }

    #[test]
    fn percentages_resolve_against_the_hpa_maximum() {
        let bundle = [
            mk_deployment(2, one(json!({}))),
            mk_hpa("web", "web", json!({"minReplicas": 2, "maxReplicas": 12})),
        ];
        let found = run_bundle(ID, &bundle, 0);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .contains("of the 12 replicas its HPA may scale to is 3 pods"),
            "{}",
            found[0].message
        );
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
