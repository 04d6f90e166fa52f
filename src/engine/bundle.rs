//! The cross-object view that bundle rules read: a small index of the facts one object may need
//! about the others (which workloads a selector picks, which Services and ports exist, which
//! HPA scales what, which ConfigMaps are there).
//!
//! It is built once per run from whatever the front has: the documents of one `check` run, a
//! cluster listing in `audit`, later a read-only cache in the webhook. Rules get it through
//! [`Context::bundle`](super::rule::Context) and stay silent when there is none.
//!
//! Everything is keyed by namespace first, so no lookup ever crosses namespaces. Objects
//! without a namespace (manifests that leave it to `kubectl -n`) share one unnamed namespace.
//! Selector lookups start from the selector's rarest label pair, so a query touches only the
//! workloads that carry that pair, never every workload of the run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::containers::{ContainerSet, containers};
use super::workload::Kind;
use super::workload::Object;

/// How much of the world an index holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Only what one run read: that something is absent proves nothing on its own.
    Partial,
    /// Everything in the namespaces it covers (a cluster listing).
    Complete,
}

/// The facts bundle rules need, by namespace.
#[derive(Debug)]
pub struct BundleIndex {
    coverage: Coverage,
    namespaces: HashMap<String, NamespaceView>,
}

/// The facts of one namespace.
#[derive(Debug, Default)]
pub struct NamespaceView {
    workloads: Vec<WorkloadFacts>,
    /// (label key, value) of pod labels → indices into `workloads`.
    by_pod_label: HashMap<(String, String), Vec<usize>>,
    /// (kind, name) → index into `workloads`.
    by_name: HashMap<(Kind, String), usize>,
    services: HashMap<String, ServiceFacts>,
    /// (label key, value) → the Services whose selector holds that pair first (in key order);
    /// a Service selects a pod only if the pod carries that pair, so this finds every one.
    services_by_selector: HashMap<(String, String), Vec<String>>,
    config_maps: HashMap<String, ConfigMapFacts>,
    /// (target kind, target name) → the HPAs that scale it.
    hpas: HashMap<(String, String), Vec<HpaFacts>>,
}

/// What the index keeps of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadFacts {
    pub kind: Kind,
    pub name: String,
    /// The object's own labels.
    pub labels: BTreeMap<String, String>,
    /// The labels its pods get (the template's; a Pod's own).
    pub pod_labels: BTreeMap<String, String>,
    /// The ports of its app containers.
    pub ports: Vec<PortFacts>,
    /// The replica count with the API server's default of 1; `None` for kinds without one.
    pub replicas: Option<i32>,
    /// Whether the object says `spec.replicas` itself.
    pub sets_replicas: bool,
    /// What each app container requests.
    pub containers: Vec<ContainerRequests>,
}

/// A container port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortFacts {
    pub name: Option<String>,
    pub number: i32,
}

/// Which resources an app container requests (a limit alone counts: the API server copies it
/// into the request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRequests {
    pub name: String,
    pub cpu: bool,
    pub memory: bool,
}

impl ContainerRequests {
    /// Whether it requests `resource` (`cpu`, `memory`; anything else counts as requested).
    pub fn requests(&self, resource: &str) -> bool {
        match resource {
            "cpu" => self.cpu,
            "memory" => self.memory,
            _ => true,
        }
    }
}

/// A Service and its ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceFacts {
    pub name: String,
    pub ports: Vec<ServicePortFacts>,
    /// The pods it sends traffic to; empty for a Service without a selector (endpoints kept
    /// by hand) and for `ExternalName`.
    pub selector: BTreeMap<String, String>,
    /// The same ports by name and number, so a backend is checked by one lookup.
    pub index: PortIndex,
}

/// Port names and numbers, for lookups that cost the same however many ports there are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortIndex {
    names: HashSet<String>,
    numbers: HashSet<i32>,
}

impl PortIndex {
    pub fn insert(&mut self, name: Option<&str>, number: i32) {
        if let Some(name) = name {
            self.names.insert(name.to_string());
        }
        self.numbers.insert(number);
    }

