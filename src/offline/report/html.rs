//! The report as one self-contained HTML page for people (`--output html`): what was judged,
//! the counts and the score, charts, every finding with the reason and fix of its rule, and the
//! rules that fired. Rendered with askama from `templates/report.html`.
//!
//! The page needs no network: the style, the script and the data are inline, the charts are SVG
//! drawn here, and a Content-Security-Policy allows nothing else (no fetch, no font, no image
//! from anywhere). With scripts off the page still shows everything but the table's filters: the
//! charts and the rules are plain markup and the table holds the first findings. With scripts
//! on, a few lines of script page, filter and sort the findings from the inline data, and keep
//! the filters in the URL fragment so a link shows what its sender saw.
//!
//! Like every format it renders only what the rules said, so no Secret value can reach it; the
//! texts of the catalog give each rule's reason and fix, the same ones `bulwark rules` prints.

use std::collections::BTreeMap;

use askama::Template;
use base64::Engine as _;
use serde_json::{Value, json};

use super::score::{self, Score, Tally};
use super::{ActionCounts, ErrorEntry, FindingEntry, ObjectKey, ObjectRef, Report, Summary};
use crate::catalog::{Entry, EntryType};
use crate::engine::{Action, Kind, Origin, Policy};

/// The script that pages, filters and sorts the table.
const SCRIPT: &str = include_str!("../../../templates/report.js");
/// The page's style.
const STYLE: &str = include_str!("../../../templates/report.css");
/// Findings in the markup itself, for a reader with scripts off (the script shows them all).
pub const MARKUP_ROWS: usize = 100;
/// Bars of the per-namespace and per-file charts; the rest is counted below the chart.
const CHART_BARS: usize = 20;
/// The workloads chart.
const TOP_WORKLOADS: usize = 10;

/// What a run judged and how; the report holds what it found.
pub struct Run<'a> {
    /// `check` or `audit`.
    pub command: &'static str,
    /// What was judged, in words: the paths given, or the cluster and namespace.
    pub judged: String,
    pub policy: &'a Policy,
    /// Where the objects came from: manifest files or a cluster.
    pub origin: Origin,
    /// When the run judged (seconds since the Unix epoch).
    pub at: i64,
}

/// Renders `report` of `run` as a page; `catalog` gives each rule's reason and fix.
pub fn render(report: &Report, run: &Run, catalog: &[Entry]) -> String {
    let score = score::score(report);
    let page = Page::new(report, run, catalog, &score);
    // Rendering writes into a String and every value is plain data: it cannot fail.
    page.render().unwrap_or_default()
}

// === the page ===

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    command: &'static str,
    judged: &'a str,
    policy: &'a str,
    mode: &'static str,
    generated: String,
    version: &'static str,
    summary: &'a Summary,
    files: usize,
    score_text: String,
    score: Tally,
    definition: &'static str,
    namespace_scores: Vec<ScoreRow>,
    charts: Vec<BarChart>,
    rows: Vec<Row<'a>>,
    total: usize,
    rules: Vec<RuleRow<'a>>,
    errors: &'a [ErrorEntry],
    /// Why findings that an object is missing were withheld, if any were.
    withheld_note: Option<String>,
    /// The findings for the script, as JSON safe to sit inside a `<script>` element.
    data: String,
    csp: String,
    style: &'static str,
    script: &'static str,
}

/// One namespace's score.
struct ScoreRow {
    label: String,
    tally: Tally,
    percent: String,
    /// The bar's width out of 100.
    width: String,
}

/// A finding as the table shows it.
struct Row<'a> {
    action: &'static str,
    rule: &'static str,
    object: String,
    location: String,
    field: &'a str,
    message: &'a str,
    why: &'a str,
    fix: &'a str,
}

/// A rule that fired, with what the catalog says about it.
struct RuleRow<'a> {
    id: &'a str,
    counts: ActionCounts,
    summary: &'a str,
    why: &'a str,
    fix: &'a str,
}

