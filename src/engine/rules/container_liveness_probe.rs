//! `container-liveness-probe`: long-running app containers declare a liveness probe.

use crate::engine::cel::{RuleCel, pod};
use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "container-liveness-probe";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::LongRunning,
    sees: &[Sees::Admission],
    summary: "long-running app containers have a livenessProbe",
    why: "without a liveness probe a deadlocked process keeps its pod forever; a failing probe restarts it",
    fix: "add a livenessProbe, e.g. an HTTP GET on a cheap `/healthz` that fails only when the process must be restarted",
    vap: Vap::Exports(
        "the policy judges a Pod and every pod template as the webhook does; it names no container",
    ),
    build: |_| Ok(Box::new(ContainerLivenessProbe)),
};

struct ContainerLivenessProbe;

impl Rule for ContainerLivenessProbe {
    fn cel(&self) -> Option<RuleCel> {
        Some(RuleCel::one(
            pod::runs_to_completion().or(pod::containers(ContainerSet::App)
                .all("c", |c| c.opt("livenessProbe").is_present())),
            "a container of a long-running workload has no livenessProbe",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        // A batch pod stops by itself: nothing to probe or drain.
        if pod.runs_to_completion() {
            return;
        }
        for c in containers(&pod, ContainerSet::App).filter(|c| c.liveness_probe().is_none()) {
            out.push_with(|| {
                Finding::new(
                    ID,
                    c.field("livenessProbe"),
                    format!(
                        "{} has no livenessProbe; add a cheap check that the process is responsive",
                        c.describe()
                    ),
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_long_running_containers_without_liveness() {
        let found = run(ID, &mk_deployment(3, one(json!({}))));
        assert_eq!(
            fields(&found),
            ["spec.template.spec.containers[web].livenessProbe"]
        );
        assert_eq!(run(ID, &mk_pod(one(json!({})))).len(), 1);
    }

    #[test]
    fn passes_with_a_probe_and_ignores_jobs() {
        let probe = json!({"livenessProbe": {"httpGet": {"path": "/livez", "port": 8080}}});
        assert!(run(ID, &mk_deployment(3, one(probe))).is_empty());
        assert!(run(ID, &mk_cronjob(one(json!({})))).is_empty());
    }

    #[test]
    fn ignores_pods_that_run_to_completion() {
        for policy in ["Never", "OnFailure"] {
            let mut spec = one(json!({}));
            spec["restartPolicy"] = json!(policy);
            assert!(run(ID, &mk_pod(spec)).is_empty(), "{policy}");
        }
    }
}
