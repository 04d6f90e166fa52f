//! The webhook front: `POST /validate` and `POST /mutate` over TLS, and the admin port.
//!
//! `webhook.rs` holds the handlers (translators: one policy snapshot, one call to
//! [`review::answer`], one log line), `connections.rs` accepts and keeps connections within
//! the [`Limits`], `admin.rs` serves the probes and metrics on a thread of its own.

pub mod admin;
pub mod connections;
pub mod files;
pub mod limits;
pub mod metrics;
pub mod reload;
mod request;
pub mod review;
mod throttle;
pub mod tls;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::engine::Policy;
use admin::Health;
pub use limits::Limits;
use metrics::{Metrics, Port};
use prometheus_client::registry::Registry;
pub use webhook::router;

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

/// A running webhook server: its bound addresses and the handles to reload and stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The TLS configuration new handshakes use; the reloader replaces it.
    pub tls: tls::Reloadable,
    pub state: Arc<AppState>,
    /// The connection cap in force: `--max-connections`, lowered below the fd limit.
    pub max_connections: usize,
    webhook: connections::Serving,
    admin: admin::AdminThread,
}

/// Binds both ports and starts serving. The TLS config must already have loaded (fail fast).
/// The admin port runs on a thread and runtime of its own, so it answers whatever the webhook
/// port is doing.
pub async fn start(
    state: Arc<AppState>,
    listen: SocketAddr,
    admin_listen: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    limits: Limits,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let admin_listener = std::net::TcpListener::bind(admin_listen)?;
    let admin_addr = admin_listener.local_addr()?;

    let fd_limit = connections::fd_limit(false);
    let max_connections = connections::connection_cap(limits.max_connections, fd_limit);
    if max_connections < limits.max_connections {
        tracing::warn!(
            fd_limit,
            requested = limits.max_connections,
            max_connections,
            "--max-connections is lowered to stay below the open-file limit"
        );
    }
    tracing::info!(
        fd_limit,
        max_connections,
        max_requests_in_flight = limits.max_requests_in_flight,
        max_body_bytes_in_flight = limits.max_body_bytes_in_flight,
        "connection limits"
    );

    let tls = tls::Reloadable::new(tls);
    let settings = connections::Settings {
        port: Port::Webhook,
        tls: Some(tls.clone()),
        max_connections,
        tls_handshake_timeout: limits.tls_handshake_timeout,
        header_read_timeout: limits.header_read_timeout,
        idle_timeout: limits.idle_timeout,
        http2_max_concurrent_streams: limits.http2_max_concurrent_streams,
    };
    let app = router(state.clone(), limits);
    let webhook = connections::spawn(listener, app, settings, state.metrics.clone());

    let admin_app = admin::router(state.health.clone(), state.registry.clone());
    let admin = admin::spawn(admin_listener, admin_app, state.metrics.clone())?;
    state.health.set_ready();
    Ok(Running {
        addr,
        admin_addr,
        tls,
        state,
        max_connections,
        webhook,
        admin,
    })
}

impl Running {
    /// Turns readiness off: the endpoints stop sending new reviews, the server keeps serving.
    pub fn start_draining(&self) {
        self.state.health.start_draining();
    }

    /// Stops taking new connections, lets in-flight requests finish within `grace`, closes
    /// what is left, and then stops the admin port.
    pub async fn shutdown(self, grace: Duration) -> std::io::Result<()> {
        self.start_draining();
        self.webhook.shutdown(grace).await;
        self.admin.stop();
        Ok(())
    }
}
