//! `bulwark check` as a user runs it: the built binary on the fixtures under
//! `tests/fixtures/check/`, on directories and stdin, in every format, with its exit codes.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/check");

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn bulwark(args: &[&str], stdin: Option<&str>) -> Output {
    crate::common::bulwark_cli(args, stdin)
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

fn json_report(args: &[&str], stdin: Option<&str>) -> (Value, Output) {
    let mut all = vec!["check", "-o", "json"];
    all.extend_from_slice(args);
    let out = bulwark(&all, stdin);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON report: {e}\n{}\n{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out)
}

/// (rule, object name, field) of every finding.
fn found(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["object"]["name"].as_str().unwrap_or_default().to_string(),
                f["field"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn has(report: &Value, rule: &str, name: &str, field: &str) -> bool {
    found(report)
        .iter()
        .any(|(r, n, f)| r == rule && n == name && f == field)
}

fn fires_on(report: &Value, rule: &str) -> Vec<String> {
    let mut names: Vec<String> = found(report)
        .into_iter()
        .filter(|(r, _, _)| r == rule)
        .map(|(_, n, _)| n)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_bundle_rule_fires_on_its_fixture_and_only_there() {
    let (report, out) = json_report(&["-f", &fixture("bundle")], None);
    assert_eq!(out.status.code(), Some(1), "denials fail the run");
    assert_eq!(
        fires_on(&report, "service-selector-matches"),
        ["web", "web-typo", "web-wrong-port"]
    );
    assert!(has(
        &report,
        "service-selector-matches",
        "web-typo",
        "spec.selector"
    ));
    assert!(has(
        &report,
        "service-selector-matches",
        "web-wrong-port",
        "spec.ports[http].targetPort"
    ));
    // The matching Service `web` of namespace `shop` is clean; the one flagged is in
    // `elsewhere`, where no workload carries app=web.
    let web_elsewhere = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "service-selector-matches" && f["object"]["name"] == "web")
        .map(|f| f["object"]["namespace"].clone())
        .collect::<Vec<_>>();
    assert_eq!(web_elsewhere, [Value::from("elsewhere")]);

    let ingress = "spec.rules[shop.example.com].http.paths";
    assert!(has(
        &report,
        "ingress-backend-exists",
        "shop",
        &format!("{ingress}[/admin].backend.service.port")
    ));
    assert!(has(
        &report,
        "ingress-backend-exists",
        "shop",
        &format!("{ingress}[/api].backend.service.name")
    ));
    assert_eq!(
        found(&report)
            .iter()
            .filter(|(r, _, _)| r == "ingress-backend-exists")
            .count(),
        2
    );

    assert_eq!(fires_on(&report, "hpa-target-requests"), ["api"]);
    assert_eq!(fires_on(&report, "hpa-replicas-conflict"), ["api"]);
    assert!(
        !fires_on(&report, "replicas-minimum").contains(&"api".to_string()),
        "an HPA owns the replica count"
    );
    let spread = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "pod-anti-affinity" && f["object"]["name"] == "api")
        .expect("an HPA counts as more than one replica");
    assert!(
        spread["message"]
            .as_str()
            .unwrap_or_default()
            .contains("up to 5 replicas")
    );

    assert_eq!(fires_on(&report, "pdb-allows-disruption"), ["db"]);
    assert_eq!(fires_on(&report, "config-rollout-checksum"), ["worker"]);
    let checksum = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "config-rollout-checksum")
        .expect("found");
    assert_eq!(checksum["action"], "audit");
}

#[test]
fn every_offline_rule_fires_on_its_fixture() {
    let (report, out) = json_report(&["-f", &fixture("offline")], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(has(
        &report,
        "selector-matches-template",
        "orphan",
        "spec.selector.matchLabels"
    ));
    assert_eq!(fires_on(&report, "selector-matches-template"), ["orphan"]);
    assert!(has(
        &report,
        "rolling-update-zero-downtime",
        "stuck",
        "spec.strategy.rollingUpdate"
    ));
    let deadlock = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "rolling-update-zero-downtime" && f["object"]["name"] == "stuck")
        .expect("found");
    assert!(
        deadlock["message"]
            .as_str()
            .unwrap_or_default()
            .contains("deadlock")
    );
    assert!(has(&report, "secret-type-explicit", "committed", "type"));
    assert!(has(
        &report,
        "secret-in-manifest",
        "committed",
        "stringData"
    ));
    assert!(has(&report, "pdb-single-field", "both", "spec"));

    // Every removed version is reported with its replacement, written as it was.
    let removed: Vec<(String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "deprecated-api-version")
        .map(|f| {
            (
                f["object"]["apiVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                f["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expect = [
        ("extensions/v1beta1", "apps/v1"),
        ("apps/v1beta2", "apps/v1"),
        ("networking.k8s.io/v1beta1", "networking.k8s.io/v1"),
        ("policy/v1beta1", "policy/v1"),
        ("batch/v1beta1", "batch/v1"),
        ("autoscaling/v2beta1", "autoscaling/v2"),
        (
            "rbac.authorization.k8s.io/v1beta1",
            "rbac.authorization.k8s.io/v1",
        ),
    ];
    assert_eq!(removed.len(), expect.len(), "{removed:?}");
    for (old, new) in expect {
        assert!(
            removed
                .iter()
                .any(|(v, m)| v == old && m.contains(&format!("use apiVersion: {new}"))),
            "{old} → {new}: {removed:?}"
        );
    }
    // The workload rules still read the removed-version Deployment.
    assert!(has(
        &report,
        "image-tag-pinned",
        "legacy",
        "spec.template.spec.containers[legacy].image"
    ));
    // ...and the old HPA metric shape is understood.
    assert_eq!(fires_on(&report, "hpa-target-requests"), ["legacy"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("RoleBinding is not a kind bulwark checks"),
        "the unread RoleBinding gets a note"
    );
}

#[test]
fn the_json_report_has_exactly_the_design_shape() {
    let (report, _) = json_report(
        &["-f", &fixture("bundle"), "-f", &fixture("broken.yaml")],
        None,
    );
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&report), ["errors", "findings", "objects", "summary"]);
    assert_eq!(
        keys(&report["summary"]),
        [
            "audit", "checks", "deny", "errors", "exempted", "objects", "warn", "withheld"
        ]
    );
    for object in report["objects"].as_array().expect("objects") {
        for key in keys(object) {
            assert!(
                ["apiVersion", "kind", "namespace", "name", "file", "line"].contains(&key.as_str()),
                "{key}"
            );
        }
        assert!(object["line"].as_u64().is_some_and(|l| l >= 1));
        assert!(
            object["file"]
                .as_str()
                .is_some_and(|f| f.ends_with(".yaml"))
        );
    }
    for finding in report["findings"].as_array().expect("findings") {
        assert_eq!(
            keys(finding),
            [
                "action", "docs", "field", "file", "line", "message", "object", "rule", "why"
            ]
        );
        assert!(
            ["deny", "warn", "audit"].contains(&finding["action"].as_str().unwrap_or_default())
        );
        let object = keys(&finding["object"]);
        assert!(
            object
                .iter()
                .all(|k| ["apiVersion", "kind", "namespace", "name"].contains(&k.as_str()))
        );
    }
    for error in report["errors"].as_array().expect("errors") {
        assert_eq!(keys(error), ["file", "line", "message"]);
    }
    let count = |action: &str| {
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["action"] == action)
            .count() as u64
    };
    let summary = &report["summary"];
    assert_eq!(
        summary["objects"].as_u64(),
        Some(report["objects"].as_array().map_or(0, |a| a.len() as u64))
    );
    for action in ["deny", "warn", "audit"] {
        assert_eq!(summary[action].as_u64(), Some(count(action)), "{action}");
    }
    assert_eq!(summary["errors"], 1);
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    // The published schema's `language` patterns have a stray `]`
    // (`^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$`) that a strict regex engine rejects; use the
    // intended pattern (bulwark emits no `language`). Everything else is as published.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sarif-schema-2.1.0.json"
    ))
    .expect("schema file")
    .replace(
        r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#,
        r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#,
    );
    let schema: Value = serde_json::from_str(&text).expect("schema JSON");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("a valid schema");
    // The validator does reject what is not SARIF.
    let wrong = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
        "results": [{"message": {"text": "m"}, "level": "severe"}]}]});
    assert!(validator.iter_errors(&wrong).next().is_some());
    for args in [vec!["-f", FIXTURES], vec!["-f", "-"]] {
        let mut all = vec!["check", "-o", "sarif"];
        all.extend(args.iter().copied());
        let stdin = std::fs::read_to_string(fixture("bundle/services.yaml")).expect("fixture");
        let out = bulwark(&all, Some(&stdin));
        let sarif: Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
        let errors: Vec<String> = validator
            .iter_errors(&sarif)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");

        let run = &sarif["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
        for spec in bulwark::engine::registry::RULES {
            assert!(ids.contains(&spec.id), "{} has no rule entry", spec.id);
        }
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "one rule per id");
        assert!(rules.iter().all(|r| {
            r["help"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("Why:"))
        }));
        let results = run["results"].as_array().expect("results");
        assert!(!results.is_empty());
        for result in results {
            let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
            assert_eq!(rules[index]["id"], result["ruleId"]);
            let location = &result["locations"][0]["physicalLocation"];
            assert!(
                location["region"]["startLine"]
                    .as_u64()
                    .is_some_and(|l| l >= 1)
            );
            assert!(location["artifactLocation"]["uri"].as_str().is_some());
        }
    }
}

