//! What a platform engineer installs: the `deploy/` set rendered for a namespace and a CA
//! (`bulwark manifests`), and the serving certificates (`bulwark certs`).
//!
//! The YAML files of `deploy/` are compiled in, so the binary prints exactly what the
//! repository ships.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::manifests::{Item, parse_text};

/// The files of the kustomize base, in the order `deploy/kustomization.yaml` lists them.
pub const DEPLOY_FILES: &[(&str, &str)] = &[
    (
        "crds/policyreports.yaml",
        include_str!("../deploy/crds/policyreports.yaml"),
    ),
    (
        "crds/openreports.yaml",
        include_str!("../deploy/crds/openreports.yaml"),
    ),
    ("namespace.yaml", include_str!("../deploy/namespace.yaml")),
    (
        "serviceaccount.yaml",
        include_str!("../deploy/serviceaccount.yaml"),
    ),
    ("rbac.yaml", include_str!("../deploy/rbac.yaml")),
    ("policy.yaml", include_str!("../deploy/policy.yaml")),
    ("deployment.yaml", include_str!("../deploy/deployment.yaml")),
    ("pdb.yaml", include_str!("../deploy/pdb.yaml")),
    ("service.yaml", include_str!("../deploy/service.yaml")),
    ("webhooks.yaml", include_str!("../deploy/webhooks.yaml")),
    ("audit.yaml", include_str!("../deploy/audit.yaml")),
];

/// The namespace the files are written for.
pub const DEFAULT_NAMESPACE: &str = "bulwark-system";
const CA_INJECTION: &str = "cert-manager.io/inject-ca-from";

/// How to render the set.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// PEM bytes of the CA that signed the serving certificate; its base64 becomes `caBundle`.
    pub ca_pem: Vec<u8>,
    pub namespace: String,
    /// `https://HOST:PORT`: only the webhook configurations, calling this URL instead of the
    /// in-cluster Service (for a webhook running outside the cluster).
    pub webhook_url: Option<String>,
    /// `Fail` or `Ignore` for both webhooks; `None` keeps Fail (validate) and Ignore (mutate).
    pub failure_policy: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the built-in deploy file {0} does not parse: {1}")]
    Builtin(&'static str, String),
    #[error(
        "--webhook-url must start with https:// (the API server only calls webhooks over TLS), got {0}"
    )]
    NotHttps(String),
    #[error("--ca holds no PEM certificate")]
    NotACertificate,
}

/// The deploy set as one multi-document YAML text.
pub fn render(options: &RenderOptions) -> Result<String, RenderError> {
    if !String::from_utf8_lossy(&options.ca_pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(RenderError::NotACertificate);
    }
    if let Some(url) = &options.webhook_url
        && !url.starts_with("https://")
    {
        return Err(RenderError::NotHttps(url.clone()));
    }
    let ca_bundle = base64::engine::general_purpose::STANDARD.encode(&options.ca_pem);
    let mut out = String::new();
    for (name, text) in DEPLOY_FILES {
        for item in parse_text(name, text) {
            let mut value = match item {
                Item::Object { raw, .. } | Item::Skipped { raw: Some(raw), .. } => raw,
                Item::Unread { raw, .. } => *raw,
                Item::Skipped { raw: None, .. } => continue,
                Item::Error { message, .. } => return Err(RenderError::Builtin(name, message)),
            };
            let kind = value["kind"].as_str().unwrap_or_default().to_string();
            let is_webhook = kind.ends_with("WebhookConfiguration");
            if options.webhook_url.is_some() && !is_webhook {
                continue;
            }
            if options.namespace != DEFAULT_NAMESPACE {
                rename_namespace(&mut value, &options.namespace);
            }
            if is_webhook {
                configure_webhooks(&mut value, &kind, &ca_bundle, options);
            }
            out.push_str("---\n");
            out.push_str(&crate::offline::mutate::to_yaml(&value));
        }
    }
    Ok(out)
}

/// Replaces the default namespace in every string of the object (metadata, service
/// references, the namespaceSelector, RBAC subjects, the policy's exemptions).
fn rename_namespace(value: &mut Value, namespace: &str) {
    match value {
        Value::String(s) if s.contains(DEFAULT_NAMESPACE) => {
            *s = s.replace(DEFAULT_NAMESPACE, namespace)
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| rename_namespace(v, namespace)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| rename_namespace(v, namespace)),
        _ => {}
    }
}

