//! `service-selector-matches`: a Service's selector picks the pods of some workload, and each
//! `targetPort` names or numbers a port those pods declare.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::engine::bundle::{PortIndex, Selector, WorkloadFacts, list_some};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "service-selector-matches";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Service]),
    sees: &[Sees::Bundle],
    summary: "the selector matches the pod template labels of some workload, and each targetPort names or numbers a port of it",
    why: "a selector that matches no pod labels leaves the Service with zero endpoints and requests hang; a targetPort the pods do not listen on goes nowhere",
    fix: "make the selector equal labels of the pod template, and each targetPort a containerPort (number or name) of those pods",
    vap: Vap::No(
        "needs other objects (the run's documents, the cluster); a policy sees one object",
    ),
    build: |_| Ok(Box::new(ServiceSelectorMatches)),
};

struct ServiceSelectorMatches;

/// A message lists this many of the pods' ports, then counts the rest.
const PORTS_SHOWN: usize = 10;

/// `app=web,tier=front`.
pub fn show_labels(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn show_port(port: &IntOrString) -> String {
    match port {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn show_workloads(workloads: &[&WorkloadFacts]) -> String {
    let mut names: Vec<String> = workloads
        .iter()
        .take(3)
        .map(|w| format!("{} {}", w.kind.name(), w.name))
        .collect();
    if workloads.len() > 3 {
        names.push(format!("{} more", workloads.len() - 3));
    }
    names.join(", ")
}

impl Rule for ServiceSelectorMatches {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        let Object::Service(service) = object else {
            return;
        };
        let (Some(view), Some(bundle)) = (ctx.namespace_view(object), ctx.bundle) else {
            return;
        };
        let Some(spec) = &service.spec else { return };
        // Without a selector the endpoints are managed by hand; ExternalName has none.
        if spec.type_.as_deref() == Some("ExternalName") {
            return;
        }
        let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
            return;
        };
        let matched: Vec<&WorkloadFacts> = view.selected(Selector::Map(selector)).collect();
        if matched.is_empty() {
            // One run may hold only the Services; then absence proves nothing.
            if bundle.is_partial() && !view.has_workloads() {
                return;
            }
            out.push_with(|| Finding::new(
                ID,
                "spec.selector",
                format!(
                    "selector {} matches the pod labels of no workload in the namespace, so the Service has no endpoints; make it match the pod template labels",
                    show_labels(selector)
                ),
            ).claims_absence(&Kind::WORKLOADS));
            return;
        }
        // Every port of the matched workloads, indexed and listed once: each Service port is
        // then judged by one lookup, and every finding shows the same short list.
        let mut index = PortIndex::default();
        for p in matched.iter().flat_map(|w| &w.ports) {
            index.insert(p.name.as_deref(), p.number);
        }
        let mut declared: Option<String> = None;
        for (i, port) in spec.ports.iter().flatten().enumerate() {
            let target = port
                .target_port
                .clone()
                .unwrap_or(IntOrString::Int(port.port));
            if index.matches(&target) {
                continue;
            }
            let named = matches!(&target, IntOrString::String(s) if s.parse::<i32>().is_err());
            if !named && index.is_empty() {
                continue;
            }
            let at = port.name.clone().unwrap_or_else(|| i.to_string());
            let declared = declared.get_or_insert_with(|| {
                let ports = list_some(
                    matched
                        .iter()
                        .flat_map(|w| &w.ports)
                        .map(|p| match &p.name {
                            Some(name) => format!("{}/{name}", p.number),
                            None => p.number.to_string(),
                        }),
                    PORTS_SHOWN,
                );
                if ports.is_empty() {
                    "none".to_string()
                } else {
                    ports
                }
            });
            out.push_with(|| Finding::new(
                ID,
                format!("spec.ports[{at}].targetPort"),
                format!(
                    "targetPort {} is not a container port of {} (ports: {declared}); set targetPort to the port the container listens on",
                    show_port(&target),
                    show_workloads(&matched)
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

    fn web() -> Object {
        mk_deployment(
            3,
            one(json!({"ports": [{"name": "http", "containerPort": 8080}]})),
        )
    }

    #[test]
    fn flags_a_selector_that_matches_nothing() {
        let service = mk_service("web", json!({"app": "wbe"}), json!([{"port": 80}]));
        let found = run_bundle(ID, &[service, web()], 0);
        assert_eq!(fields(&found), ["spec.selector"]);
        assert!(found[0].message.contains("app=wbe"));
    }

    #[test]
    fn flags_a_target_port_the_pods_do_not_declare() {
        let cases = [
            (
                json!([{"name": "http", "port": 80, "targetPort": "http"}]),
                vec![],
            ),
            (
                json!([{"name": "http", "port": 80, "targetPort": 8080}]),
                vec![],
            ),
            (
                json!([{"name": "http", "port": 80}]),
                vec!["spec.ports[http].targetPort"],
            ),
            (
                json!([{"port": 80, "targetPort": "web"}]),
                vec!["spec.ports[0].targetPort"],
            ),
            (
                json!([{"port": 80, "targetPort": "8080"}, {"name": "m", "port": 9090, "targetPort": 9090}]),
                vec!["spec.ports[m].targetPort"],
            ),
        ];
        for (ports, expected) in cases {
            let service = mk_service("web", json!({"app": "web"}), ports.clone());
            let found = run_bundle(ID, &[service, web()], 0);
            assert_eq!(fields(&found), expected, "{ports}");
        }
    }

    #[test]
    fn a_number_is_not_judged_against_pods_that_declare_no_ports() {
        let bare = mk_deployment(3, one(json!({})));
        let service = mk_service(
            "web",
            json!({"app": "web"}),
            json!([{"port": 80, "targetPort": 8080}]),
        );
        assert!(run_bundle(ID, &[service.clone(), bare.clone()], 0).is_empty());
        let named = mk_service(
            "web",
            json!({"app": "web"}),
            json!([{"port": 80, "targetPort": "http"}]),
        );
        assert_eq!(run_bundle(ID, &[named, bare], 0).len(), 1);
    }

    #[test]
    fn silent_without_workloads_a_selector_or_a_bundle() {
        let service = mk_service("web", json!({"app": "web"}), json!([{"port": 80}]));
        assert!(run_bundle(ID, std::slice::from_ref(&service), 0).is_empty());
        assert!(run_manifest(ID, &service, "v1").is_empty());
        let manual = mk_service("db", json!({}), json!([{"port": 5432}]));
        assert!(run_bundle(ID, &[manual, web()], 0).is_empty());
        let elsewhere = object(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "other"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}));
        // The workload is in `shop`, the Service in `other`: nothing in `other` to match.
        assert!(run_bundle(ID, &[elsewhere, web()], 0).is_empty());
    }

    /// A Service of `n` ports that no container declares, selecting a Deployment of `n`
    /// declared ports, and the bytes of what the rule says about it.
    fn said_about_wide(n: usize) -> usize {
        let ports: Vec<_> = (0..n)
            .map(|i| json!({"name": format!("p{i}"), "port": 1000 + i, "targetPort": 20000 + i}))
            .collect();
        let declared: Vec<_> = (0..n).map(|i| json!({"containerPort": 3000 + i})).collect();
        let service = mk_service("web", json!({"app": "web"}), json!(ports));
        let found = run_bundle(
            ID,
            &[service, mk_deployment(3, one(json!({"ports": declared})))],
            0,
        );
        assert_eq!(found.len(), n);
        found.iter().map(|f| f.message.len()).sum()
    }

    #[test]
    fn many_ports_against_many_ports_say_a_linear_amount() {
        // One finding per Service port, each with a short list of the pods' ports: four times
        // the ports, about four times the words (a full list in each was sixteen times).
        let (small, large) = (said_about_wide(25), said_about_wide(100));
        assert!(
            large <= small * 4 + small / 4,
            "{small} bytes, then {large}"
        );
    }
}
