//! In the text log format (a terminal), control characters in what the requester wrote (name,
//! namespace, user) are escaped: one review is one log line, and no escape reaches the screen.
//!
//! A binary of its own: the test's log subscriber is the thread's, and tracing caches per log
//! statement, process-wide, whether anyone listens. When another test's thread, with no
//! subscriber, reached the review line first, the line was cached as unheard and never reached
//! this test's subscriber (tokio-rs/tracing#3611; it happened once inside the shared suite).

mod common;

use bulwark::engine::Policy;
use bulwark::logging::EscapedFields;
use common::*;

// One thread runs the test, the server's tasks and the handler's log line, so a thread-local
// subscriber sees that line.
#[tokio::test(flavor = "current_thread")]
async fn names_namespaces_and_users_are_escaped_in_text_logs() {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .fmt_fields(EscapedFields)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = TestServer::start(Policy::builtin()).await;
    let mut object = compliant_deployment();
    object["metadata"]["name"] = "checkout\n2026-01-01T00:00:00Z INFO forged line".into();
    let mut request = review(&object, "CREATE", Some("shop\u{1b}[2J"));
    request["request"]["userInfo"]["username"] = "mallory\r\u{202e}nimda".into();
    server.validate(&request).await;

    let log = buffer.text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(" review ")).collect();
    assert_eq!(lines.len(), 1, "one line per review: {log}");
    let line = lines[0];
    assert!(line.contains(r"name=checkout\n2026-01-01"), "{line}");
    assert!(line.contains(r"namespace=shop\u{1b}[2J"), "{line}");
    assert!(line.contains(r"user=mallory\r\u{202e}nimda"), "{line}");
    assert!(!log.contains("\nforged") && !log.contains('\u{1b}') && !log.contains('\r'));
    assert!(!log.contains('\u{202e}'), "{log}");
}
