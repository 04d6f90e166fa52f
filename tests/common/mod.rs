//! Shared helpers for the integration tests: a real bulwark server on 127.0.0.1:0 with real
//! TLS (a fresh rcgen CA per server), a real HTTPS client that trusts only that CA, and
//! builders for AdmissionReviews and compliant objects.

#![allow(dead_code)]

pub mod raw;
pub mod spawned;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulwark::engine::Policy;
use bulwark::server::{self, AppState, Limits, Running, tls};
use serde_json::{Value, json};

/// A log writer that keeps what is written, for tests that read the log a server wrote.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("log lock").clone()).expect("utf-8 log")
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A running server and a client for it.
pub struct TestServer {
    pub running: Running,
    pub client: reqwest::Client,
    pub base: String,
    pub admin: String,
    /// The CA that signed the server's certificate.
    pub ca_pem: String,
}

impl TestServer {
    pub async fn start(policy: Policy) -> TestServer {
        TestServer::start_with(policy, Limits::default()).await
    }

    pub async fn start_with(policy: Policy, limits: Limits) -> TestServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let issued = bulwark::certs::issue(&names, 30).expect("certificates");
        let material = tls::TlsMaterial {
            cert_pem: issued.cert_pem.into_bytes(),
            key_pem: issued.key_pem.into_bytes(),
            client_ca_pem: None,
        };
        let config = tls::server_config(&material).expect("tls config");
        let running = server::start(
            AppState::new(policy),
            "127.0.0.1:0".parse().expect("addr"),
            "127.0.0.1:0".parse().expect("addr"),
            config,
            limits,
        )
        .await
        .expect("server starts");
        let ca = reqwest::Certificate::from_pem(issued.ca_cert_pem.as_bytes()).expect("ca");
        let client = reqwest::Client::builder()
            .tls_backend_rustls()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let base = format!("https://localhost:{}", running.addr.port());
        let admin = format!("http://{}", running.admin_addr);
        TestServer {
            running,
            client,
            base,
            admin,
            ca_pem: issued.ca_cert_pem,
        }
    }

    /// POSTs raw bytes to `path`; returns the status and the body text.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request completes");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// POSTs a review to /validate and returns its `response`, asserting HTTP 200 and the uid.
    pub async fn validate(&self, review: &Value) -> Value {
        self.call("/validate", review).await
    }

    pub async fn call(&self, path: &str, review: &Value) -> Value {
        let (status, body) = self
            .post_raw(path, serde_json::to_vec(review).expect("json"))
            .await;
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).expect("a JSON review");
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(answer["apiVersion"], review["apiVersion"]);
        assert_eq!(
            answer["response"]["uid"], review["request"]["uid"],
            "uid echoed"
        );
        answer["response"].clone()
    }

    /// The admin port's `/metrics` text.
    pub async fn metrics(&self) -> String {
        metrics_at(&self.admin).await
    }
}

/// The `/metrics` text of the admin port at `base` (`http://host:port`).
pub async fn metrics_at(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

static UID: AtomicU64 = AtomicU64::new(1);

/// A fresh request uid.
pub fn uid() -> String {
    format!(
        "00000000-0000-4000-8000-{:012}",
        UID.fetch_add(1, Ordering::Relaxed)
    )
}

/// An AdmissionReview v1 for creating `object` in `namespace`, shaped as the API server sends it.
pub fn review(object: &Value, operation: &str, namespace: Option<&str>) -> Value {
    review_with_old(object, None, operation, namespace)
}

pub fn review_with_old(
    object: &Value,
    old: Option<&Value>,
    operation: &str,
    namespace: Option<&str>,
) -> Value {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = object["kind"].as_str().unwrap_or_default();
    let namespace = namespace
        .map(str::to_string)
        .or_else(|| object["metadata"]["namespace"].as_str().map(String::from));
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid(),
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
            "name": object["metadata"]["name"],
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": if operation == "DELETE" { Value::Null } else { object.clone() },
            "oldObject": old.cloned().unwrap_or(Value::Null),
            "dryRun": false
        }
    })
}

/// A pod spec that passes every rule: the deployment guide's production template.
pub fn compliant_pod_spec() -> Value {
    json!({
        "serviceAccountName": "checkout",
        "terminationGracePeriodSeconds": 30,
        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
             "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "checkout"}}}}]}},
        "containers": [{
            "name": "checkout",
            "image": "registry.example.com/shop/checkout:2.14.3",
            "ports": [{"name": "http", "containerPort": 8080}],
            "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "livenessProbe": {"httpGet": {"path": "/livez", "port": 8080}},
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}},
            "lifecycle": {"preStop": {"sleep": {"seconds": 10}}},
            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                "capabilities": {"drop": ["ALL"]}}
        }]
    })
}

pub fn labels() -> Value {
    json!({"app.kubernetes.io/name": "checkout", "app.kubernetes.io/part-of": "shop"})
}

/// The seed's production Deployment in namespace `shop`.
pub fn compliant_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop", "labels": labels()},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "checkout"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": labels()}, "spec": compliant_pod_spec()}
        }
    })
}

pub fn compliant_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "checkout", "namespace": "shop", "labels": labels()},
        "spec": compliant_pod_spec()
    })
}

pub fn compliant_cronjob() -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "report", "namespace": "shop", "labels": labels()},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"metadata": {"labels": labels()}, "spec": compliant_pod_spec()}}}}
    })
}

