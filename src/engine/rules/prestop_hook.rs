//! `prestop-hook`: long-running containers that serve ports wait before they are stopped.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "prestop-hook";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::LongRunning,
    sees: &[Sees::Admission],
    summary: "long-running app containers that expose ports have lifecycle.preStop",
    why: "SIGTERM and endpoint removal happen at the same time, so without a preStop pause requests still reach a stopping pod: 502s during every rolling update",
    fix: "add lifecycle.preStop with a short pause (sleep: {seconds: 10}) so endpoints drain before SIGTERM arrives",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(PrestopHook)),
};

struct PrestopHook;

impl Rule for PrestopHook {
    fn cel(&self) -> Option<RuleCel> {
        let hooked = |c: Cel| {
            c.opt("ports")
                .or_empty()
                .size()
                .eq(Cel::int(0))
                .or(c.opt("lifecycle").opt("preStop").is_present())
        };
        Some(RuleCel::one(
            pod::runs_to_completion().or(pod::containers(ContainerSet::App).all("c", hooked)),
            "a container that serves ports has no lifecycle.preStop",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        // A batch pod stops by itself: nothing to probe or drain.
        if pod.runs_to_completion() {
            return;
        }
        for c in containers(&pod, ContainerSet::App) {
            if c.has_ports() && c.lifecycle().and_then(|l| l.pre_stop.as_ref()).is_none() {
                out.push_with(|| Finding::new(
                    ID,
                    c.field("lifecycle.preStop"),
                    format!("{} serves ports but has no lifecycle.preStop; add preStop: {{sleep: {{seconds: 10}}}} so endpoints drain before SIGTERM", c.describe()),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_serving_containers_without_prestop() {
        let spec = one(json!({"ports": [{"containerPort": 8080}]}));
        assert_eq!(
            fields(&run(ID, &mk_deployment(3, spec.clone()))),
            ["spec.template.spec.containers[web].lifecycle.preStop"]
        );
        assert_eq!(run(ID, &mk_pod(spec)).len(), 1);
    }

    #[test]
    fn passes_with_prestop_without_ports_and_for_jobs() {
        let hooked = one(
            json!({"ports": [{"containerPort": 8080}], "lifecycle": {"preStop": {"sleep": {"seconds": 5}}}}),
        );
        assert!(run(ID, &mk_deployment(3, hooked)).is_empty());
        assert!(run(ID, &mk_deployment(3, one(json!({})))).is_empty());
        assert!(
            run(
                ID,
                &mk_cronjob(one(json!({"ports": [{"containerPort": 8080}]})))
            )
            .is_empty()
        );
    }

    #[test]
    fn ignores_pods_that_run_to_completion() {
        let mut spec = one(json!({"ports": [{"containerPort": 8080}]}));
        spec["restartPolicy"] = json!("Never");
        assert!(run(ID, &mk_pod(spec)).is_empty());
    }
}
