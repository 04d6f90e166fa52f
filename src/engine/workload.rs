//! The one place that knows which kinds bulwark reads, how each decodes from JSON into its
//! k8s-openapi type, and which of them carry a pod template and where it sits.
//!
//! Rules and mutations never match on kinds to find a pod spec: they ask [`Object::pod`] or
//! [`Object::pod_mut`], and patch paths and finding fields come from [`Kind::pod_spec_path`].

use std::collections::BTreeMap;

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

use super::decode::DecodeError;

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

    /// The kinds whose controllers create objects of this kind from a template that bulwark
    /// judged when the owner itself was admitted.
    pub fn generated_by(self) -> &'static [Kind] {
        match self {
            Kind::Pod => &[
                Kind::ReplicaSet,
                Kind::ReplicationController,
                Kind::StatefulSet,
                Kind::DaemonSet,
                Kind::Job,
            ],
            Kind::ReplicaSet => &[Kind::Deployment],
            Kind::Job => &[Kind::CronJob],
            _ => &[],
        }
    }

    /// Whether the pod spec is fixed once the object is created: a Pod's spec and a Job's pod
    /// template are immutable, so mutations leave them alone on UPDATE.
    pub fn pod_spec_fixed_after_create(self) -> bool {
        matches!(self, Kind::Pod | Kind::Job)
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// Decodes the whole of a JSON text with `decode`: text after the value is an error.
fn read_whole_text<'j>(
    json: &'j str,
    decode: impl FnOnce(
        &mut serde_json::Deserializer<serde_json::de::StrRead<'j>>,
    ) -> Result<Object, serde_json::Error>,
) -> Result<Object, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    let object = decode(&mut de)?;
    de.end()?;
    Ok(object)
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

/// Whether the pods of `spec` run to completion: `restartPolicy` `Never` or `OnFailure`.
pub fn runs_to_completion(spec: &PodSpec) -> bool {
    matches!(spec.restart_policy.as_deref(), Some("Never" | "OnFailure"))
}

// === impl PodView ===

impl PodView<'_> {
    /// Whether its containers run to completion instead of serving until replaced: a
    /// `restartPolicy` of `Never` or `OnFailure` (every Job and CronJob template, and batch
    /// Pods). Probes and shutdown hooks of serving containers mean nothing there.
    pub fn runs_to_completion(&self) -> bool {
        runs_to_completion(self.spec)
    }

    /// The labels its pods carry (the template's; a Pod's own).
    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.meta.and_then(|m| m.labels.as_ref())
    }
}

/// A pod spec and its template metadata, open for mutation.
#[derive(Debug)]
pub struct PodMut<'a> {
    pub spec: &'a mut PodSpec,
    pub meta: &'a mut ObjectMeta,
    pub path: PodSpecPath,
}

impl Object {
    /// Decodes a JSON text as `kind`. Unknown fields are ignored (newer API versions add them);
    /// a field of the wrong type is an error.
    pub fn from_json_str(kind: Kind, json: &str) -> Result<Object, serde_json::Error> {
        read_whole_text(json, |de| Object::deserialize_kind(kind, de))
    }

    /// [`Object::from_json_str`] with `metadata.managedFields` left unread (see
    /// [`super::unread`]).
    pub fn from_json_str_unread(kind: Kind, json: &str) -> Result<Object, serde_json::Error> {
        read_whole_text(json, |de| {
            Object::deserialize_kind(kind, super::unread::Unread::managed_fields(de))
        })
    }

    /// Decodes JSON text as `kind`; when it does not decode, says where and why without any of
    /// its values (see [`super::decode`]).
    pub fn decode_json(kind: Kind, json: &str) -> Result<Object, DecodeError> {
        Object::from_json_str(kind, json).map_err(|_| super::decode::explain_json(kind, json))
    }

