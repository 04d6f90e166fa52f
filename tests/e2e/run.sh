#!/usr/bin/env bash
# End-to-end: bulwark behind a Kubernetes 1.36 API server (../shared/k8s-bench), driven with
# kubectl. Sets up and starts the bench, runs `bulwark serve` on 127.0.0.1 with a certificate
# for that address, applies bulwark's own webhook configurations (bulwark manifests
# --webhook-url), waits until they are active, and checks each scenario. Every kubectl command
# and what it printed goes to target/e2e/transcript.txt.
#
#   tests/e2e/run.sh            exit 0 only if every check passed
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/tests/e2e"
bench="$root/../shared/k8s-bench"
if [ ! -d "$bench" ]; then
  echo "e2e: $bench is absent; skipping the end-to-end suite"
  exit 0
fi
export K8S_BENCH_CACHE=${K8S_BENCH_CACHE:-/var/tmp/k8s-bench}
export K8S_BENCH_RUN=${K8S_BENCH_RUN:-$K8S_BENCH_CACHE/run-bulwark-e2e}
RUN=$K8S_BENCH_RUN
KUBECTL=$K8S_BENCH_CACHE/root/usr/bin/kubectl
export KUBECONFIG=$RUN/kubeconfig
# Ports: free ones picked now, unless given. A port another process holds makes bulwark fail
# to bind, and start_bulwark stops the suite at once rather than test whatever answers there.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
PORT=${BULWARK_E2E_PORT:-$(free_port)}
ADMIN_PORT=${BULWARK_E2E_ADMIN_PORT:-$(free_port)}
SECOND_PORT=${BULWARK_E2E_SECOND_PORT:-$(free_port)}
out="$root/target/e2e"
mkdir -p "$out" "$RUN"
transcript="$out/transcript.txt"
: > "$transcript"
fails=0
passes=0
t_start=$(date +%s)

stage() { echo "==> $* ($(( $(date +%s) - t_start ))s)"; echo "### $*" >> "$transcript"; }
pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# k ARGS...: kubectl, with the command and its output in the transcript; output in $KOUT.
k() {
  KOUT=$("$KUBECTL" "$@" 2>&1); KRC=$?
  { echo "\$ kubectl $*"; echo "$KOUT"; echo "(exit $KRC)"; echo; } >> "$transcript"
  return 0
}
has() { case "$1" in *"$2"*) return 0;; *) return 1;; esac; }

bulwark_pid=""
second_pid=""
cleanup() {
  [ -n "$bulwark_pid" ] && kill "$bulwark_pid" 2>/dev/null
  [ -n "$second_pid" ] && kill "$second_pid" 2>/dev/null
  "$bench/down.sh" >/dev/null 2>&1
}
trap cleanup EXIT

stage "build bulwark"
# .ci/run passes the binary `cargo test` already built; otherwise build it.
BULWARK=${BULWARK_E2E_BIN:-}
if [ -z "$BULWARK" ]; then
  (cd "$root" && cargo build --quiet --bin bulwark) || { echo "build failed"; exit 1; }
  BULWARK="$root/target/debug/bulwark"
fi

stage "set up and start the API server"
"$bench/setup.sh" > "$out/setup.log" 2>&1 || { echo "setup.sh failed; see $out/setup.log"; exit 1; }
"$bench/down.sh" >/dev/null 2>&1
"$bench/up.sh" > "$out/up.log" 2>&1 || { echo "up.sh failed; see $out/up.log"; cat "$out/up.log"; exit 1; }
k apply -f "$root/deploy/crds/policyreports.yaml"

