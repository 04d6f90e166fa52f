//! The webhook front: `POST /validate` and `POST /mutate` over TLS, and the admin port.
//!
//! Handlers are translators: take one policy snapshot, call [`review::answer`], log one line,
//! return the bytes. Everything they decide is decided in the engine.

pub mod admin;
pub mod metrics;
pub mod reload;
pub mod review;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum_server::tls_rustls::RustlsConfig;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::engine::Policy;
use admin::Health;
use metrics::Metrics;
use prometheus_client::registry::Registry;
use review::Endpoint;

/// Shared state of the webhook handlers. No globals: each test builds its own.
pub struct AppState {
    /// The policy in force; a reload swaps in a new one whole, and a request keeps the snapshot
    /// it started with.
    pub policy: ArcSwap<Policy>,
    pub health: Arc<Health>,
    pub metrics: Metrics,
    /// The registry the metrics live in, served on the admin port.
    pub registry: Arc<Registry>,
}

impl AppState {
    /// State with a fresh metrics registry.
    pub fn new(policy: Policy) -> Arc<AppState> {
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        AppState::with_metrics(policy, metrics, registry)
    }

    /// State around metrics already registered in `registry`.
    pub fn with_metrics(policy: Policy, metrics: Metrics, registry: Registry) -> Arc<AppState> {
        Arc::new(AppState {
            policy: ArcSwap::from_pointee(policy),
            health: Arc::new(Health::default()),
            metrics,
            registry: Arc::new(registry),
        })
    }
}

/// Limits applied to every webhook request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Larger bodies get 413.
    pub body_bytes: usize,
    /// Slower requests get 408; well under the API server's `timeoutSeconds`.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(4),
        }
    }
}

/// The TLS port's routes: only the two webhook endpoints.
pub fn router(state: Arc<AppState>, limits: Limits) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the bulwark log\n",
            )
                .into_response()
        }))
        .with_state(state)
}

async fn validate(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    handle(&state, &body, Endpoint::Validate)
}

async fn mutate(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    handle(&state, &body, Endpoint::Mutate)
}

fn handle(state: &AppState, body: &[u8], endpoint: Endpoint) -> Response {
    let started = Instant::now();
    let policy = state.policy.load();
    let now = crate::clock::unix_now();
    match review::answer(&policy, body, endpoint, now) {
        Ok(outcome) => {
            let s = &outcome.summary;
            state
                .metrics
                .record_review(endpoint, s, started.elapsed().as_secs_f64());
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
            state
                .metrics
                .record_malformed(endpoint, started.elapsed().as_secs_f64());
            tracing::warn!(endpoint = endpoint.as_str(), error = %error, bytes = body.len(), "rejected a malformed review");
            (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response()
        }
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

/// A running webhook server: its bound addresses and the handles to reload and stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub tls: RustlsConfig,
    pub handle: axum_server::Handle<SocketAddr>,
    pub state: Arc<AppState>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    admin: tokio::task::JoinHandle<()>,
}

/// Binds both ports and starts serving. The TLS config must already have loaded (fail fast).
pub async fn start(
    state: Arc<AppState>,
    listen: SocketAddr,
    admin_listen: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    limits: Limits,
) -> std::io::Result<Running> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let admin_listener = tokio::net::TcpListener::bind(admin_listen).await?;
    let admin_addr = admin_listener.local_addr()?;

    let tls = RustlsConfig::from_config(tls);
    let handle = axum_server::Handle::new();
    let app = router(state.clone(), limits);
    let server = axum_server::from_tcp_rustls(listener, tls.clone())?
        .handle(handle.clone())
        .serve(app.into_make_service());
    let server = tokio::spawn(server);

    let admin_app = admin::router(state.health.clone(), state.registry.clone());
    let admin = tokio::spawn(async move {
        if let Err(e) = axum::serve(admin_listener, admin_app).await {
            tracing::error!(error = %e, "the admin server stopped");
        }
    });
    state.health.set_ready();
    Ok(Running {
        addr,
        admin_addr,
        tls,
        handle,
        state,
        server,
        admin,
    })
}

impl Running {
    /// Stops taking new connections, lets in-flight requests finish within `grace`, and
    /// waits for the server to end.
    pub async fn shutdown(self, grace: Duration) -> std::io::Result<()> {
        self.state.health.start_draining();
        self.handle.graceful_shutdown(Some(grace));
        let result = self
            .server
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.admin.abort();
        result
    }
}
