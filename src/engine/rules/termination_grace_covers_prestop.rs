//! `termination-grace-covers-prestop`: the grace period outlasts the preStop sleep.

use crate::engine::cel::{Cel, RuleCel, pod};
use k8s_openapi::api::core::v1::LifecycleHandler;
use serde::Deserialize;

use crate::engine::containers::{ContainerSet, containers};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "termination-grace-covers-prestop";

/// The grace period the API server defaults when none is set.
pub const DEFAULT_GRACE_SECONDS: i64 = 30;

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Practice,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "terminationGracePeriodSeconds (default 30) exceeds the preStop sleep by at least params.margin_seconds",
    why: "the grace period counts from the start of preStop; when the sleep uses it up, the app is killed before it can drain in-flight requests",
    fix: "raise terminationGracePeriodSeconds above the preStop sleep plus the time the app needs to drain, or shorten the sleep",
    vap: Vap::Exports(
        "the preStop sleep is read from the sleep action, `sleep N` and `sh -c \"sleep N ...\"` with N a plain decimal (`10`, `2.5`, `10s`); exponent, signed and dot-first numbers are not read",
    ),
    build: |v| {
        Ok(Box::new(TerminationGraceCoversPrestop(
            serde_json::from_value(v)?,
        )))
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    margin_seconds: i64,
}

struct TerminationGraceCoversPrestop(Params);

