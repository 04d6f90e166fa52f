//! `hpa-replicas-conflict`: a workload that an HPA scales does not also set `spec.replicas` in
//! its manifest.

use crate::engine::rule::{
    Context, Finding, Findings, Origin, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "hpa-replicas-conflict";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Deployment, Kind::StatefulSet, Kind::ReplicaSet]),
    sees: &[Sees::Bundle],
    summary: "a workload an HPA scales does not also set spec.replicas in its manifest",
    why: "the HPA owns the replica count; a manifest that also sets it resets the count on every apply and the replicas flip-flop",
    fix: "remove spec.replicas from the workload's manifest and let the HPA own the count",
    vap: Vap::No(
        "needs other objects (the run's documents, the cluster); a policy sees one object",
    ),
    build: |_| Ok(Box::new(HpaReplicasConflict)),
};

struct HpaReplicasConflict;

fn sets_replicas(object: &Object) -> bool {
    match object {
        Object::Deployment(o) => o.spec.as_ref().is_some_and(|s| s.replicas.is_some()),
        Object::StatefulSet(o) => o.spec.as_ref().is_some_and(|s| s.replicas.is_some()),
        Object::ReplicaSet(o) => o.spec.as_ref().is_some_and(|s| s.replicas.is_some()),
        _ => false,
    }
}

impl Rule for HpaReplicasConflict {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        // A stored object always has spec.replicas (the API server defaults it), so only a
        // manifest can tell whether the author wrote it.
        if ctx.origin != Origin::Manifest || !sets_replicas(object) {
            return;
        }
        let Some(hpa) = ctx.hpas_scaling(object).first() else {
            return;
        };
        out.push_with(|| Finding::new(
            ID,
            "spec.replicas",
            format!(
                "HorizontalPodAutoscaler {} scales this {}, but the manifest also sets spec.replicas, so every apply resets the count the HPA chose; leave spec.replicas out (in Helm, only when autoscaling is off)",
                hpa.name,
                object.kind().name()
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
    fn flags_replicas_next_to_an_hpa() {
        let bundle = [
            mk_deployment(3, one(json!({}))),
            mk_hpa("web", "web", json!({})),
        ];
        let found = run_bundle(ID, &bundle, 0);
        assert_eq!(fields(&found), ["spec.replicas"]);
        assert!(found[0].message.contains("HorizontalPodAutoscaler web"));
    }

    #[test]
    fn passes_without_replicas_without_an_hpa_and_outside_manifests() {
        let unset = object(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": one(json!({}))}}}));
        assert!(run_bundle(ID, &[unset, mk_hpa("web", "web", json!({}))], 0).is_empty());
        let other = mk_hpa("api", "api", json!({}));
        assert!(run_bundle(ID, &[mk_deployment(3, one(json!({}))), other], 0).is_empty());
        assert!(run(ID, &mk_deployment(3, one(json!({})))).is_empty());
    }
}
