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

use super::registry::{self, Rule, RuleSpec, nearest};
use super::{Action, Context, Finding, Object};

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

/// What is exempt from judgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exemptions {
    /// Objects in these namespaces are not judged at all.
    pub namespaces: Vec<String>,
    /// The annotation that exempts one object from the rules it names (`*` for all).
    pub annotation: String,
}

/// A rule with the action and parameters the policy gives it.
pub struct ActiveRule {
    pub spec: &'static RuleSpec,
    pub action: Action,
    rule: Box<dyn Rule>,
}

impl ActiveRule {
    pub fn check(&self, object: &Object, ctx: &Context, out: &mut Vec<Finding>) {
        self.rule.check(object, ctx, out);
    }
}

/// A validated, compiled policy. Immutable: a reload builds a new one and swaps it in whole.
pub struct Policy {
    pub mode: Mode,
    pub exemptions: Exemptions,
    rules: Vec<ActiveRule>,
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

/// Which rules an object's exemption annotation switches off.
#[derive(Debug, Default)]
pub struct RuleExemption {
    all: bool,
    ids: Vec<String>,
}

impl RuleExemption {
    pub fn covers(&self, id: &str) -> bool {
        self.all || self.ids.iter().any(|i| i == id)
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
        self.rules
            .iter()
            .find(|r| r.spec.id == id)
            .map_or(Action::Off, |r| r.action)
    }

    /// The rules that run (action other than `off`), in catalog order.
    pub fn active_rules(&self) -> impl Iterator<Item = &ActiveRule> {
        self.rules.iter().filter(|r| r.action != Action::Off)
    }

    /// Whether `object` is not judged at all: an exempt namespace, or a Pod that a controller
    /// owns (its owner's template was judged; denying the Pod would be a silent outage).
    pub fn exempts_object(&self, object: &Object, namespace: Option<&str>) -> bool {
        let namespace = namespace.or(object.meta().namespace.as_deref());
        namespace.is_some_and(|ns| self.exemptions.namespaces.iter().any(|e| e == ns))
            || (object.kind() == super::Kind::Pod && object.has_controller_owner())
    }

    /// The rules that the object's exemption annotation names.
    pub fn exempted_rules(&self, object: &Object) -> RuleExemption {
        let Some(value) = object
            .meta()
            .annotations
            .as_ref()
            .and_then(|a| a.get(&self.exemptions.annotation))
        else {
            return RuleExemption::default();
        };
        let ids: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        RuleExemption {
            all: ids.iter().any(|i| i == "*"),
            ids,
        }
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

        let mut rules = Vec::with_capacity(registry::RULES.len());
        for spec in registry::RULES {
            let default_entry = defaults.rule(spec.id);
            let user_entry = user.rule(spec.id);
            let action = user_entry
                .and_then(|e| e.action)
                .or(default_entry.and_then(|e| e.action))
                .unwrap_or(Action::Off);
            let mut params =
                default_entry.map_or(Value::Object(Default::default()), RawEntry::params_value);
            if let Some(user_entry) = user_entry {
                merge(&mut params, user_entry.params_value());
            }
            let rule = (spec.build)(params).map_err(|e| {
                let line = user.rule_line(spec.id);
                PolicyError {
                    file: file.to_string(),
                    line,
                    message: format!("rule `{}`: invalid params: {e}", spec.id),
                }
            })?;
            rules.push(ActiveRule { spec, action, rule });
        }
        Ok(Policy {
            mode: user.mode.or(defaults.mode).unwrap_or_default(),
            exemptions: Exemptions {
                namespaces,
                annotation,
            },
            rules,
            source: file.to_string(),
        })
    }
}

/// The parsed built-in policy (parsed once).
fn defaults() -> &'static RawPolicy {
    static DEFAULTS: std::sync::OnceLock<RawPolicy> = std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| {
        RawPolicy::parse(DEFAULT_POLICY_NAME, DEFAULT_POLICY).expect("the built-in policy parses")
    })
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
    rules: Option<HashMap<Spanned<String>, RawEntry>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExemptions {
    namespaces: Option<Vec<String>>,
    annotation: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    action: Option<Action>,
    params: Option<HashMap<Spanned<String>, Value>>,
}

impl RawEntry {
    fn params_value(&self) -> Value {
        let map = self
            .params
            .iter()
            .flatten()
            .map(|(k, v)| (k.value.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>();
        Value::Object(map)
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
        for (id, _) in raw.rules.iter().flatten() {
            if registry::rule(&id.value).is_none() {
                let hint = nearest(&id.value, registry::RULES.iter().map(|r| r.id))
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_else(|| "; `bulwark rules` lists every rule".to_string());
                return Err(error(
                    id.referenced.line(),
                    format!("unknown rule `{}`{hint}", id.value),
                ));
            }
        }
        Ok(raw)
    }

    /// Checks that every parameter the user names exists (the built-in policy documents every
    /// parameter of every rule) and has the right type.
    fn check_against_defaults(&self, file: &str, defaults: &RawPolicy) -> Result<(), PolicyError> {
        let mut entries: Vec<_> = self.rules.iter().flatten().collect();
        entries.sort_by_key(|(id, _)| id.referenced.line());
        for (id, entry) in entries {
            let default_params = defaults
                .rule(&id.value)
                .map(RawEntry::params_value)
                .unwrap_or_default();
            let known: Vec<&str> = default_params
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let mut params: Vec<_> = entry.params.iter().flatten().collect();
            params.sort_by_key(|(k, _)| k.referenced.line());
            for (key, value) in params {
                let line = key.referenced.line();
                if !known.contains(&key.value.as_str()) {
                    let hint = match nearest(&key.value, known.iter().copied()) {
                        Some(n) => format!("; did you mean `{n}`?"),
                        None if known.is_empty() => "; this rule takes no params".to_string(),
                        None => format!("; known params: {}", known.join(", ")),
                    };
                    return Err(PolicyError {
                        file: file.into(),
                        line,
                        message: format!("rule `{}` has no param `{}`{hint}", id.value, key.value),
                    });
                }
                // Type-check this one param on top of the defaults, so the error points at it.
                let mut merged = default_params.clone();
                merge(
                    &mut merged,
                    Value::Object([(key.value.clone(), value.clone())].into_iter().collect()),
                );
                let spec = registry::rule(&id.value).expect("ids were checked in parse");
                if let Err(e) = (spec.build)(merged) {
                    return Err(PolicyError {
                        file: file.into(),
                        line,
                        message: format!("rule `{}` param `{}`: {e}", id.value, key.value),
                    });
                }
            }
        }
        Ok(())
    }

    fn rule(&self, id: &str) -> Option<&RawEntry> {
        self.rules
            .iter()
            .flatten()
            .find(|(k, _)| k.value == id)
            .map(|(_, v)| v)
    }

    fn rule_line(&self, id: &str) -> u64 {
        self.rules
            .iter()
            .flatten()
            .find(|(k, _)| k.value == id)
            .map_or(0, |(k, _)| k.referenced.line())
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
    fn params_merge_key_by_key() {
        let mut base = serde_json::json!({"a": 1, "m": {"x": 1, "y": 2}, "l": [1, 2]});
        merge(&mut base, serde_json::json!({"m": {"y": 3}, "l": [9]}));
        assert_eq!(
            base,
            serde_json::json!({"a": 1, "m": {"x": 1, "y": 3}, "l": [9]})
        );
    }
}