stage "start bulwark on 127.0.0.1:$PORT"
certs="$RUN/bulwark-certs"
"$BULWARK" certs --out "$certs" --dns-name 127.0.0.1 --force > /dev/null
policy="$RUN/bulwark-policy.yaml"
cp "$here/policy-enforce.yaml" "$policy"
start_bulwark() {
  local from
  from=$(wc -l < "$out/bulwark.log")
  "$BULWARK" serve --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
    --tls-cert "$certs/tls.crt" --tls-key "$certs/tls.key" --policy "$policy" \
    --reload-interval 1s >> "$out/bulwark.log" 2>&1 &
  bulwark_pid=$!
  for _ in $(seq 100); do
    if ! kill -0 "$bulwark_pid" 2>/dev/null; then
      echo "e2e: the bulwark this suite started exited at once (is 127.0.0.1:$PORT or :$ADMIN_PORT taken?):"
      tail -n +"$((from + 1))" "$out/bulwark.log"; bulwark_pid=""; exit 1
    fi
    if curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null; then
      # Ready, and it is ours: alive, and its own log says it serves on these ports.
      if tail -n +"$((from + 1))" "$out/bulwark.log" | grep '"serving"' | grep -q "127.0.0.1:$PORT"; then
        return 0
      fi
      echo "e2e: something answers on 127.0.0.1:$ADMIN_PORT, but not the bulwark this suite started"; exit 1
    fi
    sleep 0.1
  done
  echo "bulwark did not become ready"; cat "$out/bulwark.log"; exit 1
}
: > "$out/bulwark.log"
start_bulwark

stage "deploy/ is accepted by the API server (kubectl apply -k deploy/ --dry-run=server)"
# A dry run creates nothing, so the namespaced objects need the namespace to exist already.
k apply -f "$root/deploy/namespace.yaml"
k apply -k "$root/deploy" --dry-run=server
if [ $KRC = 0 ] && has "$KOUT" "deployment.apps/bulwark created (server dry run)" && has "$KOUT" "validatingwebhookconfiguration.admissionregistration.k8s.io/bulwark-validate created (server dry run)"; then
  pass "kustomize base accepted"
else fail "kubectl apply -k deploy/: $KOUT"; fi

stage "apply bulwark's webhook configurations"
"$BULWARK" manifests --ca "$certs/ca.crt" --webhook-url "https://127.0.0.1:$PORT" > "$RUN/bulwark-webhooks.yaml"
k apply -f "$here/manifests/namespaces.yaml"
k apply -f "$RUN/bulwark-webhooks.yaml"
has "$KOUT" "validatingwebhookconfiguration.admissionregistration.k8s.io/bulwark-validate" && pass "webhook configurations applied" || fail "webhook configurations: $KOUT"
# The API server reads configurations through an informer: wait until bulwark answers.
for _ in $(seq 100); do
  k -n demo create --dry-run=server -f "$here/manifests/bad-deployment.yaml"
  has "$KOUT" "bulwark" && break; sleep 0.2
done
has "$KOUT" 'admission webhook "validate.bulwark.dev" denied the request' && pass "webhooks active" || fail "webhooks never became active: $KOUT"

stage "scenario: a Deployment that breaks deny rules is refused"
k -n demo apply -f "$here/manifests/bad-deployment.yaml"
if [ $KRC != 0 ] && has "$KOUT" 'admission webhook "validate.bulwark.dev" denied the request' \
   && has "$KOUT" "[image-tag-pinned]" && has "$KOUT" "[no-privileged]"; then
  pass "bad Deployment refused with [rule-id] messages"
else fail "bad Deployment: $KOUT"; fi
k -n demo get deployment bad
has "$KOUT" "NotFound" && pass "nothing stored" || fail "the refused Deployment was stored: $KOUT"

stage "scenario: a compliant Deployment is stored with bulwark's defaults, once"
k -n demo apply -f "$here/manifests/good-deployment.yaml"
[ $KRC = 0 ] && pass "good Deployment admitted" || fail "good Deployment: $KOUT"
k -n demo get deployment good -o json
echo "$KOUT" > "$out/good-stored.json"
python3 - "$out/good-stored.json" <<'PY' && pass "stored object carries every default exactly once" || fail "defaults on the stored object: see $out/good-stored.json"
import json, sys
d = json.load(open(sys.argv[1]))
t = d["spec"]["template"]; pod = t["spec"]; c = pod["containers"]
assert len(c) == 1, "one container"
assert c[0]["resources"]["requests"] == {"cpu": "100m"}, c[0]["resources"]
assert c[0]["resources"]["limits"] == {"memory": "256Mi"}, c[0]["resources"]
assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532}, pod.get("securityContext")
assert c[0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 10}}}, c[0].get("lifecycle")
assert c[0]["imagePullPolicy"] == "Always", c[0]["imagePullPolicy"]
assert d["metadata"]["labels"] == {"app": "good", "app.kubernetes.io/name": "good"}, d["metadata"]["labels"]
assert t["metadata"]["labels"] == {"app": "good", "app.kubernetes.io/name": "good"}, t["metadata"]["labels"]
assert d["spec"]["selector"] == {"matchLabels": {"app": "good"}}, d["spec"]["selector"]
PY

