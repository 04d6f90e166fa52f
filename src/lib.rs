//! bulwark: a Kubernetes admission webhook that checks every object against proven deployment
//! practices and patches in safe defaults.
//!
//! One pure engine serves every front:
//!
//! ```text
//!   AdmissionReview ─┐                     ┌─▶ AdmissionResponse (allowed, warnings, audit)
//!   manifest files ──┼─▶ engine::Object ─▶ evaluate ─▶ findings ─▶ decide ─▶ Verdict ─┼─▶ report
//!   cluster objects ─┘   (workload.rs)     (rules/)                (policy)          └─▶ ...
//! ```
//!
//! - [`engine`]: typed objects, the kinds-to-pod-spec map, the rules, the policy model.
//! - [`server`]: the TLS webhook endpoints and the plain-HTTP admin port.
//! - [`cli`]: the command line.

pub mod audit;
pub mod catalog;
pub mod certs;
pub mod cli;
pub mod clock;
pub mod engine;
pub mod install;
pub mod logging;
pub mod manifests;
pub mod offline;
pub mod run;
pub mod server;
pub mod vap;
