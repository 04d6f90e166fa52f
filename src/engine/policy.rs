//! The policy model: which rules run, with what action and parameters, and what is exempt.
//!
//! A policy file is read in two phases (ripgrep's low/high args split): the text is parsed
//! strictly into a raw, position-carrying form and checked against the catalog, so every
//! mistake names the file, the line and the nearest valid name; then the user's file is laid
//! over the built-in `policies/default.yaml` (a rule it does not name keeps its default, maps
//! merge key by key, a list replaces the default list) and compiled into an immutable [`Policy`].

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::mutation::{Change, Mutation, MutationSpec};
use super::mutations;
use super::registry::{self, nearest};
use super::rule::{Action, Context, Findings};
use super::rule::{BundleCheck, Rule, RuleClass, RuleSpec};
use super::workload::Kind;
use super::workload::Object;

/// The built-in policy, compiled into the binary.
pub const DEFAULT_POLICY: &str = include_str!("../../policies/default.yaml");
const DEFAULT_POLICY_NAME: &str = "policies/default.yaml";
const API_VERSION: &str = "bulwark.dev/v1";

/// Enforce denies; audit (the dry-run audit mode) reports what it would deny or change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Audit,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enforce" => Ok(Mode::Enforce),
            "audit" => Ok(Mode::Audit),
            other => Err(format!("unknown mode `{other}`: use `enforce` or `audit`")),
        }
    }
}

/// A policy file that cannot be used, with where and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    pub file: String,
    /// 1-based; 0 when the position is unknown.
    pub line: u64,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file, self.message),
            line => write!(f, "{}:{}: {}", self.file, line, self.message),
        }
    }
}

/// What is exempt from judgement. Only the administrator writes these: an exemption never
/// comes from what a requester wrote about its own object, except through the annotation, and
/// that one reaches practice rules only (plus the security rules `annotation_may_exempt` names).
#[derive(Clone, Debug)]
pub struct Exemptions {
    /// Objects in these namespaces are exempt from every rule and mutation.
    pub namespaces: Vec<String>,
    /// The annotation that exempts one object from the rules and mutations it names (`*` for
    /// all it may exempt).
    pub annotation: String,
    /// The security rules the annotation may exempt too.
    pub annotation_may_exempt: Vec<&'static str>,
    /// Objects exempt from some rules, by namespace, kind and name pattern.
    pub objects: Vec<ObjectExemption>,
}

/// One entry of `exemptions.objects`: the objects it matches and the rules it exempts them
/// from (and the mutations that answer those rules).
#[derive(Clone, Debug)]
pub struct ObjectExemption {
    /// A namespace pattern (`*` and `?` wildcards); `None` matches every namespace.
    pub namespace: Option<Pattern>,
    /// The kind name, or `None` for `*`.
    pub kind: Option<String>,
    /// A name pattern; `None` matches every name.
    pub name: Option<Pattern>,
    pub rules: RuleIds,
}

/// A set of rule ids, or all of them (`*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleIds {
    All,
    Some(Vec<&'static str>),
}

impl RuleIds {
    pub fn contains(&self, id: &str) -> bool {
        match self {
            RuleIds::All => true,
            RuleIds::Some(ids) => ids.contains(&id),
        }
    }
}

/// A glob over names: `*` any run of characters, `?` one character.
#[derive(Clone, Debug)]
pub struct Pattern {
    matcher: wildmatch::WildMatch,
    text: String,
}

