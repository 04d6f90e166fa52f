//! Every document of the shared corpus of third-party manifests goes through the engine: the
//! kinds bulwark reads decode (except the few the API server would refuse too) and every rule
//! judges them without failing. The secret detectors' findings on the corpus are pinned, so a
//! change that makes them noisier shows up here.
//!
//! `cargo test --test corpus -- --nocapture` prints the findings per rule.

use std::collections::BTreeMap;

use crate::common::*;
use bulwark::engine::{Context, Kind, Object, Policy, Review, admit};

/// 2026-01-01, so the result does not depend on the day the test runs.
const NOW: i64 = 1_767_225_600;

/// Documents of a known kind that do not decode, and why the API server would refuse them too.
const UNDECODABLE: &[(&str, &str)] = &[
    (
        "kubernetes-website-recent/secret/serviceaccount/mysecretname.yaml",
        "annotations written as a list",
    ),
    (
        "kubernetes-website-recent/secret/tls-auth-secret.yaml",
        "data values that are placeholders, not base64",
    ),
];

/// The secret detectors' findings on the corpus: (file, rule, field). Each was reviewed: see
/// the comments.
const SECRET_FINDINGS: &[(&str, &str, &str)] = &[
    // MYSQL_ROOT_PASSWORD: the root password as a literal env value ("password"); it belongs
    // in a Secret. (MYSQL_ALLOW_EMPTY_PASSWORD: "1" in mysql-statefulset.yaml is a switch, not
    // a secret, and is not reported.)
    (
        "kubernetes-website-2021/application/mysql/mysql-deployment.yaml",
        "env-secret-literal",
        "spec.template.spec.containers[mysql].env[MYSQL_ROOT_PASSWORD].value",
    ),
];

#[test]
fn every_corpus_document_is_judged_without_an_error() {
    let Some(dir) = corpus_dir() else {
        eprintln!("../shared/corpus is absent: skipping the corpus sweep");
        return;
    };
    // Judge everything, kube-system included, to see what every rule says.
    let policy = Policy::layered(
        "corpus.yaml",
        "apiVersion: bulwark.dev/v1\nkind: Policy\nexemptions:\n  namespaces: []\n",
    )
    .expect("policy");
    let mut judged = 0;
    let mut undecodable = Vec::new();
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut secret_findings = Vec::new();
    for file in manifest_files(&dir) {
        let relative = file
            .strip_prefix(&dir)
            .expect("under the corpus")
            .display()
            .to_string();
        for document in documents(&file) {
            let api_version = document["apiVersion"].as_str().unwrap_or_default();
            let kind_name = document["kind"].as_str().unwrap_or_default();
            let Some(kind) = Kind::from_api_version(api_version, kind_name) else {
                continue;
            };
            let object = match Object::from_value(kind, document.clone()) {
                Ok(object) => object,
                Err(_) => {
                    undecodable.push(relative.clone());
                    continue;
                }
            };
            let ctx =
                Context::manifest(document["metadata"]["namespace"].as_str(), None, None, NOW);
            let findings = admit(&policy, &Review::of(&object), &ctx)
                .judged
                .into_iter()
                .map(|j| j.finding);
            judged += 1;
            *per_kind.entry(kind.name()).or_default() += 1;
            for finding in findings {
                *per_rule.entry(finding.rule).or_default() += 1;
                if std::env::var_os("BULWARK_CORPUS_SHOW").is_some_and(|v| {
                    v.to_str()
                        .is_some_and(|v| v.split(',').any(|r| r == finding.rule || r == "*"))
                }) {
                    eprintln!(
                        "{relative}: [{}] {}: {}",
                        finding.rule, finding.field, finding.message
                    );
                }
                if matches!(finding.rule, "configmap-no-secrets" | "env-secret-literal") {
                    eprintln!(
                        "{relative}: [{}] {}: {}",
                        finding.rule, finding.field, finding.message
                    );
                    secret_findings.push((relative.clone(), finding.rule, finding.field));
                }
            }
        }
    }
    eprintln!("{judged} objects judged: {per_kind:?}; findings per rule:");
    for (rule, count) in &per_rule {
        eprintln!("  {rule:40} {count}");
    }
    assert!(judged > 250, "only {judged} objects judged");
    let expected: Vec<&str> = UNDECODABLE.iter().map(|(f, _)| *f).collect();
    assert_eq!(undecodable, expected);
    let expected: Vec<(String, &str, String)> = SECRET_FINDINGS
        .iter()
        .map(|(f, r, field)| (f.to_string(), *r, field.to_string()))
        .collect();
    assert_eq!(secret_findings, expected);
}
