//! `bulwark mutate -f PATH...`: what the mutating webhook would change, as mutated YAML, as a
//! JSON Patch per object, or as a unified diff.
//!
//! The patch is computed typed-to-typed by the engine and applied to each document as written,
//! so fields the engine does not model pass through untouched.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::cli::MutateOutput;
use crate::engine::admission::{Review, mutate};
use crate::engine::{Context, Policy};
use crate::manifests::{Item, Source};

/// What a run produced: the text for stdout, notes and errors for stderr.
#[derive(Debug, Default)]
pub struct MutateRun {
    pub stdout: String,
    pub notes: Vec<String>,
    pub errors: Vec<String>,
}

/// Mutates every object of `items` with `policy`.
pub fn run(policy: &Policy, items: Vec<Item>, output: MutateOutput, now: i64) -> MutateRun {
    let mut out = MutateRun::default();
    let mut patches = Vec::new();
    for item in items {
        match item {
            Item::Object {
                source,
                raw,
                typed: Ok(object),
            } => {
                let namespace = object.meta().namespace.clone();
                let ctx = Context::manifest(namespace.as_deref(), None, None, now);
                let mutated = mutate(policy, &Review::of(&object), &ctx);
                let mut patched = raw.clone();
                if let Err(e) = json_patch::patch(&mut patched, &mutated.patch) {
                    out.errors
                        .push(format!("{}: cannot apply the patch: {e}", at(&source)));
                    continue;
                }
                let name = format!("{} {}", object.kind().name(), object.display_name());
                match output {
                    MutateOutput::Yaml => push_yaml(&mut out, &patched),
                    MutateOutput::Patch => patches.push(json!({
                        "file": source.file, "line": source.line,
                        "apiVersion": raw.get("apiVersion"), "kind": raw.get("kind"),
                        "namespace": object.meta().namespace, "name": object.meta().name,
                        "patch": mutated.patch,
                    })),
                    MutateOutput::Diff => {
                        let before = to_yaml(&raw);
                        let after = to_yaml(&patched);
                        if before != after {
                            let header = format!("{} ({name})", at(&source));
                            let diff = similar::TextDiff::from_lines(&before, &after);
                            let _ = write!(
                                out.stdout,
                                "{}",
                                diff.unified_diff()
                                    .context_radius(3)
                                    .header(&format!("a/{header}"), &format!("b/{header}"))
                            );
                        }
                    }
                }
            }
            Item::Object {
                source,
                raw,
                typed: Err(e),
            } => {
                out.errors.push(format!("{}: {e}", at(&source)));
                // Pass it on unchanged so a pipeline into kubectl loses nothing.
                if output == MutateOutput::Yaml {
                    push_yaml(&mut out, &raw);
                }
            }
            Item::Unread {
                source, note, raw, ..
            } => {
                out.notes.push(format!("{}: skipped: {note}", at(&source)));
                if output == MutateOutput::Yaml {
                    push_yaml(&mut out, &raw);
                }
            }
            Item::Skipped { source, raw, note } => {
                out.notes.push(format!("{}: skipped: {note}", at(&source)));
                // Namespaces, ServiceAccounts and the like pass through to kubectl unchanged.
                if let (MutateOutput::Yaml, Some(raw)) = (output, raw) {
                    push_yaml(&mut out, &raw);
                }
            }
            Item::Error { source, message } => {
                out.errors.push(format!("{}: {message}", at(&source)))
            }
        }
    }
    if output == MutateOutput::Patch {
        out.stdout =
            serde_json::to_string_pretty(&Value::Array(patches)).unwrap_or_default() + "\n";
    }
    out
}

fn at(source: &Source) -> String {
    format!("{}:{}", source.file, source.line)
}

fn push_yaml(out: &mut MutateRun, value: &Value) {
    out.stdout.push_str("---\n");
    out.stdout.push_str(&to_yaml(value));
}

/// A JSON value as block YAML.
pub fn to_yaml(value: &Value) -> String {
    let mut text = serde_saphyr::to_string(value)
        .unwrap_or_else(|e| format!("# cannot render as YAML: {e}\n"));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
