//! What a mutation is: the [`Mutation`] trait, the [`MutationSpec`] each one declares, the
//! [`Change`] it records, and the one gate on which pod specs a mutation may touch.
//!
//! Every file under `mutations/` imports this module and the object model beneath it, never
//! the mutation list or the policy above it.

use serde::Serialize;

use super::rule::{Context, Operation};
use super::workload::{Object, PodMut};

/// A configured mutation. It writes only the object's metadata and its pod template (the
/// template's metadata and the pod spec: containers, the pod's security context, its
/// termination grace period); the review's JSON Patch is built from those parts alone
/// ([`super::patch::between`]).
pub trait Mutation: Send + Sync {
    /// Adds what is missing to `object` and records each change.
    fn apply(&self, object: &mut Object, ctx: &Context, changes: &mut Vec<Change>);
}

/// One change a mutation made (or would make, in audit mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub mutation: &'static str,
    /// The field that was added or set, e.g. `spec.template.spec.containers[web].resources`.
    pub field: String,
    pub message: String,
}

/// Builds a configured mutation from its merged params; `Err` says what is wrong with them.
pub type BuildMutation = fn(serde_json::Value) -> Result<Box<dyn Mutation>, String>;

/// What a mutation declares about itself.
pub struct MutationSpec {
    pub id: &'static str,
    /// What it adds, in one line.
    pub summary: &'static str,
    /// Why, in a few words.
    pub why: &'static str,
    /// The validating rule this mutation answers.
    pub answers: &'static str,
    pub build: BuildMutation,
}

/// Deserializes a mutation's params, turning serde's error into a message.
pub fn params<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// The pod spec a mutation may change in this review: `None` for kinds without one, and on
/// UPDATE of a Pod or a Job, whose pod spec is immutable once created.
pub fn pod_to_mutate<'o>(object: &'o mut Object, ctx: &Context) -> Option<PodMut<'o>> {
    let fixed = ctx.operation == Operation::Update && object.kind().pod_spec_fixed_after_create();
    if fixed {
        return None;
    }
    object.pod_for_mutation()
}
