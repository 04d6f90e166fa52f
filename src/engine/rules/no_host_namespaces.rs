//! `no-host-namespaces`: pods do not share the node's network, PID or IPC namespace.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "no-host-namespaces";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "no hostNetwork, hostPID or hostIPC",
    why: "a pod in the host's namespaces sees every process and connection of the node, so one compromised pod reaches everything",
    fix: "remove hostNetwork, hostPID and hostIPC; expose ports through a Service instead",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(NoHostNamespaces)),
};

struct NoHostNamespaces;

impl Rule for NoHostNamespaces {
    fn cel(&self) -> Option<RuleCel> {
        let spec = pod::spec();
        let off = |field: &str| spec.opt(field).or_value(Cel::bool(false)).negate();
        Some(RuleCel::one(
            Cel::every([off("hostNetwork"), off("hostPID"), off("hostIPC")]),
            "the pod shares a namespace of the node (hostNetwork, hostPID or hostIPC)",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        let spec = pod.spec;
        for (field, on) in [
            ("hostNetwork", spec.host_network),
            ("hostPID", spec.host_pid),
            ("hostIPC", spec.host_ipc),
        ] {
            if on == Some(true) {
                out.push_with(|| Finding::new(
                    ID,
                    format!("{}.{field}", pod.path.field),
                    format!(
                        "the pod sets {field}: true; remove it so the pod gets its own namespace"
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
    fn flags_each_host_namespace() {
        let spec = json!({"hostNetwork": true, "hostPID": true, "hostIPC": false, "containers": [{"name": "web", "image": "w:1"}]});
        assert_eq!(
            fields(&run(ID, &mk_deployment(2, spec.clone()))),
            [
                "spec.template.spec.hostNetwork",
                "spec.template.spec.hostPID"
            ]
        );
        assert_eq!(run(ID, &mk_pod(spec)).len(), 2);
    }

    #[test]
    fn passes_without_host_namespaces() {
        assert!(run(ID, &mk_pod(one(json!({})))).is_empty());
    }
}
