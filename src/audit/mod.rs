//! `bulwark audit`: the dry-run audit of what already runs. Lists every kind bulwark judges
//! from the cluster (page by page), judges each object with the same engine and policy as the
//! webhook, with the whole cluster as the bundle, and reports: text or the JSON report shape of
//! `check`, and optionally one PolicyReport per namespace. It changes nothing else.
//!
//! `judge` is pure (listed objects in, report out); `cluster.rs` and `reports.rs` hold the I/O.

pub mod cluster;
pub mod policy_report;
pub mod progress;
pub mod reports;

use std::fmt::Write as _;

use crate::engine::admission::{Review, admit};
use crate::engine::bundle::{BundleIndex, Coverage};
use crate::engine::{Context, Object, Policy};
use crate::offline::check::push_decision;
use crate::offline::report::{ActionCounts, ErrorEntry, ObjectEntry, ObjectRef, Report, Unread};
use cluster::{ListError, Listed};

/// Judges every listed object; objects that do not decode become errors.
pub fn judge(
    policy: &Policy,
    listed: Vec<Listed>,
    list_errors: Vec<ListError>,
    now: i64,
) -> Report {
    let mut report = Report::default();
    for e in list_errors {
        // A listing that failed may have held any object of its kind, in any namespace.
        report.unread.push(Unread {
            kind: Some(e.kind.name().to_string()),
            namespace: None,
        });
        report.errors.push(ErrorEntry {
            file: format!("cluster {}", e.kind.plural()),
            line: None,
            message: e.message,
        });
    }
    let mut objects = Vec::with_capacity(listed.len());
    for item in listed {
        match Object::decode_value(item.kind, &item.raw) {
            Ok(object) => objects.push(object),
            Err(e) => {
                let namespace = item
                    .raw
                    .pointer("/metadata/namespace")
                    .and_then(|v| v.as_str())
                    .filter(|ns| !ns.is_empty())
                    .map(String::from);
                report.unread.push(Unread {
                    kind: Some(item.kind.name().to_string()),
                    namespace: Some(namespace),
                });
                report.errors.push(ErrorEntry {
                    file: format!("cluster {}", item.kind.plural()),
                    line: None,
                    message: e.message(&item.kind.api_version(), item.kind.name()),
                });
            }
        }
    }
    // The listing is complete for the namespaces it covers: absence is meaningful.
    let index = BundleIndex::from_objects(Coverage::Complete, objects.iter());
    for object in &objects {
        let meta = object.meta();
        let namespace = meta.namespace.as_deref().filter(|ns| !ns.is_empty());
        let object_ref = ObjectRef {
            api_version: object.kind().api_version(),
            kind: object.kind().name().to_string(),
            namespace: namespace.map(String::from),
            name: meta.name.clone().unwrap_or_default(),
        };
        let entry = ObjectEntry {
            object: object_ref,
            file: None,
            line: None,
            checks: 0,
        };
        let ctx = Context::cluster(namespace, &index, now);
        let decision = admit(policy, &Review::of(object), &ctx);
        push_decision(&mut report, decision, entry);
    }
    report.count();
    report
}

/// The text report: totals, then findings per rule and per namespace, then each finding.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(
        out,
        "{} objects: {} deny, {} warn, {} audit; {} errors",
        s.objects, s.deny, s.warn, s.audit, s.errors
    );
    if let Some(note) = report.withheld_note() {
        let _ = writeln!(out, "note: {note}");
    }
    let per_rule = report.tally(|f| f.rule);
    let per_namespace = report.tally(|f| f.object.namespace.as_deref().unwrap_or("(cluster)"));
    for (title, table) in [("rule", &per_rule), ("namespace", &per_namespace)] {
        if table.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\nby {title}:");
        let width = table.keys().map(|k| k.len()).max().unwrap_or(0);
        for (key, counts) in table {
            let ActionCounts { deny, warn, audit } = counts;
            let _ = writeln!(
                out,
                "  {key:width$}  {deny:>5} deny {warn:>5} warn {audit:>5} audit"
            );
        }
    }
    if !report.findings.is_empty() {
        let _ = writeln!(out, "\nfindings:");
        for f in &report.findings {
            let _ = writeln!(
                out,
                "  {:<5} {:<32} {}: {}",
                f.action.as_str(),
                f.rule,
                f.object.describe(),
                f.message
            );
        }
    }
    for e in &report.errors {
        let _ = writeln!(out, "error: {}: {}", e.file, e.message);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Action, Kind};
    use serde_json::json;

    fn listed(kind: Kind, raw: serde_json::Value) -> Listed {
        Listed { kind, raw }
    }

    #[test]
    fn judges_the_cluster_as_one_bundle_without_file_or_line() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "shop/web:latest"}]}}}});
        // The Service's selector matches no pods, but a Deployment of its namespace could not be
        // read: the claim is withheld and the summary says so.
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop", "labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"selector": {"app": "wbe"}, "ports": [{"port": 80}]}});
        let broken = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad", "namespace": "shop"}, "spec": {"replicas": "three"}});
        let report = judge(
            &Policy::builtin(),
            vec![
                listed(Kind::Deployment, deployment),
                listed(Kind::Service, service),
                listed(Kind::Deployment, broken),
            ],
            vec![ListError {
                kind: Kind::Role,
                message: "forbidden".into(),
            }],
            1_700_000_000,
        );
        assert_eq!(report.summary.objects, 2);
        assert_eq!(report.errors.len(), 2);
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.rule == "image-tag-pinned" && f.action == Action::Deny)
        );
        assert!(
            !report
                .findings
                .iter()
                .any(|f| f.rule == "service-selector-matches")
        );
        assert_eq!(report.summary.withheld, 1);
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.file.is_none() && f.line.is_none())
        );
        // Offline-only rules do not fire on cluster objects.
        assert!(
            !report
                .findings
                .iter()
                .any(|f| f.rule == "hpa-replicas-conflict" || f.rule == "secret-type-explicit")
        );
        let text = render_text(&report);
        assert!(
            text.contains("by rule:") && text.contains("by namespace:") && text.contains("  shop"),
            "{text}"
        );
        assert!(
            text.contains("1 finding(s) that an object is missing"),
            "{text}"
        );
    }
}
