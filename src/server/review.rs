//! The AdmissionReview wire format, and the one pure function from a request body to a
//! response body: decode, judge with the engine, encode.
//!
//! Nothing here is async or reads the clock; the handlers in `mod.rs` pass `now` in and log
//! the returned [`Summary`]. The response type is our own rather than kube-core's
//! `AdmissionResponse`, whose `patch` field is a `Vec<u8>` that serializes as an array of
//! numbers; the API server expects a base64 string.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kube::core::GroupVersionKind;
use kube::core::admission::Operation;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use base64::Engine as _;

use crate::engine::decide::{Judged, Verdict};
use crate::engine::mutations;
use crate::engine::{
    Action, Context, Finding, Kind, Mode, Object, Origin, Policy, decide, evaluate,
};

/// The review versions the API server may send.
pub const REVIEW_VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];

/// The API server shows at most this many characters of one warning.
const WARNING_MAX_CHARS: usize = 250;
/// ...and drops warnings past this many bytes in total.
const WARNINGS_MAX_BYTES: usize = 3800;

/// Which endpoint received the review.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Validate,
    Mutate,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Validate => "validate",
            Endpoint::Mutate => "mutate",
        }
    }
}

/// A body that is not a usable AdmissionReview: answered with HTTP 400 and this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

/// What happened to one review, for the log line and metrics. Never holds object content.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub uid: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub operation: String,
    pub user: String,
    pub dry_run: bool,
    /// `allowed`, `denied`, `warned`, `mutated`, `would-mutate`, `skipped` (not judged),
    /// `invalid` (object did not decode).
    pub decision: &'static str,
    pub rules: Vec<&'static str>,
    /// Findings by rule and effective action, for metrics.
    pub findings: Vec<(&'static str, Action)>,
    /// The mutations that changed (or in audit mode would change) the object.
    pub mutations: Vec<&'static str>,
}

/// The response body and its summary.
pub struct Outcome {
    pub body: Vec<u8>,
    pub summary: Summary,
}

// === wire types ===

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(borrow)]
    request: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    uid: String,
    kind: GroupVersionKind,
    operation: Operation,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    user_info: Option<UserInfo>,
    #[serde(default, borrow)]
    object: Option<&'a RawValue>,
    #[serde(default, borrow)]
    old_object: Option<&'a RawValue>,
    #[serde(default)]
    dry_run: Option<bool>,
}

#[derive(Deserialize, Default)]
struct UserInfo {
    #[serde(default)]
    username: Option<String>,
}

#[derive(Serialize)]
struct ReviewOut {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: &'static str,
    response: ResponseOut,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut {
    uid: String,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut>,
    /// Base64 of the JSON Patch, as the API documents it.
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    audit_annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct StatusOut {
    code: u16,
    reason: &'static str,
    message: String,
}

impl ResponseOut {
    fn allow(uid: &str) -> Self {
        ResponseOut {
            uid: uid.to_string(),
            allowed: true,
            status: None,
            patch: None,
            patch_type: None,
            audit_annotations: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }
}

// === decode, judge, encode ===

/// Answers one AdmissionReview body. `Err` means the body is not a usable review (HTTP 400).
pub fn answer(
    policy: &Policy,
    body: &[u8],
    endpoint: Endpoint,
    now: i64,
) -> Result<Outcome, ProtocolError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        ProtocolError(format!(
            "the body is not an AdmissionReview: {}",
            plain_json_error(&e)
        ))
    })?;
    let api_version = envelope.api_version.unwrap_or_default();
    if envelope.kind.as_deref() != Some("AdmissionReview")
        || !REVIEW_VERSIONS.contains(&api_version.as_str())
    {
        return Err(ProtocolError(format!(
            "the body is not an AdmissionReview: expected kind AdmissionReview with apiVersion {}, got kind {:?} apiVersion {:?}",
            REVIEW_VERSIONS.join(" or "),
            envelope.kind.unwrap_or_default(),
            api_version
        )));
    }
    let raw_request = envelope
        .request
        .ok_or_else(|| ProtocolError("the AdmissionReview has no request".into()))?;
    let request: Request = serde_json::from_str(raw_request.get()).map_err(|e| {
        ProtocolError(format!(
            "the AdmissionReview request is malformed: {}",
            request_error(raw_request.get(), &e)
        ))
    })?;
    if request.uid.is_empty() {
        return Err(ProtocolError(
            "the AdmissionReview request has an empty uid".into(),
        ));
    }