impl<'a> Page<'a> {
    fn new(report: &'a Report, run: &'a Run, catalog: &'a [Entry], score: &Score) -> Self {
        let rule_entry = |id: &str| {
            catalog
                .iter()
                .find(|e| e.entry_type == EntryType::Rule && e.id == id)
        };
        let texts = |id: &str| {
            rule_entry(id).map_or(("", "", ""), |e| {
                (e.summary.as_str(), e.why, e.fix.as_deref().unwrap_or(""))
            })
        };
        let order = display_order(report);
        let cluster = run.origin == Origin::Cluster;
        let rows = order
            .iter()
            .take(MARKUP_ROWS)
            .map(|&i| {
                let f = &report.findings[i];
                let (_, why, fix) = texts(f.rule);
                Row {
                    action: f.action.as_str(),
                    rule: f.rule,
                    object: f.object.describe(),
                    location: location(f),
                    field: &f.field,
                    message: &f.message,
                    why,
                    fix,
                }
            })
            .collect();
        let mut rules: Vec<RuleRow> = report
            .tally(|f| f.rule)
            .into_iter()
            .map(|(id, counts)| {
                let (summary, why, fix) = texts(id);
                RuleRow {
                    id,
                    counts,
                    summary,
                    why,
                    fix,
                }
            })
            .collect();
        rules.sort_by_key(|r| std::cmp::Reverse((r.counts.deny, r.counts.total())));

        let namespace_scores = score
            .namespaces
            .iter()
            .map(|(ns, tally)| ScoreRow {
                label: namespace_label(ns.as_deref(), cluster).to_string(),
                tally: *tally,
                // An exempt namespace has objects but no checks: it has no score to show.
                percent: if tally.checks == 0 {
                    "not judged".to_string()
                } else {
                    tally.percent_text()
                },
                width: if tally.checks == 0 {
                    "0".to_string()
                } else {
                    format!("{:.1}", tally.percent())
                },
            })
            .collect();

        let mut charts = vec![BarChart::stacked(
            "chart-rules",
            "Findings per rule",
            report
                .tally(|f| f.rule)
                .into_iter()
                .map(|(k, c)| (k.to_string(), c)),
            usize::MAX,
            Cut::End,
        )];
        if cluster {
            charts.push(BarChart::stacked(
                "chart-namespaces",
                "Findings per namespace",
                report
                    .tally(|f| f.object.namespace.as_deref())
                    .into_iter()
                    .map(|(k, c)| (namespace_label(k, true).to_string(), c)),
                CHART_BARS,
                Cut::End,
            ));
        } else {
            charts.push(BarChart::stacked(
                "chart-files",
                "Findings per file",
                report
                    .tally(|f| f.file.as_deref().unwrap_or("-"))
                    .into_iter()
                    .map(|(k, c)| (file_name(k).to_string(), c)),
                CHART_BARS,
                Cut::Start,
            ));
        }
        charts.push(BarChart::stacked(
            "chart-workloads",
            "The ten workloads with the most findings",
            report
                .tally(FindingEntry::object_key)
                .into_iter()
                .filter(|((object, _, _), _)| is_workload(object))
                .map(|((object, _, _), c)| (object.describe(), c)),
            TOP_WORKLOADS,
            Cut::End,
        ));

        let data = table_data(report, &order, catalog, cluster);
        let csp = format!(
            "default-src 'none'; script-src '{}'; style-src '{}'; img-src data:; base-uri 'none'; form-action 'none'",
            sha256(SCRIPT),
            sha256(STYLE)
        );
        Page {
            command: run.command,
            judged: &run.judged,
            policy: &run.policy.source,
            mode: run.policy.mode.as_str(),
            generated: utc(run.at),
            version: env!("CARGO_PKG_VERSION"),
            summary: &report.summary,
            files: report.file_count(),
            score_text: score.overall.percent_text(),
            score: score.overall,
            definition: score::DEFINITION,
            namespace_scores,
            charts,
            rows,
            total: report.findings.len(),
            rules,
            errors: &report.errors,
            withheld_note: report.withheld_note(),
            data,
            csp,
            style: STYLE,
            script: SCRIPT,
        }
    }

    fn is_audit(&self) -> bool {
        self.command == "audit"
    }
}

/// The findings in the order the table first shows them: deny, then warn, then audit, each in
/// the order of the report (file by file, object by object).
fn display_order(report: &Report) -> Vec<usize> {
    let mut order: Vec<usize> = (0..report.findings.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(report.findings[i].action));
    order
}

