//! The one list of every rule bulwark knows.
//!
//! A rule is a file under `rules/` named after its id. It exports a `SPEC` (its id, its class,
//! the kinds it judges, where it can fire, a one-line summary and the reason behind it; see
//! [`RuleSpec`](super::rule::RuleSpec)) and a type that implements
//! [`Rule`](super::rule::Rule). The policy file gives each rule its action and parameters.

use super::rule::{BundleCheck, RuleSpec};
use super::rules;

/// Every rule, in catalog order. Adding a rule means adding its file and one line here.
pub static RULES: &[&RuleSpec] = &[
    &rules::container_resources_requests::SPEC,
    &rules::container_resources_limits::SPEC,
    &rules::container_liveness_probe::SPEC,
    &rules::container_readiness_probe::SPEC,
    &rules::probes_distinct::SPEC,
    &rules::image_tag_pinned::SPEC,
    &rules::image_pull_policy_mutable_tag::SPEC,
    &rules::run_as_non_root::SPEC,
    &rules::no_privileged::SPEC,
    &rules::no_privilege_escalation::SPEC,
    &rules::drop_all_capabilities::SPEC,
    &rules::read_only_root_filesystem::SPEC,
    &rules::no_host_namespaces::SPEC,
    &rules::no_host_path::SPEC,
    // The rest of the Pod Security standard: baseline, then restricted.
    &rules::no_host_ports::SPEC,
    &rules::no_host_process::SPEC,
    &rules::proc_mount_default::SPEC,
    &rules::sysctls_safe::SPEC,
    &rules::selinux_options_safe::SPEC,
    &rules::apparmor_not_unconfined::SPEC,
    &rules::seccomp_profile::SPEC,
    &rules::volume_types_restricted::SPEC,
    &rules::replicas_minimum::SPEC,
    &rules::rolling_update_zero_downtime::SPEC,
    &rules::pod_anti_affinity::SPEC,
    &rules::prestop_hook::SPEC,
    &rules::termination_grace_covers_prestop::SPEC,
    &rules::dedicated_service_account::SPEC,
    &rules::automount_service_account_token::SPEC,
    &rules::env_secret_literal::SPEC,
    &rules::no_default_namespace::SPEC,
    &rules::recommended_labels::SPEC,
    // ConfigMap and Secret
    &rules::configmap_no_secrets::SPEC,
    &rules::configmap_size::SPEC,
    &rules::secret_tls_valid::SPEC,
    &rules::secret_dockerconfig_valid::SPEC,
    // Ingress and Service
    &rules::ingress_class_name::SPEC,
    &rules::ingress_path_type::SPEC,
    &rules::ingress_tls::SPEC,
    &rules::ingress_controller_annotations::SPEC,
    &rules::service_type_internal::SPEC,
    // Autoscaling, disruption, network, RBAC
    &rules::hpa_replica_range::SPEC,
    &rules::hpa_behavior::SPEC,
    &rules::pdb_allows_disruption::SPEC,
    &rules::netpol_egress_dns::SPEC,
    &rules::netpol_egress_policy_type::SPEC,
    &rules::rbac_secrets_access::SPEC,
    &rules::rbac_wildcards::SPEC,
    // Offline and bundle rules.
    &rules::selector_matches_template::SPEC,
    &rules::config_rollout_checksum::SPEC,
    &rules::deprecated_api_version::SPEC,
    &rules::secret_type_explicit::SPEC,
    &rules::secret_in_manifest::SPEC,
    &rules::ingress_backend_exists::SPEC,
    &rules::service_selector_matches::SPEC,
    &rules::hpa_target_requests::SPEC,
    &rules::hpa_replicas_conflict::SPEC,
    &rules::hpa_target_unique::SPEC,
    &rules::pdb_single_field::SPEC,
];

/// Looks a rule up by id.
pub fn rule(id: &str) -> Option<&'static RuleSpec> {
    RULES.iter().copied().find(|r| r.id == id)
}

/// Why rule `id` matters, in a few words (a bundle check registered apart from its rule
/// answers for an id that has no rule of its own).
pub fn why(id: &str) -> Option<&'static str> {
    rule(id)
        .map(|r| r.why)
        .or_else(|| BUNDLE_CHECKS.iter().find(|c| c.id == id).map(|c| c.why))
}

/// Every bundle check registered apart from its rule.
pub static BUNDLE_CHECKS: &[&BundleCheck] = &[&rules::pdb_allows_disruption_bundle::CHECK];

/// Every id a policy may name under `rules:`: the rules and the bundle checks, once each.
pub fn rule_ids() -> Vec<&'static str> {
    let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    for check in BUNDLE_CHECKS {
        if !ids.contains(&check.id) {
            ids.push(check.id);
        }
    }
    ids
}

/// The known name closest to `name`, for "did you mean" hints.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 2).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn rule_ids_are_unique_kebab_case_and_match_their_file() {
        let mut seen = HashSet::new();
        for spec in RULES {
            assert!(seen.insert(spec.id), "duplicate id {}", spec.id);
            assert!(
                spec.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{} is not kebab-case",
                spec.id
            );
            assert!(
                !spec.summary.is_empty() && !spec.why.is_empty() && !spec.fix.is_empty(),
                "{} lacks docs",
                spec.id
            );
        }
        for check in BUNDLE_CHECKS {
            assert!(
                !check.summary.is_empty() && !check.why.is_empty() && !check.fix.is_empty(),
                "the bundle check {} lacks docs",
                check.id
            );
        }
    }

    #[test]
    fn nearest_suggests_close_names_only() {
        let ids = RULES.iter().map(|r| r.id);
        assert_eq!(
            nearest("image-tag-pined", ids.clone()),
            Some("image-tag-pinned")
        );
        assert_eq!(nearest("completely-unrelated-thing-here", ids), None);
    }
}
