//! What a rule is and what it works with: the [`Rule`] trait, the [`RuleSpec`] every rule
//! declares about itself, and the plain data a rule reads and writes ([`Context`], [`Finding`],
//! [`Action`]).
//!
//! Every file under `rules/` imports this module and the object model beneath it, never the
//! rule list (`registry.rs`) or the policy above it, so the rules and the list that names them
//! never import each other.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::bundle::{BundleIndex, HpaFacts, NamespaceView};
use super::cel::RuleCel;
use super::workload::{Kind, Object};

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

    /// The facts of the namespace `object` lives in, when the context carries a bundle.
    pub fn namespace_view(&self, object: &Object) -> Option<&'a NamespaceView> {
        let bundle = self.bundle?;
        let namespace = self.namespace.or(object.meta().namespace.as_deref());
        Some(bundle.namespace(namespace))
    }

    /// The HPAs that scale `object` (none without a bundle).
    pub fn hpas_scaling(&self, object: &Object) -> &'a [HpaFacts] {
        match (self.namespace_view(object), object.meta().name.as_deref()) {
            (Some(view), Some(name)) => view.hpas_for(object.kind(), name),
            _ => &[],
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
    /// The kinds of object the finding says are missing in the object's namespace (a selector
    /// that matches no workload, a backend Service that does not exist); empty for the rest. A
    /// front that could not read an object of such a kind there withholds the finding: the
    /// missing object may be the one it could not read.
    #[serde(skip)]
    pub missing: &'static [Kind],
}

impl Finding {
    pub fn new(rule: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            rule,
            field: field.into(),
            message: message.into(),
            ceiling: Action::Deny,
            missing: &[],
        }
    }

    /// Marks the finding as a claim that no object of `kinds` in the namespace fits.
    pub fn claims_absence(mut self, kinds: &'static [Kind]) -> Self {
        self.missing = kinds;
        self
    }

    /// Caps the action this finding can take at `ceiling`.
    pub fn at_most(mut self, ceiling: Action) -> Self {
        self.ceiling = ceiling;
        self
    }
}

/// The two kinds of rule. Security rules are the Pod Security controls: they judge every Pod
/// and every ephemeral container, whatever the object claims about its owner, and only the
/// administrator's policy can exempt from them. Practice rules judge how a workload is run; a
/// generated object leaves them to its owner, and its own annotation can exempt from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleClass {
    Security,
    Practice,
}

impl RuleClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleClass::Security => "security",
            RuleClass::Practice => "practice",
        }
    }
}

/// A configured rule: pure, cheap to call, shared across requests.
pub trait Rule: Send + Sync {
    /// Appends what is wrong with `object` to `out`.
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings);

    /// What the rule checks, in CEL, with its parameters compiled in: the body of its
    /// ValidatingAdmissionPolicy (`bulwark vap`). `None` for a rule whose spec says
    /// [`Vap::No`].
    fn cel(&self) -> Option<RuleCel> {
        None
    }
}

