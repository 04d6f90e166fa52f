//! What `bulwark audit` tells a person at a terminal while it works: a bar over the kinds as
//! they are listed (with the objects listed so far), a spinner while the objects are judged,
//! then one line per kind with the objects listed, judged and found at fault.
//!
//! Only on a terminal: when stderr is a pipe or a file (CI, a CronJob's log), with `NO_COLOR`
//! set, or with `--quiet`, nothing is drawn and nothing is printed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::Kind;
use crate::offline::report::Report;

/// Whether progress is shown: stderr is a terminal, `NO_COLOR` is unset (or empty, as
/// https://no-color.org says) and `--quiet` was not given.
pub fn wanted(quiet: bool) -> bool {
    !quiet
        && std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The progress of one audit; every method does nothing when progress is not shown.
pub struct Progress {
    bar: ProgressBar,
    shown: bool,
    listed: Vec<(Kind, usize)>,
}

impl Progress {
    pub fn new(shown: bool) -> Progress {
        let bar = if shown {
            let bar = ProgressBar::new(Kind::ALL.len() as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} listing {msg:<26} [{bar:20}] {pos}/{len} kinds, {prefix} objects",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix("0");
            bar
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            shown,
            listed: Vec::new(),
        }
    }

    /// Listing of `kind` starts.
    pub fn listing(&mut self, kind: Kind) {
        self.bar.set_message(kind.plural());
        self.listed.push((kind, 0));
    }

    /// A page of `count` objects of the kind being listed arrived.
    pub fn page(&mut self, count: usize) {
        if let Some((_, n)) = self.listed.last_mut() {
            *n += count;
        }
        let total: usize = self.listed.iter().map(|(_, n)| n).sum();
        self.bar.set_prefix(total.to_string());
    }

    /// The kind being listed is done.
    pub fn listed(&mut self) {
        self.bar.inc(1);
    }

    /// Judging starts: a spinner that turns on its own while the engine works.
    pub fn judging(&mut self) {
        let total: usize = self.listed.iter().map(|(_, n)| n).sum();
        self.bar.finish_and_clear();
        if !self.shown {
            return;
        }
        let spinner = ProgressBar::new_spinner();
        spinner.set_message(format!("judging {total} objects"));
        spinner.enable_steady_tick(Duration::from_millis(100));
        self.bar = spinner;
    }

    /// Judging is done: clears the spinner and prints the per-kind lines.
    pub fn done(&mut self, report: &Report) {
        self.bar.finish_and_clear();
        if self.shown {
            eprint!("{}", summary(&self.listed, report));
        }
    }
}

/// One line per kind that had objects: listed, judged (decoded), and how many findings.
pub fn summary(listed: &[(Kind, usize)], report: &Report) -> String {
    let mut judged: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &report.objects {
        *judged.entry(o.object.kind.as_str()).or_default() += 1;
    }
    let findings = report.tally(|f| f.object.kind.as_str());
    let total: usize = listed.iter().map(|(_, n)| n).sum();
    let mut out = format!(
        "listed {total} objects of {} kinds, judged {}\n",
        listed.len(),
        report.objects.len()
    );
    for (kind, count) in listed.iter().filter(|(_, n)| *n > 0) {
        let name = kind.name();
        let _ = writeln!(
            out,
            "  {:<26} {count:>6} listed {:>6} judged {:>6} findings",
            kind.plural(),
            judged.get(name).copied().unwrap_or(0),
            findings.get(name).map_or(0, |c| c.total()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::cluster::Listed;
    use crate::engine::Policy;
    use serde_json::json;

    #[test]
    fn the_summary_has_one_line_per_kind_listed_with_objects() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:latest"}]}}}});
        let broken = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad", "namespace": "shop"}, "spec": {"replicas": "x"}});
        let report = crate::audit::judge(
            &Policy::builtin(),
            vec![
                Listed {
                    kind: Kind::Deployment,
                    raw: deployment,
                },
                Listed {
                    kind: Kind::Deployment,
                    raw: broken,
                },
            ],
            Vec::new(),
            1_700_000_000,
        );
        let text = summary(
            &[(Kind::Pod, 0), (Kind::Deployment, 2), (Kind::Service, 0)],
            &report,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "listed 2 objects of 3 kinds, judged 1");
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[1].starts_with("  deployments "), "{text}");
        assert!(lines[1].contains("     2 listed      1 judged"), "{text}");
        let findings = report.findings.len();
        assert!(findings > 0);
        assert!(
            lines[1].ends_with(&format!("{findings:>6} findings")),
            "{text}"
        );
    }

    #[test]
    fn nothing_is_shown_when_asked_to_be_quiet() {
        assert!(!wanted(true));
        let mut p = Progress::new(false);
        p.listing(Kind::Pod);
        p.page(3);
        p.listed();
        p.judging();
        p.done(&Report::default());
        assert!(p.bar.is_hidden());
    }
}
