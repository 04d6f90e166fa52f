//! The pure policy engine: typed objects in, findings and decisions out.
//!
//! Nothing in here performs I/O, reads the clock, logs or is `async`: the current time and any
//! cluster facts arrive through [`Context`]. Every front (the webhook, `check`, `audit`) is a
//! thin adapter around [`evaluate`] and [`decide::decide`].
//!
//! ```text
//! Object ──evaluate(policy, ctx)──▶ Vec<Finding> ──decide(policy, old findings)──▶ Verdict
//! ```

pub mod bundle;
pub mod containers;
pub mod decide;
pub mod image;
pub mod keypair;
pub mod mutation;
pub mod mutations;
pub mod policy;
pub mod quantity;
pub mod registry;
pub mod rule;
pub mod rules;
pub mod secrets;
pub mod workload;

pub use bundle::BundleIndex;
pub use decide::{Verdict, decide};
pub use policy::{Mode, Policy, PolicyError};
pub use rule::{Action, Context, Finding, Operation, Origin, RuleClass};
pub use workload::{Kind, Object};

/// Runs every active rule of `policy` that applies to `object`, honouring exemptions.
/// Findings come back sorted by rule id, then field, so output is deterministic.
pub fn evaluate(policy: &Policy, object: &Object, ctx: &Context) -> Vec<Finding> {
    if policy.exempts_object(object, ctx.namespace) {
        return Vec::new();
    }
    let exempted = policy.exempted_rules(object);
    let mut findings = Vec::new();
    for rule in policy.active_rules() {
        if !rule.spec.applies_to(object.kind()) || exempted.covers(rule.spec.id) {
            continue;
        }
        rule.check(object, ctx, &mut findings);
    }
    // The cross-object halves registered apart from their rule's single-object check.
    if ctx.bundle.is_some() {
        for check in policy.active_bundle_checks() {
            if check.applies_to(object.kind()) && !exempted.covers(check.id) {
                (check.check)(object, ctx, &mut findings);
            }
        }
    }
    findings.sort_by(|a, b| (a.rule, &a.field).cmp(&(b.rule, &b.field)));
    findings
}
