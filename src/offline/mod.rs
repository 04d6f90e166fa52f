//! The offline fronts: the same engine on manifest files instead of AdmissionReviews.

pub mod check;
pub mod mutate;
pub mod report;
