//! `ingress-backend-exists`: every Service an Ingress routes to exists and has the port named
//! or numbered in the backend.

use k8s_openapi::api::networking::v1::IngressServiceBackend;

use crate::engine::bundle::{NamespaceView, list_some};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "ingress-backend-exists";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Ingress]),
    sees: &[Sees::Bundle],
    summary: "each backend Service exists and has the named or numbered port",
    why: "the controller routes internet → Ingress → Service → pod; a backend Service or port that does not exist turns the route into 503s",
    fix: "point the backend at an existing Service and a port that Service declares, or create the Service",
    vap: Vap::No(
        "needs other objects (the run's documents, the cluster); a policy sees one object",
    ),
    build: |_| Ok(Box::new(IngressBackendExists)),
};

struct IngressBackendExists;

/// A message lists this many of a Service's ports, then counts the rest.
const PORTS_SHOWN: usize = 10;

fn judge(
    backend: &IngressServiceBackend,
    field: String,
    view: &NamespaceView,
    partial: bool,
    out: &mut Findings,
) {
    let Some(service) = view.service(&backend.name) else {
        // One run may hold only the Ingress; then absence proves nothing.
        if !partial || view.has_services() {
            out.push_with(|| {
                Finding::new(
                ID,
                format!("{field}.name"),
                format!(
                    "backend Service {} does not exist in the namespace; create it or fix the name",
                    backend.name
                ),
            ).claims_absence(&[Kind::Service])
            });
        }
        return;
    };
    let Some(port) = &backend.port else { return };
    let (found, wanted) = match (&port.name, port.number) {
        (Some(name), _) => (service.index.has_name(name), name.clone()),
        (None, Some(number)) => (service.index.has_number(number), number.to_string()),
        (None, None) => return,
    };
    if !found {
        let ports = list_some(
            service.ports.iter().map(|p| match &p.name {
                Some(name) => format!("{}/{name}", p.port),
                None => p.port.to_string(),
            }),
            PORTS_SHOWN,
        );
        out.push_with(|| {
            Finding::new(
                ID,
                format!("{field}.port"),
                format!(
                    "Service {} has no port {wanted} (ports: {}); use one of its ports",
                    service.name,
                    if ports.is_empty() {
                        "none".to_string()
                    } else {
                        ports
                    }
                ),
            )
        });
    }
}

impl Rule for IngressBackendExists {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        let Object::Ingress(ingress) = object else {
            return;
        };
        let (Some(view), Some(bundle)) = (ctx.namespace_view(object), ctx.bundle) else {
            return;
        };
        let Some(spec) = &ingress.spec else { return };
        let partial = bundle.is_partial();
        if let Some(service) = spec
            .default_backend
            .as_ref()
            .and_then(|b| b.service.as_ref())
        {
            judge(
                service,
                "spec.defaultBackend.service".into(),
                view,
                partial,
                out,
            );
        }
        for (i, rule) in spec.rules.iter().flatten().enumerate() {
            let host = rule.host.clone().unwrap_or_else(|| i.to_string());
            let paths = rule.http.iter().flat_map(|h| &h.paths).enumerate();
            for (j, path) in paths {
                let Some(service) = &path.backend.service else {
                    continue;
                };
                let at = path.path.clone().unwrap_or_else(|| j.to_string());
                let field = format!("spec.rules[{host}].http.paths[{at}].backend.service");
                judge(service, field, view, partial, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    fn mk_ingress(backend: serde_json::Value) -> Object {
        object(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": backend}}]}}]}}),
        )
    }

    fn web_service() -> Object {
        mk_service(
            "web",
            json!({"app": "web"}),
            json!([{"name": "http", "port": 80}]),
        )
    }

    #[test]
    fn checks_the_service_and_its_port() {
        let at = "spec.rules[shop.example.com].http.paths[/].backend.service";
        let cases = [
            (json!({"name": "web", "port": {"number": 80}}), None),
            (json!({"name": "web", "port": {"name": "http"}}), None),
            (
                json!({"name": "web", "port": {"number": 8080}}),
                Some("port"),
            ),
            (
                json!({"name": "web", "port": {"name": "https"}}),
                Some("port"),
            ),
            (json!({"name": "api", "port": {"number": 80}}), Some("name")),
        ];
        for (backend, expected) in cases {
            let found = run_bundle(ID, &[mk_ingress(backend.clone()), web_service()], 0);
            let expected: Vec<String> = expected.into_iter().map(|s| format!("{at}.{s}")).collect();
            assert_eq!(fields(&found), expected, "{backend}");
        }
    }

    #[test]
    fn checks_the_default_backend() {
        let ingress = object(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"defaultBackend": {"service": {"name": "gone", "port": {"number": 80}}}}}),
        );
        assert_eq!(
            fields(&run_bundle(ID, &[ingress, web_service()], 0)),
            ["spec.defaultBackend.service.name"]
        );
    }

    #[test]
    fn silent_when_the_run_holds_no_service_or_no_bundle() {
        let ingress = mk_ingress(json!({"name": "api", "port": {"number": 80}}));
        assert!(run_bundle(ID, std::slice::from_ref(&ingress), 0).is_empty());
        assert!(run_manifest(ID, &ingress, "networking.k8s.io/v1").is_empty());
    }

    /// An Ingress of `n` paths to ports that a Service of `n` ports lacks, and the bytes of
    /// what the rule says about it.
    fn said_about_wide(n: usize) -> usize {
        let paths: Vec<_> = (0..n)
            .map(|i| {
                json!({"path": format!("/p{i}"), "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 20000 + i}}}})
            })
            .collect();
        let ports: Vec<_> = (0..n).map(|i| json!({"port": 1000 + i})).collect();
        let ingress = object(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": paths}}]}}),
        );
        let service = mk_service("web", json!({"app": "web"}), json!(ports));
        let found = run_bundle(ID, &[ingress, service], 0);
        assert_eq!(found.len(), n);
        found.iter().map(|f| f.message.len()).sum()
    }

    #[test]
    fn many_paths_against_many_ports_say_a_linear_amount() {
        let (small, large) = (said_about_wide(25), said_about_wide(100));
        assert!(
            large <= small * 4 + small / 4,
            "{small} bytes, then {large}"
        );
    }
}
