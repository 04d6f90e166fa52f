//! The two webhook endpoints. A handler admits the request within the [`Limits`], reads its
//! body, has [`review::answer`] judge it on a blocking thread, logs one line and answers.
//! Everything they decide is decided in the engine.
//!
//! Judging runs on blocking threads, never on the async workers: a review that takes long
//! (a large object) then delays neither the other connections nor the admin port. Two lanes:
//! a review of up to [`LARGE_BODY_BYTES`] gets a thread of Tokio's blocking pool (one per
//! request in flight, up to `--max-requests-in-flight`, so the operating system time-slices it
//! beside the others rather than queueing it); a larger one gets one of the
//! `--max-large-reviews-in-flight` threads of the large lane, which run at nice 10, so small
//! reviews keep the CPU while large ones are judged. A request over a limit is answered at once
//! with an HTTP error, so the API server applies the webhook's `failurePolicy` instead of
//! waiting out its timeout. A request answered at its deadline keeps its place until its
//! thread is done: the places bound the threads, their CPU and their memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt as _;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_http::catch_panic::CatchPanicLayer;

use super::AppState;
use super::limits::{LARGE_BODY_BYTES, Limits};
use super::review::{self, Endpoint};
use super::throttle::Throttle;

/// The webhook routes' state: the shared state and the budgets of the limits.
struct Webhook {
    state: Arc<AppState>,
    limits: Limits,
    requests: Arc<Semaphore>,
    large: Arc<Semaphore>,
    body_bytes: Arc<Semaphore>,
    /// The large-review lane's threads.
    large_lane: rayon::ThreadPool,
    rejected_log: Throttle,
}

/// Scheduling priority of the large-review lane's threads (0 is normal, 19 the lowest): under
/// contention a thread at nice 10 gets about a tenth of the CPU a thread at 0 gets.
const LARGE_LANE_NICE: i32 = 10;

fn large_lane(threads: usize) -> rayon::ThreadPool {
    let build = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("bulwark-large-{i}"))
        // Raising one's own nice value needs no privilege; it applies to this thread only.
        .start_handler(|_| {
            let thread = rustix::thread::gettid();
            if let Err(error) = rustix::process::setpriority_process(Some(thread), LARGE_LANE_NICE)
            {
                tracing::warn!(%error, "cannot lower the large-review lane's priority");
            }
        })
        .build();
    match build {
        Ok(pool) => pool,
        // Only fails when threads cannot be made at all; without a pool nothing runs anyway.
        Err(error) => panic!("cannot start the large-review lane: {error}"),
    }
}

/// The TLS port's routes: only the two webhook endpoints.
pub fn router(state: Arc<AppState>, limits: Limits) -> Router {
    let webhook = Webhook {
        requests: Arc::new(Semaphore::new(limits.max_requests_in_flight.max(1))),
        large: Arc::new(Semaphore::new(limits.max_large_reviews_in_flight.max(1))),
        large_lane: large_lane(limits.max_large_reviews_in_flight),
        body_bytes: Arc::new(Semaphore::new(
            limits.max_body_bytes_in_flight.min(Semaphore::MAX_PERMITS),
        )),
        state,
        limits,
        rejected_log: Throttle::default(),
    };
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .layer(CatchPanicLayer::custom(|_| {
            Rejection::Internal.response_body()
        }))
        .with_state(Arc::new(webhook))
}

async fn validate(State(webhook): State<Arc<Webhook>>, request: Request) -> Response {
    webhook.handle(request, Endpoint::Validate).await
}

async fn mutate(State(webhook): State<Arc<Webhook>>, request: Request) -> Response {
    webhook.handle(request, Endpoint::Mutate).await
}

/// Why a request got an HTTP error instead of a review.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rejection {
    RequestsInFlight,
    LargeReviewsInFlight,
    BodyBytesInFlight,
    BodyTooLarge,
    BodyTimeout,
    BodyUnreadable,
    ReviewTimeout,
    Internal,
}

