//! `rbac-wildcards`: a Role or ClusterRole grants no `*` in `verbs`, `resources` or
//! `apiGroups` (nor a pattern such as `pods/*`).

use super::rbac_secrets_access::{judged_rules, judged_rules_cel};
use crate::engine::cel::{Cel, Opt, RuleCel};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "rbac-wildcards";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Role, Kind::ClusterRole]),
    sees: &[Sees::Admission],
    summary: "no * in verbs, resources or apiGroups",
    why: "least privilege: a wildcard grants everything that exists and everything added later (new resources, CRDs, verbs such as escalate and impersonate)",
    fix: "list the apiGroups, resources and verbs the subject actually uses",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(RbacWildcards)),
};

struct RbacWildcards;

impl Rule for RbacWildcards {
    fn cel(&self) -> Option<RuleCel> {
        let no_wildcard = |list: Opt| {
            list.or_empty()
                .all("v", |v| v.call("contains", [Cel::str("*")]).negate())
        };
        Some(RuleCel::one(
            judged_rules_cel().all("r", |r| {
                Cel::every([
                    no_wildcard(r.opt("apiGroups")),
                    no_wildcard(r.opt("resources")),
                    no_wildcard(r.opt("verbs")),
                ])
            }),
            "a rule has a wildcard (*) in apiGroups, resources or verbs",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        for (i, rule) in judged_rules(object).iter().enumerate() {
            let lists: [(&str, &[String], &str); 3] = [
                (
                    "apiGroups",
                    rule.api_groups.as_deref().unwrap_or_default(),
                    "every API group, CRDs installed later included; list the groups it needs",
                ),
                (
                    "resources",
                    rule.resources.as_deref().unwrap_or_default(),
                    "every resource it matches, ones added later included; list the resources it needs",
                ),
                (
                    "verbs",
                    &rule.verbs,
                    "every verb, escalate, bind and impersonate included; list the verbs it needs",
                ),
            ];
            for (name, values, covers) in lists {
                let wild: Vec<&str> = values
                    .iter()
                    .filter(|v| v.contains('*'))
                    .map(String::as_str)
                    .collect();
                if wild.is_empty() {
                    continue;
                }
                out.push_with(|| {
                    Finding::new(
                        ID,
                        format!("rules[{i}].{name}"),
                        format!(
                            "rules[{i}].{name} has {}, which grants {covers}",
                            wild.join(", ")
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
    fn flags_each_list_with_a_wildcard() {
        let object = mk(
            Kind::ClusterRole,
            json!({"rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"apiGroups": [""], "resources": ["pods", "pods/*"], "verbs": ["get"]}
            ]}),
        );
        let found = run(ID, &object);
        assert_eq!(
            fields(&found),
            [
                "rules[0].apiGroups",
                "rules[0].resources",
                "rules[0].verbs",
                "rules[1].resources"
            ]
        );
        assert!(
            found[3]
                .message
                .starts_with("rules[1].resources has pods/*, which grants")
        );
    }

    #[test]
    fn passes_explicit_rules_and_aggregated_roles() {
        let object = mk(
            Kind::Role,
            json!({"rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}]}),
        );
        assert!(run(ID, &object).is_empty());
        let aggregated = mk(
            Kind::ClusterRole,
            json!({"aggregationRule": {"clusterRoleSelectors": []}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        );
        assert!(run(ID, &aggregated).is_empty());
    }
}
