//! Which rules and mutations an object is exempt from, and why.
//!
//! Three sources, in the order they are asked:
//! - the namespace (`exemptions.namespaces`): every rule and mutation;
//! - the policy's object list (`exemptions.objects`, by namespace, kind and name pattern): the
//!   rules it names, security rules included;
//! - the object's own annotation (`bulwark.dev/exempt: "rule-a,rule-b"` or `"*"`), read from
//!   the object and, for workloads, from its pod template: practice rules only, plus the
//!   security rules the policy lets the annotation exempt (`exemptions.annotationMayExempt`).
//!   Whoever creates an object writes its annotations, so the annotation alone never switches
//!   off a security rule.
//!
//! A mutation is exempt when it is named by id, or when the rule it answers is exempt: a
//! workload the administrator exempts from `run-as-non-root` must not be made to run as
//! non-root by `set-run-as-non-root` either.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::mutation::MutationSpec;
use super::policy::{Policy, RuleIds};
use super::registry;
use super::rule::RuleClass;
use super::workload::Object;

/// Where an exemption came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExemptionSource {
    /// `exemptions.namespaces`.
    Namespace,
    /// `exemptions.objects`.
    Policy,
    /// The object's exemption annotation.
    Annotation,
}

impl ExemptionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ExemptionSource::Namespace => "namespace",
            ExemptionSource::Policy => "policy",
            ExemptionSource::Annotation => "annotation",
        }
    }
}

/// A rule or mutation that an exemption switched off, where it would have said something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Exempted {
    /// The rule or mutation id.
    pub id: &'static str,
    pub by: ExemptionSource,
}

/// What the exemption annotation of one object names.
#[derive(Debug, Default)]
struct Named {
    all: bool,
    ids: Vec<String>,
}

impl Named {
    fn covers(&self, id: &str) -> bool {
        self.all || self.ids.iter().any(|i| i == id)
    }
}

/// The exemptions that apply to one object.
#[derive(Debug)]
pub struct Exemption<'p> {
    namespace: bool,
    /// The rule sets of the policy entries that match the object.
    listed: Vec<&'p RuleIds>,
    annotation: Named,
    annotation_may_exempt: &'p [&'static str],
}

/// What an exemption says about one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleVerdict {
    /// The rule judges the object.
    Judges,
    /// The rule is exempt.
    Exempt(ExemptionSource),
    /// The annotation asks to exempt a security rule it may not exempt: the rule judges.
    Refused,
}

