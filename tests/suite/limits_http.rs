//! The webhook port's limits, each against a real TLS client that misbehaves in one way:
//! silent or slow clients meet their deadline, a client over a cap is answered or closed at
//! once and counted, and the server keeps answering everyone else.

use std::time::{Duration, Instant};

use crate::common::raw::{self, HalfSent};
use crate::common::spawned::metric_value;
use crate::common::*;
use axum::body::Bytes;
use bulwark::engine::Policy;
use bulwark::server::Limits;
use serde_json::json;
use tokio::io::AsyncWriteExt;

async fn metrics(server: &TestServer) -> String {
    reqwest::get(format!("{}/metrics", server.admin))
        .await
        .expect("admin answers")
        .text()
        .await
        .expect("text")
}

fn review_bytes(padding: usize) -> Vec<u8> {
    let mut object = compliant_deployment();
    if padding > 0 {
        object["metadata"]["annotations"] = json!({"example.com/padding": "x".repeat(padding)});
    }
    serde_json::to_vec(&review(&object, "CREATE", Some("shop"))).expect("json")
}

fn addr(server: &TestServer) -> String {
    server.running.addr.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_silent_after_the_handshake_is_closed_at_the_header_read_timeout() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = TestServer::start_with(Policy::builtin(), limits).await;
    for alpn in [&b"http/1.1"[..], &b"h2"[..]] {
        let connector = raw::connector(server.ca_pem.as_bytes(), &[alpn]);
        let mut stream = raw::handshake(&connector, &addr(&server)).await;
        let closed = raw::closed_within(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{alpn:?}: still open after 5s"));
        assert!(
            closed >= Duration::from_millis(400),
            "{alpn:?}: closed early, after {closed:?}"
        );
    }
    let text = metrics(&server).await;
    assert_eq!(
        metric_value(
            &text,
            r#"bulwark_connections_closed_total{port="webhook",reason="header_timeout"}"#
        ),
        2.0,
        "{text}"
    );
    still_answers(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_a_byte_at_a_time_are_cut_off_at_the_header_read_timeout() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = TestServer::start_with(Policy::builtin(), limits).await;
    let connector = raw::connector(server.ca_pem.as_bytes(), &[b"http/1.1"]);
    let stream = raw::handshake(&connector, &addr(&server)).await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let head = raw::post_head("/validate", 100);
    let trickle = tokio::spawn(async move {
        for byte in head.as_bytes() {
            if writer.write_all(&[*byte]).await.is_err() || writer.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // The whole head would take about 10 s at this pace.
    let closed = raw::closed_within(&mut reader, Duration::from_secs(5))
        .await
        .expect("cut off well before the head was complete");
    assert!(closed < Duration::from_secs(3), "after {closed:?}");
    trickle.abort();
    still_answers(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_deadline_does_not_run_while_a_kept_alive_connection_waits() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(1500),
        ..Limits::default()
    };
    let server = TestServer::start_with(Policy::builtin(), limits).await;
    let connector = raw::connector(server.ca_pem.as_bytes(), &[b"http/1.1"]);
    let mut stream = raw::handshake(&connector, &addr(&server)).await;
    let body = review_bytes(0);
    for pause in [Duration::ZERO, Duration::from_millis(800)] {
        tokio::time::sleep(pause).await;
        stream
            .write_all(raw::post_head("/validate", body.len()).as_bytes())
            .await
            .expect("head");
        stream.write_all(&body).await.expect("body");
        let (status, answer) = raw::read_response(&mut stream).await;
        assert_eq!(status, 200, "after a pause of {pause:?}: {answer}");
    }
    let idle = Instant::now();
    let closed = raw::closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("closed once idle");
    assert!(
        idle.elapsed() >= Duration::from_millis(1300),
        "closed after {closed:?} idle, before the idle timeout"
    );
    let text = metrics(&server).await;
    assert_eq!(
        metric_value(
            &text,
            r#"bulwark_connections_closed_total{port="webhook",reason="idle_timeout"}"#
        ),
        1.0,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_sends_a_client_hello_is_closed_at_the_handshake_timeout() {
    let limits = Limits {
        tls_handshake_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = TestServer::start_with(Policy::builtin(), limits).await;
    let mut tcp = tokio::net::TcpStream::connect(addr(&server))
        .await
        .expect("connect");
    let closed = raw::closed_within(&mut tcp, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(closed >= Duration::from_millis(400), "after {closed:?}");
    let text = metrics(&server).await;
    assert_eq!(
        metric_value(
            &text,
            r#"bulwark_connections_closed_total{port="webhook",reason="handshake_timeout"}"#
        ),
        1.0,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_at_once_and_counted() {
    let limits = Limits {
        max_connections: 3,
        ..Limits::default()
    };
    let server = TestServer::start_with(Policy::builtin(), limits).await;
    let connector = raw::connector(server.ca_pem.as_bytes(), &[b"http/1.1"]);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(raw::handshake(&connector, &addr(&server)).await);
    }
    let started = Instant::now();
    let tcp = tokio::net::TcpStream::connect(addr(&server))
        .await
        .expect("the kernel accepts");
    let refused = connector
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").expect("name"),
            tcp,
        )
        .await;
    assert!(refused.is_err(), "a fourth connection was served");
    assert!(started.elapsed() < Duration::from_secs(2));
    let text = metrics(&server).await;
    assert_eq!(
        metric_value(
            &text,
            r#"bulwark_connections_refused_total{port="webhook",reason="max_connections"}"#
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        metric_value(&text, r#"bulwark_connections_open{port="webhook"}"#),
        3.0,
        "{text}"
    );
    // A closed connection frees its place.
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = metrics(&server).await;
        if metric_value(&text, r#"bulwark_connections_open{port="webhook"}"#) < 3.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed connection is still counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    still_answers(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_in_flight_cap_get_503_at_once() {
    let limits = Limits {
        max_requests_in_flight: 2,
        ..Limits::default()
    };
    let server = TestServer::start_with(Policy::builtin(), limits).await;
    let connector = raw::connector(server.ca_pem.as_bytes(), &[b"http/1.1"]);
    let body = review_bytes(0);
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(HalfSent::start(&connector, &addr(&server), "/validate", &body, 10).await);
    }
    wait_for_gauge(&server, "bulwark_requests_in_flight", 2.0).await;

    let started = Instant::now();
    let (status, text) = server.post_raw("/validate", body.clone()).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("--max-requests-in-flight"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let text = metrics(&server).await;
    assert_eq!(
        metric_value(
            &text,
            r#"bulwark_rejected_requests_total{endpoint="validate",reason="requests_in_flight"}"#
        ),
        1.0,
        "{text}"
    );

    for request in held {
        let (status, answer) = request.finish().await;
        assert_eq!(status, 200, "{answer}");
    }
    wait_for_gauge(&server, "bulwark_requests_in_flight", 0.0).await;
    still_answers(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_reviews_over_their_lane_get_503_at_once_and_small_ones_still_pass() {
    let limits = Limits {
        max_large_reviews_in_flight: 1,
        ..Limits::default()
    };
    let server = TestServer::start_with(Policy::builtin(), limits).await;
    let connector = raw::connector(server.ca_pem.as_bytes(), &[b"http/1.1"]);
    let large = review_bytes(200 * 1024);
    let held = HalfSent::start(&connector, &addr(&server), "/validate", &large, 10).await;
    wait_for_gauge(&server, "bulwark_requests_in_flight", 1.0).await;

    let started = Instant::now();
    let (status, text) = server.post_raw("/validate", large.clone()).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("--max-large-reviews-in-flight"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // The small lane is not affected.
    still_answers(&server).await;
    let text = metrics(&server).await;
    assert_eq!(
        metric_value(
            &text,
            r#"bulwark_rejected_requests_total{endpoint="validate",reason="large_reviews_in_flight"}"#
        ),
        1.0,
        "{text}"
    );

    let (status, answer) = held.finish().await;
    assert_eq!(status, 200, "{answer}");
    wait_for_gauge(&server, "bulwark_requests_in_flight", 0.0).await;
    let (status, text) = server.post_raw("/validate", large).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_bytes_in_flight_budget_gets_503_at_once() {
    let limits = Limits {
        body_bytes: 256 * 1024,
        max_body_bytes_in_flight: 256 * 1024,
        ..Limits::default()
    };
    let server = TestServer::start_with(Policy::builtin(), limits).await;
    let connector = raw::connector(server.ca_pem.as_bytes(), &[b"http/1.1"]);
    let big = review_bytes(200 * 1024);
    let held = HalfSent::start(&connector, &addr(&server), "/validate", &big, 10).await;
    wait_for_gauge(&server, "bulwark_body_bytes_in_flight", big.len() as f64).await;

    let other = review_bytes(100 * 1024);
    let (status, text) = server.post_raw("/validate", other.clone()).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("--max-body-bytes-in-flight"), "{text}");
    let text = metrics(&server).await;
    assert_eq!(
        metric_value(
            &text,
            r#"bulwark_rejected_requests_total{endpoint="validate",reason="body_bytes_in_flight"}"#
        ),
        1.0,
        "{text}"
    );

    let (status, answer) = held.finish().await;
    assert_eq!(status, 200, "{answer}");
    wait_for_gauge(&server, "bulwark_body_bytes_in_flight", 0.0).await;
    let (status, text) = server.post_raw("/validate", other).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_a_byte_every_100ms_is_cut_off_at_the_body_read_timeout() {
    let limits = Limits {
        body_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = TestServer::start_with(Policy::builtin(), limits).await;
    let connector = raw::connector(server.ca_pem.as_bytes(), &[b"http/1.1"]);
    let body = review_bytes(0);
    let stream = raw::handshake(&connector, &addr(&server)).await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    writer
        .write_all(raw::post_head("/validate", body.len()).as_bytes())
        .await
        .expect("head");
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        for byte in body {
            if writer.write_all(&[byte]).await.is_err() || writer.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let (status, text) = raw::read_response(&mut reader).await;
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("--body-read-timeout"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(3));
    trickle.abort();
    let text = metrics(&server).await;
    assert_eq!(
        metric_value(
            &text,
            r#"bulwark_rejected_requests_total{endpoint="validate",reason="body_timeout"}"#
        ),
        1.0,
        "{text}"
    );
    still_answers(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_past_the_per_connection_cap_wait_for_a_free_one() {
    let limits = Limits {
        http2_max_concurrent_streams: 2,
        ..Limits::default()
    };
    let server = TestServer::start_with(Policy::builtin(), limits).await;
    let connector = raw::connector(server.ca_pem.as_bytes(), &[b"h2"]);
    let stream = raw::handshake(&connector, &addr(&server)).await;
    let (client, connection) = h2::client::handshake(stream).await.expect("h2 handshake");
    tokio::spawn(connection);
    let body = Bytes::from(review_bytes(0));
    let request = || {
        axum::http::Request::post(format!("{}/validate", server.base))
            .header("content-type", "application/json")
            .header("content-length", body.len())
            .body(())
            .expect("request")
    };
    // One whole exchange first, so the server's SETTINGS have arrived.
    let mut ready = client.clone().ready().await.expect("ready");
    let (response, mut send) = ready.send_request(request(), false).expect("send");
    send.send_data(body.clone(), true).expect("data");
    assert_eq!(response.await.expect("response").status(), 200);
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut client = client.clone().ready().await.expect("ready");
        let (response, mut send) = client.send_request(request(), false).expect("send");
        send.send_data(body.slice(..body.len() - 10), false)
            .expect("data");
        streams.push((response, send));
    }
    // Two streams reach the server; the client holds the third until one ends.
    wait_for_gauge(&server, "bulwark_requests_in_flight", 2.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        metric_value(&metrics(&server).await, "bulwark_requests_in_flight"),
        2.0
    );
    for (response, mut send) in streams {
        send.send_data(body.slice(body.len() - 10..), true)
            .expect("rest");
        let response = tokio::time::timeout(Duration::from_secs(10), response)
            .await
            .expect("answered")
            .expect("response");
        assert_eq!(response.status(), 200);
    }
}

async fn wait_for_gauge(server: &TestServer, series: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = metrics(server).await;
        if metric_value(&text, series) == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never reached {value}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn still_answers(server: &TestServer) {
    let response = server
        .validate(&review(&compliant_deployment(), "CREATE", Some("shop")))
        .await;
    assert_eq!(response["allowed"], true);
}
