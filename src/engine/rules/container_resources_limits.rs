//! `container-resources-limits`: every container sets a memory limit (and a CPU limit unless
//! `params.cpu` is false).

use crate::engine::cel::{Cel, RuleCel, pod};
use serde::Deserialize;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "container-resources-limits";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "every container sets limits.memory, and limits.cpu unless params.cpu is false",
    why: "a limit is the hard ceiling: without one, a memory leak in one pod can take down the whole node",
    fix: "set resources.limits.memory (and limits.cpu when the policy asks for it) from measured usage, with headroom",
    vap: Vap::Exports(""),
    build: |v| {
        Ok(Box::new(ContainerResourcesLimits(serde_json::from_value(
            v,
        )?)))
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    cpu: bool,
}

struct ContainerResourcesLimits(Params);

impl Rule for ContainerResourcesLimits {
    fn cel(&self) -> Option<RuleCel> {
        let wanted: &[&str] = if self.0.cpu {
            &["cpu", "memory"]
        } else {
            &["memory"]
        };
        let limits = |c: Cel| {
            Cel::every(
                wanted
                    .iter()
                    .map(|r| c.opt("resources").opt("limits").opt(r).is_set()),
            )
        };
        Some(RuleCel::one(
            pod::containers(ContainerSet::AppAndInit).all("c", limits),
            format!(
                "a container or init container does not set resources.limits.{}",
                wanted.join(" and resources.limits.")
            ),
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        let wanted: &[&str] = if self.0.cpu {
            &["cpu", "memory"]
        } else {
            &["memory"]
        };
        for c in containers(&pod, ContainerSet::AppAndInit) {
            let limits = c.resources().and_then(|r| r.limits.as_ref());
            let missing: Vec<&str> = wanted
                .iter()
                .copied()
                .filter(|r| !limits.is_some_and(|l| l.contains_key(*r)))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let what = missing
                .iter()
                .map(|r| format!("resources.limits.{r}"))
                .collect::<Vec<_>>()
                .join(" and ");
            out.push_with(|| {
                Finding::new(
                    ID,
                    c.field("resources.limits"),
                    format!(
                        "{} does not set {what}; set a ceiling above its peak use",
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
    fn flags_missing_limits() {
        let object = mk_deployment(3, one(json!({"resources": {"limits": {"cpu": "1"}}})));
        let found = run(ID, &object);
        assert_eq!(
            fields(&found),
            ["spec.template.spec.containers[web].resources.limits"]
        );
        assert!(found[0].message.contains("limits.memory"));
        assert!(!found[0].message.contains("limits.cpu"));
    }

    #[test]
    fn cpu_limit_is_optional_when_params_say_so() {
        let object = mk_pod(one(json!({"resources": {"limits": {"memory": "1Gi"}}})));
        assert_eq!(run(ID, &object).len(), 1);
        assert!(run_with(ID, json!({"cpu": false}), &object).is_empty());
    }
}
