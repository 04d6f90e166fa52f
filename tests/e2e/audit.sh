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
# Canary secret values in an env literal, a ConfigMap and a Secret: no audit output may hold
# any of them (checked at the end).
canary_env=Kumquat-Zeppelin-7731
canary_cm=Quagga-Mandolin-5520
canary_secret=Ocelot-Harpsichord-1184
"$KUBECTL" -n demo apply -f - >> "$out/corpus-load.log" 2>&1 <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: canary, labels: {app.kubernetes.io/name: canary}}
spec:
  replicas: 1
  selector: {matchLabels: {app: canary}}
  template:
    metadata: {labels: {app: canary}}
    spec:
      containers:
      - name: canary
        image: registry.example/canary:1.0
        env: [{name: DB_PASSWORD, value: $canary_env}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: canary, labels: {app.kubernetes.io/name: canary}}
data: {DB_PASSWORD: $canary_cm}
---
apiVersion: v1
kind: Secret
metadata: {name: canary, labels: {app.kubernetes.io/name: canary}}
type: kubernetes.io/dockerconfigjson
stringData: {.dockerconfigjson: '{"auths": {"r.example": {"auth": "$canary_secret"}}}'}
YAML
k -n demo get deployment,configmap,secret canary
[ $KRC = 0 ] && pass "canary objects stored (audit mode)" || fail "canary objects: $KOUT"
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
python3 "$here/check_reports.py" "$out/audit-1.json" "$out/policyreports-1.json" "$out/clusterpolicyreports-1.json" wgpolicyk8s >> "$transcript" \
  && pass "one PolicyReport per namespace, matching the audit, and a ClusterPolicyReport" || fail "PolicyReports do not match the audit (see $out)"

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

# --- OpenReports: the same audit in the openreports.io API, updated in place.
k apply -f "$root/deploy/crds/openreports.yaml"
for _ in $(seq 50); do k get reports -A; [ $KRC = 0 ] && break; sleep 0.2; done
open_run() {
  "$BULWARK" audit --kubeconfig "$KUBECONFIG" --policy "$here/policy-enforce.yaml" --policy-reports \
    --report-api openreports --output json > "$out/audit-open-$1.json" 2> "$out/audit-open-$1.err"
}
open_run 1; open_rc=$?
echo "bulwark audit --report-api openreports (first run): exit $open_rc; $(cat "$out/audit-open-1.err")" | tee -a "$transcript"
[ $open_rc = 0 ] && has "$(cat "$out/audit-open-1.err")" "openreports.io/v1alpha1" && pass "bulwark audit wrote OpenReports" || fail "audit --report-api openreports exit $open_rc: $(cat "$out/audit-open-1.err")"
k get reports -A -o json
echo "$KOUT" > "$out/openreports-1.json"
k get clusterreports -o json
echo "$KOUT" > "$out/clusterreports-1.json"
python3 "$here/check_reports.py" "$out/audit-open-1.json" "$out/openreports-1.json" "$out/clusterreports-1.json" openreports >> "$transcript" \
  && pass "one Report per namespace, matching the audit, and a ClusterReport" || fail "OpenReports do not match the audit (see $out)"
k get reports -A
echo "$KOUT" > "$out/openreports-table-1.txt"
header=$(echo "$KOUT" | head -1)
if [ $KRC = 0 ] && echo "$header" | grep -Eq '^NAMESPACE +NAME +PASS +FAIL +WARN +ERROR +SKIP +AGE' && echo "$KOUT" | grep -Eq '^corpus +bulwark-audit +[0-9]+ +[0-9]+ +[0-9]+ +0 +0 '; then
  pass "kubectl get reports -A lists them with the summary columns"
else fail "kubectl get reports -A: $KOUT"; fi
k get clusterreports
echo "$KOUT" | head -1 | grep -Eq '^NAME +PASS +FAIL +WARN +ERROR +SKIP +AGE' && pass "kubectl get clusterreports shows the summary columns" || fail "kubectl get clusterreports: $KOUT"

# A warn-level object between two runs (a NodePort Service that selects nothing, which the
# mutating webhook cannot fix): the demo Report changes in place (same uid, new counts).
k -n demo create service nodeport openreports-probe --tcp=80:8080
open_run 2
k get reports -A -o json
echo "$KOUT" > "$out/openreports-2.json"
python3 - "$out/openreports-1.json" "$out/openreports-2.json" "$out/audit-open-2.json" <<'PY' && pass "a second audit updates the OpenReports in place" || fail "second audit: OpenReports not updated in place"
import json, sys
a = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in json.load(open(sys.argv[1]))["items"]}
b = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in json.load(open(sys.argv[2]))["items"]}
audit = json.load(open(sys.argv[3]))
assert a.keys() == b.keys(), (sorted(a), sorted(b))
for key in a:
    assert a[key]["metadata"]["uid"] == b[key]["metadata"]["uid"], key
