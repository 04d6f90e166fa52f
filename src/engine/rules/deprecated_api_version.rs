//! `deprecated-api-version`: a manifest is not written in an apiVersion that current Kubernetes
//! has removed. The table of versions and their replacements lives in `workload.rs`, next to
//! the upgrade that lets every other rule still read such a manifest.

use crate::engine::rule::{
    Context, Finding, Findings, Origin, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;
use crate::engine::workload::{Kind, other_version};

pub const ID: &str = "deprecated-api-version";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&Kind::ALL),
    sees: &[Sees::Offline],
    summary: "apiVersion is not removed in current Kubernetes (extensions/v1beta1, apps/v1beta1, apps/v1beta2, policy/v1beta1, batch/v1beta1, autoscaling/v2beta1, autoscaling/v2beta2, networking.k8s.io/v1beta1, ...); the message names the replacement",
    why: "the API server no longer serves a removed version, so the apply fails, typically right after a cluster upgrade",
    fix: "change apiVersion to the replacement the message names (apps/v1, networking.k8s.io/v1, policy/v1, ...) and adapt the fields that version changed",
    vap: Vap::No(
        "fires only on manifest files: the API server defaults or rejects the field before any admission check sees it",
    ),
    build: |_| Ok(Box::new(DeprecatedApiVersion)),
};

struct DeprecatedApiVersion;

/// The finding for a manifest written as `api_version` `kind`, if that version is removed.
/// Also used for kinds bulwark does not read otherwise (a `rbac.authorization.k8s.io/v1beta1`
/// RoleBinding, an `apiextensions.k8s.io/v1beta1` CustomResourceDefinition).
pub fn finding(api_version: &str, kind: &str) -> Option<Finding> {
    let other = other_version(api_version, kind)?;
    let removed = other.removed_in?;
    let message = match (other.replacement, other.reads_as) {
        (Some(new), Some(_)) => format!(
            "{api_version} {kind} was removed in Kubernetes {removed}; use apiVersion: {new} (bulwark checked it as {new})"
        ),
        (Some(new), None) => {
            format!(
                "{api_version} {kind} was removed in Kubernetes {removed}; use apiVersion: {new}"
            )
        }
        (None, _) if kind == "PodSecurityPolicy" => format!(
            "{api_version} {kind} was removed in Kubernetes {removed} with no replacement; remove it and use Pod Security Admission (pod-security.kubernetes.io/* namespace labels)"
        ),
        (None, _) => format!(
            "{api_version} {kind} was removed in Kubernetes {removed} with no replacement; remove it"
        ),
    };
    Some(Finding::new(ID, "apiVersion", message))
}

impl Rule for DeprecatedApiVersion {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        // The API server converts what it stores; only a manifest keeps the version written.
        if ctx.origin != Origin::Manifest {
            return;
        }
        let Some(api_version) = ctx.api_version else {
            return;
        };
        out.extend(finding(api_version, object.kind().name()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use crate::engine::workload::{other_version, other_versions};
    use serde_json::json;

    #[test]
    fn names_the_replacement_of_each_removed_version() {
        let cases = [
            ("extensions/v1beta1", "Deployment", "apps/v1", "1.16"),
            ("apps/v1beta1", "StatefulSet", "apps/v1", "1.16"),
            ("apps/v1beta2", "DaemonSet", "apps/v1", "1.16"),
            (
                "extensions/v1beta1",
                "Ingress",
                "networking.k8s.io/v1",
                "1.22",
            ),
            (
                "networking.k8s.io/v1beta1",
                "Ingress",
                "networking.k8s.io/v1",
                "1.22",
            ),
            ("policy/v1beta1", "PodDisruptionBudget", "policy/v1", "1.25"),
            ("batch/v1beta1", "CronJob", "batch/v1", "1.25"),
            (
                "autoscaling/v2beta1",
                "HorizontalPodAutoscaler",
                "autoscaling/v2",
                "1.25",
            ),
            (
                "autoscaling/v2beta2",
                "HorizontalPodAutoscaler",
                "autoscaling/v2",
                "1.26",
            ),
            (
                "rbac.authorization.k8s.io/v1beta1",
                "RoleBinding",
                "rbac.authorization.k8s.io/v1",
                "1.22",
            ),
        ];
        for (api_version, kind, replacement, removed) in cases {
            let f = finding(api_version, kind).expect("removed");
            assert_eq!(f.field, "apiVersion");
            assert!(
                f.message
                    .contains(&format!("use apiVersion: {replacement}")),
                "{}",
                f.message
            );
            assert!(
                f.message.contains(&format!("Kubernetes {removed}")),
                "{}",
                f.message
            );
        }
        assert!(
            finding("policy/v1beta1", "PodSecurityPolicy")
                .is_some_and(|f| f.message.contains("Pod Security Admission"))
        );
    }

    #[test]
    fn current_and_still_served_versions_pass() {
        assert!(finding("apps/v1", "Deployment").is_none());
        assert!(finding("autoscaling/v1", "HorizontalPodAutoscaler").is_none());
        assert!(finding("example.com/v1beta1", "Widget").is_none());
        let table: Vec<_> = other_versions().collect();
        assert!(table.len() > 40);
        for row in &table {
            assert_eq!(other_version(row.api_version, row.kind).as_ref(), Some(row));
            if let Some(kind) = row.reads_as {
                assert_eq!(
                    Some(kind.api_version().as_str()),
                    row.replacement,
                    "{row:?}"
                );
            }
        }
    }

    #[test]
    fn fires_on_a_manifest_read_from_a_removed_version_only() {
        let deployment = mk_deployment(3, one(json!({})));
        assert_eq!(
            fields(&run_manifest(ID, &deployment, "extensions/v1beta1")),
            ["apiVersion"]
        );
        assert!(run_manifest(ID, &deployment, "apps/v1").is_empty());
        assert!(run(ID, &deployment).is_empty());
    }
}
