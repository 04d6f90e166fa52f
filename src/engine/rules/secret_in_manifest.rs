//! `secret-in-manifest`: a manifest file does not carry Secret values.

use crate::engine::rule::{
    Context, Finding, Findings, Origin, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "secret-in-manifest";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Secret]),
    sees: &[Sees::Offline],
    summary: "a Secret with data/stringData sits in a manifest file (a secret committed to Git)",
    why: "base64 is encoding, not encryption: a Secret committed to Git is one `base64 -d` away from anyone who can read the repository",
    fix: "keep Secret values out of Git (Sealed Secrets, SOPS or an external secret store) and rotate what was committed",
    vap: Vap::No(
        "fires only on manifest files: the API server defaults or rejects the field before any admission check sees it",
    ),
    build: |_| Ok(Box::new(SecretInManifest)),
};

struct SecretInManifest;

impl Rule for SecretInManifest {
    fn check(&self, object: &Object, ctx: &Context, out: &mut Findings) {
        // Every stored Secret holds its values; only a file in a repository is the mistake.
        if ctx.origin != Origin::Manifest {
            return;
        }
        let Object::Secret(secret) = object else {
            return;
        };
        let data = secret.data.as_ref().map_or(0, |d| d.len());
        let string_data = secret.string_data.as_ref().map_or(0, |d| d.len());
        if data + string_data == 0 {
            return;
        }
        // Count the values, never show one.
        let field = if data > 0 { "data" } else { "stringData" };
        out.push_with(|| Finding::new(
            ID,
            field,
            format!(
                "the manifest holds {} Secret value(s) in plain base64 or text; keep secret values out of Git and deliver them with External Secrets, Sealed Secrets, SOPS or --set at install time",
                data + string_data
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    fn secret(fields: serde_json::Value) -> Object {
        let mut value = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "db", "namespace": "shop"}});
        crate::engine::policy::merge(&mut value, fields);
        object(value)
    }

    #[test]
    fn flags_values_in_data_or_string_data() {
        let cases = [
            (json!({"data": {"password": "aHVudGVyMg=="}}), "data"),
            (json!({"stringData": {"password": "hunter2"}}), "stringData"),
            (
                json!({"data": {"a": "YQ=="}, "stringData": {"b": "b"}}),
                "data",
            ),
        ];
        for (fields, field) in cases {
            let found = run_manifest(ID, &secret(fields.clone()), "v1");
            assert_eq!(
                crate::engine::rules::testing::fields(&found),
                [field],
                "{fields}"
            );
            assert!(
                !found[0].message.contains("hunter2") && !found[0].message.contains("aHVudGVyMg")
            );
        }
    }

    #[test]
    fn passes_empty_secrets_and_stored_ones() {
        assert!(run_manifest(ID, &secret(json!({})), "v1").is_empty());
        assert!(run_manifest(ID, &secret(json!({"data": {}})), "v1").is_empty());
        assert!(run(ID, &secret(json!({"stringData": {"password": "x"}}))).is_empty());
    }
}
