//! Manifest files as the offline fronts (`check`, `mutate`) read them: files, directories
//! (recursively, `.yaml`/`.yml`/`.json`), `-` for stdin; multi-document YAML, JSON and
//! `kind: List`. Each document keeps its file and first line so reports can point at it.
//!
//! A document that fails to parse is reported with its file and line, and the others are
//! still read. Documents that are not Kubernetes objects are skipped with a note.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_json::Value;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

mod lines;

use crate::engine::decode::Step;
use crate::engine::workload::other_version;
use crate::engine::{Kind, Object};

/// Where a document came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The path as given (or found under a given directory), `-` for stdin.
    pub file: String,
    /// 1-based line where the document starts; an item of a `kind: List` has the line where
    /// the item starts, and an object that does not decode the line of the failing field.
    pub line: usize,
}

/// One thing found in the input.
// Items are produced once and consumed right away; boxing the object would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Item {
    /// A Kubernetes object: its JSON as written, and its typed form if its kind is covered.
    Object {
        source: Source,
        raw: Value,
        typed: Result<Object, String>,
    },
    /// An object in a removed apiVersion whose kind bulwark does not read (or whose shape does
    /// not fit the current version): only its apiVersion and metadata can be judged.
    Unread {
        source: Source,
        api_version: String,
        kind: String,
        meta: Box<ObjectMeta>,
        /// Why the other rules cannot read it.
        note: String,
        /// The document as written.
        raw: Box<Value>,
    },
    /// Not a Kubernetes object, or a kind bulwark does not read; `note` says which. `raw` is
    /// the document when it is an object, so `mutate` can pass it on unchanged.
    Skipped {
        source: Source,
        raw: Option<Value>,
        note: String,
    },
    /// Could not be read or parsed.
    Error { source: Source, message: String },
}

/// Reads every path; never stops at the first bad file.
pub fn read_paths(paths: &[PathBuf]) -> Vec<Item> {
    let mut items = Vec::new();
    visit_paths(paths, &mut |item| items.push(item));
    items
}

/// Reads every path and hands each item to `out` as soon as it is parsed, so a caller that
/// keeps only part of an item (the typed object, not the raw JSON) never holds every raw
/// document at once.
pub fn visit_paths(paths: &[PathBuf], out: &mut dyn FnMut(Item)) {
    // A file reached twice (named on its own and inside a directory, or through a symlink) is
    // read once.
    let mut seen = HashSet::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => visit_text("-", &text, out),
                Err(e) => out(error("-", 0, format!("cannot read standard input: {e}"))),
            }
            continue;
        }
        for found in collect_files(path) {
            let file = match found {
                Ok(file) => file,
                Err((where_, message)) => {
                    out(error(&where_, 0, message));
                    continue;
                }
            };
            let identity = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            if !seen.insert(identity) {
                continue;
            }
            let name = file.display().to_string();
            match std::fs::read(&file) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => visit_text(&name, &text, out),
                    Err(_) => out(error(&name, 0, "the file is not UTF-8 text".into())),
                },
                Err(e) => out(error(&name, 0, format!("cannot read: {e}"))),
            }
        }
    }
}

fn error(file: &str, line: usize, message: String) -> Item {
    Item::Error {
        source: Source {
            file: file.to_string(),
            line,
        },
        message,
    }
}

/// A file as itself (whatever it is: `-f <(helm template ...)` names a pipe); a directory as
/// every regular `.yaml`/`.yml`/`.json` file below it, following symlinks, in a stable order.
/// A symlink loop or an unreadable subdirectory is reported (path, message) and the walk goes
/// on past it.
fn collect_files(path: &Path) -> Vec<Result<PathBuf, (String, String)>> {
    let here = |p: &Path| p.display().to_string();
    match std::fs::metadata(path) {
        Err(e) => return vec![Err((here(path), format!("cannot read: {e}")))],
        Ok(meta) if !meta.is_dir() => return vec![Ok(path.to_path_buf())],
        Ok(_) => {}
    }
    let walk = walkdir::WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name();
    let mut found = Vec::new();
    for entry in walk {
        match entry {
            Ok(entry) => {
                let is_manifest = matches!(
                    entry.path().extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                );
                if entry.file_type().is_file() && is_manifest {
                    found.push(Ok(entry.into_path()));
                }
            }
            Err(e) => {
                let at = e.path().map_or_else(|| here(path), here);
                let message = if let Some(ancestor) = e.loop_ancestor() {
                    format!(
                        "a symlink loop back to {}; not followed",
                        ancestor.display()
                    )
                } else {
                    match e.io_error() {
                        Some(io) => format!("cannot read: {io}"),
                        None => "cannot read".to_string(),
                    }
                };
                found.push(Err((at, message)));
            }
        }
    }
    found
}