stage "scenario: warn-level findings are printed by kubectl as warnings"
k -n demo apply -f "$here/manifests/warn-deployment.yaml"
if [ $KRC = 0 ] && has "$KOUT" "Warning: [replicas-minimum]" && has "$KOUT" "Warning: [container-readiness-probe]"; then
  pass "warnings printed, object stored"
else fail "warnings: $KOUT"; fi

stage "scenario: server-side dry run gets the same answer and stores nothing"
k -n demo apply --dry-run=server -f "$here/manifests/bad-deployment.yaml"
[ $KRC != 0 ] && has "$KOUT" "[image-tag-pinned]" && pass "dry run refused the same way" || fail "dry run (bad): $KOUT"
sed 's/name: good$/name: good-dry/' "$here/manifests/good-deployment.yaml" > "$RUN/good-dry.yaml"
k -n demo apply --dry-run=server -f "$RUN/good-dry.yaml"
[ $KRC = 0 ] && has "$KOUT" "(server dry run)" && pass "dry run admitted" || fail "dry run (good): $KOUT"
k -n demo get deployment good-dry
has "$KOUT" "NotFound" && pass "dry run stored nothing" || fail "dry run stored: $KOUT"

stage "scenario: in audit mode the bad Deployment is stored with [would deny] warnings"
cp "$here/policy-audit.yaml" "$policy"
for _ in $(seq 50); do
  k -n demo create --dry-run=server -f "$here/manifests/bad-deployment.yaml"
  [ $KRC = 0 ] && break; sleep 0.2
done
k -n demo apply -f "$here/manifests/bad-deployment.yaml"
if [ $KRC = 0 ] && has "$KOUT" "Warning: [would deny] [image-tag-pinned]" && has "$KOUT" "Warning: [would mutate]"; then
  pass "audit mode: stored with [would deny] and [would mutate] warnings"
else fail "audit mode: $KOUT"; fi
k -n demo get deployment bad -o jsonpath='{.spec.template.spec.containers[0].resources}'
[ -z "$KOUT" ] || [ "$KOUT" = "{}" ] && pass "audit mode patched nothing" || fail "audit mode patched: $KOUT"
if grep -q 'validate.bulwark.dev/image-tag-pinned' "$RUN/audit.log" 2>/dev/null; then pass "audit annotations in the API server's audit log"
else fail "no bulwark audit annotation in $RUN/audit.log"; fi
k -n demo delete deployment bad
cp "$here/policy-enforce.yaml" "$policy"
for _ in $(seq 50); do
  k -n demo create --dry-run=server -f "$here/manifests/bad-deployment.yaml"
  [ $KRC != 0 ] && break; sleep 0.2
done

stage "scenario: kube-system and namespaces labelled bulwark.dev/ignore are not sent to bulwark"
sed 's/name: bad$/name: bad-in-kube-system/' "$here/manifests/bad-deployment.yaml" > "$RUN/bad-ks.yaml"
sed 's/name: bad$/name: bad-in-ignored/' "$here/manifests/bad-deployment.yaml" > "$RUN/bad-ignored.yaml"
k -n kube-system apply -f "$RUN/bad-ks.yaml"; ks_rc=$KRC
k -n ignored apply -f "$RUN/bad-ignored.yaml"; ig_rc=$KRC
if [ $ks_rc = 0 ] && [ $ig_rc = 0 ] && ! grep -q '"name":"bad-in-kube-system"' "$out/bulwark.log" && ! grep -q '"name":"bad-in-ignored"' "$out/bulwark.log"; then
  pass "stored, and bulwark never saw them"
else fail "kube-system rc=$ks_rc ignored rc=$ig_rc; bulwark saw: $(grep -c 'bad-in-' "$out/bulwark.log")"; fi

