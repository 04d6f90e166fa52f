# Sourced by run.sh: the kinds besides workloads, each refused or warned as the policy says.
# Uses k/has/pass/fail and $KOUT/$KRC from run.sh.

kinds="$here/manifests/kinds"
tls="$RUN/e2e-tls"
rm -rf "$tls"; mkdir -p "$tls/ca"
# TLS Secrets: one expired (openssl ca can set dates in the past), one whose key belongs to
# another certificate, one that expires in three days.
openssl ecparam -name prime256v1 -genkey -noout -out "$tls/a.key" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$tls/b.key" 2>/dev/null
openssl req -new -key "$tls/a.key" -subj "/CN=expired.example" -out "$tls/a.csr" 2>/dev/null
touch "$tls/ca/index.txt"; echo 01 > "$tls/ca/serial"
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/ca/index.txt\nserial=%s/ca/serial\nnew_certs_dir=%s/ca\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' "$tls" "$tls" "$tls" > "$tls/ca.cnf"
openssl ca -batch -config "$tls/ca.cnf" -selfsign -keyfile "$tls/a.key" -in "$tls/a.csr" \
  -startdate 20250101000000Z -enddate 20250301000000Z -out "$tls/expired.crt" >/dev/null 2>&1
openssl req -x509 -key "$tls/a.key" -subj "/CN=soon.example" -days 3 -out "$tls/soon.crt" 2>/dev/null
openssl req -x509 -key "$tls/a.key" -subj "/CN=fine.example" -days 365 -out "$tls/fine.crt" 2>/dev/null
k -n demo create secret tls tls-expired --cert "$tls/expired.crt" --key "$tls/a.key"
[ $KRC != 0 ] && has "$KOUT" "[secret-tls-valid]" && has "$KOUT" "expired" && pass "expired TLS Secret refused" || fail "expired TLS Secret: $KOUT"
# kubectl create secret tls checks the pair itself, so this one is written as a manifest.
cat > "$tls/mismatch.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata: {name: tls-mismatch}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 < "$tls/fine.crt")
  tls.key: $(base64 -w0 < "$tls/b.key")
YAML
k -n demo apply -f "$tls/mismatch.yaml"
[ $KRC != 0 ] && has "$KOUT" "[secret-tls-valid]" && pass "TLS Secret whose key does not match refused" || fail "mismatched TLS Secret: $KOUT"
k -n demo create secret tls tls-soon --cert "$tls/soon.crt" --key "$tls/a.key"
[ $KRC = 0 ] && has "$KOUT" "Warning: [secret-tls-valid]" && pass "TLS Secret expiring in 3 days stored with a warning" || fail "expiring TLS Secret: $KOUT"
for secret_value in "$(base64 -w0 < "$tls/a.key")" "$(sed -n 2p "$tls/a.key")"; do
  grep -qF "$secret_value" "$out/bulwark.log" && fail "a key appears in bulwark's log"
done

k -n demo apply -f "$kinds/dockerconfig-not-json.yaml"
[ $KRC != 0 ] && has "$KOUT" "[secret-dockerconfig-valid]" && pass "dockerconfigjson Secret that is not JSON refused" || fail "dockerconfigjson: $KOUT"
k -n demo apply -f "$kinds/configmap-private-key.yaml"
[ $KRC != 0 ] && has "$KOUT" "[configmap-no-secrets]" && ! has "$KOUT" "MC4CAQAw" && pass "ConfigMap holding a private key refused, without echoing it" || fail "ConfigMap: $KOUT"
k -n demo apply -f "$kinds/ingress-mixed-annotations.yaml"
[ $KRC = 0 ] && has "$KOUT" "Warning: [ingress-controller-annotations]" && pass "traefik Ingress with nginx annotations stored with a warning" || fail "Ingress: $KOUT"
k -n demo apply -f "$kinds/service-loadbalancer.yaml"
[ $KRC = 0 ] && has "$KOUT" "Warning: [service-type-internal]" && pass "LoadBalancer Service without the exposure annotation warned" || fail "Service: $KOUT"
k -n demo apply -f "$kinds/hpa-no-headroom.yaml"
[ $KRC = 0 ] && has "$KOUT" "Warning: [hpa-replica-range]" && pass "HPA without headroom warned" || fail "HPA: $KOUT"
k -n demo apply -f "$kinds/pdb-no-disruption.yaml"
[ $KRC = 0 ] && has "$KOUT" "Warning: [pdb-allows-disruption]" && pass "PDB that allows no disruption warned" || fail "PDB: $KOUT"
k -n demo apply -f "$kinds/netpol-egress-without-type.yaml"
[ $KRC != 0 ] && has "$KOUT" "[netpol-egress-policy-type]" && pass "NetworkPolicy with egress rules but no Egress type refused" || fail "NetworkPolicy: $KOUT"
k apply -f "$kinds/clusterrole-reads-secrets.yaml"
[ $KRC = 0 ] && has "$KOUT" "Warning: [rbac-secrets-access]" && pass "ClusterRole that reads all Secrets warned" || fail "ClusterRole: $KOUT"