/// How long a preStop handler sleeps: the `sleep` action, or an exec of `sleep N`
/// (directly or through `sh -c "sleep N ..."`).
pub fn prestop_sleep_seconds(handler: &LifecycleHandler) -> Option<i64> {
    if let Some(sleep) = &handler.sleep {
        return Some(sleep.seconds);
    }
    let command = handler.exec.as_ref()?.command.as_ref()?;
    let is_sleep = |s: &str| s == "sleep" || s.ends_with("/sleep");
    match command.as_slice() {
        [bin, n, ..] if is_sleep(bin) => parse_seconds(n),
        [shell, flag, script, ..] if shell.ends_with("sh") && flag == "-c" => {
            let mut words = script.split_whitespace();
            match (words.next(), words.next()) {
                (Some(bin), Some(n)) if is_sleep(bin) => {
                    parse_seconds(n.trim_end_matches([';', '&']))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn parse_seconds(s: &str) -> Option<i64> {
    let s = s.strip_suffix('s').unwrap_or(s);
    s.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n.ceil() as i64)
}

impl Rule for TerminationGraceCoversPrestop {
    fn cel(&self) -> Option<RuleCel> {
        let grace = pod::spec()
            .opt("terminationGracePeriodSeconds")
            .or_value(Cel::int(DEFAULT_GRACE_SECONDS));
        let margin = self.0.margin_seconds;
        let is_sleep = |s: Cel| {
            s.clone()
                .eq(Cel::str("sleep"))
                .or(s.call("endsWith", [Cel::str("/sleep")]))
        };
        // Seconds, rounded up, from a plain decimal with an optional `s` (and, in a shell
        // script, trailing `;` or `&`); -1 when it is not one.
        let seconds = |token: Cel, trailing: &str| {
            let number = token
                .clone()
                .call("find", [Cel::str(r"^[0-9]{1,15}(\.[0-9]{1,15})?")]);
            let d = Cel::function("double", [number]);
            let whole = Cel::function("int", [d.clone()]);
            let ceil = whole.clone().plus(Cel::cond(
                Cel::function("double", [whole]).lt(d),
                Cel::int(1),
                Cel::int(0),
            ));
            Cel::cond(
                token.call(
                    "matches",
                    [Cel::str(&format!(
                        r"^[0-9]{{1,15}}(\.[0-9]{{1,15}})?s?{trailing}$"
                    ))],
                ),
                ceil,
                Cel::int(-1),
            )
        };
        let covered = |c: Cel| {
            let hook = c.opt("lifecycle").opt("preStop");
            let command = hook.opt("exec").opt("command").or_empty();
            let words = command
                .clone()
                .index(Cel::int(2))
                .call("findAll", [Cel::str(r"\S+")]);
            let from_exec = Cel::cond(
                command
                    .clone()
                    .size()
                    .ge(Cel::int(2))
                    .and(is_sleep(command.clone().index(Cel::int(0)))),
                seconds(command.clone().index(Cel::int(1)), ""),
                Cel::cond(
                    Cel::every([
                        command.clone().size().ge(Cel::int(3)),
                        command
                            .clone()
                            .index(Cel::int(0))
                            .call("endsWith", [Cel::str("sh")]),
                        command.clone().index(Cel::int(1)).eq(Cel::str("-c")),
                        words.clone().size().ge(Cel::int(2)),
                        is_sleep(words.clone().index(Cel::int(0))),
                    ]),
                    seconds(words.index(Cel::int(1)), "[;&]*"),
                    Cel::int(-1),
                ),
            );
            let sleep = hook.opt("sleep").opt("seconds");
            Cel::cond(
                sleep.is_set(),
                grace.clone().minus(sleep.value()).ge(Cel::int(margin)),
                Cel::cond(
                    from_exec.clone().lt(Cel::int(0)),
                    Cel::bool(true),
                    grace.clone().minus(from_exec).ge(Cel::int(margin)),
                ),
            )
        };
        Some(RuleCel::one(
            pod::runs_to_completion().or(pod::containers(ContainerSet::App).all("c", covered)),
            format!(
                "terminationGracePeriodSeconds does not exceed a container's preStop sleep by {margin}s"
            ),
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        // A batch pod stops by itself: nothing to probe or drain.
        if pod.runs_to_completion() {
            return;
        }
        let grace = pod
            .spec
            .termination_grace_period_seconds
            .unwrap_or(DEFAULT_GRACE_SECONDS);
        let margin = self.0.margin_seconds;
        for c in containers(&pod, ContainerSet::App) {
            let Some(sleep) = c
                .lifecycle()
                .and_then(|l| l.pre_stop.as_ref())
                .and_then(prestop_sleep_seconds)
            else {
                continue;
            };
            // Saturating: a grace period or sleep near the limits of i64 must not wrap around
            // into a pass.
            if grace.saturating_sub(sleep) < margin {
                let set = if pod.spec.termination_grace_period_seconds.is_some() {
                    ""
                } else {
                    " (the default)"
                };
                out.push_with(|| Finding::new(
                    ID,
                    format!("{}.terminationGracePeriodSeconds", pod.path.field),
                    format!("the preStop hook of {} sleeps {sleep}s but terminationGracePeriodSeconds is {grace}{set}; raise it to at least {}", c.describe(), sleep.saturating_add(margin)),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::*;
    use serde_json::json;

    fn with(grace: Option<i64>, pre_stop: serde_json::Value) -> serde_json::Value {
        let mut spec = one(json!({"lifecycle": {"preStop": pre_stop}}));
        if let Some(g) = grace {
            spec["terminationGracePeriodSeconds"] = json!(g);
        }
        spec
    }

    #[test]
    fn flags_a_grace_period_the_sleep_uses_up() {
        let cases = [
            with(None, json!({"sleep": {"seconds": 30}})),
            with(Some(12), json!({"exec": {"command": ["sleep", "10"]}})),
            with(
                Some(20),
                json!({"exec": {"command": ["/bin/sh", "-c", "sleep 20; nginx -s quit"]}}),
            ),
        ];
        for spec in cases {
            assert_eq!(
                fields(&run(ID, &mk_deployment(3, spec.clone()))),
                ["spec.template.spec.terminationGracePeriodSeconds"],
                "{spec}"
            );
            assert_eq!(run(ID, &mk_pod(spec)).len(), 1);
        }
    }

    #[test]
    fn passes_enough_grace_and_non_sleep_hooks() {
        assert!(
            run(
                ID,
                &mk_deployment(3, with(None, json!({"sleep": {"seconds": 10}})))
            )
            .is_empty()
        );
        assert!(
            run(
                ID,
                &mk_deployment(
                    3,
                    with(Some(60), json!({"exec": {"command": ["sleep", "50"]}}))
                )
            )
            .is_empty()
        );
        assert!(
            run(
                ID,
                &mk_deployment(
                    3,
                    with(Some(1), json!({"httpGet": {"path": "/drain", "port": 80}}))
                )
            )
            .is_empty()
        );
    }

    #[test]
    fn extreme_values_never_wrap_into_a_pass() {
        let spec = with(Some(i64::MIN), json!({"sleep": {"seconds": 1}}));
        assert_eq!(run(ID, &mk_deployment(3, spec)).len(), 1);
        let spec = with(Some(30), json!({"sleep": {"seconds": i64::MAX}}));
        let found = run(ID, &mk_deployment(3, spec));
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains(&i64::MAX.to_string()));
    }

    #[test]
    fn ignores_pods_that_run_to_completion() {
        let mut spec = with(Some(5), json!({"sleep": {"seconds": 30}}));
        assert_eq!(run(ID, &mk_pod(spec.clone())).len(), 1);
        spec["restartPolicy"] = json!("OnFailure");
        assert!(run(ID, &mk_pod(spec)).is_empty());
    }
}
