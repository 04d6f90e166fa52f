//! The JSON Patch of a mutation, built from the parts of the object that changed.
//!
//! Mutations write only the object's metadata and its pod template: the template's metadata
//! and its pod spec (see [`super::mutation::Mutation`]). So instead of serializing the whole
//! object twice and diffing the two trees, [`between`] compares the typed parts (cheap: no
//! allocation) and serializes and diffs only the ones that differ (a container's resources,
//! lifecycle or image pull policy, the pod's security context, the labels), each at its place
//! in the object; a part that changed elsewhere is diffed whole. The cost follows the change,
//! not the object: a Deployment with managedFields, a status and twenty containers of which
//! one got resource requests costs the diff of two small maps. `tests/suite/patch_regions.rs`
//! checks on the corpus and on generated objects that the patch has the effect of the
//! whole-object diff.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

use super::workload::{Kind, Object};

/// The JSON Patch from `before` to `after`, where `after` is `before` with mutations applied.
pub fn between(before: &Object, after: &Object) -> Patch {
    between_within(before, after, usize::MAX).unwrap_or_default()
}

/// [`between`], or `None` once the patch has more than `max_ops` operations: the containers
/// past that point are not diffed at all.
pub fn between_within(before: &Object, after: &Object, max_ops: usize) -> Option<Patch> {
    let mut ops = Vec::new();
    meta_ops(&mut ops, "/metadata", before.meta(), after.meta());
    match (before.pod(), after.pod()) {
        (None, None) => {}
        (Some(b), Some(a)) if b.path == a.path => {
            let pointer = b.path.pointer;
            if before.kind() != Kind::Pod {
                // `/spec/template/spec` → `/spec/template/metadata`.
                let template = pointer.strip_suffix("/spec").unwrap_or(pointer);
                let meta = format!("{template}/metadata");
                match (b.meta, a.meta) {
                    (Some(bm), Some(am)) => meta_ops(&mut ops, &meta, bm, am),
                    (bm, am) => field_ops(&mut ops, &meta, bm.map(to_value), am.map(to_value)),
                }
            }
            pod_spec_ops(&mut ops, pointer, b.spec, a.spec, max_ops);
        }
        // A pod spec that appeared or moved: not what a mutation does, but still exact.
        _ => ops = json_patch::diff(&before.to_value(), &after.to_value()).0,
    }
    (ops.len() <= max_ops).then_some(Patch(ops))
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The ops that turn the field at `path` from `before` into `after`, where `None` is absent.
fn field_ops(
    ops: &mut Vec<PatchOperation>,
    path: &str,
    before: Option<Value>,
    after: Option<Value>,
) {
    let pointer = || PointerBuf::parse(path).unwrap_or_default();
    match (before, after) {
        (None, None) => {}
        (None, Some(value)) => ops.push(PatchOperation::Add(AddOperation {
            path: pointer(),
            value,
        })),
        (Some(_), None) => ops.push(PatchOperation::Remove(RemoveOperation { path: pointer() })),
        (Some(b), Some(a)) => {
            for mut op in json_patch::diff(&b, &a).0 {
                let inner = op_path(&op).as_str().to_string();
                if let Ok(full) = PointerBuf::parse(format!("{path}{inner}")) {
                    *op_path_mut(&mut op) = full;
                    ops.push(op);
                }
            }
        }
    }
}

fn op_path(op: &PatchOperation) -> &PointerBuf {
    match op {
        PatchOperation::Add(o) => &o.path,
        PatchOperation::Remove(o) => &o.path,
        PatchOperation::Replace(o) => &o.path,
        PatchOperation::Move(o) => &o.path,
        PatchOperation::Copy(o) => &o.path,
        PatchOperation::Test(o) => &o.path,
    }
}

fn op_path_mut(op: &mut PatchOperation) -> &mut PointerBuf {
    match op {
        PatchOperation::Add(o) => &mut o.path,
        PatchOperation::Remove(o) => &mut o.path,
        PatchOperation::Replace(o) => &mut o.path,
        PatchOperation::Move(o) => &mut o.path,
        PatchOperation::Copy(o) => &mut o.path,
        PatchOperation::Test(o) => &mut o.path,
    }
}

/// An optional field's ops: `Option` fields serialize as absent when `None`.
fn option_ops<T: Serialize + PartialEq>(
    ops: &mut Vec<PatchOperation>,
    path: &str,
    before: &Option<T>,
    after: &Option<T>,
) {
    if before != after {
        field_ops(
            ops,
            path,
            before.as_ref().map(to_value),
            after.as_ref().map(to_value),
        );
    }
}

fn meta_ops(ops: &mut Vec<PatchOperation>, path: &str, before: &ObjectMeta, after: &ObjectMeta) {
    if before == after {
        return;
    }
    if !meta_equal_but_labels(before, after) {
        return field_ops(ops, path, Some(to_value(before)), Some(to_value(after)));
    }
    option_ops(
        ops,
        &format!("{path}/labels"),
        &before.labels,
        &after.labels,
    );
    option_ops(
        ops,
        &format!("{path}/annotations"),
        &before.annotations,
        &after.annotations,
    );
}

/// Whether two metadata are equal in everything but their labels and annotations. Every field
/// is named, so a field added to the type fails to compile here rather than go unpatched.
fn meta_equal_but_labels(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    let ObjectMeta {
        annotations: _,
        labels: _,
        creation_timestamp,
        deletion_grace_period_seconds,
        deletion_timestamp,
        finalizers,
        generate_name,
        generation,
        managed_fields,
        name,
        namespace,
        owner_references,
        resource_version,
        self_link,
        uid,
    } = a;
    *creation_timestamp == b.creation_timestamp
        && *deletion_grace_period_seconds == b.deletion_grace_period_seconds
        && *deletion_timestamp == b.deletion_timestamp
        && *finalizers == b.finalizers
        && *generate_name == b.generate_name
        && *generation == b.generation
        && *managed_fields == b.managed_fields
        && *name == b.name
        && *namespace == b.namespace
        && *owner_references == b.owner_references
        && *resource_version == b.resource_version
        && *self_link == b.self_link
        && *uid == b.uid
}

/// A list of containers' ops, container by container when it kept its length (mutations
/// change containers in place).
fn containers_ops(
    ops: &mut Vec<PatchOperation>,
    path: &str,
    before: &[Container],
    after: &[Container],
    max_ops: usize,
) {
    if before.len() != after.len() {
        return field_ops(ops, path, Some(to_value(&before)), Some(to_value(&after)));
    }
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        if ops.len() > max_ops {
            return;
        }
        if b != a {
            container_ops(ops, &format!("{path}/{i}"), b, a);
        }
    }
}

