//! `add-recommended-labels`: the Kubernetes recommended labels on the object and its pod
//! template, derived from what the object already says. Selectors are never touched: a
//! Deployment's selector is immutable and must keep matching the pods it already owns.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use crate::engine::mutation::{Change, Mutation, MutationSpec, params, pod_to_mutate};
use crate::engine::rule::Context;
use crate::engine::workload::Object;
use crate::engine::workload::PodMut;

pub const ID: &str = "add-recommended-labels";

/// The labels this mutation can derive a value for, and from where.
const DERIVABLE: &[(&str, &str)] = &[
    (
        "app.kubernetes.io/name",
        "the `app` label, else the object name",
    ),
    ("app.kubernetes.io/instance", "the object name"),
    (
        "app.kubernetes.io/component",
        "the `component` or `tier` label",
    ),
];

pub static SPEC: MutationSpec = MutationSpec {
    id: ID,
    summary: "app.kubernetes.io/name (from the app label, else the object name) on the object and its pod template metadata; never on selectors",
    why: "consistent recommended labels let dashboards, selectors and tools find an application without custom configuration",
    answers: "recommended-labels",
    build: |v| {
        let p: Params = params(v)?;
        for label in &p.labels {
            if !DERIVABLE.iter().any(|(l, _)| l == label) {
                let known: Vec<&str> = DERIVABLE.iter().map(|(l, _)| *l).collect();
                return Err(format!(
                    "cannot derive a value for label `{label}`; derivable labels: {}",
                    known.join(", ")
                ));
            }
        }
        Ok(Box::new(AddRecommendedLabels(p)))
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    labels: Vec<String>,
}

struct AddRecommendedLabels(Params);

/// Makes `value` a valid label value: at most 63 characters of `[A-Za-z0-9._-]`, starting
/// and ending with an alphanumeric.
fn label_value(value: &str) -> Option<String> {
    let cleaned: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn label<'a>(meta: Option<&'a ObjectMeta>, key: &str) -> Option<&'a str> {
    meta.and_then(|m| m.labels.as_ref())
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

impl AddRecommendedLabels {
    /// The value for each wanted label, from the object's own labels, its template's, or its name.
    fn values(&self, object: &Object) -> BTreeMap<String, String> {
        let meta = object.meta();
        let template = object.pod().and_then(|p| p.meta);
        let name = meta.name.as_deref().or_else(|| {
            meta.generate_name
                .as_deref()
                .map(|g| g.trim_end_matches('-'))
        });
        let from = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| label(Some(meta), k).or_else(|| label(template, k)))
        };
        let mut values = BTreeMap::new();
        for wanted in &self.0.labels {
            let value = match wanted.as_str() {
                "app.kubernetes.io/name" => from(&["app"]).or(name),
                "app.kubernetes.io/instance" => name,
                "app.kubernetes.io/component" => from(&["component", "tier"]),
                _ => None,
            };
            if let Some(value) = value.and_then(label_value) {
                values.insert(wanted.clone(), value);
            }
        }
        values
    }
}

/// Adds the missing labels to `meta`; returns the keys it added.
fn add_missing(meta: &mut ObjectMeta, values: &BTreeMap<String, String>) -> Vec<String> {
    let missing: Vec<(&String, &String)> = values
        .iter()
        .filter(|(k, _)| label(Some(meta), k).is_none())
        .collect();
    if missing.is_empty() {
        return Vec::new();
    }
    let labels = meta.labels.get_or_insert_default();
    missing
        .into_iter()
        .map(|(k, v)| {
            labels.insert(k.clone(), v.clone());
            format!("{k}={v}")
        })
        .collect()
}