/// Where a rule's finding shows up in a response, for the action it has.
pub fn shows(response: &Value, rule: &str, action: &str) -> bool {
    let tag = format!("[{rule}]");
    let message = response["status"]["message"].as_str().unwrap_or_default();
    let warnings = response["warnings"].as_array().cloned().unwrap_or_default();
    let warned = warnings
        .iter()
        .any(|w| w.as_str().is_some_and(|w| w.starts_with(&tag)));
    let annotated = response["auditAnnotations"].get(rule).is_some();
    match action {
        "deny" => response["allowed"] == false && message.contains(&tag) && !warned,
        "warn" => warned && !message.contains(&tag),
        "audit" => response["allowed"] == true && annotated && !warned,
        _ => unreachable!(),
    }
}

/// Where the pod spec sits in an object, as a JSON pointer.
pub fn pod_spec_pointer(object: &Value) -> &'static str {
    match object["kind"].as_str() {
        Some("Pod") => "/spec",
        Some("CronJob") => "/spec/jobTemplate/spec/template/spec",
        _ => "/spec/template/spec",
    }
}

/// The shared corpus of third-party manifests, if present.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    dir.is_dir().then_some(dir)
}

/// Every `.yaml`/`.yml`/`.json` file under `dir`, sorted.
pub fn manifest_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The documents of a manifest file as JSON values (YAML or JSON, multi-document).
pub fn documents(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("readable");
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d.is_object())
        .collect()
}

// === other kinds ===

/// Test-only private keys (see `tests/fixtures/tls/README.md`).
pub const RSA_KEY: &str = include_str!("../fixtures/tls/rsa-2048.pkcs8.key");
pub const RSA_KEY_PKCS1: &str = include_str!("../fixtures/tls/rsa-2048.pkcs1.key");
pub const RSA_OTHER_KEY: &str = include_str!("../fixtures/tls/rsa-other.pkcs8.key");
pub const RSA_ENCRYPTED_KEY: &str = include_str!("../fixtures/tls/rsa-2048.encrypted.key");
pub const EC_KEY: &str = include_str!("../fixtures/tls/ec-p256.pkcs8.key");
pub const EC_KEY_SEC1: &str = include_str!("../fixtures/tls/ec-p256.sec1.key");

/// Standard base64, as Secret `data` and ConfigMap `binaryData` carry values.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A self-signed certificate for `shop.example.com` and the PKCS#8 key `key_pem`, valid from
/// `from_days` to `to_days` around the real clock (the server judges with the real clock).
pub fn certificate(key_pem: &str, from_days: i64, to_days: i64) -> String {
    let key = rcgen::KeyPair::from_pem(key_pem).expect("a PKCS#8 test key");
    let mut params =
        rcgen::CertificateParams::new(vec!["shop.example.com".to_string()]).expect("params");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    params.self_signed(&key).expect("certificate").pem()
}

/// Metadata every compliant object of namespace `shop` carries.
fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "shop", "labels": labels()})
}

/// A `kubernetes.io/tls` Secret holding `cert` and `key` (PEM text, encoded here).
pub fn tls_secret(cert: &str, key: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": meta("checkout-tls"),
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(cert), "tls.key": b64(key)}
    })
}

/// A TLS Secret valid for 90 days, with an ECDSA key in SEC1 form.
pub fn compliant_tls_secret() -> Value {
    tls_secret(&certificate(EC_KEY, -1, 90), EC_KEY_SEC1)
}

/// An image pull Secret holding `config` as its `.dockerconfigjson`.
pub fn pull_secret(config: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": meta("registry"),
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64(config)}
    })
}

pub fn compliant_pull_secret() -> Value {
    let auth = b64("robot:Rg7-pull-token-x81");
    pull_secret(&json!({"auths": {"registry.example.com": {"auth": auth}}}).to_string())
}

pub fn compliant_configmap() -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("checkout-config"),
        "data": {"LOG_LEVEL": "info", "DB_HOST": "db.shop.svc", "PASSWORD_FILE": "/run/secrets/db"}
    })
}

pub fn compliant_ingress() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("checkout"),
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["*.example.com"], "secretName": "wildcard-tls"}],
            "rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "checkout", "port": {"name": "http"}}}}
            ]}}]
        }
    })
}

pub fn compliant_service() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service", "metadata": meta("checkout"),
        "spec": {"selector": {"app.kubernetes.io/name": "checkout"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    })
}

pub fn compliant_hpa() -> Value {
    json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta("checkout"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
            "minReplicas": 3, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300,
                         "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]}}
        }
    })
}

pub fn compliant_pdb() -> Value {
    json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("checkout"),
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "checkout"}}}
    })
}

/// The seed's NetworkPolicy: ingress from the ingress controller, egress to DNS and the database.
pub fn compliant_network_policy() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("checkout"),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "checkout"}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]}],
            "egress": [
                {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}}}],
                 "ports": [{"protocol": "TCP", "port": 5432}]}
            ]
        }
    })
}

/// The seed's Role: read its own ConfigMaps and one named Secret.
pub fn compliant_role() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta("checkout"),
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["checkout-db"], "verbs": ["get"]}
        ]
    })
}

pub fn compliant_cluster_role() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "checkout-nodes", "labels": labels()},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]
    })
}

/// Runs the built `bulwark` binary with `args`, feeding `stdin` if given. The environment's
/// BULWARK_POLICY is removed so a developer's setting cannot change what a test sees.
pub fn bulwark_cli(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .env_remove("BULWARK_POLICY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bulwark runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("bulwark finishes")
}
