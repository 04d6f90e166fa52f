//! `replicas-minimum`: Deployments and StatefulSets run at least `params.min` replicas.

use crate::engine::cel::{Cel, RuleCel};
use serde::Deserialize;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "replicas-minimum";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Deployment, Kind::StatefulSet]),
    sees: &[Sees::Admission, Sees::Bundle],
    summary: "Deployment/StatefulSet replicas >= params.min; skipped when an HPA targets it",
    why: "a single replica is a single point of failure; three across three nodes survive one node failure",
    fix: "set spec.replicas to at least the policy's minimum (three spread over nodes survive one node), or let an HPA scale it",
    vap: Vap::Exports(
        "without the HPA exception: whether an HPA scales the workload needs the HPA, which the webhook sees only in check and audit, so at admission both judge the replica count alone",
    ),
    build: |v| Ok(Box::new(ReplicasMinimum(serde_json::from_value(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    min: i32,
}

struct ReplicasMinimum(Params);

impl Rule for ReplicasMinimum {
    fn cel(&self) -> Option<RuleCel> {
        // Zero is a deliberate pause, not an availability setting.
        let replicas = Cel::var("object")
            .get("spec")
            .opt("replicas")
            .or_value(Cel::int(1));
        Some(RuleCel::one(
            replicas
                .clone()
                .eq(Cel::int(0))
                .or(replicas.ge(Cel::int(i64::from(self.0.min)))),
            format!("the workload asks for fewer than {} replicas", self.0.min),
        ))
    }

    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        let Some(replicas) = object.replicas() else {
            return;
        };
        // An HPA owns the count (its own floor is hpa-replica-range's business).
        if !ctx.hpas_scaling(object).is_empty() {
            return;
        }
        // Zero is a deliberate pause, not an availability setting.
        if replicas == 0 || replicas >= self.0.min {
            return;
        }
        let how = if object_sets_replicas(object) {
            ""
        } else {
            " (unset means 1)"
        };
        out.push_with(|| {
            Finding::new(
                ID,
                "spec.replicas",
                format!(
                    "{} runs {replicas} replica{}{how}; set spec.replicas to at least {}",
                    object.kind().name(),
                    if replicas == 1 { "" } else { "s" },
                    self.0.min
                ),
            )
        });
    }
}

fn object_sets_replicas(object: &Object) -> bool {
    match object {
        Object::Deployment(d) => d.spec.as_ref().and_then(|s| s.replicas).is_some(),
        Object::StatefulSet(s) => s.spec.as_ref().and_then(|s| s.replicas).is_some(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_a_single_replica_and_an_unset_count() {
        assert_eq!(
            fields(&run(ID, &mk_deployment(1, one(json!({}))))),
            ["spec.replicas"]
        );
        let unset = object(
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {"serviceName": "db", "selector": {}, "template": {"spec": one(json!({}))}}}),
        );
        let found = run(ID, &unset);
        assert!(found[0].message.contains("unset means 1"));
        assert_eq!(
            run_with(ID, json!({"min": 3}), &mk_deployment(2, one(json!({})))).len(),
            1
        );
    }

    #[test]
    fn skipped_when_an_hpa_scales_the_workload() {
        let single = mk_deployment(1, one(json!({})));
        let bundle = [single.clone(), mk_hpa("web", "web", json!({}))];
        assert!(run_bundle(ID, &bundle, 0).is_empty());
        let elsewhere = [single, mk_hpa("api", "api", json!({}))];
        assert_eq!(run_bundle(ID, &elsewhere, 0).len(), 1);
    }

    #[test]
    fn passes_enough_replicas_a_pause_and_other_kinds() {
        assert!(run(ID, &mk_deployment(3, one(json!({})))).is_empty());
        assert!(run(ID, &mk_deployment(0, one(json!({})))).is_empty());
        assert!(run(ID, &mk_pod(one(json!({})))).is_empty());
    }
}
