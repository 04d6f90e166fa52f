//! `hpa-target-requests`: an HPA that scales on resource utilization targets pods that request
//! that resource.

use crate::engine::rule::{Context, Finding, Rule, RuleClass, RuleSpec, Scope, Sees};
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
    build: |_| Ok(Box::new(HpaTargetRequests)),
};

struct HpaTargetRequests;

/// A metric that needs requests: a resource, its field, and the one container it is about.
struct Needs {
    resource: String,
    field: String,
    container: Option<String>,
}

impl Rule for HpaTargetRequests {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Vec<Finding>) {
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
        for need in needs {
            let missing: Vec<&str> = workload
                .containers
                .iter()
                .filter(|c| need.container.as_ref().is_none_or(|n| *n == c.name))
                .filter(|c| !c.requests(&need.resource))
                .map(|c| c.name.as_str())
                .collect();
            if missing.is_empty() {
                continue;
            }
            out.push(Finding::new(
                ID,
                need.field,
                format!(
                    "scales on {} utilization, but container {} of {} {} requests no {}; without a request the HPA cannot compute utilization and does nothing; set resources.requests.{}",
                    need.resource,
                    missing.join(", "),
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
}