/// Splits a text into documents and parses each. JSON texts are one document.
pub fn parse_text(file: &str, text: &str) -> Vec<Item> {
    let mut items = Vec::new();
    visit_text(file, text, &mut |item| items.push(item));
    items
}

/// [`parse_text`], handing each item to `out` as it is parsed.
pub fn visit_text(file: &str, text: &str, out: &mut dyn FnMut(Item)) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // JSON is one document; flow-style YAML (KYAML) also starts with `{`, so text that is not
    // valid JSON is read as YAML unless the file says `.json`.
    if file.ends_with(".json") || text.trim_start().starts_with(['{', '[']) {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                let source = Source {
                    file: file.into(),
                    line: 1,
                };
                let doc = Doc::new(text, 1);
                return push_value(out, source, value, &doc, &mut Vec::new());
            }
            Err(e) if file.ends_with(".json") => {
                return out(error(file, e.line(), format!("invalid JSON: {e}")));
            }
            Err(_) => {}
        }
    }
    for (line, chunk) in split_documents(text) {
        if chunk
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        let source = Source {
            file: file.into(),
            line,
        };
        match read_yaml(&chunk) {
            Ok(value) => push_value(out, source, value, &Doc::new(&chunk, line), &mut Vec::new()),
            Err(e) => {
                let at = e
                    .location()
                    .map_or(line, |l| line + l.line().saturating_sub(1) as usize);
                out(error(
                    file,
                    at,
                    format!("invalid YAML: {}", yaml_problem(&e)),
                ));
            }
        }
    }
}

/// A YAML parse error in bulwark's words: what is wrong, without the parser's advice about its
/// own options or the position (the report gives the line).
fn yaml_problem(e: &serde_saphyr::Error) -> String {
    let mut e = e;
    while let serde_saphyr::Error::WithSnippet { error, .. }
    | serde_saphyr::Error::AliasError { error, .. } = e
    {
        e = error;
    }
    if let serde_saphyr::Error::DuplicateMappingKey { key, .. } = e {
        return match key {
            Some(key) => {
                let key: String = key
                    .chars()
                    .take(64)
                    .flat_map(char::escape_default)
                    .collect();
                format!("the key `{key}` appears twice in one mapping; keep one")
            }
            None => "a key appears twice in one mapping; keep one".to_string(),
        };
    }
    let message = e.without_snippet().to_string();
    let first = message.lines().next().unwrap_or_default();
    let first = first.split(", set ").next().unwrap_or(first);
    let first = first.split(". If you").next().unwrap_or(first);
    let first = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    if first.trim().is_empty() {
        "the text is not valid YAML".to_string()
    } else {
        first.trim_end_matches([',', '.', ' ']).to_string()
    }
}

/// The text of one document, where it starts in its file, and (once asked for) the lines of
/// its nodes.
struct Doc<'t> {
    text: &'t str,
    first_line: usize,
    lines: std::cell::OnceCell<Option<lines::Lines>>,
}

impl<'t> Doc<'t> {
    fn new(text: &'t str, first_line: usize) -> Self {
        Doc {
            text,
            first_line,
            lines: std::cell::OnceCell::new(),
        }
    }