/// The `partialFingerprints` of every SARIF result of a run over `paths`: (fingerprint, uri).
fn fingerprints(paths: &[&str]) -> Vec<(String, String)> {
    let mut args = vec!["check", "-o", "sarif"];
    for p in paths {
        args.extend(["-f", p]);
    }
    let out = bulwark(&args, None);
    let sarif: Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let print = r["partialFingerprints"]["bulwarkFinding/v2"]
                .as_str()
                .expect("a fingerprint")
                .to_string();
            let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (print, uri)
        })
        .collect()
}

#[test]
fn sarif_fingerprints_are_unique_per_result_and_name_the_file() {
    let mut paths = vec![
        FIXTURES.to_string(),
        format!("{}/tests/e2e/manifests", env!("CARGO_MANIFEST_DIR")),
    ];
    if let Some(corpus) = crate::common::corpus_dir() {
        paths.push(corpus.display().to_string());
    }
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let prints = fingerprints(&paths);
    assert!(prints.len() > 100, "only {} results", prints.len());
    let mut unique: Vec<&str> = prints.iter().map(|(p, _)| p.as_str()).collect();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        prints.len(),
        "two results share a fingerprint"
    );
    for (print, uri) in &prints {
        assert!(
            print.contains(&format!(":{uri}:")),
            "{print} does not name {uri}"
        );
    }
    // The same object in two files gives two fingerprints.
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(fixture("bundle/services.yaml")).expect("fixture");
    for name in ["a.yaml", "b.yaml"] {
        std::fs::write(dir.path().join(name), &text).expect("write");
    }
    let twice = fingerprints(&[&dir.path().display().to_string()]);
    let mut unique: Vec<&str> = twice.iter().map(|(p, _)| p.as_str()).collect();
    unique.sort_unstable();
    unique.dedup();
    assert!(!twice.is_empty());
    assert_eq!(unique.len(), twice.len());
}