fn configure_webhooks(value: &mut Value, kind: &str, ca_bundle: &str, options: &RenderOptions) {
    // The CA is given: cert-manager must not overwrite it.
    if let Some(annotations) = value["metadata"]["annotations"].as_object_mut() {
        annotations.remove(CA_INJECTION);
        if annotations.is_empty() {
            value["metadata"]
                .as_object_mut()
                .map(|m| m.remove("annotations"));
        }
    }
    let Some(webhooks) = value["webhooks"].as_array_mut() else {
        return;
    };
    for webhook in webhooks {
        let path = webhook["clientConfig"]["service"]["path"]
            .as_str()
            .unwrap_or(if kind.starts_with("Validating") {
                "/validate"
            } else {
                "/mutate"
            })
            .to_string();
        webhook["clientConfig"]["caBundle"] = json!(ca_bundle);
        if let Some(base) = &options.webhook_url {
            webhook["clientConfig"] = json!({"url": format!("{}{path}", base.trim_end_matches('/')), "caBundle": ca_bundle});
        }
        if let Some(policy) = &options.failure_policy {
            webhook["failurePolicy"] = json!(policy);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> RenderOptions {
        RenderOptions {
            ca_pem: b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_vec(),
            namespace: DEFAULT_NAMESPACE.into(),
            webhook_url: None,
            failure_policy: None,
        }
    }

    fn docs(text: &str) -> Vec<Value> {
        serde_saphyr::from_multiple::<Value>(text)
            .expect("yaml")
            .into_iter()
            .filter(|v| !v.is_null())
            .collect()
    }

    #[test]
    fn the_embedded_files_are_the_kustomization_resources() {
        let kustomization: Value =
            serde_saphyr::from_str(include_str!("../deploy/kustomization.yaml")).expect("yaml");
        let listed: Vec<&str> = kustomization["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let embedded: Vec<&str> = DEPLOY_FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(listed, embedded);
    }

    #[test]
    fn renders_every_object_with_the_ca_bundle_and_without_the_injection_annotation() {
        let text = render(&options()).expect("renders");
        let all = docs(&text);
        let kinds: Vec<&str> = all.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "CustomResourceDefinition",
                "CustomResourceDefinition",
                "CustomResourceDefinition",
                "CustomResourceDefinition",
                "Namespace",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "ConfigMap",
                "Deployment",
                "PodDisruptionBudget",
                "Service",
                "ValidatingWebhookConfiguration",
                "MutatingWebhookConfiguration",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "CronJob"
            ]
        );
        // From here on, index as if the CRDs were not there.
        let all: Vec<Value> = all
            .into_iter()
            .skip_while(|d| d["kind"] == "CustomResourceDefinition")
            .collect();
        let expected = base64::engine::general_purpose::STANDARD.encode(&options().ca_pem);
        for webhook_config in &all[8..10] {
            assert!(webhook_config["metadata"].get("annotations").is_none());
            let webhook = &webhook_config["webhooks"][0];
            assert_eq!(webhook["clientConfig"]["caBundle"], expected.as_str());
            assert_eq!(
                webhook["clientConfig"]["service"]["namespace"],
                "bulwark-system"
            );
        }
        assert_eq!(all[8]["webhooks"][0]["failurePolicy"], "Fail");
        assert_eq!(all[9]["webhooks"][0]["failurePolicy"], "Ignore");
    }

    #[test]
    fn another_namespace_is_used_everywhere() {
        let text = render(&RenderOptions {
            namespace: "admission".into(),
            ..options()
        })
        .expect("renders");
        assert!(!text.contains("bulwark-system"), "{text}");
        let all: Vec<Value> = docs(&text)
            .into_iter()
            .skip_while(|d| d["kind"] == "CustomResourceDefinition")
            .collect();
        assert_eq!(all[0]["metadata"]["name"], "admission");
        assert_eq!(all[3]["subjects"][0]["namespace"], "admission");
        assert_eq!(
            all[8]["webhooks"][0]["clientConfig"]["service"]["namespace"],
            "admission"
        );
        assert_eq!(
            all[8]["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]["values"][1],
            "admission"
        );
    }

    #[test]
    fn a_webhook_url_renders_only_the_webhooks_with_url_client_configs() {
        let text = render(&RenderOptions {
            webhook_url: Some("https://127.0.0.1:8443".into()),
            failure_policy: Some("Ignore".into()),
            ..options()
        })
        .expect("renders");
        let all = docs(&text);
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0]["webhooks"][0]["clientConfig"]["url"],
            "https://127.0.0.1:8443/validate"
        );
        assert_eq!(
            all[1]["webhooks"][0]["clientConfig"]["url"],
            "https://127.0.0.1:8443/mutate"
        );
        assert!(
            all[0]["webhooks"][0]["clientConfig"]
                .get("service")
                .is_none()
        );
        assert_eq!(all[0]["webhooks"][0]["failurePolicy"], "Ignore");
        assert!(
            render(&RenderOptions {
                webhook_url: Some("http://x".into()),
                ..options()
            })
            .is_err()
        );
        assert!(
            render(&RenderOptions {
                ca_pem: b"nope".to_vec(),
                ..options()
            })
            .is_err()
        );
    }
}
