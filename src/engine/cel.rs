//! A small typed builder for the CEL that `bulwark vap` writes into ValidatingAdmissionPolicies.
//!
//! Every rule that exports says what it checks through [`Rule::cel`](super::rule::Rule::cel),
//! in the rule's own file, with the pieces here: values ([`Cel`]), optional values ([`Opt`],
//! CEL's `x.?field`, so an absent field reads as absent instead of failing), and the engine's
//! own terms ([`pod`]: the pod spec, its metadata, its containers by [`ContainerSet`]). No rule
//! writes CEL text by hand, and every compound expression is parenthesised where it is built,
//! so pieces combine without precedence surprises.
//!
//! Pure: it builds text, it evaluates nothing (the API server does).

use std::fmt;

use super::containers::ContainerSet;

/// A CEL expression that yields a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cel(String);

/// A CEL expression that yields an optional value (`x.?field`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt(String);

/// One thing a rule's policy checks: an expression that is true when the object passes, and
/// what is wrong when it is false (the policy's message adds the rule id and the fix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub passes: Cel,
    pub violation: String,
}

/// What a rule's ValidatingAdmissionPolicy checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleCel {
    pub checks: Vec<Check>,
}

impl RuleCel {
    /// A policy of one check.
    pub fn one(passes: Cel, violation: impl Into<String>) -> RuleCel {
        RuleCel {
            checks: vec![Check {
                passes,
                violation: violation.into(),
            }],
        }
    }

    /// Whether a check reads the pod spec or its metadata (the policy then needs the pod
    /// variables, and judges only objects that have a pod spec, as the rule does).
    pub fn reads_pod(&self) -> bool {
        let variables = [pod::SPEC_VARIABLE, pod::META_VARIABLE].map(|v| format!("variables.{v}"));
        self.checks.iter().any(|c| {
            variables
                .iter()
                .any(|v| c.passes.as_str().contains(v.as_str()))
        })
    }

    /// Adds another check.
    pub fn and(mut self, passes: Cel, violation: impl Into<String>) -> RuleCel {
        self.checks.push(Check {
            passes,
            violation: violation.into(),
        });
        self
    }
}

fn is_identifier(name: &str) -> bool {
    // The language's own keywords; CEL's other reserved words (`namespace`, `as`, ...) still
    // select fields (`request.namespace`).
    const KEYWORDS: &[&str] = &["true", "false", "null", "in"];
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name)
}

/// A CEL string literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

// === impl Cel ===

impl Cel {
    /// A name in scope: `object`, `request`, `variables`, a comprehension variable.
    pub fn var(name: &str) -> Cel {
        debug_assert!(is_identifier(name), "{name} is not a CEL identifier");
        Cel(name.to_string())
    }

    /// `variables.<name>`, a variable the policy declares.
    pub fn variable(name: &str) -> Cel {
        Cel::var("variables").get(name)
    }

    pub fn str(text: &str) -> Cel {
        Cel(quote(text))
    }

    pub fn int(value: i64) -> Cel {
        Cel(value.to_string())
    }

    pub fn bool(value: bool) -> Cel {
        Cel(value.to_string())
    }

    /// A list of string literals.
    pub fn strs<S: AsRef<str>>(items: &[S]) -> Cel {
        let items: Vec<String> = items.iter().map(|s| quote(s.as_ref())).collect();
        Cel(format!("[{}]", items.join(", ")))
    }

    /// A list of expressions.
    pub fn list(items: impl IntoIterator<Item = Cel>) -> Cel {
        let items: Vec<String> = items.into_iter().map(|c| c.0).collect();
        Cel(format!("[{}]", items.join(", ")))
    }

    /// A list of integer literals.
    pub fn ints(items: &[i64]) -> Cel {
        let items: Vec<String> = items.iter().map(i64::to_string).collect();
        Cel(format!("[{}]", items.join(", ")))
    }

    pub fn null() -> Cel {
        Cel("null".to_string())
    }

    /// The empty map.
    pub fn empty_map() -> Cel {
        Cel("{}".to_string())
    }

    /// The empty list.
    pub fn empty_list() -> Cel {
        Cel("[]".to_string())
    }

    /// The value seen as `dyn`: the type checker stops following its fields. Used where one
    /// expression reads objects of several kinds whose schemas differ (the pod spec of a Pod
    /// and of a Deployment sit at different paths).
    pub fn dynamic(self) -> Cel {
        Cel(format!("dyn({})", self.0))
    }

    /// `x.field` (or `x['field']` for a key that is not an identifier).
    pub fn get(&self, field: &str) -> Cel {
        if is_identifier(field) {
            Cel(format!("{}.{field}", self.0))
        } else {
            Cel(format!("{}[{}]", self.0, quote(field)))
        }
    }

    /// `x.?field`: the field if it is set.
    pub fn opt(&self, field: &str) -> Opt {
        if is_identifier(field) {
            Opt(format!("{}.?{field}", self.0))
        } else {
            Opt(format!("{}[?{}]", self.0, quote(field)))
        }
    }

