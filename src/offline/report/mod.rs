//! The report of a `check` or `audit` run (DESIGN.md "Report shape") and its renderings: text
//! for a terminal, JSON for tools, SARIF 2.1.0 for code scanning, JUnit XML for CI test views,
//! and a self-contained HTML page for people (`html.rs`, with the score of `score.rs`).
//!
//! The report is plain data built by `check.rs` or `audit`; each format is a pure function of
//! it. No format ever sees an object's content, only what rules said about it, so Secret values
//! have no way into any output.

pub mod html;
pub mod junit;
pub mod sarif;
pub mod score;
pub mod text;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::exemption::ExemptionSource;
use crate::engine::{Action, Kind};

/// Which object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    /// As written in the manifest (a removed version stays as written).
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// `Deployment shop/web`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// An object that was read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectEntry {
    #[serde(flatten)]
    pub object: ObjectRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// How many rules judged it (ran and were not exempted); the summary holds the total.
    #[serde(skip)]
    pub checks: usize,
}

/// One finding with the action it takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FindingEntry {
    pub rule: &'static str,
    /// The action after the policy and the mode are applied.
    pub action: Action,
    /// A denial that audit mode reports as a warning.
    #[serde(rename = "wouldDeny", skip_serializing_if = "std::ops::Not::not")]
    pub would_deny: bool,
    pub message: String,
    pub object: ObjectRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub field: String,
    /// Why the rule matters, from the catalog (the same for every finding of the rule).
    pub why: &'static str,
    /// Where the rule is documented: its anchor in `docs/rules.md`.
    pub docs: String,
}

/// A rule an exemption switched off on one object, where it found something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExemptedEntry {
    pub rule: &'static str,
    /// `namespace`, `policy` or `annotation`.
    pub by: ExemptionSource,
    pub object: ObjectRef,
}

/// What tells one object of a report from another: its reference and where it was read (two
/// documents may name the same object).
pub type ObjectKey<'r> = (&'r ObjectRef, Option<&'r str>, Option<usize>);

impl ObjectEntry {
    pub fn key(&self) -> ObjectKey<'_> {
        (&self.object, self.file.as_deref(), self.line)
    }
}

impl FindingEntry {
    /// The key of the object this finding is about.
    pub fn object_key(&self) -> ObjectKey<'_> {
        (&self.object, self.file.as_deref(), self.line)
    }
}

/// A document that could not be read or decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorEntry {
    pub file: String,
    /// Absent when the whole file is at fault (unreadable, not UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

/// Something a run could not read: of which kind and in which namespace, where that is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unread {
    /// The kind's name (`Deployment`); `None` when not even that could be read.
    pub kind: Option<String>,
    /// `None`: any namespace (a listing that failed, a document that does not parse).
    /// `Some(None)`: a manifest that names no namespace.
    pub namespace: Option<Option<String>>,
}

impl Unread {
    /// Nothing is known about it: it could be any object anywhere.
    pub fn anything() -> Self {
        Unread {
            kind: None,
            namespace: None,
        }
    }

    /// Whether it could be an object of one of `kinds` in `namespace`.
    pub fn could_be(&self, kinds: &[Kind], namespace: Option<&str>) -> bool {
        let kind_fits = self
            .kind
            .as_deref()
            .is_none_or(|k| kinds.iter().any(|kind| kind.name() == k));
        let namespace_fits = self
            .namespace
            .as_ref()
            .is_none_or(|ns| ns.as_deref() == namespace);
        kind_fits && namespace_fits
    }
}

/// Counts per action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub objects: usize,
    pub deny: usize,
    pub warn: usize,
    pub audit: usize,
    pub errors: usize,
    /// Rule checks made: one per object and rule that judged it.
    pub checks: usize,
    /// Findings an exemption switched off.
    pub exempted: usize,
    /// Findings that another object is missing, withheld because an object the run could not
    /// read may be it.
    pub withheld: usize,
}

/// Findings per action, for one group of findings (a rule, a namespace, a file, an object).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActionCounts {
    pub deny: usize,
    pub warn: usize,
    pub audit: usize,
}