/// The data the script renders the table from, with every string once: rules and objects are
/// listed apart and findings point at them by index, so 10,000 findings stay a few MB.
fn table_data(report: &Report, order: &[usize], catalog: &[Entry], cluster: bool) -> String {
    let actions = [Action::Deny, Action::Warn, Action::Audit, Action::Off];
    let mut rules: Vec<&str> = Vec::new();
    let mut objects: BTreeMap<ObjectKey, usize> = BTreeMap::new();
    let mut object_rows: Vec<Value> = Vec::new();
    let mut findings = Vec::with_capacity(order.len());
    for &i in order {
        let f = &report.findings[i];
        let rule = match rules.iter().position(|r| *r == f.rule) {
            Some(r) => r,
            None => {
                rules.push(f.rule);
                rules.len() - 1
            }
        };
        let object = *objects.entry(f.object_key()).or_insert_with(|| {
            object_rows.push(json!([
                f.object.kind,
                f.object.namespace,
                f.object.name,
                location(f)
            ]));
            object_rows.len() - 1
        });
        let action = actions.iter().position(|a| *a == f.action).unwrap_or(0);
        findings.push(json!([action, rule, object, f.field, f.message]));
    }
    let rule_rows: Vec<Value> = rules
        .iter()
        .map(|id| {
            let entry = catalog
                .iter()
                .find(|e| e.entry_type == EntryType::Rule && e.id == *id);
            json!([
                id,
                entry.map_or("", |e| e.why),
                entry.and_then(|e| e.fix.as_deref()).unwrap_or("")
            ])
        })
        .collect();
    let mut namespaces: Vec<Option<&str>> = report
        .objects
        .iter()
        .map(|o| o.object.namespace.as_deref())
        .collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    let namespaces: Vec<Value> = namespaces
        .into_iter()
        .map(|ns| json!([ns.unwrap_or("~"), namespace_label(ns, cluster)]))
        .collect();
    let data = json!({
        "actions": actions.map(Action::as_str),
        "rules": rule_rows,
        "objects": object_rows,
        "namespaces": namespaces,
        "findings": findings,
    });
    script_safe(&data.to_string())
}

/// JSON that cannot end its `<script>` element or open a comment there: `<`, `>` and `&` are
/// written as JSON escapes, which `JSON.parse` reads back unchanged.
fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out
}

/// A CSP source for an inline element with exactly `content`.
fn sha256(content: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, content.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// `2024-05-01 12:00:00 UTC`.
fn utc(at: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(at) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => at.to_string(),
    }
}

/// `k8s/web.yaml:12`, or nothing for an object read from a cluster.
fn location(f: &FindingEntry) -> String {
    match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("{}:{line}", file_name(file)),
        (Some(file), None) => file_name(file).to_string(),
        _ => String::new(),
    }
}

fn file_name(file: &str) -> &str {
    if file == "-" { "<stdin>" } else { file }
}

/// How the page names "no namespace".
fn namespace_label(namespace: Option<&str>, cluster: bool) -> &str {
    match (namespace, cluster) {
        (Some(ns), _) => ns,
        (None, true) => "(cluster-scoped)",
        (None, false) => "(no namespace)",
    }
}

fn is_workload(object: &ObjectRef) -> bool {
    Kind::ALL
        .iter()
        .any(|k| k.is_workload() && k.name() == object.kind)
}

// === charts ===

/// Geometry of the bar charts, in SVG user units.
const CHART_WIDTH: f64 = 720.0;
const LABEL_WIDTH: f64 = 250.0;
const COUNT_WIDTH: f64 = 50.0;
const BAR_HEIGHT: f64 = 18.0;
const BAR_GAP: f64 = 6.0;
const LABEL_CHARS: usize = 38;

/// A horizontal bar chart, each bar stacked by action, drawn server-side as SVG.
struct BarChart {
    id: &'static str,
    title: &'static str,
    height: String,
    bars: Vec<Bar>,
    /// Keys that had findings but no bar.
    omitted: usize,
    label_x: String,
}

struct Bar {
    label: String,
    /// The full label when `label` is shortened.
    full: String,
    total: usize,
    y: String,
    text_y: String,
    total_x: String,
    segments: Vec<Segment>,
}

