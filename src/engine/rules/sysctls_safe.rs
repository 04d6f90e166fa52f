//! `sysctls-safe`: a pod sets only the sysctls that Pod Security baseline calls safe.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "sysctls-safe";

/// The baseline's safe set (Kubernetes 1.32+): namespaced to the pod, so they cannot touch
/// the node or other pods.
pub const SAFE: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "securityContext.sysctls names only the safe set of Pod Security baseline",
    why: "an unsafe sysctl is not isolated to the pod: it changes the node's kernel for every pod on it",
    fix: "set only the safe sysctls on the pod; tune the others on the nodes that need them",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(SysctlsSafe)),
};

struct SysctlsSafe;

impl Rule for SysctlsSafe {
    fn cel(&self) -> Option<RuleCel> {
        Some(RuleCel::one(
            pod::spec()
                .opt("securityContext")
                .opt("sysctls")
                .or_empty()
                .all("s", |s| {
                    // The kernel accepts `/` as the separator too.
                    s.get("name")
                        .call("replace", [Cel::str("/"), Cel::str(".")])
                        .is_in(Cel::strs(SAFE))
                }),
            "the pod sets a sysctl outside the safe set",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        let sysctls = pod
            .spec
            .security_context
            .as_ref()
            .and_then(|s| s.sysctls.as_deref())
            .unwrap_or_default();
        for sysctl in sysctls {
            // The kernel accepts `/` as the separator too.
            let name = sysctl.name.replace('/', ".");
            if !SAFE.contains(&name.as_str()) {
                out.push_with(|| Finding::new(
                    ID,
                    format!("{}.securityContext.sysctls[{}]", pod.path.field, sysctl.name),
                    format!(
                        "the pod sets the sysctl {}, which is not in the safe set; remove it, or set it on the node for the workloads that need it",
                        sysctl.name
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

    fn with(sysctls: serde_json::Value) -> serde_json::Value {
        let mut spec = one(json!({}));
        spec["securityContext"] = json!({"sysctls": sysctls});
        spec
    }

    #[test]
    fn flags_unsafe_sysctls() {
        let spec = with(
            json!([{"name": "kernel.msgmax", "value": "65536"}, {"name": "net.core.somaxconn", "value": "1024"}]),
        );
        assert_eq!(
            fields(&run(ID, &mk_deployment(2, spec))),
            [
                "spec.template.spec.securityContext.sysctls[kernel.msgmax]",
                "spec.template.spec.securityContext.sysctls[net.core.somaxconn]"
            ]
        );
    }

    #[test]
    fn passes_the_safe_set_in_either_spelling() {
        let spec = with(
            json!([{"name": "net.ipv4.ip_local_port_range", "value": "1024 65000"}, {"name": "net/ipv4/tcp_syncookies", "value": "1"}]),
        );
        assert!(run(ID, &mk_pod(spec)).is_empty());
        assert!(run(ID, &mk_pod(one(json!({})))).is_empty());
    }
}
