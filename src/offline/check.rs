//! `bulwark check -f PATH...`: the rules on manifest files, for CI and
//! `helm template ... | bulwark check -f -`.
//!
//! A run reads every document, builds the bundle index once from all of them, then judges each
//! object with the same engine the webhook uses, as a manifest: no namespace unless the
//! document names one, the apiVersion as written, the other documents as its bundle. The
//! result is a [`Report`]; the formats in `report/` render it.
//!
//! In `mode: audit` nothing is denied, as in the webhook: a finding that would deny is reported
//! as `warn` with its message prefixed `[would deny]`, exactly what the webhook answers in that
//! mode, so `--fail-on deny` passes and `--fail-on warn` still fails on it.

use std::path::PathBuf;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::catalog;
use crate::engine::admission::{Decision, Review, admit, decide_findings};
use crate::engine::bundle::{BundleIndex, Coverage};
use crate::engine::exemption::Exemption;
use crate::engine::registry;
use crate::engine::rules::deprecated_api_version;
use crate::engine::{Context, Object, Policy};
use crate::manifests::{self, Item, Source};
use crate::offline::report::{
    ErrorEntry, ExemptedEntry, FindingEntry, ObjectEntry, ObjectRef, Report, Unread,
};

/// A document that holds an object, as far as it could be read.
enum Read {
    /// Decoded as a kind bulwark reads (possibly upgraded from an older apiVersion).
    Typed {
        source: Source,
        api_version: String,
        object: Box<Object>,
    },
    /// A removed apiVersion of a kind bulwark does not read: only its apiVersion is judged.
    Unread {
        source: Source,
        api_version: String,
        kind: String,
        meta: Box<ObjectMeta>,
    },
}

impl Read {
    fn source(&self) -> &Source {
        match self {
            Read::Typed { source, .. } | Read::Unread { source, .. } => source,
        }
    }

    fn object_ref(&self) -> ObjectRef {
        let (api_version, kind, meta) = match self {
            Read::Typed {
                api_version,
                object,
                ..
            } => (api_version, object.kind().name(), object.meta()),
            Read::Unread {
                api_version,
                kind,
                meta,
                ..
            } => (api_version, kind.as_str(), meta.as_ref()),
        };
        ObjectRef {
            api_version: api_version.clone(),
            kind: kind.to_string(),
            namespace: manifest_namespace(meta).map(String::from),
            name: meta
                .name
                .clone()
                .or_else(|| meta.generate_name.clone())
                .unwrap_or_default(),
        }
    }
}

/// The namespace a manifest names, if any; an unset one is chosen when it is applied.
fn manifest_namespace(meta: &ObjectMeta) -> Option<&str> {
    meta.namespace.as_deref().filter(|ns| !ns.is_empty())
}

/// Checks every object of `items` against `policy`.
pub fn run(policy: &Policy, items: Vec<Item>, now: i64) -> Report {
    check(policy, |out| items.into_iter().for_each(out), now)
}

/// Reads `paths` and checks every object in them against `policy`. Each raw document is
/// dropped as soon as it is decoded: a run holds the typed objects, not the input twice.
pub fn run_paths(policy: &Policy, paths: &[PathBuf], now: i64) -> Report {
    check(policy, |out| manifests::visit_paths(paths, out), now)
}

