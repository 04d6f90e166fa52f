# Sourced by run.sh: what no object can talk its way past, and what must not stall a rollout,
# through the API server. Uses k/has/pass/fail, $KOUT/$KRC, $policy, $here, $RUN, $out from
# run.sh, and ends with the enforce policy in place.
m="$here/manifests/soundness"
admit="$K8S_BENCH_CACHE/bin/k8s-admit"

wait_mode() { # wait_mode audit|enforce: until the reloaded policy answers as that mode
  for _ in $(seq 50); do
    k -n demo create --dry-run=server -f "$here/manifests/bad-deployment.yaml"
    if [ "$1" = audit ] && [ $KRC = 0 ]; then return; fi
    if [ "$1" = enforce ] && [ $KRC != 0 ]; then return; fi
    sleep 0.2
  done
}

# --- a legacy Deployment: created in audit mode, changed under enforce, its ReplicaSets stored
cp "$here/policy-audit.yaml" "$policy"; wait_mode audit
k -n demo apply -f "$m/legacy-deployment.yaml"
[ $KRC = 0 ] && has "$KOUT" "[would deny] [image-tag-pinned]" && pass "legacy Deployment stored in audit mode" || fail "legacy in audit mode: $KOUT"
cp "$here/policy-enforce.yaml" "$policy"; wait_mode enforce

k -n demo patch deployment legacy --type merge -p '{"spec":{"replicas":3}}'
if [ $KRC = 0 ] && has "$KOUT" "[image-tag-pinned]" && has "$KOUT" "old object had it too"; then
  pass "scaling the legacy Deployment under enforce is allowed, its old findings ratcheted to warnings"
else fail "scale legacy: $KOUT"; fi
k -n demo set image deployment/legacy app=registry.example.com/legacy/app:latest
[ $KRC = 0 ] && pass "a new (still mutable) image for the legacy Deployment is allowed by ratcheting" || fail "set image legacy: $KOUT"

# The bench runs no controllers: create the ReplicaSet as the Deployment controller would, from
# the stored template, with a controller reference to the Deployment.
k -n demo get deployment legacy -o json
echo "$KOUT" > "$RUN/legacy.json"
python3 - "$RUN/legacy.json" "$RUN" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
template = d["spec"]["template"]
owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy", "uid": d["metadata"]["uid"],
         "controller": True, "blockOwnerDeletion": True}
labels = dict(template["metadata"].get("labels", {}), **{"pod-template-hash": "5c8f7d"})
rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
      "metadata": {"name": "legacy-5c8f7d", "labels": labels, "ownerReferences": [owner]},
      "spec": {"replicas": 3, "selector": {"matchLabels": labels},
               "template": {"metadata": {"labels": labels}, "spec": template["spec"]}}}
json.dump(rs, open(sys.argv[2] + "/legacy-rs.json", "w"))
unowned = json.loads(json.dumps(rs)); unowned["metadata"]["name"] = "legacy-unowned"; del unowned["metadata"]["ownerReferences"]
json.dump(unowned, open(sys.argv[2] + "/legacy-rs-unowned.json", "w"))
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "legacy-5c8f7d-q2w9x", "labels": labels,
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "legacy-5c8f7d",
                                         "uid": "0b8e6c1a-0000-4000-8000-000000000002", "controller": True}]},
       "spec": template["spec"]}
json.dump(pod, open(sys.argv[2] + "/legacy-pod.json", "w"))
PY
k -n demo create -f "$RUN/legacy-rs.json"
[ $KRC = 0 ] && pass "the legacy Deployment's ReplicaSet is stored (its practice findings are the Deployment's)" || fail "owned ReplicaSet: $KOUT"
k -n demo get replicaset legacy-5c8f7d -o json
echo "$KOUT" > "$RUN/legacy-rs-stored.json"
python3 - "$RUN/legacy-rs.json" "$RUN/legacy-rs-stored.json" <<'PY' && pass "the owned ReplicaSet was not patched" || fail "the owned ReplicaSet was patched: see $RUN/legacy-rs-stored.json"
import json, sys
sent, stored = (json.load(open(p)) for p in sys.argv[1:3])
assert stored["metadata"]["labels"] == sent["metadata"]["labels"], stored["metadata"]["labels"]
assert stored["spec"]["template"]["metadata"]["labels"] == sent["spec"]["template"]["metadata"]["labels"]
PY
k -n demo create -f "$RUN/legacy-pod.json"
[ $KRC = 0 ] && pass "a Pod of that ReplicaSet is stored" || fail "owned Pod: $KOUT"
k -n demo create -f "$RUN/legacy-rs-unowned.json"
[ $KRC != 0 ] && has "$KOUT" "[image-tag-pinned]" && pass "the same ReplicaSet without an owner is judged, and refused" || fail "unowned ReplicaSet: $KOUT"