struct Segment {
    class: &'static str,
    action: &'static str,
    count: usize,
    x: String,
    width: String,
}

impl BarChart {
    /// The `limit` largest groups (by total, then deny), largest first; long labels lose
    /// their `cut` side.
    fn stacked(
        id: &'static str,
        title: &'static str,
        groups: impl Iterator<Item = (String, ActionCounts)>,
        limit: usize,
        cut: Cut,
    ) -> BarChart {
        let mut groups: Vec<(String, ActionCounts)> = groups.collect();
        groups.sort_by(|(a, ca), (b, cb)| {
            (cb.total(), cb.deny)
                .cmp(&(ca.total(), ca.deny))
                .then_with(|| a.cmp(b))
        });
        let omitted = groups.len().saturating_sub(limit);
        groups.truncate(limit);
        let max = groups
            .iter()
            .map(|(_, c)| c.total())
            .max()
            .unwrap_or(0)
            .max(1);
        let scale = (CHART_WIDTH - LABEL_WIDTH - COUNT_WIDTH) / max as f64;
        let bars = groups
            .into_iter()
            .enumerate()
            .map(|(i, (label, counts))| {
                let y = i as f64 * (BAR_HEIGHT + BAR_GAP);
                let mut x = LABEL_WIDTH;
                let mut segments = Vec::new();
                for (action, count) in [
                    (Action::Deny, counts.deny),
                    (Action::Warn, counts.warn),
                    (Action::Audit, counts.audit),
                ] {
                    if count == 0 {
                        continue;
                    }
                    let width = count as f64 * scale;
                    segments.push(Segment {
                        class: action.as_str(),
                        action: action.as_str(),
                        count,
                        x: format!("{x:.1}"),
                        width: format!("{width:.1}"),
                    });
                    x += width;
                }
                Bar {
                    label: shorten(&label, LABEL_CHARS, cut),
                    full: label,
                    total: counts.total(),
                    y: format!("{y:.1}"),
                    text_y: format!("{:.1}", y + BAR_HEIGHT - 5.0),
                    total_x: format!("{:.1}", x + 4.0),
                    segments,
                }
            })
            .collect::<Vec<_>>();
        let height = (bars.len() as f64 * (BAR_HEIGHT + BAR_GAP)).max(BAR_HEIGHT);
        BarChart {
            id,
            title,
            height: format!("{height:.0}"),
            bars,
            omitted,
            label_x: format!("{:.1}", LABEL_WIDTH - 6.0),
        }
    }

    fn width(&self) -> String {
        format!("{CHART_WIDTH:.0}")
    }
}

/// Which end of a long label goes: file paths keep their file name.
#[derive(Clone, Copy)]
enum Cut {
    Start,
    End,
}

