//! The offline fronts: the same engine on manifest files instead of AdmissionReviews.

pub mod check;
pub mod mutate;
pub mod report;

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, read once per run at the edge.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
