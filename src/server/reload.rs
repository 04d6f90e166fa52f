//! Hot reload of the policy file and the TLS material, by polling file contents.
//!
//! Polling content (not modification events) sees the symlink swap a Kubernetes Secret or
//! ConfigMap volume makes. A new policy or certificate replaces the old one only after it has
//! fully loaded and validated; on any failure the last good one stays in force, the failure is
//! logged once per content change and counted in a metric. Swapping the TLS config affects new
//! handshakes only: open connections keep going.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;

use super::AppState;
use super::metrics::Reload;
use super::tls::{self, TlsMaterial};
use crate::engine::{Mode, Policy};

/// The policy file to watch, and the `--mode` flag that wins over it.
#[derive(Clone, Debug)]
pub struct PolicySource {
    pub path: PathBuf,
    pub mode: Option<Mode>,
}

/// The TLS files to watch.
#[derive(Clone, Debug)]
pub struct TlsSource {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

impl TlsSource {
    /// Reads all files; `None` when one cannot be read (a write may be in progress).
    pub fn read(&self) -> Result<TlsMaterial, String> {
        let read =
            |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        Ok(TlsMaterial {
            cert_pem: read(&self.cert)?,
            key_pem: read(&self.key)?,
            client_ca_pem: self.client_ca.as_ref().map(read).transpose()?,
        })
    }
}

/// Loads a policy file laid over the built-in policy, with the mode flag applied.
pub fn load_policy(source: &PolicySource, text: &str) -> Result<Policy, String> {
    let policy =
        Policy::layered(&source.path.display().to_string(), text).map_err(|e| e.to_string())?;
    Ok(match source.mode {
        Some(mode) => policy.with_mode(mode),
        None => policy,
    })
}

/// Polls the sources every `interval` until the task is dropped.
pub fn spawn(
    state: Arc<AppState>,
    tls_config: RustlsConfig,
    policy: Option<PolicySource>,
    tls_source: Option<TlsSource>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_policy: Option<Vec<u8>> =
            policy.as_ref().and_then(|p| std::fs::read(&p.path).ok());
        let mut last_tls: Option<Vec<u8>> = tls_source
            .as_ref()
            .and_then(|t| t.read().ok())
            .map(|m| fingerprint(&m));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if let Some(source) = &policy {
                reload_policy(&state, source, &mut last_policy);
            }
            if let Some(source) = &tls_source {
                reload_tls(&state, &tls_config, source, &mut last_tls).await;
            }
        }
    })
}

fn reload_policy(state: &AppState, source: &PolicySource, last: &mut Option<Vec<u8>>) {
    let Ok(bytes) = std::fs::read(&source.path) else {
        // A missing file mid-swap is not a new policy; try again next tick.
        return;
    };
    if last.as_deref() == Some(bytes.as_slice()) {
        return;
    }
    *last = Some(bytes.clone());
    let result = String::from_utf8(bytes)
        .map_err(|_| "the policy file is not UTF-8".to_string())
        .and_then(|text| load_policy(source, &text));
    match result {
        Ok(policy) => {
            tracing::info!(source = %policy.source, mode = policy.mode.as_str(), "policy reloaded");
            state.policy.store(Arc::new(policy));
            state.metrics.record_policy_reload(Reload::Success);
        }
        Err(error) => {
            tracing::error!(%error, "the new policy file is invalid; the last good policy stays in force");
            state.metrics.record_policy_reload(Reload::Failure);
        }
    }
}

async fn reload_tls(
    state: &AppState,
    config: &RustlsConfig,
    source: &TlsSource,
    last: &mut Option<Vec<u8>>,
) {
    let Ok(material) = source.read() else { return };
    let print = fingerprint(&material);
    if last.as_deref() == Some(print.as_slice()) {
        return;
    }
    // Remembered either way: a half-written pair changes content again when the second file
    // lands, which triggers the next attempt.
    *last = Some(print);
    match tls::server_config(&material) {
        Ok(server_config) => {
            config.reload_from_config(server_config);
            if let Some(expiry) = tls::leaf_not_after(&material.cert_pem) {
                state.metrics.set_certificate_expiry(expiry);
            }
            state.metrics.record_certificate_reload(Reload::Success);
            tracing::info!(cert = %source.cert.display(), "serving certificate reloaded");
        }
        Err(error) => {
            tracing::warn!(%error, "the new certificate and key do not load yet; still serving the previous ones");
            state.metrics.record_certificate_reload(Reload::Failure);
        }
    }
}

/// The concatenated contents, to notice any change (the files are small).
fn fingerprint(material: &TlsMaterial) -> Vec<u8> {
    let mut all = material.cert_pem.clone();
    all.extend_from_slice(&material.key_pem);
    if let Some(ca) = &material.client_ca_pem {
        all.extend_from_slice(ca);
    }
    all
}
