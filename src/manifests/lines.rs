//! Where the nodes of one YAML document sit: the line of each mapping key and list item, so
//! a decode error points at the failing field and each item of a `kind: List` at its own
//! line, not at the first line of the document.
//!
//! Built only when needed (a document that does not decode, a List), by reading the document a
//! second time with `serde_saphyr::Spanned` around every node; values are not kept.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::engine::decode::Step;

/// The lines of a document's nodes.
pub struct Lines(Spanned<Node>);

enum Node {
    Map(Vec<(Spanned<Key>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Leaf,
}

/// A mapping key as text (`80` and `true` are keys too); a key that is itself a collection
/// is empty, since no field path names it.
struct Key(String);

impl Lines {
    /// The lines of `text`, one YAML (or JSON) document; `None` if it does not parse.
    pub fn parse(text: &str) -> Option<Lines> {
        let mut options = serde_saphyr::Options::default();
        options.legacy_octal_numbers = true;
        serde_saphyr::from_str_with_options(text, options)
            .ok()
            .map(Lines)
    }

    /// The 1-based line, within the text, of the deepest node along `steps` that exists: a
    /// key's own line, a list item's line. `None` for the document itself.
    pub fn line_of(&self, steps: &[Step]) -> Option<usize> {
        let mut node = &self.0;
        let mut line = None;
        for step in steps {
            let (at, next) = match (&node.value, step) {
                (Node::Map(entries), Step::Key(key)) => {
                    // The last of a repeated key wins, as it does when the document is read.
                    let Some((k, v)) = entries.iter().rev().find(|(k, _)| k.value.0 == *key) else {
                        break;
                    };
                    (k.referenced.line(), v)
                }
                (Node::Seq(items), Step::Index(i)) => {
                    let Some(item) = items.get(*i) else { break };
                    (item.referenced.line(), item)
                }
                _ => break,
            };
            // Spans of merged or buffered values may be unknown (line 0): keep the last known.
            if at > 0 {
                line = usize::try_from(at).ok();
            }
            node = next;
        }
        line
    }
}

// === impl Deserialize ===

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

macro_rules! leaf {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, _: $ty) -> Result<Node, E> { Ok(Node::Leaf) })*
    };
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML node")
    }

    leaf!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128, visit_u128: u128,
          visit_f64: f64, visit_str: &str, visit_bytes: &[u8]);

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            entries.push((key, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

macro_rules! key {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, v: $ty) -> Result<Key, E> { Ok(Key(v.to_string())) })*
    };
}

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping key")
    }

    key!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
        Ok(Key("null".into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Key(String::new()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Key(String::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(path: &[&str]) -> Vec<Step> {
        path.iter()
            .map(|s| match s.parse::<usize>() {
                Ok(i) => Step::Index(i),
                Err(_) => Step::Key(s.to_string()),
            })
            .collect()
    }

    const DOC: &str = "\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers: [{name: web, image: w:1}]
      volumes:
        - name: cfg
          configMap:
            name: cfg
            defaultMode: 0755x
";

    #[test]
    fn finds_the_line_of_a_field_and_of_list_items() {
        let lines = Lines::parse(DOC).expect("parses");
        let at = |path: &[&str]| lines.line_of(&steps(path));
        assert_eq!(
            at(&[
                "spec",
                "template",
                "spec",
                "volumes",
                "0",
                "configMap",
                "defaultMode"
            ]),
            Some(11)
        );
        assert_eq!(at(&["spec", "template", "spec", "volumes", "0"]), Some(8));
        assert_eq!(
            at(&["spec", "template", "spec", "containers", "0"]),
            Some(6)
        );
        assert_eq!(at(&["kind"]), Some(2));
        // A path that leaves the document stops at the deepest node that exists.
        assert_eq!(at(&["spec", "template", "nothing", "here"]), Some(4));
        assert_eq!(at(&[]), None);
    }

    #[test]
    fn json_and_odd_keys_are_read_too() {
        let json = "{\n  \"items\": [\n    {\"a\": 1},\n    {\"b\": {\"80\": true}}\n  ]\n}";
        let lines = Lines::parse(json).expect("JSON is YAML");
        assert_eq!(lines.line_of(&steps(&["items", "1"])), Some(4));
        let odd = "name: x\n80: http\ntrue: yes\n";
        let lines = Lines::parse(odd).expect("parses");
        assert_eq!(lines.line_of(&[Step::Key("80".into())]), Some(2));
        assert_eq!(lines.line_of(&steps(&["true"])), Some(3));
    }
}