stage "scenario: a second mutating webhook makes the API server call bulwark again"
python3 "$here/second_webhook.py" "$SECOND_PORT" "$certs/tls.crt" "$certs/tls.key" > "$out/second.log" 2>&1 &
second_pid=$!
ca=$(base64 -w0 < "$certs/ca.crt")
cat > "$RUN/second-webhook.yaml" <<YAML
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: zz-second-mutator
webhooks:
  - name: second.example.com
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    reinvocationPolicy: Never
    clientConfig: {url: "https://127.0.0.1:$SECOND_PORT/mutate", caBundle: "$ca"}
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: demo}}
    rules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
YAML
k apply -f "$RUN/second-webhook.yaml"
sed 's/name: good$/name: reinvoked/' "$here/manifests/good-deployment.yaml" > "$RUN/reinvoked.yaml"
for _ in $(seq 50); do
  k -n demo create --dry-run=server -f "$RUN/reinvoked.yaml" -o jsonpath='{.spec.template.metadata.annotations}'
  has "$KOUT" "second.example/injected" && break; sleep 0.2
done
k -n demo apply -f "$RUN/reinvoked.yaml"
sleep 0.5
rounds=$(python3 - "$RUN/audit.log" <<'PY2'
import json, sys
for line in open(sys.argv[1]):
    event = json.loads(line)
    ref = event.get("objectRef") or {}
    if ref.get("name") != "reinvoked" or event.get("verb") != "create" or "dryRun" in event.get("requestURI", ""):
        continue
    if event.get("stage") != "ResponseComplete":
        continue
    for key, value in sorted((event.get("annotations") or {}).items()):
        if key.startswith("mutation.webhook.admission.k8s.io/round_"):
            print(key.rsplit("/", 1)[1], value)
PY2
)
echo "API server audit log, mutating webhook calls for the stored object:" >> "$transcript"
echo "$rounds" >> "$transcript"
if [ $KRC = 0 ] && has "$rounds" 'round_0_index_0 {"configuration":"bulwark-mutate","webhook":"mutate.bulwark.dev","mutated":true}' \
   && has "$rounds" 'round_0_index_1 {"configuration":"zz-second-mutator","webhook":"second.example.com","mutated":true}' \
   && has "$rounds" 'round_1_index_0 {"configuration":"bulwark-mutate","webhook":"mutate.bulwark.dev","mutated":false}'; then
  pass "bulwark re-invoked after the second webhook, and its second answer was an empty patch"
else fail "reinvocation: rc=$KRC rounds: ${rounds:-none}"; fi
k -n demo get deployment reinvoked -o jsonpath='{.spec.template.spec.containers[0].lifecycle.preStop}'
[ "$KOUT" = '{"sleep":{"seconds":10}}' ] && pass "defaults present once after reinvocation" || fail "after reinvocation: $KOUT"
k delete mutatingwebhookconfiguration zz-second-mutator
kill "$second_pid" 2>/dev/null; second_pid=""

stage "scenario: with bulwark stopped, failurePolicy decides"
kill "$bulwark_pid"; wait "$bulwark_pid" 2>/dev/null; bulwark_pid=""
sed 's/name: good$/name: while-down/' "$here/manifests/good-deployment.yaml" > "$RUN/while-down.yaml"
k -n demo apply -f "$RUN/while-down.yaml"
if [ $KRC != 0 ] && has "$KOUT" 'failed calling webhook "validate.bulwark.dev"'; then
  pass "validating webhook fails closed (failurePolicy: Fail); the mutating one (Ignore) did not block"
else fail "bulwark down: $KOUT"; fi
start_bulwark
for _ in $(seq 50); do
  k -n demo apply --dry-run=server -f "$RUN/while-down.yaml"
  [ $KRC = 0 ] && break; sleep 0.2
done
[ $KRC = 0 ] && pass "admitted again once bulwark is back" || fail "after restart: $KOUT"

stage "scenario: no object talks its way past the security rules; generated objects are left to their owners"
# shellcheck source=/dev/null
. "$here/soundness.sh"

stage "scenario: other kinds"
# shellcheck source=/dev/null
. "$here/kinds.sh"

stage "scenario: bulwark audit of the cluster, with PolicyReports"
# shellcheck source=/dev/null
. "$here/audit.sh"

stage "scenario: bulwark's rules as ValidatingAdmissionPolicies"
# shellcheck source=/dev/null
. "$here/vap.sh"

stage "done"
echo "e2e: $passes passed, $fails failed ($(( $(date +%s) - t_start ))s); transcript: $transcript"
[ "$fails" = 0 ]
