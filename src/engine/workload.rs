//! The one place that knows which kinds bulwark reads, how each decodes from JSON into its
//! k8s-openapi type, and which of them carry a pod template and where it sits.
//!
//! Rules and mutations never match on kinds to find a pod spec: they ask [`Object::pod`] or
//! [`Object::pod_mut`], and patch paths and finding fields come from [`Kind::pod_spec_path`].

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Pod, PodSpec, PodTemplateSpec, ReplicationController, Secret, Service,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Every kind bulwark decodes, matched on its full group/version/kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    ReplicationController,
    Job,
    CronJob,
    Secret,
    ConfigMap,
    Service,
    Ingress,
    NetworkPolicy,
    HorizontalPodAutoscaler,
    PodDisruptionBudget,
    Role,
    ClusterRole,
}

/// Where a kind keeps its pod spec: the JSON pointer used for patches and the dotted prefix used
/// in finding fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodSpecPath {
    pub pointer: &'static str,
    pub field: &'static str,
}

const POD_PATH: PodSpecPath = PodSpecPath {
    pointer: "/spec",
    field: "spec",
};
const TEMPLATE_PATH: PodSpecPath = PodSpecPath {
    pointer: "/spec/template/spec",
    field: "spec.template.spec",
};
const JOB_TEMPLATE_PATH: PodSpecPath = PodSpecPath {
    pointer: "/spec/jobTemplate/spec/template/spec",
    field: "spec.jobTemplate.spec.template.spec",
};

impl Kind {
    /// All kinds, in a fixed order (used by the catalog and by tests).
    pub const ALL: [Kind; 17] = [
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
        Kind::ReplicationController,
        Kind::Job,
        Kind::CronJob,
        Kind::Secret,
        Kind::ConfigMap,
        Kind::Service,
        Kind::Ingress,
        Kind::NetworkPolicy,
        Kind::HorizontalPodAutoscaler,
        Kind::PodDisruptionBudget,
        Kind::Role,
        Kind::ClusterRole,
    ];

    /// The kinds that carry a pod spec ("workloads").
    pub const WORKLOADS: [Kind; 8] = [
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
        Kind::ReplicationController,
        Kind::Job,
        Kind::CronJob,
    ];

    /// Looks a kind up by its exact group, version and kind; other versions are not this kind.
    pub fn from_gvk(group: &str, version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.group() == group && k.version() == version && k.name() == kind)
    }

    /// Looks a kind up by `apiVersion` (`apps/v1`, `v1`) and `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Option<Kind> {
        let (group, version) = split_api_version(api_version);
        Kind::from_gvk(group, version, kind)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::ReplicationController => "ReplicationController",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::Secret => "Secret",
            Kind::ConfigMap => "ConfigMap",
            Kind::Service => "Service",
            Kind::Ingress => "Ingress",
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            Kind::PodDisruptionBudget => "PodDisruptionBudget",
            Kind::Role => "Role",
            Kind::ClusterRole => "ClusterRole",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            Kind::Pod
            | Kind::ReplicationController
            | Kind::Secret
            | Kind::ConfigMap
            | Kind::Service => "",
            Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::ReplicaSet => "apps",
            Kind::Job | Kind::CronJob => "batch",
            Kind::Ingress | Kind::NetworkPolicy => "networking.k8s.io",
            Kind::HorizontalPodAutoscaler => "autoscaling",
            Kind::PodDisruptionBudget => "policy",
            Kind::Role | Kind::ClusterRole => "rbac.authorization.k8s.io",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Kind::HorizontalPodAutoscaler => "v2",
            _ => "v1",
        }
    }

    /// `group/version`, or just `version` for the core group.
    pub fn api_version(self) -> String {
        match self.group() {
            "" => self.version().to_string(),
            group => format!("{group}/{}", self.version()),
        }
    }

    /// The plural resource name, as webhook configurations and the API paths spell it.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Deployment => "deployments",
            Kind::StatefulSet => "statefulsets",
            Kind::DaemonSet => "daemonsets",
            Kind::ReplicaSet => "replicasets",
            Kind::ReplicationController => "replicationcontrollers",
            Kind::Job => "jobs",
            Kind::CronJob => "cronjobs",
            Kind::Secret => "secrets",
            Kind::ConfigMap => "configmaps",
            Kind::Service => "services",
            Kind::Ingress => "ingresses",
            Kind::NetworkPolicy => "networkpolicies",
            Kind::HorizontalPodAutoscaler => "horizontalpodautoscalers",
            Kind::PodDisruptionBudget => "poddisruptionbudgets",
            Kind::Role => "roles",
            Kind::ClusterRole => "clusterroles",
        }
    }

    /// Where this kind keeps its pod spec, if it has one.
    pub fn pod_spec_path(self) -> Option<PodSpecPath> {
        match self {
            Kind::Pod => Some(POD_PATH),
            Kind::Deployment
            | Kind::StatefulSet
            | Kind::DaemonSet
            | Kind::ReplicaSet
            | Kind::ReplicationController
            | Kind::Job => Some(TEMPLATE_PATH),
            Kind::CronJob => Some(JOB_TEMPLATE_PATH),
            _ => None,
        }
    }

    pub fn is_workload(self) -> bool {
        self.pod_spec_path().is_some()
    }

    /// Long-running workloads serve until replaced; Jobs and CronJobs run to completion.
    pub fn is_long_running(self) -> bool {
        self.is_workload() && !matches!(self, Kind::Job | Kind::CronJob)
    }

    pub fn is_cluster_scoped(self) -> bool {
        matches!(self, Kind::ClusterRole)
    }

    /// Whether the pod spec may still change in this operation. A Pod's spec and a Job's pod
    /// template are immutable once created, so mutations leave them alone on UPDATE.
    pub fn pod_spec_mutable(self, operation: super::Operation) -> bool {
        operation != super::Operation::Update || !matches!(self, Kind::Pod | Kind::Job)
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// A decoded object of one of the kinds bulwark reads.
// Objects are decoded once per review and passed by reference, so the size difference between
// variants costs nothing worth a Box per object.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Pod(Pod),
    Deployment(Deployment),
    StatefulSet(StatefulSet),
    DaemonSet(DaemonSet),
    ReplicaSet(ReplicaSet),
    ReplicationController(ReplicationController),
    Job(Job),
    CronJob(CronJob),
    Secret(Secret),
    ConfigMap(ConfigMap),
    Service(Service),
    Ingress(Ingress),
    NetworkPolicy(NetworkPolicy),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    PodDisruptionBudget(PodDisruptionBudget),
    Role(Role),
    ClusterRole(ClusterRole),
}

