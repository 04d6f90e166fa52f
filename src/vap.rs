//! bulwark's policy as ValidatingAdmissionPolicies (`bulwark vap`, `bulwark manifests --vap`):
//! one policy and one binding per rule that exports, judged by the API server itself, so the
//! floor holds while the webhook is down.
//!
//! Everything comes from the same [`Policy`] the webhook runs: the rule's action becomes the
//! binding's `validationActions`, its parameters are compiled into its CEL (the rule's own
//! [`Rule::cel`](crate::engine::rule::Rule::cel)), `exemptions.namespaces` and the ignore label
//! become the binding's `namespaceSelector`, and the exemption annotation, `exemptions.objects`
//! and the leave-generated-objects-to-their-owner logic of `engine/admission.rs` become
//! `matchConditions`. The pod spec is reached through the one kinds-to-pod-spec map
//! ([`Kind::pod_spec_path`]).
//!
//! Pure: builds typed k8s-openapi objects and prints them; reads nothing.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};

use crate::engine::cel::{Cel, RuleCel, pod};
use crate::engine::policy::ActiveRule;
use crate::engine::rule::{Action, RuleClass, RuleSpec};
use crate::engine::{Kind, Mode, Policy};

/// The namespace label that keeps a whole namespace away from bulwark: the webhook
/// configurations' `namespaceSelector` (deploy/webhooks.yaml) and every binding carry it.
pub const IGNORE_LABEL: &str = "bulwark.dev/ignore";
/// The label every namespace carries with its own name (set by the API server).
const NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// The prefix of every generated policy and binding name.
pub const NAME_PREFIX: &str = "bulwark-";

/// The section of docs/rules.md on the policies: how they follow the policy file, and where
/// CEL makes them differ from the webhook.
pub const DOCS: &str = r#"
## ValidatingAdmissionPolicies

`bulwark vap [--policy FILE]` (also `bulwark manifests --vap`) prints, for every rule whose
**VAP** column says yes and whose action is not `off`, a ValidatingAdmissionPolicy named
`bulwark-<rule-id>` and a ValidatingAdmissionPolicyBinding of the same name, from the same
policy the webhook runs. `deploy/vap/` holds them for the built-in policy.

| policy file | ValidatingAdmissionPolicy |
|---|---|
| `action: deny` / `warn` / `audit` | binding `validationActions: [Deny]` / `[Warn]` / `[Audit]` |
| `action: off` | not emitted |
| `mode: audit` | `[Warn, Audit]` for every rule |
| `params` | compiled into the rule's expression |
| `exemptions.namespaces`, the `bulwark.dev/ignore` namespace label | binding `namespaceSelector` |
| the exemption annotation (practice rules, and the security rules `annotationMayExempt` names) | `matchConditions` `not-exempt-by-annotation`, on the object and its pod template |
| `exemptions.objects` | `matchConditions` `not-exempt-by-policy` (name patterns as anchored regular expressions) |
| a generated object (controller ownerReference to a kind bulwark judges) | `matchConditions` `not-generated-by-a-judged-controller`, for practice rules only: security rules judge every object, whatever ownerReferences it claims |
| kinds | `matchConstraints` for CREATE and UPDATE of the rule's kinds; security rules also match `pods/ephemeralcontainers` |
| the message | `[rule-id] what is wrong; how to fix it` |

The pod spec is reached through the same kinds-to-pod-spec map as the webhook (`object.spec`,
`object.spec.template.spec`, `object.spec.jobTemplate.spec.template.spec`), in the policy's
`podSpec` and `podMeta` variables.

### Where a policy differs from the webhook

These are the limits of CEL and of the API server's policy plugin; the conformance suite
(`tests/e2e/vap.sh`) holds every other verdict of every exported rule to the webhook's.

- **One message per check.** A policy says which rule failed and how to fix it, not which
  container or field; the webhook names each. Run `bulwark check` for the details.
- **The first denial only.** When several policies deny a request, the API server reports the
  first one; the webhook lists every denial. Warnings past 4096 characters are cut and dropped
  by the API server.
