//! Why an object does not decode as its kind, in words built from the failing field's path and
//! the kind of mismatch, never from the decoder's message.
//!
//! serde's messages quote the offending value (`invalid type: string "hunter2", expected
//! i32`), the base64 and timestamp parsers quote bytes of it, and the value may itself contain
//! whatever words a redactor would cut at (`"x, expected TOKEN"`). So when a decode fails, the
//! object is decoded a second time from a [`serde_value::Value`] with an error type of our own,
//! [`Mismatch`], that serde hands the mismatch to in parts: the kind of value found (its type,
//! without the value), what the field expected (the field type's own words) and the field
//! names of the schema. `serde_path_to_error` tracks the path. Only those parts reach a
//! message.

use std::fmt;

use serde::de::{self, Expected, Unexpected};
use serde_path_to_error::{Path, Segment, Track};

use super::workload::{Kind, Object};

/// What the field's type expected is cut to this many characters.
const EXPECTED_MAX_CHARS: usize = 80;
/// A map key shown in a path is cut to this many characters.
const KEY_MAX_CHARS: usize = 64;

/// Why an object does not decode, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The failing field, such as `spec.template.spec.containers[0].env[3].value`; empty when
    /// the object itself is at fault.
    pub path: String,
    /// The same path step by step, as written (keys uncut), so a front that has the source
    /// text can find the field's line.
    pub steps: Vec<Step>,
    pub problem: Problem,
}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// The kind of mismatch. Nothing here holds any part of the object's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A value of the wrong JSON type: what was found, and what the field takes.
    WrongType {
        found: &'static str,
        expected: String,
    },
    /// A value of the right type that the field does not accept (a number out of range).
    BadValue {
        found: &'static str,
        expected: String,
    },
    /// A list of the wrong length.
    WrongLength {
        expected: String,
    },
    /// A string that is none of the names the field takes.
    UnknownVariant {
        expected: &'static [&'static str],
    },
    MissingField(&'static str),
    DuplicateField(&'static str),
    /// A string that is not base64 (Secret `data`, ConfigMap `binaryData`).
    NotBase64,
    /// A string that is not an RFC 3339 timestamp.
    NotTimestamp,
    /// Something else the field's parser refused; what it said is not repeated.
    Invalid,
    /// The text is not JSON.
    NotJson,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::WrongType { found, expected } => {
                write!(f, "invalid type: {found}, expected {expected}")
            }
            Problem::BadValue { found, expected } => {
                write!(f, "invalid value: {found}, expected {expected}")
            }
            Problem::WrongLength { expected } => write!(f, "invalid length, expected {expected}"),
            Problem::UnknownVariant { expected } => {
                let names: Vec<String> = expected.iter().map(|n| format!("`{n}`")).collect();
                write!(f, "unknown value, expected one of {}", names.join(", "))
            }
            Problem::MissingField(field) => write!(f, "missing field `{field}`"),
            Problem::DuplicateField(field) => write!(f, "duplicate field `{field}`"),
            Problem::NotBase64 => f.write_str("invalid base64"),
            Problem::NotTimestamp => {
                f.write_str("not an RFC 3339 timestamp (such as 2024-01-31T12:00:00Z)")
            }
            Problem::Invalid => f.write_str("a value this field does not accept"),
            Problem::NotJson => f.write_str("not valid JSON"),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.as_str() {
            "" => write!(f, "{}", self.problem),
            path => write!(f, "at `{path}`: {}", self.problem),
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    /// The sentence reports and responses show: `cannot decode the apps/v1 Deployment: at
    /// `spec.replicas`: invalid type: string, expected i32`.
    pub fn message(&self, api_version: &str, kind: &str) -> String {
        format!("cannot decode the {api_version} {kind}: {self}")
    }
}

/// Explains why JSON text does not decode as `kind`.
pub fn explain_json(kind: Kind, json: &str) -> DecodeError {
    explain_text(kind, json, |_| ())
}

/// Explains why JSON text does not decode as `kind` when its `metadata.managedFields` is left
/// unread (see [`super::unread`]).
pub fn explain_json_unread(kind: Kind, json: &str) -> DecodeError {
    explain_text(kind, json, |value| {
        use serde_value::Value;
        if let Value::Map(object) = value
            && let Some(Value::Map(metadata)) = object.get_mut(&Value::String("metadata".into()))
        {
            metadata.remove(&Value::String("managedFields".into()));
        }
    })
}

fn explain_text(
    kind: Kind,
    json: &str,
    prepare: impl FnOnce(&mut serde_value::Value),
) -> DecodeError {
    match serde_json::from_str::<serde_value::Value>(json) {
        // Both decoders read the same JSON the same way; should the second ever accept what
        // the first refused, nothing more can be said.
        Ok(mut value) => {
            prepare(&mut value);
            explain(kind, value).unwrap_or(DecodeError {
                path: String::new(),
                steps: Vec::new(),
                problem: Problem::Invalid,
            })
        }
        Err(_) => DecodeError {
            path: String::new(),
            steps: Vec::new(),
            problem: Problem::NotJson,
        },
    }
}

/// Explains why a parsed JSON value does not decode as `kind`.
pub fn explain_value(kind: Kind, value: &serde_json::Value) -> DecodeError {
    serde_value::to_value(value)
        .ok()
        .and_then(|value| explain(kind, value))
        .unwrap_or(DecodeError {
            path: String::new(),
            steps: Vec::new(),
            problem: Problem::Invalid,
        })
}

/// Decodes `value` again with [`Mismatch`] errors; `None` if it decodes this time.
fn explain(kind: Kind, value: serde_value::Value) -> Option<DecodeError> {
    let mut track = Track::new();
    let de = serde_path_to_error::Deserializer::new(
        serde_value::ValueDeserializer::<Mismatch>::new(value),
        &mut track,
    );
    let Mismatch(problem) = Object::deserialize_kind(kind, de).err()?;
    let tracked = track.path();
    let path = show_path(&tracked);
    let steps = tracked
        .iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(Step::Index(*index)),
            Segment::Map { key } => Some(Step::Key(key.clone())),
            Segment::Enum { variant } => Some(Step::Key(variant.clone())),
            Segment::Unknown => None,
        })
        .collect();
    let problem = match problem {
        // The only custom errors of the k8s-openapi types besides base64 come from their
        // timestamps, whose fields are named `...Time` or `...Timestamp`.
        Problem::Invalid if path.ends_with("Time") || path.ends_with("Timestamp") => {
            Problem::NotTimestamp
        }
        other => other,
    };
    Some(DecodeError {
        path,
        steps,
        problem,
    })
}

