//! The catalog of every rule and mutation, generated from the registry and the built-in policy:
//! `bulwark rules` prints it (text, markdown, JSON), `docs/rules.md` holds the markdown, and the
//! SARIF report describes its rules with it. Nothing here is written by hand twice.

use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::mutations::MUTATIONS;
use crate::engine::registry;
use crate::engine::rule::{RuleClass, Scope, Vap};
use crate::engine::{Kind, Policy};

/// Whether an entry judges or changes objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    Rule,
    Mutation,
}

/// One rule or mutation as the catalog shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub id: &'static str,
    #[serde(rename = "type")]
    pub entry_type: EntryType,
    /// The kinds it judges or changes, in words.
    pub scope: String,
    /// The same, as kind names.
    pub kinds: Vec<&'static str>,
    /// For a rule `security` or `practice` (see [`RuleClass`]); absent for a mutation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<RuleClass>,
    /// For a rule its action in the built-in policy; for a mutation `on` or `off`.
    pub default: &'static str,
    /// Where it can fire: `admission`, `offline`, `bundle`.
    pub sees: Vec<&'static str>,
    pub summary: String,
    pub why: &'static str,
    /// For a rule, how to fix what it finds; absent for a mutation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// For a rule, whether `bulwark vap` exports it as a ValidatingAdmissionPolicy, and what
    /// differs or why not; absent for a mutation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vap: Option<VapEntry>,
}

/// Whether a rule exports as a ValidatingAdmissionPolicy.
#[derive(Clone, Debug, Serialize)]
pub struct VapEntry {
    pub exports: bool,
    /// Where the policy differs from the webhook (exported), or why it does not export.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub note: &'static str,
}

impl VapEntry {
    fn of(vap: Vap) -> VapEntry {
        match vap {
            Vap::Exports(note) => VapEntry {
                exports: true,
                note,
            },
            Vap::No(note) => VapEntry {
                exports: false,
                note,
            },
        }
    }

    /// `yes`, `yes (note)` or `no: reason`.
    pub fn words(&self) -> String {
        match (self.exports, self.note.is_empty()) {
            (true, true) => "yes".to_string(),
            (true, false) => format!("yes ({})", self.note),
            (false, _) => format!("no: {}", self.note),
        }
    }
}

