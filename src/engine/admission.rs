//! The one admission decision. The webhook, `check` and `audit` all call [`admit`] (and the
//! mutating webhook and `bulwark mutate` call [`mutate`]), so one object gets one set of actions
//! everywhere.
//!
//! ```text
//! Review ─▶ which rules judge it (target, owner) ─▶ rules ─▶ exemptions ─▶ policy action,
//!           ceiling ─▶ ratcheting (UPDATE) ─▶ mode ─▶ Decision
//! ```
//!
//! - **Security rules judge every Pod**, its init and ephemeral containers included, whatever
//!   the object claims about its owner: an ownerReference is written by whoever creates the
//!   object.
//! - **Practice rules and mutations leave a generated object to its owner** (a ReplicaSet with
//!   a controller reference to a Deployment, a Job to a CronJob, a Pod to a ReplicaSet, ...):
//!   the owner's template was judged and mutated when the owner was admitted, and denying a
//!   generated object stalls a rollout with nothing but a controller condition to show.
//! - **`pods/ephemeralcontainers`** is judged by the security rules only; other subresources
//!   are not judged at all.
//! - **Exemptions** (see `exemption.rs`) drop findings and are recorded when they did.
//! - **Ratcheting**: on UPDATE, a denial the old object already had becomes a warning; the old
//!   object is judged only when there is a denial to ratchet.
//! - **Mode**: in audit mode a denial becomes a warning that says it would deny.

use std::collections::HashSet;

use super::exemption::{Exempted, Exemption, RuleVerdict};
use super::mutation::Change;
use super::policy::{Mode, Policy};
use super::rule::{
    Action, Context, FINDINGS_PER_RULE_MAX, Finding, Findings, Operation, Origin, RuleClass, Sees,
};
use super::workload::{Kind, Object};

/// What a review asks bulwark to judge, from the request's subresource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The object itself.
    Object,
    /// `pods/ephemeralcontainers`: containers added to a running Pod (`kubectl debug`).
    EphemeralContainers,
}

impl Target {
    /// What a review of `subresource` of `kind` judges; `None` for a subresource bulwark leaves
    /// alone (status, scale, binding, eviction, ...), which is allowed at once.
    pub fn of(kind: Kind, subresource: Option<&str>) -> Option<Target> {
        match subresource.filter(|s| !s.is_empty()) {
            None => Some(Target::Object),
            Some("ephemeralcontainers") if kind == Kind::Pod => Some(Target::EphemeralContainers),
            Some(_) => None,
        }
    }
}

/// The subresources the webhooks ask for, as `resource/subresource`: exactly the ones
/// [`Target::of`] judges.
pub const JUDGED_SUBRESOURCES: &[&str] = &["pods/ephemeralcontainers"];

/// One review: the object, the object it replaces on UPDATE, and what is judged.
#[derive(Clone, Copy)]
pub struct Review<'a> {
    pub object: &'a Object,
    /// The stored object an UPDATE replaces, for ratcheting; decoded only when there is a
    /// denial to ratchet.
    pub old: Option<&'a dyn Fn() -> Option<Object>>,
    pub target: Target,
}

impl<'a> Review<'a> {
    /// A review of a whole object with nothing before it (CREATE, a manifest, a listed object).
    pub fn of(object: &'a Object) -> Review<'a> {
        Review {
            object,
            old: None,
            target: Target::Object,
        }
    }
}

/// A finding with the action it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    pub finding: Finding,
    pub class: RuleClass,
    /// The effective action, after the policy, the finding's ceiling, ratcheting and the mode.
    pub action: Action,
    /// A denial downgraded to a warning because the old object already had it.
    pub ratcheted: bool,
    /// A denial that audit mode turned into a warning.
    pub would_deny: bool,
}

/// The outcome for one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub mode: Mode,
    /// Every finding whose action is not `off`, sorted by rule id then field.
    pub judged: Vec<Judged>,
    /// The rules (and the kind of exemption) that an exemption switched off where they found
    /// something, once per rule.
    pub exempted: Vec<Exempted>,
    /// Security rules that the exemption annotation named, may not exempt, and that found
    /// something.
    pub refused: Vec<&'static str>,
    /// The owner kind that practice rules were left to, for a generated object.
    pub left_to: Option<Kind>,
    /// How many rules judged the object (ran on it and were not exempted), for scores.
    pub checked: usize,
}