impl Pattern {
    pub fn new(text: &str) -> Pattern {
        Pattern {
            matcher: wildmatch::WildMatch::new(text),
            text: text.to_string(),
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        self.matcher.matches(text)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The same pattern as an anchored RE2 regular expression (for CEL's `matches`).
    pub fn to_regex(&self) -> String {
        let mut out = String::from("^");
        for c in self.text.chars() {
            match c {
                '*' => out.push_str(".*"),
                '?' => out.push('.'),
                c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => out.push(c),
                c => {
                    out.push('\\');
                    out.push(c);
                }
            }
        }
        out.push('$');
        out
    }
}

impl ObjectExemption {
    /// Whether this entry covers an object of `kind` named `name` in `namespace`.
    pub fn matches(&self, namespace: Option<&str>, kind: &str, name: &str) -> bool {
        let namespace_ok = match (&self.namespace, namespace) {
            (None, _) => true,
            (Some(p), Some(ns)) => p.matches(ns),
            (Some(_), None) => false,
        };
        namespace_ok
            && self.kind.as_deref().is_none_or(|k| k == kind)
            && self.name.as_ref().is_none_or(|p| p.matches(name))
    }
}

/// A rule with the action and parameters the policy gives it.
pub struct ActiveRule {
    pub spec: &'static RuleSpec,
    pub action: Action,
    rule: Box<dyn Rule>,
}

impl ActiveRule {
    pub fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        self.rule.check(object, ctx, out);
    }

    /// The rule in CEL, with its parameters compiled in (see [`Rule::cel`]).
    pub fn cel(&self) -> Option<super::cel::RuleCel> {
        self.rule.cel()
    }
}

/// An enabled mutation with the parameters the policy gives it.
pub struct ActiveMutation {
    pub spec: &'static MutationSpec,
    mutation: Box<dyn Mutation>,
}

impl ActiveMutation {
    pub fn apply(&self, object: &mut Object, ctx: &Context, changes: &mut Vec<Change>) {
        self.mutation.apply(object, ctx, changes);
    }
}

/// A validated, compiled policy. Immutable: a reload builds a new one and swaps it in whole.
pub struct Policy {
    pub mode: Mode,
    pub exemptions: Exemptions,
    rules: Vec<ActiveRule>,
    /// Every bundle check registered apart from its rule, with the action of its rule id.
    bundle_checks: Vec<(&'static BundleCheck, Action)>,
    /// The enabled mutations, in the fixed order of the mutation catalog.
    mutations: Vec<ActiveMutation>,
    /// Where it came from, for logs: `policies/default.yaml` or the user's file.
    pub source: String,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("mode", &self.mode)
            .field("exemptions", &self.exemptions)
            .field(
                "rules",
                &self
                    .rules
                    .iter()
                    .map(|r| (r.spec.id, r.action))
                    .collect::<Vec<_>>(),
            )
            .field("source", &self.source)
            .finish()
    }
}

impl Policy {
    /// The built-in policy alone.
    pub fn builtin() -> Policy {
        // The built-in file is part of the binary and a unit test proves it compiles.
        Policy::compile(DEFAULT_POLICY_NAME, None).expect("the built-in policy is valid")
    }

    /// A user's policy file laid over the built-in one.
    pub fn layered(file: &str, text: &str) -> Result<Policy, PolicyError> {
        let user = RawPolicy::parse(file, text)?;
        user.check_against_defaults(file, defaults())?;
        Policy::compile(file, Some(user))
    }

    /// The same policy with its mode replaced (a `--mode` flag wins over the file).
    pub fn with_mode(mut self, mode: Mode) -> Policy {
        self.mode = mode;
        self
    }

    /// The action the policy gives a rule (`off` for an unknown id).
    pub fn action(&self, id: &str) -> Action {
        match self.rules.iter().find(|r| r.spec.id == id) {
            Some(rule) => rule.action,
            None => self
                .bundle_checks
                .iter()
                .find(|(c, _)| c.id == id)
                .map_or(Action::Off, |(_, action)| *action),
        }
    }

    /// The bundle checks registered apart from their rule whose rule id is not `off`.
    pub fn active_bundle_checks(&self) -> impl Iterator<Item = &'static BundleCheck> {
        self.bundle_checks
            .iter()
            .filter(|(_, action)| *action != Action::Off)
            .map(|(check, _)| *check)
    }

    /// The enabled mutations, in the order they are applied.
    pub fn enabled_mutations(&self) -> impl Iterator<Item = &ActiveMutation> {
        self.mutations.iter()
    }

    /// Every rule with its action, `off` included, in catalog order.
    pub fn rules(&self) -> impl Iterator<Item = &ActiveRule> {
        self.rules.iter()
    }

    /// The rules that run (action other than `off`), in catalog order.
    pub fn active_rules(&self) -> impl Iterator<Item = &ActiveRule> {
        self.rules.iter().filter(|r| r.action != Action::Off)
    }

    /// Whether objects in `namespace` are exempt from every rule and mutation.
    pub fn exempts_namespace(&self, namespace: Option<&str>) -> bool {
        namespace.is_some_and(|ns| self.exemptions.namespaces.iter().any(|e| e == ns))
    }

    fn compile(file: &str, user: Option<RawPolicy>) -> Result<Policy, PolicyError> {
        let defaults = defaults();
        let user = user.unwrap_or_default();
        let exemptions_default = defaults.exemptions.clone().unwrap_or_default();
        let exemptions_user = user.exemptions.clone().unwrap_or_default();
        let namespaces = exemptions_user
            .namespaces
            .or(exemptions_default.namespaces)
            .unwrap_or_default();
        let annotation = exemptions_user
            .annotation
            .or(exemptions_default.annotation)
            .unwrap_or_else(|| "bulwark.dev/exempt".to_string());
        let annotation_may_exempt = exemptions_user
            .annotation_may_exempt
            .or(exemptions_default.annotation_may_exempt)
            .unwrap_or_default()
            .iter()
            .filter_map(|id| registry::rule(&id.value).map(|r| r.id))
            .collect();
        let objects = exemptions_user
            .objects
            .or(exemptions_default.objects)
            .unwrap_or_default()
            .iter()
            .map(RawObjectExemption::compile)
            .collect();

        let mut rules = Vec::with_capacity(registry::RULES.len());
        for spec in registry::RULES {
            let default_entry = defaults.rule(spec.id);
            let user_entry = user.rule(spec.id);
            let action = user_entry
                .and_then(|e| e.action)
                .or(default_entry.and_then(|e| e.action))
                .unwrap_or(Action::Off);
            let params = layered_params(
                default_entry.map(|e| &e.params),
                user_entry.map(|e| &e.params),
            );
            let rule = (spec.build)(params).map_err(|e| PolicyError {
                file: file.to_string(),
                line: user.line_of(Section::Rules, spec.id),
                message: format!("rule `{}`: invalid params: {e}", spec.id),
            })?;
            rules.push(ActiveRule { spec, action, rule });
        }
        // A bundle check takes its rule's action; without a rule of that id in this build, the
        // policy entry of the id, else the check's own default.
        let bundle_checks = registry::BUNDLE_CHECKS
            .iter()
            .map(|check| {
                let action = match rules.iter().find(|r| r.spec.id == check.id) {
                    Some(rule) => rule.action,
                    None => user
                        .rule(check.id)
                        .and_then(|e| e.action)
                        .or(defaults.rule(check.id).and_then(|e| e.action))
                        .unwrap_or(check.default_action),
                };
                (*check, action)
            })
            .collect();
        let mut enabled_mutations = Vec::new();
        for spec in mutations::MUTATIONS {
            let default_entry = defaults.mutation(spec.id);
            let user_entry = user.mutation(spec.id);
            let enabled = user_entry
                .and_then(|e| e.enabled)
                .or(default_entry.and_then(|e| e.enabled))
                .unwrap_or(false);
            let params = layered_params(
                default_entry.map(|e| &e.params),
                user_entry.map(|e| &e.params),
            );
            let mutation = (spec.build)(params).map_err(|e| PolicyError {
                file: file.to_string(),
                line: user.line_of(Section::Mutations, spec.id),
                message: format!("mutation `{}`: invalid params: {e}", spec.id),
            })?;
            if enabled {
                enabled_mutations.push(ActiveMutation { spec, mutation });
            }
        }
        Ok(Policy {
            mode: user.mode.or(defaults.mode).unwrap_or_default(),
            exemptions: Exemptions {
                namespaces,
                annotation,
                annotation_may_exempt,
                objects,
            },
            rules,
            bundle_checks,
            mutations: enabled_mutations,
            source: file.to_string(),
        })
    }
}

/// Which rules or mutations a run picks (`--rule`, `--skip-rule`): with `only` given, just those;
/// then without the ones in `skip`. What the policy switches off stays off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub only: Vec<String>,
    pub skip: Vec<String>,
}

