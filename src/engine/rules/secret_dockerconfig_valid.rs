//! `secret-dockerconfig-valid`: a `kubernetes.io/dockerconfigjson` Secret holds JSON with an
//! `auths` object whose entries the kubelet can read.
//!
//! Messages count entries instead of naming registries or quoting anything: every byte of the
//! value is the Secret's.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::Value;

use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::secrets::secret_value;
use crate::engine::workload::Kind;
use crate::engine::workload::Object;

pub const ID: &str = "secret-dockerconfig-valid";

const TYPE: &str = "kubernetes.io/dockerconfigjson";
const KEY: &str = ".dockerconfigjson";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Kinds(&[Kind::Secret]),
    sees: &[Sees::Admission],
    summary: "a kubernetes.io/dockerconfigjson Secret holds JSON with an auths object whose auth strings are base64 of user:password",
    why: "an image pull Secret the kubelet cannot read fails every pull from the private registry with ImagePullBackOff",
    fix: "recreate it with `kubectl create secret docker-registry NAME --docker-server=... --docker-username=... --docker-password=...`",
    vap: Vap::No("decodes base64 data and parses it as JSON; CEL cannot parse JSON"),
    build: |_| Ok(Box::new(SecretDockerconfigValid)),
};

struct SecretDockerconfigValid;

const HOW: &str = "kubectl create secret docker-registry writes a valid one";

/// What is wrong with the content, if anything.
fn problem(bytes: &[u8]) -> Option<String> {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Some(format!("{KEY} is not JSON; {HOW}"));
    };
    let Some(top) = value.as_object() else {
        return Some(format!("{KEY} is JSON but not an object with auths; {HOW}"));
    };
    let Some(auths) = top.get("auths") else {
        // `{"registry": {"auth": ...}}` is the older .dockercfg layout.
        let is_entry = |v: &Value| {
            v.as_object().is_some_and(|o| {
                ["auth", "username", "password"]
                    .iter()
                    .any(|k| o.contains_key(*k))
            })
        };
        let old_layout = !top.is_empty() && top.values().all(is_entry);
        let hint = if old_layout {
            " (registries at the top level are the old .dockercfg layout: wrap them in {\"auths\": ...} or use type kubernetes.io/dockercfg)".to_string()
        } else {
            String::new()
        };
        return Some(format!("{KEY} has no auths{hint}; {HOW}"));
    };
    let Some(entries) = auths.as_object() else {
        return Some(format!(
            "auths in {KEY} is not an object of registries; {HOW}"
        ));
    };
    let not_objects = entries.values().filter(|e| !e.is_object()).count();
    let bad_auth = entries
        .values()
        .filter_map(|e| e.get("auth"))
        .filter(|auth| !auth_is_user_password(auth))
        .count();
    let mut wrong = Vec::new();
    match not_objects {
        0 => {}
        1 => wrong.push("1 is not an object".to_string()),
        n => wrong.push(format!("{n} are not objects")),
    }
    match bad_auth {
        0 => {}
        1 => wrong.push("1 has an auth that is not base64 of user:password".to_string()),
        n => wrong.push(format!(
            "{n} have an auth that is not base64 of user:password"
        )),
    }
    if wrong.is_empty() {
        return None;
    }
    Some(format!(
        "of the {} entries in auths, {}; the kubelet rejects the whole Secret; {HOW}",
        entries.len(),
        wrong.join(" and ")
    ))
}

/// The kubelet decodes `auth` as standard base64 and splits it at the first `:`.
fn auth_is_user_password(auth: &Value) -> bool {
    let Some(text) = auth.as_str() else {
        return false;
    };
    if text.is_empty() {
        // An empty auth is ignored, as if it were absent.
        return true;
    }
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .is_ok_and(|raw| raw.contains(&b':'))
}

impl Rule for SecretDockerconfigValid {
    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Object::Secret(secret) = object else {
            return;
        };
        if secret.type_.as_deref() != Some(TYPE) {
            return;
        }
        match secret_value(secret, KEY) {
            None => out.push_with(|| {
                Finding::new(
                    ID,
                    format!("data[{KEY}]"),
                    format!("the {TYPE} Secret has no {KEY}; {HOW}"),
                )
            }),
            Some((field, bytes)) => {
                if let Some(message) = problem(bytes) {
                    out.push_with(|| Finding::new(ID, field, message));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    fn pull_secret(content: &str) -> Object {
        mk_secret(TYPE, json!({KEY: content}))
    }

    #[test]
    fn passes_what_kubectl_create_secret_docker_registry_writes() {
        let auth = STANDARD.encode("robot:pa55-word");
        let config = json!({"auths": {"ghcr.io": {"username": "robot", "password": "pa55-word", "auth": auth}}});
        assert!(run(ID, &pull_secret(&config.to_string())).is_empty());
        let token_only = json!({"auths": {"registry.example.com": {"identitytoken": "abc"}}});
        assert!(run(ID, &pull_secret(&token_only.to_string())).is_empty());
    }

    #[test]
    fn denies_content_the_kubelet_cannot_read_without_quoting_it() {
        let cases = [
            ("not json at all: hunter2", "is not JSON"),
            ("[1, 2]", "not an object with auths"),
            (r#"{"credHelpers": {"gcr.io": "gcloud"}}"#, "has no auths;"),
            (
                r#"{"ghcr.io": {"auth": "cm9ib3Q6cGFzcw=="}}"#,
                "old .dockercfg layout",
            ),
            (r#"{"auths": ["ghcr.io"]}"#, "not an object of registries"),
            (
                r#"{"auths": {"ghcr.io": {"auth": "hunter2!"}, "quay.io": "x"}}"#,
                "of the 2 entries in auths, 1 is not an object and 1 has an auth that is not base64",
            ),
            (
                r#"{"auths": {"ghcr.io": {"auth": "bm8tY29sb24taGVyZQ=="}}}"#,
                "1 has an auth that is not base64 of user:password",
            ),
        ];
        for (content, words) in cases {
            let found = run(ID, &pull_secret(content));
            assert_eq!(fields(&found), ["data[.dockerconfigjson]"], "{content}");
            assert!(found[0].message.contains(words), "{}", found[0].message);
            for secret_bit in ["hunter2", "ghcr.io", "cm9ib3Q", "bm8tY29s"] {
                assert!(
                    !found[0].message.contains(secret_bit),
                    "{}",
                    found[0].message
                );
            }
        }
    }

    #[test]
    fn flags_a_missing_key_and_reads_string_data() {
        let missing = mk_secret(TYPE, json!({"config.json": "{}"}));
        assert_eq!(fields(&run(ID, &missing)), ["data[.dockerconfigjson]"]);
        let string_data = object(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "p"},
            "type": TYPE, "stringData": {KEY: "{"}
        }));
        assert_eq!(
            fields(&run(ID, &string_data)),
            ["stringData[.dockerconfigjson]"]
        );
    }

    #[test]
    fn leaves_other_secret_types_alone() {
        assert!(
            run(
                ID,
                &mk_secret("kubernetes.io/dockercfg", json!({".dockercfg": "x"}))
            )
            .is_empty()
        );
        assert!(run(ID, &mk_secret("Opaque", json!({KEY: "x"}))).is_empty());
    }
}
