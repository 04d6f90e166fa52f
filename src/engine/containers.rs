//! Uniform access to the containers of a pod spec, with the field path of each.
//!
//! Rules say which containers they judge (`ContainerSet`) instead of walking the three lists
//! themselves, so "security rules see ephemeral containers too" is decided in one place.

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvFromSource, EnvVar, EphemeralContainer, Lifecycle,
    PodSecurityContext, Probe, ResourceRequirements, SecurityContext,
};

use super::workload::PodView;

/// Which list a container sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerList {
    App,
    Init,
    Ephemeral,
}

impl ContainerList {
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::App => "containers",
            ContainerList::Init => "initContainers",
            ContainerList::Ephemeral => "ephemeralContainers",
        }
    }
}

/// Which containers a rule judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerSet {
    /// `containers` only: probes and lifecycle.
    App,
    /// `containers` and `initContainers`: resources.
    AppAndInit,
    /// All three lists, as Pod Security Standards do: security and image rules.
    All,
}

/// One container of a pod spec, wherever it is declared.
#[derive(Clone, Copy, Debug)]
pub struct ContainerAt<'a> {
    pub list: ContainerList,
    inner: Inner<'a>,
    pod_field: &'static str,
}

#[derive(Clone, Copy, Debug)]
enum Inner<'a> {
    Regular(&'a Container),
    Ephemeral(&'a EphemeralContainer),
}

macro_rules! field {
    ($self:ident, $name:ident) => {
        match $self.inner {
            Inner::Regular(c) => c.$name.as_ref(),
            Inner::Ephemeral(c) => c.$name.as_ref(),
        }
    };
}

impl<'a> ContainerAt<'a> {
    pub fn name(&self) -> &'a str {
        match self.inner {
            Inner::Regular(c) => &c.name,
            Inner::Ephemeral(c) => &c.name,
        }
    }

    /// The dotted path of this container, e.g. `spec.template.spec.containers[web]`.
    pub fn path(&self) -> String {
        format!("{}.{}[{}]", self.pod_field, self.list.field(), self.name())
    }

    /// The dotted path of one of this container's fields.
    pub fn field(&self, suffix: &str) -> String {
        format!("{}.{}", self.path(), suffix)
    }

    /// How messages name this container: `container web`, `init container setup`.
    pub fn describe(&self) -> String {
        let list = match self.list {
            ContainerList::App => "container",
            ContainerList::Init => "init container",
            ContainerList::Ephemeral => "ephemeral container",
        };
        format!("{list} {}", self.name())
    }

    pub fn image(&self) -> Option<&'a str> {
        field!(self, image).map(String::as_str)
    }

    pub fn image_pull_policy(&self) -> Option<&'a str> {
        field!(self, image_pull_policy).map(String::as_str)
    }

    pub fn security_context(&self) -> Option<&'a SecurityContext> {
        field!(self, security_context)
    }

    pub fn resources(&self) -> Option<&'a ResourceRequirements> {
        field!(self, resources)
    }

    pub fn env(&self) -> &'a [EnvVar] {
        field!(self, env).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn env_from(&self) -> &'a [EnvFromSource] {
        field!(self, env_from)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn lifecycle(&self) -> Option<&'a Lifecycle> {
        field!(self, lifecycle)
    }

    pub fn liveness_probe(&self) -> Option<&'a Probe> {
        field!(self, liveness_probe)
    }

    pub fn readiness_probe(&self) -> Option<&'a Probe> {
        field!(self, readiness_probe)
    }

    pub fn ports(&self) -> &'a [ContainerPort] {
        field!(self, ports).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn has_ports(&self) -> bool {
        !self.ports().is_empty()
    }
}

/// The containers of `pod` that belong to `set`, app containers first.
pub fn containers<'a>(
    pod: &PodView<'a>,
    set: ContainerSet,
) -> impl Iterator<Item = ContainerAt<'a>> {
    let spec = pod.spec;
    let pod_field = pod.path.field;
    let regular = |list: ContainerList, items: &'a [Container]| {
        items.iter().map(move |c| ContainerAt {
            list,
            inner: Inner::Regular(c),
            pod_field,
        })
    };
    let app = regular(ContainerList::App, &spec.containers);
    let init = match set {
        ContainerSet::App => None,
        _ => spec
            .init_containers
            .as_deref()
            .map(|c| regular(ContainerList::Init, c)),
    };
    let ephemeral = match set {
        ContainerSet::All => spec.ephemeral_containers.as_deref(),
        _ => None,
    };
    let ephemeral = ephemeral.into_iter().flatten().map(move |c| ContainerAt {
        list: ContainerList::Ephemeral,
        inner: Inner::Ephemeral(c),
        pod_field,
    });
    app.chain(init.into_iter().flatten()).chain(ephemeral)
}

/// The pod-level security context, if any.
pub fn pod_security<'a>(pod: &PodView<'a>) -> Option<&'a PodSecurityContext> {
    pod.spec.security_context.as_ref()
}
