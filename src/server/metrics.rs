//! Prometheus metrics, registered into a registry the caller creates and passes in (no
//! globals, so every test has its own). Labels are low-cardinality only: endpoint, kind,
//! operation, decision, rule, action, mutation, result, port, reason; never namespaces or
//! object names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::engine::Kind;
use crate::server::review::{Endpoint, Summary};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    kind: String,
    operation: String,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    rule: &'static str,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExemptionLabels {
    /// The rule or mutation id.
    rule: &'static str,
    /// `namespace`, `policy` or `annotation`.
    by: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MutationLabels {
    mutation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortLabels {
    port: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    port: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectionLabels {
    endpoint: &'static str,
    reason: &'static str,
}

/// Which listening port a connection metric is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    Webhook,
    Admin,
}

impl Port {
    pub fn as_str(self) -> &'static str {
        match self {
            Port::Webhook => "webhook",
            Port::Admin => "admin",
        }
    }
}

/// Why a connection was refused when it was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// `--max-connections` were already open.
    MaxConnections,
    /// The process or the system ran out of file descriptors (EMFILE, ENFILE).
    FdLimit,
    /// Any other accept error.
    AcceptError,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::MaxConnections => "max_connections",
            Refused::FdLimit => "fd_limit",
            Refused::AcceptError => "accept_error",
        }
    }
}

/// Why the server closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    HandshakeTimeout,
    HandshakeFailed,
    HeaderTimeout,
    IdleTimeout,
}

impl Closed {
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::HandshakeTimeout => "handshake_timeout",
            Closed::HandshakeFailed => "handshake_failed",
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
        }
    }
}

/// Every metric bulwark exports.
#[derive(Clone)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<EndpointLabels, Histogram>,
    findings: Family<FindingLabels, Counter>,
    exemptions: Family<ExemptionLabels, Counter>,
    would_deny: Family<RuleLabels, Counter>,
    mutations: Family<MutationLabels, Counter>,
    policy_reloads: Family<ResultLabels, Counter>,
    certificate_reloads: Family<ResultLabels, Counter>,
    certificate_expiry: Gauge,
    connections_open: Family<PortLabels, Gauge>,
    connections_refused: Family<ConnectionLabels, Counter>,
    connections_closed: Family<ConnectionLabels, Counter>,
    rejected: Family<RejectionLabels, Counter>,
    requests_in_flight: Gauge,
    body_bytes_in_flight: Gauge,
}

/// Outcome of a reload attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    Success,
    Failure,
}

impl Reload {
    fn label(self) -> &'static str {
        match self {
            Reload::Success => "success",
            Reload::Failure => "failure",
        }
    }
}

