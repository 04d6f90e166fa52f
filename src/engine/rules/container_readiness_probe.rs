//! `container-readiness-probe`: long-running app containers that take traffic declare a
//! readiness probe.
//!
//! A container takes traffic when it declares a port, or when a Service of the bundle selects
//! its pod on a port that no container declares (declaring ports is optional, so any of them may
//! be the one listening). Workers, load generators and agents get no finding: nothing routes to
//! them, so readiness gates nothing.

use crate::engine::cel::{Cel, RuleCel, pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::{Object, PodView};

pub const ID: &str = "container-readiness-probe";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::LongRunning,
    sees: &[Sees::Admission, Sees::Bundle],
    summary: "long-running app containers that expose a port (or that a Service of the bundle selects) have a readinessProbe",
    why: "without a readiness probe traffic reaches pods that are not ready, causing 502s during every rollout",
    fix: "add a readinessProbe on an endpoint that answers only when the app can serve, e.g. `/ready`",
    vap: Vap::Exports(
        "only the containers that declare ports: whether a Service sends traffic to a container that declares none needs the Service, which the webhook sees only in check and audit",
    ),
    build: |_| Ok(Box::new(ContainerReadinessProbe)),
};

struct ContainerReadinessProbe;

/// The first Service of the bundle that selects the pod on a port none of its app containers
/// declares, with that port.
fn service_on_undeclared_port(
    object: &Object,
    pod: &PodView<'_>,
    ctx: &Context,
) -> Option<(String, String)> {
    let view = ctx.namespace_view(object)?;
    let labels = pod.labels()?;
    let declared: Vec<_> = containers(pod, ContainerSet::App)
        .flat_map(|c| c.ports())
        .collect();
    view.services_selecting(labels).find_map(|service| {
        service.ports.iter().find_map(|p| {
            let undeclared = match &p.target {
                IntOrString::Int(n) => !declared.iter().any(|d| d.container_port == *n),
                // A name must be declared to resolve; a number in a string is a number.
                IntOrString::String(s) => s
                    .parse::<i32>()
                    .is_ok_and(|n| !declared.iter().any(|d| d.container_port == n)),
            };
            let port = match &p.target {
                IntOrString::Int(n) => n.to_string(),
                IntOrString::String(s) => s.clone(),
            };
            undeclared.then(|| (service.name.clone(), port))
        })
    })
}

impl Rule for ContainerReadinessProbe {
    fn cel(&self) -> Option<RuleCel> {
        let ready = |c: Cel| {
            c.opt("readinessProbe").is_present().or(c
                .opt("ports")
                .or_empty()
                .size()
                .eq(Cel::int(0)))
        };
        Some(RuleCel::one(
            pod::runs_to_completion().or(pod::containers(ContainerSet::App).all("c", ready)),
            "a container that exposes ports has no readinessProbe",
        ))
    }

    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        if pod.runs_to_completion() {
            return;
        }
        let mut routed = None;
        let mut looked = false;
        for c in containers(&pod, ContainerSet::App).filter(|c| c.readiness_probe().is_none()) {
            let why = if c.has_ports() {
                "it exposes ports".to_string()
            } else {
                if !looked {
                    routed = service_on_undeclared_port(object, &pod, ctx);
                    looked = true;
                }
                let Some((service, port)) = &routed else {
                    continue;
                };
                format!("Service {service} sends it traffic on port {port}")
            };
            out.push_with(|| Finding::new(
                ID,
                c.field("readinessProbe"),
                format!("{} has no readinessProbe but {why}; add one that checks it can serve (its dependencies are up)", c.describe()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    fn serving() -> serde_json::Value {
        one(json!({"ports": [{"name": "http", "containerPort": 8080}]}))
    }

    #[test]
    fn flags_serving_containers_without_readiness() {
        let found = run(ID, &mk_pod(serving()));
        assert_eq!(fields(&found), ["spec.containers[web].readinessProbe"]);
        assert!(found[0].message.contains("it exposes ports"));
        assert_eq!(run(ID, &mk_deployment(2, serving())).len(), 1);
    }

    #[test]
    fn a_worker_with_no_ports_and_no_service_is_not_judged() {
        assert!(run(ID, &mk_deployment(2, one(json!({})))).is_empty());
        let service = mk_service("web", json!({"app": "other"}), json!([{"port": 80}]));
        assert!(run_bundle(ID, &[mk_deployment(2, one(json!({}))), service], 0).is_empty());
    }

    #[test]
    fn a_service_on_an_undeclared_port_makes_a_container_serving() {
        let service = mk_service(
            "web",
            json!({"app": "web"}),
            json!([{"port": 80, "targetPort": 8080}]),
        );
        let found = run_bundle(ID, &[mk_deployment(2, one(json!({}))), service], 0);
        assert_eq!(
            fields(&found),
            ["spec.template.spec.containers[web].readinessProbe"]
        );
        assert!(
            found[0]
                .message
                .contains("Service web sends it traffic on port 8080"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn a_sidecar_without_ports_next_to_the_serving_container_is_not_judged() {
        let spec = json!({"containers": [
            {"name": "web", "image": "w:1", "ports": [{"containerPort": 8080}],
             "readinessProbe": {"tcpSocket": {"port": 8080}}},
            {"name": "log-shipper", "image": "l:1"}
        ]});
        let service = mk_service(
            "web",
            json!({"app": "web"}),
            json!([{"port": 80, "targetPort": 8080}]),
        );
        assert!(run_bundle(ID, &[mk_deployment(2, spec), service], 0).is_empty());
    }

    #[test]
    fn passes_with_a_probe_and_ignores_jobs_and_pods_that_run_to_completion() {
        let probe = json!({"ports": [{"containerPort": 8080}], "readinessProbe": {"tcpSocket": {"port": 8080}}});
        assert!(run(ID, &mk_deployment(3, one(probe))).is_empty());
        assert!(run(ID, &mk_cronjob(serving())).is_empty());
        for policy in ["Never", "OnFailure"] {
            let mut spec = serving();
            spec["restartPolicy"] = json!(policy);
            assert!(run(ID, &mk_pod(spec)).is_empty(), "{policy}");
        }
        let mut always = serving();
        always["restartPolicy"] = json!("Always");
        assert_eq!(run(ID, &mk_pod(always)).len(), 1);
    }
}