    /// Decodes JSON text as `kind` as the webhook reads it: as [`Object::decode_json`] does,
    /// but with `metadata.managedFields` left unread (`None`; see [`super::unread`]). Only for
    /// judging and patching: an object decoded so is not the whole object.
    pub fn decode_json_unread(kind: Kind, json: &str) -> Result<Object, DecodeError> {
        Object::from_json_str_unread(kind, json)
            .map_err(|_| super::decode::explain_json_unread(kind, json))
    }

    /// Decodes a parsed JSON value as `kind`, or says where and why not, as
    /// [`Object::decode_json`] does.
    pub fn decode_value(kind: Kind, value: &serde_json::Value) -> Result<Object, DecodeError> {
        Object::deserialize_kind(kind, value).map_err(|_| super::decode::explain_value(kind, value))
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

    /// The pod spec open for mutation, with its metadata and where it sits; `None` for kinds
    /// without one.
    pub fn pod_for_mutation(&mut self) -> Option<PodMut<'_>> {
        let path = self.kind().pod_spec_path()?;
        let (spec, meta) = self.pod_mut()?;
        Some(PodMut { spec, meta, path })
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

    /// The judged kind whose controller generated this object from its template, read from the
    /// object's controller ownerReference (a ReplicaSet owned by a Deployment, a Pod owned by a
    /// ReplicaSet, ...). Whoever creates an object writes its ownerReferences, so this proves
    /// nothing about who made it: it may only decide which practice rules and mutations are
    /// left to the owner, never a security decision.
    pub fn generator(&self) -> Option<Kind> {
        let generators = self.kind().generated_by();
        if generators.is_empty() {
            return None;
        }
        let owner = self
            .meta()
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true))?;
        Kind::from_api_version(&owner.api_version, &owner.kind).filter(|k| generators.contains(k))
    }
}

// === other apiVersions ===

/// An apiVersion of a kind that bulwark does not decode as written: a version the API server
/// no longer serves, or an older one it still serves and converts before any webhook sees it.
/// Offline, such a manifest is upgraded to the current version (where the shape allows) so the
/// rules can still read it, and `deprecated-api-version` reports the removed ones.
#[derive(Debug, PartialEq, Eq)]
pub struct OtherVersion {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// The apiVersion to write instead; `None` when the kind itself is gone.
    pub replacement: Option<&'static str>,
    /// The Kubernetes release that stopped serving it; `None` while it is still served.
    pub removed_in: Option<&'static str>,
    /// The kind bulwark reads it as after [`upgrade`], if bulwark reads that kind at all.
    pub reads_as: Option<Kind>,
}

/// `(apiVersions, kinds, replacement, removed in, read as)`, one row per group of versions.
type VersionRow = (
    &'static [&'static str],
    &'static [(&'static str, Option<Kind>)],
    Option<&'static str>,
    Option<&'static str>,
);

const APPS: &[(&str, Option<Kind>)] = &[
    ("Deployment", Some(Kind::Deployment)),
    ("StatefulSet", Some(Kind::StatefulSet)),
    ("DaemonSet", Some(Kind::DaemonSet)),
    ("ReplicaSet", Some(Kind::ReplicaSet)),
    ("ControllerRevision", None),
];