/// An id a [`Selection`] names that the run cannot pick.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error(
        "{flag}: unknown rule `{id}`{}; `bulwark rules` lists them",
        hint(nearest)
    )]
    UnknownRule {
        flag: &'static str,
        id: String,
        nearest: Option<&'static str>,
    },
    #[error("{flag}: `{id}` is a mutation, not a rule; `bulwark mutate` picks mutations")]
    MutationNotRule { flag: &'static str, id: String },
    #[error(
        "{flag}: unknown mutation or rule `{id}`{}; `bulwark rules` lists them",
        hint(nearest)
    )]
    UnknownMutation {
        flag: &'static str,
        id: String,
        nearest: Option<&'static str>,
    },
}

fn hint(nearest: &Option<&'static str>) -> String {
    nearest
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default()
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.only.is_empty() && self.skip.is_empty()
    }

    /// Whether the selection keeps an entry known by any of `ids`.
    fn keeps(&self, ids: &[&str]) -> bool {
        let named = |list: &[String]| list.iter().any(|x| ids.contains(&x.as_str()));
        (self.only.is_empty() || named(&self.only)) && !named(&self.skip)
    }

    /// Every id named, with the flag that named it.
    fn ids(&self) -> impl Iterator<Item = (&'static str, &String)> {
        let only = self.only.iter().map(|id| ("--rule", id));
        only.chain(self.skip.iter().map(|id| ("--skip-rule", id)))
    }
}

impl Policy {
    /// The policy with only the rules `selection` keeps; every id must be a rule.
    pub fn select_rules(mut self, selection: &Selection) -> Result<Policy, SelectionError> {
        let ids = registry::rule_ids();
        for (flag, id) in selection.ids() {
            if ids.contains(&id.as_str()) {
                continue;
            }
            if mutations::mutation(id).is_some() {
                return Err(SelectionError::MutationNotRule {
                    flag,
                    id: id.clone(),
                });
            }
            return Err(SelectionError::UnknownRule {
                flag,
                id: id.clone(),
                nearest: nearest(id, ids.iter().copied()),
            });
        }
        for rule in &mut self.rules {
            if !selection.keeps(&[rule.spec.id]) {
                rule.action = Action::Off;
            }
        }
        for (check, action) in &mut self.bundle_checks {
            if !selection.keeps(&[check.id]) {
                *action = Action::Off;
            }
        }
        Ok(self)
    }

