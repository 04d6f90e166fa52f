//! `ingress-path-type`: every Ingress path says how it matches, with `Prefix` or `Exact`.
//!
//! At admission only `ImplementationSpecific` can be seen: the API server rejects a path
//! without `pathType` before any webhook runs. A manifest can still omit it, which the offline
//! `check` reports (k8s-openapi decodes a missing `pathType` as an empty string).

use crate::engine::cel::{Cel, RuleCel};
use crate::engine::rule::{
    Context, Finding, Findings, Origin, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "ingress-path-type";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Ingress]),
    sees: &[Sees::Admission, Sees::Offline],
    summary: "every path has pathType Prefix or Exact, not ImplementationSpecific (missing: offline)",
    why: "ImplementationSpecific matching differs from one controller to the next; Prefix is what you almost always want, so that /orders/123 matches /orders",
    fix: "set pathType: Prefix (or Exact for a single path) on every path",
    vap: Vap::Exports(
        "a missing pathType is judged offline only, as in the webhook (the API server refuses it)",
    ),
    build: |_| Ok(Box::new(IngressPathType)),
};

struct IngressPathType;

/// What is wrong with a path's `pathType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PathTypeProblem {
    ImplementationSpecific,
    Missing,
}

fn problem(path_type: &str, origin: Origin) -> Option<PathTypeProblem> {
    match path_type {
        "ImplementationSpecific" => Some(PathTypeProblem::ImplementationSpecific),
        // Only a manifest can lack it: the API server refuses such an Ingress.
        "" if origin == Origin::Manifest => Some(PathTypeProblem::Missing),
        _ => None,
    }
}

impl Rule for IngressPathType {
    fn cel(&self) -> Option<RuleCel> {
        let specific = |p: Cel| {
            p.opt("pathType")
                .or_value(Cel::str(""))
                .ne(Cel::str("ImplementationSpecific"))
        };
        Some(RuleCel::one(
            Cel::var("object")
                .opt("spec")
                .opt("rules")
                .or_empty()
                .all("r", |r| {
                    r.opt("http").opt("paths").or_empty().all("p", specific)
                }),
            "a path has pathType ImplementationSpecific",
        ))
    }

    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        let Object::Ingress(ingress) = object else {
            return;
        };
        let rules = ingress.spec.as_ref().and_then(|s| s.rules.as_ref());
        for (i, rule) in rules.into_iter().flatten().enumerate() {
            let paths = rule.http.as_ref().map(|h| h.paths.as_slice());
            for (j, path) in paths.into_iter().flatten().enumerate() {
                let Some(problem) = problem(&path.path_type, ctx.origin) else {
                    continue;
                };
                let shown = path.path.as_deref().unwrap_or("/");
                let message = match problem {
                    PathTypeProblem::ImplementationSpecific => format!(
                        "path {shown} has pathType ImplementationSpecific, whose matching depends on the controller; use Prefix (or Exact for one URL)"
                    ),
                    PathTypeProblem::Missing => format!(
                        "path {shown} has no pathType, which the API server refuses; set pathType: Prefix (or Exact for one URL)"
                    ),
                };
                out.push_with(|| {
                    Finding::new(
                        ID,
                        format!("spec.rules[{i}].http.paths[{j}].pathType"),
                        message,
                    )
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::{Value, json};

    fn path(p: &str, path_type: &str) -> Value {
        json!({"path": p, "pathType": path_type, "backend": {"service": {"name": "web", "port": {"number": 80}}}})
    }

    #[test]
    fn flags_implementation_specific_paths_by_position() {
        let ingress = mk_ingress(
            json!({"rules": [
                {"host": "a.example.com", "http": {"paths": [path("/", "Prefix")]}},
                {"host": "b.example.com", "http": {"paths": [path("/api", "Exact"), path("/orders", "ImplementationSpecific")]}}
            ]}),
            json!({}),
        );
        let found = run(ID, &ingress);
        assert_eq!(fields(&found), ["spec.rules[1].http.paths[1].pathType"]);
        assert!(
            found[0]
                .message
                .contains("path /orders has pathType ImplementationSpecific")
        );
    }

    #[test]
    fn passes_prefix_and_exact_and_reports_a_missing_type_only_in_a_manifest() {
        let ingress = mk_ingress(
            json!({"rules": [{"http": {"paths": [path("/", "Prefix"), path("/x", "Exact"),
                {"path": "/y", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}),
            json!({}),
        );
        // At admission the API server has already refused a path without pathType.
        assert!(run(ID, &ingress).is_empty());
        assert!(run(ID, &mk_ingress(json!({}), json!({}))).is_empty());
        let found = run_manifest(ID, &ingress, "networking.k8s.io/v1");
        assert_eq!(fields(&found), ["spec.rules[0].http.paths[2].pathType"]);
        assert!(found[0].message.contains("path /y has no pathType"));
    }
}