/// From the Kubernetes deprecated API migration guide, plus `autoscaling/v1`, which is still
/// served but read here as `autoscaling/v2`.
static VERSION_ROWS: &[VersionRow] = &[
    (
        &["extensions/v1beta1"],
        &[
            ("Deployment", Some(Kind::Deployment)),
            ("DaemonSet", Some(Kind::DaemonSet)),
            ("ReplicaSet", Some(Kind::ReplicaSet)),
        ],
        Some("apps/v1"),
        Some("1.16"),
    ),
    (
        &["extensions/v1beta1"],
        &[("NetworkPolicy", Some(Kind::NetworkPolicy))],
        Some("networking.k8s.io/v1"),
        Some("1.16"),
    ),
    (
        &["extensions/v1beta1", "networking.k8s.io/v1beta1"],
        &[("Ingress", Some(Kind::Ingress))],
        Some("networking.k8s.io/v1"),
        Some("1.22"),
    ),
    (
        &["extensions/v1beta1", "policy/v1beta1"],
        &[("PodSecurityPolicy", None)],
        None,
        Some("1.25"),
    ),
    (
        &["apps/v1beta1", "apps/v1beta2"],
        APPS,
        Some("apps/v1"),
        Some("1.16"),
    ),
    (
        &["networking.k8s.io/v1beta1"],
        &[("IngressClass", None)],
        Some("networking.k8s.io/v1"),
        Some("1.22"),
    ),
    (
        &[
            "rbac.authorization.k8s.io/v1beta1",
            "rbac.authorization.k8s.io/v1alpha1",
        ],
        &[
            ("Role", Some(Kind::Role)),
            ("ClusterRole", Some(Kind::ClusterRole)),
            ("RoleBinding", None),
            ("ClusterRoleBinding", None),
        ],
        Some("rbac.authorization.k8s.io/v1"),
        Some("1.22"),
    ),
    (
        &["admissionregistration.k8s.io/v1beta1"],
        &[
            ("MutatingWebhookConfiguration", None),
            ("ValidatingWebhookConfiguration", None),
        ],
        Some("admissionregistration.k8s.io/v1"),
        Some("1.22"),
    ),
    (
        &["apiextensions.k8s.io/v1beta1"],
        &[("CustomResourceDefinition", None)],
        Some("apiextensions.k8s.io/v1"),
        Some("1.22"),
    ),
    (
        &["apiregistration.k8s.io/v1beta1"],
        &[("APIService", None)],
        Some("apiregistration.k8s.io/v1"),
        Some("1.22"),
    ),
    (
        &["certificates.k8s.io/v1beta1"],
        &[("CertificateSigningRequest", None)],
        Some("certificates.k8s.io/v1"),
        Some("1.22"),
    ),
    (
        &["coordination.k8s.io/v1beta1"],
        &[("Lease", None)],
        Some("coordination.k8s.io/v1"),
        Some("1.22"),
    ),
    (
        &["scheduling.k8s.io/v1beta1", "scheduling.k8s.io/v1alpha1"],
        &[("PriorityClass", None)],
        Some("scheduling.k8s.io/v1"),
        Some("1.22"),
    ),
    (
        &["storage.k8s.io/v1beta1"],
        &[
            ("CSIDriver", None),
            ("CSINode", None),
            ("StorageClass", None),
            ("VolumeAttachment", None),
        ],
        Some("storage.k8s.io/v1"),
        Some("1.22"),
    ),
    (
        &["storage.k8s.io/v1beta1"],
        &[("CSIStorageCapacity", None)],
        Some("storage.k8s.io/v1"),
        Some("1.27"),
    ),
    (
        &["batch/v1beta1"],
        &[("CronJob", Some(Kind::CronJob))],
        Some("batch/v1"),
        Some("1.25"),
    ),
    (
        &["batch/v2alpha1"],
        &[("CronJob", Some(Kind::CronJob))],
        Some("batch/v1"),
        Some("1.21"),
    ),
    (
        &["discovery.k8s.io/v1beta1"],
        &[("EndpointSlice", None)],
        Some("discovery.k8s.io/v1"),
        Some("1.25"),
    ),
    (
        &["events.k8s.io/v1beta1"],
        &[("Event", None)],
        Some("events.k8s.io/v1"),
        Some("1.25"),
    ),
    (
        &["policy/v1beta1"],
        &[("PodDisruptionBudget", Some(Kind::PodDisruptionBudget))],
        Some("policy/v1"),
        Some("1.25"),
    ),
    (
        &["node.k8s.io/v1beta1"],
        &[("RuntimeClass", None)],
        Some("node.k8s.io/v1"),
        Some("1.25"),
    ),
    (
        &["autoscaling/v2beta1"],
        &[(
            "HorizontalPodAutoscaler",
            Some(Kind::HorizontalPodAutoscaler),
        )],
        Some("autoscaling/v2"),
        Some("1.25"),
    ),
    (
        &["autoscaling/v2beta2"],
        &[(
            "HorizontalPodAutoscaler",
            Some(Kind::HorizontalPodAutoscaler),
        )],
        Some("autoscaling/v2"),
        Some("1.26"),
    ),
    (
        &["flowcontrol.apiserver.k8s.io/v1beta1"],
        &[("FlowSchema", None), ("PriorityLevelConfiguration", None)],
        Some("flowcontrol.apiserver.k8s.io/v1"),
        Some("1.26"),
    ),
    (
        &["flowcontrol.apiserver.k8s.io/v1beta2"],
        &[("FlowSchema", None), ("PriorityLevelConfiguration", None)],
        Some("flowcontrol.apiserver.k8s.io/v1"),
        Some("1.29"),
    ),
    (
        &["flowcontrol.apiserver.k8s.io/v1beta3"],
        &[("FlowSchema", None), ("PriorityLevelConfiguration", None)],
        Some("flowcontrol.apiserver.k8s.io/v1"),
        Some("1.32"),
    ),
    (
        &["autoscaling/v1"],
        &[(
            "HorizontalPodAutoscaler",
            Some(Kind::HorizontalPodAutoscaler),
        )],
        Some("autoscaling/v2"),
        None,
    ),
];

