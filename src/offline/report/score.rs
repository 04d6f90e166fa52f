//! The score of a run: the share of rule checks that passed, overall and per namespace.
//!
//! A rule check is one (object, rule that judged it) pair; it passes when that rule found
//! nothing on that object. An object with three findings of one rule fails one check, not
//! three. Pure: the report and the policy in, counts out.
//!
//! Which rules judged an object is decided in one place, [`rules_that_judged`]; every count
//! here goes through it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{ObjectKey, ObjectRef, Report};
use crate::engine::rule::Sees;
use crate::engine::workload::other_version;
use crate::engine::{Kind, Origin, Policy};

/// How the page words the score, next to the number.
pub const DEFINITION: &str = "The score is the share of rule checks that passed. A rule check is \
    one object judged by one rule; it passes when that rule found nothing wrong with that \
    object, however many fields it looked at. Score = passed checks ÷ all checks.";

/// Checks and passes of one group of objects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub checks: usize,
    pub passed: usize,
}

impl Tally {
    /// The score in percent; 100 when nothing was checked (nothing failed).
    pub fn percent(&self) -> f64 {
        if self.checks == 0 {
            100.0
        } else {
            self.passed as f64 * 100.0 / self.checks as f64
        }
    }

    /// `87.5%`, rounded down to a tenth so that 99.96% never shows as 100%.
    pub fn percent_text(&self) -> String {
        let tenths = (self.passed * 1000)
            .checked_div(self.checks)
            .unwrap_or(1000);
        format!("{}.{}%", tenths / 10, tenths % 10)
    }
}

/// The score of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Score {
    pub overall: Tally,
    /// Per namespace in name order; `None` holds the objects without one (cluster-scoped in
    /// `audit`, manifests that leave it to `kubectl -n` in `check`).
    pub namespaces: Vec<(Option<String>, Tally)>,
}

/// The rule ids that judged `object` under `policy`.
///
/// Until the engine reports the rules it ran on each object, this is worked out from the
/// policy: every active rule (and bundle check) whose scope covers the object's kind, except
/// that an exempt namespace is judged by no rule and a rule that fires only on manifest files
/// judges no object listed from a cluster. An object bulwark reads only the apiVersion of (an
/// unknown kind) is judged by the rules that reported on it. The caller adds the rules that
/// reported a finding, so a finding always counts as a failed check.
pub fn rules_that_judged(
    policy: &Policy,
    object: &ObjectRef,
    origin: Origin,
) -> BTreeSet<&'static str> {
    let mut ids = BTreeSet::new();
    if policy.exempts_namespace(object.namespace.as_deref()) {
        return ids;
    }
    let kind = Kind::from_api_version(&object.api_version, &object.kind)
        .or_else(|| other_version(&object.api_version, &object.kind).and_then(|o| o.reads_as));
    let Some(kind) = kind else {
        return ids;
    };
    let manifest_only = |sees: &[Sees]| sees.iter().all(|s| *s == Sees::Offline);
    for rule in policy.active_rules() {
        if rule.spec.applies_to(kind)
            && !(origin == Origin::Cluster && manifest_only(rule.spec.sees))
        {
            ids.insert(rule.spec.id);
        }
    }
    for check in policy.active_bundle_checks() {
        // A check of the same id as a rule counts as that rule: the set holds it once.
        if check.applies_to(kind) {
            ids.insert(check.id);
        }
    }
    ids
}

