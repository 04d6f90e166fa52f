//! The AdmissionReview request as it arrives, read in one pass.
//!
//! The API server writes a request's `kind` and `operation` before its `object`, so the object
//! can be decoded as its kind the moment the reader reaches it, without first capturing it as
//! raw JSON and reading it a second time. [`InOnePass`] does that; when the fields come in
//! another order the object is captured raw and decoded after, as before. Anything that does
//! not read in one pass (a malformed request, an object that does not decode) is read again by
//! the derived [`Request`] decoder and [`crate::server::review::decode_object`], whose errors
//! say where the fault is.

use std::fmt;

use kube::core::GroupVersionKind;
use kube::core::admission::Operation;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::engine::admission::Target;
use crate::engine::unread::Unread;
use crate::engine::{Kind, Object};

/// The review around the request. Read with the request in one pass (`Envelope<InOnePass>`),
/// and only when that fails, with the request kept raw (`Envelope<&RawValue>`), to say which
/// part is at fault.
#[derive(Deserialize)]
pub struct Envelope<R> {
    #[serde(rename = "apiVersion")]
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub request: Option<R>,
}

/// The request fields bulwark reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request<'a> {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub operation: Operation,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub user_info: Option<UserInfo>,
    /// The object as raw JSON, when it was not decoded as it was read.
    #[serde(default, borrow)]
    pub object: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub old_object: Option<&'a RawValue>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// The object, when it was decoded as it was read (`managedFields` unread).
    #[serde(skip)]
    pub decoded: Option<Object>,
}

#[derive(Deserialize, Default)]
pub struct UserInfo {
    #[serde(default)]
    pub username: Option<String>,
}

/// A request read in one pass, its object decoded on the way when its kind came first.
pub struct InOnePass<'a>(pub Request<'a>);

impl<'de> Deserialize<'de> for InOnePass<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RequestVisitor).map(InOnePass)
    }
}

/// The request's fields, by their wire names.
enum Field {
    Uid,
    Kind,
    Operation,
    Name,
    Namespace,
    SubResource,
    UserInfo,
    Object,
    OldObject,
    DryRun,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(match name {
                    "uid" => Field::Uid,
                    "kind" => Field::Kind,
                    "operation" => Field::Operation,
                    "name" => Field::Name,
                    "namespace" => Field::Namespace,
                    "subResource" => Field::SubResource,
                    "userInfo" => Field::UserInfo,
                    "object" => Field::Object,
                    "oldObject" => Field::OldObject,
                    "dryRun" => Field::DryRun,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

struct RequestVisitor;

/// Sets a field once: a second value is an error, as the derived decoder makes it.
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    match slot {
        Some(_) => Err(E::duplicate_field(name)),
        None => {
            *slot = Some(value);
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = Request<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionReview request")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Request<'de>, A::Error> {
        let mut uid = None;
        let mut kind: Option<GroupVersionKind> = None;
        let mut operation: Option<Operation> = None;
        let (mut name, mut namespace, mut sub_resource) = (None, None, None);
        let (mut user_info, mut old_object, mut dry_run) = (None, None, None);
        // `Some(raw)` or `Some(decoded)`; `Some(None)` for a null object.
        let mut object: Option<Option<&'de RawValue>> = None;
        let mut decoded: Option<Option<Object>> = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Uid => once(&mut uid, map.next_value::<String>()?, "uid")?,
                Field::Kind => once(&mut kind, map.next_value()?, "kind")?,
                Field::Operation => once(&mut operation, map.next_value()?, "operation")?,
                Field::Name => once(&mut name, map.next_value::<Option<String>>()?, "name")?,
                Field::Namespace => once(
                    &mut namespace,
                    map.next_value::<Option<String>>()?,
                    "namespace",
                )?,
                Field::SubResource => once(
                    &mut sub_resource,
                    map.next_value::<Option<String>>()?,
                    "subResource",
                )?,
                Field::UserInfo => once(
                    &mut user_info,
                    map.next_value::<Option<UserInfo>>()?,
                    "userInfo",
                )?,
                Field::Object => {
                    if object.is_some() || decoded.is_some() {
                        return Err(de::Error::duplicate_field("object"));
                    }
                    let sub = sub_resource
                        .as_ref()
                        .and_then(|s: &Option<String>| s.as_deref());
                    match judged_kind(kind.as_ref(), operation.as_ref(), sub) {
                        Some(as_kind) => decoded = Some(map.next_value_seed(ObjectSeed(as_kind))?),
                        None => object = Some(map.next_value::<Option<&'de RawValue>>()?),
                    }
                }
                Field::OldObject => once(
                    &mut old_object,
                    map.next_value::<Option<&'de RawValue>>()?,
                    "oldObject",
                )?,
                Field::DryRun => once(&mut dry_run, map.next_value::<Option<bool>>()?, "dryRun")?,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Request {
            uid: uid.ok_or_else(|| de::Error::missing_field("uid"))?,
            kind: kind.ok_or_else(|| de::Error::missing_field("kind"))?,
            operation: operation.ok_or_else(|| de::Error::missing_field("operation"))?,
            name: name.flatten(),
            namespace: namespace.flatten(),
            sub_resource: sub_resource.flatten(),
            user_info: user_info.flatten(),
            object: object.flatten(),
            old_object: old_object.flatten(),
            dry_run: dry_run.flatten(),
            decoded: decoded.flatten(),
        })
    }
}

/// The kind to decode the object as while reading it: known, one bulwark judges, on an
/// operation and a subresource it judges (as `review::judge` decides them: an object it would
/// not judge is not decoded). A subresource that comes after the object is not seen here; the
/// object is then decoded, and judge still leaves it alone.
fn judged_kind(
    kind: Option<&GroupVersionKind>,
    operation: Option<&Operation>,
    sub_resource: Option<&str>,
) -> Option<Kind> {
    let gvk = kind?;
    match operation? {
        Operation::Create | Operation::Update => {}
        Operation::Delete | Operation::Connect => return None,
    }
    let kind = Kind::from_gvk(&gvk.group, &gvk.version, &gvk.kind)?;
    Target::of(kind, sub_resource).map(|_| kind)
}

/// Decodes the object as `kind` with its `managedFields` unread; a null object is `None`.
struct ObjectSeed(Kind);

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Option<Object>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed {
    type Value = Option<Object>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {}", self.0.name())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Object::deserialize_kind(self.0, Unread::managed_fields(deserializer)).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_one_pass(body: &str) -> Result<Request<'_>, serde_json::Error> {
        serde_json::from_str::<Envelope<InOnePass>>(body).map(|e| e.request.expect("a request").0)
    }

    fn apart(body: &str) -> (Request<'_>, Option<Object>) {
        let envelope: Envelope<&RawValue> = serde_json::from_str(body).expect("an envelope");
        let raw = envelope.request.expect("a request");
        let request: Request = serde_json::from_str(raw.get()).expect("a request");
        let object = request.object.filter(|r| r.get() != "null").map(|raw| {
            let kind = Kind::from_gvk(
                &request.kind.group,
                &request.kind.version,
                &request.kind.kind,
            )
            .expect("a judged kind");
            Object::decode_json_unread(kind, raw.get()).expect("decodes")
        });
        (request, object)
    }

    #[test]
    fn the_shared_reviews_read_in_one_pass_as_they_read_apart() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reviews");
        let mut read = 0;
        for entry in std::fs::read_dir(&dir).expect("../shared/reviews") {
            let path = entry.expect("an entry").path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let body = std::fs::read_to_string(&path).expect("readable");
            let fast = in_one_pass(&body).expect("reads in one pass");
            let (slow, slow_object) = apart(&body);
            assert!(
                fast.object.is_none(),
                "{}: decoded on the way",
                path.display()
            );
            assert_eq!(fast.decoded, slow_object, "{}", path.display());
            assert_eq!(fast.uid, slow.uid);
            assert_eq!(fast.kind, slow.kind);
            assert_eq!(fast.operation, slow.operation);
            assert_eq!(fast.name, slow.name);
            assert_eq!(fast.namespace, slow.namespace);
            assert_eq!(fast.sub_resource, slow.sub_resource);
            assert_eq!(fast.dry_run, slow.dry_run);
            assert_eq!(
                fast.old_object.map(|r| r.get()),
                slow.old_object.map(|r| r.get())
            );
            read += 1;
        }
        assert!(read >= 5, "only {read} reviews under {}", dir.display());
    }

    const HEAD: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":"#;
    const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}"#;
    const KIND: &str = r#""kind":{"group":"","version":"v1","kind":"Pod"}"#;