/// Looks up an apiVersion and kind that bulwark does not decode as written.
pub fn other_version(api_version: &str, kind: &str) -> Option<OtherVersion> {
    VERSION_ROWS
        .iter()
        .find_map(|(versions, kinds, replacement, removed_in)| {
            let version = versions.iter().find(|v| **v == api_version)?;
            let (kind, reads_as) = kinds.iter().find(|(k, _)| *k == kind)?;
            Some(OtherVersion {
                api_version: version,
                kind,
                replacement: *replacement,
                removed_in: *removed_in,
                reads_as: *reads_as,
            })
        })
}

/// Every apiVersion and kind of the table, for the catalog and tests.
pub fn other_versions() -> impl Iterator<Item = OtherVersion> {
    VERSION_ROWS
        .iter()
        .flat_map(|(versions, kinds, replacement, removed_in)| {
            versions.iter().flat_map(move |version| {
                kinds.iter().map(move |(kind, reads_as)| OtherVersion {
                    api_version: version,
                    kind,
                    replacement: *replacement,
                    removed_in: *removed_in,
                    reads_as: *reads_as,
                })
            })
        })
}

impl Object {
    /// Decodes a manifest written in an other apiVersion as the current kind it corresponds
    /// to, after [`upgrade`]. `None` when bulwark does not read that kind.
    pub fn from_other_version(
        other: &OtherVersion,
        value: serde_json::Value,
    ) -> Option<Result<Object, DecodeError>> {
        let kind = other.reads_as?;
        Some(Object::decode_value(kind, &upgrade(other, value)))
    }
}

/// Rewrites a manifest of an other apiVersion into the shape of the current one: the fields
/// that moved are moved and the defaults the old version applied are applied; everything else
/// is kept (unknown fields are ignored when decoding).
pub fn upgrade(other: &OtherVersion, mut value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let Some(kind) = other.reads_as else {
        return value;
    };
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(kind.api_version()));
    }
    match kind {
        // The old apps versions defaulted the selector to the template's labels.
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::ReplicaSet => {
            let labels = value.pointer("/spec/template/metadata/labels").cloned();
            if let (Some(spec), Some(labels)) =
                (value.get_mut("spec").and_then(Value::as_object_mut), labels)
                && spec.get("selector").is_none_or(Value::is_null)
            {
                spec.insert(
                    "selector".into(),
                    serde_json::json!({ "matchLabels": labels }),
                );
            }
        }
        Kind::Ingress => upgrade_ingress(&mut value),
        Kind::HorizontalPodAutoscaler => match other.api_version {
            "autoscaling/v1" => upgrade_hpa_v1(&mut value),
            "autoscaling/v2beta1" => upgrade_hpa_v2beta1(&mut value),
            _ => {}
        },
        _ => {}
    }
    value
}

