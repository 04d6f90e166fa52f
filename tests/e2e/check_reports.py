"""Checks the policy reports `bulwark audit --policy-reports` wrote against its JSON report:
one report named bulwark-audit per namespace that has objects, with the audit's deny findings
as `fail` and the rest as `warn`, at most 500 results, and one cluster-wide report.

    python3 check_reports.py AUDIT.json NAMESPACED.json CLUSTER.json wgpolicyk8s|openreports
"""
import collections
import json
import sys

audit_file, namespaced_file, cluster_file, api = sys.argv[1:5]
KINDS = {
    "wgpolicyk8s": ("wgpolicyk8s.io/v1alpha2", "PolicyReport", "ClusterPolicyReport"),
    "openreports": ("openreports.io/v1alpha1", "Report", "ClusterReport"),
}
api_version, kind, cluster_kind = KINDS[api]
audit = json.load(open(audit_file))
reports = json.load(open(namespaced_file))["items"]
cluster = json.load(open(cluster_file))["items"]
deny = collections.Counter(f["object"].get("namespace") for f in audit["findings"] if f["action"] == "deny")
warn = collections.Counter(f["object"].get("namespace") for f in audit["findings"] if f["action"] != "deny")
namespaces = {o.get("namespace") for o in audit["objects"] if o.get("namespace")}
by_ns = {r["metadata"]["namespace"]: r for r in reports if r["metadata"]["name"] == "bulwark-audit"}
assert set(by_ns) == namespaces, (sorted(by_ns), sorted(namespaces))
for ns, r in by_ns.items():
    assert (r["apiVersion"], r["kind"]) == (api_version, kind), (r["apiVersion"], r["kind"])
    assert r["summary"]["fail"] == deny[ns], (ns, r["summary"], deny[ns])
    assert r["summary"]["warn"] == warn[ns], (ns, r["summary"], warn[ns])
    assert len(r.get("results", [])) <= 500
    omitted = int(r["metadata"].get("annotations", {}).get("bulwark.dev/results-omitted", "0"))
    assert len(r.get("results", [])) + omitted == deny[ns] + warn[ns], (ns, omitted)
    assert r["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "bulwark"
    if api == "openreports":
        assert r["source"] == "bulwark", r.get("source")
        assert r["configuration"]["limits"]["maxResults"] == 500, r.get("configuration")
assert by_ns["corpus"]["summary"]["fail"] > 50, by_ns["corpus"]["summary"]
assert [(c["kind"], c["metadata"]["name"]) for c in cluster] == [(cluster_kind, "bulwark-audit")], cluster
print(f"{api} reports:", {ns: r["summary"] for ns, r in sorted(by_ns.items())})