demo = ("demo", "bulwark-audit")
probe = [f for f in audit["findings"] if f["object"]["name"] == "openreports-probe"]
assert probe, "the new ConfigMap has findings"
total = lambda s: s["fail"] + s["warn"]
assert total(b[demo]["summary"]) == total(a[demo]["summary"]) + len(probe), (a[demo]["summary"], b[demo]["summary"], len(probe))
assert b[demo]["metadata"]["resourceVersion"] != a[demo]["metadata"]["resourceVersion"]
assert any(r["resources"][0]["name"] == "openreports-probe" for r in b[demo]["results"])
PY
k -n demo delete service openreports-probe

# --- The HTML report of the audit, with the same counts as its JSON report.
"$BULWARK" audit --kubeconfig "$KUBECONFIG" --policy "$here/policy-enforce.yaml" --output html --out "$out/audit.html" 2> "$out/audit-html.err"; html_rc=$?
"$BULWARK" audit --kubeconfig "$KUBECONFIG" --policy "$here/policy-enforce.yaml" --output json > "$out/audit-html.json" 2>> "$out/audit-html.err"
echo "bulwark audit --output html: exit $html_rc, $(wc -c < "$out/audit.html") bytes in $out/audit.html" | tee -a "$transcript"
python3 - "$out/audit.html" "$out/audit-html.json" <<'PY' && pass "audit HTML report written, counts match the JSON report" || fail "audit HTML report (see $out/audit.html)"
import json, re, sys
html = open(sys.argv[1]).read()
report = json.load(open(sys.argv[2]))
assert html.startswith("<!DOCTYPE html>")
assert "bulwark audit report" in html and "all namespaces" in html
for key in ["objects", "deny", "warn", "audit", "errors"]:
    shown = int(re.search(r'id="count-%s">(\d+)<' % key, html).group(1))
    assert shown == report["summary"][key], (key, shown, report["summary"][key])
data = re.search(r'<script type="application/json" id="bulwark-data">(.*?)</script>', html, re.S).group(1)
assert len(json.loads(data)["findings"]) == len(report["findings"])
assert "Findings per namespace" in html and re.search(r'id="score">\d+\.\d%<', html)
PY

# --- Progress: on a terminal (script gives the audit one), and never with NO_COLOR or --quiet.
# tty_audit ENV ARGS: the audit with stderr on a pseudo-terminal; prints what it drew there.
tty_audit() {
  script -qec "env $1 '$BULWARK' audit $2 --kubeconfig '$KUBECONFIG' --policy '$here/policy-enforce.yaml' > /dev/null" /dev/null 2>&1 \
    | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g'
}
tty_out=$(tty_audit "" "")
echo "audit progress on a terminal:"$'\n'"$tty_out" | grep -v '^\s*$' | tail -20 >> "$transcript"
if has "$tty_out" "listed " && echo "$tty_out" | grep -Eq '^  deployments +[0-9]+ listed +[0-9]+ judged +[0-9]+ findings'; then
  pass "audit shows progress per kind on a terminal"
else fail "no progress on a terminal: $tty_out"; fi
quiet_out=$(tty_audit NO_COLOR=1 ""; tty_audit "" --quiet)
if ! has "$quiet_out" "listed" && ! has "$(cat "$out/audit-1.err" "$out/audit-html.err")" "listed"; then
  pass "no progress with NO_COLOR, --quiet, or stderr not a terminal"
else fail "progress where there should be none: $quiet_out"; fi

# --- No canary secret value in any audit output or report.
leaks=""
for value in "$canary_env" "$canary_cm" "$canary_secret" "$(printf %s "$canary_secret" | base64 -w0)"; do
  for file in "$out"/audit-*.json "$out"/audit.html "$out"/policyreports-*.json "$out"/openreports-*.json "$out"/clusterreports-*.json; do
    grep -qF "$value" "$file" && leaks="$leaks $file:$value"
  done
done
grep -q "env-secret-literal" "$out/audit.html" && grep -q "configmap-no-secrets" "$out/audit.html" && [ -z "$leaks" ] \
  && pass "the canaries are reported and no output holds a canary value" || fail "canary values leaked:$leaks"