/// Whether a rule can be enforced by a ValidatingAdmissionPolicy inside the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vap {
    /// [`Rule::cel`] says what it checks, with the same verdict as the webhook (the
    /// differences CEL cannot avoid are listed in the string, empty when there are none).
    Exports(&'static str),
    /// CEL cannot say what it checks, for this reason.
    No(&'static str),
}

impl Vap {
    pub fn exports(self) -> bool {
        matches!(self, Vap::Exports(_))
    }
}

/// How many findings one rule lists for one object. An object of thousands of containers
/// that all break a rule is denied by the first as surely as by all of them; formatting,
/// sorting and answering every one would make the review's cost a multiple of its size.
pub const FINDINGS_PER_RULE_MAX: usize = 100;

/// What one rule found on one object: the first [`FINDINGS_PER_RULE_MAX`] findings, and a
/// count of the rest, which are never built (see [`Findings::push_with`]).
#[derive(Debug, Default)]
pub struct Findings {
    listed: Vec<Finding>,
    omitted: usize,
}

impl Findings {
    pub fn new() -> Self {
        Findings::default()
    }

    /// Adds a finding, or counts it once the list is full.
    pub fn push(&mut self, finding: Finding) {
        self.push_with(|| finding);
    }

    /// Adds the finding `make` builds, or only counts it once the list is full: loops over
    /// many items build their messages only for the findings that are listed.
    pub fn push_with(&mut self, make: impl FnOnce() -> Finding) {
        if self.listed.len() < FINDINGS_PER_RULE_MAX {
            self.listed.push(make());
        } else {
            self.omitted += 1;
        }
    }

    /// The listed findings, leaving the list empty for the next rule.
    pub fn take(&mut self) -> (Vec<Finding>, usize) {
        (
            std::mem::take(&mut self.listed),
            std::mem::take(&mut self.omitted),
        )
    }
}

impl Extend<Finding> for Findings {
    fn extend<I: IntoIterator<Item = Finding>>(&mut self, findings: I) {
        for finding in findings {
            self.push(finding);
        }
    }
}

/// Which objects a rule judges.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    /// Pods and every kind with a pod template.
    Workloads,
    /// Workloads that serve until replaced (not Jobs and CronJobs).
    LongRunning,
    /// Exactly these kinds.
    Kinds(&'static [Kind]),
    /// Every namespaced kind bulwark reads.
    Namespaced,
}

/// Where a rule can fire (the `sees` column of the catalog).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sees {
    /// On a single object, in the webhook and in `check`.
    Admission,
    /// Only on manifest files: the API server defaults or rejects the field first.
    Offline,
    /// Needs other objects: the same run in `check`, the cluster in `audit`.
    Bundle,
}

impl Sees {
    pub fn as_str(self) -> &'static str {
        match self {
            Sees::Admission => "admission",
            Sees::Offline => "offline",
            Sees::Bundle => "bundle",
        }
    }
}

/// Builds a configured rule from its merged parameters (`{}` when it has none).
pub type BuildRule = fn(serde_json::Value) -> Result<Box<dyn Rule>, serde_json::Error>;

/// What a rule declares about itself; feeds the policy parser, `bulwark rules` and the docs.
pub struct RuleSpec {
    pub id: &'static str,
    pub class: RuleClass,
    pub scope: Scope,
    pub sees: &'static [Sees],
    /// What the rule checks, in one line.
    pub summary: &'static str,
    /// Why it matters, in a few words (from the deployment guide).
    pub why: &'static str,
    /// How to fix what it finds, in one line: shown by `bulwark rules`, docs/rules.md and the
    /// HTML report next to every finding.
    pub fix: &'static str,
    /// Whether `bulwark vap` exports it as a ValidatingAdmissionPolicy, and why not.
    pub vap: Vap,
    pub build: BuildRule,
}

impl RuleSpec {
    pub fn applies_to(&self, kind: Kind) -> bool {
        scope_applies(self.scope, kind)
    }
}

fn scope_applies(scope: Scope, kind: Kind) -> bool {
    match scope {
        Scope::Workloads => kind.is_workload(),
        Scope::LongRunning => kind.is_long_running(),
        Scope::Kinds(kinds) => kinds.contains(&kind),
        Scope::Namespaced => !kind.is_cluster_scoped(),
    }
}

/// The cross-object half of a rule, registered apart from its single-object [`Rule`] so the two
/// halves can live in different files (and be written by different hands). It takes the action
/// the policy gives its rule id and runs only when the context carries a bundle.
pub struct BundleCheck {
    /// The rule id it reports under.
    pub id: &'static str,
    pub scope: Scope,
    /// What the cross-object half checks, in one line.
    pub summary: &'static str,
    pub why: &'static str,
    /// How to fix what the cross-object half finds, in one line.
    pub fix: &'static str,
    /// The action when no rule of this id is in [`RULES`] and the policy does not name it.
    pub default_action: Action,
    pub check: fn(&Object, &Context, &mut Findings),
}

impl BundleCheck {
    pub fn applies_to(&self, kind: Kind) -> bool {
        scope_applies(self.scope, kind)
    }
}
