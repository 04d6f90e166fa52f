//! `selector-matches-template`: a controller's selector picks the pods its own template makes.

use crate::engine::bundle::Selector;
use crate::engine::rule::{
    Context, Finding, Findings, Origin, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::rules::service_selector_matches::show_labels;
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "selector-matches-template";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
        Kind::ReplicationController,
    ]),
    sees: &[Sees::Offline],
    summary: "selector.matchLabels is a subset of the pod template labels (and the selector is set)",
    why: "a selector that does not match the template is the classic 'pod is not owned by the deployment' bug; the API server rejects it, so catch it before apply",
    fix: "make every selector.matchLabels pair also a label of spec.template.metadata.labels",
    vap: Vap::No(
        "fires only on manifest files: the API server defaults or rejects the field before any admission check sees it",
    ),
    build: |_| Ok(Box::new(SelectorMatchesTemplate)),
};

struct SelectorMatchesTemplate;

impl Rule for SelectorMatchesTemplate {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        // The API server rejects a mismatch before any webhook sees it.
        if ctx.origin != Origin::Manifest {
            return;
        }
        let Some(pod) = object.pod() else { return };
        let empty = Default::default();
        let labels = pod.meta.and_then(|m| m.labels.as_ref()).unwrap_or(&empty);
        let selector = match object {
            Object::Deployment(o) => o.spec.as_ref().map(|s| &s.selector),
            Object::StatefulSet(o) => o.spec.as_ref().map(|s| &s.selector),
            Object::DaemonSet(o) => o.spec.as_ref().map(|s| &s.selector),
            Object::ReplicaSet(o) => o.spec.as_ref().map(|s| &s.selector),
            Object::ReplicationController(rc) => {
                // An unset selector defaults to the template labels.
                let Some(selector) = rc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
                    return;
                };
                if !Selector::Map(selector).matches(labels) {
                    out.push_with(|| mismatch("spec.selector", selector, labels));
                }
                return;
            }
            _ => None,
        };
        let Some(selector) = selector else { return };
        let match_labels = selector.match_labels.as_ref().filter(|m| !m.is_empty());
        let expressions = selector
            .match_expressions
            .as_ref()
            .filter(|e| !e.is_empty());
        if match_labels.is_none() && expressions.is_none() {
            out.push_with(|| Finding::new(
                ID,
                "spec.selector",
                format!(
                    "{} has no selector; set spec.selector.matchLabels to the pod template's labels",
                    object.kind().name()
                ),
            ));
            return;
        }
        if let Some(match_labels) = match_labels
            && !Selector::Map(match_labels).matches(labels)
        {
            out.push_with(|| mismatch("spec.selector.matchLabels", match_labels, labels));
        }
        if expressions.is_some() && !Selector::Label(selector).matches(labels) {
            out.push_with(|| Finding::new(
                ID,
                "spec.selector.matchExpressions",
                "selector.matchExpressions do not match the pod template labels, so the controller would not own its own pods; make the expressions match spec.template.metadata.labels",
            ));
        }
    }
}

fn mismatch(
    field: &str,
    selector: &std::collections::BTreeMap<String, String>,
    labels: &std::collections::BTreeMap<String, String>,
) -> Finding {
    let missing = selector
        .iter()
        .filter(|(k, v)| labels.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Finding::new(
        ID,
        field,
        format!(
            "selector {} is not on the pod template labels ({}), so the controller would not own its own pods; make spec.template.metadata.labels carry every selector label",
            show_labels(&missing),
            if labels.is_empty() {
                "none".to_string()
            } else {
                show_labels(labels)
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    fn with(selector: serde_json::Value, labels: serde_json::Value) -> Object {
        object(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": selector, "template": {"metadata": {"labels": labels}, "spec": one(json!({}))}}}))
    }

    #[test]
    fn flags_selectors_the_template_does_not_satisfy() {
        let cases = [
            (
                json!({"matchLabels": {"app": "web"}}),
                json!({"app": "web", "tier": "front"}),
                vec![],
            ),
            (
                json!({"matchLabels": {"app": "web"}}),
                json!({"app": "api"}),
                vec!["spec.selector.matchLabels"],
            ),
            (
                json!({"matchLabels": {"app": "web", "tier": "x"}}),
                json!({"app": "web"}),
                vec!["spec.selector.matchLabels"],
            ),
            (json!({}), json!({"app": "web"}), vec!["spec.selector"]),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]}),
                json!({"app": "web"}),
                vec!["spec.selector.matchExpressions"],
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
                json!({"app": "web"}),
                vec![],
            ),
        ];
        for (selector, labels, expected) in cases {
            let found = run_manifest(ID, &with(selector.clone(), labels), "apps/v1");
            assert_eq!(fields(&found), expected, "{selector}");
        }
        let found = run_manifest(
            ID,
            &with(
                json!({"matchLabels": {"app": "web"}}),
                json!({"app": "api"}),
            ),
            "apps/v1",
        );
        assert!(found[0].message.contains("app=web") && found[0].message.contains("app=api"));
    }

    #[test]
    fn replication_controllers_default_to_their_template() {
        let rc = |selector: serde_json::Value| {
            object(json!({"apiVersion": "v1", "kind": "ReplicationController",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"selector": selector, "template": {"metadata": {"labels": {"app": "web"}}, "spec": one(json!({}))}}}))
        };
        assert!(run_manifest(ID, &rc(json!(null)), "v1").is_empty());
        assert_eq!(
            fields(&run_manifest(ID, &rc(json!({"app": "db"})), "v1")),
            ["spec.selector"]
        );
    }

    #[test]
    fn fires_only_on_manifests() {
        let broken = with(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "api"}),
        );
        assert!(run(ID, &broken).is_empty());
    }
}
