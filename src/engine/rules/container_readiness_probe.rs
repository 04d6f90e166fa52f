//! `container-readiness-probe`: long-running app containers declare a readiness probe.

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{Context, Finding, Rule, RuleClass, RuleSpec, Scope, Sees};
use crate::engine::workload::Object;

pub const ID: &str = "container-readiness-probe";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::LongRunning,
    sees: &[Sees::Admission],
    summary: "long-running app containers have a readinessProbe",
    why: "without a readiness probe traffic reaches pods that are not ready, causing 502s during every rollout",
    fix: "add a readinessProbe on an endpoint that answers only when the app can serve, e.g. `/ready`",
    build: |_| Ok(Box::new(ContainerReadinessProbe)),
};

struct ContainerReadinessProbe;

impl Rule for ContainerReadinessProbe {
    fn check(&self, object: &Object, _ctx: &Context, out: &mut Vec<Finding>) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::App).filter(|c| c.readiness_probe().is_none()) {
            out.push(Finding::new(
                ID,
                c.field("readinessProbe"),
                format!("{} has no readinessProbe; add one that checks it can serve (its dependencies are up)", c.describe()),
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
    fn flags_long_running_containers_without_readiness() {
        let found = run(ID, &mk_pod(one(json!({}))));
        assert_eq!(fields(&found), ["spec.containers[web].readinessProbe"]);
        assert_eq!(run(ID, &mk_deployment(2, one(json!({})))).len(), 1);
    }

    #[test]
    fn passes_with_a_probe_and_ignores_jobs() {
        let probe = json!({"readinessProbe": {"tcpSocket": {"port": 8080}}});
        assert!(run(ID, &mk_deployment(3, one(probe))).is_empty());
        assert!(run(ID, &mk_cronjob(one(json!({})))).is_empty());
    }
}