    pub fn has_name(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    pub fn has_number(&self, number: i32) -> bool {
        self.numbers.contains(&number)
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// Whether a port reference (`targetPort`, an Ingress backend port) names or numbers one
    /// of the ports, as [`port_matches`] decides it.
    pub fn matches(&self, reference: &IntOrString) -> bool {
        match reference {
            IntOrString::Int(n) => self.has_number(*n),
            IntOrString::String(s) => match s.parse::<i32>() {
                Ok(n) => self.has_number(n),
                Err(_) => self.has_name(s),
            },
        }
    }
}

/// At most `shown` items joined by `, `, then how many more there are: a list in a message
/// stays short however long the list.
pub fn list_some(items: impl IntoIterator<Item = String>, shown: usize) -> String {
    let mut out = Vec::new();
    let mut more = 0usize;
    for item in items {
        if out.len() < shown {
            out.push(item);
        } else {
            more += 1;
        }
    }
    if more > 0 {
        out.push(format!("{more} more"));
    }
    out.join(", ")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePortFacts {
    pub name: Option<String>,
    pub port: i32,
    /// Where the traffic goes on the pods: `targetPort`, which defaults to `port`.
    pub target: IntOrString,
}

/// A ConfigMap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigMapFacts {
    pub name: String,
    /// An immutable ConfigMap cannot change in place: new content means a new name.
    pub immutable: bool,
}

/// An HPA, with the API server's default of 1 for `minReplicas`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HpaFacts {
    pub name: String,
    pub min_replicas: i32,
    pub max_replicas: i32,
}

/// A label selector in either of its two shapes.
#[derive(Clone, Copy, Debug)]
pub enum Selector<'a> {
    /// A plain map (Services, ReplicationControllers): every pair must be present.
    Map(&'a BTreeMap<String, String>),
    /// `matchLabels` and `matchExpressions`.
    Label(&'a LabelSelector),
}

// === impl Selector ===

impl Selector<'_> {
    /// Whether `labels` satisfy the selector. An empty selector matches everything.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let has = |k: &String, v: &String| labels.get(k) == Some(v);
        match self {
            Selector::Map(map) => map.iter().all(|(k, v)| has(k, v)),
            Selector::Label(selector) => {
                selector
                    .match_labels
                    .iter()
                    .flatten()
                    .all(|(k, v)| has(k, v))
                    && selector.match_expressions.iter().flatten().all(|e| {
                        let values = e.values.as_deref().unwrap_or_default();
                        let value = labels.get(&e.key);
                        match e.operator.as_str() {
                            "In" => value.is_some_and(|v| values.contains(v)),
                            "NotIn" => value.is_none_or(|v| !values.contains(v)),
                            "Exists" => value.is_some(),
                            "DoesNotExist" => value.is_none(),
                            _ => false,
                        }
                    })
            }
        }
    }

    /// The exact pairs a match must carry, used to narrow the candidates.
    fn required_pairs(&self) -> impl Iterator<Item = (&String, &String)> {
        match self {
            Selector::Map(map) => Some(map.iter()),
            Selector::Label(selector) => selector.match_labels.as_ref().map(|m| m.iter()),
        }
        .into_iter()
        .flatten()
    }
}

// === impl BundleIndex ===

static EMPTY: LazyLock<NamespaceView> = LazyLock::new(NamespaceView::default);

impl BundleIndex {
    pub fn new(coverage: Coverage) -> Self {
        BundleIndex {
            coverage,
            namespaces: HashMap::new(),
        }
    }