fn scope_words(scope: Scope) -> String {
    match scope {
        Scope::Workloads => "workloads".to_string(),
        Scope::LongRunning => "long-running workloads".to_string(),
        Scope::Namespaced => "any namespaced object".to_string(),
        Scope::Kinds(kinds) if kinds.len() == Kind::ALL.len() => "any object".to_string(),
        Scope::Kinds(kinds) => kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn scope_kinds(applies: impl Fn(Kind) -> bool) -> Vec<&'static str> {
    Kind::ALL
        .into_iter()
        .filter(|k| applies(*k))
        .map(Kind::name)
        .collect()
}

/// Every rule (with the bundle checks registered apart from a rule folded into it), then every
/// mutation, in registry order.
pub fn entries() -> Vec<Entry> {
    let policy = Policy::builtin();
    let mut out = Vec::new();
    for spec in registry::RULES {
        let mut sees: Vec<&str> = spec.sees.iter().map(|s| s.as_str()).collect();
        let mut summary = spec.summary.to_string();
        let mut fix = spec.fix.to_string();
        for check in registry::BUNDLE_CHECKS.iter().filter(|c| c.id == spec.id) {
            if !sees.contains(&"bundle") {
                sees.push("bundle");
            }
            let _ = write!(summary, "; bundle: {}", check.summary);
            let _ = write!(fix, "; bundle: {}", check.fix);
        }
        out.push(Entry {
            id: spec.id,
            entry_type: EntryType::Rule,
            scope: scope_words(spec.scope),
            kinds: scope_kinds(|k| spec.applies_to(k)),
            class: Some(spec.class),
            default: policy.action(spec.id).as_str(),
            sees,
            summary,
            why: spec.why,
            fix: Some(fix),
            vap: Some(VapEntry::of(spec.vap)),
        });
    }
    for check in registry::BUNDLE_CHECKS {
        if registry::rule(check.id).is_some() {
            continue;
        }
        out.push(Entry {
            id: check.id,
            entry_type: EntryType::Rule,
            scope: scope_words(check.scope),
            kinds: scope_kinds(|k| check.applies_to(k)),
            class: Some(RuleClass::Practice),
            default: policy.action(check.id).as_str(),
            sees: vec!["bundle"],
            summary: check.summary.to_string(),
            why: check.why,
            fix: Some(check.fix.to_string()),
            vap: Some(VapEntry::of(Vap::No(
                "needs other objects (the run's documents, the cluster); a policy sees one object",
            ))),
        });
    }
    let enabled: Vec<&str> = policy.enabled_mutations().map(|m| m.spec.id).collect();
    for spec in MUTATIONS {
        // Mutations declare no scope; these are the kinds their code touches.
        let scope = match spec.id {
            "add-recommended-labels" => Scope::Namespaced,
            "add-prestop-hook" => Scope::LongRunning,
            _ => Scope::Workloads,
        };
        let applies = |k: Kind| match scope {
            Scope::Namespaced => !k.is_cluster_scoped(),
            Scope::LongRunning => k.is_long_running(),
            _ => k.is_workload(),
        };
        out.push(Entry {
            id: spec.id,
            entry_type: EntryType::Mutation,
            scope: scope_words(scope),
            kinds: scope_kinds(applies),
            class: None,
            default: if enabled.contains(&spec.id) {
                "on"
            } else {
                "off"
            },
            sees: vec!["admission", "offline"],
            summary: spec.summary.to_string(),
            why: spec.why,
            fix: None,
            vap: None,
        });
    }
    out
}

/// A plain listing for a terminal.
pub fn render_text(entries: &[Entry]) -> String {
    let mut out = String::new();
    for (title, entry_type) in [
        ("Rules", EntryType::Rule),
        ("Mutations", EntryType::Mutation),
    ] {
        let _ = writeln!(out, "{title}:");
        for e in entries.iter().filter(|e| e.entry_type == entry_type) {
            let class = e.class.map_or("", RuleClass::as_str);
            let _ = writeln!(
                out,
                "  {:<36} {:<6} {:<9} {}",
                e.id,
                e.default,
                class,
                e.sees.join(", ")
            );
            let _ = writeln!(out, "      kinds: {}", e.scope);
            let _ = writeln!(out, "      checks: {}", e.summary);
            let _ = writeln!(out, "      why: {}", e.why);
            if let Some(fix) = &e.fix {
                let _ = writeln!(out, "      fix: {fix}");
            }
            if let Some(vap) = &e.vap {
                let _ = writeln!(out, "      ValidatingAdmissionPolicy: {}", vap.words());
            }
        }
        out.push('\n');
    }
    out
}

/// Escapes a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Where rule or mutation `id` is documented: its anchor in `docs/rules.md`.
pub fn docs_anchor(id: &str) -> String {
    format!("docs/rules.md#{id}")
}

/// The catalog as `docs/rules.md` holds it.
pub fn render_markdown(entries: &[Entry]) -> String {
    let mut out = String::from(
        "# bulwark rules and mutations\n\n\
         <!-- Generated by `bulwark rules --output markdown > docs/rules.md`; do not edit by hand. -->\n\n\
         Rule ids are stable public names: use them in policy files (`rules:`), in the exemption\n\
         annotation `bulwark.dev/exempt` and in CI filters. **default** is the action in the built-in\n\
         policy (`policies/default.yaml`). **fires** says where a rule can fire: `admission` on a\n\
         single object in the webhook and in `check`; `offline` only in `check` on manifest files\n\
         (the API server defaults or rejects the field before any webhook sees it); `bundle` across\n\
         the documents of one `check` run, or the live cluster in `audit`.\n\n\
         **class** is `security` for the Pod Security controls and `practice` for the rest.\n\
         Security rules judge every Pod, its init and ephemeral containers included, whatever\n\
         ownerReferences it claims, and only the policy file can exempt an object from them.\n\
         Practice rules leave an object that a judged controller generated (a ReplicaSet of a\n\
         Deployment, a Job of a CronJob, a Pod of a ReplicaSet, StatefulSet, DaemonSet, Job or\n\
         ReplicationController) to its owner, and the exemption annotation can switch them off.\n\n\
         **VAP** says whether `bulwark vap` exports the rule as a ValidatingAdmissionPolicy\n\
         (see [ValidatingAdmissionPolicies](#validatingadmissionpolicies) below), and why not.\n\n\
         ## Rules\n\n\
         | id | class | kinds | default | fires | checks | why | fix | VAP |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let row = |out: &mut String, e: &Entry| {
        let class = e
            .class
            .map(|c| format!(" {} |", c.as_str()))
            .unwrap_or_default();
        let fix = e
            .fix
            .as_deref()
            .map(|f| format!(" {} |", cell(f)))
            .unwrap_or_default();
        let vap = e
            .vap
            .as_ref()
            .map(|v| format!(" {} |", cell(&v.words())))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| <a id=\"{id}\"></a>`{id}` |{class} {} | {} | {} | {} | {} |{fix}{vap}",
            cell(&e.scope),
            e.default,
            e.sees.join(", "),
            cell(&e.summary),
            cell(e.why),
            id = e.id,
        );
    };
    for e in entries.iter().filter(|e| e.entry_type == EntryType::Rule) {
        row(&mut out, e);
    }
    out.push_str(
        "\n## Mutations\n\n\
         Applied by the mutating webhook (`POST /mutate`) and shown by `bulwark mutate`, in this order.\n\n\
         | id | kinds | default | fires | adds | why |\n\
         |---|---|---|---|---|---|\n",
    );
    for e in entries
        .iter()
        .filter(|e| e.entry_type == EntryType::Mutation)
    {
        row(&mut out, e);
    }
    out.push_str(crate::vap::DOCS);
    out
}

