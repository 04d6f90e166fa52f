//! Faults under load, on the real binary over real TLS: while keep-alive clients (HTTP/1.1 and
//! HTTP/2) send reviews without pause, the certificate files are swapped by rename, the policy
//! changes, a broken policy is written, and finally SIGTERM arrives. No review sent before the
//! signal fails, the new certificate and policy take effect, the broken policy is logged and
//! counted, and the process exits 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::spawned::{Options, Spawned, replace_file};
use crate::common::*;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

const ENFORCE: &str = "apiVersion: bulwark.dev/v1\nkind: Policy\nmode: enforce\n";
const AUDIT: &str = "apiVersion: bulwark.dev/v1\nkind: Policy\nmode: audit\n";
const BROKEN: &str = "apiVersion: bulwark.dev/v1\nkind: Policy\nrules: [this is not\n";

/// One review sent by the load: when it left, and what came back.
struct Sent {
    at: Instant,
    result: Result<(), String>,
}

fn denied_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "bare", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": "nginx",
                                 "securityContext": {"privileged": true}}]}
    })
}

fn load_client(ca: &[&str], http1: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only(
            ca.iter()
                .map(|pem| reqwest::Certificate::from_pem(pem.as_bytes()).expect("ca")),
        )
        .timeout(Duration::from_secs(10));
    if http1 {
        builder = builder.http1_only();
    }
    builder.build().expect("client")
}

/// Sends reviews one after another until `stop`, recording each.
async fn load(
    client: reqwest::Client,
    base: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Sent>>>,
) {
    let objects = [compliant_deployment(), denied_pod()];
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let request = review(&objects[i % 2], "CREATE", Some("shop"));
        i += 1;
        let at = Instant::now();
        let result = async {
            let response = client
                .post(format!("{base}/validate"))
                .json(&request)
                .send()
                .await
                .map_err(|e| format!("{e:#}"))?;
            let status = response.status().as_u16();
            let answer: Value = response.json().await.map_err(|e| format!("{e:#}"))?;
            if status != 200 || answer["response"]["uid"] != request["request"]["uid"] {
                return Err(format!("status {status}: {answer}"));
            }
            Ok(())
        }
        .await;
        log.lock().expect("lock").push(Sent { at, result });
    }
}

async fn validate_pod(client: &reqwest::Client, base: &str) -> Value {
    let response = client
        .post(format!("{base}/validate"))
        .json(&review(&denied_pod(), "CREATE", Some("shop")))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 200);
    response.json::<Value>().await.expect("json")["response"].clone()
}

/// The leaf certificate a fresh handshake is served.
async fn served_certificate(addr: &str, ca: &[&str]) -> Vec<u8> {
    let all: String = ca.concat();
    let connector = crate::common::raw::connector(all.as_bytes(), &[b"http/1.1"]);
    let stream = crate::common::raw::handshake(&connector, addr).await;
    stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("a certificate")[0]
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_swap_policy_changes_and_sigterm_under_load_fail_no_review() {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let first = bulwark::certs::issue(&names, 30).expect("first certificate");
    let second = bulwark::certs::issue(&names, 30).expect("second certificate");
    let cas = [first.ca_cert_pem.as_str(), second.ca_cert_pem.as_str()];
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, policy) = (
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        dir.path().join("policy.yaml"),
    );
    std::fs::write(&cert, &first.cert_pem).expect("cert");
    std::fs::write(&key, &first.key_pem).expect("key");
    std::fs::write(&policy, ENFORCE).expect("policy");
    let mut server = Spawned::start_with(Options {
        args: vec![
            format!("--policy={}", policy.display()),
            "--reload-interval=1s".into(),
            "--shutdown-delay=2s".into(),
            "--shutdown-grace=10s".into(),
        ],
        tls: Some((
            cert.clone(),
            key.clone(),
            first.ca_cert_pem.clone().into_bytes(),
        )),
        dir: Some(dir),
        ..Options::default()
    });
    let base = server.base();
    let probe = load_client(&cas, false);
    assert_eq!(validate_pod(&probe, &base).await["allowed"], false);

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for worker in 0..6 {
        clients.push(tokio::spawn(load(
            load_client(&cas, worker % 2 == 0),
            base.clone(),
            stop.clone(),
            sent.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // 1. The certificate files are replaced by rename, the key first.
    replace_file(&key, second.key_pem.as_bytes());
    replace_file(&cert, second.cert_pem.as_bytes());
    server
        .wait_for_log("serving certificate reloaded", Duration::from_secs(10))
        .await;
    let served = served_certificate(&server.webhook, &cas).await;
    let second_der =
        rustls::pki_types::CertificateDer::from_pem_slice(second.cert_pem.as_bytes()).expect("pem");
    assert_eq!(
        served,
        second_der.to_vec(),
        "new handshakes get the new certificate"
    );

    // 2. The policy changes: audit mode allows what enforce denied.
    replace_file(&policy, AUDIT.as_bytes());
    server
        .wait_for_log("policy reloaded", Duration::from_secs(10))
        .await;
    assert_eq!(
        validate_pod(&probe, &base).await["allowed"],
        true,
        "audit mode"
    );

    // 3. A broken policy is logged and counted; the audit policy stays in force.
    replace_file(&policy, BROKEN.as_bytes());
    server
        .wait_for_log("the new policy file is invalid", Duration::from_secs(10))
        .await;
    assert_eq!(
        server
            .metric(r#"bulwark_policy_reloads_total{result="failure"}"#)
            .await,
        1.0
    );
    assert_eq!(validate_pod(&probe, &base).await["allowed"], true);
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // 4. SIGTERM with the load still running.
    let signalled = Instant::now();
    server.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit(Duration::from_secs(20));
        (status, server)
    })
    .await
    .expect("wait");
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("load task");
    }
    assert!(status.0.success(), "exit status {}", status.0);

    let sent = sent.lock().expect("lock");
    let before: Vec<&Sent> = sent.iter().filter(|s| s.at < signalled).collect();
    let failed: Vec<&String> = before
        .iter()
        .filter_map(|s| s.result.as_ref().err())
        .collect();
    assert!(
        before.len() > 200,
        "only {} reviews sent under load",
        before.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} reviews sent before SIGTERM failed: {:?}",
        failed.len(),
        before.len(),
        &failed[..failed.len().min(5)]
    );
    eprintln!(
        "{} reviews before SIGTERM, none failed; {} after",
        before.len(),
        sent.len() - before.len()
    );
}