# --- a made-up controller reference on a privileged Pod
python3 - "$RUN/legacy-pod.json" "$RUN/fake-owned.json" <<'PY'
import json, sys
pod = json.load(open(sys.argv[1]))
pod["metadata"]["name"] = "fake-owned"
pod["spec"]["hostNetwork"] = True; pod["spec"]["hostPID"] = True
pod["spec"]["containers"][0]["securityContext"] = {"privileged": True}
json.dump(pod, open(sys.argv[2], "w"))
PY
k -n demo create -f "$RUN/fake-owned.json"
if [ $KRC != 0 ] && has "$KOUT" "[no-privileged]" && has "$KOUT" "[no-host-namespaces]"; then
  pass "a privileged Pod claiming a ReplicaSet owner is refused"
else fail "fake owner: $KOUT"; fi

# --- ephemeral containers, through the real webhook plugins (the bench serves no subresources)
admit_debug() { # admit_debug NEW_POD: exit code in $ARC, JSON in $AOUT
  AOUT=$("$admit" --config "$RUN/bulwark-webhooks.yaml" --object "$1" --old-object "$m/debug-target-pod.yaml" \
    --operation UPDATE --namespace demo --resource pods --subresource ephemeralcontainers 2>&1); ARC=$?
  { echo "\$ k8s-admit --subresource ephemeralcontainers --object $(basename "$1")"; echo "$AOUT"; echo "(exit $ARC)"; echo; } >> "$transcript"
}
admit_debug "$m/debug-sysadmin-pod.yaml"
if [ $ARC = 1 ] && has "$AOUT" "no-privileged" && has "$AOUT" "debugger-x8k2"; then
  pass "k8s-admit --subresource ephemeralcontainers: a privileged debug container is refused"
else fail "privileged ephemeral container (exit $ARC): $AOUT"; fi
admit_debug "$m/debug-restricted-pod.yaml"
[ $ARC = 0 ] && pass "k8s-admit --subresource ephemeralcontainers: a restricted debug container is allowed" || fail "restricted ephemeral container (exit $ARC): $AOUT"

# --- one object, one action: the webhook's metrics, check --output json and audit --output json
metrics() { curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics"; }
k create namespace decide
cp "$here/policy-audit.yaml" "$policy"; wait_mode audit
metrics > "$RUN/metrics-before.txt"
k -n decide apply -f "$m/decide.yaml"
metrics > "$RUN/metrics-after.txt"
"$BULWARK" check -f "$m/decide.yaml" --policy "$here/policy-audit.yaml" --output json --fail-on never > "$RUN/decide-check.json" 2>> "$transcript"
"$BULWARK" audit --kubeconfig "$KUBECONFIG" --namespace decide --policy "$here/policy-audit.yaml" --output json > "$RUN/decide-audit.json" 2>> "$transcript"
"$BULWARK" rules --output json > "$RUN/rules.json"
cp "$here/policy-enforce.yaml" "$policy"; wait_mode enforce
if python3 - "$RUN" >> "$transcript" 2>&1 <<'PY'
import json, re, sys
run = sys.argv[1]
single = {r["id"] for r in json.load(open(f"{run}/rules.json")) if r["type"] == "rule" and "admission" in r["sees"]}
def scrape(path):
    out = {}
    for line in open(path):
        m = re.match(r'bulwark_rule_findings_total\{rule="([^"]+)",action="([^"]+)"\} (\d+)', line)
        if m: out[(m[1], m[2])] = int(m[3])
    return out
before, after = scrape(f"{run}/metrics-before.txt"), scrape(f"{run}/metrics-after.txt")
webhook = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) and k[0] in single}
def report(path):
    counts = {}
    for f in json.load(open(path))["findings"]:
        if f["rule"] in single:
            counts[(f["rule"], f["action"])] = counts.get((f["rule"], f["action"]), 0) + 1
    return counts
check, audit = report(f"{run}/decide-check.json"), report(f"{run}/decide-audit.json")
print("webhook:", sorted(webhook.items())); print("check:  ", sorted(check.items())); print("audit:  ", sorted(audit.items()))
assert len(webhook) >= 4, webhook
assert ("no-privileged", "warn") in webhook and not any(a == "deny" for _, a in webhook), webhook
assert check == webhook, "check differs from the webhook"
assert audit == webhook, "audit differs from the webhook"
PY
then pass "the webhook's metrics, check --output json and audit --output json give every finding the same action"
else fail "actions differ between fronts: see $transcript"; fi
if grep '"name":"mixed"' "$out/bulwark.log" | grep '"endpoint":"validate"' | grep -q '"exempted":"replicas-minimum:annotation"'; then
  pass "the exemption that silenced a finding is in the log line"
else fail "no exempted field in the log line for decide/mixed"; fi
