//! `netpol-egress-dns`: a NetworkPolicy that restricts egress to some destinations also allows
//! DNS (port 53 over UDP and TCP) somewhere.
//!
//! A policy that restricts egress and allows nothing at all is the default-deny baseline that
//! other policies open up (an allow-dns policy among them); it is not judged, since policies
//! add up and this one alone cannot know. The one that lists destinations and forgets DNS is
//! the mistake.

use crate::engine::cel::{Cel, RuleCel};
use k8s_openapi::api::networking::v1::{NetworkPolicyEgressRule, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::netpol_egress_policy_type::effective_policy_types;
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "netpol-egress-dns";

const DNS_PORT: i32 = 53;

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::NetworkPolicy]),
    sees: &[Sees::Admission],
    summary: "a policy that restricts egress allows port 53 (UDP and TCP) somewhere",
    why: "once egress is restricted, a pod without a DNS allowance cannot resolve any hostname and every outbound call fails",
    fix: "add an egress rule that allows port 53 over UDP and TCP to the cluster DNS (kube-dns in kube-system)",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(NetpolEgressDns)),
};

struct NetpolEgressDns;

/// Whether one port entry lets DNS through for `protocol` (the API's default protocol is TCP).
fn port_allows_dns(port: &NetworkPolicyPort, protocol: &str) -> bool {
    if port.protocol.as_deref().unwrap_or("TCP") != protocol {
        return false;
    }
    match &port.port {
        // No port: every port of the protocol.
        None => true,
        Some(IntOrString::Int(n)) => {
            *n == DNS_PORT
                || port
                    .end_port
                    .is_some_and(|end| (*n..=end).contains(&DNS_PORT))
        }
        // A named port of the destination pods: CoreDNS calls its ports dns and dns-tcp.
        Some(IntOrString::String(name)) => name.to_ascii_lowercase().contains("dns"),
    }
}

/// Whether any rule lets DNS through for `protocol`; a rule without ports allows all ports.
fn allows_dns(rules: &[NetworkPolicyEgressRule], protocol: &str) -> bool {
    rules.iter().any(|rule| match rule.ports.as_deref() {
        None | Some([]) => true,
        Some(ports) => ports.iter().any(|p| port_allows_dns(p, protocol)),
    })
}

impl Rule for NetpolEgressDns {
    fn cel(&self) -> Option<RuleCel> {
        let spec = Cel::var("object").opt("spec");
        let egress = || spec.opt("egress").or_empty();
        let types = spec.opt("policyTypes").or_empty();
        // The types in force, as `effective_policy_types` reads them.
        let restricts_egress = Cel::cond(
            types.clone().size().gt(Cel::int(0)),
            Cel::str("Egress").is_in(types),
            egress().size().gt(Cel::int(0)),
        );
        let allows = |protocol: &str| {
            let port_allows = |p: Cel| {
                let port = p.opt("port");
                let number = port.clone().value();
                let by_port = Cel::cond(
                    Cel::function("type", [number.clone()]).eq(Cel::var("int")),
                    number.clone().eq(Cel::int(i64::from(DNS_PORT))).or(p
                        .opt("endPort")
                        .is_present()
                        .and(number.clone().le(Cel::int(i64::from(DNS_PORT))))
                        .and(p.get("endPort").ge(Cel::int(i64::from(DNS_PORT))))),
                    number
                        .call("lowerAscii", [])
                        .call("contains", [Cel::str("dns")]),
                );
                p.opt("protocol")
                    .or_value(Cel::str("TCP"))
                    .eq(Cel::str(protocol))
                    .and(port.is_present().negate().or(by_port))
            };
            egress().exists("r", |r| {
                let ports = r.opt("ports").or_empty();
                ports
                    .clone()
                    .size()
                    .eq(Cel::int(0))
                    .or(ports.exists("p", port_allows))
            })
        };
        Some(RuleCel::one(
            Cel::either([
                restricts_egress.negate(),
                egress().size().eq(Cel::int(0)),
                allows("UDP").and(allows("TCP")),
            ]),
            "the policy restricts egress but allows no DNS (port 53) over UDP and TCP",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::NetworkPolicy(policy) = object else {
            return;
        };
        if !effective_policy_types(policy).contains(&"Egress") {
            return;
        }
        let rules = policy
            .spec
            .as_ref()
            .and_then(|s| s.egress.as_deref())
            .unwrap_or_default();
        if rules.is_empty() {
            return;
        }
        let missing: Vec<&str> = ["UDP", "TCP"]
            .into_iter()
            .filter(|protocol| !allows_dns(rules, protocol))
            .collect();
        if missing.is_empty() {
            return;
        }
        out.push_with(|| Finding::new(
            ID,
            "spec.egress",
            format!(
                "the policy restricts egress but allows no DNS over {}, so the selected pods cannot resolve names; add an egress rule to kube-dns (namespace kube-system, k8s-app: kube-dns) on port 53 over UDP and TCP",
                missing.join(" or ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::{Value, json};

    fn egress(rules: Value) -> Object {
        mk(
            Kind::NetworkPolicy,
            json!({"spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": rules}}),
        )
    }

    fn to_db() -> Value {
        json!({"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 5432}]})
    }

    #[test]
    fn flags_egress_destinations_without_dns() {
        let found = run(ID, &egress(json!([to_db()])));
        assert_eq!(fields(&found), ["spec.egress"]);
        assert!(found[0].message.contains("no DNS over UDP or TCP"));
        let udp_only = egress(json!([to_db(), {"ports": [{"protocol": "UDP", "port": 53}]}]));
        assert!(run(ID, &udp_only)[0].message.contains("no DNS over TCP"));
        // Defaulted policy types count too.
        let defaulted = mk(
            Kind::NetworkPolicy,
            json!({"spec": {"podSelector": {}, "egress": [to_db()]}}),
        );
        assert_eq!(run(ID, &defaulted).len(), 1);
    }

    #[test]
    fn passes_dns_by_number_range_name_or_any_port() {
        for dns in [
            json!([{"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]),
            json!([{"ports": [{"protocol": "UDP", "port": 1, "endPort": 1024}, {"port": 53}]}]),
            json!([{"ports": [{"protocol": "UDP", "port": "dns"}, {"protocol": "TCP", "port": "dns-tcp"}]}]),
            json!([{"ports": [{"protocol": "UDP"}, {"protocol": "TCP"}]}]),
            json!([{"to": [{"namespaceSelector": {}}]}]),
        ] {
            let mut rules = vec![to_db()];
            rules.extend(dns.as_array().cloned().unwrap_or_default());
            assert!(run(ID, &egress(Value::Array(rules))).is_empty(), "{dns}");
        }
    }

    #[test]
    fn leaves_deny_all_and_ingress_only_policies_alone() {
        assert!(run(ID, &egress(json!([]))).is_empty());
        let ingress_only = mk(
            Kind::NetworkPolicy,
            json!({"spec": {"podSelector": {}, "policyTypes": ["Ingress"], "egress": [to_db()]}}),
        );
        assert!(run(ID, &ingress_only).is_empty());
    }
}