impl Rejection {
    fn label(self) -> &'static str {
        match self {
            Rejection::RequestsInFlight => "requests_in_flight",
            Rejection::LargeReviewsInFlight => "large_reviews_in_flight",
            Rejection::BodyBytesInFlight => "body_bytes_in_flight",
            Rejection::BodyTooLarge => "body_too_large",
            Rejection::BodyTimeout => "body_timeout",
            Rejection::BodyUnreadable => "body_unreadable",
            Rejection::ReviewTimeout => "review_timeout",
            Rejection::Internal => "internal_error",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Rejection::RequestsInFlight
            | Rejection::LargeReviewsInFlight
            | Rejection::BodyBytesInFlight
            | Rejection::ReviewTimeout => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Rejection::BodyUnreadable => StatusCode::BAD_REQUEST,
            Rejection::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(self, limits: &Limits) -> String {
        let duration = |d: Duration| humantime::format_duration(d).to_string();
        match self {
            Rejection::RequestsInFlight => format!(
                "bulwark is at its limit of {} requests in flight (--max-requests-in-flight); try again",
                limits.max_requests_in_flight
            ),
            Rejection::LargeReviewsInFlight => format!(
                "bulwark is at its limit of {} requests with a body over {} bytes in flight \
                 (--max-large-reviews-in-flight); try again",
                limits.max_large_reviews_in_flight, LARGE_BODY_BYTES
            ),
            Rejection::BodyBytesInFlight => format!(
                "bulwark is at its limit of {} bytes of request bodies held at once \
                 (--max-body-bytes-in-flight); try again",
                limits.max_body_bytes_in_flight
            ),
            Rejection::BodyTooLarge => format!(
                "the request body is larger than --body-limit ({} bytes)",
                limits.body_bytes
            ),
            Rejection::BodyTimeout => format!(
                "the request body did not arrive within --body-read-timeout ({})",
                duration(limits.body_read_timeout)
            ),
            Rejection::BodyUnreadable => "the request body could not be read".to_string(),
            Rejection::ReviewTimeout => format!(
                "the review was not judged within --request-timeout ({})",
                duration(limits.request_timeout)
            ),
            Rejection::Internal => "internal error; see the bulwark log".to_string(),
        }
    }

    fn response_body(self) -> Response {
        (
            self.status(),
            format!("{}\n", self.message(&Limits::default())),
        )
            .into_response()
    }
}

/// A held share of a budget, with the gauge that shows it; both are given back on drop.
struct Held {
    permit: Option<OwnedSemaphorePermit>,
    gauge: Gauge,
    amount: i64,
}

impl Held {
    fn new(gauge: Gauge) -> Held {
        Held {
            permit: None,
            gauge,
            amount: 0,
        }
    }

    fn add(&mut self, permit: OwnedSemaphorePermit) {
        let amount = permit.num_permits() as i64;
        self.gauge.inc_by(amount);
        self.amount += amount;
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gauge.dec_by(self.amount);
    }
}

impl Webhook {
    async fn handle(&self, request: Request, endpoint: Endpoint) -> Response {
        let started = Instant::now();
        let deadline = started + self.limits.request_timeout;
        let metrics = &self.state.metrics;
        let mut slot = Held::new(metrics.requests_in_flight());
        match self.requests.clone().try_acquire_owned() {
            Ok(permit) => slot.add(permit),
            Err(_) => return self.reject(Rejection::RequestsInFlight, endpoint),
        }
        let announced = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > self.limits.body_bytes as u64) {
            return self.reject(Rejection::BodyTooLarge, endpoint);
        }
        let mut large = None;
        if announced.is_some_and(|n| n > LARGE_BODY_BYTES as u64) {
            match self.large.clone().try_acquire_owned() {
                Ok(place) => large = Some(place),
                Err(_) => return self.reject(Rejection::LargeReviewsInFlight, endpoint),
            }
        }
        let body_deadline = deadline.min(started + self.limits.body_read_timeout);
        let read = self.read_body(request.into_body(), announced, &mut large);
        let (body, held) = match tokio::time::timeout_at(body_deadline.into(), read).await {
            Err(_) => return self.reject(Rejection::BodyTimeout, endpoint),
            Ok(Err(rejection)) => return self.reject(rejection, endpoint),
            Ok(Ok(read)) => read,
        };

