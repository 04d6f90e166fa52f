//! `service-type-internal`: a `LoadBalancer` or `NodePort` Service says it is meant to be
//! public with the annotation `bulwark.dev/exposure: public`.

use crate::engine::cel::{Cel, RuleCel};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "service-type-internal";

/// The annotation that marks a Service as deliberately reachable from outside the cluster.
pub const EXPOSURE_ANNOTATION: &str = "bulwark.dev/exposure";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Service]),
    sees: &[Sees::Admission],
    summary: "a LoadBalancer or NodePort Service carries the annotation bulwark.dev/exposure: public",
    why: "each LoadBalancer Service provisions a paid cloud load balancer and opens the service to outside the cluster; traffic between services belongs on ClusterIP, the outside world on one Ingress",
    fix: "use type: ClusterIP behind an Ingress, or annotate bulwark.dev/exposure: public when the exposure is intended",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(ServiceTypeInternal)),
};

struct ServiceTypeInternal;

impl Rule for ServiceTypeInternal {
    fn cel(&self) -> Option<RuleCel> {
        let object = Cel::var("object");
        let exposed = object
            .opt("spec")
            .opt("type")
            .or_value(Cel::str(""))
            .is_in(Cel::strs(&["LoadBalancer", "NodePort"]));
        let public = object
            .get("metadata")
            .opt("annotations")
            .opt(EXPOSURE_ANNOTATION)
            .or_value(Cel::str(""))
            .eq(Cel::str("public"));
        Some(RuleCel::one(
            exposed.negate().or(public),
            format!(
                "a LoadBalancer or NodePort Service lacks the annotation {EXPOSURE_ANNOTATION}: public"
            ),
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::Service(service) = object else {
            return;
        };
        let Some(type_) = service
            .spec
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            .filter(|t| matches!(*t, "LoadBalancer" | "NodePort"))
        else {
            return;
        };
        let public = service
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(EXPOSURE_ANNOTATION))
            .is_some_and(|v| v == "public");
        if public {
            return;
        }
        let what = match type_ {
            "LoadBalancer" => {
                "provisions a cloud load balancer and exposes the Service outside the cluster"
            }
            _ => "opens a port on every node, reachable from outside the cluster",
        };
        out.push_with(|| Finding::new(
            ID,
            "spec.type",
            format!(
                "type {type_} {what}; use ClusterIP (and an Ingress) for internal traffic, or annotate {EXPOSURE_ANNOTATION}: public if it is meant to be public"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use crate::engine::workload::Kind;
    use serde_json::json;

    fn service(type_: &str, annotations: serde_json::Value) -> Object {
        mk(
            Kind::Service,
            json!({"metadata": {"annotations": annotations},
                   "spec": {"type": type_, "selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        )
    }

    #[test]
    fn flags_external_types_without_the_public_annotation() {
        for type_ in ["LoadBalancer", "NodePort"] {
            let found = run(ID, &service(type_, json!({})));
            assert_eq!(fields(&found), ["spec.type"], "{type_}");
            assert!(found[0].message.starts_with(&format!("type {type_} ")));
            let internal = service(type_, json!({EXPOSURE_ANNOTATION: "internal"}));
            assert_eq!(run(ID, &internal).len(), 1);
        }
    }

    #[test]
    fn passes_cluster_ip_headless_and_declared_public_services() {
        assert!(run(ID, &service("ClusterIP", json!({}))).is_empty());
        assert!(run(ID, &service("ExternalName", json!({}))).is_empty());
        assert!(
            run(
                ID,
                &mk(Kind::Service, json!({"spec": {"clusterIP": "None"}}))
            )
            .is_empty()
        );
        let public = service("LoadBalancer", json!({EXPOSURE_ANNOTATION: "public"}));
        assert!(run(ID, &public).is_empty());
    }
}
