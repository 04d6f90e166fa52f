//! The report for a terminal: findings grouped by file and object, each with its action, rule
//! id, message and field, then the counts per action and the verdict. Colour only when asked
//! (the caller decides: a terminal, and no `NO_COLOR`).

use std::fmt::Write as _;

use super::{ActionCounts, FailOn, Outcome, Report};
use crate::engine::Action;
use crate::engine::registry;

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn action(&self, action: Action) -> String {
        let code = match action {
            Action::Deny => "1;31",
            Action::Warn => "33",
            Action::Audit => "36",
            Action::Off => "2",
        };
        self.paint(code, &format!("{:<5}", action.as_str()))
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Renders `report`; `fail_on` words the verdict line.
pub fn render(report: &Report, fail_on: FailOn, color: bool) -> String {
    let style = Style { on: color };
    // Files in the order they were read; each holds its entries by line.
    let mut files: Vec<(&str, Vec<(usize, String)>)> = Vec::new();
    fn slot<'r>(files: &mut Vec<(&'r str, Vec<(usize, String)>)>, file: &'r str) -> usize {
        match files.iter().position(|(f, _)| *f == file_name(file)) {
            Some(i) => i,
            None => {
                files.push((file_name(file), Vec::new()));
                files.len() - 1
            }
        }
    }
    let mut findings = report.findings.iter().peekable();
    for object in &report.objects {
        let mut block = String::new();
        while let Some(f) = findings.peek() {
            if f.object != object.object || f.file != object.file || f.line != object.line {
                break;
            }
            let _ = writeln!(
                block,
                "    {}  {}  {}",
                style.action(f.action),
                style.paint("1", f.rule),
                f.message
            );
            let _ = writeln!(
                block,
                "           {}",
                style.paint("2", &format!("at {}", f.field))
            );
            findings.next();
        }
        if block.is_empty() {
            continue;
        }
        let line = object.line.unwrap_or(0);
        let head = format!("  line {line}  {}\n", object.object.describe());
        let i = slot(&mut files, object.file.as_deref().unwrap_or("-"));
        files[i].1.push((line, head + &block));
    }
    for error in &report.errors {
        let line = error.line.unwrap_or(0);
        let at = match error.line {
            Some(l) => format!("line {l}  "),
            None => String::new(),
        };
        let text = format!(
            "  {at}{} {}\n",
            style.paint("1;31", "error:"),
            error.message
        );
        let i = slot(&mut files, &error.file);
        files[i].1.push((line, text));
    }

    let mut out = String::new();
    for (file, mut entries) in files {
        entries.sort_by_key(|(line, _)| *line);
        let _ = writeln!(out, "{}", style.paint("1;4", file));
        for (_, text) in entries {
            out.push_str(&text);
        }
        out.push('\n');
    }
    out.push_str(&per_rule(report, &style));
    if let Some(note) = report.withheld_note() {
        let _ = writeln!(out, "{}\n", style.paint("33", &format!("note: {note}")));
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "{} in {}: {} deny, {} warn, {} audit; {}",
        plural(s.objects, "object"),
        plural(report.file_count(), "file"),
        s.deny,
        s.warn,
        s.audit,
        plural(s.errors, "error"),
    );
    let failing = report.failing(fail_on);
    let verdict = match report.outcome(fail_on) {
        Outcome::Pass if fail_on == FailOn::Never => style.paint("32", "pass (--fail-on never)"),
        Outcome::Pass => style.paint(
            "32",
            &format!("pass: nothing at or above {}", fail_on.as_str()),
        ),
        Outcome::Fail => style.paint(
            "1;31",
            &format!(
                "fail: {} at or above {}",
                plural(failing, "finding"),
                fail_on.as_str()
            ),
        ),
        Outcome::InputErrors => style.paint(
            "1;31",
            &format!(
                "fail: {} in the input; {} at or above {}",
                plural(s.errors, "error"),
                plural(failing, "finding"),
                fail_on.as_str()
            ),
        ),
    };
    let _ = writeln!(out, "{verdict}");
    out
}

