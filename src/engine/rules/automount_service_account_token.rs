//! `automount-service-account-token`: a pod that runs as the namespace's `default`
//! ServiceAccount does not mount its API token.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "automount-service-account-token";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "a pod that names no ServiceAccount of its own sets automountServiceAccountToken: false",
    why: "the default ServiceAccount's token is mounted into every pod that does not opt out; a pod that never calls the API only hands an attacker a credential",
    fix: "set automountServiceAccountToken: false, or give the pod a ServiceAccount of its own if it calls the API",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(AutomountServiceAccountToken)),
};

struct AutomountServiceAccountToken;

impl Rule for AutomountServiceAccountToken {
    fn cel(&self) -> Option<RuleCel> {
        let spec = pod::spec();
        let account = spec.opt("serviceAccountName").or_value(Cel::str(""));
        Some(RuleCel::one(
            account.is_in(Cel::strs(&["", "default"])).negate().or(spec
                .opt("automountServiceAccountToken")
                .or_value(Cel::bool(true))
                .negate()),
            "the pod mounts the default ServiceAccount's API token",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        let spec = pod.spec;
        // A pod that needs the API runs as a ServiceAccount of its own, with its own RBAC.
        let account = spec
            .service_account_name
            .as_deref()
            .filter(|a| !a.is_empty())
            .unwrap_or("default");
        if account != "default" || spec.automount_service_account_token == Some(false) {
            return;
        }
        out.push_with(|| Finding::new(
            ID,
            format!("{}.automountServiceAccountToken", pod.path.field),
            "the pod mounts the default ServiceAccount's API token; set automountServiceAccountToken: false, or run it as a ServiceAccount of its own if it calls the API".to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_pods_of_the_default_account_that_mount_its_token() {
        assert_eq!(
            fields(&run(ID, &mk_deployment(2, one(json!({}))))),
            ["spec.template.spec.automountServiceAccountToken"]
        );
        let mut spec = one(json!({}));
        spec["serviceAccountName"] = json!("default");
        spec["automountServiceAccountToken"] = json!(true);
        assert_eq!(run(ID, &mk_pod(spec)).len(), 1);
    }

    #[test]
    fn passes_opted_out_pods_and_pods_with_their_own_account() {
        let mut spec = one(json!({}));
        spec["automountServiceAccountToken"] = json!(false);
        assert!(run(ID, &mk_pod(spec)).is_empty());
        let mut spec = one(json!({}));
        spec["serviceAccountName"] = json!("operator");
        assert!(run(ID, &mk_cronjob(spec)).is_empty());
    }
}
