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
pub mod decode;
pub mod image;
pub mod keypair;
pub mod mutations;
pub mod policy;
pub mod quantity;
pub mod registry;
pub mod rules;
pub mod secrets;
pub mod workload;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use bundle::BundleIndex;
pub use decide::{Verdict, decide};
pub use policy::{Mode, Policy, PolicyError};
pub use workload::{Kind, Object};

/// What happens when a rule finds something. Ordered from weakest to strongest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The rule does not run.
    Off,
    /// Recorded in audit annotations, logs and metrics only.
    Audit,
    /// Returned to the client as a warning; the object is admitted.
    Warn,
    /// The object is refused.
    Deny,
}

impl Action {
    pub const NAMES: [&'static str; 4] = ["deny", "warn", "audit", "off"];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Off => "off",
            Action::Audit => "audit",
            Action::Warn => "warn",
            Action::Deny => "deny",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the object under judgement came from. Some facts differ: a manifest has not been
/// defaulted by the API server and has no namespace until it is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An AdmissionReview from the API server.
    Admission,
    /// A manifest file read by `check` or `mutate`.
    Manifest,
    /// An object listed from a live cluster by `audit`.
    Cluster,
}

/// The admission operation; offline sources judge objects as if they were created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

/// The plain facts a rule may use besides the object itself.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    pub origin: Origin,
    pub operation: Operation,
    /// The namespace the object lives in, if known (a manifest may leave it to `kubectl -n`).
    pub namespace: Option<&'a str>,
    /// Seconds since the Unix epoch; the only clock a rule may read.
    pub now: i64,
    /// The apiVersion as written in a manifest. `None` at admission: the API server converts
    /// every object to the version the webhook asked for, so removed versions never get there.
    pub api_version: Option<&'a str>,
    /// The other objects of the bundle (one `check` run, the cluster), for bundle rules. `None`
    /// in the webhook: bundle rules then stay silent.
    pub bundle: Option<&'a BundleIndex>,
}

impl<'a> Context<'a> {
    /// A context for an object created through the API server at `now`.
    pub fn admission(namespace: Option<&'a str>, now: i64) -> Self {
        Context {
            origin: Origin::Admission,
            operation: Operation::Create,
            namespace,
            now,
            api_version: None,
            bundle: None,
        }
    }

    /// A context for a manifest document: its own namespace (if it names one), the apiVersion
    /// it is written in, and the other documents of the run.
    /// A context for an object listed from a live cluster; the cluster is the bundle.
    pub fn cluster(namespace: Option<&'a str>, bundle: &'a BundleIndex, now: i64) -> Self {
        Context {
            origin: Origin::Cluster,
            operation: Operation::Create,
            namespace,
            now,
            api_version: None,
            bundle: Some(bundle),
        }
    }

    pub fn manifest(
        namespace: Option<&'a str>,
        api_version: Option<&'a str>,
        bundle: Option<&'a BundleIndex>,
        now: i64,
    ) -> Self {
        Context {
            origin: Origin::Manifest,
            operation: Operation::Create,
            namespace,
            now,
            api_version,
            bundle,
        }
    }
}

/// One thing a rule found wrong with an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The stable rule id.
    pub rule: &'static str,
    /// The field at fault, e.g. `spec.template.spec.containers[web].image`.
    pub field: String,
    /// What is wrong and how to fix it; never contains a Secret value.
    pub message: String,
    /// The strongest action this finding may take. A finding can be weaker than its rule's
    /// action (an expiring certificate is a warning even when expired ones are denied), never
    /// stronger.
    #[serde(skip)]
    pub ceiling: Action,
}

impl Finding {
    pub fn new(rule: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            rule,
            field: field.into(),
            message: message.into(),
            ceiling: Action::Deny,
        }
    }

    /// Caps the action this finding can take at `ceiling`.
    pub fn at_most(mut self, ceiling: Action) -> Self {
        self.ceiling = ceiling;
        self
    }
}

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
