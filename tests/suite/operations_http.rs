//! Operating a running server: certificate and policy hot reload, client-certificate
//! verification, and the metrics endpoint.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use bulwark::certs::{self, IssuedCertificates, KeyType, Usage};
use bulwark::engine::Policy;
use bulwark::server::reload::{self, PolicySource, TlsSource};
use bulwark::server::{self, AppState, Limits, tls};
use serde_json::json;

const TICK: Duration = Duration::from_millis(100);

fn names() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into()]
}

fn client_trusting(ca_pem: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca")])
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Lays out certificates the way a Kubernetes Secret volume does: the visible files are
/// symlinks into `..data`, itself a symlink to a timestamped directory that is swapped whole.
fn write_secret_volume(dir: &Path, generation: u32, issued: &IssuedCertificates) {
    let versioned = dir.join(format!("..2026_11_23_{generation}"));
    std::fs::create_dir_all(&versioned).expect("dir");
    std::fs::write(versioned.join("tls.crt"), &issued.cert_pem).expect("cert");
    std::fs::write(versioned.join("tls.key"), &issued.key_pem).expect("key");
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&versioned, &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("atomic swap");
    for file in ["tls.crt", "tls.key"] {
        let link = dir.join(file);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(PathBuf::from("..data").join(file), &link).expect("symlink");
        }
    }
}

async fn start_reloading(
    dir: &Path,
    policy: Option<PathBuf>,
    client_ca: Option<PathBuf>,
) -> (server::Running, tokio::task::JoinHandle<()>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let source = TlsSource {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        client_ca,
    };
    let material = source.read().expect("tls files");
    let config = tls::server_config(&material).expect("tls config");
    let initial = match &policy {
        Some(path) => reload::load_policy(
            &PolicySource {
                path: path.clone(),
                mode: None,
            },
            &std::fs::read_to_string(path).expect("policy"),
        )
        .expect("valid"),
        None => Policy::builtin(),
    };
    let state = AppState::new(initial);
    let running = server::start(
        state.clone(),
        "127.0.0.1:0".parse().expect("addr"),
        "127.0.0.1:0".parse().expect("addr"),
        config,
        Limits::default(),
    )
    .await
    .expect("starts");
    let policy_source = policy.map(|path| PolicySource { path, mode: None });
    let reloader = reload::spawn(
        state,
        running.tls.clone(),
        policy_source,
        Some(source),
        TICK,
    );
    (running, reloader)
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(TICK).await;
    }
    panic!("timed out waiting until {what}");
}

async fn validate_with(
    client: &reqwest::Client,
    port: u16,
) -> Result<reqwest::StatusCode, reqwest::Error> {
    let review = review(&compliant_deployment(), "CREATE", Some("shop"));
    client
        .post(format!("https://localhost:{port}/validate"))
        .json(&review)
        .send()
        .await
        .map(|r| r.status())
}

#[tokio::test]
async fn swapped_certificate_files_are_served_to_new_handshakes_without_dropping_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = certs::issue(&names(), 30).expect("first");
    write_secret_volume(dir.path(), 1, &first);
    let (running, _reloader) = start_reloading(dir.path(), None, None).await;
    let port = running.addr.port();

    let old_client = client_trusting(&first.ca_cert_pem);
    assert!(
        validate_with(&old_client, port)
            .await
            .expect("first certificate")
            .is_success()
    );

    // Rotate to a certificate from a different CA, the way the kubelet updates a Secret.
    let second = certs::issue_for(&names(), 60, Usage::Server, KeyType::EcdsaP384).expect("second");
    write_secret_volume(dir.path(), 2, &second);
    let new_client = client_trusting(&second.ca_cert_pem);
    eventually("a new handshake sees the new certificate", || async {
        validate_with(&new_client, port).await.is_ok()
    })
    .await;

    // A fresh client that trusts only the old CA can no longer connect...
    assert!(
        validate_with(&client_trusting(&first.ca_cert_pem), port)
            .await
            .is_err()
    );
    // ...but the connection the old client already had keeps working.
    assert!(
        validate_with(&old_client, port)
            .await
            .expect("the open connection survives")
            .is_success()
    );

    let metrics = metrics_at(&format!("http://{}", running.admin_addr)).await;
    assert!(
        metrics.contains("bulwark_certificate_reloads_total{result=\"success\"} 1"),
        "{metrics}"
    );
    let expiry = tls::leaf_not_after(second.cert_pem.as_bytes()).expect("expiry");
    assert!(
        metrics.contains(&format!(
            "bulwark_certificate_expiry_timestamp_seconds {expiry}"
        )),
        "{metrics}"
    );

    // A broken pair is refused and the current certificate stays.
    let mut broken = certs::issue(&names(), 30).expect("third");
    broken.key_pem = first.key_pem.clone();
    write_secret_volume(dir.path(), 3, &broken);
    eventually("the failed reload is counted", || async {
        let text = metrics_at(&format!("http://{}", running.admin_addr)).await;
        text.contains("bulwark_certificate_reloads_total{result=\"failure\"} 1")
    })
    .await;
    assert!(
        validate_with(&client_trusting(&second.ca_cert_pem), port)
            .await
            .expect("still the second")
            .is_success()
    );
}