impl<'p> Exemption<'p> {
    /// The exemptions of `object` in `namespace` (the request's namespace, else the object's).
    pub fn of(policy: &'p Policy, object: &Object, namespace: Option<&str>) -> Exemption<'p> {
        let meta = object.meta();
        let template = object.pod().and_then(|p| p.meta);
        let name = meta
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .or(meta.generate_name.as_deref())
            .unwrap_or_default();
        let namespace = namespace.or(meta.namespace.as_deref());
        Exemption::of_meta(
            policy,
            namespace,
            object.kind().name(),
            name,
            &[Some(meta), template],
        )
    }

    /// The exemptions of an object known only by its kind name and metadata (a removed
    /// apiVersion of a kind bulwark does not read); `metas` are read for the annotation.
    pub fn of_meta(
        policy: &'p Policy,
        namespace: Option<&str>,
        kind: &str,
        name: &str,
        metas: &[Option<&ObjectMeta>],
    ) -> Exemption<'p> {
        let exemptions = &policy.exemptions;
        let mut annotation = Named::default();
        for meta in metas.iter().flatten() {
            let value = meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(&exemptions.annotation));
            for id in value.into_iter().flat_map(|v| v.split(',')) {
                let id = id.trim();
                if id == "*" {
                    annotation.all = true;
                } else if !id.is_empty() && !annotation.ids.iter().any(|i| i == id) {
                    annotation.ids.push(id.to_string());
                }
            }
        }
        Exemption {
            namespace: policy.exempts_namespace(namespace),
            listed: exemptions
                .objects
                .iter()
                .filter(|e| e.matches(namespace, kind, name))
                .map(|e| &e.rules)
                .collect(),
            annotation,
            annotation_may_exempt: &exemptions.annotation_may_exempt,
        }
    }

    /// Whether the whole namespace is exempt.
    pub fn namespace_exempt(&self) -> bool {
        self.namespace
    }

    /// What the exemptions say about rule `id` of `class`.
    pub fn rule(&self, id: &str, class: RuleClass) -> RuleVerdict {
        if self.namespace {
            return RuleVerdict::Exempt(ExemptionSource::Namespace);
        }
        if self.listed.iter().any(|rules| rules.contains(id)) {
            return RuleVerdict::Exempt(ExemptionSource::Policy);
        }
        if !self.annotation.covers(id) {
            return RuleVerdict::Judges;
        }
        if class == RuleClass::Practice || self.annotation_may_exempt.contains(&id) {
            RuleVerdict::Exempt(ExemptionSource::Annotation)
        } else {
            RuleVerdict::Refused
        }
    }

    /// Whether mutation `spec` is exempt: named by id, or the rule it answers is exempt.
    pub fn mutation(&self, spec: &MutationSpec) -> Option<ExemptionSource> {
        if self.namespace {
            return Some(ExemptionSource::Namespace);
        }
        let answers = registry::rule(spec.answers).map_or(RuleClass::Practice, |r| r.class);
        match self.rule(spec.answers, answers) {
            RuleVerdict::Exempt(by) => return Some(by),
            RuleVerdict::Judges | RuleVerdict::Refused => {}
        }
        self.annotation
            .covers(spec.id)
            .then_some(ExemptionSource::Annotation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::{mk_pod, object};
    use serde_json::json;

    fn policy(text: &str) -> Policy {
        Policy::layered(
            "p.yaml",
            &format!("apiVersion: bulwark.dev/v1\nkind: Policy\n{text}"),
        )
        .expect("valid policy")
    }

    fn annotated(value: &str) -> Object {
        object(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "shop", "annotations": {"bulwark.dev/exempt": value}},
            "spec": {"containers": [{"name": "web", "image": "x:1"}]}}))
    }

    #[test]
    fn the_annotation_exempts_practice_rules_but_never_security_rules_on_its_own() {
        let policy = Policy::builtin();
        let pod = annotated("*");
        let e = Exemption::of(&policy, &pod, Some("shop"));
        assert_eq!(
            e.rule("image-tag-pinned", RuleClass::Practice),
            RuleVerdict::Exempt(ExemptionSource::Annotation)
        );
        assert_eq!(
            e.rule("no-privileged", RuleClass::Security),
            RuleVerdict::Refused
        );
        let named = annotated("no-privileged, image-tag-pinned");
        let e = Exemption::of(&policy, &named, Some("shop"));
        assert_eq!(
            e.rule("no-privileged", RuleClass::Security),
            RuleVerdict::Refused
        );
        assert_eq!(
            e.rule("container-liveness-probe", RuleClass::Practice),
            RuleVerdict::Judges
        );
    }

    #[test]
    fn the_policy_may_let_the_annotation_exempt_named_security_rules() {
        let policy = policy("exemptions:\n  annotationMayExempt: [read-only-root-filesystem]\n");
        let e = Exemption::of(&policy, &annotated("*"), Some("shop"));
        assert_eq!(
            e.rule("read-only-root-filesystem", RuleClass::Security),
            RuleVerdict::Exempt(ExemptionSource::Annotation)
        );
        assert_eq!(
            e.rule("no-privileged", RuleClass::Security),
            RuleVerdict::Refused
        );
    }

    #[test]
    fn policy_entries_match_namespace_kind_and_name_patterns() {
        let policy = policy(
            "exemptions:\n  objects:\n    - {namespace: shop, kind: Pod, name: \"we*\", rules: [no-privileged]}\n    - {kind: \"*\", name: other, rules: [\"*\"]}\n",
        );
        let pod = mk_pod(json!({"containers": [{"name": "web", "image": "x:1"}]}));
        let e = Exemption::of(&policy, &pod, Some("shop"));
        assert_eq!(
            e.rule("no-privileged", RuleClass::Security),
            RuleVerdict::Exempt(ExemptionSource::Policy)
        );
        assert_eq!(
            e.rule("no-host-path", RuleClass::Security),
            RuleVerdict::Judges
        );
        let elsewhere = Exemption::of(&policy, &pod, Some("billing"));
        assert_eq!(
            elsewhere.rule("no-privileged", RuleClass::Security),
            RuleVerdict::Judges
        );
    }

    #[test]
    fn a_workload_exemption_is_read_from_its_pod_template_too() {
        let policy = Policy::builtin();
        let deployment = object(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"bulwark.dev/exempt": "replicas-minimum"}},
                "spec": {"containers": [{"name": "web", "image": "x:1"}]}}}}));
        let e = Exemption::of(&policy, &deployment, Some("shop"));
        assert_eq!(
            e.rule("replicas-minimum", RuleClass::Practice),
            RuleVerdict::Exempt(ExemptionSource::Annotation)
        );
    }

    #[test]
    fn a_mutation_follows_the_rule_it_answers_or_its_own_id() {
        let policy = policy(
            "exemptions:\n  objects:\n    - {namespace: shop, kind: Pod, name: web, rules: [run-as-non-root]}\n",
        );
        let spec = crate::engine::mutations::mutation("set-run-as-non-root").expect("listed");
        let pod = mk_pod(json!({"containers": [{"name": "web", "image": "x:1"}]}));
        let e = Exemption::of(&policy, &pod, Some("shop"));
        assert_eq!(e.mutation(spec), Some(ExemptionSource::Policy));
        let builtin = Policy::builtin();
        let by_id = annotated("set-run-as-non-root");
        let e = Exemption::of(&builtin, &by_id, None);
        assert_eq!(e.mutation(spec), Some(ExemptionSource::Annotation));
        // The annotation naming the security rule does not reach its mutation either.
        let by_rule = annotated("run-as-non-root");
        let e = Exemption::of(&builtin, &by_rule, None);
        assert_eq!(e.mutation(spec), None);
    }
}
