//! Decoding that leaves the object's `metadata.managedFields` unread.
//!
//! The API server sends every object with its field-ownership records, often half the object's
//! bytes, and k8s-openapi decodes each entry's `fieldsV1` into a `serde_json::Value` tree. No
//! rule and no mutation reads them, and the webhook answers with a patch, never with the object,
//! so [`Unread`] wraps any serde deserializer and hands the top-level `metadata`'s
//! `managedFields` key to the typed decoder under a name no type knows: it is skipped as an
//! ignored field is (scanned, nothing allocated) and the typed object has `managedFields: None`.
//!
//! serde has no deserializer that renames a key, so this module is one: a proxy at two levels
//! (the object, then its `metadata`), which forwards everything else unchanged.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// The name the skipped key is given: no k8s-openapi type has a field of this name.
const SKIPPED_KEY: &str = "managedFields (not read)";

/// Where the proxy is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The object itself: watches for its `metadata` key.
    Object,
    /// The object's `metadata`: renames its `managedFields` key.
    Metadata,
}

/// A deserializer that decodes as `D` does, but leaves the top-level `metadata.managedFields`
/// unread.
pub struct Unread<D> {
    inner: D,
    level: Level,
}

impl<D> Unread<D> {
    /// Wraps the deserializer of a whole object.
    pub fn managed_fields(inner: D) -> Self {
        Unread {
            inner,
            level: Level::Object,
        }
    }
}

