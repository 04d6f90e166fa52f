//! `dedicated-service-account`: pods run under their own ServiceAccount, not `default`.

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "dedicated-service-account";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "the pod spec names a serviceAccountName other than default",
    why: "least privilege: an attacker in a pod inherits its ServiceAccount, and the shared default one often has more rights than one service needs",
    fix: "create a ServiceAccount for this workload with only the RBAC it needs and name it in serviceAccountName; set automountServiceAccountToken: false if it never calls the API",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(DedicatedServiceAccount)),
};

struct DedicatedServiceAccount;

impl Rule for DedicatedServiceAccount {
    fn cel(&self) -> Option<RuleCel> {
        // `serviceAccount` is the deprecated spelling of the same field.
        let spec = pod::spec();
        let account = spec
            .opt("serviceAccountName")
            .or(spec.opt("serviceAccount"))
            .or_value(Cel::str(""));
        Some(RuleCel::one(
            account.is_in(Cel::strs(&["", "default"])).negate(),
            "the pod runs as the namespace's default ServiceAccount",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        // `serviceAccount` is the deprecated spelling of the same field.
        let account = pod
            .spec
            .service_account_name
            .as_deref()
            .or(pod.spec.service_account.as_deref());
        if matches!(account, None | Some("") | Some("default")) {
            out.push_with(|| Finding::new(
                ID,
                format!("{}.serviceAccountName", pod.path.field),
                "the pod runs as the namespace's default ServiceAccount; create one for this workload with only the RBAC it needs and set serviceAccountName",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_unset_and_default() {
        assert_eq!(
            fields(&run(ID, &mk_deployment(3, one(json!({}))))),
            ["spec.template.spec.serviceAccountName"]
        );
        let mut spec = one(json!({}));
        spec["serviceAccountName"] = json!("default");
        assert_eq!(run(ID, &mk_pod(spec)).len(), 1);
    }

    #[test]
    fn passes_a_dedicated_account() {
        let mut spec = one(json!({}));
        spec["serviceAccountName"] = json!("checkout");
        assert!(run(ID, &mk_cronjob(spec)).is_empty());
    }
}
