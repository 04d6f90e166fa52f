//! How the cost of one review grows with its size: adversarial objects at 64 KiB, 256 KiB and
//! 1 MiB, each judged through `review::answer` as the webhook does it.
//!
//! Every case is built so that a detector or a rule loop meets its worst input: a value that
//! repeats a detector's trigger (`-----BEGIN `, `LS0tLS1CRUdJT`, `ghp_`, ...) without ever
//! completing a secret, an Ingress whose hosts match none of its many TLS hosts, a Deployment
//! with thousands of containers, env vars or ports, an object with thousands of annotations.
//! Criterion reports bytes per second: linear work keeps it flat across the three sizes,
//! quadratic work divides it by four at each step.

use bulwark::engine::Policy;
use bulwark::server::review::{Endpoint, answer};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

// The same allocator as the binary, so the numbers are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: i64 = 1_700_000_000;
const SIZES: [(usize, &str); 3] = [
    (64 << 10, "64KiB"),
    (256 << 10, "256KiB"),
    (1 << 20, "1MiB"),
];

/// A named adversarial object, built at a given size in bytes.
pub(crate) type Case = (&'static str, fn(usize) -> Value);

/// An AdmissionReview for `object` (with `old` on UPDATE).
pub(crate) fn review(object: &Value, operation: &str, old: Option<&Value>) -> Vec<u8> {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let body = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "7f0e3a52-complexity",
            "kind": {"group": group, "version": version, "kind": object["kind"]},
            "resource": {"group": group, "version": version, "resource": "things"},
            "namespace": "shop",
            "operation": operation,
            "userInfo": {"username": "bench"},
            "object": object,
            "oldObject": old,
            "dryRun": false
        }
    });
    serde_json::to_vec(&body).expect("a review serializes")
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "shop", "labels": {"app.kubernetes.io/name": name}})
}

/// `unit` repeated until the text is `size` bytes long.
fn repeated(unit: &str, size: usize) -> String {
    unit.repeat(size / unit.len() + 1)[..size].to_string()
}

fn config_map(value: String) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("settings"),
           "data": {"settings.txt": value}})
}

/// One ConfigMap value that repeats a detector's trigger and never completes a secret.
pub(crate) fn detector_cases() -> Vec<Case> {
    vec![
        ("configmap-base64-pem-marker", |n| {
            config_map(repeated("LS0tLS1CRUdJT", n))
        }),
        ("configmap-pem-private-key-header", |n| {
            config_map(repeated("-----BEGIN RSA PRIVATE KEY-----", n))
        }),
        ("configmap-pem-begin", |n| {
            config_map(repeated("-----BEGIN ", n))
        }),
        ("configmap-vendor-prefix", |n| {
            config_map(format!("x{}", repeated("ghp_", n - 1)))
        }),
        ("configmap-jwt-prefix", |n| config_map(repeated("eyJ.", n))),
        ("configmap-aws-prefix", |n| config_map(repeated("AKIA", n))),
        ("configmap-url-scheme", |n| {
            config_map(repeated("db://user:${PASSWORD}@", n))
        }),
        ("configmap-gcp-key-markers", |n| {
            config_map(repeated(r#""type": "service_account", "#, n))
        }),
        ("configmap-many-keys", |n| {
            let data: serde_json::Map<String, Value> = (0..n / 48)
                .map(|i| (format!("DB_PASSWORD_{i}"), json!(format!("value-{i:08}"))))
                .collect();
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("settings"),
                   "data": data})
        }),
    ]
}

pub(crate) fn container(i: usize) -> Value {
    json!({"name": format!("c{i}"), "image": "registry.example.com/shop/app:latest"})
}

pub(crate) fn deployment(containers: Vec<Value>, annotations: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
           "spec": {"replicas": 3,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}, "annotations": annotations},
                                 "spec": {"containers": containers}}}})
}