        let policy = self.state.policy.load_full();
        let now = crate::clock::unix_now();
        let in_large_lane = large.is_some();
        let judge = move || {
            let outcome = review::answer(&policy, &body, endpoint, now);
            let bytes = body.len();
            // The request's places are given back only when judging ends, also when the
            // client was answered at the deadline: they bound the threads and the memory.
            drop(body);
            drop((held, large, slot));
            (outcome, bytes)
        };
        let judged = if in_large_lane {
            let (sender, receiver) = tokio::sync::oneshot::channel();
            self.large_lane.spawn(move || {
                let judged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(judge));
                let _ = sender.send(judged.ok());
            });
            tokio::time::timeout_at(deadline.into(), receiver)
                .await
                .map(|r| r.ok().flatten())
        } else {
            tokio::time::timeout_at(deadline.into(), tokio::task::spawn_blocking(judge))
                .await
                .map(|r| r.ok())
        };
        let (outcome, bytes) = match judged {
            Err(_) => return self.reject(Rejection::ReviewTimeout, endpoint),
            Ok(None) => {
                tracing::error!(endpoint = endpoint.as_str(), "judging a review panicked");
                return self.reject(Rejection::Internal, endpoint);
            }
            Ok(Some(judged)) => judged,
        };
        match outcome {
            Ok(outcome) => {
                let s = &outcome.summary;
                metrics.record_review(endpoint, s, started.elapsed().as_secs_f64());
                tracing::info!(
                    endpoint = endpoint.as_str(),
                    uid = %s.uid,
                    kind = %s.kind,
                    namespace = %s.namespace,
                    name = %s.name,
                    operation = %s.operation,
                    user = %s.user,
                    dry_run = s.dry_run,
                    decision = s.decision,
                    rules = %s.rules.join(","),
                    mutations = %s.mutations.join(","),
                    exempted = %exempted_field(&s.exempted),
                    left_to_owner = s.left_to.map_or("", |k| k.name()),
                    duration_us = started.elapsed().as_micros() as u64,
                    "review"
                );
                ([(header::CONTENT_TYPE, "application/json")], outcome.body).into_response()
            }
            Err(error) => {
                metrics.record_malformed(endpoint, started.elapsed().as_secs_f64());
                tracing::warn!(endpoint = endpoint.as_str(), error = %error, bytes, "rejected a malformed review");
                (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response()
            }
        }
    }

    /// Reads the body within the bytes budget: an announced length is taken from the budget at
    /// once (all of it or a 503 now, rather than part of the body and a 503 later), anything
    /// beyond it chunk by chunk as it arrives. A body that grows past [`LARGE_BODY_BYTES`] without having announced it takes its
    /// place in the large lane then.
    async fn read_body(
        &self,
        mut body: Body,
        announced: Option<u64>,
        large: &mut Option<OwnedSemaphorePermit>,
    ) -> Result<(Vec<u8>, Held), Rejection> {
        let limit = self.limits.body_bytes;
        let mut held = Held::new(self.state.metrics.body_bytes_in_flight());
        let mut reserved = 0usize;
        if let Some(length) = announced {
            // `announced` is at most the body limit, checked by the caller.
            reserved = usize::try_from(length).map_err(|_| Rejection::BodyTooLarge)?;
            held.add(self.take_bytes(reserved)?);
        }
        // Reserved address space only: pages count towards memory once they are written.
        let mut bytes = Vec::with_capacity(reserved);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| Rejection::BodyUnreadable)?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let total = bytes.len() + data.len();
            if total > limit {
                return Err(Rejection::BodyTooLarge);
            }
            if total > LARGE_BODY_BYTES && large.is_none() {
                let place = self.large.clone().try_acquire_owned();
                *large = Some(place.map_err(|_| Rejection::LargeReviewsInFlight)?);
            }
            if total > reserved {
                held.add(self.take_bytes(total - reserved)?);
                reserved = total;
            }
            bytes.extend_from_slice(&data);
        }
        Ok((bytes, held))
    }

    fn take_bytes(&self, amount: usize) -> Result<OwnedSemaphorePermit, Rejection> {
        let amount = u32::try_from(amount).map_err(|_| Rejection::BodyTooLarge)?;
        self.body_bytes
            .clone()
            .try_acquire_many_owned(amount)
            .map_err(|_| Rejection::BodyBytesInFlight)
    }

    fn reject(&self, rejection: Rejection, endpoint: Endpoint) -> Response {
        self.state
            .metrics
            .record_rejected(endpoint, rejection.label());
        if let Some(suppressed) = self.rejected_log.allow() {
            tracing::warn!(
                endpoint = endpoint.as_str(),
                reason = rejection.label(),
                status = rejection.status().as_u16(),
                suppressed,
                "answered a webhook request with an error"
            );
        }
        let message = rejection.message(&self.limits);
        (rejection.status(), format!("{message}\n")).into_response()
    }
}

/// `rule:source,...` for the log line: the exemptions that silenced a finding.
fn exempted_field(exempted: &[crate::engine::exemption::Exempted]) -> String {
    exempted
        .iter()
        .map(|e| format!("{}:{}", e.id, e.by.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_large_lane_runs_at_a_lower_priority() {
        let pool = large_lane(1);
        let nice =
            pool.install(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())));
        assert!(nice.is_ok_and(|n| n >= LARGE_LANE_NICE), "{nice:?}");
    }
}