    /// The file line of the node at `steps`, or of the document when it cannot be told.
    fn line_of(&self, steps: &[Step]) -> usize {
        self.lines
            .get_or_init(|| lines::Lines::parse(self.text))
            .as_ref()
            .and_then(|l| l.line_of(steps))
            .map_or(self.first_line, |l| self.first_line + l.saturating_sub(1))
    }
}

/// Reads one YAML document as kubectl does. kubectl's reader (sigs.k8s.io/yaml, built on
/// go-yaml v2) speaks YAML 1.1: `0755` is octal 493 and `yes`/`on`/`y` are booleans; it then
/// goes through JSON, where a whole float is an integer (`replicas: 3.0` is 3). Without this,
/// `defaultMode: 0755` in a volume fails with "invalid type: floating, expected i32".
fn read_yaml(text: &str) -> Result<Value, serde_saphyr::Error> {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    let mut value: Value = serde_saphyr::from_str_with_options(text, options)?;
    whole_floats_to_integers(&mut value);
    Ok(value)
}

/// Replaces every whole-number float that fits an i64 with that integer, as Go's JSON encoding
/// of a YAML float does. Iterative, so a deeply nested document cannot exhaust the stack.
fn whole_floats_to_integers(value: &mut Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Number(n) => {
                if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                    && f.fract() == 0.0
                    && f.abs() < 9.2e18
                {
                    *v = Value::from(f as i64);
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
}

/// Splits YAML text at `---` document markers (and after `...` end markers); returns each
/// document with the line its content starts on. A marker line at column 0 always ends a
/// document in YAML, even inside a block scalar, so this split is exact.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let is_marker = |m: &str| {
            line == m || line.starts_with(&format!("{m} ")) || line.starts_with(&format!("{m}\t"))
        };
        if is_marker("---") {
            docs.push((start, std::mem::take(&mut current)));
            // Content after the marker on the same line belongs to the new document.
            let rest = line[3..].trim_start();
            start = n;
            if !rest.is_empty() && !rest.starts_with('#') {
                current.push_str(rest);
                current.push('\n');
            } else {
                start = n + 1;
            }
            continue;
        }
        if is_marker("...") {
            docs.push((start, std::mem::take(&mut current)));
            start = n + 1;
            continue;
        }
        // A document's line is that of its first content line, not of a leading comment
        // (`# Source: chart/templates/...` in Helm output).
        if current.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            start = n + 1;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    docs.push((start, current));
    docs
}