/// Objects that are wide rather than deep: every rule loop meets thousands of items.
pub(crate) fn wide_cases() -> Vec<Case> {
    vec![
        ("ingress-hosts-by-tls-hosts", |n| {
            // A third of the bytes in rules, two thirds in TLS hosts, none matching.
            let rules: Vec<Value> = (0..n / 3 / 24)
                .map(|i| json!({"host": format!("h{i}.shop.example")}))
                .collect();
            let hosts: Vec<String> = (0..n * 2 / 3 / 20)
                .map(|i| format!("t{i}.tls.example"))
                .collect();
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("edge"),
                   "spec": {"ingressClassName": "nginx", "rules": rules,
                            "tls": [{"hosts": hosts, "secretName": "edge-tls"}]}})
        }),
        ("deployment-containers", |n| {
            deployment((0..n / 64).map(container).collect(), json!({}))
        }),
        ("deployment-env-vars", |n| {
            let env: Vec<Value> = (0..n / 48)
                .map(|i| json!({"name": format!("API_TOKEN_{i}"), "value": format!("v{i:08}")}))
                .collect();
            let mut c = container(0);
            c["env"] = json!(env);
            deployment(vec![c], json!({}))
        }),
        ("deployment-ports", |n| {
            let ports: Vec<Value> = (0..n / 40)
                .map(|i| json!({"name": format!("p{i}"), "containerPort": 1024 + (i % 60000)}))
                .collect();
            let mut c = container(0);
            c["ports"] = json!(ports);
            deployment(vec![c], json!({}))
        }),
        ("deployment-annotations", |n| {
            let annotations: serde_json::Map<String, Value> = (0..n / 40)
                .map(|i| (format!("example.com/note-{i}"), json!(format!("n{i:08}"))))
                .collect();
            deployment(vec![container(0)], Value::Object(annotations))
        }),
        ("ingress-foreign-annotations", |n| {
            let annotations: serde_json::Map<String, Value> = (0..n / 56)
                .map(|i| {
                    (
                        format!("traefik.ingress.kubernetes.io/setting-{i}"),
                        json!("on"),
                    )
                })
                .collect();
            let mut m = meta("edge");
            m["annotations"] = Value::Object(annotations);
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": m,
                   "spec": {"ingressClassName": "nginx",
                            "rules": [{"host": "shop.example"}],
                            "tls": [{"hosts": ["shop.example"], "secretName": "edge-tls"}]}})
        }),
        ("role-rules", |n| {
            let rules: Vec<Value> = (0..n / 80)
                .map(|i| {
                    json!({"apiGroups": [""], "resources": [format!("r{i}"), "secrets"],
                                "verbs": ["get", "*"]})
                })
                .collect();
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": meta("reader"), "rules": rules})
        }),
        ("dockerconfig-auths", |n| {
            let auths: serde_json::Map<String, Value> = (0..n / 64)
                .map(|i| {
                    (
                        format!("r{i}.registry.example"),
                        json!({"auth": "bm90LWJhc2U2NA"}),
                    )
                })
                .collect();
            let config = json!({ "auths": auths }).to_string();
            use base64::Engine as _;
            let data = base64::engine::general_purpose::STANDARD.encode(config);
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("pull"),
                   "type": "kubernetes.io/dockerconfigjson",
                   "data": {".dockerconfigjson": data}})
        }),
        ("tls-secret-pem-blocks", |n| {
            // Many certificate blocks whose bodies are not certificates, and a key of headers.
            let block = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ3mZ0a1b2c3d4e5f6g7h8i9j0k1l2m3n\n-----END CERTIFICATE-----\n";
            use base64::Engine as _;
            let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("tls"),
                   "type": "kubernetes.io/tls",
                   "data": {"tls.crt": b64(repeated(block, n / 2)),
                            "tls.key": b64(repeated("-----BEGIN PRIVATE KEY-----\n", n / 4))}})
        }),
        ("tls-secret-certificate-chain", |n| {
            // A chain of many real certificates and a key of another pair: every certificate
            // is parsed and compared with the key.
            let key = rcgen::KeyPair::generate().expect("a key");
            let cert = rcgen::CertificateParams::new(vec!["shop.example".to_string()])
                .expect("params")
                .self_signed(&key)
                .expect("a certificate")
                .pem();
            let other = rcgen::KeyPair::generate().expect("a key").serialize_pem();
            use base64::Engine as _;
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("tls"),
                   "type": "kubernetes.io/tls",
                   "data": {"tls.crt": b64(&cert.repeat(n * 3 / 4 / cert.len())),
                            "tls.key": b64(&other)}})
        }),
    ]
}

/// Ten samples over about two seconds per case: the growth between sizes is what matters, and
/// there are a hundred cases.
fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
}

fn bench_group(c: &mut Criterion, group_name: &str, cases: Vec<Case>) {
    let policy = Policy::builtin();
    let mut group = c.benchmark_group(group_name);
    configure(&mut group);
    for (name, build) in cases {
        for (size, label) in SIZES {
            let object = build(size);
            let body = review(&object, "CREATE", None);
            for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
                assert!(
                    answer(&policy, &body, endpoint, NOW).is_ok(),
                    "{name} at {label} answers"
                );
                group.throughput(Throughput::Bytes(body.len() as u64));
                let id = BenchmarkId::new(format!("{name}/{}", endpoint.as_str()), label);
                group.bench_with_input(id, &body, |b, body| {
                    b.iter(|| answer(&policy, std::hint::black_box(body), endpoint, NOW))
                });
            }
        }
    }
    group.finish();
}

fn bench_detectors(c: &mut Criterion) {
    bench_group(c, "detectors", detector_cases());
}

fn bench_wide(c: &mut Criterion) {
    bench_group(c, "wide", wide_cases());
}

/// An UPDATE of a Deployment with thousands of containers whose old object has the same
/// findings: ratcheting compares the new findings with the old ones.
fn bench_update(c: &mut Criterion) {
    let policy = Policy::builtin();
    let mut group = c.benchmark_group("update");
    configure(&mut group);
    for (size, label) in SIZES {
        let object = deployment((0..size / 64).map(container).collect(), json!({}));
        let body = review(&object, "UPDATE", Some(&object));
        assert!(answer(&policy, &body, Endpoint::Validate, NOW).is_ok());
        group.throughput(Throughput::Bytes(body.len() as u64));
        let id = BenchmarkId::new("deployment-containers/validate", label);
        group.bench_with_input(id, &body, |b, body| {
            b.iter(|| answer(&policy, std::hint::black_box(body), Endpoint::Validate, NOW))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_detectors, bench_wide, bench_update);
criterion_main!(benches);