    /// An index of `objects`.
    pub fn from_objects<'o>(
        coverage: Coverage,
        objects: impl IntoIterator<Item = &'o Object>,
    ) -> Self {
        let mut index = BundleIndex::new(coverage);
        for object in objects {
            index.insert(object);
        }
        index
    }

    pub fn coverage(&self) -> Coverage {
        self.coverage
    }

    /// Whether absence in this index proves nothing (only one run's documents are known).
    pub fn is_partial(&self) -> bool {
        self.coverage == Coverage::Partial
    }

    /// The facts of `namespace` (`None` or empty: the unnamed namespace of a manifest).
    pub fn namespace(&self, namespace: Option<&str>) -> &NamespaceView {
        self.namespaces
            .get(namespace.unwrap_or_default())
            .unwrap_or(&EMPTY)
    }

    /// Adds what bundle rules need to know about `object`.
    pub fn insert(&mut self, object: &Object) {
        let meta = object.meta();
        let Some(name) = meta.name.clone() else {
            return;
        };
        let namespace = meta.namespace.clone().unwrap_or_default();
        let view = self.namespaces.entry(namespace).or_default();
        match object {
            Object::Service(service) => {
                let ports: Vec<ServicePortFacts> = service
                    .spec
                    .iter()
                    .flat_map(|s| s.ports.iter().flatten())
                    .map(|p| ServicePortFacts {
                        name: p.name.clone(),
                        port: p.port,
                        target: p.target_port.clone().unwrap_or(IntOrString::Int(p.port)),
                    })
                    .collect();
                let mut index = PortIndex::default();
                for p in &ports {
                    index.insert(p.name.as_deref(), p.port);
                }
                let selector = service
                    .spec
                    .as_ref()
                    .filter(|s| s.type_.as_deref() != Some("ExternalName"))
                    .and_then(|s| s.selector.clone())
                    .unwrap_or_default();
                view.add_service(ServiceFacts {
                    name,
                    ports,
                    selector,
                    index,
                });
            }
            Object::ConfigMap(cm) => {
                let immutable = cm.immutable == Some(true);
                view.config_maps
                    .insert(name.clone(), ConfigMapFacts { name, immutable });
            }
            Object::HorizontalPodAutoscaler(hpa) => {
                let spec = &hpa.spec;
                let target = &spec.scale_target_ref;
                view.hpas
                    .entry((target.kind.clone(), target.name.clone()))
                    .or_default()
                    .push(HpaFacts {
                        name,
                        min_replicas: spec.min_replicas.unwrap_or(1),
                        max_replicas: spec.max_replicas,
                    });
            }
            _ => {
                if let Some(facts) = workload_facts(object, name) {
                    view.add_workload(facts);
                }
            }
        }
    }
}

fn workload_facts(object: &Object, name: String) -> Option<WorkloadFacts> {
    let pod = object.pod()?;
    let pod_labels = pod.meta.and_then(|m| m.labels.clone()).unwrap_or_default();
    let mut ports = Vec::new();
    let mut requests = Vec::new();
    for c in containers(&pod, ContainerSet::App) {
        ports.extend(c.ports().iter().map(|p| PortFacts {
            name: p.name.clone(),
            number: p.container_port,
        }));
        let resources = c.resources();
        let has = |key: &str| {
            resources.is_some_and(|r| {
                r.requests.as_ref().is_some_and(|m| m.contains_key(key))
                    || r.limits.as_ref().is_some_and(|m| m.contains_key(key))
            })
        };
        requests.push(ContainerRequests {
            name: c.name().to_string(),
            cpu: has("cpu"),
            memory: has("memory"),
        });
    }
    let sets_replicas = match object {
        Object::Deployment(o) => o.spec.as_ref().is_some_and(|s| s.replicas.is_some()),
        Object::StatefulSet(o) => o.spec.as_ref().is_some_and(|s| s.replicas.is_some()),
        Object::ReplicaSet(o) => o.spec.as_ref().is_some_and(|s| s.replicas.is_some()),
        Object::ReplicationController(o) => o.spec.as_ref().is_some_and(|s| s.replicas.is_some()),
        _ => false,
    };
    Some(WorkloadFacts {
        kind: object.kind(),
        name,
        labels: object.meta().labels.clone().unwrap_or_default(),
        pod_labels,
        ports,
        replicas: object.replicas(),
        sets_replicas,
        containers: requests,
    })
}

