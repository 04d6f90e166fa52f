//! `pod-anti-affinity`: a workload with more than one replica spreads them across nodes or
//! zones.

use crate::engine::cel::{Cel, RuleCel, pod};
use serde::Deserialize;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "pod-anti-affinity";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::ReplicaSet,
        Kind::ReplicationController,
    ]),
    sees: &[Sees::Admission, Sees::Bundle],
    summary: "a workload with more than one replica (or an HPA) spreads by podAntiAffinity or topologySpreadConstraints on hostname or zone (a hostPort spreads by itself)",
    why: "without spreading, every replica can land on the same node, defeating the point of replication",
    fix: "add topologySpreadConstraints on kubernetes.io/hostname (or topology.kubernetes.io/zone), or a preferred podAntiAffinity on the app label",
    vap: Vap::Exports(
        "without the HPA part: whether an HPA may scale the workload past one replica needs the HPA, which the webhook sees only in check and audit",
    ),
    build: |v| Ok(Box::new(PodAntiAffinity(serde_json::from_value(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    topology_keys: Vec<String>,
}

struct PodAntiAffinity(Params);

impl Rule for PodAntiAffinity {
    fn cel(&self) -> Option<RuleCel> {
        let replicas = Cel::var("object")
            .get("spec")
            .opt("replicas")
            .or_value(Cel::int(1));
        let keys = Cel::strs(&self.0.topology_keys);
        let spec = pod::spec();
        let anti = spec.opt("affinity").opt("podAntiAffinity");
        let by_anti_affinity = anti
            .opt("requiredDuringSchedulingIgnoredDuringExecution")
            .or_empty()
            .exists("t", |t| {
                t.opt("topologyKey")
                    .or_value(Cel::str(""))
                    .is_in(keys.clone())
            })
            .or(anti
                .opt("preferredDuringSchedulingIgnoredDuringExecution")
                .or_empty()
                .exists("t", |t| {
                    t.opt("podAffinityTerm")
                        .opt("topologyKey")
                        .or_value(Cel::str(""))
                        .is_in(keys.clone())
                }));
        let by_spread = spec
            .opt("topologySpreadConstraints")
            .or_empty()
            .exists("t", |t| {
                t.opt("topologyKey")
                    .or_value(Cel::str(""))
                    .is_in(keys.clone())
            });
        // Two pods that bind the same hostPort never share a node.
        let by_host_port = pod::containers(ContainerSet::App).exists("c", |c| {
            c.opt("ports").or_empty().exists("p", |p| {
                p.opt("hostPort").or_value(Cel::int(0)).gt(Cel::int(0))
            })
        });
        Some(RuleCel::one(
            Cel::either([
                replicas.le(Cel::int(1)),
                by_anti_affinity,
                by_spread,
                by_host_port,
            ]),
            format!(
                "a workload of more than one replica does not spread by podAntiAffinity or topologySpreadConstraints on {}",
                self.0.topology_keys.join(" or ")
            ),
        ))
    }

    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        let (Some(replicas), Some(pod)) = (object.replicas(), object.pod()) else {
            return;
        };
        // An HPA that may scale past one replica counts as more than one.
        let hpa = ctx
            .hpas_scaling(object)
            .iter()
            .filter(|h| h.max_replicas > 1)
            .max_by_key(|h| h.max_replicas);
        if replicas <= 1 && hpa.is_none() {
            return;
        }
        let how_many = match hpa {
            Some(h) if h.max_replicas > replicas => format!(
                "up to {} replicas (HorizontalPodAutoscaler {})",
                h.max_replicas, h.name
            ),
            _ => format!("{replicas} replicas"),
        };
        let keys = &self.0.topology_keys;
        let wanted = |key: &str| keys.iter().any(|k| k == key);
        let anti = pod
            .spec
            .affinity
            .as_ref()
            .and_then(|a| a.pod_anti_affinity.as_ref());
        let by_anti_affinity = anti.is_some_and(|anti| {
            anti.required_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .any(|t| wanted(&t.topology_key))
                || anti
                    .preferred_during_scheduling_ignored_during_execution
                    .iter()
                    .flatten()
                    .any(|t| wanted(&t.pod_affinity_term.topology_key))
        });
        let by_spread = pod
            .spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .any(|t| wanted(&t.topology_key));
        // Two pods that bind the same hostPort never share a node: the scheduler spreads them.
        let by_host_port = containers(&pod, ContainerSet::App)
            .flat_map(|c| c.ports())
            .any(|p| p.host_port.is_some_and(|h| h > 0));
        if !by_anti_affinity && !by_spread && !by_host_port {
            out.push_with(|| Finding::new(
                ID,
                format!("{}.affinity.podAntiAffinity", pod.path.field),
                format!("{how_many} may all land on one node; add podAntiAffinity or topologySpreadConstraints on {}", keys.join(" or ")),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_replicas_without_spreading() {
        assert_eq!(
            fields(&run(ID, &mk_deployment(3, one(json!({}))))),
            ["spec.template.spec.affinity.podAntiAffinity"]
        );
        // Spreading on a key that is not a node or zone does not count.
        let rack = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "rack", "whenUnsatisfiable": "DoNotSchedule"}], "containers": [{"name": "web", "image": "w:1"}]});
        assert_eq!(run(ID, &mk_deployment(3, rack)).len(), 1);
    }

    #[test]
    fn an_hpa_counts_as_more_than_one_replica() {
        let single = mk_deployment(1, one(json!({})));
        let found = run_bundle(
            ID,
            &[
                single.clone(),
                mk_hpa("web", "web", json!({"maxReplicas": 6})),
            ],
            0,
        );
        assert_eq!(
            fields(&found),
            ["spec.template.spec.affinity.podAntiAffinity"]
        );
        assert!(found[0].message.contains("up to 6 replicas"));
        let pinned = mk_hpa("web", "web", json!({"minReplicas": 1, "maxReplicas": 1}));
        assert!(run_bundle(ID, &[single, pinned], 0).is_empty());
    }

    #[test]
    fn passes_anti_affinity_spread_or_a_single_replica() {
        let preferred = json!({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}}]}},
            "containers": [{"name": "web", "image": "w:1"}]});
        assert!(run(ID, &mk_deployment(3, preferred)).is_empty());
        let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}], "containers": [{"name": "web", "image": "w:1"}]});
        assert!(run(ID, &mk_deployment(3, spread)).is_empty());
        assert!(run(ID, &mk_deployment(1, one(json!({})))).is_empty());
        assert!(run(ID, &mk_pod(one(json!({})))).is_empty());
    }

    #[test]
    fn a_host_port_already_keeps_replicas_on_separate_nodes() {
        let agent = one(json!({"ports": [{"containerPort": 9100, "hostPort": 9100}]}));
        assert!(run(ID, &mk_deployment(3, agent)).is_empty());
        let plain = one(json!({"ports": [{"containerPort": 9100}]}));
        assert_eq!(run(ID, &mk_deployment(3, plain)).len(), 1);
    }
}
