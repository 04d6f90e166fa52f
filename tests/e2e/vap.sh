# Sourced by run.sh: bulwark's rules as ValidatingAdmissionPolicies.
#
# 1. The policies of the default policy (deploy/vap) are accepted by the API server, and every
#    one of them compiles: no warning from kubectl, no CEL error in the API server's log.
# 2. Conformance: every rule's fixtures (tests/e2e/manifests/vap) and the corpus go through the
#    API server as dry runs: with only bulwark's validating webhook (its policy in audit mode,
#    so every finding is an audit annotation), with only the policies, and with the policies
#    bound to Warn a group at a time (see vap_conformance.py); the verdicts must agree rule by
#    rule and object by object.
# 3. The floor without the webhook: bulwark stopped, its webhooks set to failurePolicy Ignore,
#    the policies of the default policy installed: a privileged Pod is refused, a compliant
#    Deployment is stored.
# 4. The policies follow the policy file: with a rule off, a rule's params and another's action
#    changed and a namespace exempted (policy-vap-custom.yaml), the API server enforces exactly
#    that.
vap_out="$out/vap"
mkdir -p "$vap_out"
conformance="$here/vap_conformance.py"
corpus="$root/../shared/corpus"

stage "VAP: the policies of the default policy are accepted and compile"
"$BULWARK" vap > "$vap_out/default.yaml"
if cmp -s "$vap_out/default.yaml" "$root/deploy/vap/policies.yaml"; then
  pass "deploy/vap/policies.yaml is what bulwark vap prints"
else fail "deploy/vap/policies.yaml is stale: run bulwark vap > deploy/vap/policies.yaml"; fi
k apply -k "$root/deploy/vap" --dry-run=server
if [ $KRC = 0 ] && has "$KOUT" "validatingadmissionpolicy.admissionregistration.k8s.io/bulwark-no-privileged created (server dry run)" \
   && ! has "$KOUT" "Warning"; then
  pass "kubectl apply -k deploy/vap: accepted, no warnings"
else fail "deploy/vap: $KOUT"; fi

stage "VAP conformance: only the validating webhook, with the conformance policy in audit mode"
export AUDIT_LOG="$RUN/audit.log"
"$BULWARK" rules -o json > "$vap_out/rules.json"
"$BULWARK" vap --policy "$here/policy-vap.yaml" > "$vap_out/policies.yaml"
k create namespace vap-conformance
k delete mutatingwebhookconfiguration bulwark-mutate
sed 's/^mode: enforce$/mode: audit/' "$here/policy-vap.yaml" > "$policy"
# In audit mode the privileged Pod is admitted with a [would deny] warning: bulwark has
# reloaded the policy.
for _ in $(seq 100); do
  k -n vap-conformance create --dry-run=server -f "$here/manifests/privileged-pod.yaml"
  has "$KOUT" "Warning: [would deny] [no-privileged]" && break; sleep 0.2