impl Metrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn new(registry: &mut Registry) -> Metrics {
        let metrics = Metrics {
            requests: Family::default(),
            // 50µs .. ~1.6s: reviews take well under a millisecond; the tail matters.
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
            }),
            findings: Family::default(),
            exemptions: Family::default(),
            would_deny: Family::default(),
            mutations: Family::default(),
            policy_reloads: Family::default(),
            certificate_reloads: Family::default(),
            certificate_expiry: Gauge::default(),
            connections_open: Family::default(),
            connections_refused: Family::default(),
            connections_closed: Family::default(),
            rejected: Family::default(),
            requests_in_flight: Gauge::default(),
            body_bytes_in_flight: Gauge::default(),
        };
        // The refusals an alert watches exist from the start too.
        for reason in [Refused::MaxConnections, Refused::FdLimit] {
            drop(
                metrics
                    .connections_refused
                    .get_or_create(&ConnectionLabels {
                        port: Port::Webhook.as_str(),
                        reason: reason.as_str(),
                    }),
            );
        }
        // Reload counters exist from the start, so an alert on failures has a series to watch.
        for result in [Reload::Success, Reload::Failure] {
            drop(metrics.policy_reloads.get_or_create(&ResultLabels {
                result: result.label(),
            }));
            drop(metrics.certificate_reloads.get_or_create(&ResultLabels {
                result: result.label(),
            }));
        }
        registry.register(
            "bulwark_admission_requests",
            "Admission reviews answered",
            metrics.requests.clone(),
        );
        registry.register(
            "bulwark_admission_duration_seconds",
            "Time to answer one admission review",
            metrics.duration.clone(),
        );
        registry.register(
            "bulwark_rule_findings",
            "Findings by rule and effective action",
            metrics.findings.clone(),
        );
        registry.register(
            "bulwark_rule_would_deny",
            "Findings that would deny but that audit mode let through as warnings, by rule",
            metrics.would_deny.clone(),
        );
        registry.register(
            "bulwark_exemptions",
            "Rules and mutations an exemption switched off where they would have found or changed something, by source",
            metrics.exemptions.clone(),
        );
        registry.register(
            "bulwark_mutations",
            "Objects changed by each mutation",
            metrics.mutations.clone(),
        );
        registry.register(
            "bulwark_policy_reloads",
            "Policy file reloads by result",
            metrics.policy_reloads.clone(),
        );
        registry.register(
            "bulwark_certificate_reloads",
            "Serving certificate reloads by result",
            metrics.certificate_reloads.clone(),
        );
        registry.register(
            "bulwark_certificate_expiry_timestamp_seconds",
            "When the serving certificate expires (Unix seconds)",
            metrics.certificate_expiry.clone(),
        );
        registry.register(
            "bulwark_connections_open",
            "Connections open, by port",
            metrics.connections_open.clone(),
        );
        registry.register(
            "bulwark_connections_refused",
            "Connections closed as soon as they were accepted, or not accepted, by port and reason",
            metrics.connections_refused.clone(),
        );
        registry.register(
            "bulwark_connections_closed",
            "Connections the server closed for a timeout or a failed handshake, by port and reason",
            metrics.connections_closed.clone(),
        );
        registry.register(
            "bulwark_rejected_requests",
            "Webhook requests answered with an HTTP error before or instead of a review, by reason",
            metrics.rejected.clone(),
        );
        registry.register(
            "bulwark_requests_in_flight",
            "Webhook requests being read or judged",
            metrics.requests_in_flight.clone(),
        );
        registry.register(
            "bulwark_body_bytes_in_flight",
            "Request body bytes held",
            metrics.body_bytes_in_flight.clone(),
        );
        metrics
    }

    /// Records one answered review.
    pub fn record_review(&self, endpoint: Endpoint, summary: &Summary, seconds: f64) {
        // Only kinds bulwark knows become label values; anything else is "other".
        let kind = if Kind::ALL.iter().any(|k| k.name() == summary.kind) {
            summary.kind.clone()
        } else {
            "other".to_string()
        };
        let operation = match summary.operation.as_str() {
            op @ ("CREATE" | "UPDATE" | "DELETE" | "CONNECT") => op.to_string(),
            _ => "other".to_string(),
        };
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.as_str(),
                kind,
                operation,
                decision: summary.decision,
            })
            .inc();
        self.duration
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.as_str(),
            })
            .observe(seconds);
        for (rule, action, count) in &summary.findings {
            self.findings
                .get_or_create(&FindingLabels {
                    rule,
                    action: action.as_str(),
                })
                .inc_by(*count);
        }
        for (rule, count) in &summary.would_deny {
            self.would_deny
                .get_or_create(&RuleLabels { rule })
                .inc_by(*count);
        }
        for exempted in &summary.exempted {
            self.exemptions
                .get_or_create(&ExemptionLabels {
                    rule: exempted.id,
                    by: exempted.by.as_str(),
                })
                .inc();
        }
        for mutation in &summary.mutations {
            self.mutations
                .get_or_create(&MutationLabels { mutation })
                .inc();
        }
    }

    /// Records a body that was not an AdmissionReview.
    pub fn record_malformed(&self, endpoint: Endpoint, seconds: f64) {
        let labels = RequestLabels {
            endpoint: endpoint.as_str(),
            kind: "none".into(),
            operation: "none".into(),
            decision: "malformed",
        };
        self.requests.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.as_str(),
            })
            .observe(seconds);
    }

    pub fn record_policy_reload(&self, result: Reload) {
        self.policy_reloads
            .get_or_create(&ResultLabels {
                result: result.label(),
            })
            .inc();
    }

    pub fn record_certificate_reload(&self, result: Reload) {
        self.certificate_reloads
            .get_or_create(&ResultLabels {
                result: result.label(),
            })
            .inc();
    }

    pub fn set_certificate_expiry(&self, unix_seconds: i64) {
        self.certificate_expiry.set(unix_seconds);
    }

    /// The gauge of open connections on `port`.
    pub fn connections_open(&self, port: Port) -> Gauge {
        self.connections_open
            .get_or_create(&PortLabels {
                port: port.as_str(),
            })
            .clone()
    }

    pub fn record_connection_refused(&self, port: Port, reason: Refused) {
        self.connections_refused
            .get_or_create(&ConnectionLabels {
                port: port.as_str(),
                reason: reason.as_str(),
            })
            .inc();
    }

    pub fn record_connection_closed(&self, port: Port, reason: Closed) {
        self.connections_closed
            .get_or_create(&ConnectionLabels {
                port: port.as_str(),
                reason: reason.as_str(),
            })
            .inc();
    }

    pub fn record_rejected(&self, endpoint: Endpoint, reason: &'static str) {
        self.rejected
            .get_or_create(&RejectionLabels {
                endpoint: endpoint.as_str(),
                reason,
            })
            .inc();
    }

    /// The gauge of webhook requests being read or judged.
    pub fn requests_in_flight(&self) -> Gauge {
        self.requests_in_flight.clone()
    }

    /// The gauge of request body bytes held.
    pub fn body_bytes_in_flight(&self) -> Gauge {
        self.body_bytes_in_flight.clone()
    }
}

/// The registry in the Prometheus text exposition format.
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}
