//! `add-prestop-hook`: a preStop pause on long-running containers that serve ports, and a
//! grace period long enough to cover it.

use k8s_openapi::api::core::v1::{ExecAction, LifecycleHandler, SleepAction};
use serde::Deserialize;

use crate::engine::mutation::{Change, Mutation, MutationSpec, params, pod_to_mutate};
use crate::engine::rule::Context;
use crate::engine::rules::termination_grace_covers_prestop::DEFAULT_GRACE_SECONDS;
use crate::engine::workload::Object;
use crate::engine::workload::{PodMut, runs_to_completion};

pub const ID: &str = "add-prestop-hook";

pub static SPEC: MutationSpec = MutationSpec {
    id: ID,
    summary: "lifecycle.preStop (sleep, or exec sleep N) on long-running app containers that expose ports; raises terminationGracePeriodSeconds to N + margin when lower",
    why: "endpoint removal and SIGTERM race; a short pause before SIGTERM lets traffic move away first, so rollouts cause no 502s",
    answers: "prestop-hook",
    build: |v| {
        let p: Params = params(v)?;
        if p.seconds <= 0 || p.margin_seconds < 0 {
            return Err("seconds must be positive and margin_seconds not negative".into());
        }
        Ok(Box::new(AddPrestopHook(p)))
    },
};

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Style {
    /// The `sleep` lifecycle action (Kubernetes 1.30+): no shell or binary needed in the image.
    Sleep,
    /// `exec: ["sleep", "N"]`, for older clusters; the image must have `sleep`.
    Exec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    seconds: i64,
    style: Style,
    margin_seconds: i64,
}

struct AddPrestopHook(Params);

impl AddPrestopHook {
    fn handler(&self) -> LifecycleHandler {
        match self.0.style {
            Style::Sleep => LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: self.0.seconds,
                }),
                ..Default::default()
            },
            Style::Exec => LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(vec!["sleep".into(), self.0.seconds.to_string()]),
                }),
                ..Default::default()
            },
        }
    }
}

impl Mutation for AddPrestopHook {
    fn apply(&self, object: &mut Object, ctx: &Context, changes: &mut Vec<Change>) {
        if !object.kind().is_long_running() {
            return;
        }
        let Some(PodMut { spec, path, .. }) = pod_to_mutate(object, ctx) else {
            return;
        };
        // A batch Pod (restartPolicy Never or OnFailure) has nothing to drain.
        if runs_to_completion(spec) {
            return;
        }
        let mut added = false;
        for c in &mut spec.containers {
            let serves = c.ports.as_ref().is_some_and(|p| !p.is_empty());
            let has_hook = c.lifecycle.as_ref().is_some_and(|l| l.pre_stop.is_some());
            if !serves || has_hook {
                continue;
            }
            c.lifecycle.get_or_insert_default().pre_stop = Some(self.handler());
            added = true;
            let how = match self.0.style {
                Style::Sleep => format!("sleep {{seconds: {}}}", self.0.seconds),
                Style::Exec => format!("exec [sleep, {}]", self.0.seconds),
            };
            changes.push(Change {
                mutation: ID,
                field: format!("{}.containers[{}].lifecycle.preStop", path.field, c.name),
                message: format!("container {}: add preStop {how}", c.name),
            });
        }
        let needed = self.0.seconds.saturating_add(self.0.margin_seconds);
        let grace = spec
            .termination_grace_period_seconds
            .unwrap_or(DEFAULT_GRACE_SECONDS);
        if added && grace < needed {
            spec.termination_grace_period_seconds = Some(needed);
            changes.push(Change {
                mutation: ID,
                field: format!("{}.terminationGracePeriodSeconds", path.field),
                message: format!("raise terminationGracePeriodSeconds from {grace} to {needed} to cover the preStop pause"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mutations::testing::*;
    use serde_json::json;

    fn serving() -> serde_json::Value {
        json!({"containers": [{"name": "web", "image": "w:1", "ports": [{"containerPort": 8080}]}, {"name": "worker", "image": "k:1"}]})
    }

    #[test]
    fn adds_a_sleep_hook_to_serving_containers_of_long_running_kinds() {
        for (input, pod, _) in workloads(serving()) {
            let kind = input["kind"].as_str().unwrap_or_default().to_string();
            let expected = if kind == "Job" || kind == "CronJob" {
                input.clone()
            } else {
                at(input.clone(), pod, |s| {
                    s["containers"][0]["lifecycle"] = json!({"preStop": {"sleep": {"seconds": 10}}})
                })
            };
            assert_mutates(ID, json!({}), input, expected);
        }
    }

    #[test]
    fn exec_style_and_a_grace_period_raised_only_when_too_short() {
        let mut spec = serving();
        spec["terminationGracePeriodSeconds"] = json!(12);
        for (input, pod, _) in workloads(spec).into_iter().take(4) {
            let expected = at(input.clone(), pod, |s| {
                s["containers"][0]["lifecycle"] =
                    json!({"preStop": {"exec": {"command": ["sleep", "20"]}}});
                s["terminationGracePeriodSeconds"] = json!(25);
            });
            assert_mutates(ID, json!({"style": "exec", "seconds": 20}), input, expected);
        }
        // The default grace period of 30 already covers 10 + 5: it stays unset.
        let (input, pod, _) = workloads(serving()).remove(1);
        let patched = assert_mutates(
            ID,
            json!({}),
            input.clone(),
            at(input, pod, |s| {
                s["containers"][0]["lifecycle"] = json!({"preStop": {"sleep": {"seconds": 10}}})
            }),
        );
        assert!(
            patched
                .pointer("/spec/template/spec/terminationGracePeriodSeconds")
                .is_none()
        );
    }

    #[test]
    fn leaves_a_batch_pod_alone() {
        for policy in ["Never", "OnFailure"] {
            let mut spec = serving();
            spec["restartPolicy"] = json!(policy);
            let (input, _, _) = workloads(spec).remove(0);
            assert_mutates(ID, json!({}), input.clone(), input);
        }
    }

    #[test]
    fn never_touches_an_existing_hook() {
        let spec = json!({"terminationGracePeriodSeconds": 5, "containers": [{"name": "web", "image": "w:1", "ports": [{"containerPort": 80}],
            "lifecycle": {"preStop": {"httpGet": {"path": "/drain", "port": 80}}, "postStart": {"exec": {"command": ["true"]}}}}]});
        for (input, _, _) in workloads(spec) {
            assert_mutates(ID, json!({}), input.clone(), input);
        }
        // postStart alone: the lifecycle gains preStop next to it.
        let spec = json!({"containers": [{"name": "web", "image": "w:1", "ports": [{"containerPort": 80}], "lifecycle": {"postStart": {"exec": {"command": ["true"]}}}}]});
        let (input, pod, _) = workloads(spec).remove(1);
        let expected = at(input.clone(), pod, |s| {
            s["containers"][0]["lifecycle"]["preStop"] = json!({"sleep": {"seconds": 10}})
        });
        assert_mutates(ID, json!({}), input, expected);
    }
}
