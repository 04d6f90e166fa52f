# Sourced by run.sh: load the shared corpus into the API server in audit mode, then run
# `bulwark audit` against it and check the PolicyReports it writes.
# Uses k/has/pass/fail and $KOUT/$KRC from run.sh.

corpus="$root/../shared/corpus"
cp "$here/policy-audit.yaml" "$policy"
for _ in $(seq 50); do
  k -n demo create --dry-run=server -f "$here/manifests/bad-deployment.yaml"
  [ $KRC = 0 ] && break; sleep 0.2
done
for ns in corpus cpu-example mem-example pod-resources-example qos-example; do
  "$KUBECTL" create namespace "$ns" >/dev/null 2>&1
done
stored=0; refused=0
while IFS= read -r file; do
  # Each file on its own: some hold kinds this API server does not serve.
  if "$KUBECTL" apply -n corpus -f "$file" >> "$out/corpus-load.log" 2>&1; then stored=$((stored + 1)); else refused=$((refused + 1)); fi
done < <(find "$corpus" -name '*.yaml' -o -name '*.json' | sort)
echo "corpus: $stored files stored, $refused not (kinds this API server does not serve, or invalid)" | tee -a "$transcript"
[ "$stored" -gt 150 ] && pass "corpus loaded in audit mode ($stored files)" || fail "only $stored corpus files stored"
cp "$here/policy-enforce.yaml" "$policy"

audit_run() {
  "$BULWARK" audit --kubeconfig "$KUBECONFIG" --policy "$here/policy-enforce.yaml" --policy-reports --output json > "$out/audit-$1.json" 2> "$out/audit-$1.err"
}
t0=$(date +%s.%N)
audit_run 1; audit_rc=$?
t1=$(date +%s.%N)
echo "bulwark audit (first run): exit $audit_rc, $(python3 -c "print(round($t1 - $t0, 2))")s; $(cat "$out/audit-1.err")" | tee -a "$transcript"
python3 - "$out/audit-1.json" >> "$transcript" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("audit summary:", json.dumps(r["summary"]))
PY
[ $audit_rc = 0 ] && pass "bulwark audit ran against the API server" || fail "bulwark audit exit $audit_rc: $(cat "$out/audit-1.err")"

k get policyreports -A -o json
echo "$KOUT" > "$out/policyreports-1.json"
k get clusterpolicyreports -o json
echo "$KOUT" > "$out/clusterpolicyreports-1.json"
k get policyreports -A
python3 - "$out/audit-1.json" "$out/policyreports-1.json" "$out/clusterpolicyreports-1.json" <<'PY' && pass "one PolicyReport per namespace, matching the audit, and a ClusterPolicyReport" || fail "PolicyReports do not match the audit (see $out)"
import collections, json, sys
audit = json.load(open(sys.argv[1]))
reports = json.load(open(sys.argv[2]))["items"]
cluster = json.load(open(sys.argv[3]))["items"]
deny = collections.Counter(f["object"].get("namespace") for f in audit["findings"] if f["action"] == "deny")
warn = collections.Counter(f["object"].get("namespace") for f in audit["findings"] if f["action"] != "deny")
namespaces = {o.get("namespace") for o in audit["objects"] if o.get("namespace")}
by_ns = {r["metadata"]["namespace"]: r for r in reports if r["metadata"]["name"] == "bulwark-audit"}
assert set(by_ns) == namespaces, (sorted(by_ns), sorted(namespaces))
for ns, r in by_ns.items():
    assert r["summary"]["fail"] == deny[ns], (ns, r["summary"], deny[ns])
    assert r["summary"]["warn"] == warn[ns], (ns, r["summary"], warn[ns])
    assert len(r.get("results", [])) <= 500
    assert r["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "bulwark"
assert by_ns["corpus"]["summary"]["fail"] > 50, by_ns["corpus"]["summary"]
assert [c["metadata"]["name"] for c in cluster] == ["bulwark-audit"], cluster
print("policy reports:", {ns: r["summary"] for ns, r in sorted(by_ns.items())})
PY

# A second run updates the same reports in place.
audit_run 2
k get policyreports -A -o json
echo "$KOUT" > "$out/policyreports-2.json"
python3 - "$out/policyreports-1.json" "$out/policyreports-2.json" <<'PY' && pass "a second audit updates the reports in place" || fail "second audit: reports not updated in place"
import json, sys
a = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in json.load(open(sys.argv[1]))["items"]}
b = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in json.load(open(sys.argv[2]))["items"]}
assert a.keys() == b.keys(), (sorted(a), sorted(b))
for key in a:
    assert a[key]["metadata"]["uid"] == b[key]["metadata"]["uid"], key
PY