/// One container's ops: field by field where only what mutations write changed (its
/// resources, lifecycle and image pull policy), else the whole container's diff.
fn container_ops(ops: &mut Vec<PatchOperation>, path: &str, before: &Container, after: &Container) {
    if !container_equal_but_mutated(before, after) {
        return field_ops(ops, path, Some(to_value(before)), Some(to_value(after)));
    }
    option_ops(
        ops,
        &format!("{path}/imagePullPolicy"),
        &before.image_pull_policy,
        &after.image_pull_policy,
    );
    option_ops(
        ops,
        &format!("{path}/lifecycle"),
        &before.lifecycle,
        &after.lifecycle,
    );
    option_ops(
        ops,
        &format!("{path}/resources"),
        &before.resources,
        &after.resources,
    );
}

/// Whether two containers are equal in everything but what mutations write. Every field is
/// named, as in [`meta_equal_but_labels`].
fn container_equal_but_mutated(a: &Container, b: &Container) -> bool {
    let Container {
        image_pull_policy: _,
        lifecycle: _,
        resources: _,
        args,
        command,
        env,
        env_from,
        image,
        liveness_probe,
        name,
        ports,
        readiness_probe,
        resize_policy,
        restart_policy,
        restart_policy_rules,
        security_context,
        startup_probe,
        stdin,
        stdin_once,
        termination_message_path,
        termination_message_policy,
        tty,
        volume_devices,
        volume_mounts,
        working_dir,
    } = a;
    *args == b.args
        && *command == b.command
        && *env == b.env
        && *env_from == b.env_from
        && *image == b.image
        && *liveness_probe == b.liveness_probe
        && *name == b.name
        && *ports == b.ports
        && *readiness_probe == b.readiness_probe
        && *resize_policy == b.resize_policy
        && *restart_policy == b.restart_policy
        && *restart_policy_rules == b.restart_policy_rules
        && *security_context == b.security_context
        && *startup_probe == b.startup_probe
        && *stdin == b.stdin
        && *stdin_once == b.stdin_once
        && *termination_message_path == b.termination_message_path
        && *termination_message_policy == b.termination_message_policy
        && *tty == b.tty
        && *volume_devices == b.volume_devices
        && *volume_mounts == b.volume_mounts
        && *working_dir == b.working_dir
}

fn pod_spec_ops(
    ops: &mut Vec<PatchOperation>,
    path: &str,
    before: &PodSpec,
    after: &PodSpec,
    max_ops: usize,
) {
    if before == after {
        return;
    }
    if !pod_spec_equal_but_containers(before, after) {
        return field_ops(ops, path, Some(to_value(before)), Some(to_value(after)));
    }
    containers_ops(
        ops,
        &format!("{path}/containers"),
        &before.containers,
        &after.containers,
        max_ops,
    );
    match (&before.init_containers, &after.init_containers) {
        (Some(b), Some(a)) => containers_ops(ops, &format!("{path}/initContainers"), b, a, max_ops),
        (b, a) => option_ops(ops, &format!("{path}/initContainers"), b, a),
    }
    option_ops(
        ops,
        &format!("{path}/ephemeralContainers"),
        &before.ephemeral_containers,
        &after.ephemeral_containers,
    );
    option_ops(
        ops,
        &format!("{path}/securityContext"),
        &before.security_context,
        &after.security_context,
    );
    option_ops(
        ops,
        &format!("{path}/terminationGracePeriodSeconds"),
        &before.termination_grace_period_seconds,
        &after.termination_grace_period_seconds,
    );
}

