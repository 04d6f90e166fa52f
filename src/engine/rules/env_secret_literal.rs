//! `env-secret-literal`: secret-looking environment variables come from a Secret, not a literal.

use serde::Deserialize;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::secrets::{name_looks_secret, value_is_placeholder};
use crate::engine::workload::Object;

pub const ID: &str = "env-secret-literal";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "an env var whose name looks secret (params.name_patterns) uses valueFrom.secretKeyRef, not a literal value",
    why: "a literal in the pod spec is readable by anyone who can read the workload and ends up in Git; Secrets have stricter RBAC",
    fix: "put the value in a Secret and use valueFrom.secretKeyRef (or envFrom.secretRef); rotate it, it has been exposed",
    vap: Vap::No(
        "secret detection stays in the webhook: it matches names in every case style and values by their shape (PEM keys, cloud access keys, JWTs, vendor tokens)",
    ),
    build: |v| Ok(Box::new(EnvSecretLiteral(serde_json::from_value(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    name_patterns: Vec<String>,
}

struct EnvSecretLiteral(Params);

impl Rule for EnvSecretLiteral {
    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for c in containers(&pod, ContainerSet::All) {
            for var in c.env() {
                let Some(value) = var.value.as_deref() else {
                    continue;
                };
                // `$(OTHER_VAR)` only references another variable, and a switch such as
                // MYSQL_ALLOW_EMPTY_PASSWORD=1 holds no secret.
                if value_is_placeholder(value)
                    || !name_looks_secret(&var.name, &self.0.name_patterns)
                {
                    continue;
                }
                // Name the variable, never its value.
                out.push_with(|| Finding::new(
                    ID,
                    c.field(&format!("env[{}].value", var.name)),
                    format!("{} sets {} as a literal value; store it in a Secret and use valueFrom.secretKeyRef", c.describe(), var.name),
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

    const VALUE: &str = "hunter2-s3cr3t-value";

    #[test]
    fn flags_literal_secrets_without_echoing_them() {
        let spec = one(
            json!({"env": [{"name": "DB_PASSWORD", "value": VALUE}, {"name": "LOG_LEVEL", "value": "info"}]}),
        );
        for object in [
            mk_deployment(3, spec.clone()),
            mk_pod(spec.clone()),
            mk_cronjob(spec),
        ] {
            let found = run(ID, &object);
            assert_eq!(found.len(), 1);
            assert!(
                found[0]
                    .field
                    .ends_with("containers[web].env[DB_PASSWORD].value")
            );
            assert!(!found[0].message.contains(VALUE) && !found[0].message.contains("hunter2"));
        }
    }

    #[test]
    fn passes_secret_refs_references_and_harmless_names() {
        let spec = one(json!({"env": [
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "API_TOKEN", "value": "$(TOKEN_FROM_SECRET)"},
            {"name": "PASSWORD_FILE", "value": "/run/secrets/db"},
            {"name": "EMPTY_SECRET", "value": ""},
            {"name": "MYSQL_ALLOW_EMPTY_PASSWORD", "value": "1"},
            {"name": "MYSQL_RANDOM_ROOT_PASSWORD", "value": "yes"},
            {"name": "LOG_LEVEL", "value": "debug"}
        ]}));
        assert!(run(ID, &mk_deployment(3, spec)).is_empty());
    }
}
