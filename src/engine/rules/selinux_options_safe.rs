//! `selinux-options-safe`: no custom SELinux user or role, and only the container types
//! (Pod Security baseline).

use crate::engine::cel::{Cel, RuleCel, pod};
use k8s_openapi::api::core::v1::SELinuxOptions;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "selinux-options-safe";

/// The SELinux types a container may run as under Pod Security baseline.
pub const ALLOWED_TYPES: &[&str] = &[
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "seLinuxOptions sets no user or role, and a type only from the container types (container_t, container_init_t, container_kvm_t, container_engine_t)",
    why: "a custom SELinux user, role or type lifts the label that confines the container, so the kernel no longer stops it touching the host",
    fix: "remove seLinuxOptions user and role, and use a container type (container_t) if you set a type",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(SelinuxOptionsSafe)),
};

struct SelinuxOptionsSafe;

/// What is unsafe about one set of options, if anything.
fn unsafe_parts(options: &SELinuxOptions) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(user) = options.user.as_deref().filter(|u| !u.is_empty()) {
        parts.push(format!("user {user}"));
    }
    if let Some(role) = options.role.as_deref().filter(|r| !r.is_empty()) {
        parts.push(format!("role {role}"));
    }
    if let Some(t) = options.type_.as_deref().filter(|t| !t.is_empty())
        && !ALLOWED_TYPES.contains(&t)
    {
        parts.push(format!("type {t}"));
    }
    parts
}

const HOW: &str = "remove them, or use one of the container types (container_t, container_init_t, container_kvm_t, container_engine_t)";

impl Rule for SelinuxOptionsSafe {
    fn cel(&self) -> Option<RuleCel> {
        let safe = |options: crate::engine::cel::Opt| {
            let empty = |field: &str| options.opt(field).or_value(Cel::str("")).eq(Cel::str(""));
            let type_ = options.opt("type").or_value(Cel::str(""));
            Cel::every([
                empty("user"),
                empty("role"),
                type_
                    .clone()
                    .eq(Cel::str(""))
                    .or(type_.is_in(Cel::strs(ALLOWED_TYPES))),
            ])
        };
        Some(RuleCel::one(
            safe(pod::spec().opt("securityContext").opt("seLinuxOptions")).and(
                pod::containers(ContainerSet::All).all("c", |c| {
                    safe(c.opt("securityContext").opt("seLinuxOptions"))
                }),
            ),
            "the pod or a container sets an SELinux user, role or a type that is not a container type",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        let pod_options = pod
            .spec
            .security_context
            .as_ref()
            .and_then(|s| s.se_linux_options.as_ref());
        if let Some(options) = pod_options {
            let parts = unsafe_parts(options);
            if !parts.is_empty() {
                out.push_with(|| {
                    Finding::new(
                        ID,
                        format!("{}.securityContext.seLinuxOptions", pod.path.field),
                        format!("the pod sets SELinux {}; {HOW}", parts.join(", ")),
                    )
                });
            }
        }
        for c in containers(&pod, ContainerSet::All) {
            let Some(options) = c
                .security_context()
                .and_then(|s| s.se_linux_options.as_ref())
            else {
                continue;
            };
            let parts = unsafe_parts(options);
            if !parts.is_empty() {
                out.push_with(|| {
                    Finding::new(
                        ID,
                        c.field("securityContext.seLinuxOptions"),
                        format!("{} sets SELinux {}; {HOW}", c.describe(), parts.join(", ")),
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
    fn flags_custom_users_roles_and_types() {
        let mut spec = one(json!({"securityContext": {"seLinuxOptions": {"type": "spc_t"}}}));
        spec["securityContext"] =
            json!({"seLinuxOptions": {"user": "system_u", "role": "system_r"}});
        let found = run(ID, &mk_pod(spec));
        assert_eq!(
            fields(&found),
            [
                "spec.containers[web].securityContext.seLinuxOptions",
                "spec.securityContext.seLinuxOptions"
            ]
        );
        assert!(found[0].message.contains("type spc_t"));
        assert!(found[1].message.contains("user system_u, role system_r"));
    }

    #[test]
    fn passes_levels_and_container_types() {
        let mut spec =
            one(json!({"securityContext": {"seLinuxOptions": {"type": "container_init_t"}}}));
        spec["securityContext"] = json!({"seLinuxOptions": {"level": "s0:c123,c456"}});
        assert!(run(ID, &mk_deployment(2, spec)).is_empty());
    }
}