fn check(policy: &Policy, feed: impl FnOnce(&mut dyn FnMut(Item)), now: i64) -> Report {
    let mut report = Report::default();
    let mut reads = Vec::new();
    feed(&mut |item| match item {
        Item::Object {
            source,
            raw,
            typed: Ok(object),
        } => {
            // Keep the apiVersion as written and let the rest of the raw document go.
            let api_version = raw
                .get("apiVersion")
                .and_then(|v| v.as_str())
                .map_or_else(|| object.kind().api_version(), String::from);
            reads.push(Read::Typed {
                source,
                api_version,
                object: Box::new(object),
            });
        }
        Item::Object {
            source,
            raw,
            typed: Err(message),
        } => {
            report.unread.push(unread_document(&raw));
            report.errors.push(error(source, message));
        }
        Item::Unread {
            source,
            api_version,
            kind,
            meta,
            note,
            ..
        } => {
            report
                .notes
                .push(format!("{}:{}: {note}", source.file, source.line));
            report.unread.push(Unread {
                kind: Some(kind.clone()),
                namespace: Some(manifest_namespace(&meta).map(String::from)),
            });
            reads.push(Read::Unread {
                source,
                api_version,
                kind,
                meta,
            });
        }
        Item::Skipped { source, note, .. } => report
            .notes
            .push(format!("{}:{}: skipped: {note}", source.file, source.line)),
        Item::Error { source, message } => {
            report.unread.push(Unread::anything());
            report.errors.push(error(source, message));
        }
    });

    let index = BundleIndex::from_objects(
        Coverage::Partial,
        reads.iter().filter_map(|r| match r {
            Read::Typed { object, .. } => Some(object.as_ref()),
            Read::Unread { .. } => None,
        }),
    );

    for read in &reads {
        let source = read.source();
        let entry = ObjectEntry {
            object: read.object_ref(),
            file: Some(source.file.clone()),
            line: Some(source.line),
            checks: 0,
        };
        let decision = match read {
            Read::Typed {
                api_version,
                object,
                ..
            } => {
                let ctx = Context::manifest(
                    manifest_namespace(object.meta()),
                    Some(api_version),
                    Some(&index),
                    now,
                );
                admit(policy, &Review::of(object), &ctx)
            }
            Read::Unread {
                api_version,
                kind,
                meta,
                ..
            } => judge_unread(policy, api_version, kind, meta),
        };
        push_decision(&mut report, decision, entry);
    }

    report.count();
    report
}

/// Adds one object and its decision to the report. Shared by `check` and `audit`; `file` and
/// `line` are absent for objects read from a cluster. A denial that audit mode turned into a
/// warning is worded as the webhook words it, `[would deny] ...`. A finding that an object is
/// missing is withheld (and counted) when something the run could not read may be that object:
/// of the right kind (or unknown) in the same namespace (or anywhere).
pub fn push_decision(report: &mut Report, decision: Decision, mut entry: ObjectEntry) {
    entry.checks = decision.checked;
    report.checks += decision.checked;
    let object = &entry.object;
    for judged in decision.judged {
        let finding = judged.finding;
        let namespace = object.namespace.as_deref();
        if !finding.missing.is_empty()
            && report
                .unread
                .iter()
                .any(|u| u.could_be(finding.missing, namespace))
        {
            report.withheld += 1;
            continue;
        }
        let message = if judged.would_deny {
            format!("[would deny] {}", finding.message)
        } else {
            finding.message
        };
        report.findings.push(FindingEntry {
            rule: finding.rule,
            action: judged.action,
            would_deny: judged.would_deny,
            message,
            object: object.clone(),
            file: entry.file.clone(),
            line: entry.line,
            field: finding.field,
            why: registry::why(finding.rule).unwrap_or_default(),
            docs: catalog::docs_anchor(finding.rule),
        });
    }
    for exempted in decision.exempted {
        report.exempted.push(ExemptedEntry {
            rule: exempted.id,
            by: exempted.by,
            object: object.clone(),
        });
    }
    report.objects.push(entry);
}

/// `deprecated-api-version` on an object bulwark reads only the metadata of, through the same
/// exemptions, policy and mode as every other object.
fn judge_unread(policy: &Policy, api_version: &str, kind: &str, meta: &ObjectMeta) -> Decision {
    let namespace = manifest_namespace(meta);
    let name = meta.name.as_deref().unwrap_or_default();
    let exemption = Exemption::of_meta(policy, namespace, kind, name, &[Some(meta)]);
    let findings = deprecated_api_version::finding(api_version, kind)
        .into_iter()
        .collect();
    decide_findings(policy, &exemption, &[deprecated_api_version::ID], findings)
}

/// What is known of a document that did not decode: its kind and namespace as written.
fn unread_document(raw: &serde_json::Value) -> Unread {
    let namespace = raw
        .pointer("/metadata/namespace")
        .and_then(|v| v.as_str())
        .filter(|ns| !ns.is_empty())
        .map(String::from);
    Unread {
        kind: raw.get("kind").and_then(|v| v.as_str()).map(String::from),
        namespace: Some(namespace),
    }
}