- **No ratcheting.** On UPDATE the webhook lets a denial through as a warning when the stored
  object already had it; a policy denies it. A policy is stricter, never weaker.
- **Exemptions are not recorded.** The webhook records each exemption it applies (audit
  annotation, log, metric); a policy that an exemption switches off is silently not evaluated.
- **Objects bulwark cannot read.** The webhook refuses an object that does not decode into its
  Kubernetes type; a policy judges the fields it can read.
- **Types.** The pod spec is read through `dyn(object)`, because one policy covers kinds whose
  pod spec sits at different paths; the API server's type checker therefore does not check the
  fields under it (the conformance suite does, by verdict).
- **Cluster-scoped objects** are not subject to a binding's `namespaceSelector`.
"#;

/// One rule as a policy and its binding.
#[derive(Clone, Debug, PartialEq)]
pub struct Exported {
    pub id: &'static str,
    pub policy: ValidatingAdmissionPolicy,
    pub binding: ValidatingAdmissionPolicyBinding,
}

/// The `validationActions` of a rule of `action` under `mode`; `None` for a rule that is off.
pub fn validation_actions(mode: Mode, action: Action) -> Option<Vec<String>> {
    let actions: &[&str] = match (mode, action) {
        (_, Action::Off) => return None,
        (Mode::Audit, _) => &["Warn", "Audit"],
        (Mode::Enforce, Action::Deny) => &["Deny"],
        (Mode::Enforce, Action::Warn) => &["Warn"],
        (Mode::Enforce, Action::Audit) => &["Audit"],
    };
    Some(actions.iter().map(|a| a.to_string()).collect())
}

/// Every rule of `policy` that exports and is not off, as a policy and a binding, in catalog
/// order.
pub fn export(policy: &Policy) -> Vec<Exported> {
    policy
        .rules()
        .filter_map(|rule| export_rule(policy, rule))
        .collect()
}

/// The exported set as one multi-document YAML text: each policy, then its binding.
pub fn render(policy: &Policy) -> String {
    let mut out = String::new();
    for e in export(policy) {
        for value in [
            serde_json::to_value(&e.policy),
            serde_json::to_value(&e.binding),
        ]
        .into_iter()
        .flatten()
        {
            out.push_str("---\n");
            out.push_str(&crate::offline::mutate::to_yaml(&value));
        }
    }
    out
}

fn export_rule(policy: &Policy, rule: &ActiveRule) -> Option<Exported> {
    let spec = rule.spec;
    let actions = validation_actions(policy.mode, rule.action)?;
    let cel = rule.cel()?;
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| spec.applies_to(*k))
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let name = format!("{NAME_PREFIX}{}", spec.id);
    let meta = ObjectMeta {
        name: Some(name.clone()),
        labels: Some(BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "bulwark".to_string()),
            (
                "app.kubernetes.io/component".to_string(),
                "admission-policy".to_string(),
            ),
        ])),
        annotations: Some(BTreeMap::from([(
            "bulwark.dev/rule".to_string(),
            spec.id.to_string(),
        )])),
        ..ObjectMeta::default()
    };
    let workload = kinds.iter().all(|k| k.is_workload()) && cel.reads_pod();
    let variables = workload.then(|| {
        vec![
            Variable {
                name: pod::SPEC_VARIABLE.to_string(),
                expression: pod_spec(&kinds).to_string(),
            },
            Variable {
                name: pod::META_VARIABLE.to_string(),
                expression: pod_meta(&kinds).to_string(),
            },
        ]
    });
    let policy_object = ValidatingAdmissionPolicy {
        metadata: meta.clone(),
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".to_string()),
            match_constraints: Some(MatchResources {
                resource_rules: Some(resource_rules(spec, &kinds)),
                ..MatchResources::default()
            }),
            match_conditions: Some(match_conditions(policy, spec, &kinds, workload))
                .filter(|c| !c.is_empty()),
            variables,
            validations: Some(validations(spec, &cel)),
            ..ValidatingAdmissionPolicySpec::default()
        }),
        status: None,
    };
    let binding = ValidatingAdmissionPolicyBinding {
        metadata: meta,
        spec: ValidatingAdmissionPolicyBindingSpec {
            policy_name: name,
            validation_actions: actions,
            match_resources: Some(MatchResources {
                namespace_selector: Some(namespace_selector(policy)),
                ..MatchResources::default()
            }),
            param_ref: None,
        },
    };
    Some(Exported {
        id: spec.id,
        policy: policy_object,
        binding,
    })
}

