//! `config-rollout-checksum`: a pod template that takes env from a ConfigMap of the same bundle
//! carries a `checksum/*` annotation, so a config change rolls the pods.

use std::collections::HashSet;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "config-rollout-checksum";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet]),
    sees: &[Sees::Bundle],
    summary: "a template that takes env from a ConfigMap of the same bundle (envFrom/configMapKeyRef) carries a checksum/* annotation",
    why: "env vars are read once at pod start: without a checksum of the config in the template, a ConfigMap change never reaches running pods",
    fix: "add an annotation such as `checksum/config` holding a hash of the ConfigMap to the pod template (Helm's sha256sum does it), so a change of the config rolls the pods",
    vap: Vap::No(
        "needs other objects (the run's documents, the cluster); a policy sees one object",
    ),
    build: |_| Ok(Box::new(ConfigRolloutChecksum)),
};

struct ConfigRolloutChecksum;

impl Rule for ConfigRolloutChecksum {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        let (Some(view), Some(pod)) = (ctx.namespace_view(object), object.pod()) else {
            return;
        };
        // In first-seen order for the message; the set keeps the check linear in the number
        // of references.
        let mut names: Vec<&str> = Vec::new();
        let mut seen = HashSet::new();
        for c in containers(&pod, ContainerSet::AppAndInit) {
            let from_env = c.env().iter().filter_map(|e| {
                let r = e.value_from.as_ref()?.config_map_key_ref.as_ref()?;
                Some(r.name.as_str())
            });
            let from_env_from = c
                .env_from()
                .iter()
                .filter_map(|e| Some(e.config_map_ref.as_ref()?.name.as_str()));
            for name in from_env.chain(from_env_from) {
                // An immutable ConfigMap changes by getting a new name, which rolls the pods.
                let bundled = view.config_map(name).is_some_and(|cm| !cm.immutable);
                if bundled && seen.insert(name) {
                    names.push(name);
                }
            }
        }
        if names.is_empty() {
            return;
        }
        let has_checksum = pod
            .meta
            .and_then(|m| m.annotations.as_ref())
            .is_some_and(|a| a.keys().any(|k| k.starts_with("checksum/")));
        if !has_checksum {
            out.push_with(|| Finding::new(
                ID,
                "spec.template.metadata.annotations",
                format!(
                    "the pods take env from ConfigMap {} but the template has no checksum/* annotation, so a config change never reaches running pods; add checksum/config with a hash of the rendered ConfigMap",
                    names.join(", ")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    fn mk_config_map(name: &str, immutable: bool) -> Object {
        object(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "shop"}, "immutable": immutable, "data": {"k": "v"}}))
    }

    fn with_annotations(annotations: serde_json::Value, container: serde_json::Value) -> Object {
        object(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}, "annotations": annotations},
                    "spec": one(container)}}}))
    }

    #[test]
    fn flags_env_from_a_bundled_config_map_without_a_checksum() {
        for container in [
            json!({"envFrom": [{"configMapRef": {"name": "settings"}}]}),
            json!({"env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}}]}),
        ] {
            let bundle = [
                with_annotations(json!({}), container.clone()),
                mk_config_map("settings", false),
            ];
            let found = run_bundle(ID, &bundle, 0);
            assert_eq!(
                fields(&found),
                ["spec.template.metadata.annotations"],
                "{container}"
            );
            assert!(found[0].message.contains("ConfigMap settings"));
        }
    }

    #[test]
    fn passes_a_checksum_an_unbundled_or_immutable_map_and_volumes() {
        let env_from = json!({"envFrom": [{"configMapRef": {"name": "settings"}}]});
        let annotated = with_annotations(json!({"checksum/config": "abc"}), env_from.clone());
        assert!(run_bundle(ID, &[annotated, mk_config_map("settings", false)], 0).is_empty());
        let plain = with_annotations(json!({}), env_from.clone());
        assert!(run_bundle(ID, &[plain.clone(), mk_config_map("other", false)], 0).is_empty());
        assert!(run_bundle(ID, &[plain.clone(), mk_config_map("settings", true)], 0).is_empty());
        assert!(run_manifest(ID, &plain, "apps/v1").is_empty());
    }
}
