//! Secret-looking values never appear in a response or a log line. This binary installs a
//! global log subscriber that writes into a buffer, so the whole log can be searched.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use bulwark::engine::Policy;
use common::*;
use serde_json::json;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
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

fn log_buffer() -> Buffer {
    static LOG: OnceLock<Buffer> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .init();
        buffer
    })
    .clone()
}

const SECRET: &str = "Zx9-very-secret-value-4711";

#[tokio::test]
async fn secret_env_values_appear_in_no_response_and_no_log_line() {
    let log = log_buffer();
    let server = TestServer::start(Policy::builtin()).await;
    let mut object = compliant_deployment();
    object["spec"]["template"]["spec"]["containers"][0]["env"] = json!([
        {"name": "DB_PASSWORD", "value": SECRET},
        {"name": "API_TOKEN", "value": SECRET},
    ]);
    let mut responses = Vec::new();
    responses.push(
        server
            .validate(&review(&object, "CREATE", Some("shop")))
            .await
            .to_string(),
    );
    // Also with the value in a field of the wrong type, which fails to decode.
    let mut broken = object.clone();
    broken["spec"]["replicas"] = json!(SECRET);
    responses.push(
        server
            .validate(&review(&broken, "CREATE", Some("shop")))
            .await
            .to_string(),
    );
    let mut bad_secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"}, "data": {"password": SECRET}});
    responses.push(
        server
            .validate(&review(&bad_secret, "CREATE", Some("shop")))
            .await
            .to_string(),
    );
    bad_secret["data"] = json!({"password": 8_675_309_421_u64});
    responses.push(
        server
            .validate(&review(&bad_secret, "CREATE", Some("shop")))
            .await
            .to_string(),
    );
    // And as a malformed review.
    let (_, text) = server
        .post_raw("/validate", format!("{{\"apiVersion\": \"{SECRET}\""))
        .await;
    responses.push(text);

    assert!(
        responses[0].contains("[env-secret-literal]"),
        "{}",
        responses[0]
    );
    let log = String::from_utf8(log.0.lock().expect("log").clone()).expect("utf-8");
    assert!(
        log.contains("\"decision\":\"denied\""),
        "the log has review lines: {log}"
    );
    // Long fragments only: a short number such as 4711 turns up in timestamps.
    let fragments = [
        SECRET,
        "very-secret",
        "value-4711",
        "Zx9-very",
        "8675309421",
    ];
    for (i, response) in responses.iter().enumerate() {
        for fragment in fragments {
            assert!(
                !response.contains(fragment),
                "response {i} leaks {fragment}: {response}"
            );
        }
    }
    for fragment in fragments {
        assert!(!log.contains(fragment), "the log leaks {fragment}");
    }
}
