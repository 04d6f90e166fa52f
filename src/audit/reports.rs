//! Writing policy reports: server-side apply under the field manager `bulwark`, so each run
//! replaces its own reports in place; a namespace that had a report and no longer has objects
//! gets an empty one.

use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;

use super::policy_report::{self, REPORT_NAME, Rendered, ReportApi};

fn resource(api: ReportApi, namespaced: bool) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api.group(), api.version(), api.kind(namespaced)),
        api.plural(namespaced),
    )
}

/// Applies `rendered` in `api`, first adding empty reports for namespaces (within `namespace`,
/// if given) that have a bulwark report from an earlier run but nothing now. Returns how many
/// it wrote.
pub async fn write(
    client: &kube::Client,
    api: ReportApi,
    mut rendered: Vec<Rendered>,
    namespace: Option<&str>,
    now: i64,
) -> anyhow::Result<usize> {
    let namespaced = resource(api, true);
    let cluster = resource(api, false);
    let existing: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &namespaced),
        None => Api::all_with(client.clone(), &namespaced),
    };
    let listed = existing
        .list(&ListParams::default().labels(&policy_report::managed_selector()))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot list {} {} (are the CRDs of deploy/crds installed?): {e}",
                api.api_version(),
                api.plural(true)
            )
        })?;
    for old in listed.items {
        let ns = old.metadata.namespace.clone();
        if old.metadata.name.as_deref() == Some(REPORT_NAME)
            && !rendered.iter().any(|r| r.namespace == ns)
        {
            rendered.push(policy_report::empty(api, ns.as_deref(), now));
        }
    }
    let params = PatchParams::apply("bulwark").force();
    for report in &rendered {
        let target: Api<DynamicObject> = match &report.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &namespaced),
            None => Api::all_with(client.clone(), &cluster),
        };
        target
            .patch(REPORT_NAME, &params, &Patch::Apply(&report.body))
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot write the {} in {}: {e}",
                    api.kind(report.namespace.is_some()),
                    report.namespace.as_deref().unwrap_or("the cluster scope")
                )
            })?;
    }
    Ok(rendered.len())
}
