//! An audit report as policy reports that dashboards read, in one of two APIs of the same shape:
//! wgpolicyk8s.io/v1alpha2 (PolicyReport, ClusterPolicyReport: the Kubernetes Policy working
//! group's format) or openreports.io/v1alpha1 (Report, ClusterReport: its successor, which
//! Kyverno writes since 1.15). One report per namespace, one cluster-wide report for
//! cluster-scoped objects. Pure: the report in, the objects to apply out.
//!
//! Each report is bounded: at most `max_results` results (the summary still counts all), so a
//! namespace with thousands of findings cannot exceed what etcd stores in one object.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::engine::Action;
use crate::offline::report::{FindingEntry, Report};

/// The name of every report bulwark writes; a new run updates it in place.
pub const REPORT_NAME: &str = "bulwark-audit";
/// Results kept per report.
pub const MAX_RESULTS: usize = 500;
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// The API the reports are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportApi {
    /// wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport.
    Wgpolicyk8s,
    /// openreports.io/v1alpha1 Report and ClusterReport.
    Openreports,
}

impl ReportApi {
    pub fn group(self) -> &'static str {
        match self {
            ReportApi::Wgpolicyk8s => "wgpolicyk8s.io",
            ReportApi::Openreports => "openreports.io",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            ReportApi::Wgpolicyk8s => "v1alpha2",
            ReportApi::Openreports => "v1alpha1",
        }
    }

    pub fn api_version(self) -> String {
        format!("{}/{}", self.group(), self.version())
    }

    /// The kind of the report for one namespace (`namespaced`) or for the cluster scope.
    pub fn kind(self, namespaced: bool) -> &'static str {
        match (self, namespaced) {
            (ReportApi::Wgpolicyk8s, true) => "PolicyReport",
            (ReportApi::Wgpolicyk8s, false) => "ClusterPolicyReport",
            (ReportApi::Openreports, true) => "Report",
            (ReportApi::Openreports, false) => "ClusterReport",
        }
    }

    pub fn plural(self, namespaced: bool) -> &'static str {
        match (self, namespaced) {
            (ReportApi::Wgpolicyk8s, true) => "policyreports",
            (ReportApi::Wgpolicyk8s, false) => "clusterpolicyreports",
            (ReportApi::Openreports, true) => "reports",
            (ReportApi::Openreports, false) => "clusterreports",
        }
    }
}

/// One report to apply: in `namespace`, or the cluster-wide report when `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub namespace: Option<String>,
    pub body: Value,
}

/// The label every report carries, to find them on the next run.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}=bulwark")
}

/// One report per namespace that has objects (and one for cluster-scoped objects, if any).
pub fn render(report: &Report, api: ReportApi, now: i64, max_results: usize) -> Vec<Rendered> {
    let mut groups: BTreeMap<Option<&str>, (usize, Vec<&FindingEntry>)> = BTreeMap::new();
    let mut with_findings: BTreeMap<Option<&str>, std::collections::BTreeSet<(&str, &str)>> =
        BTreeMap::new();
    for object in &report.objects {
        groups
            .entry(object.object.namespace.as_deref())
            .or_default()
            .0 += 1;
    }
    for finding in &report.findings {
        let ns = finding.object.namespace.as_deref();
        groups.entry(ns).or_default().1.push(finding);
        with_findings
            .entry(ns)
            .or_default()
            .insert((finding.object.kind.as_str(), finding.object.name.as_str()));
    }
    groups
        .into_iter()
        .map(|(namespace, (objects, findings))| {
            let failing = with_findings.get(&namespace).map_or(0, |s| s.len());
            Rendered {
                namespace: namespace.map(String::from),
                body: body(
                    api,
                    namespace,
                    objects.saturating_sub(failing),
                    &findings,
                    now,
                    max_results,
                ),
            }
        })
        .collect()
}

/// A report with no results, for a namespace that had one on an earlier run.
pub fn empty(api: ReportApi, namespace: Option<&str>, now: i64) -> Rendered {
    Rendered {
        namespace: namespace.map(String::from),
        body: body(api, namespace, 0, &[], now, 0),
    }
}

fn body(
    api: ReportApi,
    namespace: Option<&str>,
    passing: usize,
    findings: &[&FindingEntry],
    now: i64,
    max_results: usize,
) -> Value {
    let count = |a: Action| findings.iter().filter(|f| f.action == a).count();
    let results: Vec<Value> = findings
        .iter()
        .take(max_results)
        .map(|f| result(f, now))
        .collect();
    let mut metadata = json!({"name": REPORT_NAME, "labels": {MANAGED_BY: "bulwark", "app.kubernetes.io/name": "bulwark"}});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    if findings.len() > results.len() {
        metadata["annotations"] =
            json!({"bulwark.dev/results-omitted": (findings.len() - results.len()).to_string()});
    }
    let mut body = json!({
        "apiVersion": api.api_version(),
        "kind": api.kind(namespace.is_some()),
        "metadata": metadata,
        "summary": {"pass": passing, "fail": count(Action::Deny), "warn": count(Action::Warn) + count(Action::Audit), "error": 0, "skip": 0},
        "results": results,
    });
    if api == ReportApi::Openreports {
        // OpenReports name the engine once per report and declare the bound they keep.
        body["source"] = json!("bulwark");
        body["configuration"] = json!({"limits": {"maxResults": MAX_RESULTS}});
    }
    body
}