/// The findings counted per rule and action, strongest first, each rule with its why once.
fn per_rule(report: &Report, style: &Style) -> String {
    let mut rules: Vec<_> = report.tally(|f| f.rule).into_iter().collect();
    if rules.is_empty() {
        return String::new();
    }
    let strongest = |c: &ActionCounts| {
        [Action::Deny, Action::Warn, Action::Audit]
            .into_iter()
            .find(|a| match a {
                Action::Deny => c.deny > 0,
                Action::Warn => c.warn > 0,
                _ => c.audit > 0,
            })
            .unwrap_or(Action::Off)
    };
    rules.sort_by(|(a_id, a), (b_id, b)| {
        (strongest(b), b.total(), a_id).cmp(&(strongest(a), a.total(), b_id))
    });
    let width = rules.iter().map(|(id, _)| id.len()).max().unwrap_or(0);
    let mut out = format!("{}\n", style.paint("1", "Findings per rule"));
    for (id, counts) in rules {
        let by_action: Vec<String> = [
            (counts.deny, Action::Deny),
            (counts.warn, Action::Warn),
            (counts.audit, Action::Audit),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, a)| format!("{n} {}", a.as_str()))
        .collect();
        let _ = writeln!(out, "  {id:width$}  {}", by_action.join(", "));
        if let Some(why) = registry::why(id) {
            let _ = writeln!(out, "      {}", style.paint("2", &format!("why: {why}")));
        }
    }
    out.push('\n');
    out
}

/// `-` reads as what it is.
fn file_name(file: &str) -> &str {
    if file == "-" { "<stdin>" } else { file }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::report::{ErrorEntry, FindingEntry, ObjectEntry, ObjectRef, Summary};

    fn report() -> Report {
        let object = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("shop".into()),
            name: "web".into(),
        };
        let quiet = ObjectRef {
            name: "quiet".into(),
            ..object.clone()
        };
        Report {
            objects: vec![
                ObjectEntry {
                    object: object.clone(),
                    file: Some("a.yaml".into()),
                    line: Some(3),
                    checks: 20,
                },
                ObjectEntry {
                    object: quiet,
                    file: Some("a.yaml".into()),
                    line: Some(20),
                    checks: 20,
                },
            ],
            findings: vec![FindingEntry {
                rule: "image-tag-pinned",
                action: Action::Deny,
                would_deny: false,
                message: "pin it".into(),
                object,
                file: Some("a.yaml".into()),
                line: Some(3),
                field: "spec.template.spec.containers[web].image".into(),
                why: "",
                docs: String::new(),
            }],
            errors: vec![ErrorEntry {
                file: "b.yaml".into(),
                line: Some(7),
                message: "invalid YAML".into(),
            }],
            summary: Summary {
                objects: 2,
                deny: 1,
                warn: 0,
                audit: 0,
                errors: 1,
                checks: 40,
                exempted: 0,
                withheld: 0,
            },
            exempted: vec![],
            checks: 40,
            withheld: 0,
            unread: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn groups_by_file_and_object_and_counts() {
        let text = render(&report(), FailOn::Deny, false);
        assert!(
            text.starts_with(
                "a.yaml\n  line 3  Deployment shop/web\n    deny   image-tag-pinned  pin it\n"
            ),
            "{text}"
        );
        assert!(text.contains("at spec.template.spec.containers[web].image"));
        assert!(
            !text.contains("quiet"),
            "objects without findings are not listed"
        );
        assert!(
            text.contains("b.yaml\n  line 7  error: invalid YAML\n"),
            "{text}"
        );
        assert!(
            text.contains("2 objects in 2 files: 1 deny, 0 warn, 0 audit; 1 error"),
            "{text}"
        );
        assert!(
            text.contains("fail: 1 error in the input; 1 finding at or above deny"),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn ends_with_findings_per_rule_and_action_and_each_rules_why_once() {
        let mut report = report();
        let mut second = report.findings[0].clone();
        second.field = "spec.template.spec.containers[sidecar].image".into();
        report.findings.push(second);
        let mut warned = report.findings[0].clone();
        warned.rule = "container-readiness-probe";
        warned.action = Action::Warn;
        report.findings.push(warned);
        let text = render(&report, FailOn::Deny, false);
        let (_, tail) = text
            .split_once("Findings per rule\n")
            .expect("a per-rule section");
        let mut lines = tail.lines();
        assert_eq!(lines.next(), Some("  image-tag-pinned           2 deny"));
        let why = registry::why("image-tag-pinned").expect("documented");
        assert_eq!(
            lines.next().map(str::trim),
            Some(format!("why: {why}").as_str())
        );
        assert_eq!(lines.next(), Some("  container-readiness-probe  1 warn"));
        assert_eq!(
            text.matches(why).count(),
            1,
            "the why is shown once per rule"
        );
        assert!(tail.contains("objects in"), "the totals come after it");
    }

    #[test]
    fn colour_only_when_asked() {
        assert!(render(&report(), FailOn::Deny, true).contains("\x1b[1;31mdeny"));
    }
}