/// Scores `report`, whose objects came from `origin`, against the policy that judged it.
pub fn score(report: &Report, policy: &Policy, origin: Origin) -> Score {
    // The rules that found something, per object.
    let mut failing: BTreeMap<ObjectKey, BTreeSet<&str>> = BTreeMap::new();
    for f in &report.findings {
        failing.entry(f.object_key()).or_default().insert(f.rule);
    }
    let mut overall = Tally::default();
    let mut namespaces: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    for entry in &report.objects {
        let failed = failing.get(&entry.key());
        let mut judged = rules_that_judged(policy, &entry.object, origin);
        judged.extend(failed.into_iter().flatten().copied());
        let checks = judged.len();
        let passed = checks - failed.map_or(0, BTreeSet::len);
        for tally in [
            &mut overall,
            namespaces
                .entry(entry.object.namespace.clone())
                .or_default(),
        ] {
            tally.checks += checks;
            tally.passed += passed;
        }
    }
    Score {
        overall,
        namespaces: namespaces.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::parse_text;
    use crate::offline::check;

    const NOW: i64 = 1_700_000_000;

    fn object(api_version: &str, kind: &str, namespace: Option<&str>) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(String::from),
            name: "x".into(),
        }
    }

    #[test]
    fn the_rules_that_judge_an_object_are_the_active_rules_of_its_kind() {
        let policy = Policy::builtin();
        let deployment = rules_that_judged(
            &policy,
            &object("apps/v1", "Deployment", Some("shop")),
            Origin::Manifest,
        );
        assert!(deployment.contains("image-tag-pinned"));
        assert!(deployment.contains("selector-matches-template"));
        assert!(!deployment.contains("ingress-tls"));
        let service = rules_that_judged(
            &policy,
            &object("v1", "Service", Some("shop")),
            Origin::Manifest,
        );
        assert!(
            service.contains("service-selector-matches") && !service.contains("image-tag-pinned")
        );
        // The bundle half of a rule counts under its rule id, once.
        let pdb = rules_that_judged(
            &policy,
            &object("policy/v1", "PodDisruptionBudget", Some("shop")),
            Origin::Manifest,
        );
        assert!(pdb.contains("pdb-allows-disruption"));
    }

    #[test]
    fn offline_rules_do_not_judge_cluster_objects_and_exempt_namespaces_are_not_judged() {
        let policy = Policy::builtin();
        let listed = rules_that_judged(
            &policy,
            &object("apps/v1", "Deployment", Some("shop")),
            Origin::Cluster,
        );
        assert!(listed.contains("image-tag-pinned"));
        assert!(!listed.contains("selector-matches-template"));
        assert!(!listed.contains("deprecated-api-version"));
        let system = rules_that_judged(
            &policy,
            &object("apps/v1", "Deployment", Some("kube-system")),
            Origin::Cluster,
        );
        assert!(system.is_empty());
        // An upgraded old version is judged as its current kind; an unread kind by nothing.
        let old = rules_that_judged(
            &policy,
            &object("extensions/v1beta1", "Deployment", Some("shop")),
            Origin::Manifest,
        );
        assert!(old.contains("image-tag-pinned"), "{old:?}");
        let unread = rules_that_judged(
            &policy,
            &object("example.com/v1", "Widget", Some("shop")),
            Origin::Manifest,
        );
        assert!(unread.is_empty());
    }

    #[test]
    fn a_check_fails_once_per_rule_and_object_and_namespaces_are_scored_apart() {
        let policy = Policy::builtin();
        // Two containers on :latest: two findings of one rule, one failed check.
        let text = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app.kubernetes.io/name: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: a, image: 'shop/a:latest'}
      - {name: b, image: 'shop/b:latest'}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: other, labels: {app.kubernetes.io/name: c}}
data: {key: value}
";
        let report = check::run(&policy, parse_text("app.yaml", text), NOW);
        let score = score(&report, &policy, Origin::Manifest);
        let deployment = rules_that_judged(&policy, &report.objects[0].object, Origin::Manifest);
        let configmap = rules_that_judged(&policy, &report.objects[1].object, Origin::Manifest);
        let failed: BTreeSet<&str> = report.findings.iter().map(|f| f.rule).collect();
        assert_eq!(
            report
                .findings
                .iter()
                .filter(|f| f.rule == "image-tag-pinned")
                .count(),
            2
        );
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.object.kind == "Deployment")
        );
        assert_eq!(score.overall.checks, deployment.len() + configmap.len());
        assert_eq!(score.overall.passed, score.overall.checks - failed.len());
        assert_eq!(
            score.namespaces,
            [
                (
                    Some("other".to_string()),
                    Tally {
                        checks: configmap.len(),
                        passed: configmap.len()
                    }
                ),
                (
                    Some("shop".to_string()),
                    Tally {
                        checks: deployment.len(),
                        passed: deployment.len() - failed.len()
                    }
                ),
            ]
        );
    }

    #[test]
    fn percentages_round_down_and_nothing_checked_is_a_full_score() {
        let t = |checks, passed| Tally { checks, passed };
        assert_eq!(t(0, 0).percent_text(), "100.0%");
        assert_eq!(t(3, 2).percent_text(), "66.6%");
        assert_eq!(t(10_000, 9_999).percent_text(), "99.9%");
        assert_eq!(t(4, 4).percent_text(), "100.0%");
        assert!((t(8, 7).percent() - 87.5).abs() < 1e-9);
    }
}
