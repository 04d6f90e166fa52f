//! The report as SARIF 2.1.0, ready for GitHub code scanning (`github/codeql-action/upload-sarif`):
//! one `tool.driver.rules` entry per rule id with its summary and why, one result per finding
//! located by file and line, and input errors as tool execution notifications.

use serde_json::{Value, json};

use std::collections::HashMap;

use super::{ErrorEntry, FindingEntry, Report};
use crate::catalog::{Entry, EntryType};
use crate::engine::Action;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The SARIF level of an action.
fn level(action: &str) -> &'static str {
    match action {
        "deny" => "error",
        "warn" => "warning",
        "audit" => "note",
        _ => "none",
    }
}

/// `image-tag-pinned` → `ImageTagPinned`.
fn pascal(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A file path as a URI reference: relative paths stay relative (code scanning resolves them
/// against the repository root), absolute ones become `file://` URIs, stdin is `stdin`.
pub fn uri(path: &str) -> String {
    if path == "-" {
        return "stdin".to_string();
    }
    let path = path.replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    if out.starts_with('/') {
        format!("file://{out}")
    } else {
        out
    }
}

fn location(file: &str, line: Option<usize>) -> Value {
    let mut physical = json!({ "artifactLocation": { "uri": uri(file) } });
    if let Some(line) = line.filter(|l| *l > 0) {
        physical["region"] = json!({ "startLine": line });
    }
    json!({ "physicalLocation": physical })
}

fn rule(entry: &Entry) -> Value {
    let fix = entry.fix.as_deref().unwrap_or_default();
    let markdown = format!(
        "{}\n\n**Why:** {}\n\n**Fix:** {fix}\n\nKinds: {}. Fires: {}. Default action: `{}`.",
        entry.summary,
        entry.why,
        entry.scope,
        entry.sees.join(", "),
        entry.default
    );
    let mut tags = vec!["kubernetes".to_string()];
    tags.extend(entry.sees.iter().map(|s| s.to_string()));
    json!({
        "id": entry.id,
        "name": pascal(entry.id),
        "shortDescription": { "text": entry.summary },
        "fullDescription": { "text": format!("{} Why: {}", entry.summary, entry.why) },
        "help": { "text": format!("{}\nWhy: {}\nFix: {fix}", entry.summary, entry.why), "markdown": markdown },
        "defaultConfiguration": { "level": level(entry.default), "enabled": entry.default != "off" },
        "properties": { "tags": tags, "kinds": entry.kinds },
    })
}

fn notification(error: &ErrorEntry) -> Value {
    json!({
        "level": "error",
        "message": { "text": error.message },
        "locations": [location(&error.file, error.line)],
    })
}

/// `rule:file:namespace/Kind/name:field`, with `:N` for the Nth repeat of the same text.
fn fingerprint(f: &FindingEntry, qualified: &str, seen: &mut HashMap<String, usize>) -> String {
    let file = f.file.as_deref().map(uri).unwrap_or_default();
    let base = format!("{}:{file}:{qualified}:{}", f.rule, f.field);
    let n = seen.entry(base.clone()).or_default();
    *n += 1;
    match *n {
        1 => base,
        n => format!("{base}:{n}"),
    }
}

/// Renders `report` with the rules of `catalog`.
pub fn render(report: &Report, catalog: &[Entry]) -> String {
    let rules: Vec<&Entry> = catalog
        .iter()
        .filter(|e| e.entry_type == EntryType::Rule)
        .collect();
    // How many results so far had each fingerprint: a repeat gets its ordinal appended, so
    // every result keeps one of its own and code scanning never merges two alerts.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let object = &f.object;
            let qualified = match &object.namespace {
                Some(ns) => format!("{ns}/{}/{}", object.kind, object.name),
                None => format!("{}/{}", object.kind, object.name),
            };
            let mut loc = location(f.file.as_deref().unwrap_or("-"), f.line);
            loc["logicalLocations"] = json!([{
                "name": object.name,
                "fullyQualifiedName": qualified,
                "kind": "resource",
            }]);
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.action.as_str()),
                "kind": if f.action == Action::Off { "informational" } else { "fail" },
                "message": { "text": f.message },
                "locations": [loc],
                // Stable across runs even when lines move: the file, the object and the field.
                "partialFingerprints": { "bulwarkFinding/v2": fingerprint(f, &qualified, &mut seen) },
                "properties": { "action": f.action, "field": f.field, "object": object },
            });
            if let Some(i) = rules.iter().position(|r| r.id == f.rule) {
                result["ruleIndex"] = json!(i);
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "bulwark",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|e| rule(e)).collect::<Vec<_>>(),
            }},
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": report.errors.iter().map(notification)
                    .chain(report.withheld_note().map(|note| json!({"level": "note", "message": {"text": note}})))
                    .collect::<Vec<_>>(),
            }],
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(uri("k8s/web.yaml"), "k8s/web.yaml");
        assert_eq!(uri("./k8s/my app.yaml"), "k8s/my%20app.yaml");
        assert_eq!(uri("/tmp/x#1.yaml"), "file:///tmp/x%231.yaml");
        assert_eq!(uri("-"), "stdin");
        assert_eq!(uri("dir\\win.yaml"), "dir/win.yaml");
    }

    #[test]
    fn rule_names_are_pascal_case() {
        assert_eq!(pascal("image-tag-pinned"), "ImageTagPinned");
    }
}
