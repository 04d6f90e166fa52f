//! `hpa-target-requests`: an HPA that scales on resource utilization targets pods that request
//! that resource.

use std::collections::{HashMap, HashSet};

use crate::engine::bundle::{ContainerRequests, list_some};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "hpa-target-requests";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::HorizontalPodAutoscaler]),
    sees: &[Sees::Bundle],
    summary: "the target workload's containers request each resource the HPA scales on by utilization (no metrics means 80% cpu)",
    why: "utilization is a share of the request: without requests the HPA cannot compute it and does nothing",
    fix: "set resources.requests for each resource the HPA scales on (cpu, memory) in every container of the target workload",
    vap: Vap::No(
        "needs other objects (the run's documents, the cluster); a policy sees one object",
    ),
    build: |_| Ok(Box::new(HpaTargetRequests)),
};

struct HpaTargetRequests;

/// A message names this many containers, then counts the rest.
const NAMES_SHOWN: usize = 10;

/// A metric that needs requests: a resource, its field, and the one container it is about.
struct Needs {
    resource: String,
    field: String,
    container: Option<String>,
}

impl Rule for HpaTargetRequests {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        let Object::HorizontalPodAutoscaler(hpa) = object else {
            return;
        };
        let Some(view) = ctx.namespace_view(object) else {
            return;
        };
        let spec = &hpa.spec;
        let target = &spec.scale_target_ref;
        let Some(workload) = view.workload_by_kind_name(&target.kind, &target.name) else {
            return;
        };
        let all: Vec<&ContainerRequests> = workload.containers.iter().collect();
        let utilization =
            |t: &k8s_openapi::api::autoscaling::v2::MetricTarget| t.type_ == "Utilization";
        let needs: Vec<Needs> = match spec.metrics.as_deref() {
            // The API server's default: 80% average cpu utilization.
            None | Some([]) => vec![Needs {
                resource: "cpu".into(),
                field: "spec.metrics".into(),
                container: None,
            }],
            Some(metrics) => metrics
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    if let Some(r) = m.resource.as_ref().filter(|r| utilization(&r.target)) {
                        return Some(Needs {
                            resource: r.name.clone(),
                            field: format!("spec.metrics[{i}].resource"),
                            container: None,
                        });
                    }
                    let c = m
                        .container_resource
                        .as_ref()
                        .filter(|c| utilization(&c.target))?;
                    Some(Needs {
                        resource: c.name.clone(),
                        field: format!("spec.metrics[{i}].containerResource"),
                        container: Some(c.container.clone()),
                    })
                })
                .collect(),
        };
        // Containers by name, so a per-container metric looks its container up; and each
        // (resource, container) asked about once, however many metrics repeat it.
        let mut by_name: HashMap<&str, Vec<&ContainerRequests>> = HashMap::new();
        for c in &workload.containers {
            by_name.entry(c.name.as_str()).or_default().push(c);
        }
        let mut asked = HashSet::new();
        for need in needs {
            if !asked.insert((need.resource.clone(), need.container.clone())) {
                continue;
            }
            let candidates: &[&ContainerRequests] = match &need.container {
                Some(name) => by_name.get(name.as_str()).map_or(&[], Vec::as_slice),
                None => &all,
            };
            let mut lacking = candidates
                .iter()
                .filter(|c| !c.requests(&need.resource))
                .map(|c| c.name.clone())
                .peekable();
            if lacking.peek().is_none() {
                continue;
            }
            let missing = list_some(lacking, NAMES_SHOWN);
            out.push_with(|| Finding::new(
                ID,
                need.field,
                format!(
                    "scales on {} utilization, but container {} of {} {} requests no {}; without a request the HPA cannot compute utilization and does nothing; set resources.requests.{}",
                    need.resource,
                    missing,
                    workload.kind.name(),
                    workload.name,
                    need.resource,
                    need.resource
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

    fn cpu_only() -> Object {
        mk_deployment(3, one(json!({"resources": {"requests": {"cpu": "100m"}}})))
    }

    #[test]
    fn flags_a_utilization_metric_the_target_does_not_request() {
        let memory = json!({"metrics": [{"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "Utilization", "averageUtilization": 70}}}]});
        let found = run_bundle(ID, &[mk_hpa("web", "web", memory), cpu_only()], 0);
        assert_eq!(fields(&found), ["spec.metrics[0].resource"]);
        assert!(found[0].message.contains("container web of Deployment web"));

        // No metrics is 80% cpu; a Deployment without any request fails it.
        let bare = mk_deployment(3, one(json!({})));
        assert_eq!(
            fields(&run_bundle(ID, &[mk_hpa("web", "web", json!({})), bare], 0)),
            ["spec.metrics"]
        );
        let per_container = json!({"metrics": [{"type": "ContainerResource", "containerResource": {"name": "memory", "container": "web",
            "target": {"type": "Utilization", "averageUtilization": 70}}}]});
        assert_eq!(
            fields(&run_bundle(
                ID,
                &[mk_hpa("web", "web", per_container), cpu_only()],
                0
            )),
            ["spec.metrics[0].containerResource"]
        );
    }

    #[test]
    fn passes_requests_limits_values_and_unknown_targets() {
        assert!(run_bundle(ID, &[mk_hpa("web", "web", json!({})), cpu_only()], 0).is_empty());
        let limit_only = mk_deployment(3, one(json!({"resources": {"limits": {"cpu": "1"}}})));
        assert!(run_bundle(ID, &[mk_hpa("web", "web", json!({})), limit_only], 0).is_empty());
        let average_value = json!({"metrics": [{"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "AverageValue", "averageValue": "500Mi"}}}]});
        assert!(run_bundle(ID, &[mk_hpa("web", "web", average_value), cpu_only()], 0).is_empty());
        let bare = mk_deployment(3, one(json!({})));
        assert!(run_bundle(ID, &[mk_hpa("web", "api", json!({})), bare], 0).is_empty());
    }

    /// An HPA with `n` cpu-utilization metrics on a Deployment of `n` containers that request
    /// nothing, and the bytes of what the rule says about it.
    fn said_about_wide(n: usize) -> usize {
        let metric = json!({"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 70}}});
        let containers: Vec<_> = (0..n)
            .map(|i| json!({"name": format!("c{i}"), "image": "shop/web:1.0"}))
            .collect();
        let hpa = mk_hpa("web", "web", json!({"metrics": vec![metric; n]}));
        let deployment = mk_deployment(3, json!({"containers": containers}));
        let found = run_bundle(ID, &[hpa, deployment], 0);
        assert_eq!(found.len(), 1, "a metric repeated is judged once");
        found.iter().map(|f| f.message.len()).sum()
    }

    #[test]
    fn many_metrics_on_many_containers_say_a_bounded_amount() {
        // Every metric listing every container grew as metrics x containers.
        let (small, large) = (said_about_wide(100), said_about_wide(400));
        assert!(large <= small + 16, "{small} bytes, then {large}");
    }
}
