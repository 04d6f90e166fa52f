//! The pure policy engine: typed objects in, findings and decisions out.
//!
//! Nothing in here performs I/O, reads the clock, logs or is `async`: the current time and any
//! cluster facts arrive through [`Context`]. Every front (the webhook, `check`, `audit`) is a
//! thin adapter around [`admission::admit`] and [`admission::mutate`].
//!
//! ```text
//! Review ──admit(policy, ctx)──▶ Decision (findings with actions, exemptions)
//!        ──mutate(policy, ctx)─▶ Mutated (object, changes, JSON Patch)
//! ```
//!
//! From the bottom up: `workload.rs` (the kinds and where each keeps its pod spec),
//! `bundle.rs` (the cross-object index), `rule.rs` and `mutation.rs` (what a rule and a
//! mutation are), `rules/` and `mutations/` (one file each), `registry.rs` and
//! `mutations/mod.rs` (the lists), `policy.rs` (actions, params, exemptions), `exemption.rs`,
//! and `admission.rs` on top.

pub mod admission;
pub mod bundle;
pub mod cel;
pub mod containers;
pub mod decode;
pub mod exemption;
pub mod image;
pub mod keypair;
pub mod mutation;
pub mod mutations;
pub mod patch;
pub mod policy;
pub mod quantity;
pub mod registry;
pub mod rule;
pub mod rules;
pub mod secrets;
pub mod unread;
pub mod workload;

pub use admission::{Decision, Judged, Review, Target, admit, mutate};
pub use bundle::BundleIndex;
pub use policy::{Mode, Policy, PolicyError, Selection, SelectionError};
pub use rule::{Action, Context, Finding, Operation, Origin, RuleClass};
pub use workload::{Kind, Object};
