//! The real binary under more load than it takes: the admin port keeps answering in
//! milliseconds while the webhook port is saturated, every webhook client gets its answer
//! within the request timeout, and 40 clients each holding a maximal body stay within the
//! documented memory bound. The load is heavy by count and size (valid ConfigMaps of 120 KiB
//! and of 1 MB), not by what the detectors make of the content.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::raw;
use common::spawned::{Spawned, proc_status_kib};
use common::*;
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// The two tests each saturate the machine; run together they would measure each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn configmap_review(bytes: usize) -> Vec<u8> {
    let value = "-----BEGIN ".repeat(bytes / 11 + 1)[..bytes].to_string();
    let object = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "heavy", "namespace": "shop", "labels": labels()},
        "data": {"blob": value}
    });
    serde_json::to_vec(&review(&object, "CREATE", Some("shop"))).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_answers_in_milliseconds_while_the_webhook_port_is_saturated() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = Spawned::start(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for (clients, size) in [(24, 1_000_000), (40, 120 * 1024)] {
        let body = Arc::new(configmap_review(size));
        for _ in 0..clients {
            // A client each: a connection each.
            let client = server.client();
            let (url, body, stop, slowest, answered) = (
                format!("{}/validate", server.base()),
                body.clone(),
                stop.clone(),
                slowest.clone(),
                answered.clone(),
            );
            load.push(tokio::spawn(async move {
                let mut first = true;
                while !stop.load(Ordering::Relaxed) {
                    let at = Instant::now();
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.as_ref().clone())
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("every request gets an answer: {e:?}"));
                    let status = response.status().as_u16();
                    assert!(status == 200 || status == 503, "status {status}");
                    // A client's first request also waits for its TLS handshake, which
                    // --tls-handshake-timeout bounds; the request timeout bounds the rest.
                    if !first {
                        let mut slowest = slowest.lock().expect("lock");
                        *slowest = slowest.max(at.elapsed());
                    }
                    first = false;
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let admin = reqwest::Client::new();
    let mut probes = Vec::new();
    for _ in 0..50 {
        let at = Instant::now();
        let response = admin
            .get(format!("http://{}/healthz", server.admin))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("the admin port answers");
        assert_eq!(response.status().as_u16(), 200);
        probes.push(at.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rejected = server
        .metric(r#"bulwark_rejected_requests_total{endpoint="validate",reason="large_reviews_in_flight"}"#)
        .await
        + server
            .metric(
                r#"bulwark_rejected_requests_total{endpoint="validate",reason="requests_in_flight"}"#,
            )
            .await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }

    probes.sort();
    let (median, max) = (probes[probes.len() / 2], probes[probes.len() - 1]);
    eprintln!(
        "healthz while saturated: median {median:?}, max {max:?}; {} webhook answers, {rejected} \
         rejected at a cap, slowest webhook answer {:?}",
        answered.load(Ordering::Relaxed),
        slowest.lock().expect("lock")
    );
    assert!(rejected > 0.0, "the webhook port was never saturated");
    assert!(max < Duration::from_secs(1), "a probe took {max:?}");
    // The default --request-timeout is 4s; uploading 1 MB and reading the answer takes little.
    let slowest = *slowest.lock().expect("lock");
    assert!(
        slowest < Duration::from_secs(6),
        "a client waited {slowest:?}"
    );
}

/// 40 clients each send a maximal body but its last byte, and hold it.
async fn hold_forty_maximal_bodies(server: &Spawned) -> (u64, usize) {
    let connector = raw::connector(&server.ca_pem, &[b"http/1.1"]);
    let limit = 8 * 1024 * 1024;
    let body = Arc::new(vec![b' '; limit - 1]);
    let settled = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..40 {
        let (connector, addr, body, settled) = (
            connector.clone(),
            server.webhook.clone(),
            body.clone(),
            settled.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut stream = raw::handshake(&connector, &addr).await;
            let sent = async {
                stream
                    .write_all(raw::post_head("/validate", limit).as_bytes())
                    .await?;
                stream.write_all(&body).await?;
                stream.flush().await
            };
            // A refused client is answered and cut off while it sends.
            let _ = tokio::time::timeout(Duration::from_secs(60), sent).await;
            settled.fetch_add(1, Ordering::Relaxed);
            // Hold the connection (and the body the server took) until aborted.
            tokio::time::sleep(Duration::from_secs(600)).await;
            drop(stream);
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    while settled.load(Ordering::Relaxed) < 40 {
        assert!(Instant::now() < deadline, "the clients never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut highest = 0;
    for _ in 0..10 {
        highest = highest.max(server.rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let held = server.metric("bulwark_body_bytes_in_flight").await as usize;
    for client in clients {
        client.abort();
    }
    (highest, held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_clients_holding_maximal_bodies_stay_within_the_memory_bound() {
    let _alone = ONE_AT_A_TIME.lock().await;
    // With the defaults the large-review lane admits 2 of them; with a wide lane the bytes
    // budget is what stops them.
    for lane in ["2", "64"] {
        let server = Spawned::start(&[
            "--max-large-reviews-in-flight",
            lane,
            "--body-read-timeout",
            "60s",
            "--request-timeout",
            "60s",
        ]);
        let client = server.client();
        let typical = serde_json::to_vec(&review(&compliant_deployment(), "CREATE", Some("shop")))
            .expect("json");
        for _ in 0..20 {
            let response = client
                .post(format!("{}/validate", server.base()))
                .header("content-type", "application/json")
                .body(typical.clone())
                .send()
                .await
                .expect("warm-up");
            assert_eq!(response.status().as_u16(), 200);
        }
        let baseline = server.rss_kib();
        let (highest, held) = hold_forty_maximal_bodies(&server).await;
        let peak = proc_status_kib(server.child.id(), "VmHWM");
        let grew_mib = (highest.saturating_sub(baseline)) as f64 / 1024.0;
        eprintln!(
            "--max-large-reviews-in-flight {lane}: RSS {baseline} KiB before, {highest} KiB \
             holding ({grew_mib:.1} MiB more, peak {peak} KiB); {held} body bytes held"
        );
        // The documented bound: --max-body-bytes-in-flight (32 MiB) of bodies, plus buffers.
        assert!(held <= 32 * 1024 * 1024, "{held} bytes held");
        assert!(
            highest - baseline < 48 * 1024,
            "RSS grew by {grew_mib:.1} MiB, over 32 MiB of bodies + 16 MiB"
        );
        // Once the clients are gone, their places are free again.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let response = client
                .post(format!("{}/validate", server.base()))
                .header("content-type", "application/json")
                .body(typical.clone())
                .send()
                .await
                .expect("still answers");
            if response.status().as_u16() == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "{}", response.status());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
