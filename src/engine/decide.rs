//! Findings plus policy become a verdict: each finding gets its effective action.
//!
//! The action is the rule's action from the policy, capped by the finding's own ceiling, and
//! on UPDATE a denial the old object already had is downgraded to a warning (ratcheting), so
//! scaling or relabelling a legacy workload is not blocked by an old violation.

use super::policy::{Mode, Policy};
use super::{Action, Finding};

/// A finding with the action it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    pub finding: Finding,
    pub action: Action,
    /// A denial downgraded because the old object already had it.
    pub ratcheted: bool,
}

/// The outcome for one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub mode: Mode,
    /// Every finding whose action is not `off`, in finding order.
    pub judged: Vec<Judged>,
}

impl Verdict {
    /// Whether the object is admitted: audit mode admits everything.
    pub fn allowed(&self) -> bool {
        self.mode == Mode::Audit || !self.judged.iter().any(|j| j.action == Action::Deny)
    }

    pub fn with_action(&self, action: Action) -> impl Iterator<Item = &Judged> {
        self.judged.iter().filter(move |j| j.action == action)
    }

    /// The rule ids that fired, deduplicated, for logs.
    pub fn rule_ids(&self) -> Vec<&'static str> {
        let mut ids: Vec<_> = self.judged.iter().map(|j| j.finding.rule).collect();
        ids.dedup();
        ids
    }

    pub fn count(&self, action: Action) -> usize {
        self.with_action(action).count()
    }
}

/// Gives each finding its effective action. `old` holds the old object's findings on UPDATE.
pub fn decide(policy: &Policy, findings: Vec<Finding>, old: Option<&[Finding]>) -> Verdict {
    let judged = findings
        .into_iter()
        .filter_map(|finding| {
            let action = policy.action(finding.rule).min(finding.ceiling);
            if action == Action::Off {
                return None;
            }
            let had_it = |o: &Finding| o.rule == finding.rule && o.field == finding.field;
            let ratcheted = action == Action::Deny && old.is_some_and(|old| old.iter().any(had_it));
            let action = if ratcheted { Action::Warn } else { action };
            Some(Judged {
                finding,
                action,
                ratcheted,
            })
        })
        .collect();
    Verdict {
        mode: policy.mode,
        judged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &'static str, field: &str) -> Finding {
        Finding::new(rule, field, "msg")
    }

    #[test]
    fn actions_come_from_the_policy() {
        let policy = Policy::builtin();
        let verdict = decide(
            &policy,
            vec![
                finding("image-tag-pinned", "a"),
                finding("no-host-path", "b"),
            ],
            None,
        );
        assert!(!verdict.allowed());
        assert_eq!(verdict.count(Action::Deny), 1);
        assert_eq!(verdict.count(Action::Warn), 1);
    }

    #[test]
    fn a_finding_is_never_stronger_than_its_ceiling() {
        let policy = Policy::builtin();
        let capped = finding("image-tag-pinned", "a").at_most(Action::Warn);
        let verdict = decide(&policy, vec![capped], None);
        assert!(verdict.allowed());
        assert_eq!(verdict.count(Action::Warn), 1);
        // ...and never raised above the rule's own action.
        let weak = finding("no-host-path", "a").at_most(Action::Deny);
        assert_eq!(decide(&policy, vec![weak], None).count(Action::Warn), 1);
    }

    #[test]
    fn an_old_denial_is_ratcheted_to_a_warning_and_a_new_one_is_not() {
        let policy = Policy::builtin();
        let old = vec![finding("image-tag-pinned", "containers[a].image")];
        let new = vec![
            finding("image-tag-pinned", "containers[a].image"),
            finding("image-tag-pinned", "containers[b].image"),
        ];
        let verdict = decide(&policy, new, Some(&old));
        assert!(!verdict.allowed());
        assert!(verdict.judged[0].ratcheted && verdict.judged[0].action == Action::Warn);
        assert_eq!(verdict.judged[1].action, Action::Deny);
    }

    #[test]
    fn audit_mode_allows_everything() {
        let policy = Policy::builtin().with_mode(Mode::Audit);
        let verdict = decide(&policy, vec![finding("image-tag-pinned", "a")], None);
        assert!(verdict.allowed());
        assert_eq!(verdict.count(Action::Deny), 1);
    }
}
