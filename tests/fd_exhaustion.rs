//! When the process runs out of file descriptors, accepting a connection fails: that is logged
//! and counted, and once descriptors are free again the waiting connection is served. This
//! binary holds one test only: it lowers the limit of its own process, which every thread shares.

mod common;

use std::time::{Duration, Instant};

use bulwark::engine::Policy;
use common::spawned::metric_value;
use common::*;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The highest descriptor number open now.
fn highest_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .expect("fd dir")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .expect("some descriptors")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_is_logged_counted_and_recovered_from() {
    let log = LogBuffer::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .init();
    let server = TestServer::start(Policy::builtin()).await;
    let connector = raw::connector(server.ca_pem.as_bytes(), &[b"http/1.1"]);
    // Warm the runtime up: a first connection opens what later ones reuse.
    drop(raw::handshake(&connector, &server.running.addr.to_string()).await);

    let original = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(highest_fd() + 2),
            maximum: original.maximum,
        },
    )
    .expect("lower the soft limit");
    // Fill every free number below the limit, then free one: the client's socket takes it,
    // and the server's accept finds none.
    let mut filler = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        filler.push(file);
    }
    drop(filler.pop());
    let waiting = tokio::net::TcpStream::connect(server.running.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(filler);
    setrlimit(Resource::Nofile, original).expect("restore the limit");
    let waiting = waiting.expect("the client socket fits");

    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("cannot accept a connection"))
        .unwrap_or_else(|| panic!("no log line for the failed accept: {text}"));
    assert!(line.contains(r#""reason":"fd_limit""#), "{line}");
    let metrics = reqwest::get(format!("{}/metrics", server.admin))
        .await
        .expect("admin")
        .text()
        .await
        .expect("text");
    assert!(
        metric_value(
            &metrics,
            r#"bulwark_connections_refused_total{port="webhook",reason="fd_limit"}"#
        ) >= 1.0,
        "{metrics}"
    );

    // The connection that waited in the backlog is served now.
    let started = Instant::now();
    let mut stream = connector
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").expect("name"),
            waiting,
        )
        .await
        .expect("handshake once descriptors are free");
    let body =
        serde_json::to_vec(&review(&compliant_deployment(), "CREATE", Some("shop"))).expect("json");
    use tokio::io::AsyncWriteExt as _;
    stream
        .write_all(raw::post_head("/validate", body.len()).as_bytes())
        .await
        .expect("head");
    stream.write_all(&body).await.expect("body");
    let (status, answer) = raw::read_response(&mut stream).await;
    assert_eq!(status, 200, "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
