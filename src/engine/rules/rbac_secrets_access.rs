//! `rbac-secrets-access`: no ClusterRole, and no Role without `resourceNames`, lets its
//! subjects read Secrets (`get`, `list` or `watch` on `secrets`, also through `*`).

use crate::engine::cel::{Cel, RuleCel};
use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "rbac-secrets-access";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Role, Kind::ClusterRole]),
    sees: &[Sees::Admission],
    summary: "a ClusterRole, or a Role without resourceNames, does not grant get/list/watch on secrets (also through *)",
    why: "a compromised pod acts with its ServiceAccount's rights; read access to all Secrets turns one breach into a leak of every credential",
    fix: "grant get on the Secrets it needs by name (resourceNames), in a Role of the namespace that holds them",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(RbacSecretsAccess)),
};

struct RbacSecretsAccess;

/// The rules a Role or ClusterRole grants that bulwark judges. An aggregated ClusterRole's
/// rules are written by the aggregation controller from other ClusterRoles, which are judged
/// on their own, so it has none here.
pub fn judged_rules(object: &Object) -> &[PolicyRule] {
    match object {
        Object::Role(role) => role.rules.as_deref().unwrap_or_default(),
        Object::ClusterRole(role) if role.aggregation_rule.is_none() => {
            role.rules.as_deref().unwrap_or_default()
        }
        _ => &[],
    }
}

/// [`judged_rules`] in CEL: the object's rules, none for an aggregated ClusterRole (the
/// controller fills those in).
pub fn judged_rules_cel() -> Cel {
    let object = Cel::var("object");
    let aggregated = Cel::var("request")
        .get("kind")
        .get("kind")
        .eq(Cel::str("ClusterRole"))
        .and(object.opt("aggregationRule").is_present());
    Cel::cond(
        aggregated,
        Cel::empty_list(),
        object.opt("rules").or_empty(),
    )
}

fn has(list: Option<&[String]>, wanted: &str) -> bool {
    list.unwrap_or_default()
        .iter()
        .any(|v| v == wanted || v == "*")
}

impl Rule for RbacSecretsAccess {
    fn cel(&self) -> Option<RuleCel> {
        let cluster = Cel::var("request")
            .get("kind")
            .get("kind")
            .eq(Cel::str("ClusterRole"));
        let has = |list: Cel, wanted: &str| {
            list.exists("x", |x| {
                x.clone().eq(Cel::str(wanted)).or(x.eq(Cel::str("*")))
            })
        };
        let reads_secrets = |r: Cel| {
            let verbs = r.opt("verbs").or_empty();
            Cel::every([
                has(r.opt("apiGroups").or_empty(), ""),
                has(r.opt("resources").or_empty(), "secrets"),
                Cel::either(["get", "list", "watch"].map(|v| has(verbs.clone(), v))),
                cluster
                    .clone()
                    .or(r.opt("resourceNames").or_empty().size().eq(Cel::int(0))),
            ])
        };
        Some(RuleCel::one(
            judged_rules_cel().all("r", |r| reads_secrets(r).negate()),
            "a rule grants get, list or watch on Secrets without resourceNames (any such rule of a ClusterRole)",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let cluster = object.kind() == Kind::ClusterRole;
        for (i, rule) in judged_rules(object).iter().enumerate() {
            let groups = rule.api_groups.as_deref();
            let resources = rule.resources.as_deref();
            let verbs: Vec<&str> = ["get", "list", "watch"]
                .into_iter()
                .filter(|v| has(Some(&rule.verbs), v))
                .collect();
            if !has(groups, "") || !has(resources, "secrets") || verbs.is_empty() {
                continue;
            }
            let named = rule.resource_names.as_ref().is_some_and(|n| !n.is_empty());
            if named && !cluster {
                continue;
            }
            let through_wildcard = [groups, resources, Some(rule.verbs.as_slice())]
                .iter()
                .any(|l| l.unwrap_or_default().iter().any(|v| v == "*"));
            let via = if through_wildcard { " (through *)" } else { "" };
            let verbs = verbs.join(", ");
            let message = match (cluster, named) {
                (false, _) => format!(
                    "rules[{i}] grants {verbs} on every Secret in the namespace{via}; name the Secrets the workload reads in resourceNames"
                ),
                (true, false) => format!(
                    "rules[{i}] grants {verbs} on every Secret, in every namespace when bound cluster-wide{via}, so one compromised pod reads all credentials; use a namespaced Role with resourceNames"
                ),
                (true, true) => format!(
                    "rules[{i}] grants {verbs} on the named Secrets in every namespace when bound cluster-wide{via}; use a namespaced Role with resourceNames"
                ),
            };
            out.push_with(|| Finding::new(ID, format!("rules[{i}]"), message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::{Value, json};

    fn role(kind: Kind, rules: Value) -> Object {
        mk(kind, json!({"rules": rules}))
    }

    #[test]
    fn flags_reading_all_secrets_directly_or_through_wildcards() {
        let rules = json!([
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]},
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete"]},
            {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}
        ]);
        for kind in [Kind::Role, Kind::ClusterRole] {
            let found = run(ID, &role(kind, rules.clone()));
            assert_eq!(fields(&found), ["rules[1]", "rules[2]"], "{kind:?}");
            assert!(
                found[0]
                    .message
                    .starts_with("rules[1] grants list, watch on every Secret")
            );
            assert!(
                found[1].message.contains("get, list, watch")
                    && found[1].message.contains("(through *)")
            );
        }
    }

    #[test]
    fn resource_names_scope_a_role_but_not_a_cluster_role() {
        let rules = json!([{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["db"], "verbs": ["get"]}]);
        assert!(run(ID, &role(Kind::Role, rules.clone())).is_empty());
        let found = run(ID, &role(Kind::ClusterRole, rules));
        assert!(
            found[0]
                .message
                .contains("on the named Secrets in every namespace")
        );
    }

    #[test]
    fn leaves_aggregated_cluster_roles_to_their_parts() {
        let aggregated = mk(
            Kind::ClusterRole,
            json!({"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}]},
                   "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
        );
        assert!(run(ID, &aggregated).is_empty());
        assert!(
            run(
                ID,
                &role(
                    Kind::ClusterRole,
                    json!([{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}])
                )
            )
            .is_empty()
        );
    }
}