/// `spec.containers[0].env[3].value`, with long map keys cut and control characters escaped.
pub fn show_path(path: &Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        let name = match segment {
            Segment::Seq { index } => {
                out.push_str(&format!("[{index}]"));
                continue;
            }
            Segment::Map { key } => key.as_str(),
            Segment::Enum { variant } => variant.as_str(),
            Segment::Unknown => "?",
        };
        if !out.is_empty() {
            out.push('.');
        }
        let shown: String = name.chars().take(KEY_MAX_CHARS).collect();
        out.extend(shown.chars().flat_map(char::escape_default));
        if name.chars().nth(KEY_MAX_CHARS).is_some() {
            out.push('…');
        }
    }
    out
}

/// A decode error that keeps only the parts of serde's report that cannot hold a value.
#[derive(Debug)]
pub struct Mismatch(pub Problem);

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Mismatch {}

/// serde's name for a kind of value, without the value.
fn found(unexpected: &Unexpected) -> &'static str {
    match unexpected {
        Unexpected::Bool(_) => "boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "integer",
        Unexpected::Float(_) => "floating point",
        Unexpected::Char(_) => "character",
        Unexpected::Str(_) => "string",
        Unexpected::Bytes(_) => "byte array",
        Unexpected::Unit => "null",
        Unexpected::Option => "optional value",
        Unexpected::NewtypeStruct => "newtype struct",
        Unexpected::Seq => "sequence",
        Unexpected::Map => "map",
        Unexpected::Enum => "enum",
        Unexpected::UnitVariant
        | Unexpected::NewtypeVariant
        | Unexpected::TupleVariant
        | Unexpected::StructVariant => "enum variant",
        Unexpected::Other(_) => "value",
    }
}