/// Hands `value` (the node at `at` in `doc`) to `out` as an item, or as the items of a List.
fn push_value(
    out: &mut dyn FnMut(Item),
    source: Source,
    value: Value,
    doc: &Doc,
    at: &mut Vec<Step>,
) {
    let Value::Object(mut map) = value else {
        if !value.is_null() {
            out(Item::Skipped {
                source,
                raw: None,
                note: "not a Kubernetes object (not a mapping)".into(),
            });
        }
        return;
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_string);
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    // `kind: List` (and typed lists such as ConfigMapList) carry their objects in items. Each
    // item is moved out, never copied, so a list nested in lists costs no more than its size.
    if api_version.is_some()
        && kind.as_deref().is_some_and(|k| k.ends_with("List"))
        && map.get("items").is_some_and(Value::is_array)
    {
        if let Some(Value::Array(items)) = map.remove("items") {
            at.push(Step::Key("items".into()));
            for (i, item) in items.into_iter().enumerate() {
                at.push(Step::Index(i));
                let source = Source {
                    file: source.file.clone(),
                    line: doc.line_of(at),
                };
                push_value(out, source, item, doc, at);
                at.pop();
            }
            at.pop();
        }
        return;
    }
    let value = Value::Object(map);
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        out(Item::Skipped {
            source,
            raw: Some(value),
            note: "not a Kubernetes object (no apiVersion and kind)".into(),
        });
        return;
    };
    let (api_version, kind) = (api_version.as_str(), kind.as_str());
    let typed = match Kind::from_api_version(api_version, kind) {
        Some(k) => Object::decode_value(k, &value),
        // An older or removed version: read it as the current one where it fits.
        None => match other_version(api_version, kind) {
            None => {
                out(Item::Skipped {
                    source,
                    raw: Some(value),
                    note: format!("{api_version} {kind} is not a kind bulwark checks"),
                });
                return;
            }
            Some(other) => match Object::from_other_version(&other, value.clone()) {
                Some(Ok(object)) => Ok(object),
                Some(Err(e)) if other.removed_in.is_none() => Err(e),
                unread => {
                    let why = match (unread, other.replacement) {
                        (Some(Err(e)), Some(new)) => format!("cannot be read as {new} ({e})"),
                        _ => "is not a kind bulwark checks".to_string(),
                    };
                    let meta = value
                        .get("metadata")
                        .and_then(|m| ObjectMeta::deserialize(m).ok())
                        .unwrap_or_default();
                    out(Item::Unread {
                        source,
                        api_version: api_version.to_string(),
                        kind: kind.to_string(),
                        meta: Box::new(meta),
                        note: format!(
                            "{api_version} {kind} {why}; only its apiVersion was checked"
                        ),
                        raw: Box::new(value),
                    });
                    return;
                }
            },
        },
    };
    // An object that does not decode is reported at the line of the failing field.
    let mut source = source;
    let typed = typed.map_err(|e| {
        let depth = at.len();
        at.extend(e.steps.iter().cloned());
        source.line = doc.line_of(at);
        at.truncate(depth);
        e.message(api_version, kind)
    });
    out(Item::Object {
        source,
        raw: value,
        typed,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(items: &[Item]) -> Vec<(usize, &'static str)> {
        items
            .iter()
            .map(|i| match i {
                Item::Object {
                    source,
                    typed: Ok(_),
                    ..
                } => (source.line, "object"),
                Item::Object {
                    source,
                    typed: Err(_),
                    ..
                } => (source.line, "undecodable"),
                Item::Skipped { source, .. } => (source.line, "skipped"),
                Item::Unread { source, .. } => (source.line, "unread"),
                Item::Error { source, .. } => (source.line, "error"),
            })
            .collect()
    }

    #[test]
    fn splits_helm_output_with_comments_and_keeps_lines() {
        let text = "# Source: chart/templates/cm.yaml\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# Source: chart/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n---\n";
        assert_eq!(
            lines(&parse_text("x.yaml", text)),
            [(3, "object"), (9, "object")]
        );
    }

    #[test]
    fn a_broken_document_is_reported_and_the_rest_is_read() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [unclosed\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n";
        let items = parse_text("x.yaml", text);
        assert_eq!(lines(&items), [(1, "object"), (6, "error"), (8, "object")]);
    }

    #[test]
    fn lists_json_and_non_objects() {
        let list = r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}]}"#;
        assert_eq!(
            lines(&parse_text("l.json", list)),
            [(1, "object"), (1, "skipped")]
        );
        assert_eq!(
            lines(&parse_text("x.yaml", "just: a map\n---\n- a\n- list\n")),
            [(1, "skipped"), (3, "skipped")]
        );
        assert_eq!(
            lines(&parse_text(
                "x.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: many}\n"
            )),
            // At the failing field's line.
            [(4, "undecodable")]
        );
    }

    #[test]
    fn older_api_versions_are_read_as_the_current_kind_where_they_fit() {
        let text = "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    metadata: {labels: {app: d}}\n    spec: {containers: [{name: a, image: a:1}]}\n---\napiVersion: rbac.authorization.k8s.io/v1beta1\nkind: RoleBinding\nmetadata: {name: rb, namespace: shop}\n---\napiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec: {scaleTargetRef: {kind: Deployment, name: d}, maxReplicas: 3}\n---\napiVersion: apps/v1beta2\nkind: Deployment\nmetadata: {name: bad}\nspec: {replicas: many}\n";
        let items = parse_text("x.yaml", text);
        assert_eq!(
            lines(&items),
            [(1, "object"), (9, "unread"), (13, "object"), (18, "unread")]
        );
        let Item::Unread { meta, note, .. } = &items[1] else {
            panic!("unread")
        };
        assert_eq!(meta.namespace.as_deref(), Some("shop"));
        assert!(note.contains("only its apiVersion"), "{note}");
        let Item::Unread { note, .. } = &items[3] else {
            panic!("unread")
        };
        assert!(note.contains("cannot be read as apps/v1"), "{note}");
    }

    #[test]
    fn a_decode_error_names_the_line_and_path_of_the_failing_field() {
        let text = "# comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: web, image: w:1}]\n      volumes:\n        - name: cfg\n          configMap:\n            name: cfg\n            defaultMode: \"0755\"\n";
        let items = parse_text("x.yaml", text);
        assert_eq!(lines(&items), [(3, "object"), (18, "undecodable")]);
        let Item::Object {
            typed: Err(message),
            ..
        } = &items[1]
        else {
            panic!("undecodable");
        };
        assert_eq!(
            message,
            "cannot decode the apps/v1 Deployment: at `spec.template.spec.volumes[0].configMap.defaultMode`: invalid type: string, expected i32"
        );
    }

    #[test]
    fn items_of_a_list_carry_their_own_lines() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMapList\n  items:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: b}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: c}\n  spec: {replicas: many}\n";
        assert_eq!(
            lines(&parse_text("l.yaml", text)),
            [(4, "object"), (10, "object"), (16, "undecodable")]
        );
        let json = "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}},\n {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"b\"}}]}\n";
        assert_eq!(
            lines(&parse_text("l.json", json)),
            [(2, "object"), (3, "object")]
        );
    }

    #[test]
    fn yaml_errors_are_in_bulwarks_words() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n";
        let items = parse_text("d.yaml", text);
        let Item::Error { source, message } = &items[0] else {
            panic!("{items:?}");
        };
        assert_eq!(source.line, 5);
        assert_eq!(
            message,
            "invalid YAML: the key `name` appears twice in one mapping; keep one"
        );
        for broken in [
            "a: [1, 2\n",
            "a: b: c\n",
            "key: \"unterminated\n",
            "- a\nb: c\n",
        ] {
            let items = parse_text("b.yaml", broken);
            let Item::Error { message, .. } = &items[0] else {
                panic!("{broken}: {items:?}");
            };
            assert!(message.starts_with("invalid YAML: "), "{message}");
            assert!(
                !message.contains("Options") && !message.contains(" at line "),
                "{message}"
            );
        }
    }

    #[test]
    fn a_block_scalar_does_not_hide_a_document_marker() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  script: |\n    echo hi\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n";
        assert_eq!(
            lines(&parse_text("x.yaml", text)),
            [(1, "object"), (8, "object")]
        );
    }

    #[test]
    fn yaml_is_read_as_kubectl_reads_it() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwork: no\n  enableServiceLinks: off\n  terminationGracePeriodSeconds: 30.0\n  containers:\n    - name: c\n      image: c:1\n      stdin: yes\n      ports: [{containerPort: 0x1F90}]\n  volumes:\n    - name: scripts\n      configMap: {name: s, defaultMode: 0755}\n    - name: keys\n      secret: {secretName: k, defaultMode: 0400}\n";
        let items = parse_text("pod.yaml", text);
        let [
            Item::Object {
                typed: Ok(Object::Pod(pod)),
                ..
            },
        ] = items.as_slice()
        else {
            panic!("one decoded Pod: {items:?}");
        };
        let spec = pod.spec.as_ref().expect("spec");
        let volumes = spec.volumes.as_ref().expect("volumes");
        let mode = |i: usize| {
            let v = &volumes[i];
            v.config_map
                .as_ref()
                .and_then(|c| c.default_mode)
                .or(v.secret.as_ref().and_then(|s| s.default_mode))
        };
        assert_eq!(mode(0), Some(0o755));
        assert_eq!(mode(1), Some(0o400));
        assert_eq!(spec.host_network, Some(false));
        assert_eq!(spec.enable_service_links, Some(false));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert_eq!(spec.containers[0].stdin, Some(true));
        assert_eq!(
            spec.containers[0]
                .ports
                .as_ref()
                .map(|p| p[0].container_port),
            Some(8080)
        );
    }
}