// === impl NamespaceView ===

impl NamespaceView {
    fn add_workload(&mut self, facts: WorkloadFacts) {
        let i = self.workloads.len();
        for (k, v) in &facts.pod_labels {
            self.by_pod_label
                .entry((k.clone(), v.clone()))
                .or_default()
                .push(i);
        }
        self.by_name.insert((facts.kind, facts.name.clone()), i);
        self.workloads.push(facts);
    }

    fn add_service(&mut self, facts: ServiceFacts) {
        // A name given twice in one run keeps the last document, as `kubectl apply` would.
        if let Some(old) = self.services.remove(&facts.name)
            && let Some((k, v)) = old.selector.iter().next()
            && let Some(names) = self.services_by_selector.get_mut(&(k.clone(), v.clone()))
        {
            names.retain(|n| *n != old.name);
        }
        if let Some((k, v)) = facts.selector.iter().next() {
            self.services_by_selector
                .entry((k.clone(), v.clone()))
                .or_default()
                .push(facts.name.clone());
        }
        self.services.insert(facts.name.clone(), facts);
    }

    /// The Services whose selector picks pods labelled `labels`.
    pub fn services_selecting<'s>(
        &'s self,
        labels: &'s BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'s ServiceFacts> {
        labels
            .iter()
            .filter_map(|(k, v)| self.services_by_selector.get(&(k.clone(), v.clone())))
            .flatten()
            .filter_map(|name| self.services.get(name))
            .filter(move |s| Selector::Map(&s.selector).matches(labels))
    }

    pub fn has_workloads(&self) -> bool {
        !self.workloads.is_empty()
    }

    pub fn has_services(&self) -> bool {
        !self.services.is_empty()
    }