#[test]
fn rule_and_skip_rule_pick_rules_on_check_mutate_and_audit() {
    let (all, _) = json_report(&["-f", FIXTURES], None);
    let rules_of = |report: &Value| {
        let mut ids: Vec<String> = found(report).into_iter().map(|(r, _, _)| r).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    assert!(rules_of(&all).len() > 5);
    let (only, _) = json_report(
        &["-f", FIXTURES, "--rule", "image-tag-pinned,run-as-non-root"],
        None,
    );
    assert_eq!(rules_of(&only), ["image-tag-pinned", "run-as-non-root"]);
    let (skipped, _) = json_report(
        &[
            "-f",
            FIXTURES,
            "--skip-rule",
            "image-tag-pinned",
            "--skip-rule",
            "recommended-labels",
        ],
        None,
    );
    let left = rules_of(&skipped);
    assert!(!left.contains(&"image-tag-pinned".to_string()));
    assert!(!left.contains(&"recommended-labels".to_string()));
    assert_eq!(left.len(), rules_of(&all).len() - 2);

    // mutate: by mutation id or by the rule a mutation answers.
    let manifest = std::fs::read_to_string(fixture("clean/app.yaml")).expect("fixture");
    let bare = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: web:latest, ports: [{containerPort: 80}]}]}\n";
    let patch = |extra: &[&str]| {
        let mut args = vec!["mutate", "-f", "-", "-o", "patch"];
        args.extend_from_slice(extra);
        stdout(&bulwark(&args, Some(bare)))
    };
    let one = patch(&["--rule", "run-as-non-root"]);
    assert!(
        one.contains("runAsUser") && !one.contains("preStop"),
        "{one}"
    );
    let without = patch(&["--skip-rule", "set-run-as-non-root"]);
    assert!(
        !without.contains("runAsUser") && without.contains("preStop"),
        "{without}"
    );
    assert!(!manifest.is_empty());

    // Unknown ids are clear errors on every command, before anything is read.
    for command in [
        vec!["check", "-f", FIXTURES, "--rule", "image-tag-pined"],
        vec!["mutate", "-f", FIXTURES, "--skip-rule", "image-tag-pined"],
        vec![
            "audit",
            "--kubeconfig",
            "/nonexistent",
            "--rule",
            "image-tag-pined",
        ],
    ] {
        let out = bulwark(&command, None);
        assert_eq!(out.status.code(), Some(2), "{command:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("unknown")
                && err.contains("`image-tag-pined` (did you mean `image-tag-pinned`?)"),
            "{command:?}: {err}"
        );
    }
    let out = bulwark(
        &["check", "-f", FIXTURES, "--rule", "add-prestop-hook"],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a mutation, not a rule"));
}

