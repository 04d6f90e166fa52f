//! `hpa-target-unique`: one workload is scaled by one HorizontalPodAutoscaler.

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "hpa-target-unique";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::HorizontalPodAutoscaler]),
    sees: &[Sees::Bundle],
    summary: "no other HorizontalPodAutoscaler in the namespace targets the same workload",
    why: "each HPA sets the target's replicas from its own metrics without knowing the other, so two of them fight: the count flips between their answers on every sync",
    fix: "merge the metrics into one HPA (it scales to the highest of them) and delete the other",
    vap: Vap::No(
        "needs other objects (the run's documents, the cluster); a policy sees one object",
    ),
    build: |_| Ok(Box::new(HpaTargetUnique)),
};

struct HpaTargetUnique;

impl Rule for HpaTargetUnique {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        let Object::HorizontalPodAutoscaler(hpa) = object else {
            return;
        };
        let Some(view) = ctx.namespace_view(object) else {
            return;
        };
        let own = hpa.metadata.name.as_deref().unwrap_or_default();
        let target = &hpa.spec.scale_target_ref;
        // The same HPA read twice (two documents of one name) is one HPA.
        let mut others: Vec<&str> = view
            .hpas_targeting(&target.kind, &target.name)
            .iter()
            .map(|h| h.name.as_str())
            .filter(|name| *name != own)
            .collect();
        others.sort_unstable();
        others.dedup();
        if others.is_empty() {
            return;
        }
        let names = others.join(", ");
        let (noun, verb) = if others.len() == 1 {
            ("HorizontalPodAutoscaler", "targets")
        } else {
            ("HorizontalPodAutoscalers", "target")
        };
        out.push_with(|| Finding::new(
            ID,
            "spec.scaleTargetRef",
            format!(
                "{noun} {names} also {verb} {} {}, so the HPAs overwrite each other's replica count; merge their metrics into one HPA",
                target.kind, target.name
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_both_hpas_that_target_one_workload() {
        let bundle = [
            mk_deployment(3, one(json!({}))),
            mk_hpa("web-cpu", "web", json!({})),
            mk_hpa("web-memory", "web", json!({})),
        ];
        let cpu = run_bundle(ID, &bundle, 1);
        assert_eq!(fields(&cpu), ["spec.scaleTargetRef"]);
        assert!(
            cpu[0]
                .message
                .contains("HorizontalPodAutoscaler web-memory also targets Deployment web"),
            "{}",
            cpu[0].message
        );
        let memory = run_bundle(ID, &bundle, 2);
        assert!(memory[0].message.contains("web-cpu"));
    }

    #[test]
    fn passes_one_hpa_per_workload_and_the_same_hpa_read_twice() {
        let bundle = [
            mk_hpa("web", "web", json!({})),
            mk_hpa("api", "api", json!({})),
            mk_hpa("web", "web", json!({})),
        ];
        assert!(run_bundle(ID, &bundle, 0).is_empty());
        assert!(run_bundle(ID, &bundle, 1).is_empty());
        // Same name in another namespace is another workload.
        let elsewhere = object(
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web-2", "namespace": "other"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}}),
        );
        assert!(run_bundle(ID, &[mk_hpa("web", "web", json!({})), elsewhere], 0).is_empty());
        assert!(run(ID, &mk_hpa("web", "web", json!({}))).is_empty());
    }
}