impl Mutation for AddRecommendedLabels {
    fn apply(&self, object: &mut Object, ctx: &Context, changes: &mut Vec<Change>) {
        let kind = object.kind();
        if kind.is_cluster_scoped() {
            return;
        }
        let values = self.values(object);
        if values.is_empty() {
            return;
        }
        let added = add_missing(object.meta_mut(), &values);
        if !added.is_empty() {
            changes.push(Change {
                mutation: ID,
                field: "metadata.labels".into(),
                message: format!("add labels {}", added.join(", ")),
            });
        }
        // A Pod's metadata was just handled; templates are separate metadata.
        if kind == crate::engine::Kind::Pod {
            return;
        }
        let Some(PodMut {
            meta: template_meta,
            path,
            ..
        }) = pod_to_mutate(object, ctx)
        else {
            return;
        };
        let added = add_missing(template_meta, &values);
        if !added.is_empty() {
            let field = path.field.trim_end_matches(".spec").to_string() + ".metadata.labels";
            changes.push(Change {
                mutation: ID,
                field,
                message: format!("add pod template labels {}", added.join(", ")),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mutations::testing::*;
    use serde_json::json;

    #[test]
    fn labels_the_object_and_its_template_from_the_app_label_creating_parents() {
        for (input, _, template) in
            workloads(json!({"containers": [{"name": "w", "image": "w:1"}]}))
        {
            let kind = input["kind"].as_str().unwrap_or_default().to_string();
            let mut expected = input.clone();
            // The object itself: the Pod already has labels, controllers get a new map.
            if kind == "Pod" {
                expected["metadata"]["labels"]["app.kubernetes.io/name"] = json!("web");
            } else {
                expected["metadata"]["labels"] = json!({"app.kubernetes.io/name": "web"});
                expected.pointer_mut(template).expect("template")["labels"]["app.kubernetes.io/name"] =
                    json!("web");
            }
            let patched = assert_mutates(ID, json!({}), input.clone(), expected);
            // Selectors are never touched.
            assert_eq!(patched["spec"]["selector"], input["spec"]["selector"]);
        }
    }

    #[test]
    fn keys_with_slash_and_tilde_are_escaped_in_patch_paths() {
        let input = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop", "labels": {"team~a/b": "x"}}});
        let paths = patch_paths(ID, json!({}), input);
        assert_eq!(paths, ["/metadata/labels/app.kubernetes.io~1name"]);
        // A tilde in a key that the diff has to name is escaped as ~0.
        let before = crate::engine::rules::testing::object(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"x": "1"}}}),
        );
        let after = crate::engine::rules::testing::object(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"x": "1", "a~b/c": "2"}}}),
        );
        let patch = crate::engine::admission::diff(&before, &after);
        assert_eq!(patch.0[0].path().to_string(), "/metadata/labels/a~0b~1c");
    }

    #[test]
    fn falls_back_to_the_name_and_never_overrides_existing_labels() {
        let input = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "checkout-api", "namespace": "shop"}, "spec": {"selector": {"app": "x"}}});
        let mut expected = input.clone();
        expected["metadata"]["labels"] = json!({"app.kubernetes.io/name": "checkout-api"});
        assert_mutates(ID, json!({}), input, expected);
        let input = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop", "labels": {"app.kubernetes.io/name": "mine", "app": "other"}}});
        assert_mutates(ID, json!({}), input.clone(), input);
    }

    #[test]
    fn derives_instance_and_component_and_refuses_labels_it_cannot_derive() {
        let input = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "namespace": "shop", "labels": {"tier": "backend"}}});
        let mut expected = input.clone();
        expected["metadata"]["labels"]["app.kubernetes.io/instance"] = json!("c1");
        expected["metadata"]["labels"]["app.kubernetes.io/component"] = json!("backend");
        assert_mutates(
            ID,
            json!({"labels": ["app.kubernetes.io/instance", "app.kubernetes.io/component"]}),
            input,
            expected,
        );
        assert!((SPEC.build)(json!({"labels": ["app.kubernetes.io/version"]})).is_err());
    }

    #[test]
    fn long_names_become_valid_label_values() {
        assert_eq!(label_value(&"a".repeat(80)).map(|v| v.len()), Some(63));
        assert_eq!(label_value("-web-"), Some("web".to_string()));
        assert_eq!(label_value("--"), None);
    }
}