#[test]
fn missing_counterparts_are_withheld_when_a_document_could_not_be_read() {
    let deployment = |ns: &str, name: &str, replicas: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: web, image: web:1.0}}]}}\n"
        )
    };
    let service = |ns: &str, name: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{selector: {{app: {name}}}, ports: [{{port: 80}}]}}\n"
        )
    };
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: shop}\nspec:\n  ingressClassName: nginx\n  rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}]}}]\n";
    // In `shop` the Deployment the Service `web` selects does not decode: the claim that
    // nothing matches is withheld. The Ingress's missing Service and the Service of `other`
    // cannot be that Deployment: they are still reported.
    let docs = [
        service("shop", "web"),
        deployment("shop", "web", "many"),
        deployment("shop", "worker", "2"),
        ingress.to_string(),
        service("other", "lost"),
        deployment("other", "present", "2"),
    ];
    let text = docs.join("---\n");
    let (report, out) = json_report(&["-f", "-"], Some(&text));
    assert_eq!(out.status.code(), Some(2));
    let claims: Vec<(String, String)> = found(&report)
        .into_iter()
        .filter(|(r, _, _)| r == "service-selector-matches" || r == "ingress-backend-exists")
        .map(|(r, n, _)| (r, n))
        .collect();
    assert_eq!(
        claims,
        [
            ("ingress-backend-exists".to_string(), "web".to_string()),
            ("service-selector-matches".to_string(), "lost".to_string())
        ],
        "{report}"
    );
    assert_eq!(report["summary"]["withheld"], 1, "{report}");
    let note = "1 finding(s) that an object is missing";
    let text_out = stdout(&bulwark(&["check", "-f", "-"], Some(&text)));
    assert!(text_out.contains(note), "{text_out}");
    let sarif = stdout(&bulwark(&["check", "-f", "-", "-o", "sarif"], Some(&text)));
    let sarif: Value = serde_json::from_str(&sarif).expect("SARIF");
    let notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"].to_string();
    assert!(notes.contains(note), "{notes}");
    let junit = stdout(&bulwark(&["check", "-f", "-", "-o", "junit"], Some(&text)));
    assert!(junit.contains(&format!("<system-err>{note}")), "{junit}");
    let html = stdout(&bulwark(&["check", "-f", "-", "-o", "html"], Some(&text)));
    assert!(html.contains(note));

    // Once it decodes, the claim is made (or not) on what is there.
    let fixed = text.replace("replicas: many", "replicas: 2");
    let (report, _) = json_report(&["-f", "-"], Some(&fixed));
    assert_eq!(report["summary"]["withheld"], 0);
    // A document that does not even parse could be anything: every claim is withheld.
    let broken = format!("{text}---\nkind: [broken\n");
    let (report, _) = json_report(&["-f", "-"], Some(&broken));
    assert_eq!(report["summary"]["withheld"], 3, "{report}");
}

#[test]
fn a_decode_error_names_the_file_the_line_and_the_path_of_the_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cronjob.yaml");
    let text = "# Source: chart/templates/cronjob.yaml\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: backup, namespace: shop}\nspec:\n  schedule: \"0 3 * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers: [{name: backup, image: backup:1.0}]\n          volumes:\n            - name: scripts\n              configMap:\n                name: scripts\n                defaultMode: \"0755\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\n  name: again\n";
    std::fs::write(&path, text).expect("write");
    let file = path.display().to_string();
    let (report, out) = json_report(&["-f", &file], None);
    assert_eq!(out.status.code(), Some(2));
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{report}");
    assert_eq!(errors[0]["file"], file.as_str());
    assert_eq!(errors[0]["line"], 17);
    assert_eq!(
        errors[0]["message"],
        "cannot decode the batch/v1 CronJob: at `spec.jobTemplate.spec.template.spec.volumes[0].configMap.defaultMode`: invalid type: string, expected i32"
    );
    assert_eq!(errors[1]["line"], 23);
    assert_eq!(
        errors[1]["message"],
        "invalid YAML: the key `name` appears twice in one mapping; keep one"
    );
    let text_out = stdout(&bulwark(&["check", "-f", &file], None));
    assert!(
        text_out
            .contains("  line 17  error: cannot decode the batch/v1 CronJob: at `spec.jobTemplate"),
        "{text_out}"
    );
    assert!(!text_out.contains("Options"));
}