/// The message of a failed check: the rule id first, then what is wrong and how to fix it.
pub fn message(spec: &RuleSpec, violation: &str) -> String {
    format!("[{}] {violation}; {}", spec.id, spec.fix)
}

fn validations(spec: &RuleSpec, cel: &RuleCel) -> Vec<Validation> {
    cel.checks
        .iter()
        .map(|check| Validation {
            expression: check.passes.to_string(),
            message: Some(message(spec, &check.violation)),
            reason: Some("Forbidden".to_string()),
            message_expression: None,
        })
        .collect()
}

/// CREATE and UPDATE of every kind the rule judges; a security rule also judges the ephemeral
/// containers added to a running Pod (`pods/ephemeralcontainers`), as the webhook does.
fn resource_rules(spec: &RuleSpec, kinds: &[Kind]) -> Vec<NamedRuleWithOperations> {
    let mut by_group: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for kind in kinds {
        let resources = by_group.entry((kind.group(), kind.version())).or_default();
        resources.push(kind.plural().to_string());
        if *kind == Kind::Pod && spec.class == RuleClass::Security {
            resources.push("pods/ephemeralcontainers".to_string());
        }
    }
    by_group
        .into_iter()
        .map(|((group, version), resources)| NamedRuleWithOperations {
            api_groups: Some(vec![group.to_string()]),
            api_versions: Some(vec![version.to_string()]),
            operations: Some(vec!["CREATE".to_string(), "UPDATE".to_string()]),
            resources: Some(resources),
            ..NamedRuleWithOperations::default()
        })
        .collect()
}

/// Namespaces the policy exempts and namespaces labelled with the ignore label are not judged.
fn namespace_selector(policy: &Policy) -> LabelSelector {
    let mut expressions = Vec::new();
    if !policy.exemptions.namespaces.is_empty() {
        expressions.push(LabelSelectorRequirement {
            key: NAME_LABEL.to_string(),
            operator: "NotIn".to_string(),
            values: Some(policy.exemptions.namespaces.clone()),
        });
    }
    expressions.push(LabelSelectorRequirement {
        key: IGNORE_LABEL.to_string(),
        operator: "DoesNotExist".to_string(),
        values: None,
    });
    LabelSelector {
        match_expressions: Some(expressions),
        match_labels: None,
    }
}

/// `request.kind.kind` is one of `kinds`.
fn kind_is(kinds: &[Kind]) -> Cel {
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    match names.as_slice() {
        [one] => Cel::var("request")
            .get("kind")
            .get("kind")
            .eq(Cel::str(one)),
        _ => Cel::var("request")
            .get("kind")
            .get("kind")
            .is_in(Cel::strs(&names)),
    }
}