/// What the field's type says it expects (the type's own words, never the input's).
fn expected(expected: &dyn Expected) -> String {
    let text = expected.to_string();
    match text.char_indices().nth(EXPECTED_MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

impl de::Error for Mismatch {
    /// Custom errors carry a parser's own message, which may quote the value: it is only
    /// looked at to tell a base64 error (whose messages start with these words) from others.
    fn custom<T: fmt::Display>(message: T) -> Self {
        let message = message.to_string();
        let base64 = [
            "Invalid symbol",
            "Invalid last symbol",
            "Invalid padding",
            "Invalid input length",
            "Encoded text cannot have a 6-bit remainder",
        ];
        if base64.iter().any(|p| message.starts_with(p)) {
            Mismatch(Problem::NotBase64)
        } else {
            Mismatch(Problem::Invalid)
        }
    }

    fn invalid_type(unexpected: Unexpected, exp: &dyn Expected) -> Self {
        Mismatch(Problem::WrongType {
            found: found(&unexpected),
            expected: expected(exp),
        })
    }

    fn invalid_value(unexpected: Unexpected, exp: &dyn Expected) -> Self {
        Mismatch(Problem::BadValue {
            found: found(&unexpected),
            expected: expected(exp),
        })
    }

    fn invalid_length(_len: usize, exp: &dyn Expected) -> Self {
        Mismatch(Problem::WrongLength {
            expected: expected(exp),
        })
    }

    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        Mismatch(Problem::UnknownVariant { expected })
    }

    fn unknown_field(_field: &str, _expected: &'static [&'static str]) -> Self {
        Mismatch(Problem::Invalid)
    }

    fn missing_field(field: &'static str) -> Self {
        Mismatch(Problem::MissingField(field))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Mismatch(Problem::DuplicateField(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOKEN: &str = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";

    fn explained(kind: Kind, object: serde_json::Value) -> String {
        let text = object.to_string();
        assert!(
            Object::from_json_str(kind, &text).is_err(),
            "{object} should not decode"
        );
        let from_text = explain_json(kind, &text);
        assert_eq!(from_text, explain_value(kind, &object));
        from_text.to_string()
    }

    #[test]
    fn a_wrong_type_names_the_path_the_found_type_and_the_expected_one() {
        let message = explained(
            Kind::Deployment,
            json!({"spec": {"replicas": "three", "selector": {}, "template": {}}}),
        );
        assert_eq!(
            message,
            "at `spec.replicas`: invalid type: string, expected i32"
        );
    }

    #[test]
    fn no_value_reaches_the_message_whatever_it_contains() {
        let sly = format!("x, expected {TOKEN}, expected i32");
        let cases = [
            (Kind::Deployment, json!({"spec": {"replicas": sly}})),
            (
                Kind::Secret,
                json!({"data": {"password": format!("%{sly}%")}}),
            ),
            (
                Kind::ConfigMap,
                json!({"metadata": {"name": "c", "creationTimestamp": sly}}),
            ),
            (
                Kind::Pod,
                json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": {"v": sly}}}}]}}),
            ),
            (
                Kind::Service,
                json!({"spec": {"ports": [{"port": 80, "targetPort": {"v": sly}}]}}),
            ),
            (Kind::ConfigMap, json!({"data": {"k": [sly]}})),
            (Kind::Role, json!({"rules": [{"verbs": sly}]})),
        ];
        for (kind, object) in cases {
            let message = explained(kind, object.clone());
            assert!(!message.contains("ghp_"), "{object}: {message}");
            assert!(!message.contains("x, expected"), "{object}: {message}");
        }
    }

    #[test]
    fn base64_and_timestamps_are_named_as_such() {
        assert_eq!(
            explained(Kind::Secret, json!({"data": {"password": "%not base64%"}})),
            "at `data.password`: invalid base64"
        );
        assert_eq!(
            explained(
                Kind::ConfigMap,
                json!({"metadata": {"creationTimestamp": "yesterday, expected soon"}})
            ),
            "at `metadata.creationTimestamp`: not an RFC 3339 timestamp (such as 2024-01-31T12:00:00Z)"
        );
    }

    #[test]
    fn missing_fields_numbers_out_of_range_and_not_json_are_explained() {
        assert_eq!(
            explained(
                Kind::PodDisruptionBudget,
                json!({"status": {"conditions": [{"type": "DisruptionAllowed"}]}})
            ),
            "at `status.conditions[0]`: missing field `lastTransitionTime`"
        );
        assert_eq!(
            explained(Kind::Deployment, json!({"spec": {"replicas": 1u64 << 40}})),
            "at `spec.replicas`: invalid value: integer, expected i32"
        );
        assert_eq!(
            explain_json(Kind::Pod, "{not json").to_string(),
            "not valid JSON"
        );
    }

    #[test]
    fn long_or_odd_keys_are_cut_and_escaped_in_paths() {
        let key = format!("{}\n", "k".repeat(100));
        let message = explained(Kind::Secret, json!({"data": {key: "%"}}));
        assert!(
            message.starts_with(&format!("at `data.{}…`", "k".repeat(64))),
            "{message}"
        );
        let message = explained(Kind::Secret, json!({"data": {"a\nb": "%"}}));
        assert!(message.starts_with("at `data.a\\nb`"), "{message}");
    }
}
