//! The score of a run: the share of rule checks that passed, overall and per namespace.
//!
//! A rule check is one (object, rule that judged it) pair; it passes when that rule found
//! nothing on that object. An object with three findings of one rule fails one check, not
//! three. Pure: the report and the policy in, counts out.
//!
//! Which rules judged an object is the engine's answer (`admission::Decision::checked`), the
//! same for `check`, `audit` and the webhook.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{ObjectKey, Report};

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

/// Scores `report`: each object's rule checks are the ones the engine's admission decision
/// counted (`ObjectEntry::checks`: the rules that ran on it and were not exempted), and a
/// check fails when its rule reported something on that object.
pub fn score(report: &Report) -> Score {
    // The rules that found something, per object.
    let mut failing: BTreeMap<ObjectKey, BTreeSet<&str>> = BTreeMap::new();
    for f in &report.findings {
        failing.entry(f.object_key()).or_default().insert(f.rule);
    }
    let mut overall = Tally::default();
    let mut namespaces: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    for entry in &report.objects {
        let failed = failing.get(&entry.key()).map_or(0, BTreeSet::len);
        let checks = entry.checks.max(failed);
        let passed = checks - failed;
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
    use crate::engine::Policy;
    use crate::manifests::parse_text;
    use crate::offline::check;

    const NOW: i64 = 1_700_000_000;

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
        let score = score(&report);
        let deployment = report.objects[0].checks;
        let configmap = report.objects[1].checks;
        assert!(deployment > 20 && configmap > 2, "{deployment} {configmap}");
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
        assert_eq!(score.overall.checks, deployment + configmap);
        assert_eq!(score.overall.passed, score.overall.checks - failed.len());
        assert_eq!(
            score.namespaces,
            [
                (
                    Some("other".to_string()),
                    Tally {
                        checks: configmap,
                        passed: configmap
                    }
                ),
                (
                    Some("shop".to_string()),
                    Tally {
                        checks: deployment,
                        passed: deployment - failed.len()
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
