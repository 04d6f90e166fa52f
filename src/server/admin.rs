//! The plain-HTTP admin port: liveness and readiness for the kubelet, metrics for Prometheus.
//!
//! It runs on a thread and a single-threaded runtime of its own, with its own small connection
//! cap and deadlines, so the probes answer whatever the webhook port is doing: a saturated
//! webhook port must make the pod not ready at worst, never look dead to the kubelet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use super::connections;
use super::metrics::{Metrics, Port};

/// Open connections at most on the admin port: the kubelet's probes and a few scrapers.
pub const MAX_CONNECTIONS: usize = 64;

/// Readiness: not ready until the policy and certificate are loaded, and not ready again once
/// draining starts, so endpoints stop sending new reviews before the process exits.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
    draining: AtomicBool,
}

impl Health {
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !self.draining.load(Ordering::SeqCst)
    }
}

pub fn router(health: Arc<Health>, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(health)
        .route("/metrics", get(move || metrics(registry.clone())))
}

async fn metrics(registry: Arc<Registry>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        super::metrics::encode(&registry),
    )
}

async fn readyz(State(health): State<Arc<Health>>) -> (StatusCode, &'static str) {
    if health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// The admin port's thread; [`AdminThread::stop`] (or dropping it) ends it.
pub struct AdminThread {
    stop: CancellationToken,
}

impl AdminThread {
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for AdminThread {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Serves `app` on `listener` from a new thread with its own runtime.
pub fn spawn(
    listener: std::net::TcpListener,
    app: Router,
    metrics: Metrics,
) -> std::io::Result<AdminThread> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    std::thread::Builder::new()
        .name("bulwark-admin".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::error!(%error, "the admin port cannot serve");
                        return;
                    }
                };
                let settings = connections::Settings {
                    port: Port::Admin,
                    tls: None,
                    max_connections: MAX_CONNECTIONS,
                    tls_handshake_timeout: Duration::from_secs(5),
                    header_read_timeout: Duration::from_secs(5),
                    idle_timeout: Duration::from_secs(60),
                    http2_max_concurrent_streams: 8,
                };
                let serving = connections::spawn(listener, app, settings, metrics);
                stopped.cancelled().await;
                serving.shutdown(Duration::from_secs(1)).await;
            });
        })?;
    Ok(AdminThread { stop })
}
