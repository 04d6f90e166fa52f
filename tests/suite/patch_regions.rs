//! The mutating webhook's patch is built from the parts of the object that changed
//! (`engine::patch`). Property: on every corpus manifest, every check fixture and a family of
//! generated objects of every workload kind, that patch has exactly the effect of the diff
//! between the whole object before and after, and applies to the document as written.

use crate::common::corpus_dir;
use bulwark::engine::{Context, Kind, Object, Policy, Review, mutate};
use bulwark::manifests::{Item, read_paths};
use serde_json::{Value, json};

/// Checks the property on one object; returns whether the mutations changed it.
fn same_effect(policy: &Policy, object: &Object, raw: Option<&Value>, what: &str) -> bool {
    let ctx = Context::manifest(Some("shop"), None, None, 1_700_000_000);
    let mutated = mutate(policy, &Review::of(object), &ctx);
    let before = object.to_value();
    let after = mutated.object.to_value();
    let whole = json_patch::diff(&before, &after);
    let mut by_regions = before.clone();
    json_patch::patch(&mut by_regions, &mutated.patch)
        .unwrap_or_else(|e| panic!("{what}: the patch does not apply: {e}"));
    let mut by_whole = before.clone();
    json_patch::patch(&mut by_whole, &whole).expect("the whole diff applies");
    assert_eq!(by_regions, after, "{what}: the patch misses a change");
    assert_eq!(by_whole, after, "{what}");
    assert_eq!(
        mutated.patch.0.is_empty(),
        whole.0.is_empty(),
        "{what}: {:?}",
        mutated.patch
    );
    if let Some(raw) = raw {
        let mut written = raw.clone();
        json_patch::patch(&mut written, &mutated.patch)
            .unwrap_or_else(|e| panic!("{what}: the patch does not apply as written: {e}"));
    }
    !whole.0.is_empty()
}

#[test]
fn on_every_corpus_manifest_and_fixture() {
    let corpus = corpus_dir().expect("../shared/corpus is needed for this test");
    let fixtures =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check");
    let policy = Policy::builtin();
    let (mut objects, mut changed) = (0, 0);
    for item in read_paths(&[corpus, fixtures]) {
        let Item::Object {
            source,
            raw,
            typed: Ok(object),
        } = item
        else {
            continue;
        };
        // Older apiVersions are read as the current one; the webhook never sees them as written.
        let as_written =
            raw.get("apiVersion").and_then(Value::as_str) == Some(&object.kind().api_version());
        let what = format!("{}:{}", source.file, source.line);
        objects += 1;
        if same_effect(&policy, &object, as_written.then_some(&raw), &what) {
            changed += 1;
        }
    }
    assert!(objects > 100, "only {objects} objects read");
    assert!(
        changed > 50,
        "only {changed} of {objects} objects were mutated"
    );
}

/// A container with some of what the mutations add already set, by the bits of `n`.
fn container(name: &str, n: u32) -> Value {
    let mut c =
        json!({"name": name, "image": if n & 1 == 0 { "shop/web:1.2" } else { "shop/web:latest" }});
    if n & 2 != 0 {
        c["resources"] = json!({"requests": {"cpu": "100m"}});
    }
    if n & 4 != 0 {
        c["securityContext"] = json!({"runAsNonRoot": true});
    }
    if n & 8 != 0 {
        c["lifecycle"] = json!({"preStop": {"sleep": {"seconds": 3}}});
    }
    if n & 16 != 0 {
        c["imagePullPolicy"] = json!("Always");
    }
    c
}

fn pod_spec(n: u32) -> Value {
    let mut spec = json!({"containers": [container("web", n), container("side", n >> 1), container("log", !n)]});
    if n & 32 != 0 {
        spec["initContainers"] = json!([container("init", n >> 2)]);
    }
    if n & 64 != 0 {
        spec["securityContext"] = json!({"runAsUser": 1000});
    }
    if n & 128 != 0 {
        spec["terminationGracePeriodSeconds"] = json!(1);
    }
    spec
}

fn workload(kind: &str, n: u32) -> Value {
    let labels = if n & 256 != 0 {
        json!({"app.kubernetes.io/name": "web"})
    } else {
        json!({})
    };
    let mut template = json!({"spec": pod_spec(n)});
    if n & 512 != 0 {
        template["metadata"] = json!({"labels": labels.clone(), "annotations": {"a/b": "c"}});
    }
    let meta = json!({"name": "web", "namespace": "shop", "labels": labels,
        "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]});
    let selector = json!({"matchLabels": {"app.kubernetes.io/name": "web"}});
    match kind {
        "Pod" => json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec(n)}),
        "Job" => {
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {"template": template}})
        }
        "CronJob" => json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}),
        "ReplicationController" => json!({"apiVersion": "v1", "kind": kind, "metadata": meta,
            "spec": {"replicas": 3, "template": template}}),
        _ => json!({"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
            "spec": {"replicas": 3, "selector": selector, "template": template},
            "status": {"replicas": 3}}),
    }
}

#[test]
fn on_generated_objects_of_every_workload_kind() {
    let policy = Policy::builtin();
    let mut changed = 0;
    for kind in [
        "Pod",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
        "CronJob",
    ] {
        // Every third combination of the ten bits: all of each bit, in a third of the time.
        for n in (0..1024).step_by(3) {
            let raw = workload(kind, n);
            let what = format!("{kind} #{n}");
            let api_version = raw["apiVersion"].as_str().unwrap_or_default();
            let kind = Kind::from_api_version(api_version, kind).expect("a workload kind");
            let object =
                Object::from_value(kind, raw.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
            if same_effect(&policy, &object, Some(&raw), &what) {
                changed += 1;
            }
        }
    }
    assert!(
        changed > 2000,
        "only {changed} generated objects were mutated"
    );
}