impl Decision {
    /// Whether the object is admitted.
    pub fn allowed(&self) -> bool {
        !self.judged.iter().any(|j| j.action == Action::Deny)
    }

    pub fn with_action(&self, action: Action) -> impl Iterator<Item = &Judged> {
        self.judged.iter().filter(move |j| j.action == action)
    }

    pub fn count(&self, action: Action) -> usize {
        self.with_action(action).count()
    }

    /// The rule ids that fired, deduplicated, for logs.
    pub fn rule_ids(&self) -> Vec<&'static str> {
        let mut ids: Vec<_> = self.judged.iter().map(|j| j.finding.rule).collect();
        ids.dedup();
        ids
    }
}

/// Which rules judge an object in one review.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reach {
    All,
    SecurityOnly,
}

impl Reach {
    fn covers(self, class: RuleClass) -> bool {
        self == Reach::All || class == RuleClass::Security
    }
}

/// Judges one review: the findings, each with its effective action, and what was exempted.
pub fn admit(policy: &Policy, review: &Review, ctx: &Context) -> Decision {
    let object = review.object;
    let left_to = object.generator();
    let reach = if left_to.is_some() || review.target == Target::EphemeralContainers {
        Reach::SecurityOnly
    } else {
        Reach::All
    };
    let exemption = Exemption::of(policy, object, ctx.namespace);
    let mut raw = Vec::new();
    let ran = run_rules(policy, object, ctx, reach, &mut raw);
    let truncated = ran.truncated;
    let ran = ran.rules;

    let mut exempted: Vec<Exempted> = Vec::new();
    let mut refused: Vec<&'static str> = Vec::new();
    let mut silenced: Vec<&'static str> = Vec::new();
    let mut findings = Vec::with_capacity(raw.len());
    for (finding, class) in raw {
        match exemption.rule(finding.rule, class) {
            RuleVerdict::Judges => findings.push((finding, class)),
            RuleVerdict::Refused => {
                if !refused.contains(&finding.rule) {
                    refused.push(finding.rule);
                }
                findings.push((finding, class));
            }
            RuleVerdict::Exempt(by) => {
                if !silenced.contains(&finding.rule) {
                    silenced.push(finding.rule);
                    exempted.push(Exempted {
                        id: finding.rule,
                        by,
                    });
                }
            }
        }
    }
    let checked = ran.saturating_sub(exempted_rules_that_ran(
        policy, &exemption, object, ctx, reach,
    ));

    // The policy's action, capped by the finding's own ceiling.
    let mut judged: Vec<Judged> = findings
        .into_iter()
        .filter_map(|(finding, class)| {
            let action = policy.action(finding.rule).min(finding.ceiling);
            (action != Action::Off).then_some(Judged {
                finding,
                class,
                action,
                ratcheted: false,
                would_deny: false,
            })
        })
        .collect();

    // Ratcheting: judge the old object only when there is a denial it might already have had.
    if ctx.operation == Operation::Update
        && judged.iter().any(|j| j.action == Action::Deny)
        && let Some(old) = review.old.and_then(|decode| decode())
    {
        let mut old_raw = Vec::new();
        let old_ran = run_rules(policy, &old, ctx, reach, &mut old_raw);
        let before: HashSet<(&str, &str)> = old_raw
            .iter()
            .map(|(f, _)| (f.rule, f.field.as_str()))
            .collect();
        // A rule that listed only part of its findings, on either object, cannot show that
        // the unlisted ones are old: its denials stand.
        let partial = |rule: &str| {
            [&truncated, &old_ran.truncated]
                .iter()
                .any(|cut| cut.iter().any(|t| t.rule == rule))
        };
        for j in &mut judged {
            if j.action == Action::Deny
                && !partial(j.finding.rule)
                && before.contains(&(j.finding.rule, j.finding.field.as_str()))
            {
                j.action = Action::Warn;
                j.ratcheted = true;
            }
        }
    }

    if policy.mode == Mode::Audit {
        for j in &mut judged {
            if j.action == Action::Deny {
                j.action = Action::Warn;
                j.would_deny = true;
            }
        }
    }
    exempted.sort();
    Decision {
        mode: policy.mode,
        judged,
        exempted,
        refused,
        left_to,
        checked,
    }
}

