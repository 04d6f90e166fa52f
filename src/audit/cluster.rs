//! Reading a live cluster: every kind bulwark judges, listed page by page.
//!
//! The only I/O of the audit besides writing PolicyReports. Objects come back as the JSON the
//! API server sent, to be decoded by the same `Object` decoder the webhook uses.

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

use crate::engine::Kind;

/// Objects per list request; the API server splits larger results into pages.
const PAGE_SIZE: u32 = 250;

/// One object listed from the cluster.
#[derive(Debug)]
pub struct Listed {
    pub kind: Kind,
    pub raw: Value,
}

/// A kind that could not be listed (not served, forbidden, ...), with the reason.
#[derive(Debug)]
pub struct ListError {
    pub kind: Kind,
    pub message: String,
}

/// The API resource of a kind, for dynamic requests.
pub fn api_resource(kind: Kind) -> ApiResource {
    let gvk = GroupVersionKind::gvk(kind.group(), kind.version(), kind.name());
    ApiResource::from_gvk_with_plural(&gvk, kind.plural())
}

/// Lists every object of `kind` (in `namespace`, or everywhere), following continue tokens.
/// `on_page` is told how many objects each page brought.
pub async fn list_kind(
    client: &kube::Client,
    kind: Kind,
    namespace: Option<&str>,
    mut on_page: impl FnMut(usize),
) -> Result<Vec<Listed>, ListError> {
    let resource = api_resource(kind);
    let api: Api<DynamicObject> = match (namespace, kind.is_cluster_scoped()) {
        (Some(ns), false) => Api::namespaced_with(client.clone(), ns, &resource),
        // A namespace filter leaves cluster-scoped kinds out.
        (Some(_), true) => return Ok(Vec::new()),
        (None, _) => Api::all_with(client.clone(), &resource),
    };
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let page = api.list(&params).await.map_err(|e| ListError {
            kind,
            message: e.to_string(),
        })?;
        on_page(page.items.len());
        for item in page.items {
            let mut raw = serde_json::to_value(&item).unwrap_or(Value::Null);
            // List items carry no type information; put it back for reports and decoding.
            raw["apiVersion"] = Value::String(kind.api_version());
            raw["kind"] = Value::String(kind.name().to_string());
            out.push(Listed { kind, raw });
        }
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    Ok(out)
}