    /// `x[key]`.
    pub fn index(&self, key: Cel) -> Cel {
        Cel(format!("{}[{}]", self.0, key.0))
    }

    pub fn negate(self) -> Cel {
        Cel(format!("!({})", self.0))
    }

    pub fn and(self, other: Cel) -> Cel {
        Cel(format!("({} && {})", self.0, other.0))
    }

    pub fn or(self, other: Cel) -> Cel {
        Cel(format!("({} || {})", self.0, other.0))
    }

    /// Every one of `items` holds (`true` for none).
    pub fn every(items: impl IntoIterator<Item = Cel>) -> Cel {
        let items: Vec<String> = items.into_iter().map(|c| c.0).collect();
        match items.len() {
            0 => Cel::bool(true),
            1 => Cel(items.into_iter().next().unwrap_or_default()),
            _ => Cel(format!("({})", items.join(" && "))),
        }
    }

    /// One of `items` holds (`false` for none).
    pub fn either(items: impl IntoIterator<Item = Cel>) -> Cel {
        let items: Vec<String> = items.into_iter().map(|c| c.0).collect();
        match items.len() {
            0 => Cel::bool(false),
            1 => Cel(items.into_iter().next().unwrap_or_default()),
            _ => Cel(format!("({})", items.join(" || "))),
        }
    }

    fn binary(self, op: &str, other: Cel) -> Cel {
        Cel(format!("({} {op} {})", self.0, other.0))
    }

    pub fn eq(self, other: Cel) -> Cel {
        self.binary("==", other)
    }

    pub fn ne(self, other: Cel) -> Cel {
        self.binary("!=", other)
    }

    pub fn lt(self, other: Cel) -> Cel {
        self.binary("<", other)
    }

    pub fn le(self, other: Cel) -> Cel {
        self.binary("<=", other)
    }

    pub fn gt(self, other: Cel) -> Cel {
        self.binary(">", other)
    }

    pub fn ge(self, other: Cel) -> Cel {
        self.binary(">=", other)
    }

    /// `+`: numbers add, strings and lists concatenate.
    pub fn plus(self, other: Cel) -> Cel {
        self.binary("+", other)
    }

    pub fn minus(self, other: Cel) -> Cel {
        self.binary("-", other)
    }

    pub fn times(self, other: Cel) -> Cel {
        self.binary("*", other)
    }

    /// Integer division (truncates towards zero).
    pub fn divided_by(self, other: Cel) -> Cel {
        self.binary("/", other)
    }

    pub fn modulo(self, other: Cel) -> Cel {
        self.binary("%", other)
    }

    /// `x in list` (or `key in map`).
    pub fn is_in(self, list: Cel) -> Cel {
        self.binary("in", list)
    }

    /// `cond ? then : otherwise`.
    /// Whether an int-or-string value holds an int (else a string such as `"25%"`).
    pub fn is_int(value: Cel) -> Cel {
        Cel::function("type", [value]).eq(Cel::var("int"))
    }

    /// An int-or-percent value that is zero as written (`0`, `"0"`, `"0%"`, `" 0.0 % "`), as
    /// [`super::quantity::int_or_percent_is_zero`] reads it.
    pub fn int_or_percent_is_zero(value: Cel) -> Cel {
        Cel::cond(
            Cel::is_int(value.clone()),
            value.clone().eq(Cel::int(0)),
            value.call(
                "matches",
                [Cel::str(
                    r"^\s*[+-]?(0+(\.0*)?|\.0+)([eE][+-]?[0-9]+)?\s*%*\s*$",
                )],
            ),
        )
    }

    pub fn cond(cond: Cel, then: Cel, otherwise: Cel) -> Cel {
        Cel(format!("({} ? {} : {})", cond.0, then.0, otherwise.0))
    }

    fn macro_call(self, name: &str, var: &str, body: impl FnOnce(Cel) -> Cel) -> Cel {
        let body = body(Cel::var(var));
        Cel(format!("{}.{name}({var}, {})", self.0, body.0))
    }

    /// Every item of the list holds `body` (`list.all(var, body)`).
    pub fn all(self, var: &str, body: impl FnOnce(Cel) -> Cel) -> Cel {
        self.macro_call("all", var, body)
    }

    /// Some item of the list holds `body` (`list.exists(var, body)`).
    pub fn exists(self, var: &str, body: impl FnOnce(Cel) -> Cel) -> Cel {
        self.macro_call("exists", var, body)
    }

    /// The items of the list that hold `body`.
    pub fn filter(self, var: &str, body: impl FnOnce(Cel) -> Cel) -> Cel {
        self.macro_call("filter", var, body)
    }

    /// The list of `body` for each item.
    pub fn map(self, var: &str, body: impl FnOnce(Cel) -> Cel) -> Cel {
        self.macro_call("map", var, body)
    }

    /// A method call: `x.name(args...)` (`startsWith`, `lowerAscii`, `split`, `matches`, ...).
    pub fn call(self, name: &str, args: impl IntoIterator<Item = Cel>) -> Cel {
        let args: Vec<String> = args.into_iter().map(|a| a.0).collect();
        Cel(format!("{}.{name}({})", self.0, args.join(", ")))
    }

