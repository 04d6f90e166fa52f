//! `read-only-root-filesystem`: containers mount their root filesystem read-only.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "read-only-root-filesystem";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "readOnlyRootFilesystem: true on every container",
    why: "defense in depth: an attacker cannot drop tools or alter binaries on a read-only root filesystem",
    fix: "set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the app must write (e.g. /tmp)",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(ReadOnlyRootFilesystem)),
};

struct ReadOnlyRootFilesystem;

impl Rule for ReadOnlyRootFilesystem {
    fn cel(&self) -> Option<RuleCel> {
        let read_only = |c: Cel| {
            c.opt("securityContext")
                .opt("readOnlyRootFilesystem")
                .or_value(Cel::bool(false))
        };
        Some(RuleCel::one(
            pod::containers(ContainerSet::All).all("c", read_only),
            "a container has a writable root filesystem",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::All) {
            if c.security_context()
                .and_then(|s| s.read_only_root_filesystem)
                != Some(true)
            {
                out.push_with(|| Finding::new(
                    ID,
                    c.field("securityContext.readOnlyRootFilesystem"),
                    format!("{} has a writable root filesystem; set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where it writes", c.describe()),
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
    fn flags_writable_root() {
        assert_eq!(
            fields(&run(ID, &mk_pod(one(json!({}))))),
            ["spec.containers[web].securityContext.readOnlyRootFilesystem"]
        );
        assert_eq!(
            run(
                ID,
                &mk_deployment(
                    2,
                    one(json!({"securityContext": {"readOnlyRootFilesystem": false}}))
                )
            )
            .len(),
            1
        );
    }

    #[test]
    fn passes_read_only_root() {
        assert!(
            run(
                ID,
                &mk_cronjob(one(
                    json!({"securityContext": {"readOnlyRootFilesystem": true}})
                ))
            )
            .is_empty()
        );
    }
}