#[test]
fn manifests_in_the_shapes_real_apps_use_get_only_true_findings() {
    // A database StatefulSet, a worker and a load generator without ports, a batch Pod, a
    // 3-replica default-strategy frontend, an edge proxy and a node agent with hostPorts, and an
    // API with two HPAs. None of them sets a securityContext, so the five container security
    // rules fire on every one (true); everything else they get is listed here, and each is true.
    let (report, _) = json_report(&["-f", &fixture("apps")], None);
    let everywhere = [
        "drop-all-capabilities",
        "no-privilege-escalation",
        "read-only-root-filesystem",
        "run-as-non-root",
        "seccomp-profile",
    ];
    let mut rest: Vec<(String, String)> = found(&report)
        .into_iter()
        .filter(|(rule, _, _)| !everywhere.contains(&rule.as_str()))
        .map(|(rule, name, _)| (name, rule))
        .collect();
    rest.sort();
    let expected = [
        // maxUnavailable 25% of the 10 pods its HPAs may scale to is 2.
        ("api", "rolling-update-zero-downtime"),
        ("api-cpu", "hpa-target-unique"),
        ("api-memory", "hpa-target-unique"),
        ("edge", "no-host-ports"),
        ("loadgenerator", "container-liveness-probe"),
        ("loadgenerator", "replicas-minimum"),
        ("node-agent", "no-host-ports"),
        ("postgres", "replicas-minimum"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, r)| (n.to_string(), r.to_string()))
        .collect();
    assert_eq!(rest, expected, "{report}");
    let objects = report["objects"].as_array().map_or(0, Vec::len);
    assert_eq!(objects, 12);

    // The mutation gives the pods a numeric user, so an image whose USER is a name starts.
    let out = bulwark(
        &[
            "mutate",
            "-f",
            &fixture("apps/frontend.yaml"),
            "-o",
            "patch",
            "--rule",
            "set-run-as-non-root",
        ],
        None,
    );
    let patches: Value = serde_json::from_slice(&out.stdout).expect("patch JSON");
    let text = patches.to_string();
    assert!(
        text.contains(r#""value":{"runAsGroup":65532,"runAsNonRoot":true,"runAsUser":65532}"#)
            || text
                .contains(r#""value":{"runAsNonRoot":true,"runAsUser":65532,"runAsGroup":65532}"#),
        "{text}"
    );
}

#[test]
fn json_findings_carry_why_and_a_docs_anchor() {
    let (report, _) = json_report(&["-f", FIXTURES], None);
    let markdown = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md"))
        .expect("docs/rules.md");
    let findings = report["findings"].as_array().expect("findings");
    assert!(!findings.is_empty());
    for f in findings {
        let rule = f["rule"].as_str().expect("rule");
        let why = bulwark::engine::registry::why(rule).expect("documented");
        assert_eq!(f["why"], why, "{rule}");
        let docs = f["docs"].as_str().expect("docs");
        assert_eq!(docs, format!("docs/rules.md#{rule}"));
        assert!(
            markdown.contains(&format!("<a id=\"{rule}\"></a>")),
            "{rule}"
        );
    }
}

#[test]
fn junit_is_xml_with_one_case_per_object() {
    let (json, _) = json_report(&["-f", FIXTURES], None);
    for (fail_on, failing_rule) in [("deny", "run-as-non-root"), ("warn", "recommended-labels")] {
        let out = bulwark(
            &["check", "-o", "junit", "--fail-on", fail_on, "-f", FIXTURES],
            None,
        );
        let text = stdout(&out);
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let cases: Vec<_> = root
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let objects = json["objects"].as_array().map_or(0, |a| a.len());
        let errors = json["errors"].as_array().map_or(0, |a| a.len());
        assert_eq!(cases.len(), objects + errors);
        assert_eq!(
            root.attribute("tests"),
            Some((objects + errors).to_string().as_str())
        );
        let failures: Vec<_> = root
            .descendants()
            .filter(|n| n.has_tag_name("failure"))
            .collect();
        assert!(
            failures
                .iter()
                .any(|f| f.text().is_some_and(|t| t.contains(failing_rule)))
        );
        assert_eq!(
            root.attribute("failures"),
            Some(failures.len().to_string().as_str())
        );
        assert_eq!(
            root.descendants()
                .filter(|n| n.has_tag_name("error"))
                .count(),
            errors
        );
        // The clean fixture's objects pass.
        assert!(cases.iter().any(|c| {
            c.attribute("classname")
                .is_some_and(|f| f.ends_with("clean/app.yaml"))
                && !c.children().any(|n| n.has_tag_name("failure"))
        }));
    }
}

#[test]
fn exit_codes_follow_fail_on_and_input_errors_win() {
    let clean = fixture("clean");
    let bundle = fixture("bundle");
    let code = |args: &[&str]| {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        bulwark(&all, None).status.code()
    };
    assert_eq!(code(&["-f", &clean]), Some(0));
    assert_eq!(code(&["-f", &clean, "--fail-on", "warn"]), Some(0));
    assert_eq!(code(&["-f", &bundle]), Some(1));
    assert_eq!(code(&["-f", &bundle, "--fail-on", "warn"]), Some(1));
    assert_eq!(code(&["-f", &bundle, "--fail-on", "never"]), Some(0));
    // Warnings alone fail only under --fail-on warn.
    let config = fixture("bundle/disruption.yaml");
    let policy = write_temp(
        "policy.yaml",
        "apiVersion: bulwark.dev/v1\nkind: Policy\nrules:\n  container-resources-requests: { action: warn }\n  run-as-non-root: { action: warn }\n",
    );
    let policy = policy.1.as_str();
    assert_eq!(code(&["-f", &config, "--policy", policy]), Some(0));
    assert_eq!(
        code(&["-f", &config, "--policy", policy, "--fail-on", "warn"]),
        Some(1)
    );
    // Input errors: 2, whatever the findings and --fail-on.
    let broken = fixture("broken.yaml");
    for fail_on in ["deny", "warn", "never"] {
        assert_eq!(
            code(&["-f", &broken, "--fail-on", fail_on]),
            Some(2),
            "{fail_on}"
        );
    }
    assert_eq!(code(&["-f", "/nonexistent/manifests"]), Some(2));
    // Usage errors: 2.
    assert_eq!(code(&["-f", &clean, "--fail-on", "sometimes"]), Some(2));
    assert_eq!(
        code(&["-f", &clean, "--policy", "/nonexistent/policy.yaml"]),
        Some(2)
    );
}

fn write_temp(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    let path = path.display().to_string();
    (dir, path)
}

#[test]
fn a_broken_document_is_reported_with_its_line_and_the_rest_is_checked() {
    let (report, out) = json_report(&["-f", &fixture("broken.yaml")], None);
    assert_eq!(out.status.code(), Some(2));
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["line"], 7);
    assert!(
        errors[0]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("broken.yaml"))
    );
    let names: Vec<&str> = report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(names, ["before", "after"]);
    assert!(has(
        &report,
        "image-tag-pinned",
        "after",
        "spec.template.spec.containers[after].image"
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.yaml:7:"), "{stderr}");
    assert!(
        stderr.contains("broken.yaml:20: skipped: not a Kubernetes object"),
        "{stderr}"
    );

    // The text report lists the error under its file, with its line.
    let text = stdout(&bulwark(&["check", "-f", &fixture("broken.yaml")], None));
    assert!(text.contains("  line 7  error: invalid YAML"), "{text}");
    assert!(text.contains("line 9  Deployment shop/after"), "{text}");
}

#[test]
fn stdin_and_directories_read_like_files() {
    let text = std::fs::read_to_string(fixture("bundle/services.yaml")).expect("fixture");
    let (from_stdin, out) = json_report(&["-f", "-"], Some(&text));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        from_stdin["objects"]
            .as_array()
            .is_some_and(|o| o.iter().all(|o| o["file"] == "-"))
    );
    let (from_file, _) = json_report(&["-f", &fixture("bundle/services.yaml")], None);
    assert_eq!(found(&from_stdin), found(&from_file));
    assert_eq!(from_stdin["summary"], from_file["summary"]);

    // A directory is every manifest below it; stdin mixes with files in one bundle.
    let (dir, _) = json_report(&["-f", &fixture("bundle")], None);
    let files: Vec<&str> = dir["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["file"].as_str())
        .collect();
    for name in [
        "autoscaling.yaml",
        "config.yaml",
        "disruption.yaml",
        "ingress.yaml",
        "services.yaml",
    ] {
        assert!(files.iter().any(|f| Path::new(f).ends_with(name)), "{name}");
    }
    let ingress = std::fs::read_to_string(fixture("bundle/ingress.yaml")).expect("fixture");
    let (mixed, _) = json_report(
        &["-f", &fixture("bundle/services.yaml"), "-f", "-"],
        Some(&ingress),
    );
    assert_eq!(fires_on(&mixed, "ingress-backend-exists"), ["shop"]);
}

#[test]
fn text_output_groups_by_file_and_object_without_colour_in_a_pipe() {
    let out = bulwark(&["check", "-f", &fixture("offline/manifests.yaml")], None);
    let text = stdout(&out);
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    let file = fixture("offline/manifests.yaml");
    assert!(
        text.starts_with(&format!("{file}\n  line 2  Deployment shop/orphan\n")),
        "{text}"
    );
    assert!(
        text.contains("    deny   selector-matches-template  selector app=orphan"),
        "{text}"
    );
    assert!(
        text.contains("           at spec.selector.matchLabels\n"),
        "{text}"
    );
    assert!(
        text.contains("\n  line 13  Deployment shop/stuck\n"),
        "{text}"
    );
    assert!(text.contains("4 objects in 1 file: "), "{text}");
    assert!(text.trim_end().ends_with("at or above deny"), "{text}");
    // NO_COLOR changes nothing in a pipe either.
    let mut command = Command::new(env!("CARGO_BIN_EXE_bulwark"));
    let with_env = command
        .args(["check", "-f", &file])
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    assert_eq!(stdout(&with_env), text);
}

#[test]
fn audit_mode_denies_nothing_and_says_what_it_would_deny() {
    let (_dir, policy) = write_temp(
        "audit.yaml",
        "apiVersion: bulwark.dev/v1\nkind: Policy\nmode: audit\n",
    );
    let (report, out) = json_report(
        &[
            "-f",
            &fixture("offline/manifests.yaml"),
            "--policy",
            &policy,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(report["summary"]["deny"], 0);
    let would: Vec<&Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            f["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("[would deny] "))
        })
        .collect();
    assert!(!would.is_empty());
    assert!(would.iter().all(|f| f["action"] == "warn"));
    let strict = bulwark(
        &[
            "check",
            "-f",
            &fixture("offline/manifests.yaml"),
            "--policy",
            &policy,
            "--fail-on",
            "warn",
        ],
        None,
    );
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn secret_values_never_appear_in_any_format() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let values = [
        "QuokkaZebra72-Horsebattery",
        "Zq9xK7mPvW4tR2pNy8",
        "Wombat-Saxophone-4471-Quince",
        "Glockenspiel$Narwhal!9930",
        "Marzipan-Octopus-2219",
        "Periwinkle-Llama-5501",
        "Tangerine-Walrus-8812",
        "sk_live_Xylophone3344Kumquat",
        "Pomegranate-Iguana-6604",
    ];
    let mut needles: Vec<String> = Vec::new();
    for value in values {
        needles.push(value.to_string());
        // Every fragment of the value: its words, and any 8-character window.
        needles.extend(
            value
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| w.len() >= 5)
                .map(String::from),
        );
        let encoded = b64(value);
        let chars: Vec<char> = encoded.trim_end_matches('=').chars().collect();
        needles.extend(chars.windows(8).map(|w| w.iter().collect()));
        let chars: Vec<char> = value.chars().collect();
        needles.extend(chars.windows(8).map(|w| w.iter().collect()));
    }
    let file = fixture("secrets.yaml");
    let stdin = std::fs::read_to_string(&file).expect("fixture");
    for format in ["text", "json", "sarif", "junit", "html"] {
        for source in [file.as_str(), "-"] {
            let out = bulwark(&["check", "-o", format, "-f", source], Some(&stdin));
            assert_eq!(
                out.status.code(),
                Some(2),
                "{format}: the malformed Secrets are errors"
            );
            let all = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
            assert!(
                all.contains("env-secret-literal"),
                "{format}: the literal is reported"
            );
            assert!(all.contains("secret-in-manifest"), "{format}");
            let lower = all.to_lowercase();
            for needle in &needles {
                assert!(
                    !lower.contains(&needle.to_lowercase()),
                    "{format} output shows `{needle}`:\n{all}"
                );
            }
        }
    }
}

#[test]
fn decode_errors_name_the_field_but_never_a_value() {
    // Values that hold serde's own words (`, expected`) and a token after them, where a count,
    // a base64 Secret value, a timestamp and a quantity belong.
    let sly = "x, expected ghp_Q8w2Zr5Tn1Lk7Vb3Xc9Md4Hf6Js0Pa2Ye8Ui, expected i32";
    let text = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec: {{replicas: '{sly}'}}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: shop}}\ndata: {{password: '%{sly}%'}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: shop, creationTimestamp: '{sly}'}}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: shop}}\nspec: {{containers: [{{name: a, image: 'a:1', resources: {{limits: {{cpu: ['{sly}']}}}}}}]}}\n---\n\
         apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {{name: old, namespace: shop}}\nspec: {{replicas: '{sly}'}}\n"
    );
    let (_dir, path) = write_temp("sly.yaml", &text);
    let (report, _) = json_report(&["-f", &path], None);
    let errors = report["errors"].as_array().expect("errors");
    // The removed apiVersion is only noted as unread (its apiVersion is still judged).
    assert_eq!(errors.len(), 4, "{report}");
    for error in errors {
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("cannot decode the") && message.contains("at `"),
            "{message}"
        );
    }
    for format in ["text", "json", "sarif", "junit"] {
        let out = bulwark(&["check", "-o", format, "-f", &path], None);
        let all = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert!(!all.contains("ghp_"), "{format} shows the token:\n{all}");
        assert!(
            !all.contains("x, expected"),
            "{format} shows the value:\n{all}"
        );
    }
}