/// The catalog as a JSON array, for tools.
pub fn render_json(entries: &[Entry]) -> String {
    serde_json::to_string_pretty(entries).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_rule_id_once_and_every_mutation() {
        let entries = entries();
        let mut ids: Vec<&str> = entries.iter().map(|e| e.id).collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "an id is listed twice");
        for id in registry::rule_ids() {
            assert!(ids.contains(&id), "{id} missing");
        }
        assert_eq!(
            entries
                .iter()
                .filter(|e| e.entry_type == EntryType::Mutation)
                .count(),
            MUTATIONS.len()
        );
        let pdb = entries
            .iter()
            .find(|e| e.id == "pdb-allows-disruption")
            .expect("listed");
        assert!(pdb.sees.contains(&"bundle"));
        assert_eq!(pdb.default, "warn");
        let image = entries
            .iter()
            .find(|e| e.id == "image-tag-pinned")
            .expect("listed");
        assert_eq!(image.default, "deny");
        assert_eq!(image.scope, "workloads");
        assert!(image.kinds.contains(&"CronJob") && !image.kinds.contains(&"Service"));
    }

    #[test]
    fn every_rule_has_a_class_and_the_pod_security_standard_is_the_security_class() {
        let entries = entries();
        let security: Vec<&str> = entries
            .iter()
            .filter(|e| e.class == Some(RuleClass::Security))
            .map(|e| e.id)
            .collect();
        assert_eq!(
            security,
            [
                "run-as-non-root",
                "no-privileged",
                "no-privilege-escalation",
                "drop-all-capabilities",
                "read-only-root-filesystem",
                "no-host-namespaces",
                "no-host-path",
                "no-host-ports",
                "no-host-process",
                "proc-mount-default",
                "sysctls-safe",
                "selinux-options-safe",
                "apparmor-not-unconfined",
                "seccomp-profile",
                "volume-types-restricted"
            ]
        );
        for e in &entries {
            assert_eq!(
                e.class.is_some(),
                e.entry_type == EntryType::Rule,
                "{}",
                e.id
            );
        }
        // Every output format shows the class.
        let text = render_text(&entries);
        assert!(
            text.lines()
                .any(|l| l.contains("no-privileged") && l.contains("security")),
            "{text}"
        );
        let markdown = render_markdown(&entries);
        assert!(
            markdown.contains("| <a id=\"no-privileged\"></a>`no-privileged` | security |"),
            "{markdown}"
        );
        assert!(markdown.contains("`image-tag-pinned` | practice |"));
        // Every row carries the anchor that findings link to.
        for e in &entries {
            let anchor = docs_anchor(e.id);
            let (_, id) = anchor.split_once('#').unwrap_or_default();
            assert!(
                markdown.contains(&format!("| <a id=\"{id}\"></a>`{id}` |")),
                "{anchor}"
            );
        }
        let json: serde_json::Value = serde_json::from_str(&render_json(&entries)).expect("JSON");
        let by_id = |id: &str| {
            json.as_array()
                .and_then(|a| a.iter().find(|e| e["id"] == id))
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(by_id("no-host-path")["class"], "security");
        assert_eq!(by_id("replicas-minimum")["class"], "practice");
        assert!(by_id("add-prestop-hook").get("class").is_none());
    }

    #[test]
    fn every_rule_says_how_to_fix_it_in_every_format() {
        let entries = entries();
        let text = render_text(&entries);
        let markdown = render_markdown(&entries);
        let json: serde_json::Value = serde_json::from_str(&render_json(&entries)).expect("JSON");
        for e in &entries {
            let Some(fix) = &e.fix else {
                assert_eq!(e.entry_type, EntryType::Mutation, "{} has no fix", e.id);
                continue;
            };
            assert!(!fix.is_empty(), "{}", e.id);
            assert!(text.contains(&format!("      fix: {fix}\n")), "{}", e.id);
            let row = markdown
                .lines()
                .find(|l| l.starts_with(&format!("| <a id=\"{0}\"></a>`{0}` |", e.id)))
                .unwrap_or_default();
            let vap = e.vap.as_ref().map(|v| cell(&v.words())).unwrap_or_default();
            assert!(row.ends_with(&format!(" {} | {vap} |", cell(fix))), "{row}");
            let listed = json
                .as_array()
                .and_then(|a| a.iter().find(|j| j["id"] == e.id))
                .map(|j| j["fix"].clone());
            assert_eq!(listed, Some(serde_json::json!(fix)), "{}", e.id);
        }
        let pdb = entries
            .iter()
            .find(|e| e.id == "pdb-allows-disruption")
            .and_then(|e| e.fix.clone())
            .unwrap_or_default();
        assert!(pdb.contains("; bundle: "), "{pdb}");
    }

    #[test]
    fn scopes_read_as_words() {
        assert_eq!(
            scope_words(Scope::Kinds(&[Kind::Deployment, Kind::StatefulSet])),
            "Deployment, StatefulSet"
        );
        assert_eq!(scope_words(Scope::Kinds(&Kind::ALL)), "any object");
        assert_eq!(scope_words(Scope::LongRunning), "long-running workloads");
    }
}
