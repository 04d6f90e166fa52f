//! `no-host-path`: pods do not mount directories of the node.

use crate::engine::cel::{RuleCel, pod};
use crate::engine::rule::{
    Context, Finding, Findings, Rule, RuleClass, RuleSpec, Scope, Sees, Vap,
};
use crate::engine::workload::Object;

pub const ID: &str = "no-host-path";

pub static SPEC: RuleSpec = RuleSpec {
    id: ID,
    class: RuleClass::Security,
    scope: Scope::Workloads,
    sees: &[Sees::Admission],
    summary: "no hostPath volumes",
    why: "defense in depth: a hostPath volume exposes the node's filesystem and ties the pod to one node",
    fix: "use an emptyDir, a ConfigMap or Secret volume, or a PersistentVolumeClaim instead of hostPath",
    vap: Vap::Exports(""),
    build: |_| Ok(Box::new(NoHostPath)),
};

struct NoHostPath;

impl Rule for NoHostPath {
    fn cel(&self) -> Option<RuleCel> {
        Some(RuleCel::one(
            pod::spec()
                .opt("volumes")
                .or_empty()
                .all("v", |v| v.opt("hostPath").is_set().negate()),
            "a volume mounts a path of the node (hostPath)",
        ))
    }

    fn check(&self, object: &Object, _ctx: &Context, out: &mut Findings) {
        let Some(pod) = object.pod() else { return };
        for volume in pod.spec.volumes.iter().flatten() {
            if let Some(host_path) = &volume.host_path {
                out.push_with(|| Finding::new(
                    ID,
                    format!("{}.volumes[{}].hostPath", pod.path.field, volume.name),
                    format!("volume {} mounts the node's {}; use an emptyDir, a ConfigMap or a PersistentVolumeClaim instead", volume.name, host_path.path),
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

    #[test]
    fn flags_host_path_volumes() {
        let spec = json!({"volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}, {"name": "tmp", "emptyDir": {}}], "containers": [{"name": "web", "image": "w:1"}]});
        assert_eq!(
            fields(&run(ID, &mk_deployment(2, spec.clone()))),
            ["spec.template.spec.volumes[logs].hostPath"]
        );
        assert_eq!(run(ID, &mk_pod(spec)).len(), 1);
    }

    #[test]
    fn passes_other_volumes() {
        let spec = json!({"volumes": [{"name": "tmp", "emptyDir": {}}], "containers": [{"name": "web", "image": "w:1"}]});
        assert!(run(ID, &mk_pod(spec)).is_empty());
    }
}
