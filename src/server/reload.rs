//! Hot reload of the policy file and the TLS material, by polling file contents.
//!
//! Polling content (not modification events) sees the symlink swap a Kubernetes Secret or
//! ConfigMap volume makes. A new policy or certificate replaces the old one only after it has
//! fully loaded and validated; on any failure the last good one stays in force, the failure is
//! logged once per change (of content, or of the reason the file cannot be read) and counted in
//! a metric. Files are read with [`files::read_regular`] on a blocking thread, so a FIFO, a huge
//! file or a slow disk never holds an async worker. Swapping the TLS config affects new
//! handshakes only: open connections keep going.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::AppState;
use super::files;
use super::metrics::Reload;
use super::tls::{self, Reloadable, TlsMaterial};
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
    /// Reads all files; fails when one cannot be read (a write may be in progress).
    pub fn read(&self) -> Result<TlsMaterial, String> {
        let read =
            |p: &PathBuf| files::read_regular(p, files::MAX_PEM_BYTES).map_err(|e| e.to_string());
        Ok(TlsMaterial {
            cert_pem: read(&self.cert)?,
            key_pem: read(&self.key)?,
            client_ca_pem: self.client_ca.as_ref().map(read).transpose()?,
        })
    }
}

/// Reads the policy file: a regular file of at most [`files::MAX_POLICY_BYTES`], in UTF-8.
pub fn read_policy_file(source: &PolicySource) -> Result<String, String> {
    let bytes =
        files::read_regular(&source.path, files::MAX_POLICY_BYTES).map_err(|e| e.to_string())?;
    String::from_utf8(bytes)
        .map_err(|_| format!("the policy file {} is not UTF-8", source.path.display()))
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

/// What the reloader last saw at a path: the content it loaded (or tried), or why it could not
/// read the file, so each change is handled and logged once.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Content(Vec<u8>),
    Unreadable(String),
}

/// Polls the sources every `interval` until the task is dropped.
pub fn spawn(
    state: Arc<AppState>,
    tls_config: Reloadable,
    policy: Option<PolicySource>,
    tls_source: Option<TlsSource>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    // A zero period would panic the interval; the command line refuses anything under a second.
    let interval = interval.max(Duration::from_millis(10));
    tokio::spawn(async move {
        let mut last_policy = match &policy {
            Some(source) => Some(seen_policy(source.clone()).await),
            None => None,
        };
        let mut last_tls = match &tls_source {
            Some(source) => Some(seen_tls(source.clone()).await),
            None => None,
        };
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if let (Some(source), Some(last)) = (&policy, &mut last_policy) {
                reload_policy(&state, source, last).await;
            }
            if let (Some(source), Some(last)) = (&tls_source, &mut last_tls) {
                reload_tls(&state, &tls_config, source, last).await;
            }
        }
    })
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(work).await.ok()
}

async fn seen_policy(source: PolicySource) -> Seen {
    blocking(
        move || match files::read_regular(&source.path, files::MAX_POLICY_BYTES) {
            Ok(bytes) => Seen::Content(bytes),
            Err(error) => Seen::Unreadable(error.to_string()),
        },
    )
    .await
    .unwrap_or_else(|| Seen::Unreadable("the file read failed".into()))
}

async fn reload_policy(state: &AppState, source: &PolicySource, last: &mut Seen) {
    let seen = seen_policy(source.clone()).await;
    if seen == *last {
        return;
    }
    let bytes = match &seen {
        Seen::Content(bytes) => bytes.clone(),
        Seen::Unreadable(error) => {
            // A vanished file, a directory, a FIFO, a file over the size cap.
            tracing::error!(%error, "cannot read the policy file; the last good policy stays in force");
            state.metrics.record_policy_reload(Reload::Failure);
            *last = seen;
            return;
        }
    };
    *last = seen;
    let source = source.clone();
    // Parsing a large file costs time too: on the blocking pool as well.
    let result = blocking(move || {
        String::from_utf8(bytes)
            .map_err(|_| "the policy file is not UTF-8".to_string())
            .and_then(|text| load_policy(&source, &text))
    })
    .await
    .unwrap_or_else(|| Err("loading the policy failed".into()));
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

/// The TLS files' contents concatenated (they are small), or why one cannot be read.
async fn seen_tls(source: TlsSource) -> Seen {
    blocking(move || match source.read() {
        Ok(material) => Seen::Content(fingerprint(&material)),
        Err(error) => Seen::Unreadable(error),
    })
    .await
    .unwrap_or_else(|| Seen::Unreadable("the file read failed".into()))
}

async fn reload_tls(state: &AppState, config: &Reloadable, source: &TlsSource, last: &mut Seen) {
    let reading = source.clone();
    let Some(read) = blocking(move || reading.read()).await else {
        return;
    };
    let material = match read {
        Ok(material) => material,
        Err(error) => {
            // A file missing for one tick is a swap in progress; each new reason is logged.
            let seen = Seen::Unreadable(error.clone());
            if seen != *last {
                tracing::warn!(%error, "cannot read the TLS files; still serving the previous certificate");
                *last = seen;
            }
            return;
        }
    };
    let seen = Seen::Content(fingerprint(&material));
    if seen == *last {
        return;
    }
    // Remembered either way: a half-written pair changes content again when the second file
    // lands, which triggers the next attempt.
    *last = seen;
    match tls::server_config(&material) {
        Ok(server_config) => {
            config.replace(server_config);
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

fn fingerprint(material: &TlsMaterial) -> Vec<u8> {
    let mut all = material.cert_pem.clone();
    all.extend_from_slice(&material.key_pem);
    if let Some(ca) = &material.client_ca_pem {
        all.extend_from_slice(ca);
    }
    all
}
