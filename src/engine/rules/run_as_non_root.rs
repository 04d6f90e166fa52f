//! `run-as-non-root`: every container runs as a non-root user.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::containers::{ContainerSet, containers, pod_security};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "run-as-non-root";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "every container runs as non-root: effective runAsNonRoot: true or runAsUser > 0 (container overrides pod)",
    why: "defense in depth: a process that is not root blocks a whole class of container escapes",
    fix: "set securityContext.runAsNonRoot: true with a non-zero runAsUser, and build the image with a non-root USER",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(RunAsNonRoot)),
};

struct RunAsNonRoot;

impl Rule for RunAsNonRoot {
    fn cel(&self) -> Option<RuleCel> {
        // The container's own setting wins over the pod's; a non-zero user is enough.
        let non_root = |c: Cel| {
            let pod_sc = pod::spec().opt("securityContext");
            let sc = c.opt("securityContext");
            let user = sc.opt("runAsUser").or(pod_sc.opt("runAsUser"));
            let non_root = sc.opt("runAsNonRoot").or(pod_sc.opt("runAsNonRoot"));
            Cel::cond(
                user.is_set(),
                user.value().ne(Cel::int(0)),
                non_root.or_value(Cel::bool(false)),
            )
        };
        Some(RuleCel::one(
            pod::containers(ContainerSet::All).all("c", non_root),
            "a container may run as root (runAsUser 0, runAsNonRoot false, or neither set)",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        let pod_sc = pod_security(&pod);
        for c in containers(&pod, ContainerSet::All) {
            let sc = c.security_context();
            let user = sc
                .and_then(|s| s.run_as_user)
                .or(pod_sc.and_then(|s| s.run_as_user));
            let non_root = sc
                .and_then(|s| s.run_as_non_root)
                .or(pod_sc.and_then(|s| s.run_as_non_root));
            let message = match (user, non_root) {
                (Some(0), _) => format!(
                    "{} runs as user 0 (root); set securityContext.runAsUser to a non-zero uid and runAsNonRoot: true",
                    c.describe()
                ),
                (Some(_), _) | (None, Some(true)) => continue,
                (None, Some(false)) => format!(
                    "{} sets runAsNonRoot: false; set runAsNonRoot: true and a non-zero runAsUser",
                    c.describe()
                ),
                (None, None) => format!(
                    "{} may run as root; set securityContext.runAsNonRoot: true (pod or container) and a non-zero runAsUser",
                    c.describe()
                ),
            };
            out.push_with(|| Finding::new(ID, c.field("securityContext.runAsNonRoot"), message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_root_and_unset() {
        let cases = [
            one(json!({})),
            one(json!({"securityContext": {"runAsUser": 0}})),
            one(json!({"securityContext": {"runAsNonRoot": true, "runAsUser": 0}})),
            json!({"securityContext": {"runAsNonRoot": true}, "containers": [{"name": "web", "image": "w:1", "securityContext": {"runAsNonRoot": false}}]}),
        ];
        for spec in cases {
            assert_eq!(
                fields(&run(ID, &mk_deployment(3, spec.clone()))),
                ["spec.template.spec.containers[web].securityContext.runAsNonRoot"],
                "{spec}"
            );
            assert_eq!(run(ID, &mk_pod(spec)).len(), 1);
        }
    }

    #[test]
    fn passes_non_root_set_on_pod_or_container() {
        let cases = [
            json!({"securityContext": {"runAsNonRoot": true}, "containers": [{"name": "web", "image": "w:1"}]}),
            json!({"securityContext": {"runAsUser": 1000}, "containers": [{"name": "web", "image": "w:1"}]}),
            one(json!({"securityContext": {"runAsUser": 10001}})),
            json!({"securityContext": {"runAsUser": 0}, "containers": [{"name": "web", "image": "w:1", "securityContext": {"runAsUser": 5}}]}),
        ];
        for spec in cases {
            assert!(run(ID, &mk_cronjob(spec.clone())).is_empty(), "{spec}");
        }
    }
}
