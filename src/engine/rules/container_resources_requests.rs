//! `container-resources-requests`: every container and init container requests CPU and memory.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "container-resources-requests";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "every container and init container sets resources.requests.cpu and .memory",
    why: "the scheduler places pods by their requests; without them it can pack a node until it runs out of memory, and an HPA cannot compute utilization",
    fix: "set resources.requests.cpu and resources.requests.memory on every container and init container, from measured usage",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(ContainerResourcesRequests)),
};

struct ContainerResourcesRequests;

impl Rule for ContainerResourcesRequests {
    fn cel(&self) -> Option<RuleCel> {
        // A limit alone counts: the API server copies it into the request.
        let requests = |c: Cel| {
            let resources = c.opt("resources");
            Cel::every(["cpu", "memory"].map(|r| {
                resources
                    .opt("requests")
                    .opt(r)
                    .is_set()
                    .or(resources.opt("limits").opt(r).is_set())
            }))
        };
        Some(RuleCel::one(
            pod::containers(ContainerSet::AppAndInit).all("c", requests),
            "a container or init container does not request cpu and memory (resources.requests)",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::AppAndInit) {
            let missing: Vec<&str> = ["cpu", "memory"]
                .into_iter()
                .filter(|r| !requests(c.resources(), r))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let what = missing
                .iter()
                .map(|r| format!("resources.requests.{r}"))
                .collect::<Vec<_>>()
                .join(" and ");
            out.push_with(|| {
                Finding::new(
                    ID,
                    c.field("resources.requests"),
                    format!(
                        "{} does not set {what}; request what it uses under normal load",
                        c.describe()
                    ),
                )
            });
        }
    }
}

/// Whether `resource` is requested; a limit alone counts, as the API server copies it into
/// the request when the request is unset.
pub fn requests(
    resources: Option<&k8s_openapi::api::core::v1::ResourceRequirements>,
    resource: &str,
) -> bool {
    resources.is_some_and(|r| {
        r.requests
            .as_ref()
            .is_some_and(|m| m.contains_key(resource))
            || r.limits.as_ref().is_some_and(|m| m.contains_key(resource))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_missing_requests_on_app_and_init_containers() {
        let spec = json!({
            "initContainers": [{"name": "setup", "image": "s:1"}],
            "containers": [{"name": "web", "image": "w:1", "resources": {"requests": {"cpu": "100m"}}}]
        });
        for object in [
            mk_pod(spec.clone()),
            mk_deployment(3, spec.clone()),
            mk_cronjob(spec),
        ] {
            let found = run(ID, &object);
            assert_eq!(found.len(), 2, "{:?}", object.kind());
            assert!(
                found
                    .iter()
                    .any(|f| f.field.ends_with("containers[web].resources.requests")
                        && f.message.contains("memory")
                        && !f.message.contains("requests.cpu"))
            );
            assert!(found.iter().any(|f| {
                f.field
                    .ends_with("initContainers[setup].resources.requests")
            }));
        }
    }

    #[test]
    fn passes_with_requests_or_limits() {
        let spec =
            one(json!({"resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}}));
        assert!(run(ID, &mk_pod(spec.clone())).is_empty());
        assert!(run(ID, &mk_deployment(3, spec)).is_empty());
    }
}
