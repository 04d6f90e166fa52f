//! `recommended-labels`: objects carry the Kubernetes recommended labels named in params.

use crate::engine::cel::{Cel, RuleCel};
use serde::Deserialize;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "recommended-labels";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Namespaced,
    sees: &[Sees::Admission],
    summary: "metadata.labels has the labels in params.required (default app.kubernetes.io/name)",
    why: "consistent recommended labels make dashboards, selectors and tooling work without custom configuration",
    fix: "add the required labels (e.g. app.kubernetes.io/name) to metadata.labels; a Helm helper template keeps them consistent",
    vap: Vap::Exports(""),
    build: |v| Ok(Box::new(RecommendedLabels(serde_json::from_value(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    required: Vec<String>,
}

struct RecommendedLabels(Params);

impl Rule for RecommendedLabels {
    fn cel(&self) -> Option<RuleCel> {
        let labels = Cel::var("object").get("metadata").opt("labels");
        Some(RuleCel::one(
            Cel::every(self.0.required.iter().map(|l| labels.opt(l).is_set())),
            format!("the object lacks a label of {}", self.0.required.join(", ")),
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let labels = object.meta().labels.as_ref();
        let missing: Vec<&str> = self
            .0
            .required
            .iter()
            .filter(|l| !labels.is_some_and(|labels| labels.contains_key(l.as_str())))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            out.push_with(|| {
                Finding::new(
                    ID,
                    "metadata.labels",
                    format!(
                        "{} lacks the label{} {}; add {}",
                        object.kind().name(),
                        if missing.len() == 1 { "" } else { "s" },
                        missing.join(", "),
                        if missing.len() == 1 { "it" } else { "them" }
                    ),
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_missing_labels() {
        assert_eq!(
            fields(&run(ID, &mk_deployment(3, one(json!({}))))),
            ["metadata.labels"]
        );
        let found = run_with(
            ID,
            json!({"required": ["app.kubernetes.io/name", "team"]}),
            &mk_pod(one(json!({}))),
        );
        assert!(found[0].message.contains("app.kubernetes.io/name, team"));
    }

    #[test]
    fn passes_when_labels_are_present() {
        let object = object(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app.kubernetes.io/name": "shop"}}}),
        );
        assert!(run(ID, &object).is_empty());
    }
}