impl ActionCounts {
    fn add(&mut self, action: Action) {
        match action {
            Action::Deny => self.deny += 1,
            Action::Warn => self.warn += 1,
            Action::Audit => self.audit += 1,
            Action::Off => {}
        }
    }

    pub fn total(&self) -> usize {
        self.deny + self.warn + self.audit
    }
}

/// Everything a run found. Serializes to exactly the DESIGN.md report shape.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub objects: Vec<ObjectEntry>,
    pub findings: Vec<FindingEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exempted: Vec<ExemptedEntry>,
    pub errors: Vec<ErrorEntry>,
    pub summary: Summary,
    /// Rule checks made so far; `count` copies it into the summary.
    #[serde(skip)]
    pub checks: usize,
    /// Findings withheld so far (see [`Summary::withheld`]); `count` copies it.
    #[serde(skip)]
    pub withheld: usize,
    /// What the run could not read, as far as it is known; recorded before objects are judged.
    #[serde(skip)]
    pub unread: Vec<Unread>,
    /// Documents that were skipped, and why; printed on stderr, not part of the shape.
    #[serde(skip)]
    pub notes: Vec<String>,
}

impl Report {
    /// Fills in the summary from the entries.
    pub fn count(&mut self) {
        let count = |action| self.findings.iter().filter(|f| f.action == action).count();
        self.summary = Summary {
            objects: self.objects.len(),
            deny: count(Action::Deny),
            warn: count(Action::Warn),
            audit: count(Action::Audit),
            errors: self.errors.len(),
            checks: self.checks,
            exempted: self.exempted.len(),
            withheld: self.withheld,
        };
    }

    /// What the summary says about withheld findings, when there are any.
    pub fn withheld_note(&self) -> Option<String> {
        let n = self.summary.withheld;
        (n > 0).then(|| {
            format!(
                "{n} finding(s) that an object is missing (a selector that matches nothing, a backend Service that does not exist) withheld: {} input error(s), and what looks missing may be what could not be read",
                self.summary.errors
            )
        })
    }
}

/// The weakest action that fails a run (`--fail-on`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Deny,
    Warn,
    Never,
}

impl FailOn {
    /// Whether a finding with `action` fails the run.
    pub fn fails(self, action: Action) -> bool {
        match self {
            FailOn::Deny => action >= Action::Deny,
            FailOn::Warn => action >= Action::Warn,
            FailOn::Never => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Deny => "deny",
            FailOn::Warn => "warn",
            FailOn::Never => "never",
        }
    }
}

/// How a run ends. Input errors win over findings: a run that could not read everything has
/// not judged everything, and CI must not mistake it for a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: nothing at or above `--fail-on`.
    Pass,
    /// Exit 1: findings at or above `--fail-on`.
    Fail,
    /// Exit 2: a document could not be read or decoded.
    InputErrors,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail => 1,
            Outcome::InputErrors => 2,
        }
    }
}

impl Report {
    /// The findings that fail the run under `fail_on`.
    pub fn failing(&self, fail_on: FailOn) -> usize {
        self.findings
            .iter()
            .filter(|f| fail_on.fails(f.action))
            .count()
    }

    pub fn outcome(&self, fail_on: FailOn) -> Outcome {
        if !self.errors.is_empty() {
            Outcome::InputErrors
        } else if self.failing(fail_on) > 0 {
            Outcome::Fail
        } else {
            Outcome::Pass
        }
    }

    /// The report as one pretty-printed JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The findings counted per action for each key `key` gives them, in key order: per rule
    /// (`|f| f.rule`), per namespace, per file, per object.
    pub fn tally<'r, K: Ord>(
        &'r self,
        key: impl Fn(&'r FindingEntry) -> K,
    ) -> BTreeMap<K, ActionCounts> {
        let mut out: BTreeMap<K, ActionCounts> = BTreeMap::new();
        for f in &self.findings {
            out.entry(key(f)).or_default().add(f.action);
        }
        out
    }

    /// How many distinct files the objects and errors came from.
    pub fn file_count(&self) -> usize {
        let mut files: Vec<&str> = self
            .objects
            .iter()
            .filter_map(|o| o.file.as_deref())
            .chain(self.errors.iter().map(|e| e.file.as_str()))
            .collect();
        files.sort_unstable();
        files.dedup();
        files.len()
    }
}
