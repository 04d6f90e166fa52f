//! `probes-distinct`: a container's liveness and readiness probes ask different questions.

use k8s_openapi::api::core::v1::Probe;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::engine::containers::{ContainerAt, ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "probes-distinct";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "liveness and readiness probes of a container use different handlers (path, port or command)",
    why: "liveness asks \"is the process alive?\" and readiness \"can it take traffic?\"; one endpoint for both restarts pods when a dependency is down",
    fix: "give liveness its own cheap endpoint (`/healthz`: the process answers) and readiness another (`/ready`: it can serve)",
    vap: Vap::No(
        "not exported yet: comparing the two handlers, named ports resolved, stays in the webhook",
    ),
    build: |_| Ok(Box::new(ProbesDistinct)),
};

struct ProbesDistinct;

/// What a probe actually asks, with named ports resolved and defaults filled in; timings are
/// left out on purpose.
#[derive(Debug, PartialEq, Eq)]
enum Handler {
    Exec(Vec<String>),
    Http {
        host: String,
        scheme: String,
        port: Port,
        path: String,
    },
    Tcp {
        host: String,
        port: Port,
    },
    Grpc {
        port: i32,
        service: String,
    },
    None,
}

#[derive(Debug, PartialEq, Eq)]
enum Port {
    Number(i32),
    Name(String),
}

fn port(c: &ContainerAt<'_>, port: &IntOrString) -> Port {
    match port {
        IntOrString::Int(n) => Port::Number(*n),
        IntOrString::String(name) => c
            .ports()
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map_or_else(
                || Port::Name(name.clone()),
                |p| Port::Number(p.container_port),
            ),
    }
}

fn handler(c: &ContainerAt<'_>, probe: &Probe) -> Handler {
    if let Some(exec) = &probe.exec {
        return Handler::Exec(exec.command.clone().unwrap_or_default());
    }
    if let Some(http) = &probe.http_get {
        return Handler::Http {
            host: http.host.clone().unwrap_or_default(),
            scheme: http.scheme.clone().unwrap_or_else(|| "HTTP".into()),
            port: port(c, &http.port),
            path: http.path.clone().unwrap_or_else(|| "/".into()),
        };
    }
    if let Some(tcp) = &probe.tcp_socket {
        return Handler::Tcp {
            host: tcp.host.clone().unwrap_or_default(),
            port: port(c, &tcp.port),
        };
    }
    if let Some(grpc) = &probe.grpc {
        return Handler::Grpc {
            port: grpc.port,
            service: grpc.service.clone().unwrap_or_default(),
        };
    }
    Handler::None
}

impl Rule for ProbesDistinct {
    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        // A batch pod stops by itself: nothing to probe or drain.
        if pod.runs_to_completion() {
            return;
        }
        for c in containers(&pod, ContainerSet::App) {
            let (Some(live), Some(ready)) = (c.liveness_probe(), c.readiness_probe()) else {
                continue;
            };
            let live = handler(&c, live);
            if live != Handler::None && live == handler(&c, ready) {
                out.push_with(|| Finding::new(
                    ID,
                    c.field("readinessProbe"),
                    format!("{} uses the same check for livenessProbe and readinessProbe; point readiness at an endpoint that also checks dependencies, liveness at a cheap internal one", c.describe()),
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

    fn probes(live: serde_json::Value, ready: serde_json::Value) -> serde_json::Value {
        one(
            json!({"ports": [{"name": "http", "containerPort": 8080}], "livenessProbe": live, "readinessProbe": ready}),
        )
    }

    #[test]
    fn flags_identical_handlers_even_with_other_timings_or_a_named_port() {
        let same = probes(
            json!({"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10}),
            json!({"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 3}),
        );
        assert_eq!(
            fields(&run(ID, &mk_deployment(3, same.clone()))),
            ["spec.template.spec.containers[web].readinessProbe"]
        );
        assert_eq!(run(ID, &mk_pod(same)).len(), 1);
        let tcp = probes(
            json!({"tcpSocket": {"port": 8080}}),
            json!({"tcpSocket": {"port": 8080}}),
        );
        assert_eq!(run(ID, &mk_pod(tcp)).len(), 1);
    }

    #[test]
    fn passes_with_different_paths_ports_or_kinds() {
        let cases = [
            probes(
                json!({"httpGet": {"path": "/livez", "port": 8080}}),
                json!({"httpGet": {"path": "/readyz", "port": 8080}}),
            ),
            probes(
                json!({"httpGet": {"path": "/h", "port": 8080}}),
                json!({"httpGet": {"path": "/h", "port": 9090}}),
            ),
            probes(
                json!({"tcpSocket": {"port": 8080}}),
                json!({"httpGet": {"path": "/", "port": 8080}}),
            ),
            probes(
                json!({"exec": {"command": ["live"]}}),
                json!({"exec": {"command": ["ready"]}}),
            ),
        ];
        for spec in cases {
            assert!(run(ID, &mk_deployment(3, spec)).is_empty());
        }
    }

    #[test]
    fn ignores_pods_that_run_to_completion() {
        let probe = json!({"httpGet": {"path": "/healthz", "port": 8080}});
        let mut spec = one(json!({"livenessProbe": probe, "readinessProbe": probe}));
        assert_eq!(run(ID, &mk_pod(spec.clone())).len(), 1);
        spec["restartPolicy"] = json!("Never");
        assert!(run(ID, &mk_pod(spec)).is_empty());
    }
}
