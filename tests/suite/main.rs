//! The integration tests that may share one process, in one binary: one link instead of
//! twenty, and a fraction of the disk. Tests that change process-wide state (the file-descriptor
//! limit, the log subscribers) or measure latency keep binaries of their own.

#[path = "../common/mod.rs"]
mod common;

mod admission_http;
mod answers_http;
mod check_cli;
mod corpus;
mod deploy;
mod faults_under_load;
mod files_and_flags;
mod html_report;
mod limits_http;
mod mutate_cli;
mod mutate_corpus;
mod mutate_http;
mod one_decision;
mod operations_http;
mod other_kinds_http;
mod patch_regions;
mod robustness_http;
mod shutdown;
mod validate_http;
