//! `no-host-process`: no Windows HostProcess containers (Pod Security baseline).

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "no-host-process";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "windowsOptions.hostProcess is not true on the pod or any container",
    why: "a Windows HostProcess container runs directly on the node with the host's privileges: it is the node",
    fix: "remove windowsOptions.hostProcess: true; run node-level work as a DaemonSet of ordinary containers",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(NoHostProcess)),
};

struct NoHostProcess;

impl Rule for NoHostProcess {
    fn cel(&self) -> Option<RuleCel> {
        let off = |sc: crate::engine::cel::Opt| {
            sc.opt("windowsOptions")
                .opt("hostProcess")
                .or_value(Cel::bool(false))
                .negate()
        };
        Some(RuleCel::one(
            off(pod::spec().opt("securityContext")).and(
                pod::containers(ContainerSet::All).all("c", |c| off(c.opt("securityContext"))),
            ),
            "the pod or a container runs as a Windows HostProcess",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        let pod_level = pod
            .spec
            .security_context
            .as_ref()
            .and_then(|s| s.windows_options.as_ref())
            .and_then(|w| w.host_process);
        if pod_level == Some(true) {
            out.push_with(|| {
                Finding::new(
                    ID,
                    format!(
                        "{}.securityContext.windowsOptions.hostProcess",
                        pod.path.field
                    ),
                    "the pod runs as a Windows HostProcess; remove hostProcess: true".to_string(),
                )
            });
        }
        for c in containers(&pod, ContainerSet::All) {
            let host_process = c
                .security_context()
                .and_then(|s| s.windows_options.as_ref())
                .and_then(|w| w.host_process);
            if host_process == Some(true) {
                out.push_with(|| {
                    Finding::new(
                        ID,
                        c.field("securityContext.windowsOptions.hostProcess"),
                        format!(
                            "{} runs as a Windows HostProcess; remove hostProcess: true",
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
    fn flags_host_process_on_the_pod_and_containers() {
        let mut spec = one(json!({"securityContext": {"windowsOptions": {"hostProcess": true}}}));
        spec["securityContext"] = json!({"windowsOptions": {"hostProcess": true}});
        assert_eq!(run(ID, &mk_deployment(2, spec)).len(), 2);
    }

    #[test]
    fn passes_without_host_process() {
        let spec = one(
            json!({"securityContext": {"windowsOptions": {"hostProcess": false, "runAsUserName": "app"}}}),
        );
        assert!(run(ID, &mk_pod(spec)).is_empty());
    }
}