done
has "$KOUT" "Warning: [would deny] [no-privileged]" || fail "bulwark did not take the conformance policy: $KOUT"
fixtures=("$here"/manifests/vap/*.yaml)
mapfile -t corpus_files < <(find "$corpus" -name '*.yaml' -o -name '*.yml' | sort)
echo "VAP conformance: ${#fixtures[@]} fixture files, ${#corpus_files[@]} corpus files" >> "$transcript"
python3 "$conformance" send webhook "$vap_out/webhook.json" "$vap_out/rules.json" "${fixtures[@]}" "${corpus_files[@]}" >> "$transcript" 2>&1 \
  || fail "conformance: the webhook phase did not run"

stage "VAP conformance: only the policies"
k delete validatingwebhookconfiguration bulwark-validate
k apply -f "$vap_out/policies.yaml"
# Ready when the policies refuse the privileged Pod and the webhook no longer answers for the
# Secret literal that only it judges.
sed 's/name: privileged$/name: probe/' "$here/manifests/privileged-pod.yaml" > "$vap_out/probe-pod.yaml"
sed -e 's/name: compliant$/name: secret-literal/' -e 's/^\( *\)ports: \[{containerPort: 8080}\]/&\n\1env: [{name: DB_PASSWORD, value: hunter2}]/' \
  "$here/manifests/compliant-deployment.yaml" > "$vap_out/secret-literal.yaml"
for _ in $(seq 100); do
  k -n vap-conformance create --dry-run=server -f "$vap_out/probe-pod.yaml"
  vap_ready=$KOUT
  k -n vap-conformance create --dry-run=server -f "$vap_out/secret-literal.yaml"
  if has "$vap_ready" "ValidatingAdmissionPolicy 'bulwark-" && ! has "$KOUT" "[env-secret-literal]"; then break; fi
  sleep 0.2
done
has "$KOUT" "[env-secret-literal]" && fail "the webhook still answers: $KOUT"
sleep 1  # the informer has the policies; give the bindings the same second
python3 "$conformance" send vap "$vap_out/vap.json" "$vap_out/rules.json" "${fixtures[@]}" "${corpus_files[@]}" >> "$transcript" 2>&1 \
  || fail "conformance: the policy phase did not run"
groups=$(python3 "$conformance" groups "$vap_out/policies.yaml")
all_files=()
for group in $(seq 0 $((groups - 1))); do
  python3 "$conformance" bind "$vap_out/policies.yaml" "$group" >> "$transcript" 2>&1 || fail "conformance: could not bind group $group"
  # The privileged Pod is admitted once the Deny bindings are gone; the informer takes about
  # a second for the group's new bindings.
  for _ in $(seq 100); do
    k -n vap-conformance create --dry-run=server -f "$vap_out/probe-pod.yaml"
    [ $KRC = 0 ] && break; sleep 0.2
  done
  sleep 2
  python3 "$conformance" send vap-all "$vap_out/vap-all-$group.json" "$vap_out/rules.json" "${fixtures[@]}" "${corpus_files[@]}" >> "$transcript" 2>&1 \
    || fail "conformance: the Warn phase of group $group did not run"
  all_files+=("$vap_out/vap-all-$group.json")
done
if python3 "$conformance" compare "$vap_out/webhook.json" "$vap_out/vap.json" "$vap_out/policies.yaml" \
     "$vap_out/table.md" "${all_files[@]}" > "$vap_out/compare.txt" 2>&1; then
  pass "the policies agree with the webhook: $(grep 'objects judged' "$vap_out/compare.txt")"
else
  fail "the policies and the webhook disagree: $(grep -c '^DIFF' "$vap_out/compare.txt") differences, see $vap_out/compare.txt"
  grep '^DIFF' "$vap_out/compare.txt" | head -20
fi
cat "$vap_out/compare.txt" >> "$transcript"
k delete validatingadmissionpolicy,validatingadmissionpolicybinding -l app.kubernetes.io/name=bulwark

stage "VAP: with the webhook down, the policies keep the floor"
"$BULWARK" manifests --ca "$certs/ca.crt" --webhook-url "https://127.0.0.1:$PORT" --failure-policy Ignore > "$vap_out/webhooks-ignore.yaml"
k apply -f "$vap_out/webhooks-ignore.yaml"
k apply -k "$root/deploy/vap"
[ $KRC = 0 ] && pass "deploy/vap applied" || fail "deploy/vap: $KOUT"
kill "$bulwark_pid"; wait "$bulwark_pid" 2>/dev/null; bulwark_pid=""
for _ in $(seq 100); do
  k -n demo create --dry-run=server -f "$here/manifests/privileged-pod.yaml"
  has "$KOUT" "ValidatingAdmissionPolicy 'bulwark-" && break; sleep 0.2
done
sleep 1
k -n demo apply -f "$here/manifests/privileged-pod.yaml"
if [ $KRC != 0 ] && has "$KOUT" "ValidatingAdmissionPolicy 'bulwark-" && has "$KOUT" "denied request: ["; then
  pass "privileged Pod refused by the policies while bulwark is down"
else fail "privileged Pod with bulwark down: $KOUT"; fi
k -n demo get pod privileged
has "$KOUT" "NotFound" && pass "the privileged Pod was not stored" || fail "the privileged Pod was stored: $KOUT"
k -n demo apply -f "$here/manifests/compliant-deployment.yaml"
[ $KRC = 0 ] && pass "compliant Deployment admitted while bulwark is down" || fail "compliant Deployment with bulwark down: $KOUT"
k -n demo get deployment compliant -o name
[ "$KOUT" = "deployment.apps/compliant" ] && pass "the compliant Deployment is stored" || fail "compliant Deployment not stored: $KOUT"
stage "VAP: the policies follow the policy file (a rule off, params, an action, a namespace)"
"$BULWARK" vap --policy "$here/policy-vap-custom.yaml" > "$vap_out/custom.yaml"
k delete validatingadmissionpolicy,validatingadmissionpolicybinding -l app.kubernetes.io/name=bulwark
k apply -f "$vap_out/custom.yaml"
k create namespace legacy
k get validatingadmissionpolicy bulwark-no-privileged
has "$KOUT" "NotFound" && pass "a rule switched off has no policy" || fail "no-privileged off: $KOUT"
sed 's/hostPort: 9100/hostPort: 9200/; s/name: host-port$/name: other-host-port/' "$here/manifests/host-port-pod.yaml" > "$vap_out/other-host-port.yaml"
for _ in $(seq 100); do
  k -n demo create --dry-run=server -f "$vap_out/other-host-port.yaml"
  has "$KOUT" "bulwark-no-host-ports" && break; sleep 0.2
done
sleep 1
k -n demo apply -f "$here/manifests/host-port-pod.yaml"
allowed_port=$KRC
k -n demo apply -f "$vap_out/other-host-port.yaml"
if [ $allowed_port = 0 ] && [ $KRC != 0 ] && has "$KOUT" "[no-host-ports]"; then
  pass "params.allowed is compiled in: hostPort 9100 admitted, 9200 refused"
else fail "no-host-ports params: 9100 rc=$allowed_port, 9200: $KOUT"; fi
sed 's/runAsUser: 1000/runAsUser: 0/; s/name: privileged$/name: root/' "$here/manifests/privileged-pod.yaml" > "$vap_out/root-pod.yaml"
k -n demo apply -f "$vap_out/root-pod.yaml"
if [ $KRC = 0 ] && has "$KOUT" "Warning: Validation failed for ValidatingAdmissionPolicy 'bulwark-run-as-non-root'"; then
  pass "an action changed to warn: a root Pod is admitted with the rule's warning"
else fail "run-as-non-root warn: $KOUT"; fi
sed 's/hostPort: 9100/hostPort: 9200/; s/name: host-port$/name: in-legacy/' "$here/manifests/host-port-pod.yaml" > "$vap_out/in-legacy.yaml"
k -n legacy apply -f "$vap_out/in-legacy.yaml"
[ $KRC = 0 ] && ! has "$KOUT" "ValidatingAdmissionPolicy" && pass "an exempt namespace is not judged" || fail "namespace legacy: $KOUT"

if grep -Eiq "compil|ERROR: (CEL|expression)|undeclared reference|no such overload" "$RUN/apiserver.log"; then
  fail "the API server logged CEL errors: $(grep -Ei 'compil|undeclared reference|no such overload' "$RUN/apiserver.log" | head -3)"
else pass "no CEL compilation or type errors in the API server's log"; fi
