//! SIGTERM on the real binary: readiness turns 503 at once, the server keeps serving for
//! `--shutdown-delay`, then requests in flight all complete and the process exits 0 before the
//! grace period; a second signal exits at once, also during the delay.

use std::time::{Duration, Instant};

use crate::common::raw::{self, HalfSent};
use crate::common::spawned::Spawned;
use crate::common::*;

async fn readiness(admin: &str) -> u16 {
    match reqwest::get(format!("http://{admin}/readyz")).await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

async fn wait_not_ready(server: &Spawned) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while readiness(&server.admin).await == 200 {
        assert!(Instant::now() < deadline, "readiness never turned off");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn review_body() -> Vec<u8> {
    serde_json::to_vec(&review(&compliant_deployment(), "CREATE", Some("shop"))).expect("json")
}

#[tokio::test]
async fn requests_in_flight_at_sigterm_complete_and_the_process_exits_zero() {
    let mut server = Spawned::start(&["--shutdown-grace", "20s", "--shutdown-delay", "0s"]);
    assert_eq!(readiness(&server.admin).await, 200);
    let connector = raw::connector(&server.ca_pem, &[b"http/1.1"]);
    let body = review_body();
    let mut in_flight = Vec::new();
    for _ in 0..8 {
        in_flight.push(
            HalfSent::start(
                &connector,
                &server.webhook,
                "/validate",
                &body,
                body.len() / 2,
            )
            .await,
        );
    }

    let signalled = Instant::now();
    server.signal("TERM");
    wait_not_ready(&server).await;
    assert_eq!(
        readiness(&server.admin).await,
        503,
        "draining, not yet gone"
    );

    for request in in_flight {
        let (status, answer) = request.finish().await;
        assert_eq!(status, 200, "{answer}");
    }

    let status = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(20),
        "exited before the grace period"
    );
}

#[tokio::test]
async fn during_the_shutdown_delay_readiness_is_off_and_new_reviews_are_still_answered() {
    let mut server = Spawned::start(&["--shutdown-delay", "2s", "--shutdown-grace", "5s"]);
    let client = server.client();
    let signalled = Instant::now();
    server.signal("TERM");
    wait_not_ready(&server).await;
    assert!(
        signalled.elapsed() < Duration::from_secs(1),
        "readiness turned off at once"
    );
    // A new connection, during the delay.
    let response = client
        .post(format!("{}/validate", server.base()))
        .header("content-type", "application/json")
        .body(review_body())
        .send()
        .await
        .expect("served during the delay");
    assert_eq!(response.status().as_u16(), 200);
    assert!(signalled.elapsed() < Duration::from_secs(2));
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "exited before the delay was over"
    );
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    for delay in ["0s", "30s"] {
        let mut server = Spawned::start(&["--shutdown-grace", "60s", "--shutdown-delay", delay]);
        let connector = raw::connector(&server.ca_pem, &[b"http/1.1"]);
        // A request that never finishes would hold the drain for the whole grace period.
        let body = review_body();
        let _stuck = HalfSent::start(&connector, &server.webhook, "/validate", &body, 10).await;
        server.signal("TERM");
        wait_not_ready(&server).await;
        let second = Instant::now();
        server.signal("TERM");
        let status = server.wait_exit(Duration::from_secs(5));
        assert!(second.elapsed() < Duration::from_secs(5));
        assert!(
            !status.success(),
            "delay {delay}: a forced exit is not a clean one: {status}"
        );
    }
}