/// Applies `$body` to the inner typed object of every variant, binding it as `$o`.
macro_rules! each_object {
    ($value:expr, $o:ident => $body:expr) => {
        match $value {
            Object::Pod($o) => $body,
            Object::Deployment($o) => $body,
            Object::StatefulSet($o) => $body,
            Object::DaemonSet($o) => $body,
            Object::ReplicaSet($o) => $body,
            Object::ReplicationController($o) => $body,
            Object::Job($o) => $body,
            Object::CronJob($o) => $body,
            Object::Secret($o) => $body,
            Object::ConfigMap($o) => $body,
            Object::Service($o) => $body,
            Object::Ingress($o) => $body,
            Object::NetworkPolicy($o) => $body,
            Object::HorizontalPodAutoscaler($o) => $body,
            Object::PodDisruptionBudget($o) => $body,
            Object::Role($o) => $body,
            Object::ClusterRole($o) => $body,
        }
    };
}

/// A pod spec together with the template metadata that goes with it.
#[derive(Clone, Copy, Debug)]
pub struct PodView<'a> {
    pub spec: &'a PodSpec,
    /// The pod template's metadata (for a Pod: the Pod's own metadata).
    pub meta: Option<&'a ObjectMeta>,
    pub path: PodSpecPath,
}

impl Object {
    /// Decodes a JSON text as `kind`. Unknown fields are ignored (newer API versions add them);
    /// a field of the wrong type is an error.
    pub fn from_json_str(kind: Kind, json: &str) -> Result<Object, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        let object = Object::deserialize_kind(kind, &mut de)?;
        de.end()?;
        Ok(object)
    }

    /// Decodes an already-parsed JSON value as `kind`.
    pub fn from_value(kind: Kind, value: serde_json::Value) -> Result<Object, serde_json::Error> {
        Object::deserialize_kind(kind, value)
    }

    /// Deserializes `kind` from any serde deserializer (JSON text, a value, a path tracker).
    pub fn deserialize_kind<'de, D>(kind: Kind, de: D) -> Result<Object, D::Error>
    where
        D: serde::Deserializer<'de>,
    {
        use serde::Deserialize;
        Ok(match kind {
            Kind::Pod => Object::Pod(Deserialize::deserialize(de)?),
            Kind::Deployment => Object::Deployment(Deserialize::deserialize(de)?),
            Kind::StatefulSet => Object::StatefulSet(Deserialize::deserialize(de)?),
            Kind::DaemonSet => Object::DaemonSet(Deserialize::deserialize(de)?),
            Kind::ReplicaSet => Object::ReplicaSet(Deserialize::deserialize(de)?),
            Kind::ReplicationController => {
                Object::ReplicationController(Deserialize::deserialize(de)?)
            }
            Kind::Job => Object::Job(Deserialize::deserialize(de)?),
            Kind::CronJob => Object::CronJob(Deserialize::deserialize(de)?),
            Kind::Secret => Object::Secret(Deserialize::deserialize(de)?),
            Kind::ConfigMap => Object::ConfigMap(Deserialize::deserialize(de)?),
            Kind::Service => Object::Service(Deserialize::deserialize(de)?),
            Kind::Ingress => Object::Ingress(Deserialize::deserialize(de)?),
            Kind::NetworkPolicy => Object::NetworkPolicy(Deserialize::deserialize(de)?),
            Kind::HorizontalPodAutoscaler => {
                Object::HorizontalPodAutoscaler(Deserialize::deserialize(de)?)
            }
            Kind::PodDisruptionBudget => Object::PodDisruptionBudget(Deserialize::deserialize(de)?),
            Kind::Role => Object::Role(Deserialize::deserialize(de)?),
            Kind::ClusterRole => Object::ClusterRole(Deserialize::deserialize(de)?),
        })
    }

    /// The typed object as JSON, with `apiVersion` and `kind` set.
    pub fn to_value(&self) -> serde_json::Value {
        // Serializing a k8s-openapi object cannot fail: every field is plain data.
        each_object!(self, o => serde_json::to_value(o)).unwrap_or(serde_json::Value::Null)
    }

    pub fn kind(&self) -> Kind {
        match self {
            Object::Pod(_) => Kind::Pod,
            Object::Deployment(_) => Kind::Deployment,
            Object::StatefulSet(_) => Kind::StatefulSet,
            Object::DaemonSet(_) => Kind::DaemonSet,
            Object::ReplicaSet(_) => Kind::ReplicaSet,
            Object::ReplicationController(_) => Kind::ReplicationController,
            Object::Job(_) => Kind::Job,
            Object::CronJob(_) => Kind::CronJob,
            Object::Secret(_) => Kind::Secret,
            Object::ConfigMap(_) => Kind::ConfigMap,
            Object::Service(_) => Kind::Service,
            Object::Ingress(_) => Kind::Ingress,
            Object::NetworkPolicy(_) => Kind::NetworkPolicy,
            Object::HorizontalPodAutoscaler(_) => Kind::HorizontalPodAutoscaler,
            Object::PodDisruptionBudget(_) => Kind::PodDisruptionBudget,
            Object::Role(_) => Kind::Role,
            Object::ClusterRole(_) => Kind::ClusterRole,
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        each_object!(self, o => &o.metadata)
    }

    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        each_object!(self, o => &mut o.metadata)
    }

    /// `namespace/name` (or just the name), for messages and logs.
    pub fn display_name(&self) -> String {
        let meta = self.meta();
        let name = meta
            .name
            .as_deref()
            .or(meta.generate_name.as_deref())
            .unwrap_or("<unnamed>");
        match meta.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
            _ => name.to_string(),
        }
    }

    /// The pod template of this object, if its kind has one and it is set.
    fn template(&self) -> Option<&PodTemplateSpec> {
        match self {
            Object::Deployment(o) => o.spec.as_ref().map(|s| &s.template),
            Object::StatefulSet(o) => o.spec.as_ref().map(|s| &s.template),
            Object::DaemonSet(o) => o.spec.as_ref().map(|s| &s.template),
            Object::ReplicaSet(o) => o.spec.as_ref().and_then(|s| s.template.as_ref()),
            Object::ReplicationController(o) => o.spec.as_ref().and_then(|s| s.template.as_ref()),
            Object::Job(o) => o.spec.as_ref().map(|s| &s.template),
            Object::CronJob(o) => o.spec.job_template.spec.as_ref().map(|s| &s.template),
            _ => None,
        }
    }

    /// The pod spec and its metadata, for every workload kind that has one set.
    pub fn pod(&self) -> Option<PodView<'_>> {
        let path = self.kind().pod_spec_path()?;
        match self {
            Object::Pod(pod) => pod.spec.as_ref().map(|spec| PodView {
                spec,
                meta: Some(&pod.metadata),
                path,
            }),
            _ => {
                let template = self.template()?;
                let spec = template.spec.as_ref()?;
                Some(PodView {
                    spec,
                    meta: template.metadata.as_ref(),
                    path,
                })
            }
        }
    }

    /// The pod spec and template metadata for mutation; both are created when missing so a
    /// mutation can add to them. `None` for kinds without a pod template or whose template
    /// itself is absent (there is nothing sensible to default there).
    pub fn pod_mut(&mut self) -> Option<(&mut PodSpec, &mut ObjectMeta)> {
        let template: &mut PodTemplateSpec = match self {
            Object::Pod(pod) => {
                let spec = pod.spec.as_mut()?;
                return Some((spec, &mut pod.metadata));
            }
            Object::Deployment(o) => &mut o.spec.as_mut()?.template,
            Object::StatefulSet(o) => &mut o.spec.as_mut()?.template,
            Object::DaemonSet(o) => &mut o.spec.as_mut()?.template,
            Object::ReplicaSet(o) => o.spec.as_mut()?.template.as_mut()?,
            Object::ReplicationController(o) => o.spec.as_mut()?.template.as_mut()?,
            Object::Job(o) => &mut o.spec.as_mut()?.template,
            Object::CronJob(o) => &mut o.spec.job_template.spec.as_mut()?.template,
            _ => return None,
        };
        let spec = template.spec.as_mut()?;
        let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
        Some((spec, meta))
    }

    /// The replica count a controller asks for, with the API server's default of 1.
    /// `None` for kinds without a replica count.
    pub fn replicas(&self) -> Option<i32> {
        match self {
            Object::Deployment(o) => Some(o.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)),
            Object::StatefulSet(o) => Some(o.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)),
            Object::ReplicaSet(o) => Some(o.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)),
            Object::ReplicationController(o) => {
                Some(o.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))
            }
            _ => None,
        }
    }

    /// Whether a controller (a ReplicaSet, a Job, ...) owns this object; such Pods are judged
    /// through their owner's template.
    pub fn has_controller_owner(&self) -> bool {
        self.meta()
            .owner_references
            .as_ref()
            .is_some_and(|refs| refs.iter().any(|r| r.controller == Some(true)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(value: serde_json::Value) -> Object {
        let api_version = value["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind_name = value["kind"].as_str().unwrap_or_default().to_string();
        let kind = Kind::from_api_version(&api_version, &kind_name).expect("known kind");
        Object::from_value(kind, value).expect("decodes")
    }

    fn spec_with(name: &str) -> serde_json::Value {
        json!({"containers": [{"name": name, "image": "x:1"}]})
    }

    #[test]
    fn every_workload_kind_exposes_its_pod_spec_at_its_path() {
        let cases = [
            (
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec_with("a")}),
                "spec",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"selector": {}, "template": {"spec": spec_with("a")}}}),
                "spec.template.spec",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"}, "spec": {"selector": {}, "serviceName": "s", "template": {"spec": spec_with("a")}}}),
                "spec.template.spec",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"}, "spec": {"selector": {}, "template": {"spec": spec_with("a")}}}),
                "spec.template.spec",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"}, "spec": {"selector": {}, "template": {"spec": spec_with("a")}}}),
                "spec.template.spec",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "r"}, "spec": {"template": {"spec": spec_with("a")}}}),
                "spec.template.spec",
            ),
            (
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": spec_with("a")}}}),
                "spec.template.spec",
            ),
            (
                json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": spec_with("a")}}}}}),
                "spec.jobTemplate.spec.template.spec",
            ),
        ];
        for (value, field) in cases {
            let object = decode(value);
            let pod = object.pod().expect("pod spec");
            assert_eq!(pod.spec.containers[0].name, "a");
            assert_eq!(pod.path.field, field, "{:?}", object.kind());
        }
    }

    #[test]
    fn a_kind_matches_only_its_exact_group_and_version() {
        assert_eq!(
            Kind::from_gvk("apps", "v1", "Deployment"),
            Some(Kind::Deployment)
        );
        assert_eq!(Kind::from_gvk("extensions", "v1beta1", "Deployment"), None);
        assert_eq!(Kind::from_gvk("apps", "v1beta2", "Deployment"), None);
        assert_eq!(Kind::from_gvk("", "v1", "Widget"), None);
        assert_eq!(
            Kind::from_api_version("autoscaling/v2", "HorizontalPodAutoscaler"),
            Some(Kind::HorizontalPodAutoscaler)
        );
    }

    #[test]
    fn kinds_without_a_template_have_no_pod() {
        let cm =
            decode(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}));
        assert!(cm.pod().is_none());
        let empty = decode(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}),
        );
        assert!(empty.pod().is_none());
    }

    #[test]
    fn a_wrong_field_type_is_a_decode_error() {
        let err = Object::from_json_str(Kind::Deployment, r#"{"spec": {"replicas": "three"}}"#);
        assert!(err.is_err());
    }

    #[test]
    fn pod_mut_creates_missing_template_metadata() {
        let mut d = decode(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"selector": {}, "template": {"spec": spec_with("a")}}}),
        );
        let (_, meta) = d.pod_mut().expect("template");
        meta.labels
            .get_or_insert_default()
            .insert("k".into(), "v".into());
        assert_eq!(
            d.pod()
                .and_then(|p| p.meta)
                .and_then(|m| m.labels.as_ref())
                .map(|l| l.len()),
            Some(1)
        );
    }
}
