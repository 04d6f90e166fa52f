//! `netpol-egress-policy-type`: a NetworkPolicy with `egress` rules lists `Egress` in
//! `policyTypes`, or its egress rules are ignored.

use crate::engine::cel::{Cel, RuleCel};
use k8s_openapi::api::networking::v1::NetworkPolicy;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "netpol-egress-policy-type";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::NetworkPolicy]),
    sees: &[Sees::Admission],
    summary: "a policy with egress rules lists Egress in policyTypes",
    why: "egress rules take effect only when policyTypes lists Egress; otherwise the policy silently leaves outbound traffic wide open",
    fix: "add Egress to spec.policyTypes (and Ingress too when the policy has ingress rules)",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(NetpolEgressPolicyType)),
};

struct NetpolEgressPolicyType;

/// The policy types in force: as written, or the API server's default when none are written
/// (`Ingress`, plus `Egress` when there are egress rules).
pub fn effective_policy_types(policy: &NetworkPolicy) -> Vec<&str> {
    let Some(spec) = policy.spec.as_ref() else {
        return vec!["Ingress"];
    };
    match spec.policy_types.as_deref() {
        Some(types) if !types.is_empty() => types.iter().map(String::as_str).collect(),
        _ if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) => vec!["Ingress", "Egress"],
        _ => vec!["Ingress"],
    }
}

impl Rule for NetpolEgressPolicyType {
    fn cel(&self) -> Option<RuleCel> {
        let spec = Cel::var("object").opt("spec");
        let egress = spec.opt("egress").or_empty().size();
        let types = spec.opt("policyTypes").or_empty();
        // Without policyTypes the API server counts Egress in when there are egress rules.
        Some(RuleCel::one(
            Cel::every([
                egress.gt(Cel::int(0)),
                types.clone().size().gt(Cel::int(0)),
                Cel::str("Egress").is_in(types).negate(),
            ])
            .negate(),
            "spec.egress has rules but policyTypes does not list Egress, so they are ignored",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::NetworkPolicy(policy) = object else {
            return;
        };
        let egress_rules = policy
            .spec
            .as_ref()
            .and_then(|s| s.egress.as_ref())
            .map_or(0, Vec::len);
        let types = effective_policy_types(policy);
        if egress_rules == 0 || types.contains(&"Egress") {
            return;
        }
        out.push_with(|| Finding::new(
            ID,
            "spec.policyTypes",
            format!(
                "spec.egress has {egress_rules} rule{} but policyTypes lists only {}, so they are ignored and outbound traffic is not restricted; add Egress to policyTypes",
                if egress_rules == 1 { "" } else { "s" },
                types.join(", ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::{Value, json};

    fn policy(spec: Value) -> Object {
        mk(Kind::NetworkPolicy, json!({"spec": spec}))
    }

    #[test]
    fn flags_egress_rules_without_egress_in_policy_types() {
        let found = run(
            ID,
            &policy(json!({"podSelector": {}, "policyTypes": ["Ingress"],
                           "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]})),
        );
        assert_eq!(fields(&found), ["spec.policyTypes"]);
        assert!(
            found[0]
                .message
                .contains("has 1 rule but policyTypes lists only Ingress")
        );
    }

    #[test]
    fn passes_listed_or_defaulted_egress_and_policies_without_egress_rules() {
        for spec in [
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "egress": [{}]}),
            json!({"podSelector": {}, "egress": [{}]}),
            json!({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}),
            json!({"podSelector": {}, "policyTypes": ["Ingress"], "egress": []}),
        ] {
            assert!(run(ID, &policy(spec.clone())).is_empty(), "{spec}");
        }
    }
}
