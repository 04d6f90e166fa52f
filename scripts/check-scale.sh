#!/usr/bin/env bash
# How `bulwark check` scales: generates streams of N manifest documents (default 1000 and
# 10000), checks each with /usr/bin/time -v, and prints wall time, peak memory (max RSS) and
# both per document. Time and memory per document should stay about the same as N grows.
#
#   scripts/check-scale.sh              # 1000 and 10000 documents
#   scripts/check-scale.sh 500 5000 50000
#   BIN=target/debug/bulwark scripts/check-scale.sh 1000
#
# Each generated application is five documents in one of N/50 namespaces: a Deployment (3
# replicas, envFrom a ConfigMap), its Service (selecting a unique label and one every workload
# shares), a ConfigMap, an HPA and a PDB, so every bundle rule does its lookups. Every seventh
# Service points at a port the pods do not have, every eleventh Deployment runs :latest.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
bin=${BIN:-$target/release/bulwark}
if [ ! -x "$bin" ]; then
  cargo build --release --bin bulwark
fi
if [ ! -x /usr/bin/time ]; then
  echo "needs /usr/bin/time (GNU time) for the memory figure" >&2
  exit 1
fi
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

generate() {
  awk -v n="$1" 'BEGIN {
    for (i = 0; i < n; i++) {
      app = int(i / 5); ns = "team-" int(app / 10); name = "app-" app; k = i % 5
      print "---"
      if (k == 0) {
        tag = (app % 11 == 0) ? "latest" : "1." app
        print "apiVersion: apps/v1\nkind: Deployment"
        print "metadata: {name: " name ", namespace: " ns ", labels: {app.kubernetes.io/name: " name "}}"
        print "spec:\n  selector: {matchLabels: {app: " name "}}"
        print "  template:\n    metadata:\n      labels: {app: " name ", app.kubernetes.io/part-of: shop}"
        print "      annotations: {checksum/config: c" app "}"
        print "    spec:\n      serviceAccountName: " name
        print "      securityContext: {runAsNonRoot: true}"
        print "      containers:\n      - name: web\n        image: registry.example.com/" name ":" tag
        print "        ports: [{name: http, containerPort: 8080}]"
        print "        envFrom: [{configMapRef: {name: " name "}}]"
        print "        resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}}"
        print "        readinessProbe: {httpGet: {path: /readyz, port: http}}"
        print "        livenessProbe: {httpGet: {path: /healthz, port: http}}"
      } else if (k == 1) {
        port = (app % 7 == 0) ? "9999" : "http"
        print "apiVersion: v1\nkind: Service"
        print "metadata: {name: " name ", namespace: " ns ", labels: {app.kubernetes.io/name: " name "}}"
        print "spec:\n  selector: {app: " name ", app.kubernetes.io/part-of: shop}"
        print "  ports: [{name: http, port: 80, targetPort: " port "}]"
      } else if (k == 2) {
        print "apiVersion: v1\nkind: ConfigMap"
        print "metadata: {name: " name ", namespace: " ns ", labels: {app.kubernetes.io/name: " name "}}"
        print "data: {MODE: fast, LOG_LEVEL: info}"
      } else if (k == 3) {
        print "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler"
        print "metadata: {name: " name ", namespace: " ns ", labels: {app.kubernetes.io/name: " name "}}"
        print "spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: " name "}"
        print "  minReplicas: 2\n  maxReplicas: 6"
      } else {
        print "apiVersion: policy/v1\nkind: PodDisruptionBudget"
        print "metadata: {name: " name ", namespace: " ns ", labels: {app.kubernetes.io/name: " name "}}"
        print "spec:\n  minAvailable: 2\n  selector: {matchLabels: {app: " name "}}"
      }
    }
  }'
}

printf '%8s %9s %10s %10s %12s %14s\n' documents findings seconds "max RSS" "ms/1k docs" "KiB RSS/doc"
for n in "${sizes[@]}"; do
  stream="$work/stream-$n.yaml"
  generate "$n" > "$stream"
  status=0
  /usr/bin/time -v "$bin" check -f "$stream" --output json > "$work/report.json" 2> "$work/time.txt" || status=$?
  if [ "$status" -gt 1 ]; then
    echo "bulwark check failed on $n documents (exit $status):" >&2
    cat "$work/time.txt" >&2
    exit 1
  fi
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$work/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")
  findings=$(grep -c '"rule":' "$work/report.json" || true)
  awk -v n="$n" -v f="$findings" -v w="$wall" -v r="$rss" 'BEGIN {
    printf "%8d %9d %10.3f %7.1f MiB %12.1f %14.2f\n", n, f, w, r / 1024, w * 1000000 / n, r / n
  }'
done
