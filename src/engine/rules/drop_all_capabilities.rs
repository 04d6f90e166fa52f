//! `drop-all-capabilities`: containers drop `ALL` capabilities and add back only allowed ones.

use crate::engine::cel::{Cel, RuleCel, pod};
use serde::Deserialize;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "drop-all-capabilities";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "capabilities.drop contains ALL; capabilities.add only lists params.allowed_add",
    why: "defense in depth: each Linux capability a process keeps is one more way out of the container",
    fix: "set securityContext.capabilities.drop: [ALL] and add back only what the process needs, such as NET_BIND_SERVICE",
    vap: Vap::Exports(""),
    build: |v| Ok(Box::new(DropAllCapabilities(serde_json::from_value(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    allowed_add: Vec<String>,
}

struct DropAllCapabilities(Params);

impl Rule for DropAllCapabilities {
    fn cel(&self) -> Option<RuleCel> {
        let drops_all = |c: Cel| {
            c.opt("securityContext")
                .opt("capabilities")
                .opt("drop")
                .or_empty()
                .exists("d", |d| d.call("upperAscii", []).eq(Cel::str("ALL")))
        };
        let allowed: Vec<String> = self
            .0
            .allowed_add
            .iter()
            .map(|a| a.to_ascii_uppercase())
            .collect();
        let adds_allowed = |c: Cel| {
            c.opt("securityContext")
                .opt("capabilities")
                .opt("add")
                .or_empty()
                .all("a", |a| {
                    let bare = Cel::cond(
                        a.clone().call("startsWith", [Cel::str("CAP_")]),
                        a.clone().call("substring", [Cel::int(4)]),
                        a,
                    );
                    bare.call("upperAscii", []).is_in(Cel::strs(&allowed))
                })
        };
        Some(
            RuleCel::one(
                pod::containers(ContainerSet::All).all("c", drops_all),
                "a container does not drop all capabilities (securityContext.capabilities.drop: [ALL])",
            )
            .and(
                pod::containers(ContainerSet::All).all("c", adds_allowed),
                format!(
                    "a container adds a capability other than {}",
                    if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") }
                ),
            ),
        )
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::All) {
            let caps = c.security_context().and_then(|s| s.capabilities.as_ref());
            let drops_all = caps
                .and_then(|c| c.drop.as_ref())
                .is_some_and(|d| d.iter().any(|cap| cap.eq_ignore_ascii_case("ALL")));
            if !drops_all {
                out.push_with(|| Finding::new(
                    ID,
                    c.field("securityContext.capabilities.drop"),
                    format!("{} does not drop all capabilities; set securityContext.capabilities.drop: [ALL]", c.describe()),
                ));
            }
            let extra: Vec<&str> = caps
                .and_then(|c| c.add.as_ref())
                .into_iter()
                .flatten()
                .map(String::as_str)
                .filter(|cap| {
                    let bare = cap.strip_prefix("CAP_").unwrap_or(cap);
                    !self
                        .0
                        .allowed_add
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(bare))
                })
                .collect();
            if !extra.is_empty() {
                out.push_with(|| {
                    Finding::new(
                        ID,
                        c.field("securityContext.capabilities.add"),
                        format!(
                            "{} adds capabilities {}; only {} may be added",
                            c.describe(),
                            extra.join(", "),
                            self.0.allowed_add.join(", ")
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
    fn flags_missing_drop_and_disallowed_adds() {
        let spec = one(
            json!({"securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_BIND_SERVICE"]}}}),
        );
        let found = run(ID, &mk_deployment(2, spec.clone()));
        assert_eq!(
            fields(&found),
            [
                "spec.template.spec.containers[web].securityContext.capabilities.add",
                "spec.template.spec.containers[web].securityContext.capabilities.drop",
            ]
        );
        assert!(
            found[0].message.contains("NET_ADMIN")
                && !found[0]
                    .message
                    .contains("adds capabilities NET_ADMIN, NET_BIND")
        );
        assert_eq!(run(ID, &mk_pod(spec)).len(), 2);
    }

    #[test]
    fn passes_drop_all_with_allowed_adds() {
        let spec = one(
            json!({"securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}),
        );
        assert!(run(ID, &mk_pod(spec)).is_empty());
    }
}