/// Gives findings made outside the rule list (an object known only by its metadata, judged by
/// `rules`) their actions, through the same policy, exemptions and mode as [`admit`].
pub fn decide_findings(
    policy: &Policy,
    exemption: &Exemption,
    rules: &[&'static str],
    findings: Vec<Finding>,
) -> Decision {
    let checked = rules
        .iter()
        .filter(|id| policy.action(id) != Action::Off)
        .filter(|id| {
            !matches!(
                exemption.rule(id, RuleClass::Practice),
                RuleVerdict::Exempt(_)
            )
        })
        .count();
    let mut exempted = Vec::new();
    let mut judged = Vec::new();
    for finding in findings {
        match exemption.rule(finding.rule, RuleClass::Practice) {
            RuleVerdict::Exempt(by) => exempted.push(Exempted {
                id: finding.rule,
                by,
            }),
            RuleVerdict::Judges | RuleVerdict::Refused => {
                let action = policy.action(finding.rule).min(finding.ceiling);
                if action == Action::Off {
                    continue;
                }
                let would_deny = policy.mode == Mode::Audit && action == Action::Deny;
                judged.push(Judged {
                    finding,
                    class: RuleClass::Practice,
                    action: if would_deny { Action::Warn } else { action },
                    ratcheted: false,
                    would_deny,
                });
            }
        }
    }
    exempted.dedup();
    Decision {
        mode: policy.mode,
        checked,
        judged,
        exempted,
        refused: Vec::new(),
        left_to: None,
    }
}

/// Runs every active rule within `reach` that applies to the object (and the bundle checks,
/// when the context has a bundle), each finding tagged with its rule's class. Findings come
/// sorted by rule id, then field, so output is deterministic, and each distinct finding comes
/// once. A rule that found more than it may list gets one more finding that counts the rest.
fn run_rules(
    policy: &Policy,
    object: &Object,
    ctx: &Context,
    reach: Reach,
    out: &mut Vec<(Finding, RuleClass)>,
) -> Ran {
    let kind = object.kind();
    let mut ran = Ran::default();
    let mut found = Findings::new();
    for rule in policy.active_rules() {
        if !rule.spec.applies_to(kind)
            || !reach.covers(rule.spec.class)
            || !can_fire(rule.spec.sees, ctx)
        {
            continue;
        }
        ran.rules += 1;
        rule.check(object, ctx, &mut found);
        ran.collect(rule.spec.id, rule.spec.class, &mut found, out);
    }
    // The cross-object halves registered apart from their rule are practice rules.
    if ctx.bundle.is_some() && reach.covers(RuleClass::Practice) {
        for check in policy.active_bundle_checks() {
            if check.applies_to(kind) {
                (check.check)(object, ctx, &mut found);
                ran.collect(check.id, RuleClass::Practice, &mut found, out);
            }
        }
    }
    out.sort_by(|(a, _), (b, _)| {
        (a.rule, &a.field, &a.message).cmp(&(b.rule, &b.field, &b.message))
    });
    // The same finding twice (an env var or port listed twice in one container) is said once.
    out.dedup_by(|(a, _), (b, _)| a.rule == b.rule && a.field == b.field && a.message == b.message);
    // Each count of unlisted findings goes after its rule's listed ones.
    for cut in &ran.truncated {
        let at = out.partition_point(|(f, _)| f.rule <= cut.rule);
        out.insert(at, (cut.note(), cut.class));
    }
    ran
}

/// What [`run_rules`] did: how many rules ran, and which listed only part of their findings.
#[derive(Default)]
struct Ran {
    rules: usize,
    truncated: Vec<Truncated>,
}

/// A rule that found more than it may list, and how many findings it left out.
struct Truncated {
    rule: &'static str,
    class: RuleClass,
    omitted: usize,
}

impl Truncated {
    /// The finding that counts what the rule did not list.
    fn note(&self) -> Finding {
        Finding::new(
            self.rule,
            "",
            format!(
                "and {} more findings of this rule on this object, not listed: bulwark lists {FINDINGS_PER_RULE_MAX} per rule and object",
                self.omitted
            ),
        )
    }
}

impl Ran {
    fn collect(
        &mut self,
        rule: &'static str,
        class: RuleClass,
        found: &mut Findings,
        out: &mut Vec<(Finding, RuleClass)>,
    ) {
        let (listed, omitted) = found.take();
        out.extend(listed.into_iter().map(|f| (f, class)));
        if omitted > 0 {
            self.truncated.push(Truncated {
                rule,
                class,
                omitted,
            });
        }
    }
}

/// Whether a rule that fires only where `sees` says can fire in `ctx`: an offline rule only on
/// a manifest, a bundle-only rule only with a bundle.
fn can_fire(sees: &[Sees], ctx: &Context) -> bool {
    sees.iter().any(|s| match s {
        Sees::Admission => true,
        Sees::Offline => ctx.origin == Origin::Manifest,
        Sees::Bundle => ctx.bundle.is_some(),
    })
}

/// How many of the rules that ran on the object an exemption switched off, whether or not
/// they found something: they did not judge it.
fn exempted_rules_that_ran(
    policy: &Policy,
    exemption: &Exemption,
    object: &Object,
    ctx: &Context,
    reach: Reach,
) -> usize {
    let kind = object.kind();
    policy
        .active_rules()
        .filter(|r| r.spec.applies_to(kind) && reach.covers(r.spec.class))
        .filter(|r| can_fire(r.spec.sees, ctx))
        .filter(|r| {
            matches!(
                exemption.rule(r.spec.id, r.spec.class),
                RuleVerdict::Exempt(_)
            )
        })
        .count()
}

/// The result of mutating one object.
#[derive(Clone, Debug)]
pub struct Mutated {
    pub object: Object,
    pub changes: Vec<Change>,
    /// Empty when nothing changed, or when it would have been over the caller's limit.
    pub patch: json_patch::Patch,
    /// The patch would have had more operations than the caller's limit; it was not built to
    /// the end, and the object must be admitted unchanged.
    pub too_large: bool,
    /// The mutations an exemption switched off where they would have changed something.
    pub exempted: Vec<Exempted>,
    /// The owner kind that mutations were left to, for a generated object.
    pub left_to: Option<Kind>,
}

/// Applies the policy's enabled mutations to a copy of the review's object, in the fixed
/// order of the mutation catalog. A generated object is left to its owner (its template was
/// mutated when the owner was admitted), and only a whole object is mutated, never a
/// subresource.
pub fn mutate(policy: &Policy, review: &Review, ctx: &Context) -> Mutated {
    mutate_within(policy, review, ctx, usize::MAX)
}

/// [`mutate`], with a patch of at most `max_ops` operations: the webhook's answer has a size
/// limit, and building a patch for thousands of containers only to drop it would make the
/// review cost a multiple of its size.
pub fn mutate_within(policy: &Policy, review: &Review, ctx: &Context, max_ops: usize) -> Mutated {
    let object = review.object;
    let mut after = object.clone();
    let mut changes = Vec::new();
    let mut exempted = Vec::new();
    let left_to = object.generator();
    if left_to.is_none() && review.target == Target::Object {
        let exemption = Exemption::of(policy, object, ctx.namespace);
        for mutation in policy.enabled_mutations() {
            match exemption.mutation(mutation.spec) {
                None => mutation.apply(&mut after, ctx, &mut changes),
                Some(by) => {
                    // Recorded only when it would have changed something.
                    let mut probe = after.clone();
                    let mut would = Vec::new();
                    mutation.apply(&mut probe, ctx, &mut would);
                    if !would.is_empty() {
                        exempted.push(Exempted {
                            id: mutation.spec.id,
                            by,
                        });
                    }
                }
            }
        }
    }
    let patch = if changes.is_empty() {
        Some(json_patch::Patch(Vec::new()))
    } else {
        super::patch::between_within(object, &after, max_ops)
    };
    Mutated {
        object: after,
        changes,
        too_large: patch.is_none(),
        patch: patch.unwrap_or_default(),
        exempted,
        left_to,
    }
}

/// The JSON Patch from an object to the same object with mutations applied, built from the
/// parts that changed (see [`super::patch`]).
pub fn diff(before: &Object, after: &Object) -> json_patch::Patch {
    super::patch::between(before, after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::{mk_deployment, one};
    use serde_json::json;

    #[test]
    fn the_same_finding_twice_on_one_container_is_said_once() {
        // The API server accepts an env var listed twice (it only warns), so a rule sees it twice.
        let env =
            json!([{"name": "DB_PASSWORD", "value": "x"}, {"name": "DB_PASSWORD", "value": "x"}]);
        let object = mk_deployment(3, one(json!({"env": env})));
        let decision = admit(
            &Policy::builtin(),
            &Review::of(&object),
            &Context::admission(Some("shop"), 1_700_000_000),
        );
        let literal: Vec<_> = decision
            .judged
            .iter()
            .filter(|j| j.finding.rule == "env-secret-literal")
            .collect();
        assert_eq!(literal.len(), 1, "{literal:?}");
    }

    /// A Deployment of `n` containers, each privileged from index `privileged_from` on.
    fn wide(n: usize, privileged_from: usize) -> Object {
        let containers: Vec<_> = (0..n)
            .map(|i| {
                json!({"name": format!("c{i}"), "image": "registry.example.com/app:1.0",
                       "securityContext": {"privileged": i >= privileged_from}})
            })
            .collect();
        mk_deployment(3, json!({"containers": containers}))
    }

    fn findings_of<'d>(decision: &'d Decision, rule: &str) -> Vec<&'d Judged> {
        decision
            .judged
            .iter()
            .filter(|j| j.finding.rule == rule)
            .collect()
    }

    #[test]
    fn a_rule_lists_a_bounded_number_of_findings_and_counts_the_rest() {
        let object = wide(250, 0);
        let decision = admit(
            &Policy::builtin(),
            &Review::of(&object),
            &Context::admission(Some("shop"), 1_700_000_000),
        );
        let privileged = findings_of(&decision, "no-privileged");
        assert_eq!(privileged.len(), FINDINGS_PER_RULE_MAX + 1);
        assert!(privileged.iter().all(|j| j.action == Action::Deny));
        assert!(
            privileged.iter().any(|j| j.finding.message
                == "and 150 more findings of this rule on this object, not listed: bulwark lists 100 per rule and object"),
            "{privileged:?}"
        );
        assert!(!decision.allowed());
    }

    #[test]
    fn an_update_cannot_hide_a_new_violation_behind_a_long_list_of_old_ones() {
        // The stored object already had 150 privileged containers; the update makes one more
        // privileged, past the listed findings. Ratcheting cannot show that the unlisted
        // findings are old ones, so the rule's denials stand.
        let old = wide(250, 100);
        let new = wide(250, 99);
        let decode_old = || Some(old.clone());
        let review = Review {
            object: &new,
            old: Some(&decode_old),
            target: Target::Object,
        };
        let mut ctx = Context::admission(Some("shop"), 1_700_000_000);
        ctx.operation = Operation::Update;
        let decision = admit(&Policy::builtin(), &review, &ctx);
        let privileged = findings_of(&decision, "no-privileged");
        assert!(
            privileged
                .iter()
                .all(|j| j.action == Action::Deny && !j.ratcheted)
        );
        assert!(!decision.allowed());

        // Under the limit, ratcheting works as before: the same 10 old findings are warnings.
        let old = wide(20, 10);
        let decode_old = || Some(old.clone());
        let review = Review {
            object: &old,
            old: Some(&decode_old),
            target: Target::Object,
        };
        let decision = admit(&Policy::builtin(), &review, &ctx);
        let privileged = findings_of(&decision, "no-privileged");
        assert_eq!(privileged.len(), 10);
        assert!(
            privileged
                .iter()
                .all(|j| j.ratcheted && j.action == Action::Warn)
        );
    }

    #[test]
    fn a_patch_over_the_callers_limit_is_not_built_and_says_so() {
        let object = wide(300, 300);
        let review = Review::of(&object);
        let ctx = Context::admission(Some("shop"), 1_700_000_000);
        let whole = mutate(&Policy::builtin(), &review, &ctx);
        assert!(!whole.too_large);
        let ops = whole.patch.0.len();
        assert!(ops > 300, "{ops} operations");
        let within = mutate_within(&Policy::builtin(), &review, &ctx, ops);
        assert!(!within.too_large);
        assert_eq!(within.patch, whole.patch);
        let over = mutate_within(&Policy::builtin(), &review, &ctx, ops - 1);
        assert!(over.too_large);
        assert!(over.patch.0.is_empty());
    }
}