    /// The workloads whose pods `selector` selects.
    pub fn selected<'s>(
        &'s self,
        selector: Selector<'s>,
    ) -> impl Iterator<Item = &'s WorkloadFacts> {
        // Start from the rarest required pair; a pair no workload carries means no match.
        let mut narrowest: Option<&[usize]> = None;
        let mut impossible = false;
        for (k, v) in selector.required_pairs() {
            match self.by_pod_label.get(&(k.clone(), v.clone())) {
                Some(list) if narrowest.is_none_or(|n| list.len() < n.len()) => {
                    narrowest = Some(list)
                }
                Some(_) => {}
                None => impossible = true,
            }
        }
        let candidates: Box<dyn Iterator<Item = &WorkloadFacts>> = match (impossible, narrowest) {
            (true, _) => Box::new(std::iter::empty()),
            (false, Some(list)) => Box::new(list.iter().map(|&i| &self.workloads[i])),
            (false, None) => Box::new(self.workloads.iter()),
        };
        candidates.filter(move |w| selector.matches(&w.pod_labels))
    }

    /// A workload by kind and name.
    pub fn workload(&self, kind: Kind, name: &str) -> Option<&WorkloadFacts> {
        self.by_name
            .get(&(kind, name.to_string()))
            .map(|&i| &self.workloads[i])
    }

    /// A workload named by a `scaleTargetRef`-style kind name (`Deployment`) and name.
    pub fn workload_by_kind_name(&self, kind: &str, name: &str) -> Option<&WorkloadFacts> {
        let kind = Kind::WORKLOADS.into_iter().find(|k| k.name() == kind)?;
        self.workload(kind, name)
    }

    pub fn service(&self, name: &str) -> Option<&ServiceFacts> {
        self.services.get(name)
    }

    pub fn config_map(&self, name: &str) -> Option<&ConfigMapFacts> {
        self.config_maps.get(name)
    }

    /// The HPAs whose `scaleTargetRef` names this kind and name.
    pub fn hpas_for(&self, kind: Kind, name: &str) -> &[HpaFacts] {
        self.hpas_targeting(kind.name(), name)
    }

    /// The HPAs whose `scaleTargetRef` names `kind` (as written: `Deployment`, or the kind of
    /// a custom resource with a scale subresource) and `name`.
    pub fn hpas_targeting(&self, kind: &str, name: &str) -> &[HpaFacts] {
        self.hpas
            .get(&(kind.to_string(), name.to_string()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

// === lookups for rules ===

/// Whether a port reference (`targetPort`, an Ingress backend port) names or numbers one of
/// `ports`.
pub fn port_matches(reference: &IntOrString, ports: &[PortFacts]) -> bool {
    match reference {
        IntOrString::Int(n) => ports.iter().any(|p| p.number == *n),
        IntOrString::String(s) => match s.parse::<i32>() {
            Ok(n) => ports.iter().any(|p| p.number == n),
            Err(_) => ports.iter().any(|p| p.name.as_deref() == Some(s.as_str())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testing::object;
    use serde_json::json;

    fn deployment(ns: Option<&str>, name: &str, labels: serde_json::Value) -> Object {
        let mut meta = json!({"name": name});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        object(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "web", "image": "w:1", "ports": [{"name": "http", "containerPort": 8080}],
                "resources": {"limits": {"cpu": "1"}}}]}}}}),
        )
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_find_workloads_in_their_own_namespace_only() {
        let objects = [
            deployment(Some("shop"), "web", json!({"app": "web", "tier": "front"})),
            deployment(Some("shop"), "api", json!({"app": "api", "tier": "front"})),
            deployment(Some("other"), "web", json!({"app": "web"})),
            deployment(None, "loose", json!({"app": "web"})),
        ];
        let index = BundleIndex::from_objects(Coverage::Partial, &objects);
        let names = |ns: Option<&str>, sel: &BTreeMap<String, String>| {
            index
                .namespace(ns)
                .selected(Selector::Map(sel))
                .map(|w| w.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Some("shop"), &labels(&[("app", "web")])), ["web"]);
        assert_eq!(
            names(Some("shop"), &labels(&[("tier", "front")])),
            ["web", "api"]
        );
        assert!(names(Some("shop"), &labels(&[("app", "web"), ("tier", "back")])).is_empty());
        assert_eq!(names(None, &labels(&[("app", "web")])), ["loose"]);
        assert!(names(Some("nowhere"), &labels(&[("app", "web")])).is_empty());
    }

    #[test]
    fn label_selectors_honour_every_operator() {
        let selector: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "team", "operator": "Exists"}
            ]
        }))
        .expect("selector");
        let s = Selector::Label(&selector);
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "edge"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "back"), ("team", "x")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("team", "x"),
            ("canary", "1")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("team", "x"),
            ("zone", "b")
        ])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(Selector::Label(&LabelSelector::default()).matches(&labels(&[])));
    }

    #[test]
    fn records_ports_requests_replicas_hpas_and_config_maps() {
        let objects = [
            deployment(Some("shop"), "web", json!({"app": "web"})),
            object(
                json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}}),
            ),
            object(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"}, "immutable": true}),
            ),
            object(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"ports": [{"name": "http", "port": 80}]}}),
            ),
        ];
        let index = BundleIndex::from_objects(Coverage::Complete, &objects);
        let shop = index.namespace(Some("shop"));
        let web = shop.workload(Kind::Deployment, "web").expect("indexed");
        assert_eq!(web.replicas, Some(1));
        assert!(!web.sets_replicas);
        assert!(web.containers[0].cpu && !web.containers[0].memory);
        assert!(port_matches(
            &IntOrString::String("http".into()),
            &web.ports
        ));
        assert!(port_matches(&IntOrString::Int(8080), &web.ports));
        assert!(!port_matches(&IntOrString::Int(80), &web.ports));
        let hpas = shop.hpas_for(Kind::Deployment, "web");
        assert_eq!((hpas[0].min_replicas, hpas[0].max_replicas), (1, 5));
        assert!(shop.config_map("cfg").is_some_and(|c| c.immutable));
        assert_eq!(shop.service("web").map(|s| s.ports[0].port), Some(80));
        assert!(!index.is_partial());
    }
}
