//! `ingress-tls`: every host an Ingress routes is covered by one of its `tls[].hosts`
//! (a wildcard `*.example.com` covers exactly one label: `shop.example.com`).

use crate::engine::cel::{Cel, RuleCel};
use std::collections::HashSet;

use k8s_openapi::api::networking::v1::IngressSpec;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
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
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(IngressTls)),
};

struct IngressTls;

/// The TLS hosts of an Ingress, each lower-cased once: exact names, and the domain each
/// wildcard covers one label of (`example.com` for `*.example.com`). A rule host is then
/// judged by two set lookups, whatever the number of TLS hosts.
struct TlsHosts {
    exact: HashSet<String>,
    wildcard_domains: HashSet<String>,
}

impl TlsHosts {
    fn new<'a>(hosts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut tls = TlsHosts {
            exact: HashSet::new(),
            wildcard_domains: HashSet::new(),
        };
        for host in hosts {
            let host = host.to_ascii_lowercase();
            if let Some(domain) = host.strip_prefix("*.") {
                tls.wildcard_domains.insert(domain.to_string());
            }
            tls.exact.insert(host);
        }
        tls
    }

    /// Whether a lower-cased host is served with TLS: named exactly, or one label (not `*`)
    /// under a wildcard's domain. Adds the set lookups it made to `lookups`.
    fn covers(&self, host: &str, lookups: &mut usize) -> bool {
        *lookups += 1;
        if self.exact.contains(host) {
            return true;
        }
        host.split_once('.').is_some_and(|(label, domain)| {
            *lookups += 1;
            !label.is_empty() && label != "*" && self.wildcard_domains.contains(domain)
        })
    }
}

/// The rules whose host no TLS host covers, each host once (by index and host as written),
/// and the work it took: hosts lower-cased and set lookups made.
fn uncovered(spec: &IngressSpec) -> (Vec<(usize, &str)>, usize) {
    let tls_hosts = spec
        .tls
        .iter()
        .flatten()
        .flat_map(|t| t.hosts.iter().flatten())
        .map(String::as_str);
    let mut lookups = 0;
    let tls = TlsHosts::new(tls_hosts.inspect(|_| lookups += 1));
    let mut reported = HashSet::new();
    let mut found = Vec::new();
    for (i, rule) in spec.rules.iter().flatten().enumerate() {
        let Some(host) = rule.host.as_deref().filter(|h| !h.is_empty()) else {
            continue;
        };
        lookups += 1;
        if !tls.covers(&host.to_ascii_lowercase(), &mut lookups) && reported.insert(host) {
            found.push((i, host));
        }
    }
    (found, lookups)
}

impl Rule for IngressTls {
    fn cel(&self) -> Option<RuleCel> {
        let tls = || Cel::var("object").opt("spec").opt("tls").or_empty();
        let covered = |h: Cel| {
            let host = h.call("lowerAscii", []);
            let dot = host.clone().call("indexOf", [Cel::str(".")]);
            let label = host.clone().call("substring", [Cel::int(0), dot.clone()]);
            let domain = host
                .clone()
                .call("substring", [dot.clone().plus(Cel::int(1))]);
            let exact = tls().exists("t", |t| {
                t.opt("hosts")
                    .or_empty()
                    .exists("x", |x| x.call("lowerAscii", []).eq(host.clone()))
            });
            let wildcard = tls().exists("t", |t| {
                t.opt("hosts").or_empty().exists("x", |x| {
                    x.call("lowerAscii", []).eq(Cel::str("*.").plus(domain))
                })
            });
            exact.or(dot.ge(Cel::int(0)).and(Cel::every([
                label.clone().ne(Cel::str("")),
                label.ne(Cel::str("*")),
                wildcard,
            ])))
        };
        Some(RuleCel::one(
            Cel::var("object")
                .opt("spec")
                .opt("rules")
                .or_empty()
                .all("r", |r| {
                    let host = r.opt("host").or_value(Cel::str(""));
                    host.clone().eq(Cel::str("")).or(covered(host))
                }),
            "a rule's host is not covered by spec.tls[].hosts",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::Ingress(ingress) = object else {
            return;
        };
        let Some(spec) = ingress.spec.as_ref() else {
            return;
        };
        for (i, host) in uncovered(spec).0 {
            out.push_with(|| Finding::new(
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

    fn covers(tls_host: &str, host: &str) -> bool {
        TlsHosts::new([tls_host]).covers(&host.to_ascii_lowercase(), &mut 0)
    }

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(covers("shop.example.com", "SHOP.example.com"));
        assert!(covers("SHOP.example.com", "shop.example.com"));
        assert!(covers("*.example.com", "shop.example.com"));
        assert!(covers("*.EXAMPLE.com", "Shop.example.COM"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "shopexample.com"));
        assert!(!covers("*.example.com", ".example.com"));
        assert!(!covers("example.com", "shop.example.com"));
    }

    /// An Ingress of `n` rule hosts and `2n` TLS hosts, none covering another.
    fn mk_wide_ingress(n: usize) -> IngressSpec {
        let rules: Vec<_> = (0..n)
            .map(|i| json!({"host": format!("h{i}.shop.example")}))
            .collect();
        let hosts: Vec<_> = (0..2 * n).map(|i| format!("*.t{i}.example")).collect();
        serde_json::from_value(json!({"rules": rules, "tls": [{"hosts": hosts}]})).expect("spec")
    }

    #[test]
    fn hosts_are_matched_in_linear_work() {
        let (small, large) = (mk_wide_ingress(1_000), mk_wide_ingress(4_000));
        let ((a_hosts, a), (b_hosts, b)) = (uncovered(&small), uncovered(&large));
        assert_eq!((a_hosts.len(), b_hosts.len()), (1_000, 4_000));
        // Each host lower-cased once and each rule host looked up twice: four times the hosts,
        // four times the work (every rule host against every TLS host would be sixteen times).
        assert_eq!((a, b), (5_000, 20_000));
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