/// `serviceName`/`servicePort` backends become `service: {name, port: {number | name}}`, and
/// `spec.backend` becomes `spec.defaultBackend`.
fn upgrade_ingress(value: &mut serde_json::Value) {
    use serde_json::{Value, json};
    fn backend(b: &mut Value) {
        let Some(map) = b.as_object_mut() else { return };
        let Some(name) = map.remove("serviceName") else {
            return;
        };
        let port = match map.remove("servicePort") {
            Some(Value::Number(n)) => json!({ "number": n }),
            Some(Value::String(s)) => match s.parse::<i64>() {
                Ok(n) => json!({ "number": n }),
                Err(_) => json!({ "name": s }),
            },
            _ => json!({}),
        };
        map.insert("service".into(), json!({ "name": name, "port": port }));
    }
    let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(mut default) = spec.remove("backend") {
        backend(&mut default);
        spec.insert("defaultBackend".into(), default);
    }
    for rule in spec
        .get_mut("rules")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let paths = rule
            .pointer_mut("/http/paths")
            .and_then(Value::as_array_mut);
        for path in paths.into_iter().flatten() {
            if let Some(b) = path.get_mut("backend") {
                backend(b);
            }
        }
    }
}

/// `targetCPUUtilizationPercentage` becomes a cpu Resource metric.
fn upgrade_hpa_v1(value: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(target) = spec.remove("targetCPUUtilizationPercentage") {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": target}}}]),
        );
    }
}

