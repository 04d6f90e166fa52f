//! `no-host-ports`: no container binds a port of the node (Pod Security baseline).

use crate::engine::cel::{Cel, RuleCel, pod};
use serde::Deserialize;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "no-host-ports";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "no container port sets a hostPort, unless params.allowed lists it",
    why: "a hostPort opens the node's own address to the pod, bypasses NetworkPolicies of the Service path, and pins the pod to nodes where that port is free",
    fix: "remove hostPort and reach the pod through a Service; list a port in params.allowed only for a node agent that must bind it",
    vap: Vap::Exports(""),
    build: |v| Ok(Box::new(NoHostPorts(serde_json::from_value(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    allowed: Vec<i32>,
}

struct NoHostPorts(Params);

impl Rule for NoHostPorts {
    fn cel(&self) -> Option<RuleCel> {
        let allowed: Vec<i64> = self.0.allowed.iter().map(|p| i64::from(*p)).collect();
        let binds_none = |c: Cel| {
            c.opt("ports").or_empty().all("p", |p| {
                let host_port = p.opt("hostPort").or_value(Cel::int(0));
                host_port
                    .clone()
                    .eq(Cel::int(0))
                    .or(host_port.is_in(Cel::ints(&allowed)))
            })
        };
        Some(RuleCel::one(
            pod::containers(ContainerSet::All).all("c", binds_none),
            "a container binds a port of the node (hostPort) that params.allowed does not list",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::All) {
            for port in c.ports() {
                let Some(host_port) = port.host_port.filter(|p| *p != 0) else {
                    continue;
                };
                if self.0.allowed.contains(&host_port) {
                    continue;
                }
                out.push_with(|| Finding::new(
                    ID,
                    c.field(&format!("ports[{}].hostPort", port.container_port)),
                    format!(
                        "{} binds port {host_port} of the node (hostPort); remove hostPort and reach the pod through a Service",
                        c.describe()
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_host_ports_in_every_container_list() {
        let spec = json!({
            "containers": [{"name": "web", "image": "w:1", "ports": [{"containerPort": 80, "hostPort": 80}, {"containerPort": 9090}]}],
            "initContainers": [{"name": "init", "image": "i:1", "ports": [{"containerPort": 53, "hostPort": 53}]}]
        });
        assert_eq!(
            fields(&run(ID, &mk_deployment(2, spec))),
            [
                "spec.template.spec.containers[web].ports[80].hostPort",
                "spec.template.spec.initContainers[init].ports[53].hostPort"
            ]
        );
    }

    #[test]
    fn passes_no_host_port_zero_and_allowed_ports() {
        let spec =
            one(json!({"ports": [{"containerPort": 80, "hostPort": 0}, {"containerPort": 8080}]}));
        assert!(run(ID, &mk_pod(spec)).is_empty());
        let spec = one(json!({"ports": [{"containerPort": 9100, "hostPort": 9100}]}));
        assert!(run_with(ID, json!({"allowed": [9100]}), &mk_pod(spec)).is_empty());
    }
}
