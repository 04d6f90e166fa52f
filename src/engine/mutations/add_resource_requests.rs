//! `add-resource-requests`: CPU and memory requests where a container has neither a request
//! nor a limit for them; optionally a memory limit.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::Deserialize;

use crate::engine::mutation::{Change, Mutation, MutationSpec, params, pod_to_mutate};
use crate::engine::workload::PodMut;
use crate::engine::{Context, Object, quantity};

pub const ID: &str = "add-resource-requests";

pub static SPEC: MutationSpec = MutationSpec {
    id: ID,
    summary: "resources.requests.cpu/.memory where missing, per container and init container; optionally limits.memory",
    why: "the scheduler places pods by their requests; a pod without them can be packed onto a node that runs out of memory",
    answers: "container-resources-requests",
    build: |v| {
        let p: Params = params(v)?;
        quantity::parse(&p.cpu).ok_or_else(|| format!("cpu `{}` is not a quantity", p.cpu))?;
        let memory = quantity::parse(&p.memory)
            .ok_or_else(|| format!("memory `{}` is not a quantity", p.memory))?;
        let memory_limit = match p.memory_limit.as_str() {
            "none" => None,
            limit => {
                let value = quantity::parse(limit).ok_or_else(|| {
                    format!("memory_limit `{limit}` is neither `none` nor a quantity")
                })?;
                if value < memory {
                    return Err(format!(
                        "memory_limit `{limit}` is below the memory request `{}`",
                        p.memory
                    ));
                }
                Some((limit.to_string(), value))
            }
        };
        Ok(Box::new(AddResourceRequests {
            cpu: p.cpu,
            memory: p.memory,
            memory_limit,
        }))
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    cpu: String,
    memory: String,
    /// `none`, or a quantity to add as `limits.memory` where there is none.
    memory_limit: String,
}

struct AddResourceRequests {
    cpu: String,
    memory: String,
    memory_limit: Option<(String, f64)>,
}

fn has(map: Option<&BTreeMap<String, Quantity>>, name: &str) -> bool {
    map.is_some_and(|m| m.contains_key(name))
}

impl AddResourceRequests {
    fn fill(&self, c: &mut Container, path: String, changes: &mut Vec<Change>) {
        let resources = c.resources.as_ref();
        let requests = resources.and_then(|r| r.requests.as_ref());
        let limits = resources.and_then(|r| r.limits.as_ref());
        // A limit without a request already means request = limit; adding a smaller default
        // request would change what the user asked for.
        let mut add_requests: Vec<(&str, &str)> = Vec::new();
        for (name, default) in [("cpu", self.cpu.as_str()), ("memory", self.memory.as_str())] {
            if !has(requests, name) && !has(limits, name) {
                add_requests.push((name, default));
            }
        }
        let add_limit = self
            .memory_limit
            .as_ref()
            .filter(|_| !has(limits, "memory"))
            .map(|(limit, value)| {
                // Never set a limit below the container's own request.
                match requests.and_then(|r| r.get("memory")) {
                    Some(request) if quantity::parse(&request.0).is_some_and(|r| r > *value) => {
                        request.0.clone()
                    }
                    _ => limit.clone(),
                }
            });
        if add_requests.is_empty() && add_limit.is_none() {
            return;
        }
        let resources: &mut ResourceRequirements = c.resources.get_or_insert_default();
        let mut added = Vec::new();
        for (name, value) in add_requests {
            resources
                .requests
                .get_or_insert_default()
                .insert(name.to_string(), Quantity(value.to_string()));
            added.push(format!("requests.{name} {value}"));
        }
        if let Some(limit) = add_limit {
            added.push(format!("limits.memory {limit}"));
            resources
                .limits
                .get_or_insert_default()
                .insert("memory".to_string(), Quantity(limit));
        }
        changes.push(Change {
            mutation: ID,
            field: format!("{path}.resources"),
            message: format!("container {}: add {}", c.name, added.join(", ")),
        });
    }
}

impl Mutation for AddResourceRequests {
    fn apply(&self, object: &mut Object, ctx: &Context, changes: &mut Vec<Change>) {
        let Some(PodMut { spec, path, .. }) = pod_to_mutate(object, ctx) else {
            return;
        };
        for c in &mut spec.containers {
            let path = format!("{}.containers[{}]", path.field, c.name);
            self.fill(c, path, changes);
        }
        for c in spec.init_containers.iter_mut().flatten() {
            let path = format!("{}.initContainers[{}]", path.field, c.name);
            self.fill(c, path, changes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mutations::testing::*;
    use serde_json::json;

    #[test]
    fn adds_missing_requests_on_every_workload_kind_and_creates_parents() {
        let spec = json!({"initContainers": [{"name": "init", "image": "i:1"}], "containers": [{"name": "web", "image": "w:1"}]});
        for (input, pod, _) in workloads(spec) {
            let expected = at(input.clone(), pod, |s| {
                s["initContainers"][0]["resources"] =
                    json!({"requests": {"cpu": "100m", "memory": "128Mi"}});
                s["containers"][0]["resources"] =
                    json!({"requests": {"cpu": "100m", "memory": "128Mi"}});
            });
            assert_mutates(ID, json!({}), input, expected);
        }
    }

    #[test]
    fn never_overrides_requests_or_limits_the_user_set() {
        let spec = json!({"containers": [
            {"name": "a", "image": "a:1", "resources": {"requests": {"cpu": "2"}}},
            {"name": "b", "image": "b:1", "resources": {"limits": {"cpu": "50m", "memory": "64Mi"}}},
            {"name": "c", "image": "c:1", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}
        ]});
        for (input, pod, _) in workloads(spec) {
            let expected = at(input.clone(), pod, |s| {
                s["containers"][0]["resources"]["requests"]["memory"] = json!("128Mi");
            });
            assert_mutates(ID, json!({}), input, expected);
        }
    }

    #[test]
    fn adds_a_memory_limit_when_asked_never_below_the_request() {
        let spec = json!({"containers": [
            {"name": "a", "image": "a:1"},
            {"name": "b", "image": "b:1", "resources": {"requests": {"memory": "2Gi"}}}
        ]});
        let (input, pod, _) = workloads(spec).remove(1);
        let expected = at(input.clone(), pod, |s| {
            s["containers"][0]["resources"] = json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}});
            s["containers"][1]["resources"] =
                json!({"requests": {"cpu": "100m", "memory": "2Gi"}, "limits": {"memory": "2Gi"}});
        });
        assert_mutates(ID, json!({"memory_limit": "512Mi"}), input, expected);
    }

    #[test]
    fn leaves_a_pod_spec_alone_on_update() {
        let (input, _, _) =
            workloads(json!({"containers": [{"name": "web", "image": "w:1"}]})).remove(0);
        assert_mutates_in(
            ID,
            json!({}),
            input.clone(),
            input,
            crate::engine::Operation::Update,
        );
    }

    #[test]
    fn rejects_params_that_are_not_quantities() {
        assert!(
            (SPEC.build)(json!({"cpu": "lots", "memory": "1Gi", "memory_limit": "none"})).is_err()
        );
        assert!(
            (SPEC.build)(json!({"cpu": "1", "memory": "1Gi", "memory_limit": "512Mi"})).is_err()
        );
    }
}