    /// The policy with only the mutations `selection` keeps: a mutation id names it, a rule id
    /// names the mutations that answer that rule.
    pub fn select_mutations(mut self, selection: &Selection) -> Result<Policy, SelectionError> {
        let rules = registry::rule_ids();
        for (flag, id) in selection.ids() {
            if mutations::mutation(id).is_some() || rules.contains(&id.as_str()) {
                continue;
            }
            let known = mutations::MUTATIONS
                .iter()
                .map(|m| m.id)
                .chain(rules.iter().copied());
            return Err(SelectionError::UnknownMutation {
                flag,
                id: id.clone(),
                nearest: nearest(id, known),
            });
        }
        self.mutations
            .retain(|m| selection.keeps(&[m.spec.id, m.spec.answers]));
        Ok(self)
    }
}

/// The parsed built-in policy (parsed once).
fn defaults() -> &'static RawPolicy {
    static DEFAULTS: std::sync::OnceLock<RawPolicy> = std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| {
        RawPolicy::parse(DEFAULT_POLICY_NAME, DEFAULT_POLICY).expect("the built-in policy parses")
    })
}

/// The default params of an entry with the user's laid over them.
fn layered_params(default: Option<&RawParams>, user: Option<&RawParams>) -> Value {
    let mut params = default.map_or(Value::Object(Default::default()), params_value);
    if let Some(user) = user {
        merge(&mut params, params_value(user));
    }
    params
}

/// Lays `over` onto `base`: maps merge key by key, anything else (lists included) replaces.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