#[test]
fn rules_lists_the_catalog_and_docs_rules_md_is_current() {
    let out = bulwark(&["rules", "--output", "json"], None);
    assert!(out.status.success());
    let catalog: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    for spec in bulwark::engine::registry::RULES {
        let entry = catalog
            .iter()
            .find(|e| e["id"] == spec.id)
            .unwrap_or_else(|| panic!("{} missing", spec.id));
        assert_eq!(entry["type"], "rule");
        assert!(
            entry["kinds"].as_array().is_some_and(|k| !k.is_empty()),
            "{}",
            spec.id
        );
        assert!(entry["sees"].as_array().is_some_and(|s| !s.is_empty()));
        assert!(
            ["deny", "warn", "audit", "off"]
                .contains(&entry["default"].as_str().unwrap_or_default())
        );
    }
    assert!(catalog.iter().any(|e| e["id"] == "pdb-allows-disruption"));
    assert_eq!(
        catalog.iter().filter(|e| e["type"] == "mutation").count(),
        bulwark::engine::mutations::MUTATIONS.len()
    );
    let text = stdout(&bulwark(&["rules"], None));
    assert!(text.contains("image-tag-pinned") && text.contains("why: "));

    let markdown = stdout(&bulwark(&["rules", "--output", "markdown"], None));
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md"))
        .unwrap_or_default();
    assert!(
        markdown == committed,
        "docs/rules.md is stale; regenerate it with:\n    cargo run -- rules --output markdown > docs/rules.md"
    );
}

