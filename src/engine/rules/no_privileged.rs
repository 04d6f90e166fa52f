//! `no-privileged`: no container runs privileged.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "no-privileged";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "no container is privileged",
    why: "defense in depth: a privileged container has every capability and the host's devices, so one compromise owns the node",
    fix: "remove privileged: true and grant only the capability the process needs",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(NoPrivileged)),
};

struct NoPrivileged;

impl Rule for NoPrivileged {
    fn cel(&self) -> Option<RuleCel> {
        let privileged = |c: Cel| {
            c.opt("securityContext")
                .opt("privileged")
                .or_value(Cel::bool(false))
                .negate()
        };
        Some(RuleCel::one(
            pod::containers(ContainerSet::All).all("c", privileged),
            "a container is privileged",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::All) {
            if c.security_context().and_then(|s| s.privileged) == Some(true) {
                out.push_with(|| Finding::new(
                    ID,
                    c.field("securityContext.privileged"),
                    format!("{} is privileged; remove privileged: true and add only the capabilities it needs", c.describe()),
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
    fn flags_privileged_containers() {
        let spec = one(json!({"securityContext": {"privileged": true}}));
        assert_eq!(
            fields(&run(ID, &mk_pod(spec.clone()))),
            ["spec.containers[web].securityContext.privileged"]
        );
        assert_eq!(run(ID, &mk_deployment(2, spec)).len(), 1);
    }

    #[test]
    fn passes_unprivileged_containers() {
        assert!(
            run(
                ID,
                &mk_pod(one(json!({"securityContext": {"privileged": false}})))
            )
            .is_empty()
        );
        assert!(run(ID, &mk_cronjob(one(json!({})))).is_empty());
    }
}
