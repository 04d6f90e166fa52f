//! SIGTERM on the real binary: readiness turns 503, requests in flight all complete, the
//! process exits 0 before the grace period; a second signal exits at once.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

struct Serving {
    child: Child,
    webhook: String,
    admin: String,
    ca_pem: Vec<u8>,
    _dir: tempfile::TempDir,
}

// A failing test must not leave a server running.
impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bulwark serve` on ephemeral ports and reads the bound addresses from its log.
fn serve(grace: &str) -> Serving {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--shutdown-grace",
            grace,
        ])
        .arg("--cert-dir")
        .arg(dir.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("bulwark starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let serving = loop {
        let line = lines
            .next()
            .expect("bulwark logs before exiting")
            .expect("utf-8 log");
        let entry: serde_json::Value =
            serde_json::from_str(&line).expect("JSON log lines when not a terminal");
        if entry["message"] == "serving" {
            break entry;
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let ca_pem = std::fs::read(dir.path().join("ca.crt")).expect("dev CA written");
    Serving {
        child,
        webhook: serving["webhook"]
            .as_str()
            .expect("webhook addr")
            .to_string(),
        admin: serving["admin"].as_str().expect("admin addr").to_string(),
        ca_pem,
        _dir: dir,
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn connector(ca_pem: &[u8]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// An HTTP/1.1 request whose body has been sent only in part.
struct InFlight {
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    rest: Vec<u8>,
    uid: String,
}

async fn start_request(connector: &TlsConnector, addr: &str) -> InFlight {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut stream = connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake");
    let review = review(&compliant_deployment(), "CREATE", Some("shop"));
    let uid = review["request"]["uid"].as_str().expect("uid").to_string();
    let body = serde_json::to_vec(&review).expect("json");
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let half = body.len() / 2;
    stream.write_all(&body[..half]).await.expect("first half");
    stream.flush().await.expect("flush");
    InFlight {
        stream,
        rest: body[half..].to_vec(),
        uid,
    }
}

async fn readiness(admin: &str) -> u16 {
    match reqwest::get(format!("http://{admin}/readyz")).await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "bulwark did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn requests_in_flight_at_sigterm_complete_and_the_process_exits_zero() {
    let mut server = serve("20s");
    assert_eq!(readiness(&server.admin).await, 200);
    let connector = connector(&server.ca_pem);
    let mut in_flight = Vec::new();
    for _ in 0..8 {
        in_flight.push(start_request(&connector, &server.webhook).await);
    }

    let signalled = Instant::now();
    signal(&server.child, "TERM");
    let admin = server.admin.clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    while readiness(&admin).await == 200 {
        assert!(Instant::now() < deadline, "readiness never turned off");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(readiness(&admin).await, 503, "draining, not yet gone");

    for request in &mut in_flight {
        request
            .stream
            .write_all(&request.rest)
            .await
            .expect("rest of the body");
        request.stream.flush().await.expect("flush");
    }
    for mut request in in_flight {
        let mut response = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = request.stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&response);
            if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                break;
            }
        }
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains(&request.uid), "{text}");
    }

    let status = wait_exit(&mut server.child, Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(20),
        "exited before the grace period"
    );
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let mut server = serve("60s");
    let connector = connector(&server.ca_pem);
    // A request that never finishes would hold the drain for the whole grace period.
    let _stuck = start_request(&connector, &server.webhook).await;
    signal(&server.child, "TERM");
    let admin = server.admin.clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    while readiness(&admin).await == 200 {
        assert!(Instant::now() < deadline, "readiness never turned off");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = Instant::now();
    signal(&server.child, "TERM");
    let status = wait_exit(&mut server.child, Duration::from_secs(5));
    assert!(second.elapsed() < Duration::from_secs(5));
    assert!(
        !status.success(),
        "a forced exit is not a clean one: {status}"
    );
}
