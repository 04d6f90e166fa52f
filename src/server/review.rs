//! The AdmissionReview wire format, and the one pure function from a request body to a
//! response body: decode, judge with the engine, encode.
//!
//! Nothing here is async or reads the clock; the handlers in `mod.rs` pass `now` in and log
//! the returned [`Summary`]. The response type is our own rather than kube-core's
//! `AdmissionResponse`, whose `patch` field is a `Vec<u8>` that serializes as an array of
//! numbers; the API server expects a base64 string.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kube::core::admission::Operation;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use base64::Engine as _;

use super::request::{Envelope, InOnePass, Request};
use crate::engine::admission::{self, Decision, Judged, Review, Target, admit};
use crate::engine::exemption::Exempted;
use crate::engine::{Action, Context, Finding, Kind, Mode, Object, Origin, Policy, RuleClass};

/// The review versions the API server may send.
pub const REVIEW_VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];

/// The API server cuts each warning at 256 characters...
const WARNING_MAX_CHARS: usize = 256;
/// ...and all the warnings of one request at 4 KiB of characters, for every webhook together.
/// bulwark's two webhooks both answer on the same request, so each keeps to its share.
const VALIDATE_WARNINGS_MAX_CHARS: usize = 2560;
const MUTATE_WARNINGS_MAX_CHARS: usize = 1536;
/// Room kept in each warning budget for the line that counts what was left out.
const OVERFLOW_NOTE_CHARS: usize = 80;
/// `status.message` lists denials up to this size, then counts the rest.
const MESSAGE_MAX_CHARS: usize = 32 * 1024;
/// One denial line in `status.message`.
const DENIAL_LINE_MAX_CHARS: usize = 1024;
/// One audit annotation value, and all of them together.
const ANNOTATION_MAX_BYTES: usize = 4 * 1024;
const ANNOTATIONS_MAX_BYTES: usize = 32 * 1024;
/// The largest JSON Patch bulwark answers with (before base64).
const PATCH_MAX_BYTES: usize = 128 * 1024;
/// A patch of more operations than this is over [`PATCH_MAX_BYTES`] (no operation is shorter
/// than `{"op":"remove","path":""}`, 25 bytes), so it is not built to the end.
const PATCH_MAX_OPS: usize = PATCH_MAX_BYTES / 25;
/// Names, namespaces and users as they appear in logs and messages.
const NAME_MAX_CHARS: usize = 256;
/// A request uid longer than this is not one the API server wrote.
const UID_MAX_BYTES: usize = 128;
/// Whatever the object, a response stays under this size: the sum of the budgets above.
pub const RESPONSE_MAX_BYTES: usize = 256 * 1024;

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
    /// Findings by rule and effective action, with their count, for metrics.
    pub findings: Vec<(&'static str, Action, u64)>,
    /// Of those, the denials that audit mode turned into warnings, by rule.
    pub would_deny: Vec<(&'static str, u64)>,
    /// The mutations that changed (or in audit mode would change) the object.
    pub mutations: Vec<&'static str>,
    /// The rules and mutations an exemption switched off where they found something.
    pub exempted: Vec<Exempted>,
    /// The owner kind that practice rules and mutations were left to.
    pub left_to: Option<Kind>,
}

/// The response body and its summary.
pub struct Outcome {
    pub body: Vec<u8>,
    pub summary: Summary,
}

// === wire types ===

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
    let (api_version, request) = match serde_json::from_slice::<Envelope<InOnePass>>(body) {
        Ok(envelope) => {
            let (api_version, InOnePass(request)) =
                envelope_parts(envelope.api_version, envelope.kind, envelope.request)?;
            (api_version, request)
        }
        Err(_) => read_request_apart(body)?,
    };
    if request.uid.is_empty() {
        return Err(ProtocolError(
            "the AdmissionReview request has an empty uid".into(),
        ));
    }
    if request.uid.len() > UID_MAX_BYTES {
        return Err(ProtocolError(format!(
            "the AdmissionReview request uid is longer than {UID_MAX_BYTES} bytes"
        )));
    }

    let mut summary = Summary {
        uid: request.uid.clone(),
        kind: bounded(&request.kind.kind),
        namespace: bounded(request.namespace.as_deref().unwrap_or_default()),
        name: bounded(request.name.as_deref().unwrap_or_default()),
        operation: operation_name(&request.operation).to_string(),
        user: bounded(
            request
                .user_info
                .as_ref()
                .and_then(|u| u.username.as_deref())
                .unwrap_or_default(),
        ),
        dry_run: request.dry_run.unwrap_or(false),
        decision: "skipped",
        ..Summary::default()
    };
    let response = judge(policy, request, endpoint, now, &mut summary);
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

/// The review's API version and its request, or why the body is not a usable review.
fn envelope_parts<R>(
    api_version: Option<String>,
    kind: Option<String>,
    request: Option<R>,
) -> Result<(String, R), ProtocolError> {
    let api_version = api_version.unwrap_or_default();
    if kind.as_deref() != Some("AdmissionReview")
        || !REVIEW_VERSIONS.contains(&api_version.as_str())
    {
        return Err(ProtocolError(format!(
            "the body is not an AdmissionReview: expected kind AdmissionReview with apiVersion {}, got kind {:?} apiVersion {:?}",
            REVIEW_VERSIONS.join(" or "),
            kind.unwrap_or_default(),
            api_version
        )));
    }
    let request =
        request.ok_or_else(|| ProtocolError("the AdmissionReview has no request".into()))?;
    Ok((api_version, request))
}

/// Reads a body that did not decode in one pass a part at a time, the envelope first and then
/// its request, so that the error says which part is at fault.
fn read_request_apart(body: &[u8]) -> Result<(String, Request<'_>), ProtocolError> {
    let envelope: Envelope<&RawValue> = serde_json::from_slice(body).map_err(|e| {
        ProtocolError(format!(
            "the body is not an AdmissionReview: {}",
            plain_json_error(&e)
        ))
    })?;
    let (api_version, raw_request) =
        envelope_parts(envelope.api_version, envelope.kind, envelope.request)?;
    let request: Request = serde_json::from_str(raw_request.get()).map_err(|e| {
        ProtocolError(format!(
            "the AdmissionReview request is malformed: {}",
            request_error(raw_request.get(), &e)
        ))
    })?;
    Ok((api_version, request))
}

/// Judges the request's object: `request.decoded` when it was decoded as the request was read,
/// else `request.object`, decoded here.
fn judge(
    policy: &Policy,
    request: Request,
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
    // Subresources the webhook configurations do not ask for (status, scale, ...) are not
    // judged; `pods/ephemeralcontainers` is.
    let Some(target) = Target::of(kind, request.sub_resource.as_deref()) else {
        return ResponseOut::allow(uid);
    };
    let decoded = match (
        request.decoded,
        request.object.filter(|r| r.get() != "null"),
    ) {
        (Some(object), _) => Ok(object),
        (None, Some(raw)) => decode_object(kind, raw),
        (None, None) => return ResponseOut::allow(uid),
    };
    let object = match decoded {
        Ok(object) => object,
        Err(message) => {
            summary.decision = "invalid";
            let mut response = ResponseOut::allow(uid);
            response.allowed = false;
            response.status = Some(StatusOut {
                code: 400,
                reason: "BadRequest",
                message: truncate_chars(&message, MESSAGE_MAX_CHARS),
            });
            return response;
        }
    };
    if summary.name.is_empty()
        && let Some(name) = name_of(&object)
    {
        summary.name = bounded(&name);
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
    // The old object is decoded only if ratcheting asks for it.
    let old_raw = request.old_object.filter(|r| r.get() != "null");
    let decode_old = || old_raw.and_then(|raw| decode_object(kind, raw).ok());
    let review = Review {
        object: &object,
        old: (operation == crate::engine::Operation::Update && old_raw.is_some())
            .then_some(&decode_old as &dyn Fn() -> Option<Object>),
        target,
    };
    match endpoint {
        Endpoint::Validate => validate(policy, &review, &ctx, uid, summary),
        Endpoint::Mutate => mutate(policy, &review, &ctx, uid, summary),
    }
}

/// The mutating webhook: the enabled mutations' JSON Patch, each change announced as a short
/// warning, or in audit mode what they would change, as warnings and audit annotations.
fn mutate(
    policy: &Policy,
    review: &Review,
    ctx: &Context,
    uid: &str,
    summary: &mut Summary,
) -> ResponseOut {
    let mutated = admission::mutate_within(policy, review, ctx, PATCH_MAX_OPS);
    let mut response = ResponseOut::allow(uid);
    let mut annotations = Annotations::default();
    summary.mutations = mutated.changes.iter().map(|c| c.mutation).collect();
    summary.mutations.dedup();
    summary.exempted = mutated.exempted.clone();
    summary.left_to = mutated.left_to;
    record_exemptions(&mut annotations, &mutated.exempted, mutated.left_to);
    if mutated.changes.is_empty() {
        summary.decision = "allowed";
        response.audit_annotations = annotations.into_map();
        return response;
    }
    let audit_mode = policy.mode == Mode::Audit;
    let prefix = if audit_mode {
        "would mutate"
    } else {
        "mutated"
    };
    let mut warnings = Warnings::new(MUTATE_WARNINGS_MAX_CHARS);
    for change in &mutated.changes {
        annotations.add(change.mutation, prefix, &change.field, &change.message);
        warnings.push(format!(
            "[{prefix}] [{}] {}",
            change.mutation, change.message
        ));
    }
    response.audit_annotations = annotations.into_map();
    response.warnings = warnings.finish();
    if audit_mode {
        summary.decision = "would-mutate";
        return response;
    }
    // An answer the API server would choke on helps no one: admit unchanged and say so (the
    // validating webhook still judges the object).
    let too_large = |mut response: ResponseOut, summary: &mut Summary, need: String| {
        summary.decision = "patch-too-large";
        response.warnings = vec![format!(
            "[bulwark] the defaults for this object need {need}, over the {} KiB bulwark answers with; it was admitted unchanged",
            PATCH_MAX_BYTES / 1024
        )];
        response
    };
    if mutated.too_large {
        let need = format!("a patch of over {PATCH_MAX_OPS} operations");
        return too_large(response, summary, need);
    }
    let patch = match serde_json::to_vec(&mutated.patch) {
        Ok(patch) => patch,
        // A patch of plain values always serializes; if it ever did not, admit unchanged.
        Err(_) => {
            summary.decision = "allowed";
            return response;
        }
    };
    if patch.len() > PATCH_MAX_BYTES {
        let need = format!("a {} KiB patch", patch.len() / 1024);
        return too_large(response, summary, need);
    }
    summary.decision = "mutated";
    response.patch = Some(base64::engine::general_purpose::STANDARD.encode(patch));
    response.patch_type = Some("JSONPatch");
    response
}

fn validate(
    policy: &Policy,
    review: &Review,
    ctx: &Context,
    uid: &str,
    summary: &mut Summary,
) -> ResponseOut {
    let decision = admit(policy, review, ctx);
    summary.rules = decision.rule_ids();
    summary.findings = count_findings(&decision);
    summary.would_deny = count_would_deny(&decision);
    summary.exempted = decision.exempted.clone();
    summary.left_to = decision.left_to;
    summary.decision = if !decision.allowed() {
        "denied"
    } else if decision.judged.iter().any(|j| j.action >= Action::Warn) {
        "warned"
    } else {
        "allowed"
    };
    respond(uid, review.object, &decision, &policy.exemptions.annotation)
}

/// Findings by rule and effective action, for metrics: one entry per pair, however many
/// findings there are.
fn count_findings(decision: &Decision) -> Vec<(&'static str, Action, u64)> {
    let mut counts: Vec<(&'static str, Action, u64)> = Vec::new();
    for j in &decision.judged {
        match counts
            .iter_mut()
            .find(|(rule, action, _)| *rule == j.finding.rule && *action == j.action)
        {
            Some(entry) => entry.2 += 1,
            None => counts.push((j.finding.rule, j.action, 1)),
        }
    }
    counts
}

/// Would-be denials by rule, for the metric an audit-first rollout watches.
fn count_would_deny(decision: &Decision) -> Vec<(&'static str, u64)> {
    let mut counts: Vec<(&'static str, u64)> = Vec::new();
    for j in decision.judged.iter().filter(|j| j.would_deny) {
        match counts.iter_mut().find(|(rule, _)| *rule == j.finding.rule) {
            Some(entry) => entry.1 += 1,
            None => counts.push((j.finding.rule, 1)),
        }
    }
    counts
}

/// Builds the response for a decision: denials in the status message, warnings for the
/// client, audit annotations for the API server's audit log, each within its budget.
fn respond(uid: &str, object: &Object, decision: &Decision, annotation_key: &str) -> ResponseOut {
    let mut response = ResponseOut::allow(uid);
    let audit_mode = decision.mode == Mode::Audit;
    let mut warnings = Warnings::new(VALIDATE_WARNINGS_MAX_CHARS);
    let mut annotations = Annotations::default();
    for id in &decision.refused {
        warnings.push(format!(
            "[bulwark] the {annotation_key} annotation cannot exempt security rule {id}; an administrator can, in the policy file (exemptions.objects)"
        ));
    }
    for judged in &decision.judged {
        let finding = &judged.finding;
        if judged.action == Action::Warn {
            let mut line = tagged(finding);
            if judged.would_deny {
                line = format!("[would deny] {line}");
            } else if judged.ratcheted {
                line.push_str(if judged.class == RuleClass::Security && object.kind() != Kind::Pod {
                    " (allowed because the old object had it too; new Pods will be denied until it is fixed)"
                } else {
                    " (allowed because the old object had it too)"
                });
            }
            warnings.push(line);
        }
        if audit_mode || judged.action == Action::Audit {
            let prefix = if judged.would_deny {
                "would deny"
            } else {
                judged.action.as_str()
            };
            annotations.add(finding.rule, prefix, &finding.field, &finding.message);
        }
    }
    record_exemptions(&mut annotations, &decision.exempted, decision.left_to);
    response.warnings = warnings.finish();
    response.audit_annotations = annotations.into_map();
    if !decision.allowed() {
        response.allowed = false;
        response.status = Some(StatusOut {
            code: 403,
            reason: "Forbidden",
            message: denial_message(object, decision),
        });
    }
    response
}

/// `Kind ns/name breaks N bulwark rules:` and one line per denying finding with its reason,
/// the first ones in full and the rest counted, so the message stays bounded.
fn denial_message(object: &Object, decision: &Decision) -> String {
    let denials: Vec<&Judged> = decision.with_action(Action::Deny).collect();
    let mut message = format!(
        "{} {} breaks {} bulwark rule{}:",
        object.kind().name(),
        truncate_chars(&object.display_name(), NAME_MAX_CHARS),
        denials.len(),
        if denials.len() == 1 { "" } else { "s" }
    );
    for (i, judged) in denials.iter().enumerate() {
        let why = crate::engine::registry::rule(judged.finding.rule)
            .map(|r| r.why)
            .unwrap_or_default();
        let line = truncate_chars(
            &format!("{} (why: {why})", tagged(&judged.finding)),
            DENIAL_LINE_MAX_CHARS,
        );
        if message.len() + line.len() + 1 > MESSAGE_MAX_CHARS {
            let _ = write!(
                message,
                "\n... and {} more; the bulwark log lists them, and `bulwark check` on the manifest shows them all",
                denials.len() - i
            );
            break;
        }
        message.push('\n');
        message.push_str(&line);
    }
    message
}

/// Records in the audit annotations what was exempted (and by what) and what was left to the
/// object's owner.
fn record_exemptions(annotations: &mut Annotations, exempted: &[Exempted], left_to: Option<Kind>) {
    if !exempted.is_empty() {
        let list = exempted
            .iter()
            .map(|e| format!("{} ({})", e.id, e.by.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        annotations.set("exempted", list);
    }
    if let Some(owner) = left_to {
        annotations.set(
            "left-to-owner",
            format!(
                "practice rules and mutations are left to the owning {}, whose template was judged",
                owner.name()
            ),
        );
    }
}

/// The audit annotations of one response: one value per key (a rule or mutation id), each
/// and all of them within a budget.
#[derive(Default)]
struct Annotations {
    map: BTreeMap<String, String>,
    total: usize,
    dropped: usize,
}

impl Annotations {
    /// Adds `prefix: field: message` to the value of `key`, after what it already holds.
    fn add(&mut self, key: &str, prefix: &str, field: &str, message: &str) {
        let entry = format!("{prefix}: {field}: {message}");
        let current = self.map.get(key).map_or(0, String::len);
        let sep = if current == 0 { 0 } else { 2 };
        if current + sep + entry.len() > ANNOTATION_MAX_BYTES
            || self.total + sep + entry.len() + key.len() > ANNOTATIONS_MAX_BYTES
        {
            self.dropped += 1;
            return;
        }
        let value = self.map.entry(key.to_string()).or_default();
        if !value.is_empty() {
            value.push_str("; ");
        }
        value.push_str(&entry);
        self.total += sep + entry.len() + if current == 0 { key.len() } else { 0 };
    }

    /// Sets `key` to `value` (cut to the per-value budget).
    fn set(&mut self, key: &str, value: String) {
        let value = truncate_chars(&value, ANNOTATION_MAX_BYTES / 4);
        self.total += key.len() + value.len();
        self.map.insert(key.to_string(), value);
    }

    fn into_map(mut self) -> BTreeMap<String, String> {
        if self.dropped > 0 {
            self.map.insert(
                "truncated".to_string(),
                format!(
                    "{} more entries are in the bulwark log; run bulwark check on the object to see them all",
                    self.dropped
                ),
            );
        }
        self.map
    }
}

/// `[rule-id] message`.
fn tagged(finding: &Finding) -> String {
    format!("[{}] {}", finding.rule, finding.message)
}

/// The warnings of one response: each at most [`WARNING_MAX_CHARS`] characters, all within
/// the endpoint's share of what the API server passes on.
struct Warnings {
    out: Vec<String>,
    total: usize,
    budget: usize,
    dropped: usize,
}

impl Warnings {
    fn new(budget: usize) -> Warnings {
        Warnings {
            out: Vec::new(),
            total: 0,
            budget,
            dropped: 0,
        }
    }

    fn push(&mut self, warning: String) {
        if self.dropped > 0 {
            self.dropped += 1;
            return;
        }
        let warning = truncate_chars(&warning, WARNING_MAX_CHARS);
        let chars = warning.chars().count();
        // Keep room for the line that counts what was left out.
        if self.total + chars + OVERFLOW_NOTE_CHARS > self.budget {
            self.dropped = 1;
            return;
        }
        self.total += chars;
        self.out.push(warning);
    }

    fn finish(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.out.push(format!(
                "[bulwark] {} more not shown; see the audit log or run bulwark check",
                self.dropped
            ));
        }
        self.out
    }
}

/// `s` cut to at most `max` characters, the last of them an ellipsis when it was cut.
fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if s[i..].chars().nth(1).is_some() => format!("{}…", &s[..i]),
        _ => s.to_string(),
    }
}

/// A requester-chosen name, cut for logs and messages.
fn bounded(s: &str) -> String {
    truncate_chars(s, NAME_MAX_CHARS)
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

/// Decodes the request's object as its kind, leaving its `managedFields` unread (the webhook
/// answers with a patch, never with the object). The error names the kind, the field path and
/// what was wrong, but never a value: the object may be a Secret (see `engine::decode`).
pub fn decode_object(kind: Kind, raw: &RawValue) -> Result<Object, String> {
    Object::decode_json_unread(kind, raw.get())
        .map_err(|e| e.message(&kind.api_version(), kind.name()))
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
