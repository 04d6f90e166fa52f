//! The report as JUnit XML for CI test views: one test suite per file, one test case per
//! object. A case fails when the object has findings at or above `--fail-on` (all of them in
//! one `<failure>`); weaker findings go to its `<system-out>`. A document that could not be
//! read is a case with an `<error>`.

use std::fmt::Write as _;

use super::{FailOn, FindingEntry, Report};

/// Escapes text for XML content and attributes, dropping characters XML 1.0 cannot hold.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

fn line_of(f: &FindingEntry) -> String {
    format!("[{}] {}: {} (at {})", f.action, f.rule, f.message, f.field)
}

struct Case {
    name: String,
    line: Option<usize>,
    failing: Vec<String>,
    passing: Vec<String>,
    error: Option<String>,
    /// Said on the case's stderr: why findings were withheld.
    note: Option<String>,
}

/// Renders `report`; findings at or above `fail_on` fail their case.
pub fn render(report: &Report, fail_on: FailOn) -> String {
    let mut suites: Vec<(String, Vec<Case>)> = Vec::new();
    fn suite(suites: &mut Vec<(String, Vec<Case>)>, file: &str) -> usize {
        match suites.iter().position(|(f, _)| f == file) {
            Some(i) => i,
            None => {
                suites.push((file.to_string(), Vec::new()));
                suites.len() - 1
            }
        }
    }
    let mut findings = report.findings.iter().peekable();
    for object in &report.objects {
        let mut case = Case {
            note: None,
            name: object.object.describe(),
            line: object.line,
            failing: Vec::new(),
            passing: Vec::new(),
            error: None,
        };
        while let Some(f) = findings.peek() {
            if f.object != object.object || f.file != object.file || f.line != object.line {
                break;
            }
            if fail_on.fails(f.action) {
                case.failing.push(line_of(f));
            } else {
                case.passing.push(line_of(f));
            }
            findings.next();
        }
        let i = suite(&mut suites, object.file.as_deref().unwrap_or("-"));
        suites[i].1.push(case);
    }
    // The note about withheld findings goes with the first input error that caused it.
    let mut note = report.withheld_note();
    for error in &report.errors {
        let i = suite(&mut suites, &error.file);
        suites[i].1.push(Case {
            note: note.take(),
            name: match error.line {
                Some(line) => format!("document at line {line}"),
                None => "file".to_string(),
            },
            line: error.line,
            failing: Vec::new(),
            passing: Vec::new(),
            error: Some(error.message.clone()),
        });
    }

    let count = |cases: &[Case], f: fn(&Case) -> bool| cases.iter().filter(|c| f(c)).count();
    let all: Vec<&Case> = suites.iter().flat_map(|(_, c)| c).collect();
    let failures = all.iter().filter(|c| !c.failing.is_empty()).count();
    let errors = all.iter().filter(|c| c.error.is_some()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"bulwark check\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
        all.len()
    );
    for (file, cases) in &suites {
        let file = escape(if file == "-" { "stdin" } else { file });
        let _ = writeln!(
            out,
            "  <testsuite name=\"{file}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\">",
            cases.len(),
            count(cases, |c| !c.failing.is_empty()),
            count(cases, |c| c.error.is_some()),
        );
        for case in cases {
            let line = case
                .line
                .map(|l| format!(" line=\"{l}\""))
                .unwrap_or_default();
            let _ = write!(
                out,
                "    <testcase classname=\"{file}\" name=\"{}\" file=\"{file}\"{line}",
                escape(&case.name)
            );
            if case.failing.is_empty() && case.passing.is_empty() && case.error.is_none() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            if !case.failing.is_empty() {
                let _ = writeln!(
                    out,
                    "      <failure type=\"{}\" message=\"{} finding(s) at or above {}\">{}</failure>",
                    fail_on.as_str(),
                    case.failing.len(),
                    fail_on.as_str(),
                    escape(&case.failing.join("\n"))
                );
            }
            if let Some(error) = &case.error {
                let _ = writeln!(
                    out,
                    "      <error type=\"input\" message=\"{}\"/>",
                    escape(error)
                );
            }
            if !case.passing.is_empty() {
                let _ = writeln!(
                    out,
                    "      <system-out>{}</system-out>",
                    escape(&case.passing.join("\n"))
                );
            }
            if let Some(note) = &case.note {
                let _ = writeln!(out, "      <system-err>{}</system-err>", escape(note));
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
