//! Every manifest of the shared corpus: mutation succeeds, the patched document still decodes
//! as its kind, a second pass is empty, the patch only adds (never removes what the user
//! wrote), and the rules each mutation answers no longer fire unless a user value blocks it.

use crate::common::corpus_dir;
use bulwark::engine::mutations::MUTATIONS;
use bulwark::engine::{Context, Object, Policy, Review, admit, mutate};
use bulwark::manifests::{Item, read_paths};
use serde_json::Value;

/// Whether the original manifest holds a user value that stops a mutation from answering `rule`.
fn user_blocks(rule: &str, original: &Value, field: &str) -> bool {
    let text = original.to_string();
    match rule {
        // An explicit runAsUser: 0 or runAsNonRoot: false is a choice of root; a Windows pod
        // has no numeric users.
        "run-as-non-root" => {
            text.contains("\"runAsNonRoot\":false")
                || text.contains("\"runAsUser\":0")
                || text.contains("\"windowsOptions\"")
                || text.contains("\"kubernetes.io/os\":\"windows\"")
        }
        // `Never` is kept on purpose.
        "image-pull-policy-mutable-tag" => text.contains("\"imagePullPolicy\":\"Never\""),
        // No name and no app label to derive a value from.
        "recommended-labels" => {
            original["metadata"]["name"].is_null() && original["metadata"]["generateName"].is_null()
        }
        _ => {
            let _ = field;
            false
        }
    }
}

#[test]
fn every_corpus_manifest_mutates_cleanly_and_answers_its_rules() {
    let Some(dir) = corpus_dir() else {
        eprintln!("../shared/corpus is absent: skipping");
        return;
    };
    let policy = Policy::builtin();
    let answered: Vec<&str> = MUTATIONS.iter().map(|m| m.answers).collect();
    let (mut objects, mut changed) = (0, 0);
    for item in read_paths(&[dir]) {
        let Item::Object { source, raw, typed } = item else {
            continue;
        };
        let where_ = format!("{}:{}", source.file, source.line);
        let Ok(object) = typed else {
            // Documents that are not valid objects are reported by check; the API server would
            // refuse them too. Only mutate what decodes.
            continue;
        };
        // Older apiVersions are read as the current one for the rules; the webhook never sees
        // them, so their round trip is not the mutations' business.
        if raw.get("apiVersion").and_then(Value::as_str) != Some(&object.kind().api_version()) {
            continue;
        }
        objects += 1;
        let namespace = object
            .meta()
            .namespace
            .clone()
            .or(Some("corpus".to_string()));
        let ctx = Context::manifest(namespace.as_deref(), None, None, 1_700_000_000);
        let first = mutate(&policy, &Review::of(&object), &ctx);
        for op in &first.patch.0 {
            let value = serde_json::to_value(op).expect("op");
            let path = op.path().to_string();
            let allowed_replace = path.ends_with("/imagePullPolicy")
                || path.ends_with("/terminationGracePeriodSeconds");
            assert!(
                value["op"] == "add" || (value["op"] == "replace" && allowed_replace),
                "{where_}: {value}"
            );
        }
        let mut patched = raw.clone();
        json_patch::patch(&mut patched, &first.patch).unwrap_or_else(|e| panic!("{where_}: {e}"));
        if !first.patch.0.is_empty() {
            changed += 1;
        }
        let again = Object::from_value(object.kind(), patched.clone())
            .unwrap_or_else(|e| panic!("{where_}: patched object no longer decodes: {e}"));
        let second = mutate(&policy, &Review::of(&again), &ctx);
        assert!(
            second.patch.0.is_empty(),
            "{where_}: second pass {:?}",
            second.patch
        );
        let decision = admit(&policy, &Review::of(&again), &ctx);
        for finding in decision.judged.into_iter().map(|j| j.finding) {
            if answered.contains(&finding.rule) {
                assert!(
                    user_blocks(finding.rule, &raw, &finding.field),
                    "{where_}: {} still fires: {}",
                    finding.rule,
                    finding.message
                );
            }
        }
    }
    assert!(objects > 250, "only {objects} objects decoded");
    assert!(changed > 150, "only {changed} objects changed");
}