// === raw form ===

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
    api_version: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    mode: Option<Mode>,
    exemptions: Option<RawExemptions>,
    rules: Option<HashMap<Spanned<String>, RawRule>>,
    mutations: Option<HashMap<Spanned<String>, RawMutation>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawExemptions {
    namespaces: Option<Vec<String>>,
    annotation: Option<String>,
    annotation_may_exempt: Option<Vec<Spanned<String>>>,
    objects: Option<Vec<RawObjectExemption>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObjectExemption {
    namespace: Option<String>,
    kind: Spanned<String>,
    name: Option<String>,
    rules: Vec<Spanned<String>>,
}

impl RawExemptions {
    /// Every id names a rule, the annotation's list names security rules only (it always
    /// reaches practice rules), and every kind is one bulwark judges.
    fn check(&self) -> Result<(), (u64, String)> {
        let known = registry::rule_ids();
        let unknown = |id: &Spanned<String>, allow_all: bool| -> Option<(u64, String)> {
            if (allow_all && id.value == "*") || known.contains(&id.value.as_str()) {
                return None;
            }
            let hint = nearest(&id.value, known.iter().copied())
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_else(|| "; `bulwark rules` lists every rule".to_string());
            Some((
                id.referenced.line(),
                format!("unknown rule `{}`{hint}", id.value),
            ))
        };
        for id in self.annotation_may_exempt.iter().flatten() {
            if let Some(e) = unknown(id, false) {
                return Err(e);
            }
            if registry::rule(&id.value).is_some_and(|r| r.class != RuleClass::Security) {
                return Err((
                    id.referenced.line(),
                    format!(
                        "`{}` is a practice rule: the annotation always exempts practice rules, so list only security rules under annotationMayExempt",
                        id.value
                    ),
                ));
            }
        }
        for entry in self.objects.iter().flatten() {
            let kind = &entry.kind;
            let kinds = Kind::ALL.map(Kind::name);
            if kind.value != "*" && !kinds.contains(&kind.value.as_str()) {
                let hint = nearest(&kind.value, kinds)
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_else(|| format!("; use `*` or one of {}", kinds.join(", ")));
                return Err((
                    kind.referenced.line(),
                    format!("unknown kind `{}`{hint}", kind.value),
                ));
            }
            if entry.rules.is_empty() {
                return Err((
                    kind.referenced.line(),
                    "an exemption needs `rules`: the rule ids it exempts from, or `*`".into(),
                ));
            }
            for id in &entry.rules {
                if let Some(e) = unknown(id, true) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl RawObjectExemption {
    /// The compiled entry; ids and kind were checked when the file was parsed.
    fn compile(&self) -> ObjectExemption {
        let pattern = |p: &Option<String>| p.as_deref().filter(|p| *p != "*").map(Pattern::new);
        let rules = if self.rules.iter().any(|r| r.value == "*") {
            RuleIds::All
        } else {
            RuleIds::Some(
                self.rules
                    .iter()
                    .filter_map(|r| registry::rule_ids().into_iter().find(|id| *id == r.value))
                    .collect(),
            )
        };
        ObjectExemption {
            namespace: pattern(&self.namespace),
            kind: Some(self.kind.value.clone()).filter(|k| k != "*"),
            name: pattern(&self.name),
            rules,
        }
    }
}

type RawParams = Option<HashMap<Spanned<String>, Value>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    action: Option<Action>,
    params: RawParams,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMutation {
    enabled: Option<bool>,
    params: RawParams,
}

fn params_value(params: &RawParams) -> Value {
    let map = params
        .iter()
        .flatten()
        .map(|(k, v)| (k.value.clone(), v.clone()))
        .collect::<serde_json::Map<_, _>>();
    Value::Object(map)
}

/// The two parts of a policy that name catalog entries and give them params.
#[derive(Clone, Copy)]
enum Section {
    Rules,
    Mutations,
}

impl Section {
    fn noun(self) -> &'static str {
        match self {
            Section::Rules => "rule",
            Section::Mutations => "mutation",
        }
    }

    fn ids(self) -> Vec<&'static str> {
        match self {
            Section::Rules => registry::rule_ids(),
            Section::Mutations => mutations::MUTATIONS.iter().map(|m| m.id).collect(),
        }
    }

    /// Builds the entry from merged params only to see whether they are valid.
    fn try_build(self, id: &str, params: Value) -> Result<(), String> {
        match self {
            Section::Rules => match registry::rule(id) {
                Some(spec) => (spec.build)(params).map(drop).map_err(|e| e.to_string()),
                None => Err(format!("unknown rule `{id}`")),
            },
            Section::Mutations => match mutations::mutation(id) {
                Some(spec) => (spec.build)(params).map(drop),
                None => Err(format!("unknown mutation `{id}`")),
            },
        }
    }
}

impl RawPolicy {
    fn parse(file: &str, text: &str) -> Result<RawPolicy, PolicyError> {
        let error = |line: u64, message: String| PolicyError {
            file: file.to_string(),
            line,
            message,
        };
        let raw: Option<RawPolicy> = serde_saphyr::from_str(text).map_err(|e| {
            let line = e.location().map_or(0, |l| l.line());
            error(line, with_hint(&plain_message(&e)))
        })?;
        let raw = raw.ok_or_else(|| {
            error(0, format!("the file is empty; a policy starts with `apiVersion: {API_VERSION}` and `kind: Policy`"))
        })?;
        match &raw.api_version {
            Some(v) if v.value == API_VERSION => {}
            Some(v) => {
                return Err(error(
                    v.referenced.line(),
                    format!("apiVersion must be `{API_VERSION}`, not `{}`", v.value),
                ));
            }
            None => return Err(error(1, format!("missing `apiVersion: {API_VERSION}`"))),
        }
        match &raw.kind {
            Some(k) if k.value == "Policy" => {}
            Some(k) => {
                return Err(error(
                    k.referenced.line(),
                    format!("kind must be `Policy`, not `{}`", k.value),
                ));
            }
            None => return Err(error(1, "missing `kind: Policy`".to_string())),
        }
        for (section, ids) in [
            (Section::Rules, raw.rule_keys()),
            (Section::Mutations, raw.mutation_keys()),
        ] {
            let known = section.ids();
            for id in ids {
                if !known.contains(&id.value.as_str()) {
                    let noun = section.noun();
                    let hint = nearest(&id.value, known.iter().copied())
                        .map(|n| format!("; did you mean `{n}`?"))
                        .unwrap_or_else(|| format!("; `bulwark rules` lists every {noun}"));
                    return Err(error(
                        id.referenced.line(),
                        format!("unknown {noun} `{}`{hint}", id.value),
                    ));
                }
            }
        }
        if let Some(exemptions) = &raw.exemptions {
            exemptions
                .check()
                .map_err(|(line, message)| error(line, message))?;
        }
        Ok(raw)
    }

    fn rule_keys(&self) -> Vec<&Spanned<String>> {
        self.rules.iter().flatten().map(|(k, _)| k).collect()
    }

    fn mutation_keys(&self) -> Vec<&Spanned<String>> {
        self.mutations.iter().flatten().map(|(k, _)| k).collect()
    }

    /// Checks that every parameter the user names exists (the built-in policy documents every
    /// parameter of every rule and mutation) and has the right type.
    fn check_against_defaults(&self, file: &str, defaults: &RawPolicy) -> Result<(), PolicyError> {
        let rules = self.rules.iter().flatten().map(|(id, e)| {
            (
                Section::Rules,
                id,
                &e.params,
                defaults.rule(&id.value).map(|d| &d.params),
            )
        });
        let mutations = self.mutations.iter().flatten().map(|(id, e)| {
            (
                Section::Mutations,
                id,
                &e.params,
                defaults.mutation(&id.value).map(|d| &d.params),
            )
        });
        let mut entries: Vec<_> = rules.chain(mutations).collect();
        entries.sort_by_key(|(_, id, _, _)| id.referenced.line());
        for (section, id, params, default_params) in entries {
            let default_params = default_params.map(params_value).unwrap_or_default();
            let known: Vec<&str> = default_params
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let mut params: Vec<_> = params.iter().flatten().collect();
            params.sort_by_key(|(k, _)| k.referenced.line());
            let noun = section.noun();
            for (key, value) in params {
                let line = key.referenced.line();
                if !known.contains(&key.value.as_str()) {
                    let hint = match nearest(&key.value, known.iter().copied()) {
                        Some(n) => format!("; did you mean `{n}`?"),
                        None if known.is_empty() => format!("; this {noun} takes no params"),
                        None => format!("; known params: {}", known.join(", ")),
                    };
                    return Err(PolicyError {
                        file: file.into(),
                        line,
                        message: format!(
                            "{noun} `{}` has no param `{}`{hint}",
                            id.value, key.value
                        ),
                    });
                }
                // Type-check this one param on top of the defaults, so the error points at it.
                let mut merged = default_params.clone();
                merge(
                    &mut merged,
                    Value::Object([(key.value.clone(), value.clone())].into_iter().collect()),
                );
                if let Err(e) = section.try_build(&id.value, merged) {
                    return Err(PolicyError {
                        file: file.into(),
                        line,
                        message: format!(
                            "{noun} `{}` param `{}`: {}",
                            id.value,
                            key.value,
                            with_hint(&e)
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    fn rule(&self, id: &str) -> Option<&RawRule> {
        self.rules
            .iter()
            .flatten()
            .find(|(k, _)| k.value == id)
            .map(|(_, v)| v)
    }

    fn mutation(&self, id: &str) -> Option<&RawMutation> {
        self.mutations
            .iter()
            .flatten()
            .find(|(k, _)| k.value == id)
            .map(|(_, v)| v)
    }

    fn line_of(&self, section: Section, id: &str) -> u64 {
        let keys = match section {
            Section::Rules => self.rule_keys(),
            Section::Mutations => self.mutation_keys(),
        };
        keys.into_iter()
            .find(|k| k.value == id)
            .map_or(0, |k| k.referenced.line())
    }
}

/// The YAML error's message without the source snippet or position (we print our own).
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default().trim();
    // Drop a trailing "at line N column M" that the position already carries.
    match first.find(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

/// Adds "did you mean" to serde's unknown field / unknown variant messages, whose expected
/// names come after "expected" (with or without backticks).
fn with_hint(message: &str) -> String {
    let Some(start) = message
        .find("unknown field `")
        .or_else(|| message.find("unknown variant `"))
    else {
        return message.to_string();
    };
    let rest = &message[start..];
    let Some(wrong) = rest.split('`').nth(1) else {
        return message.to_string();
    };
    let Some(expected) = rest.find("expected").map(|i| &rest[i + "expected".len()..]) else {
        return message.to_string();
    };
    let expected = expected.trim_start().trim_start_matches("one of").trim();
    let candidates = expected
        .split([',', ' '])
        .map(|c| c.trim().trim_matches('`'))
        .filter(|c| !c.is_empty() && *c != "or");
    let hint = nearest(wrong, candidates)
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default();
    format!("{message}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layered(text: &str) -> Result<Policy, PolicyError> {
        Policy::layered("policy.yaml", text)
    }

    #[test]
    fn the_builtin_policy_names_every_rule_with_an_action() {
        let defaults = defaults();
        for spec in registry::RULES {
            let entry = defaults
                .rule(spec.id)
                .unwrap_or_else(|| panic!("{} missing from default.yaml", spec.id));
            assert!(entry.action.is_some(), "{} has no default action", spec.id);
        }
        let policy = Policy::builtin();
        assert_eq!(policy.action("image-tag-pinned"), Action::Deny);
        assert_eq!(policy.action("read-only-root-filesystem"), Action::Audit);
        assert_eq!(policy.mode, Mode::Enforce);
    }

    #[test]
    fn a_user_file_overrides_only_what_it_names() {
        let policy = layered("apiVersion: bulwark.dev/v1\nkind: Policy\nmode: audit\nrules:\n  image-tag-pinned: { action: warn }\n").expect("valid");
        assert_eq!(policy.mode, Mode::Audit);
        assert_eq!(policy.action("image-tag-pinned"), Action::Warn);
        assert_eq!(policy.action("run-as-non-root"), Action::Deny);
        assert!(
            policy
                .exemptions
                .namespaces
                .iter()
                .any(|n| n == "kube-system")
        );
    }

    #[test]
    fn a_list_replaces_the_default_list() {
        let policy =
            layered("apiVersion: bulwark.dev/v1\nkind: Policy\nexemptions:\n  namespaces: []\n")
                .expect("valid");
        assert!(policy.exemptions.namespaces.is_empty());
        assert_eq!(policy.exemptions.annotation, "bulwark.dev/exempt");
    }

    #[test]
    fn an_unknown_rule_names_line_and_nearest_id() {
        let err = layered("apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  image-tag-pined:\n    action: deny\n").expect_err("unknown id");
        assert_eq!(err.line, 4, "{err}");
        assert!(
            err.to_string().contains("did you mean `image-tag-pinned`"),
            "{err}"
        );
        assert!(err.to_string().starts_with("policy.yaml:4:"), "{err}");
    }

    #[test]
    fn an_unknown_action_names_the_nearest_action() {
        let err = layered("apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  image-tag-pinned:\n    action: denny\n").expect_err("bad action");
        assert_eq!(err.line, 5, "{err}");
        assert!(err.message.contains("did you mean `deny`"), "{err}");
    }

    #[test]
    fn an_unknown_top_level_field_names_the_nearest_field() {
        let err = layered("apiVersion: bulwark.dev/v1\nkind: Policy\nrulez: {}\n")
            .expect_err("bad field");
        assert_eq!(err.line, 3, "{err}");
        assert!(err.message.contains("did you mean `rules`"), "{err}");
    }

    #[test]
    fn an_unknown_param_names_line_and_nearest_param() {
        let err = layered("apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  image-tag-pinned:\n    params:\n      mutable_tag: [dev]\n").expect_err("bad param");
        assert_eq!(err.line, 6, "{err}");
        assert!(err.message.contains("did you mean `mutable_tags`"), "{err}");
    }

    #[test]
    fn a_param_of_the_wrong_type_names_its_line() {
        let err = layered("apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  replicas-minimum:\n    params:\n      min: many\n").expect_err("bad type");
        assert_eq!(err.line, 6, "{err}");
        assert!(err.message.contains("replicas-minimum"), "{err}");
    }

    #[test]
    fn broken_yaml_and_wrong_headers_are_errors() {
        assert!(layered("").is_err());
        assert!(layered("rules: [").is_err());
        assert!(layered("apiVersion: v2\nkind: Policy\n").is_err());
        assert!(layered("apiVersion: bulwark.dev/v1\nkind: Nope\n").is_err());
        assert!(layered("apiVersion: bulwark.dev/v1\n").is_err());
        assert!(layered("apiVersion: bulwark.dev/v1\nkind: Policy\nmode: loud\n").is_err());
    }

    #[test]
    fn mutations_are_enabled_by_default_and_can_be_switched_off() {
        let ids = |p: &Policy| p.enabled_mutations().map(|m| m.spec.id).collect::<Vec<_>>();
        assert_eq!(
            ids(&Policy::builtin()),
            [
                "add-resource-requests",
                "set-run-as-non-root",
                "add-prestop-hook",
                "add-recommended-labels",
                "set-image-pull-policy"
            ]
        );
        let policy = layered("apiVersion: bulwark.dev/v1\nkind: Policy\nmutations:\n  add-prestop-hook: { enabled: false }\n").expect("valid");
        assert!(!ids(&policy).contains(&"add-prestop-hook"));
    }

    #[test]
    fn mutation_mistakes_name_line_and_nearest_name() {
        let err = layered("apiVersion: bulwark.dev/v1\nkind: Policy\nmutations:\n  add-prestop-hok: { enabled: true }\n").expect_err("unknown id");
        assert_eq!(err.line, 4, "{err}");
        assert!(
            err.message
                .contains("unknown mutation `add-prestop-hok`; did you mean `add-prestop-hook`?"),
            "{err}"
        );
        let err = layered("apiVersion: bulwark.dev/v1\nkind: Policy\nmutations:\n  add-prestop-hook:\n    params:\n      style: exce\n").expect_err("bad style");
        assert_eq!(err.line, 6, "{err}");
        assert!(err.message.contains("did you mean `exec`"), "{err}");
        let err = layered("apiVersion: bulwark.dev/v1\nkind: Policy\nmutations:\n  add-resource-requests:\n    params:\n      cpu: lots\n").expect_err("bad quantity");
        assert!(err.message.contains("not a quantity"), "{err}");
        let err = layered("apiVersion: bulwark.dev/v1\nkind: Policy\nmutations:\n  set-run-as-non-root: { action: deny }\n").expect_err("rules have actions, mutations do not");
        assert!(err.message.contains("unknown field `action`"), "{err}");
    }

    #[test]
    fn a_bundle_check_takes_the_action_of_its_rule_id() {
        // `pdb-allows-disruption` has a bundle check registered apart from any rule.
        let id = "pdb-allows-disruption";
        assert_eq!(Policy::builtin().action(id), Action::Warn);
        assert_eq!(
            Policy::builtin()
                .active_bundle_checks()
                .filter(|c| c.id == id)
                .count(),
            1
        );
        let off = layered(&format!(
            "apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  {id}: {{ action: off }}\n"
        ))
        .expect("valid");
        assert_eq!(off.action(id), Action::Off);
        assert_eq!(off.active_bundle_checks().filter(|c| c.id == id).count(), 0);
        let deny = layered(&format!(
            "apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  {id}: {{ action: deny }}\n"
        ))
        .expect("valid");
        assert_eq!(deny.action(id), Action::Deny);
        let err = layered(&format!(
            "apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  {id}:\n    params: {{ x: 1 }}\n"
        ))
        .expect_err("no params");
        assert!(err.message.contains("has no param `x`"), "{err}");
    }

    #[test]
    fn params_merge_key_by_key() {
        let mut base = serde_json::json!({"a": 1, "m": {"x": 1, "y": 2}, "l": [1, 2]});
        merge(&mut base, serde_json::json!({"m": {"y": 3}, "l": [9]}));
        assert_eq!(
            base,
            serde_json::json!({"a": 1, "m": {"x": 1, "y": 3}, "l": [9]})
        );
    }

    #[test]
    fn exemption_entries_are_checked_with_the_line_and_the_nearest_name() {
        let head = "apiVersion: bulwark.dev/v1\nkind: Policy\nexemptions:\n";
        let err = layered(&format!(
            "{head}  objects:\n    - {{kind: Deamonset, name: x, rules: [no-host-path]}}\n"
        ))
        .expect_err("unknown kind");
        assert_eq!(err.line, 5, "{err}");
        assert!(err.message.contains("did you mean `DaemonSet`"), "{err}");
        let err = layered(&format!(
            "{head}  objects:\n    - kind: Pod\n      rules: [no-privilegd]\n"
        ))
        .expect_err("unknown rule");
        assert_eq!(err.line, 6, "{err}");
        assert!(
            err.message.contains("did you mean `no-privileged`"),
            "{err}"
        );
        let err = layered(&format!(
            "{head}  objects:\n    - {{kind: Pod, rules: []}}\n"
        ))
        .expect_err("no rules");
        assert!(err.message.contains("needs `rules`"), "{err}");
        let err = layered(&format!(
            "{head}  annotationMayExempt: [image-tag-pinned]\n"
        ))
        .expect_err("a practice rule");
        assert!(err.message.contains("is a practice rule"), "{err}");
        let err = layered(&format!(
            "{head}  objects:\n    - {{kind: Pod, rule: [x]}}\n"
        ))
        .expect_err("unknown field");
        assert!(err.message.contains("rules"), "{err}");
        let ok = layered(&format!(
            "{head}  annotationMayExempt: [read-only-root-filesystem]\n  objects:\n    - {{namespace: \"mon*\", kind: \"*\", rules: [\"*\"]}}\n"
        ))
        .expect("valid");
        assert_eq!(
            ok.exemptions.annotation_may_exempt,
            ["read-only-root-filesystem"]
        );
        assert_eq!(ok.exemptions.objects.len(), 1);
        assert!(ok.exemptions.objects[0].matches(Some("monitoring"), "Pod", "anything"));
        assert!(!ok.exemptions.objects[0].matches(Some("shop"), "Pod", "anything"));
    }

    #[test]
    fn a_selection_keeps_only_the_rules_it_names_and_drops_the_skipped() {
        let pick = |only: &[&str], skip: &[&str]| Selection {
            only: only.iter().map(|s| s.to_string()).collect(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
        };
        let policy = Policy::builtin()
            .select_rules(&pick(&["image-tag-pinned", "pdb-allows-disruption"], &[]))
            .expect("known ids");
        let active: Vec<&str> = policy.active_rules().map(|r| r.spec.id).collect();
        assert_eq!(active, ["image-tag-pinned", "pdb-allows-disruption"]);
        assert_eq!(policy.active_bundle_checks().count(), 1);
        let policy = Policy::builtin()
            .select_rules(&pick(&[], &["image-tag-pinned", "pdb-allows-disruption"]))
            .expect("known ids");
        assert_eq!(policy.action("image-tag-pinned"), Action::Off);
        assert_eq!(policy.active_bundle_checks().count(), 0);
        assert_eq!(policy.action("no-privileged"), Action::Deny);
        // A rule the policy leaves off stays off.
        let policy = Policy::builtin()
            .select_rules(&pick(&["volume-types-restricted"], &[]))
            .expect("known id");
        assert_eq!(policy.active_rules().count(), 0);
    }

    #[test]
    fn a_selection_names_unknown_ids_and_mutations_clearly() {
        let only = |id: &str| Selection {
            only: vec![id.to_string()],
            skip: vec![],
        };
        let err = Policy::builtin()
            .select_rules(&only("image-tag-pined"))
            .expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "--rule: unknown rule `image-tag-pined` (did you mean `image-tag-pinned`?); `bulwark rules` lists them"
        );
        let err = Policy::builtin()
            .select_rules(&only("set-run-as-non-root"))
            .expect_err("a mutation");
        assert!(
            err.to_string().contains("is a mutation, not a rule"),
            "{err}"
        );
        let skip = Selection {
            only: vec![],
            skip: vec!["nope".into()],
        };
        let err = Policy::builtin()
            .select_mutations(&skip)
            .expect_err("unknown");
        assert!(
            err.to_string()
                .starts_with("--skip-rule: unknown mutation or rule `nope`"),
            "{err}"
        );
    }

    #[test]
    fn mutations_are_picked_by_their_id_or_the_rule_they_answer() {
        let by = |only: &[&str], skip: &[&str]| {
            let selection = Selection {
                only: only.iter().map(|s| s.to_string()).collect(),
                skip: skip.iter().map(|s| s.to_string()).collect(),
            };
            Policy::builtin()
                .select_mutations(&selection)
                .expect("known ids")
                .enabled_mutations()
                .map(|m| m.spec.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(by(&["set-run-as-non-root"], &[]), ["set-run-as-non-root"]);
        assert_eq!(by(&["run-as-non-root"], &[]), ["set-run-as-non-root"]);
        let without = by(&[], &["run-as-non-root", "add-prestop-hook"]);
        assert_eq!(
            without,
            [
                "add-resource-requests",
                "add-recommended-labels",
                "set-image-pull-policy"
            ]
        );
    }
}