#[test]
fn manifests_in_the_yaml_kubectl_accepts_are_read_as_kubectl_reads_them() {
    // Octal file modes, YAML 1.1 booleans, hex and underscored numbers, whole floats: each of
    // these is applied by kubectl, and each once failed to decode here.
    let (report, out) = json_report(&["-f", &fixture("kubectl-idioms")], None);
    assert_eq!(report["summary"]["errors"], 0, "{report}");
    assert_eq!(report["summary"]["objects"], 2, "{report}");
    assert_eq!(report["findings"], json!([]), "{report}");
    assert!(out.status.success());
    // The values are kubectl's: mutate passes the documents through as read.
    let out = bulwark(
        &[
            "mutate",
            "-f",
            &fixture("kubectl-idioms/cronjob-octal-mode.yaml"),
            "--output",
            "yaml",
        ],
        None,
    );
    let text = stdout(&out);
    assert!(text.contains("defaultMode: 493"), "{text}");
    assert!(
        text.contains("defaultMode: 256") && text.contains("mode: 288"),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn a_directory_walk_survives_symlink_loops_reads_each_file_once_and_goes_past_errors() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let app = root.join("app");
    std::fs::create_dir_all(app.join("nested")).expect("dirs");
    std::fs::copy(fixture("clean/app.yaml"), app.join("nested/app.yaml")).expect("copy");
    // Loops: a link to the directory itself and to its parent.
    symlink(&app, app.join("nested/again")).expect("symlink");
    symlink(root, app.join("up")).expect("symlink");
    // The same file once more under another name, and a link that points nowhere.
    symlink(app.join("nested/app.yaml"), app.join("alias.yaml")).expect("symlink");
    symlink(root.join("missing"), app.join("broken.yaml")).expect("symlink");
    let (report, out) = json_report(
        &[
            "-f",
            app.to_str().expect("path"),
            "-f",
            app.join("nested/app.yaml").to_str().expect("path"),
        ],
        None,
    );
    let (clean, _) = json_report(&["-f", &fixture("clean/app.yaml")], None);
    assert_eq!(
        report["summary"]["objects"], clean["summary"]["objects"],
        "each file once: {report}"
    );
    let errors = report["errors"].as_array().expect("errors");
    let messages: Vec<&str> = errors
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        messages
            .iter()
            .filter(|m| m.contains("symlink loop"))
            .count()
            >= 2,
        "{messages:?}"
    );
    assert!(
        errors.iter().any(|e| e["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("broken.yaml"))),
        "{messages:?}"
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "read errors end with exit code 2"
    );
}