fn error(source: Source, message: String) -> ErrorEntry {
    ErrorEntry {
        file: source.file,
        line: (source.line > 0).then_some(source.line),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Action, Mode};
    use crate::manifests::parse_text;
    use crate::offline::report::FailOn;

    const BUNDLE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app.kubernetes.io/name: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: shop/web:latest}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {app.kubernetes.io/name: web}}
spec: {selector: {app: wbe}, ports: [{port: 80}]}
---
apiVersion: v1
kind: [broken
";

    fn check(text: &str, policy: &Policy) -> Report {
        run(policy, parse_text("k8s/app.yaml", text), 1_700_000_000)
    }

    #[test]
    fn judges_every_object_with_its_bundle_and_reports_errors() {
        let report = check(BUNDLE, &Policy::builtin());
        assert_eq!(report.summary.objects, 2);
        assert_eq!(report.summary.errors, 1);
        assert_eq!(report.errors[0].line, Some(18));
        let rules: Vec<&str> = report.findings.iter().map(|f| f.rule).collect();
        assert!(rules.contains(&"image-tag-pinned"), "{rules:?}");
        // The broken document might be the workload the selector means: not claimed missing.
        assert!(!rules.contains(&"service-selector-matches"), "{rules:?}");
        assert_eq!(report.summary.withheld, 1);
        assert!(
            report
                .withheld_note()
                .is_some_and(|n| n.contains("1 input error(s)"))
        );
        assert_eq!(report.outcome(FailOn::Deny).exit_code(), 2);

        let readable = BUNDLE.split("---\napiVersion: v1\nkind: [broken").next();
        let report = check(readable.unwrap_or_default(), &Policy::builtin());
        let service = report
            .findings
            .iter()
            .find(|f| f.rule == "service-selector-matches")
            .expect("bundle finding");
        assert_eq!(service.line, Some(12));
        assert_eq!(service.object.describe(), "Service shop/web");
        assert_eq!(report.summary.withheld, 0);
        assert_eq!(report.withheld_note(), None);
    }

    #[test]
    fn audit_mode_reports_would_deny_as_warnings() {
        let policy = Policy::builtin().with_mode(Mode::Audit);
        let text = BUNDLE
            .split("---\napiVersion: v1\nkind: [broken")
            .next()
            .unwrap_or_default();
        let report = check(text, &policy);
        assert_eq!(report.summary.deny, 0);
        let pinned = report
            .findings
            .iter()
            .find(|f| f.rule == "image-tag-pinned")
            .expect("reported");
        assert_eq!(pinned.action, Action::Warn);
        assert!(pinned.message.starts_with("[would deny] "));
        assert_eq!(report.outcome(FailOn::Deny).exit_code(), 0);
        assert_eq!(report.outcome(FailOn::Warn).exit_code(), 1);
        assert_eq!(report.outcome(FailOn::Never).exit_code(), 0);
    }

    #[test]
    fn removed_versions_of_unread_kinds_are_judged_by_their_api_version() {
        let text = "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: RoleBinding\nmetadata: {name: rb, namespace: shop}\n---\napiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\nmetadata: {name: crd, annotations: {bulwark.dev/exempt: deprecated-api-version}}\n---\napiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: psp, namespace: kube-system}\n";
        let report = check(text, &Policy::builtin());
        assert_eq!(report.summary.objects, 3);
        assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
        assert_eq!(report.findings[0].rule, "deprecated-api-version");
        assert_eq!(
            report.findings[0].object.api_version,
            "rbac.authorization.k8s.io/v1beta1"
        );
        assert_eq!(report.notes.len(), 3);
    }

    #[test]
    fn a_manifest_without_a_namespace_is_not_judged_as_default() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {app.kubernetes.io/name: c}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, namespace: default, labels: {app.kubernetes.io/name: d}}\n";
        let report = check(text, &Policy::builtin());
        let rules: Vec<(&str, &str)> = report
            .findings
            .iter()
            .map(|f| (f.rule, f.object.name.as_str()))
            .collect();
        assert_eq!(rules, [("no-default-namespace", "d")]);
        assert_eq!(report.objects[0].object.namespace, None);
    }
}
