//! Raw TLS connections for tests that must control every byte a client sends (or does not
//! send): silent connections, trickled headers and bodies, requests held half-sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A TLS client that trusts only `ca_pem` and offers the `alpn` protocols.
pub fn connector(ca_pem: &[u8], alpn: &[&[u8]]) -> TlsConnector {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// Connects to `addr` and completes the handshake for `localhost`.
pub async fn handshake(connector: &TlsConnector, addr: &str) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake")
}

/// Reads until the server closes the stream (EOF or an error), and returns how long that took;
/// `None` if it is still open after `within`. Bytes it sends are discarded.
pub async fn closed_within<S>(stream: &mut S, within: Duration) -> Option<Duration>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// The head of an HTTP/1.1 POST with a body of `length` bytes.
pub fn post_head(path: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    )
}

/// Reads one HTTP/1.1 response with a `content-length` body; returns the status and the body.
pub async fn read_response<S>(stream: &mut S) -> (u16, String)
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&response).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("a status line");
                return (status, body.to_string());
            }
        }
        let n = stream.read(&mut buf).await.expect("read a response");
        assert!(
            n > 0,
            "the connection closed before a whole response: {text}"
        );
        response.extend_from_slice(&buf[..n]);
    }
}

/// A request whose head and part of its body are sent; the rest waits in `rest`.
pub struct HalfSent {
    pub stream: TlsStream<TcpStream>,
    pub rest: Vec<u8>,
}

impl HalfSent {
    /// Sends the head and all of `body` but its last `held` bytes.
    pub async fn start(
        connector: &TlsConnector,
        addr: &str,
        path: &str,
        body: &[u8],
        held: usize,
    ) -> HalfSent {
        let mut stream = handshake(connector, addr).await;
        stream
            .write_all(post_head(path, body.len()).as_bytes())
            .await
            .expect("head");
        let sent = body.len() - held;
        stream.write_all(&body[..sent]).await.expect("body");
        stream.flush().await.expect("flush");
        HalfSent {
            stream,
            rest: body[sent..].to_vec(),
        }
    }

    /// Sends the rest and reads the response.
    pub async fn finish(mut self) -> (u16, String) {
        self.stream.write_all(&self.rest).await.expect("rest");
        self.stream.flush().await.expect("flush");
        read_response(&mut self.stream).await
    }
}