    let mut summary = Summary {
        uid: request.uid.clone(),
        kind: request.kind.kind.clone(),
        namespace: request.namespace.clone().unwrap_or_default(),
        name: request.name.clone().unwrap_or_default(),
        operation: operation_name(&request.operation).to_string(),
        user: request
            .user_info
            .as_ref()
            .and_then(|u| u.username.clone())
            .unwrap_or_default(),
        dry_run: request.dry_run.unwrap_or(false),
        decision: "skipped",
        ..Summary::default()
    };
    let response = judge(policy, &request, endpoint, now, &mut summary);
    let review = ReviewOut {
        api_version,
        kind: "AdmissionReview",
        response,
    };
    // Our own plain types always serialize.
    let body = serde_json::to_vec(&review)
        .map_err(|e| ProtocolError(format!("cannot encode the response: {e}")))?;
    Ok(Outcome { body, summary })
}

fn judge(
    policy: &Policy,
    request: &Request,
    endpoint: Endpoint,
    now: i64,
    summary: &mut Summary,
) -> ResponseOut {
    let uid = request.uid.as_str();
    let operation = match request.operation {
        Operation::Create => crate::engine::Operation::Create,
        Operation::Update => crate::engine::Operation::Update,
        // Nothing to inspect on DELETE or CONNECT.
        Operation::Delete | Operation::Connect => return ResponseOut::allow(uid),
    };
    let gvk = &request.kind;
    let Some(kind) = Kind::from_gvk(&gvk.group, &gvk.version, &gvk.kind) else {
        return ResponseOut::allow(uid);
    };
    let Some(raw) = request.object.filter(|r| r.get() != "null") else {
        return ResponseOut::allow(uid);
    };
    let object = match decode_object(kind, raw) {
        Ok(object) => object,
        Err(message) => {
            summary.decision = "invalid";
            let mut response = ResponseOut::allow(uid);
            response.allowed = false;
            response.status = Some(StatusOut {
                code: 400,
                reason: "BadRequest",
                message,
            });
            return response;
        }
    };
    if summary.name.is_empty()
        && let Some(name) = name_of(&object)
    {
        summary.name = name;
    }
    let namespace = request.namespace.as_deref().filter(|ns| !ns.is_empty());
    let ctx = Context {
        origin: Origin::Admission,
        operation,
        namespace,
        now,
        api_version: None,
        bundle: None,
    };
    match endpoint {
        Endpoint::Validate => validate(policy, request, kind, &object, &ctx, summary),
        Endpoint::Mutate => mutate(policy, request, &object, &ctx, summary),
    }
}

/// The mutating webhook: the enabled mutations' JSON Patch, or in audit mode what they would
/// change, as warnings and audit annotations.
fn mutate(
    policy: &Policy,
    request: &Request,
    object: &Object,
    ctx: &Context,
    summary: &mut Summary,
) -> ResponseOut {
    let mutated = mutations::mutate(policy, object, ctx);
    let mut response = ResponseOut::allow(&request.uid);
    summary.mutations = mutated.changes.iter().map(|c| c.mutation).collect();
    summary.mutations.dedup();
    if mutated.changes.is_empty() {
        summary.decision = "allowed";
        return response;
    }
    let audit_mode = policy.mode == Mode::Audit;
    for change in &mutated.changes {
        let prefix = if audit_mode {
            "would mutate"
        } else {
            "mutated"
        };
        annotate(
            &mut response,
            change.mutation,
            prefix,
            &change.field,
            &change.message,
        );
    }
    if audit_mode {
        summary.decision = "would-mutate";
        let warnings = mutated
            .changes
            .iter()
            .map(|c| format!("[would mutate] [{}] {}", c.mutation, c.message))
            .collect();
        response.warnings = cap_warnings(warnings);
        return response;
    }
    match serde_json::to_vec(&mutated.patch) {
        Ok(patch) => {
            summary.decision = "mutated";
            response.patch = Some(base64::engine::general_purpose::STANDARD.encode(patch));
            response.patch_type = Some("JSONPatch");
        }
        // A patch of plain values always serializes; if it ever did not, admit unchanged.
        Err(_) => summary.decision = "allowed",
    }
    response
}

fn validate(
    policy: &Policy,
    request: &Request,
    kind: Kind,
    object: &Object,
    ctx: &Context,
    summary: &mut Summary,
) -> ResponseOut {
    let findings = evaluate(policy, object, ctx);
    // Ratcheting: on UPDATE, what the old object already broke does not block the change.
    let old_findings: Option<Vec<Finding>> = match ctx.operation {
        crate::engine::Operation::Update => request
            .old_object
            .filter(|r| r.get() != "null")
            .and_then(|raw| decode_object(kind, raw).ok())
            .map(|old| evaluate(policy, &old, ctx)),
        _ => None,
    };
    let verdict = decide(policy, findings, old_findings.as_deref());
    summary.rules = verdict.rule_ids();
    summary.findings = verdict
        .judged
        .iter()
        .map(|j| (j.finding.rule, j.action))
        .collect();
    summary.decision = if !verdict.allowed() {
        "denied"
    } else if verdict.judged.iter().any(|j| j.action >= Action::Warn) {
        "warned"
    } else {
        "allowed"
    };
    respond(&request.uid, object, &verdict)
}

