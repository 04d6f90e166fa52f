//! `configmap-size`: a ConfigMap's `data` and `binaryData` stay under `params.max_bytes`.

use serde::Deserialize;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "configmap-size";

/// What the API server accepts at most, counted the same way.
const API_SERVER_LIMIT: u64 = 1024 * 1024;

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::ConfigMap]),
    sees: &[Sees::Admission],
    summary: "data + binaryData stay under params.max_bytes (default 900 KiB; the API server refuses more than 1 MiB)",
    why: "the API server refuses ConfigMaps over 1 MiB, so one that is close breaks on the next small addition; large files belong in the image or a volume",
    fix: "ship large files in the image or a volume, or split the data over several smaller ConfigMaps",
    vap: Vap::No(
        "not exported yet: counting the bytes of every key and value (binaryData decoded) stays in the webhook; the API server's own 1 MiB ceiling still applies",
    ),
    build: |v| Ok(Box::new(ConfigMapSize(serde_json::from_value(v)?))),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    max_bytes: u64,
}

struct ConfigMapSize(Params);

impl Rule for ConfigMapSize {
    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::ConfigMap(cm) = object else {
            return;
        };
        // Keys count too, as the API server counts them.
        let text: u64 = cm
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        let binary: u64 = cm
            .binary_data
            .iter()
            .flatten()
            .map(|(k, v)| (k.len() + v.0.len()) as u64)
            .sum();
        let total = text + binary;
        if total <= self.0.max_bytes {
            return;
        }
        let over_the_top = if total > API_SERVER_LIMIT {
            ", more than the API server's 1 MiB limit"
        } else {
            ""
        };
        out.push_with(|| Finding::new(
            ID,
            "data",
            format!(
                "ConfigMap data and binaryData hold {total} bytes, over the {} allowed{over_the_top}; split it, or ship large files in the image or a volume",
                self.0.max_bytes
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    #[test]
    fn flags_data_and_binary_data_over_the_limit_counting_keys() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 60]);
        let object = object(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"a": "x".repeat(40)}, "binaryData": {"b": b64}
        }));
        // 1 + 40 + 1 + 60 = 102 bytes.
        assert!(run_with(ID, json!({"max_bytes": 102}), &object).is_empty());
        let found = run_with(ID, json!({"max_bytes": 101}), &object);
        assert_eq!(fields(&found), ["data"]);
        assert!(found[0].message.contains("102 bytes, over the 101"));
    }

    #[test]
    fn says_when_the_api_server_would_refuse_it() {
        let object = mk_configmap(json!({"blob": "x".repeat(1_100_000)}));
        let found = run(ID, &object);
        assert!(found[0].message.contains("1 MiB"), "{}", found[0].message);
    }

    #[test]
    fn passes_under_the_default_limit() {
        assert!(run(ID, &mk_configmap(json!({"blob": "x".repeat(900_000)}))).is_empty());
        assert!(run(ID, &mk_configmap(json!(null))).is_empty());
        assert_eq!(
            run(ID, &mk_configmap(json!({"blob": "x".repeat(921_600)}))).len(),
            1
        );
    }
}
