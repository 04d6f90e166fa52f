//! `no-privilege-escalation`: every container sets `allowPrivilegeEscalation: false`.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "no-privilege-escalation";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "allowPrivilegeEscalation: false on every container",
    why: "defense in depth: without it a setuid binary can gain more privileges than the process started with",
    fix: "set securityContext.allowPrivilegeEscalation: false on every container",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(NoPrivilegeEscalation)),
};

struct NoPrivilegeEscalation;

impl Rule for NoPrivilegeEscalation {
    fn cel(&self) -> Option<RuleCel> {
        let disallowed = |c: Cel| {
            c.opt("securityContext")
                .opt("allowPrivilegeEscalation")
                .or_value(Cel::bool(true))
                .negate()
        };
        Some(RuleCel::one(
            pod::containers(ContainerSet::All).all("c", disallowed),
            "a container does not set securityContext.allowPrivilegeEscalation: false",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::All) {
            if c.security_context()
                .and_then(|s| s.allow_privilege_escalation)
                != Some(false)
            {
                out.push_with(|| Finding::new(
                    ID,
                    c.field("securityContext.allowPrivilegeEscalation"),
                    format!(
                        "{} does not set securityContext.allowPrivilegeEscalation: false; set it",
                        c.describe()
                    ),
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
    fn flags_unset_and_true() {
        for sc in [
            json!({}),
            json!({"securityContext": {"allowPrivilegeEscalation": true}}),
        ] {
            assert_eq!(
                fields(&run(ID, &mk_deployment(2, one(sc.clone())))),
                ["spec.template.spec.containers[web].securityContext.allowPrivilegeEscalation"]
            );
            assert_eq!(run(ID, &mk_pod(one(sc))).len(), 1);
        }
    }

    #[test]
    fn passes_false() {
        assert!(
            run(
                ID,
                &mk_pod(one(
                    json!({"securityContext": {"allowPrivilegeEscalation": false}})
                ))
            )
            .is_empty()
        );
    }
}
