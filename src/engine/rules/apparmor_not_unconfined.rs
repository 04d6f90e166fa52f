//! `apparmor-not-unconfined`: no pod or container runs without its AppArmor profile (Pod
//! Security baseline), whether set in the security context or by the older annotations.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "apparmor-not-unconfined";

/// The annotation AppArmor profiles were set with before `appArmorProfile` (Kubernetes 1.30).
pub const ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "appArmorProfile.type (pod and containers) and the container.apparmor.security.beta.kubernetes.io annotations are not Unconfined",
    why: "AppArmor confines what a process may touch on the node; Unconfined turns that off for a container that may be compromised",
    fix: "remove appArmorProfile type Unconfined (and the unconfined annotation); use RuntimeDefault or a Localhost profile",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(AppArmorNotUnconfined)),
};

struct AppArmorNotUnconfined;

const HOW: &str = "use RuntimeDefault or a Localhost profile";

impl Rule for AppArmorNotUnconfined {
    fn cel(&self) -> Option<RuleCel> {
        let confined = |sc: crate::engine::cel::Opt| {
            sc.opt("appArmorProfile")
                .opt("type")
                .or_value(Cel::str(""))
                .ne(Cel::str("Unconfined"))
        };
        let annotations = || pod::meta().opt("annotations").or_value(Cel::empty_map());
        let annotated_confined = annotations().all("k", |k| {
            k.clone()
                .call("startsWith", [Cel::str(ANNOTATION_PREFIX)])
                .and(annotations().index(k).eq(Cel::str("unconfined")))
                .negate()
        });
        Some(RuleCel::one(
            Cel::every([
                confined(pod::spec().opt("securityContext")),
                pod::containers(ContainerSet::All).all("c", |c| confined(c.opt("securityContext"))),
                annotated_confined,
            ]),
            "the pod or a container runs without AppArmor (appArmorProfile Unconfined, or the unconfined annotation)",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        let pod_profile = pod
            .spec
            .security_context
            .as_ref()
            .and_then(|s| s.app_armor_profile.as_ref());
        if pod_profile.is_some_and(|p| p.type_ == "Unconfined") {
            out.push_with(|| {
                Finding::new(
                    ID,
                    format!("{}.securityContext.appArmorProfile.type", pod.path.field),
                    format!("the pod runs without AppArmor (appArmorProfile Unconfined); {HOW}"),
                )
            });
        }
        for c in containers(&pod, ContainerSet::All) {
            let profile = c
                .security_context()
                .and_then(|s| s.app_armor_profile.as_ref());
            if profile.is_some_and(|p| p.type_ == "Unconfined") {
                out.push_with(|| {
                    Finding::new(
                        ID,
                        c.field("securityContext.appArmorProfile.type"),
                        format!(
                            "{} runs without AppArmor (appArmorProfile Unconfined); {HOW}",
                            c.describe()
                        ),
                    )
                });
            }
        }
        let annotations = pod.meta.and_then(|m| m.annotations.as_ref());
        for (key, value) in annotations.into_iter().flatten() {
            if let Some(container) = key.strip_prefix(ANNOTATION_PREFIX)
                && value == "unconfined"
            {
                // The pod's metadata sits beside its spec: `metadata`, `spec.template.metadata`.
                let parent = pod.path.field.strip_suffix("spec").unwrap_or_default();
                let meta_field = format!("{parent}metadata");
                out.push_with(|| Finding::new(
                    ID,
                    format!("{meta_field}.annotations[{key}]"),
                    format!("container {container} runs without AppArmor (annotation {key}: unconfined); {HOW}"),
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
    fn flags_unconfined_profiles_and_annotations() {
        let mut spec = one(json!({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}));
        spec["securityContext"] = json!({"appArmorProfile": {"type": "Unconfined"}});
        let deployment = object(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"container.apparmor.security.beta.kubernetes.io/web": "unconfined"}},
                "spec": spec}}}));
        assert_eq!(
            fields(&run(ID, &deployment)),
            [
                "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/web]",
                "spec.template.spec.containers[web].securityContext.appArmorProfile.type",
                "spec.template.spec.securityContext.appArmorProfile.type"
            ]
        );
    }

    #[test]
    fn passes_runtime_default_and_localhost() {
        let mut spec = one(
            json!({"securityContext": {"appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-web"}}}),
        );
        spec["securityContext"] = json!({"appArmorProfile": {"type": "RuntimeDefault"}});
        assert!(run(ID, &mk_pod(spec)).is_empty());
    }
}