/// Forwards deserializer methods that hold no map to the inner deserializer unchanged.
macro_rules! forward {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.inner.$method(visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Unread<D> {
    type Error = D::Error;

    forward! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_seq deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_any(Wrap::new(visitor, self.level))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_map(Wrap::new(visitor, self.level))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_struct(name, fields, Wrap::new(visitor, self.level))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_option(Wrap::new(visitor, self.level))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_newtype_struct(name, Wrap::new(visitor, self.level))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Visitor methods that hand what they were given to `self.visitor` unchanged.
macro_rules! forward_visits {
    ($($method:ident $(($ty:ty))?),* $(,)?) => {
        $( forward_visits!(@one $method $($ty)?); )*
    };
    (@one $method:ident $ty:ty) => {
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.visitor.$method(v)
        }
    };
    (@one $method:ident) => {
        fn $method<E: de::Error>(self) -> Result<Self::Value, E> {
            self.visitor.$method()
        }
    };
}

/// A visitor that, handed a map, hands on a map that watches its keys.
struct Wrap<V> {
    visitor: V,
    level: Level,
}

impl<V> Wrap<V> {
    fn new(visitor: V, level: Level) -> Self {
        Wrap { visitor, level }
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_map(Keys {
            map,
            level: self.level,
            metadata_next: false,
        })
    }

    fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
        self.visitor.visit_some(Unread {
            inner,
            level: self.level,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
        self.visitor.visit_newtype_struct(Unread {
            inner,
            level: self.level,
        })
    }

    // Everything that is not a map goes to the visitor as it came.
    forward_visits! {
        visit_none, visit_unit, visit_bool(bool), visit_i64(i64), visit_u64(u64),
        visit_i128(i128), visit_u128(u128), visit_f64(f64), visit_str(&str),
        visit_borrowed_str(&'de str), visit_string(String), visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]), visit_byte_buf(Vec<u8>),
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_seq(seq)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_enum(data)
    }
}

/// The entries of a map at `level`: at the object, the value after a `metadata` key is read
/// through the metadata-level proxy; in the metadata, `managedFields` is renamed.
struct Keys<A> {
    map: A,
    level: Level,
    metadata_next: bool,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Keys<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let level = self.level;
        let metadata_next = &mut self.metadata_next;
        self.map.next_key_seed(KeySeed {
            seed,
            level,
            metadata_next,
        })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, Self::Error> {
        if std::mem::take(&mut self.metadata_next) {
            self.map.next_value_seed(MetadataSeed(seed))
        } else {
            self.map.next_value_seed(seed)
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// Reads a key through [`KeyName`].
struct KeySeed<'a, K> {
    seed: K,
    level: Level,
    metadata_next: &'a mut bool,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, inner: D) -> Result<K::Value, D::Error> {
        self.seed.deserialize(KeyName {
            inner,
            level: self.level,
            metadata_next: self.metadata_next,
        })
    }
}

/// The deserializer of one map key: whatever way the key is asked for, its string passes
/// through [`NameVisitor`].
struct KeyName<'a, D> {
    inner: D,
    level: Level,
    metadata_next: &'a mut bool,
}

impl<'a, D> KeyName<'a, D> {
    fn visitor<V>(self, visitor: V) -> (D, NameVisitor<'a, V>) {
        (
            self.inner,
            NameVisitor {
                visitor,
                level: self.level,
                metadata_next: self.metadata_next,
            },
        )
    }
}

macro_rules! key_through_names {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                let (inner, visitor) = self.visitor(visitor);
                inner.$method(visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyName<'_, D> {
    type Error = D::Error;

    key_through_names! { deserialize_any deserialize_str deserialize_string deserialize_identifier }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum ignored_any
    }
}

/// Hands a key's name to the key's visitor, renamed where it is the one left unread.
struct NameVisitor<'a, V> {
    visitor: V,
    level: Level,
    metadata_next: &'a mut bool,
}

impl<V> NameVisitor<'_, V> {
    /// The name the typed decoder sees for `key`.
    fn name(self, key: &str) -> (V, Option<&'static str>) {
        match (self.level, key) {
            (Level::Object, "metadata") => {
                *self.metadata_next = true;
                (self.visitor, None)
            }
            (Level::Metadata, "managedFields") => (self.visitor, Some(SKIPPED_KEY)),
            _ => (self.visitor, None),
        }
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for NameVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match self.name(v) {
            (visitor, Some(renamed)) => visitor.visit_str(renamed),
            (visitor, None) => visitor.visit_str(v),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        match self.name(v) {
            (visitor, Some(renamed)) => visitor.visit_str(renamed),
            (visitor, None) => visitor.visit_borrowed_str(v),
        }
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        match self.name(&v) {
            (visitor, Some(renamed)) => visitor.visit_str(renamed),
            (visitor, None) => visitor.visit_string(v),
        }
    }

    // A key that is not a string (not JSON) goes to the visitor as it came.
    forward_visits! {
        visit_unit, visit_bool(bool), visit_i64(i64), visit_u64(u64), visit_f64(f64),
        visit_bytes(&[u8]),
    }
}

/// Reads the value of the object's `metadata` key through the metadata-level proxy.
struct MetadataSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for MetadataSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, inner: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Unread {
            inner,
            level: Level::Metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::{Kind, Object};

    const DEPLOYMENT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment",
        "metadata":{"name":"web","labels":{"managedFields":"a label"},
          "managedFields":[{"manager":"kubectl","operation":"Apply","fieldsType":"FieldsV1",
            "fieldsV1":{"f:spec":{"f:replicas":{}}}}],"annotations":{"a":"b"}},
        "spec":{"selector":{"matchLabels":{"app":"web"}},"template":{
          "metadata":{"labels":{"app":"web"},"managedFields":[{"manager":"inner"}]},
          "spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}"#;

    #[test]
    fn managed_fields_are_left_unread_and_nothing_else_changes() {
        let unread = Object::from_json_str_unread(Kind::Deployment, DEPLOYMENT)
            .expect("decodes without managedFields");
        let mut full = Object::from_json_str(Kind::Deployment, DEPLOYMENT).expect("decodes");
        let Object::Deployment(d) = &mut full else {
            panic!("a Deployment")
        };
        assert!(d.metadata.managed_fields.is_some());
        d.metadata.managed_fields = None;
        // Keys of the same name below the metadata (a label, the template's) are untouched.
        assert_eq!(unread, full);
    }

    #[test]
    fn managed_fields_of_the_wrong_type_are_not_an_error_other_fields_still_are() {
        let wrong = DEPLOYMENT.replace(r#""manager":"kubectl""#, r#""manager":7"#);
        assert!(Object::from_json_str(Kind::Deployment, &wrong).is_err());
        assert!(Object::from_json_str_unread(Kind::Deployment, &wrong).is_ok());
        let bad_replicas = DEPLOYMENT.replace(r#""selector""#, r#""replicas":"three","selector""#);
        assert!(Object::from_json_str_unread(Kind::Deployment, &bad_replicas).is_err());
        assert!(
            Object::from_json_str_unread(Kind::Deployment, &DEPLOYMENT.replace('}', "")).is_err()
        );
    }

    #[test]
    fn every_kind_decodes_through_the_proxy() {
        for kind in Kind::ALL {
            let json = format!(
                r#"{{"apiVersion":"{}","kind":"{}","metadata":{{"name":"x","managedFields":[{{"manager":"m"}}]}}}}"#,
                kind.api_version(),
                kind.name()
            );
            let object = Object::from_json_str_unread(kind, &json)
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(object.kind(), kind);
            assert!(object.meta().managed_fields.is_none(), "{kind:?}");
        }
    }
}