    #[test]
    fn an_object_before_its_kind_is_kept_raw_and_a_null_object_is_none() {
        let late = format!(r#"{HEAD}{{"uid":"u","object":{POD},{KIND},"operation":"CREATE"}}}}"#);
        let request = in_one_pass(&late).expect("reads");
        assert!(request.decoded.is_none());
        assert_eq!(request.object.map(|r| r.get()), Some(POD));

        let null = format!(r#"{HEAD}{{"uid":"u",{KIND},"operation":"CREATE","object":null}}}}"#);
        let request = in_one_pass(&null).expect("reads");
        assert!(request.decoded.is_none() && request.object.is_none());

        let deleted =
            format!(r#"{HEAD}{{"uid":"u",{KIND},"operation":"DELETE","object":{POD}}}}}"#);
        assert!(in_one_pass(&deleted).expect("reads").decoded.is_none());

        // A subresource the webhook does not judge: not decoded; one it judges: decoded.
        for (sub, decoded) in [("status", false), ("ephemeralcontainers", true)] {
            let body = format!(
                r#"{HEAD}{{"uid":"u",{KIND},"subResource":"{sub}","operation":"UPDATE","object":{POD}}}}}"#
            );
            let request = in_one_pass(&body).expect("reads");
            assert_eq!(request.decoded.is_some(), decoded, "{sub}");
            assert_eq!(request.object.is_some(), !decoded, "{sub}");
        }
    }

    #[test]
    fn what_the_derived_decoder_refuses_one_pass_refuses_too() {
        for request in [
            format!(r#"{{"uid":"u",{KIND},"operation":"CREATE","object":{POD},"object":{POD}}}"#),
            format!(r#"{{"uid":"u","uid":"v",{KIND},"operation":"CREATE"}}"#),
            format!(r#"{{{KIND},"operation":"CREATE"}}"#),
            format!(r#"{{"uid":"u",{KIND},"operation":"ERASE"}}"#),
            format!(r#"{{"uid":"u",{KIND},"operation":"CREATE","dryRun":"yes"}}"#),
        ] {
            assert!(
                serde_json::from_str::<Request>(&request).is_err(),
                "{request}"
            );
            assert!(
                in_one_pass(&format!("{HEAD}{request}}}")).is_err(),
                "{request}"
            );
        }
        // An object that does not decode as its kind fails the one pass; the review is then
        // read apart, and the decode error explained.
        let bad = POD.replace(r#""image":"nginx""#, r#""image":7"#);
        let request = format!(r#"{{"uid":"u",{KIND},"operation":"CREATE","object":{bad}}}"#);
        assert!(in_one_pass(&format!("{HEAD}{request}}}")).is_err());
        assert!(serde_json::from_str::<Request>(&request).is_ok());
    }
}
