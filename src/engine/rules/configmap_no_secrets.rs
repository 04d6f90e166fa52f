//! `configmap-no-secrets`: a ConfigMap holds no key named like a secret and no value shaped
//! like one; secrets belong in a Secret.

use serde::Deserialize;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::secrets::{name_looks_secret, value_is_placeholder, value_looks_secret};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "configmap-no-secrets";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::ConfigMap]),
    sees: &[Sees::Admission],
    summary: "no ConfigMap key named like a secret (params.name_patterns), and no value that looks like one (PEM private key, cloud access key, JWT, URL with a password, vendor token)",
    why: "ConfigMaps have looser RBAC than Secrets and often land in shared Git repositories; anything sensitive belongs in a Secret",
    fix: "move the value into a Secret and read it through secretKeyRef or a Secret volume; rotate it if it was ever committed",
    vap: Vap::No(
        "secret detection stays in the webhook: it matches names in every case style and values by their shape (PEM keys, cloud access keys, JWTs, vendor tokens)",
    ),
    build: |v| Ok(Box::new(ConfigMapNoSecrets(serde_json::from_value(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    name_patterns: Vec<String>,
}

struct ConfigMapNoSecrets(Params);

impl ConfigMapNoSecrets {
    /// The finding for one key, if its value or its name says it holds a secret. The message
    /// names the key and the kind of secret, never the value.
    fn judge(&self, field: &str, key: &str, value: &str) -> Option<Finding> {
        let fix = "move it to a Secret and reference it with secretKeyRef or a secret volume";
        if let Some(kind) = value_looks_secret(value) {
            return Some(Finding::new(
                ID,
                format!("{field}[{key}]"),
                format!("ConfigMap key {key} holds {}; {fix}", kind.describe()),
            ));
        }
        if !value_is_placeholder(value) && name_looks_secret(key, &self.0.name_patterns) {
            return Some(Finding::new(
                ID,
                format!("{field}[{key}]"),
                format!("ConfigMap key {key} is named like a secret and has a value; {fix}"),
            ));
        }
        None
    }
}

impl Rule for ConfigMapNoSecrets {
    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::ConfigMap(cm) = object else {
            return;
        };
        for (key, value) in cm.data.iter().flatten() {
            out.extend(self.judge("data", key, value));
        }
        for (key, value) in cm.binary_data.iter().flatten() {
            // Binary files can still carry text secrets (a key file added with --from-file).
            out.extend(self.judge("binaryData", key, &String::from_utf8_lossy(&value.0)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    const AWS_KEY: &str = "AKIAZ7QX4LB2M5T3PRKW";

    #[test]
    fn flags_secret_shaped_values_under_any_key_without_echoing_them() {
        let object = mk_configmap(json!({
            "tls.key": keys::P256_PKCS8,
            "aws.conf": format!("[default]\naws_access_key_id = {AWS_KEY}\n"),
            "DATABASE_URL": "postgres://shop:Xk82-pq@db:5432/orders",
            "log_level": "info",
        }));
        let found = run(ID, &object);
        assert_eq!(
            fields(&found),
            ["data[DATABASE_URL]", "data[aws.conf]", "data[tls.key]"]
        );
        assert!(found[0].message.contains("a URL with a password"));
        assert!(found[1].message.contains("an AWS access key id"));
        assert!(found[2].message.contains("a PEM private key"));
        for f in &found {
            assert!(!f.message.contains("Xk82") && !f.message.contains(AWS_KEY));
            assert!(!f.message.contains("MIG") && f.message.contains("Secret"));
        }
    }

    #[test]
    fn flags_keys_named_like_secrets_that_hold_a_value() {
        let object = mk_configmap(json!({
            "DB_PASSWORD": "hunter2",
            "stripeApiKey": "1234",
            "client-secret.json": "{}",
            "PASSWORD_FILE": "/run/secrets/db",
            "TOKEN_TTL_SECONDS": "3600",
            "API_TOKEN": "${API_TOKEN}",
            "ENABLE_PASSWORD": "true",
            "SECRET": "",
        }));
        assert_eq!(
            fields(&run(ID, &object)),
            [
                "data[DB_PASSWORD]",
                "data[client-secret.json]",
                "data[stripeApiKey]"
            ]
        );
    }

    #[test]
    fn the_name_patterns_are_a_param() {
        let object = mk_configmap(json!({"SIGNING_SALT": "abc", "DB_PASSWORD": "x"}));
        assert_eq!(
            fields(&run_with(ID, json!({"name_patterns": ["SALT"]}), &object)),
            ["data[SIGNING_SALT]"]
        );
    }

    #[test]
    fn looks_into_binary_data_too() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(keys::RSA_PKCS1);
        let object = object(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "binaryData": {"server.key": b64, "logo.png": "iVBORw0KGgo="}
        }));
        assert_eq!(fields(&run(ID, &object)), ["binaryData[server.key]"]);
    }

    #[test]
    fn passes_ordinary_configuration() {
        let object = mk_configmap(json!({
            "nginx.conf": "server { listen 8080; location / { proxy_pass http://web:8080; } }",
            "application.properties": "spring.datasource.url=jdbc:postgresql://db:5432/orders\nspring.datasource.username=app\n",
            "SPECIAL_LEVEL": "very",
            "ca.crt": mk_cert(keys::P256_PKCS8, NOW, NOW + DAY),
        }));
        assert!(run(ID, &object).is_empty());
        assert!(run(ID, &mk_configmap(json!(null))).is_empty());
    }
}