#[tokio::test]
async fn a_policy_change_takes_effect_and_a_broken_one_keeps_the_last_good_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let issued = certs::issue(&names(), 30).expect("certs");
    write_secret_volume(dir.path(), 1, &issued);
    let policy_path = dir.path().join("policy.yaml");
    std::fs::write(
        &policy_path,
        "apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  image-tag-pinned: { action: warn }\n",
    )
    .expect("policy");
    let (running, _reloader) = start_reloading(dir.path(), Some(policy_path.clone()), None).await;
    let client = client_trusting(&issued.ca_cert_pem);
    let mut object = compliant_deployment();
    object["spec"]["template"]["spec"]["containers"][0]["image"] = json!("shop/web:latest");
    object["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
    let url = format!("https://localhost:{}/validate", running.addr.port());
    let allowed = || async {
        let response: serde_json::Value = client
            .post(&url)
            .json(&review(&object, "CREATE", Some("shop")))
            .send()
            .await
            .expect("answer")
            .json()
            .await
            .expect("json");
        response["response"]["allowed"] == true
    };
    assert!(allowed().await, "warn at first");

    std::fs::write(
        &policy_path,
        "apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  image-tag-pinned: { action: deny }\n",
    )
    .expect("policy");
    eventually("the new policy denies", || async { !allowed().await }).await;

    std::fs::write(
        &policy_path,
        "apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  image-tag-pinned: { action: nope }\n",
    )
    .expect("policy");
    let admin = running.admin_addr;
    eventually("the broken policy is counted", || async {
        let text = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.contains("bulwark_policy_reloads_total{result=\"failure\"} 1")
            && text.contains("bulwark_policy_reloads_total{result=\"success\"} 1")
    })
    .await;
    assert!(
        !allowed().await,
        "the last good policy (deny) stays in force"
    );
}

#[tokio::test]
async fn with_client_ca_a_client_without_a_certificate_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let issued = certs::issue(&names(), 30).expect("server certs");
    write_secret_volume(dir.path(), 1, &issued);
    let client_certs = certs::issue_for(
        &["kube-apiserver".to_string()],
        30,
        Usage::Client,
        KeyType::EcdsaP256,
    )
    .expect("client certs");
    let client_ca = dir.path().join("client-ca.crt");
    std::fs::write(&client_ca, &client_certs.ca_cert_pem).expect("client ca");
    let (running, _reloader) = start_reloading(dir.path(), None, Some(client_ca)).await;
    let port = running.addr.port();

    assert!(
        validate_with(&client_trusting(&issued.ca_cert_pem), port)
            .await
            .is_err(),
        "no client certificate"
    );

    let identity = reqwest::Identity::from_pem(
        format!("{}{}", client_certs.cert_pem, client_certs.key_pem).as_bytes(),
    )
    .expect("identity");
    let authenticated = reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only([
            reqwest::Certificate::from_pem(issued.ca_cert_pem.as_bytes()).expect("ca"),
        ])
        .identity(identity)
        .build()
        .expect("client");
    assert!(
        validate_with(&authenticated, port)
            .await
            .expect("authenticated")
            .is_success()
    );

    // A certificate from another CA is refused too.
    let stranger = certs::issue_for(
        &["intruder".to_string()],
        30,
        Usage::Client,
        KeyType::EcdsaP256,
    )
    .expect("stranger");
    let identity = reqwest::Identity::from_pem(
        format!("{}{}", stranger.cert_pem, stranger.key_pem).as_bytes(),
    )
    .expect("identity");
    let intruder = reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only([
            reqwest::Certificate::from_pem(issued.ca_cert_pem.as_bytes()).expect("ca"),
        ])
        .identity(identity)
        .build()
        .expect("client");
    assert!(validate_with(&intruder, port).await.is_err());
}

#[tokio::test]
async fn metrics_appear_after_reviews() {
    let server = TestServer::start(Policy::builtin()).await;
    let mut bad = compliant_deployment();
    bad["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:latest");
    server.validate(&review(&bad, "CREATE", Some("shop"))).await;
    let mut bare = compliant_deployment();
    bare["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .expect("container")
        .remove("lifecycle");
    server
        .call("/mutate", &review(&bare, "CREATE", Some("shop")))
        .await;
    server.post_raw("/validate", "not json").await;

    let response = reqwest::get(format!("{}/metrics", server.admin))
        .await
        .expect("metrics");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.contains("text"))
    );
    let text = response.text().await.expect("text");
    for expected in [
        "bulwark_admission_requests_total{endpoint=\"validate\",kind=\"Deployment\",operation=\"CREATE\",decision=\"denied\"} 1",
        "bulwark_admission_requests_total{endpoint=\"mutate\",kind=\"Deployment\",operation=\"CREATE\",decision=\"mutated\"} 1",
        "bulwark_admission_requests_total{endpoint=\"validate\",kind=\"none\",operation=\"none\",decision=\"malformed\"} 1",
        "bulwark_admission_duration_seconds_bucket{le=",
        "bulwark_admission_duration_seconds_count{endpoint=\"validate\"} 2",
        "bulwark_rule_findings_total{rule=\"image-tag-pinned\",action=\"deny\"} 1",
        "bulwark_mutations_total{mutation=\"add-prestop-hook\"} 1",
        "bulwark_certificate_expiry_timestamp_seconds",
        "bulwark_policy_reloads_total",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    // No namespaces or object names as label values.
    assert!(
        !text.contains("shop") && !text.contains("checkout"),
        "{text}"
    );
    assert!(
        text.contains("bulwark_policy_reloads_total{result=\"failure\"} 0"),
        "{text}"
    );
}