/// Whether two pod specs are equal in everything but what mutations write: the containers,
/// the pod's security context and its termination grace period. Every field is named, as in
/// [`meta_equal_but_labels`].
fn pod_spec_equal_but_containers(a: &PodSpec, b: &PodSpec) -> bool {
    let PodSpec {
        containers: _,
        init_containers: _,
        ephemeral_containers: _,
        security_context: _,
        termination_grace_period_seconds: _,
        active_deadline_seconds,
        affinity,
        automount_service_account_token,
        dns_config,
        dns_policy,
        enable_service_links,
        host_aliases,
        host_ipc,
        host_network,
        host_pid,
        host_users,
        hostname,
        hostname_override,
        image_pull_secrets,
        node_name,
        node_selector,
        os,
        overhead,
        preemption_policy,
        priority,
        priority_class_name,
        readiness_gates,
        resource_claims,
        resources,
        restart_policy,
        runtime_class_name,
        scheduler_name,
        scheduling_gates,
        scheduling_group,
        service_account,
        service_account_name,
        set_hostname_as_fqdn,
        share_process_namespace,
        subdomain,
        tolerations,
        topology_spread_constraints,
        volumes,
    } = a;
    *active_deadline_seconds == b.active_deadline_seconds
        && *affinity == b.affinity
        && *automount_service_account_token == b.automount_service_account_token
        && *dns_config == b.dns_config
        && *dns_policy == b.dns_policy
        && *enable_service_links == b.enable_service_links
        && *host_aliases == b.host_aliases
        && *host_ipc == b.host_ipc
        && *host_network == b.host_network
        && *host_pid == b.host_pid
        && *host_users == b.host_users
        && *hostname == b.hostname
        && *hostname_override == b.hostname_override
        && *image_pull_secrets == b.image_pull_secrets
        && *node_name == b.node_name
        && *node_selector == b.node_selector
        && *os == b.os
        && *overhead == b.overhead
        && *preemption_policy == b.preemption_policy
        && *priority == b.priority
        && *priority_class_name == b.priority_class_name
        && *readiness_gates == b.readiness_gates
        && *resource_claims == b.resource_claims
        && *resources == b.resources
        && *restart_policy == b.restart_policy
        && *runtime_class_name == b.runtime_class_name
        && *scheduler_name == b.scheduler_name
        && *scheduling_gates == b.scheduling_gates
        && *scheduling_group == b.scheduling_group
        && *service_account == b.service_account
        && *service_account_name == b.service_account_name
        && *set_hostname_as_fqdn == b.set_hostname_as_fqdn
        && *share_process_namespace == b.share_process_namespace
        && *subdomain == b.subdomain
        && *tolerations == b.tolerations
        && *topology_spread_constraints == b.topology_spread_constraints
        && *volumes == b.volumes
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    const DEPLOYMENT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment",
        "metadata":{"name":"web","labels":{"app":"web"}},
        "spec":{"selector":{"matchLabels":{"app":"web"}},"template":{
          "metadata":{"labels":{"app":"web"}},
          "spec":{"containers":[
            {"name":"web","image":"nginx:1.27","ports":[{"containerPort":80}]},
            {"name":"side","image":"envoy:1","resources":{"requests":{"cpu":"10m"}}}]}}}}"#;

    /// Applies `between(before, after)` to `before` as JSON and expects `after`.
    fn assert_patches(edit: impl FnOnce(&mut PodSpec, &mut ObjectMeta)) {
        let before = Object::from_json_str(Kind::Deployment, DEPLOYMENT).expect("decodes");
        let mut after = before.clone();
        let Object::Deployment(d) = &mut after else {
            panic!("a Deployment")
        };
        let template = &mut d.spec.as_mut().expect("a spec").template;
        edit(
            template.spec.as_mut().expect("a pod spec"),
            template.metadata.as_mut().expect("template metadata"),
        );
        let patch = between(&before, &after);
        let mut patched = before.to_value();
        json_patch::patch(&mut patched, &patch).expect("applies");
        assert_eq!(patched, after.to_value(), "{patch:?}");
        assert!(!patch.0.is_empty());
    }

    #[test]
    fn fields_that_mutations_write_are_patched_field_by_field() {
        assert_patches(|spec, _| {
            spec.containers[0].image_pull_policy = Some("IfNotPresent".into());
            let resources = spec.containers[1].resources.get_or_insert_default();
            resources.limits = Some([("memory".into(), Quantity("64Mi".into()))].into());
        });
    }

    #[test]
    fn any_other_change_is_still_patched_exactly() {
        assert_patches(|spec, _| spec.containers[0].image = Some("nginx:1.28".into()));
        assert_patches(|spec, _| {
            spec.containers[1].args = Some(vec!["--x".into()]);
            spec.containers[1].image_pull_policy = Some("Always".into());
        });
        assert_patches(|spec, _| spec.containers.pop().map(drop).unwrap_or_default());
        assert_patches(|spec, _| spec.host_network = Some(true));
        assert_patches(|_, meta| meta.name = Some("renamed".into()));
        assert_patches(|_, meta| {
            meta.annotations = Some([("a".into(), "b".into())].into());
        });
    }
}
