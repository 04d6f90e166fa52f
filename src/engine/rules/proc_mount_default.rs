//! `proc-mount-default`: containers keep the default, masked `/proc` (Pod Security baseline).

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "proc-mount-default";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "securityContext.procMount is unset or Default on every container",
    why: "an Unmasked /proc exposes kernel interfaces the runtime normally hides, a known path out of the container",
    fix: "remove securityContext.procMount (or set it to Default)",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(ProcMountDefault)),
};

struct ProcMountDefault;

impl Rule for ProcMountDefault {
    fn cel(&self) -> Option<RuleCel> {
        let default = |c: Cel| {
            c.opt("securityContext")
                .opt("procMount")
                .or_value(Cel::str("Default"))
                .eq(Cel::str("Default"))
        };
        Some(RuleCel::one(
            pod::containers(ContainerSet::All).all("c", default),
            "a container unmasks /proc (procMount other than Default)",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::All) {
            let Some(mount) = c.security_context().and_then(|s| s.proc_mount.as_deref()) else {
                continue;
            };
            if mount != "Default" {
                out.push_with(|| {
                    Finding::new(
                        ID,
                        c.field("securityContext.procMount"),
                        format!(
                            "{} sets procMount: {mount}; remove it so /proc stays masked",
                            c.describe()
                        ),
                    )
                });
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
    fn flags_an_unmasked_proc() {
        let spec = one(json!({"securityContext": {"procMount": "Unmasked"}}));
        assert_eq!(
            fields(&run(ID, &mk_pod(spec))),
            ["spec.containers[web].securityContext.procMount"]
        );
    }

    #[test]
    fn passes_default_and_unset() {
        assert!(
            run(
                ID,
                &mk_pod(one(json!({"securityContext": {"procMount": "Default"}})))
            )
            .is_empty()
        );
        assert!(run(ID, &mk_cronjob(one(json!({})))).is_empty());
    }
}