    /// A global function call: `name(args...)` (`int`, `string`, `size`, `quantity`, ...).
    pub fn function(name: &str, args: impl IntoIterator<Item = Cel>) -> Cel {
        let args: Vec<String> = args.into_iter().map(|a| a.0).collect();
        Cel(format!("{name}({})", args.join(", ")))
    }

    pub fn size(self) -> Cel {
        Cel::function("size", [self])
    }

    /// The expression's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Cel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// === impl Opt ===

impl Opt {
    /// `x.?a.?b`.
    pub fn opt(&self, field: &str) -> Opt {
        if is_identifier(field) {
            Opt(format!("{}.?{field}", self.0))
        } else {
            Opt(format!("{}[?{}]", self.0, quote(field)))
        }
    }

    /// The value, or `default` when it is absent.
    pub fn or_value(self, default: Cel) -> Cel {
        Cel(format!("{}.orValue({})", self.0, default.0))
    }

    /// This value, or `other` when it is absent.
    pub fn or(self, other: Opt) -> Opt {
        Opt(format!("{}.or({})", self.0, other.0))
    }

    /// Whether the value is present.
    pub fn is_set(&self) -> Cel {
        Cel(format!("{}.hasValue()", self.0))
    }

    /// The value; only meaningful where [`Opt::is_set`] holds.
    pub fn value(self) -> Cel {
        Cel(format!("{}.value()", self.0))
    }

    /// A list value, empty when absent or null (a Go list without `omitempty`, such as a pod
    /// spec's `containers`, is serialized as `null` when empty).
    pub fn or_empty(self) -> Cel {
        let non_null = Cel::function(
            "optional.ofNonZeroValue",
            [self.or_value(Cel::empty_list())],
        );
        Opt(non_null.0).or_value(Cel::empty_list())
    }

    /// Whether the value is present and not null.
    pub fn is_present(self) -> Cel {
        self.or_value(Cel::null()).ne(Cel::null())
    }
}

/// The engine's pod terms, over the variables every workload policy declares (see `vap.rs`):
/// `variables.podSpec` (the pod spec, wherever the kind keeps it) and `variables.podMeta`
/// (the metadata beside it: a Pod's own, a template's).
pub mod pod {
    use super::{Cel, ContainerSet};

    /// The variable that holds the pod spec.
    pub const SPEC_VARIABLE: &str = "podSpec";
    /// The variable that holds the pod's (or template's) metadata.
    pub const META_VARIABLE: &str = "podMeta";

    pub fn spec() -> Cel {
        Cel::variable(SPEC_VARIABLE)
    }

    pub fn meta() -> Cel {
        Cel::variable(META_VARIABLE)
    }

    /// The containers of `set`, as one list (app, then init, then ephemeral).
    pub fn containers(set: ContainerSet) -> Cel {
        let spec = spec();
        let app = spec.opt("containers").or_empty();
        let init = spec.opt("initContainers").or_empty();
        let ephemeral = spec.opt("ephemeralContainers").or_empty();
        match set {
            ContainerSet::App => app,
            ContainerSet::AppAndInit => app.plus(init),
            ContainerSet::All => app.plus(init).plus(ephemeral),
        }
    }

    /// Whether its containers run to completion (`restartPolicy` `Never` or `OnFailure`).
    pub fn runs_to_completion() -> Cel {
        spec()
            .opt("restartPolicy")
            .or_value(Cel::str(""))
            .is_in(Cel::strs(&["Never", "OnFailure"]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_that_are_not_identifiers_are_indexed() {
        let labels = Cel::var("object").get("metadata").opt("labels");
        assert_eq!(
            labels.opt("app.kubernetes.io/name").is_set().as_str(),
            "object.metadata.?labels[?'app.kubernetes.io/name'].hasValue()"
        );
        assert_eq!(Cel::var("c").get("in").as_str(), "c['in']");
    }

    #[test]
    fn literals_are_quoted_and_escaped() {
        assert_eq!(Cel::str("it's a \\ test").as_str(), r"'it\'s a \\ test'");
        assert_eq!(Cel::strs(&["a", "b"]).as_str(), "['a', 'b']");
        assert_eq!(Cel::ints(&[]).as_str(), "[]");
    }

    #[test]
    fn compound_expressions_are_parenthesised() {
        let e = Cel::bool(true)
            .or(Cel::bool(false))
            .and(Cel::int(1).eq(Cel::int(2)));
        assert_eq!(e.as_str(), "((true || false) && (1 == 2))");
        assert_eq!(Cel::every([]).as_str(), "true");
        assert_eq!(Cel::either([]).as_str(), "false");
    }

    #[test]
    fn containers_follow_the_container_set() {
        assert_eq!(
            pod::containers(ContainerSet::App).as_str(),
            "optional.ofNonZeroValue(variables.podSpec.?containers.orValue([])).orValue([])"
        );
        assert!(
            pod::containers(ContainerSet::All)
                .as_str()
                .contains("ephemeralContainers")
        );
    }
}