fn result(f: &FindingEntry, now: i64) -> Value {
    let (result, severity) = match f.action {
        Action::Deny => ("fail", "high"),
        Action::Warn => ("warn", "medium"),
        _ => ("warn", "low"),
    };
    let mut resource =
        json!({"apiVersion": f.object.api_version, "kind": f.object.kind, "name": f.object.name});
    if let Some(ns) = &f.object.namespace {
        resource["namespace"] = json!(ns);
    }
    json!({
        "source": "bulwark",
        "policy": f.rule,
        "rule": f.rule,
        "result": result,
        "severity": severity,
        "scored": true,
        "timestamp": {"seconds": now, "nanos": 0},
        "message": f.message,
        "resources": [resource],
        "properties": {"field": f.field, "action": f.action.as_str()},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::report::{ObjectEntry, ObjectRef};

    fn object(ns: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: ns.map(String::from),
            name: name.into(),
        }
    }

    fn finding(ns: Option<&str>, name: &str, action: Action) -> FindingEntry {
        FindingEntry {
            rule: "image-tag-pinned",
            action,
            would_deny: false,
            message: "msg".into(),
            object: object(ns, name),
            file: None,
            line: None,
            field: "spec".into(),
            why: "",
            docs: String::new(),
        }
    }

    fn report() -> Report {
        let mut r = Report::default();
        for (ns, name) in [
            (Some("a"), "one"),
            (Some("a"), "two"),
            (Some("b"), "three"),
            (None, "role"),
        ] {
            r.objects.push(ObjectEntry {
                object: object(ns, name),
                file: None,
                line: None,
                checks: 10,
            });
        }
        r.findings = vec![
            finding(Some("a"), "one", Action::Deny),
            finding(Some("a"), "one", Action::Warn),
            finding(None, "role", Action::Audit),
        ];
        r.count();
        r
    }

    #[test]
    fn one_report_per_namespace_and_one_for_the_cluster() {
        let rendered = render(
            &report(),
            ReportApi::Wgpolicyk8s,
            1_700_000_000,
            MAX_RESULTS,
        );
        let names: Vec<(Option<&str>, &str)> = rendered
            .iter()
            .map(|r| {
                (
                    r.namespace.as_deref(),
                    r.body["kind"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                (None, "ClusterPolicyReport"),
                (Some("a"), "PolicyReport"),
                (Some("b"), "PolicyReport")
            ]
        );
        let a = &rendered[1].body;
        assert_eq!(a["metadata"]["name"], REPORT_NAME);
        assert_eq!(a["metadata"]["namespace"], "a");
        assert_eq!(
            a["summary"],
            json!({"pass": 1, "fail": 1, "warn": 1, "error": 0, "skip": 0})
        );
        assert_eq!(a["results"][0]["result"], "fail");
        assert_eq!(
            a["results"][0]["resources"][0],
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "one", "namespace": "a"})
        );
        assert_eq!(rendered[2].body["summary"]["pass"], 1);
        assert!(rendered[0].body["metadata"].get("namespace").is_none());
    }

    #[test]
    fn results_are_bounded_and_the_summary_still_counts_everything() {
        let mut r = report();
        for i in 0..20 {
            r.findings
                .push(finding(Some("b"), &format!("x{i}"), Action::Warn));
        }
        let rendered = render(&r, ReportApi::Wgpolicyk8s, 0, 5);
        let b = &rendered[2].body;
        assert_eq!(b["results"].as_array().map(Vec::len), Some(5));
        assert_eq!(b["summary"]["warn"], 20);
        assert_eq!(
            b["metadata"]["annotations"]["bulwark.dev/results-omitted"],
            "15"
        );
        assert_eq!(
            empty(ReportApi::Wgpolicyk8s, Some("gone"), 0).body["results"],
            json!([])
        );
    }

    #[test]
    fn openreports_are_reports_and_cluster_reports_of_the_same_shape() {
        let wg = render(
            &report(),
            ReportApi::Wgpolicyk8s,
            1_700_000_000,
            MAX_RESULTS,
        );
        let open = render(
            &report(),
            ReportApi::Openreports,
            1_700_000_000,
            MAX_RESULTS,
        );
        let kinds: Vec<(&str, &str)> = open
            .iter()
            .map(|r| {
                (
                    r.body["apiVersion"].as_str().unwrap_or_default(),
                    r.body["kind"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("openreports.io/v1alpha1", "ClusterReport"),
                ("openreports.io/v1alpha1", "Report"),
                ("openreports.io/v1alpha1", "Report")
            ]
        );
        for (w, o) in wg.iter().zip(&open) {
            assert_eq!(w.namespace, o.namespace);
            assert_eq!(w.body["summary"], o.body["summary"]);
            assert_eq!(w.body["results"], o.body["results"]);
            assert_eq!(w.body["metadata"], o.body["metadata"]);
            assert!(w.body.get("source").is_none());
        }
        assert_eq!(open[1].body["source"], "bulwark");
        assert_eq!(
            open[1].body["configuration"]["limits"]["maxResults"],
            MAX_RESULTS
        );
        let bounded = render(&report(), ReportApi::Openreports, 0, 1);
        assert_eq!(bounded[1].body["results"].as_array().map(Vec::len), Some(1));
        assert_eq!(bounded[1].body["summary"]["warn"], 1);
        assert_eq!(
            bounded[1].body["metadata"]["annotations"]["bulwark.dev/results-omitted"],
            "1"
        );
        assert_eq!(
            empty(ReportApi::Openreports, None, 0).body["kind"],
            "ClusterReport"
        );
    }
}
