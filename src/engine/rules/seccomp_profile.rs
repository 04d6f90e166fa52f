//! `seccomp-profile`: every container runs under a seccomp profile, `RuntimeDefault` or
//! `Localhost`, set on the pod or on the container (Pod Security restricted; baseline already
//! forbids `Unconfined`).

use crate::engine::cel::{Cel, RuleCel, pod};
use k8s_openapi::api::core::v1::SeccompProfile;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "seccomp-profile";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "seccompProfile.type is RuntimeDefault or Localhost on the pod or on every container, and never Unconfined",
    why: "seccomp limits the system calls a container can make; without a profile every call reaches the node's kernel",
    fix: "set securityContext.seccompProfile.type: RuntimeDefault on the pod (or Localhost with a profile), never Unconfined",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(SeccompProfileRule)),
};

struct SeccompProfileRule;

fn confined(profile: &SeccompProfile) -> bool {
    matches!(profile.type_.as_str(), "RuntimeDefault" | "Localhost")
}

const HOW: &str = "set securityContext.seccompProfile.type: RuntimeDefault on the pod";

impl Rule for SeccompProfileRule {
    fn cel(&self) -> Option<RuleCel> {
        const CONFINED: &[&str] = &["RuntimeDefault", "Localhost"];
        let type_of = |sc: crate::engine::cel::Opt| {
            sc.opt("seccompProfile").opt("type").or_value(Cel::str(""))
        };
        let pod_type = || type_of(pod::spec().opt("securityContext"));
        let container_ok = |c: Cel| {
            let own = type_of(c.opt("securityContext"));
            own.clone().is_in(Cel::strs(CONFINED)).or(own
                .ne(Cel::str("Unconfined"))
                .and(pod_type().is_in(Cel::strs(CONFINED))))
        };
        Some(RuleCel::one(
            pod_type()
                .ne(Cel::str("Unconfined"))
                .and(pod::containers(ContainerSet::All).all("c", container_ok)),
            "the pod or a container runs without a seccomp profile (RuntimeDefault or Localhost), or turns it off (Unconfined)",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        let pod_profile = pod
            .spec
            .security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.as_ref());
        if pod_profile.is_some_and(|p| p.type_ == "Unconfined") {
            out.push_with(|| {
                Finding::new(
                    ID,
                    format!("{}.securityContext.seccompProfile.type", pod.path.field),
                    format!("the pod turns seccomp off (Unconfined); {HOW}"),
                )
            });
        }
        let pod_confined = pod_profile.is_some_and(confined);
        for c in containers(&pod, ContainerSet::All) {
            let own = c
                .security_context()
                .and_then(|s| s.seccomp_profile.as_ref());
            match own {
                Some(p) if p.type_ == "Unconfined" => out.push_with(|| {
                    Finding::new(
                        ID,
                        c.field("securityContext.seccompProfile.type"),
                        format!(
                            "{} turns seccomp off (Unconfined); use RuntimeDefault or Localhost",
                            c.describe()
                        ),
                    )
                }),
                Some(p) if confined(p) => {}
                // Unset: the pod's profile applies.
                _ if pod_confined => {}
                _ => out.push_with(|| {
                    Finding::new(
                        ID,
                        c.field("securityContext.seccompProfile"),
                        format!("{} runs without a seccomp profile; {HOW}", c.describe()),
                    )
                }),
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
    fn flags_containers_without_a_profile_and_unconfined_ones() {
        let spec = json!({"containers": [
            {"name": "web", "image": "w:1"},
            {"name": "side", "image": "s:1", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}
        ]});
        let found = run(ID, &mk_deployment(2, spec));
        assert_eq!(
            fields(&found),
            [
                "spec.template.spec.containers[side].securityContext.seccompProfile.type",
                "spec.template.spec.containers[web].securityContext.seccompProfile"
            ]
        );
    }

    #[test]
    fn a_pod_profile_covers_its_containers() {
        let mut spec = one(json!({}));
        spec["securityContext"] = json!({"seccompProfile": {"type": "RuntimeDefault"}});
        assert!(run(ID, &mk_pod(spec.clone())).is_empty());
        spec["containers"][0]["securityContext"] =
            json!({"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}});
        assert!(run(ID, &mk_cronjob(spec)).is_empty());
        let mut unconfined =
            one(json!({"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}));
        unconfined["securityContext"] = json!({"seccompProfile": {"type": "Unconfined"}});
        assert_eq!(
            fields(&run(ID, &mk_pod(unconfined))),
            ["spec.securityContext.seccompProfile.type"]
        );
    }
}