/// Builds the response for a verdict: denials in the status message, warnings for the client,
/// audit annotations for the API server's audit log.
fn respond(uid: &str, object: &Object, verdict: &Verdict) -> ResponseOut {
    let mut response = ResponseOut::allow(uid);
    let audit_mode = verdict.mode == Mode::Audit;
    let mut warnings = Vec::new();
    for judged in &verdict.judged {
        let line = tagged(&judged.finding);
        match judged.action {
            Action::Deny if audit_mode => warnings.push(format!("[would deny] {line}")),
            Action::Warn => warnings.push(line),
            _ => {}
        }
        if audit_mode || judged.action == Action::Audit {
            let prefix = if audit_mode && judged.action == Action::Deny {
                "would deny"
            } else {
                judged.action.as_str()
            };
            let finding = &judged.finding;
            annotate(
                &mut response,
                finding.rule,
                prefix,
                &finding.field,
                &finding.message,
            );
        }
    }
    response.warnings = cap_warnings(warnings);
    if !verdict.allowed() {
        let denials: Vec<&Judged> = verdict.with_action(Action::Deny).collect();
        let mut message = format!(
            "{} {} breaks {} bulwark rule{}:",
            object.kind().name(),
            object.display_name(),
            denials.len(),
            if denials.len() == 1 { "" } else { "s" }
        );
        for judged in denials {
            let why = crate::engine::registry::rule(judged.finding.rule)
                .map(|r| r.why)
                .unwrap_or_default();
            let _ = write!(message, "\n{} (why: {why})", tagged(&judged.finding));
        }
        response.allowed = false;
        response.status = Some(StatusOut {
            code: 403,
            reason: "Forbidden",
            message,
        });
    }
    response
}

/// Adds `prefix: field: message` to the audit annotation `key` (a rule or mutation id),
/// after what that key already holds.
fn annotate(response: &mut ResponseOut, key: &str, prefix: &str, field: &str, message: &str) {
    let entry = response
        .audit_annotations
        .entry(key.to_string())
        .or_default();
    if !entry.is_empty() {
        entry.push_str("; ");
    }
    let _ = write!(entry, "{prefix}: {field}: {message}");
}

/// `[rule-id] message`.
fn tagged(finding: &Finding) -> String {
    format!("[{}] {}", finding.rule, finding.message)
}

/// Keeps each warning short and their total under what the API server passes on.
fn cap_warnings(warnings: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(warnings.len());
    let mut total = 0;
    let count = warnings.len();
    for (i, warning) in warnings.into_iter().enumerate() {
        let warning = truncate_chars(&warning, WARNING_MAX_CHARS);
        if total + warning.len() > WARNINGS_MAX_BYTES {
            out.push(format!(
                "[bulwark] {} more findings not shown; see the audit log or run bulwark check",
                count - i
            ));
            break;
        }
        total += warning.len();
        out.push(warning);
    }
    out
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn operation_name(op: &Operation) -> &'static str {
    match op {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}

fn name_of(object: &Object) -> Option<String> {
    object
        .meta()
        .name
        .clone()
        .or_else(|| object.meta().generate_name.clone())
}

/// Decodes the request's object as its kind. The error names the kind, the field path and what
/// was wrong, but never a value: the object may be a Secret (see `engine::decode`).
pub fn decode_object(kind: Kind, raw: &RawValue) -> Result<Object, String> {
    Object::decode_json(kind, raw.get()).map_err(|e| e.message(&kind.api_version(), kind.name()))
}

/// What is wrong with a body that is not a usable review, from the JSON error's category and
/// position only: serde's own message may quote a value of the body. A missing field is named,
/// since serde's wording for it holds only the schema's field name.
fn plain_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax => format!("not valid JSON (line {}, column {})", e.line(), e.column()),
        Category::Eof => "the JSON ends too early".to_string(),
        Category::Io => "it could not be read".to_string(),
        Category::Data => {
            let text = e.to_string();
            let field = text
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(field, _)| field)
                .filter(|f| {
                    f.len() <= 64 && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            match field {
                Some(field) => format!("missing field `{field}`"),
                None => "a field has the wrong type or value".to_string(),
            }
        }
    }
}

/// Where in the request a decode failed, for protocol errors (`at `operation`: ...`).
fn request_error(raw: &str, e: &serde_json::Error) -> String {
    let mut track = serde_path_to_error::Track::new();
    let mut de = serde_json::Deserializer::from_str(raw);
    let wrapped = serde_path_to_error::Deserializer::new(&mut de, &mut track);
    let _ = Request::deserialize(wrapped);
    match crate::engine::decode::show_path(&track.path()).as_str() {
        "" => plain_json_error(e),
        path => format!("at `{path}`: {}", plain_json_error(e)),
    }
}