/// `text` cut to `max` characters with an ellipsis where the cut is.
fn shorten(text: &str, max: usize, cut: Cut) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    match cut {
        Cut::End => format!("{}…", text.chars().take(max - 1).collect::<String>()),
        Cut::Start => format!(
            "…{}",
            text.chars().skip(count - (max - 1)).collect::<String>()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;
    use crate::manifests::parse_text;
    use crate::offline::check;

    const NOW: i64 = 1_700_000_000;

    const APP: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app.kubernetes.io/name: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: 'shop/web:latest'
        env: [{name: NOTE, value: '</script><script>alert(1)</script>'}]
---
apiVersion: v1
kind: Service
metadata: {name: '<b>svc</b>', namespace: shop, labels: {app.kubernetes.io/name: web}}
spec: {selector: {app: wbe}, ports: [{port: 80}]}
";

    fn page(text: &str) -> (Report, String) {
        let policy = Policy::builtin();
        let report = check::run(&policy, parse_text("k8s/app.yaml", text), NOW);
        let run = Run {
            command: "check",
            judged: "k8s/app.yaml".into(),
            policy: &policy,
            origin: Origin::Manifest,
            at: NOW,
        };
        let html = render(&report, &run, &catalog::entries());
        (report, html)
    }

    /// The JSON inside the data element.
    fn data(html: &str) -> Value {
        let start = html
            .find(r#"<script type="application/json" id="bulwark-data">"#)
            .expect("data element");
        let rest = &html[start..];
        let open = rest.find('>').expect("tag end") + 1;
        let close = rest.find("</script>").expect("element end");
        serde_json::from_str(&rest[open..close]).expect("data is JSON")
    }

    #[test]
    fn the_page_holds_counts_score_charts_and_every_finding_with_its_fix() {
        let (report, html) = page(APP);
        assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..40]);
        assert!(html.contains("2023-11-14 22:13:20 UTC"));
        assert!(html.contains(&format!(
            r#"<span class="count" id="count-deny">{}</span>"#,
            report.summary.deny
        )));
        let score = score::score(&report);
        assert!(html.contains(&format!(
            r#"<span id="score">{}</span>"#,
            score.overall.percent_text()
        )));
        assert!(html.contains(score::DEFINITION));
        for id in ["chart-rules", "chart-files", "chart-workloads"] {
            assert!(html.contains(&format!(r#"<svg id="{id}""#)), "{id}");
        }
        let data = data(&html);
        assert_eq!(
            data["findings"].as_array().map(Vec::len),
            Some(report.findings.len())
        );
        // Every rule that fired comes with its reason and fix from the catalog.
        let pinned = catalog::entries()
            .into_iter()
            .find(|e| e.id == "image-tag-pinned")
            .expect("rule");
        let fix = pinned.fix.clone().unwrap_or_default();
        assert!(html.contains(&askama_escape(&fix)), "fix in the markup");
        assert!(
            data["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r[0] == "image-tag-pinned" && r[2] == fix.as_str())
        );
        // Deny comes first.
        assert_eq!(data["findings"][0][0], 0);
    }

    fn askama_escape(text: &str) -> String {
        text.replace('&', "&#38;")
            .replace('<', "&#60;")
            .replace('>', "&#62;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;")
    }

    #[test]
    fn text_from_the_manifests_cannot_become_markup_or_end_the_script() {
        let (_, html) = page(APP);
        assert!(
            !html.contains("<b>svc</b>"),
            "names are escaped in the markup"
        );
        assert!(!html.contains("<script>alert"), "no injected script");
        // The data element ends where it should: its JSON parses.
        let data = data(&html);
        assert!(data["objects"].to_string().contains("<b>svc</b>"));
        // Only the two script elements of the page exist.
        assert_eq!(html.matches("<script").count(), 2);
    }

    #[test]
    fn the_page_allows_no_network_and_only_its_own_script_and_style() {
        let (_, html) = page(APP);
        let csp = format!(
            r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src '{}'; style-src '{}';"#,
            sha256(SCRIPT),
            sha256(STYLE)
        );
        assert!(html.contains(&csp), "CSP");
        assert!(html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(html.contains(&format!("<style>{STYLE}</style>")));
        for needle in ["http://", "https://", "src=", "@import", "url("] {
            assert!(!html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn a_clean_run_says_so_and_scores_full() {
        let (report, html) = page(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop, labels: {app.kubernetes.io/name: c}}\ndata: {a: b}\n",
        );
        assert!(report.findings.is_empty());
        assert!(html.contains(r#"<span id="score">100.0%</span>"#));
        assert!(html.contains("No findings"));
    }

    #[test]
    fn charts_keep_the_largest_groups_and_count_the_rest() {
        let counts = |deny, warn| ActionCounts {
            deny,
            warn,
            audit: 0,
        };
        let chart = BarChart::stacked(
            "c",
            "t",
            [
                ("a".to_string(), counts(1, 0)),
                ("b".to_string(), counts(0, 5)),
                ("c".to_string(), counts(2, 2)),
            ]
            .into_iter(),
            2,
            Cut::End,
        );
        let labels: Vec<&str> = chart.bars.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["b", "c"]);
        assert_eq!(chart.omitted, 1);
        // The longest bar fills the plot; a stacked bar's segments follow each other.
        let c = &chart.bars[1];
        assert_eq!(c.segments.len(), 2);
        assert_eq!(c.segments[0].x, format!("{LABEL_WIDTH:.1}"));
        assert_eq!(shorten("abcdef", 4, Cut::End), "abc…");
        assert_eq!(shorten("dir/file.yaml", 8, Cut::Start), "…le.yaml");
        assert_eq!(shorten("short", 8, Cut::Start), "short");
    }
}