/// The kinds grouped by where they keep their pod spec, in the map's order.
fn by_pod_spec_path(kinds: &[Kind]) -> Vec<(&'static str, Vec<Kind>)> {
    let mut groups: Vec<(&'static str, Vec<Kind>)> = Vec::new();
    for kind in kinds {
        let Some(path) = kind.pod_spec_path() else {
            continue;
        };
        match groups.iter_mut().find(|(p, _)| *p == path.field) {
            Some((_, group)) => group.push(*kind),
            None => groups.push((path.field, vec![*kind])),
        }
    }
    groups
}

/// One expression per group of kinds, chosen by the request's kind (the last group is the
/// fallback, so the expression always yields something).
fn dispatch(kinds: &[Kind], each: impl Fn(&str) -> Cel) -> Cel {
    let groups = by_pod_spec_path(kinds);
    let mut iter = groups.iter().rev();
    let Some((last, _)) = iter.next() else {
        return Cel::bool(false);
    };
    let mut expr = each(last);
    for (path, group) in iter {
        expr = Cel::cond(kind_is(group), each(path), expr);
    }
    expr
}

/// `object` followed along a dotted path, typed as `dyn`: the kinds of one policy keep their
/// pod spec at different paths, which no single static type has.
fn follow(path: &str) -> Cel {
    path.split('.')
        .fold(Cel::var("object").dynamic(), |e, field| e.get(field))
}

/// Whether every step of a dotted path from `object` is set.
fn present(path: &str) -> Cel {
    let mut fields = path.split('.');
    let first = fields.next().unwrap_or_default();
    let opt = fields.fold(Cel::var("object").dynamic().opt(first), |o, f| o.opt(f));
    opt.is_present()
}

/// The metadata beside a pod spec at `path` (`spec` → `metadata`, `spec.template.spec` →
/// `spec.template.metadata`).
fn meta_path(path: &str) -> String {
    match path.strip_suffix("spec") {
        Some(parent) => format!("{parent}metadata"),
        None => "metadata".to_string(),
    }
}

fn pod_spec(kinds: &[Kind]) -> Cel {
    dispatch(kinds, follow)
}

fn pod_meta(kinds: &[Kind]) -> Cel {
    dispatch(kinds, |path| {
        let meta = meta_path(path);
        let mut fields = meta.split('.');
        let first = fields.next().unwrap_or_default();
        fields
            .fold(Cel::var("object").dynamic().opt(first), |o, f| o.opt(f))
            .or_value(Cel::empty_map())
    })
}

fn condition(name: &str, expression: Cel) -> MatchCondition {
    MatchCondition {
        name: name.to_string(),
        expression: expression.to_string(),
    }
}

/// What keeps an object away from the rule besides its namespace, as the engine decides it
/// (`engine/admission.rs`, `engine/exemption.rs`).
fn match_conditions(
    policy: &Policy,
    spec: &RuleSpec,
    kinds: &[Kind],
    workload: bool,
) -> Vec<MatchCondition> {
    let mut out = Vec::new();
    // A workload without a pod spec gives the rule nothing to judge.
    if workload {
        out.push(condition("has-pod-spec", dispatch(kinds, present)));
    }
    // Practice rules leave a generated object to its owner. Security rules judge everything:
    // an ownerReference is written by whoever creates the object.
    if spec.class == RuleClass::Practice {
        let generated: Vec<Cel> = kinds
            .iter()
            .filter(|k| !k.generated_by().is_empty())
            .map(|k| kind_is(&[*k]).and(controller_is_one_of(k.generated_by())))
            .collect();
        if !generated.is_empty() {
            out.push(condition(
                "not-generated-by-a-judged-controller",
                Cel::either(generated).negate(),
            ));
        }
    }
    // The exemption annotation, on the object or its pod template.
    let annotation_reaches = spec.class == RuleClass::Practice
        || policy.exemptions.annotation_may_exempt.contains(&spec.id);
    if annotation_reaches {
        out.push(condition(
            "not-exempt-by-annotation",
            annotation_names(&policy.exemptions.annotation, spec.id, kinds).negate(),
        ));
    }
    // The policy's own list of exempt objects.
    let listed: Vec<Cel> = policy
        .exemptions
        .objects
        .iter()
        .filter(|e| e.rules.contains(spec.id))
        .map(|e| {
            let namespace = Cel::var("request").get("namespace");
            let mut parts = Vec::new();
            if let Some(p) = &e.namespace {
                parts.push(
                    namespace
                        .clone()
                        .ne(Cel::str(""))
                        .and(namespace.call("matches", [Cel::str(&p.to_regex())])),
                );
            }
            if let Some(kind) = &e.kind {
                parts.push(
                    Cel::var("request")
                        .get("kind")
                        .get("kind")
                        .eq(Cel::str(kind)),
                );
            }
            if let Some(p) = &e.name {
                parts.push(object_name().call("matches", [Cel::str(&p.to_regex())]));
            }
            Cel::every(parts)
        })
        .collect();
    if !listed.is_empty() {
        out.push(condition(
            "not-exempt-by-policy",
            Cel::either(listed).negate(),
        ));
    }
    out
}

/// The object's name, or its generateName when the name is still empty.
fn object_name() -> Cel {
    let meta = Cel::var("object").get("metadata");
    let name = meta.opt("name").or_value(Cel::str(""));
    Cel::cond(
        name.clone().ne(Cel::str("")),
        name,
        meta.opt("generateName").or_value(Cel::str("")),
    )
}

/// The object's first controller ownerReference points at one of `owners` (apiVersion and
/// kind, exactly).
fn controller_is_one_of(owners: &[Kind]) -> Cel {
    let controllers = Cel::var("object")
        .get("metadata")
        .opt("ownerReferences")
        .or_empty()
        .filter("r", |r| r.opt("controller").or_value(Cel::bool(false)));
    let first = controllers.clone().index(Cel::int(0));
    let key = first
        .opt("apiVersion")
        .or_value(Cel::str(""))
        .plus(Cel::str("/"))
        .plus(first.opt("kind").or_value(Cel::str("")));
    let owners: Vec<String> = owners
        .iter()
        .map(|k| format!("{}/{}", k.api_version(), k.name()))
        .collect();
    controllers
        .size()
        .gt(Cel::int(0))
        .and(key.is_in(Cel::strs(&owners)))
}

/// The exemption annotation of the object, or of its pod template, names rule `id` or `*`.
fn annotation_names(annotation: &str, id: &str, kinds: &[Kind]) -> Cel {
    let names = |meta: Cel| {
        meta.opt("annotations")
            .opt(annotation)
            .or_value(Cel::str(""))
            .call("split", [Cel::str(",")])
            .exists("x", |x| {
                x.call("trim", [])
                    .is_in(Cel::strs(&[id.to_string(), "*".to_string()]))
            })
    };
    let own = names(Cel::var("object").get("metadata"));
    let template_kinds: Vec<Kind> = kinds
        .iter()
        .copied()
        .filter(|k| k.pod_spec_path().is_some_and(|p| p.field != "spec"))
        .collect();
    if template_kinds.is_empty() {
        return own;
    }
    let template = kind_is(&template_kinds).and(names(pod_meta(&template_kinds)));
    own.or(template)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::registry;

    fn policy(text: &str) -> Policy {
        Policy::layered(
            "p.yaml",
            &format!("apiVersion: bulwark.dev/v1\nkind: Policy\n{text}"),
        )
        .expect("valid policy")
    }

    fn exported<'a>(all: &'a [Exported], id: &str) -> &'a Exported {
        all.iter()
            .find(|e| e.id == id)
            .unwrap_or_else(|| panic!("{id} is not exported"))
    }

    fn spec(e: &Exported) -> &ValidatingAdmissionPolicySpec {
        e.policy.spec.as_ref().expect("a spec")
    }

    fn expressions(e: &Exported) -> String {
        spec(e)
            .validations
            .iter()
            .flatten()
            .map(|v| v.expression.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn condition<'a>(e: &'a Exported, name: &str) -> Option<&'a MatchCondition> {
        spec(e)
            .match_conditions
            .iter()
            .flatten()
            .find(|c| c.name == name)
    }

    #[test]
    fn a_rule_exports_exactly_when_its_spec_says_so() {
        let builtin = Policy::builtin();
        for rule in builtin.rules() {
            assert_eq!(
                rule.spec.vap.exports(),
                rule.cel().is_some(),
                "{}: the spec's vap and the rule's cel() disagree",
                rule.spec.id
            );
        }
        assert!(registry::RULES.iter().any(|r| r.vap.exports()));
    }

    #[test]
    fn every_security_rule_exports() {
        for spec in registry::RULES
            .iter()
            .filter(|r| r.class == RuleClass::Security)
        {
            assert!(spec.vap.exports(), "{} does not export", spec.id);
        }
    }

    #[test]
    fn policy_and_binding_are_named_after_the_rule_and_the_message_starts_with_its_id() {
        let all = export(&Policy::builtin());
        let e = exported(&all, "no-privileged");
        assert_eq!(
            e.policy.metadata.name.as_deref(),
            Some("bulwark-no-privileged")
        );
        assert_eq!(
            e.binding.metadata.name.as_deref(),
            Some("bulwark-no-privileged")
        );
        assert_eq!(e.binding.spec.policy_name, "bulwark-no-privileged");
        let spec_of = registry::rule("no-privileged").expect("listed");
        for v in spec(e).validations.iter().flatten() {
            let message = v.message.as_deref().unwrap_or_default();
            assert!(message.starts_with("[no-privileged] "), "{message}");
            assert!(message.ends_with(spec_of.fix), "{message}");
        }
    }

    #[test]
    fn actions_become_the_bindings_validation_actions() {
        let p = policy(
            "rules:\n  no-privileged: {action: warn}\n  no-host-path: {action: audit}\n  run-as-non-root: {action: deny}\n",
        );
        let all = export(&p);
        let actions = |id| exported(&all, id).binding.spec.validation_actions.clone();
        assert_eq!(actions("no-privileged"), ["Warn"]);
        assert_eq!(actions("no-host-path"), ["Audit"]);
        assert_eq!(actions("run-as-non-root"), ["Deny"]);
    }

    #[test]
    fn a_rule_switched_off_is_not_emitted() {
        let p = policy("rules:\n  no-privileged: {action: off}\n");
        let all = export(&p);
        assert!(all.iter().all(|e| e.id != "no-privileged"));
        assert!(all.iter().any(|e| e.id == "run-as-non-root"));
        // Off in the built-in policy, on when the file switches it on.
        assert!(
            export(&Policy::builtin())
                .iter()
                .all(|e| e.id != "volume-types-restricted")
        );
        let on = export(&policy(
            "rules:\n  volume-types-restricted: {action: warn}\n",
        ));
        assert_eq!(
            exported(&on, "volume-types-restricted")
                .binding
                .spec
                .validation_actions,
            ["Warn"]
        );
    }

    #[test]
    fn audit_mode_warns_and_audits_every_rule() {
        let p = policy("mode: audit\n");
        for e in export(&p) {
            assert_eq!(
                e.binding.spec.validation_actions,
                ["Warn", "Audit"],
                "{}",
                e.id
            );
        }
    }

    #[test]
    fn params_are_compiled_into_the_expression() {
        let default = export(&Policy::builtin());
        assert!(
            expressions(exported(&default, "drop-all-capabilities"))
                .contains("['NET_BIND_SERVICE']")
        );
        assert!(expressions(exported(&default, "no-host-ports")).contains("in []"));
        let p = policy(
            "rules:\n  drop-all-capabilities: {params: {allowed_add: [NET_BIND_SERVICE, chown]}}\n  no-host-ports: {params: {allowed: [9100]}}\n",
        );
        let all = export(&p);
        assert!(
            expressions(exported(&all, "drop-all-capabilities"))
                .contains("['NET_BIND_SERVICE', 'CHOWN']")
        );
        assert!(expressions(exported(&all, "no-host-ports")).contains("in [9100]"));
    }

    #[test]
    fn exempt_namespaces_and_the_ignore_label_become_the_namespace_selector() {
        let p = policy("exemptions:\n  namespaces: [kube-system, legacy]\n");
        for e in export(&p) {
            let selector = e
                .binding
                .spec
                .match_resources
                .as_ref()
                .and_then(|m| m.namespace_selector.as_ref())
                .expect("a namespace selector");
            let expressions = selector.match_expressions.as_deref().unwrap_or_default();
            assert_eq!(expressions[0].key, "kubernetes.io/metadata.name");
            assert_eq!(expressions[0].operator, "NotIn");
            assert_eq!(
                expressions[0].values.as_deref(),
                Some(&["kube-system".to_string(), "legacy".to_string()][..])
            );
            assert_eq!(expressions[1].key, IGNORE_LABEL);
            assert_eq!(expressions[1].operator, "DoesNotExist");
        }
        let none = policy("exemptions:\n  namespaces: []\n");
        let e = &export(&none)[0];
        let selector = e
            .binding
            .spec
            .match_resources
            .as_ref()
            .and_then(|m| m.namespace_selector.as_ref());
        assert_eq!(
            selector
                .and_then(|s| s.match_expressions.as_ref())
                .map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn the_webhook_configurations_use_the_same_ignore_label() {
        let webhooks = include_str!("../deploy/webhooks.yaml");
        assert_eq!(webhooks.matches(&format!("key: {IGNORE_LABEL}")).count(), 2);
    }

    #[test]
    fn the_annotation_reaches_practice_rules_and_only_the_security_rules_the_policy_names() {
        let p = policy(
            "exemptions:\n  annotation: example.com/skip\n  annotationMayExempt: [read-only-root-filesystem]\n",
        );
        let all = export(&p);
        assert!(condition(exported(&all, "no-privileged"), "not-exempt-by-annotation").is_none());
        let named = condition(
            exported(&all, "read-only-root-filesystem"),
            "not-exempt-by-annotation",
        )
        .expect("the annotation reaches it");
        assert!(
            named.expression.contains("'example.com/skip'"),
            "{}",
            named.expression
        );
        assert!(
            named
                .expression
                .contains("['read-only-root-filesystem', '*']"),
            "{}",
            named.expression
        );
        // It is read from the pod template too.
        assert!(
            named.expression.contains("template"),
            "{}",
            named.expression
        );
    }

    #[test]
    fn security_rules_never_leave_an_object_to_the_owner_it_claims() {
        for e in export(&Policy::builtin()) {
            let security = registry::rule(e.id).is_some_and(|r| r.class == RuleClass::Security);
            if security {
                assert!(
                    condition(&e, "not-generated-by-a-judged-controller").is_none(),
                    "{}",
                    e.id
                );
            }
        }
    }

    #[test]
    fn object_exemptions_become_match_conditions() {
        let p = policy(
            "exemptions:\n  objects:\n    - {namespace: monitoring, kind: DaemonSet, name: \"node-exporter*\", rules: [no-host-path]}\n",
        );
        let all = export(&p);
        let c = condition(exported(&all, "no-host-path"), "not-exempt-by-policy").expect("listed");
        assert!(
            c.expression.contains("matches('^monitoring$')"),
            "{}",
            c.expression
        );
        assert!(c.expression.contains("== 'DaemonSet'"), "{}", c.expression);
        assert!(
            c.expression.contains("matches('^node-exporter.*$')"),
            "{}",
            c.expression
        );
        assert!(condition(exported(&all, "no-privileged"), "not-exempt-by-policy").is_none());
    }

    #[test]
    fn security_rules_also_judge_ephemeral_containers() {
        let all = export(&Policy::builtin());
        let rules = spec(exported(&all, "no-privileged"))
            .match_constraints
            .as_ref()
            .and_then(|m| m.resource_rules.clone())
            .unwrap_or_default();
        assert!(rules.iter().any(|r| {
            r.resources
                .iter()
                .flatten()
                .any(|x| x == "pods/ephemeralcontainers")
        }));
    }

    #[test]
    fn actions_map_to_validation_actions() {
        let of = |mode, action| validation_actions(mode, action);
        assert_eq!(of(Mode::Enforce, Action::Deny), Some(vec!["Deny".into()]));
        assert_eq!(of(Mode::Enforce, Action::Warn), Some(vec!["Warn".into()]));
        assert_eq!(of(Mode::Enforce, Action::Audit), Some(vec!["Audit".into()]));
        assert_eq!(of(Mode::Enforce, Action::Off), None);
        for action in [Action::Deny, Action::Warn, Action::Audit] {
            assert_eq!(
                of(Mode::Audit, action),
                Some(vec!["Warn".into(), "Audit".into()])
            );
        }
        assert_eq!(of(Mode::Audit, Action::Off), None);
    }

    #[test]
    fn the_pod_spec_is_reached_through_the_kinds_map() {
        let spec = pod_spec(&Kind::WORKLOADS).to_string();
        assert!(
            spec.contains("dyn(object).spec.jobTemplate.spec.template.spec"),
            "{spec}"
        );
        assert!(spec.contains("dyn(object).spec.template.spec"), "{spec}");
        assert!(spec.contains("'Pod'"), "{spec}");
        assert_eq!(meta_path("spec.template.spec"), "spec.template.metadata");
        assert_eq!(meta_path("spec"), "metadata");
    }
}
