//! The limits that keep any client, or many at once, from taking the webhook down: how many
//! connections and requests it holds, how many body bytes, and how long each step may take.
//!
//! Every field is a `serve` flag (see `cli.rs`); the defaults here are the flags' defaults, and
//! a unit test in `cli.rs` keeps the two equal. The reasoning behind each default:
//!
//! - Reviews are judged on blocking threads, one per request in flight, so the operating
//!   system time-slices a small review beside others instead of queueing it behind them;
//!   `max_requests_in_flight` bounds those threads. Requests with a body over
//!   [`LARGE_BODY_BYTES`] take a place in a second, small lane of `max_large_reviews_in_flight`
//!   threads that run at a lower scheduling priority (nice 10): a large review then takes the
//!   CPU only when the small ones leave it free, and however many large requests arrive, no
//!   more of them are judged (or waited for) at once, so their CPU and memory stay bounded.
//! - `max_body_bytes_in_flight` bounds the request bodies held at once, so that they and the
//!   work of judging them fit well inside the pod's 256Mi memory limit in `deploy/`.
//! - Every wait a client controls has a deadline: the TLS handshake, the request headers, the
//!   body, the idle time between requests; and `request_timeout` bounds the whole answer.

use std::time::Duration;

/// A connection that sent nothing for this long after its request was answered is closed.
/// Longer than the 90 s a Go client (the API server) keeps an idle connection, so the client
/// closes first and never sends a review on a connection the server is closing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A request whose body is larger is judged in the large-review lane. The typical review is
/// about 10 KB; a Deployment with many containers about 100 KB.
pub const LARGE_BODY_BYTES: usize = 128 * 1024;

/// Limits applied to the webhook port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Larger bodies get 413.
    pub body_bytes: usize,
    /// From the request headers to the answer; later answers are 503. Keep it under the
    /// webhook's `timeoutSeconds` so the API server gets an answer, not a timeout.
    pub request_timeout: Duration,
    /// The body must arrive within this time after the headers, or the request gets 408.
    pub body_read_timeout: Duration,
    /// Open connections at most; more are closed at once (and logged and counted). Lowered at
    /// start to stay below the file-descriptor limit.
    pub max_connections: usize,
    /// Requests being read or judged at once; more get 503 at once.
    pub max_requests_in_flight: usize,
    /// Of those, requests with a body over [`LARGE_BODY_BYTES`]; more get 503 at once.
    pub max_large_reviews_in_flight: usize,
    /// Request body bytes held at once; a request that would pass it gets 503 at once.
    pub max_body_bytes_in_flight: usize,
    /// Concurrent HTTP/2 streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub http2_max_concurrent_streams: u32,
    /// A client must finish the TLS handshake within this time.
    pub tls_handshake_timeout: Duration,
    /// After the handshake, or after the first byte of a later HTTP/1 request, the request
    /// headers must be complete within this time.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(4),
            body_read_timeout: Duration::from_secs(3),
            max_connections: 1024,
            max_requests_in_flight: 32,
            max_large_reviews_in_flight: 2,
            max_body_bytes_in_flight: 32 * 1024 * 1024,
            http2_max_concurrent_streams: 32,
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl Limits {
    /// Checks the limits against each other; the message names the flags to change.
    pub fn check(&self) -> Result<(), String> {
        if self.body_bytes > self.max_body_bytes_in_flight {
            return Err(format!(
                "--body-limit ({} bytes) is larger than --max-body-bytes-in-flight ({} bytes): \
                 a body of the largest accepted size could never be held",
                self.body_bytes, self.max_body_bytes_in_flight
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_consistent() {
        assert_eq!(Limits::default().check(), Ok(()));
    }

    #[test]
    fn a_body_limit_over_the_bytes_in_flight_is_refused() {
        let limits = Limits {
            body_bytes: 2 * 1024 * 1024,
            max_body_bytes_in_flight: 1024 * 1024,
            ..Limits::default()
        };
        let message = limits.check().expect_err("refused");
        assert!(message.contains("--body-limit"), "{message}");
        assert!(message.contains("--max-body-bytes-in-flight"), "{message}");
    }
}
