//! `bulwark check --output html` as a user runs it: the page agrees with the JSON report of the
//! same run, `--out` writes it to a file, and a run with more than 10,000 findings stays a page
//! of a few MB whose markup holds only the first rows (the script pages through the rest).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/check");

/// Runs `bulwark check` on `paths` as JSON and as HTML written with `--out`.
fn both(paths: &[&str], dir: &Path) -> (Value, String) {
    let mut args = vec!["check", "-o", "json"];
    for p in paths {
        args.extend(["-f", p]);
    }
    let out = crate::common::bulwark_cli(&args, None);
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let file = dir.join("report.html");
    let file_arg = file.to_str().expect("utf-8 path");
    args[2] = "html";
    args.extend(["--out", file_arg]);
    let html_run = crate::common::bulwark_cli(&args, None);
    assert_eq!(html_run.status.code(), out.status.code(), "same verdict");
    assert!(html_run.stdout.is_empty(), "--out leaves stdout empty");
    let html = std::fs::read_to_string(&file).expect("--out wrote the page");
    (json, html)
}

/// The JSON the page's script reads.
fn page_data(html: &str) -> Value {
    let marker = r#"<script type="application/json" id="bulwark-data">"#;
    let start = html.find(marker).expect("data element") + marker.len();
    let end = start + html[start..].find("</script>").expect("end of data");
    serde_json::from_str(&html[start..end]).expect("data is JSON")
}

fn count_in(html: &str, id: &str) -> u64 {
    let marker = format!(r#"id="{id}">"#);
    let start = html.find(&marker).expect(id) + marker.len();
    let end = start + html[start..].find('<').expect("end");
    html[start..end].parse().expect("a number")
}

#[test]
fn the_page_counts_what_the_json_report_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = format!("{FIXTURES}/bundle");
    let offline = format!("{FIXTURES}/offline");
    let (json, html) = both(&[&bundle, &offline], dir.path());
    for (id, key) in [
        ("count-objects", "objects"),
        ("count-deny", "deny"),
        ("count-warn", "warn"),
        ("count-audit", "audit"),
        ("count-errors", "errors"),
    ] {
        assert_eq!(
            Some(count_in(&html, id)),
            json["summary"][key].as_u64(),
            "{id}"
        );
    }
    let data = page_data(&html);
    let findings = json["findings"].as_array().expect("findings");
    let rows = data["findings"].as_array().expect("rows");
    assert_eq!(rows.len(), findings.len());
    // The same findings: (rule, message) pairs match as multisets.
    let rule = |i: &Value| data["rules"][i.as_u64().unwrap_or(0) as usize][0].clone();
    let mut page: Vec<(String, String)> = rows
        .iter()
        .map(|r| (rule(&r[1]).to_string(), r[4].to_string()))
        .collect();
    let mut report: Vec<(String, String)> = findings
        .iter()
        .map(|f| (f["rule"].to_string(), f["message"].to_string()))
        .collect();
    page.sort();
    report.sort();
    assert_eq!(page, report);
    assert!(html.contains("Findings per file") && html.contains(&bundle));
}

/// Writes `count` Deployments that break many rules, over ten namespaces and twenty files.
fn many_deployments(dir: &Path, count: usize) {
    let mut files = vec![String::new(); 20];
    for i in 0..count {
        let _ = write!(
            files[i % 20],
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i:05}, namespace: team-{ns}}}\n\
             spec:\n  replicas: 1\n  selector: {{matchLabels: {{app: app-{i:05}}}}}\n  template:\n    \
             metadata: {{labels: {{app: app-{i:05}}}}}\n    spec:\n      containers:\n      \
             - {{name: main, image: 'registry.example/team/app-{i:05}:latest', ports: [{{containerPort: 8080}}]}}\n      \
             - {{name: sidecar, image: 'registry.example/team/proxy:latest'}}\n",
            ns = i % 10
        );
    }
    for (n, text) in files.iter().enumerate() {
        std::fs::write(dir.join(format!("apps-{n:02}.yaml")), text).expect("write manifests");
    }
}

#[test]
fn ten_thousand_findings_make_a_page_of_a_few_mb_with_one_page_of_markup_rows() {
    let manifests = tempfile::tempdir().expect("tempdir");
    many_deployments(manifests.path(), 435);
    let out = tempfile::tempdir().expect("tempdir");
    let path = manifests.path().to_str().expect("utf-8");
    let (json, html) = both(&[path], out.path());
    let findings = json["findings"].as_array().map_or(0, Vec::len);
    assert!(findings >= 10_000, "only {findings} findings");
    assert_eq!(
        page_data(&html)["findings"].as_array().map(Vec::len),
        Some(findings)
    );
    let size = html.len();
    eprintln!("{findings} findings: {size} bytes of HTML");
    assert!(size < 4 * 1024 * 1024, "{size} bytes");
    // The markup holds one page of rows; the rest are data for the script.
    let tbody = &html[html.find(r#"<tbody id="rows">"#).expect("table")..];
    let tbody = &tbody[..tbody.find("</tbody>").expect("end")];
    assert_eq!(tbody.matches("<tr>").count(), 100);
    assert!(html.contains("Findings per file") && html.contains("The ten workloads"));
}
