//! `secret-type-explicit`: a Secret says which type it is.

use crate::engine::rule::{
    Context, Finding, Findings, Origin, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "secret-type-explicit";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Secret]),
    sees: &[Sees::Offline],
    summary: "a Secret sets `type`",
    why: "the type says which keys a Secret must hold (Opaque, kubernetes.io/tls, kubernetes.io/dockerconfigjson) and lets tools such as cert-manager check it; unset silently means Opaque",
    fix: "set type: Opaque, kubernetes.io/tls, kubernetes.io/dockerconfigjson or whichever the Secret is",
    vap: Vap::No(
        "fires only on manifest files: the API server defaults or rejects the field before any admission check sees it",
    ),
    build: |_| Ok(Box::new(SecretTypeExplicit)),
};

struct SecretTypeExplicit;

impl Rule for SecretTypeExplicit {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        // The API server defaults the type to Opaque before any webhook sees it.
        if ctx.origin != Origin::Manifest {
            return;
        }
        let Object::Secret(secret) = object else {
            return;
        };
        if secret.type_.as_deref().is_none_or(|t| t.trim().is_empty()) {
            out.push_with(|| Finding::new(
                ID,
                "type",
                "the Secret has no type, so it becomes Opaque; set type (Opaque, kubernetes.io/tls, kubernetes.io/dockerconfigjson, ...) so the keys it must hold are checked",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    fn secret(fields: serde_json::Value) -> Object {
        let mut value = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"}});
        crate::engine::policy::merge(&mut value, fields);
        object(value)
    }

    #[test]
    fn flags_a_missing_or_empty_type_in_a_manifest() {
        for fields in [json!({}), json!({"type": ""})] {
            assert_eq!(
                crate::engine::rules::testing::fields(&run_manifest(ID, &secret(fields), "v1")),
                ["type"]
            );
        }
    }

    #[test]
    fn passes_any_type_and_objects_outside_manifests() {
        for t in ["Opaque", "kubernetes.io/tls", "example.com/custom"] {
            assert!(run_manifest(ID, &secret(json!({"type": t})), "v1").is_empty());
        }
        assert!(run(ID, &secret(json!({}))).is_empty());
    }
}