/// v2beta1 metrics name their target inline (`targetAverageUtilization`, `metricName`, ...);
/// v2 puts it in `target` and `metric`.
fn upgrade_hpa_v2beta1(value: &mut serde_json::Value) {
    use serde_json::{Map, Value, json};
    fn target(source: &mut Map<String, Value>, pairs: &[(&str, &str, &str)]) -> Value {
        for (old, kind, new) in pairs {
            if let Some(v) = source.remove(*old) {
                let mut t = Map::new();
                t.insert("type".into(), Value::String((*kind).into()));
                t.insert((*new).into(), v);
                return Value::Object(t);
            }
        }
        json!({})
    }
    fn metric(source: &mut Map<String, Value>, selector_key: &str) -> Value {
        let mut m = Map::new();
        if let Some(name) = source.remove("metricName") {
            m.insert("name".into(), name);
        }
        if let Some(selector) = source.remove(selector_key) {
            m.insert("selector".into(), selector);
        }
        Value::Object(m)
    }
    let metrics = value
        .pointer_mut("/spec/metrics")
        .and_then(Value::as_array_mut);
    for entry in metrics.into_iter().flatten() {
        for key in ["resource", "containerResource"] {
            if let Some(source) = entry.get_mut(key).and_then(Value::as_object_mut) {
                let t = target(
                    source,
                    &[
                        (
                            "targetAverageUtilization",
                            "Utilization",
                            "averageUtilization",
                        ),
                        ("targetAverageValue", "AverageValue", "averageValue"),
                    ],
                );
                source.insert("target".into(), t);
            }
        }
        if let Some(source) = entry.get_mut("pods").and_then(Value::as_object_mut) {
            let t = target(
                source,
                &[("targetAverageValue", "AverageValue", "averageValue")],
            );
            let m = metric(source, "selector");
            source.insert("target".into(), t);
            source.insert("metric".into(), m);
        }
        if let Some(source) = entry.get_mut("object").and_then(Value::as_object_mut) {
            let described = source.remove("target");
            let t = target(
                source,
                &[
                    ("averageValue", "AverageValue", "averageValue"),
                    ("targetValue", "Value", "value"),
                ],
            );
            let m = metric(source, "selector");
            if let Some(d) = described {
                source.insert("describedObject".into(), d);
            }
            source.insert("target".into(), t);
            source.insert("metric".into(), m);
        }
        if let Some(source) = entry.get_mut("external").and_then(Value::as_object_mut) {
            let t = target(
                source,
                &[
                    ("targetAverageValue", "AverageValue", "averageValue"),
                    ("targetValue", "Value", "value"),
                ],
            );
            let m = metric(source, "metricSelector");
            source.insert("target".into(), t);
            source.insert("metric".into(), m);
        }
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

    fn upgraded(value: serde_json::Value) -> Object {
        let api_version = value["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        let other = other_version(&api_version, &kind).expect("an other version");
        Object::from_other_version(&other, value)
            .expect("a kind bulwark reads")
            .expect("decodes")
    }

    #[test]
    fn old_apps_versions_read_as_apps_v1_with_the_old_selector_default() {
        for api_version in ["extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"] {
            let d = upgraded(
                json!({"apiVersion": api_version, "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "d"}}, "spec": spec_with("a")}}}),
            );
            let Object::Deployment(d) = d else {
                panic!("a Deployment")
            };
            let spec = d.spec.expect("spec");
            assert_eq!(spec.replicas, Some(2));
            assert_eq!(
                spec.selector
                    .match_labels
                    .and_then(|m| m.get("app").cloned()),
                Some("d".to_string()),
                "{api_version}"
            );
        }
    }

    #[test]
    fn old_ingress_backends_move_to_service_name_and_port() {
        let i = upgraded(
            json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "i"},
            "spec": {"backend": {"serviceName": "default", "servicePort": 80},
                     "rules": [{"http": {"paths": [{"path": "/", "backend": {"serviceName": "web", "servicePort": "http"}},
                                                    {"path": "/n", "backend": {"serviceName": "api", "servicePort": "8080"}}]}}]}}),
        );
        let value = i.to_value();
        assert_eq!(value["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(
            value["spec"]["defaultBackend"]["service"],
            json!({"name": "default", "port": {"number": 80}})
        );
        let paths = &value["spec"]["rules"][0]["http"]["paths"];
        assert_eq!(
            paths[0]["backend"]["service"],
            json!({"name": "web", "port": {"name": "http"}})
        );
        assert_eq!(
            paths[1]["backend"]["service"]["port"],
            json!({"number": 8080})
        );
    }

    #[test]
    fn old_hpa_metrics_move_to_targets() {
        let v1 = upgraded(
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 4, "targetCPUUtilizationPercentage": 60}}),
        );
        assert_eq!(
            v1.to_value()["spec"]["metrics"][0]["resource"],
            json!({"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}})
        );
        let beta1 = upgraded(
            json!({"apiVersion": "autoscaling/v2beta1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 4, "metrics": [
                {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "500Mi"}},
                {"type": "Pods", "pods": {"metricName": "rps", "targetAverageValue": "10"}},
                {"type": "Object", "object": {"target": {"kind": "Ingress", "name": "main"}, "metricName": "hits", "targetValue": "2k"}},
                {"type": "External", "external": {"metricName": "queue", "metricSelector": {"matchLabels": {"q": "a"}}, "targetAverageValue": "30"}}]}}),
        );
        let metrics = &beta1.to_value()["spec"]["metrics"];
        assert_eq!(
            metrics[0]["resource"]["target"],
            json!({"type": "AverageValue", "averageValue": "500Mi"})
        );
        assert_eq!(
            metrics[1]["pods"],
            json!({"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "10"}})
        );
        assert_eq!(metrics[2]["object"]["describedObject"]["name"], "main");
        assert_eq!(
            metrics[2]["object"]["target"],
            json!({"type": "Value", "value": "2k"})
        );
        assert_eq!(
            metrics[3]["external"]["metric"]["selector"]["matchLabels"]["q"],
            "a"
        );
    }

    #[test]
    fn kinds_bulwark_does_not_read_are_not_decoded() {
        let other =
            other_version("rbac.authorization.k8s.io/v1beta1", "RoleBinding").expect("listed");
        assert!(other.reads_as.is_none());
        assert!(Object::from_other_version(&other, json!({})).is_none());
        assert!(other_version("apps/v1", "Deployment").is_none());
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
