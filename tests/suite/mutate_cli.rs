//! `bulwark mutate` as a user runs it: the built binary on files and on stdin, in all three
//! outputs, with a broken document in the input.

use std::process::Output;

use serde_json::Value;

const MANIFEST: &str = "\
# a Helm-style stream with a comment
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: shop/web:latest
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop, labels: {app.kubernetes.io/name: shop}}
data: {mode: fast}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
";

fn bulwark(args: &[&str], stdin: Option<&str>) -> Output {
    crate::common::bulwark_cli(args, stdin)
}

fn write_manifest(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, text).expect("write");
    let path = path.display().to_string();
    (dir, path)
}

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .expect("output is YAML")
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn yaml_output_adds_the_defaults_and_a_second_run_changes_nothing() {
    let (_dir, path) = write_manifest(MANIFEST);
    let out = bulwark(&["mutate", "-f", &path], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let docs = yaml_docs(&text);
    assert_eq!(
        docs.len(),
        3,
        "every document is printed, kinds bulwark does not read included"
    );
    let pod = &docs[0]["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["resources"]["requests"]["cpu"], "100m");
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        docs[1]["data"]["mode"], "fast",
        "other documents pass through"
    );

    // The same text on stdin gives the same output, and mutating the output is a no-op.
    let from_stdin = bulwark(&["mutate", "-f", "-"], Some(MANIFEST));
    assert_eq!(String::from_utf8_lossy(&from_stdin.stdout), text);
    let again = bulwark(&["mutate", "-f", "-"], Some(&text));
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);
}

#[test]
fn patch_output_is_a_json_patch_per_object_that_applies() {
    let (_dir, path) = write_manifest(MANIFEST);
    for args in [
        vec!["mutate", "-f", path.as_str(), "--output", "patch"],
        vec!["mutate", "-o", "patch", "-f", "-"],
    ] {
        let stdin = (args.contains(&"-")).then_some(MANIFEST);
        let out = bulwark(&args, stdin);
        assert!(out.status.success());
        let patches: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(patches.len(), 2);
        assert_eq!(patches[0]["kind"], "Deployment");
        assert_eq!(patches[0]["line"], 3);
        let patch: json_patch::Patch =
            serde_json::from_value(patches[0]["patch"].clone()).expect("a JSON Patch");
        let mut doc = yaml_docs(MANIFEST).remove(0);
        json_patch::patch(&mut doc, &patch).expect("applies");
        assert_eq!(
            doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
            "web"
        );
        // The ConfigMap already has its label: an empty patch.
        assert_eq!(patches[1]["patch"], serde_json::json!([]));
    }
}

#[test]
fn diff_output_is_a_unified_diff_and_empty_once_mutated() {
    let (_dir, path) = write_manifest(MANIFEST);
    let out = bulwark(&["mutate", "-f", &path, "--output", "diff"], None);
    assert!(out.status.success());
    let diff = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        diff.contains(&format!("--- a/{path}:3 (Deployment shop/web)")),
        "{diff}"
    );
    assert!(diff.contains("+        imagePullPolicy: Always"), "{diff}");
    assert!(diff.contains("+      securityContext:"), "{diff}");
    assert!(
        !diff.contains("ConfigMap"),
        "unchanged objects have no diff: {diff}"
    );
    let stdin_diff = bulwark(&["mutate", "-o", "diff", "-f", "-"], Some(MANIFEST));
    assert!(
        String::from_utf8_lossy(&stdin_diff.stdout).contains("+        imagePullPolicy: Always")
    );

    let mutated = bulwark(&["mutate", "-f", &path], None);
    let again = bulwark(
        &["mutate", "-o", "diff", "-f", "-"],
        Some(&String::from_utf8_lossy(&mutated.stdout)),
    );
    assert!(again.status.success());
    assert!(
        again.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn a_broken_document_is_reported_with_its_line_and_the_rest_is_mutated() {
    let text = format!("{MANIFEST}---\napiVersion: v1\nkind: [broken\n");
    let (_dir, path) = write_manifest(&text);
    let out = bulwark(&["mutate", "-f", &path], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{path}:31")), "{stderr}");
    assert_eq!(yaml_docs(&String::from_utf8_lossy(&out.stdout)).len(), 3);
    let missing = bulwark(&["mutate", "-f", "/nonexistent/file.yaml"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/file.yaml"));
}
