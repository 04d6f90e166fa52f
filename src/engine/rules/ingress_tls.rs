//! `ingress-tls`: every host an Ingress routes is covered by one of its `tls[].hosts`
//! (a wildcard `*.example.com` covers exactly one label: `shop.example.com`).

use std::collections::BTreeSet;

use crate::engine::rule::{Context, Finding, Rule, RuleClass, RuleSpec, Scope, Sees};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "ingress-tls";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Ingress]),
    sees: &[Sees::Admission],
    summary: "every rules[].host is covered by tls[].hosts (wildcards count)",
    why: "the edge should terminate TLS once for every host it serves; a host without TLS is served in plain HTTP",
    fix: "list each host under spec.tls[].hosts with a TLS Secret that covers it (cert-manager can issue one)",
    build: |_| Ok(Box::new(IngressTls)),
};

struct IngressTls;

/// Whether a TLS host (maybe a wildcard) covers a rule's host, as TLS name matching does.
fn covers(tls_host: &str, host: &str) -> bool {
    let (tls_host, host) = (tls_host.to_ascii_lowercase(), host.to_ascii_lowercase());
    if tls_host == host {
        return true;
    }
    let Some(domain) = tls_host.strip_prefix("*.") else {
        return false;
    };
    host.strip_suffix(domain)
        .and_then(|rest| rest.strip_suffix('.'))
        .is_some_and(|label| !label.is_empty() && !label.contains('.') && label != "*")
}

impl Rule for IngressTls {
    fn check(&self, object: &Object, _ctx: &Context, out: &mut Vec<Finding>) {
        let Object::Ingress(ingress) = object else {
            return;
        };
        let Some(spec) = ingress.spec.as_ref() else {
            return;
        };
        let tls_hosts: Vec<&str> = spec
            .tls
            .iter()
            .flatten()
            .flat_map(|t| t.hosts.iter().flatten())
            .map(String::as_str)
            .collect();
        let mut reported = BTreeSet::new();
        for (i, rule) in spec.rules.iter().flatten().enumerate() {
            // A rule without a host matches every host; there is no name to cover.
            let Some(host) = rule.host.as_deref().filter(|h| !h.is_empty()) else {
                continue;
            };
            if tls_hosts.iter().any(|t| covers(t, host)) || !reported.insert(host) {
                continue;
            }
            out.push(Finding::new(
                ID,
                format!("spec.rules[{i}].host"),
                format!(
                    "host {host} has no TLS, so it is served in plain HTTP; list it in spec.tls[].hosts with a secretName (cert-manager can issue the certificate)"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(covers("shop.example.com", "SHOP.example.com"));
        assert!(covers("*.example.com", "shop.example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "shopexample.com"));
        assert!(!covers("example.com", "shop.example.com"));
    }

    #[test]
    fn flags_each_uncovered_host_once() {
        let ingress = mk_ingress(
            json!({
                "tls": [{"hosts": ["*.example.com"], "secretName": "wild"}],
                "rules": [
                    {"host": "shop.example.com"},
                    {"host": "example.com"},
                    {"host": "api.shop.example.com"},
                    {"host": "example.com"},
                    {}
                ]
            }),
            json!({}),
        );
        let found = run(ID, &ingress);
        assert_eq!(fields(&found), ["spec.rules[1].host", "spec.rules[2].host"]);
        assert!(found[0].message.starts_with("host example.com has no TLS"));
    }

    #[test]
    fn passes_covered_hosts_and_host_less_rules() {
        let ingress = mk_ingress(
            json!({"tls": [{"hosts": ["a.example.com"]}, {"hosts": ["b.example.com"]}],
                   "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}]}),
            json!({}),
        );
        assert!(run(ID, &ingress).is_empty());
        assert!(run(ID, &mk_ingress(json!({"rules": [{}]}), json!({}))).is_empty());
    }
}
