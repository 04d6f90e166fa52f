#!/usr/bin/env bash
# Soak test of `bulwark serve` over real TLS (not run in CI): measures capacity for 10 s, then
# runs for 30 minutes at about half of it with a mix of reviews from ../shared/reviews (valid,
# denied, mutated, malformed), checking every answer against a calibration round. Prints the
# reviews served, failures, latency and the server's RSS every minute; fails if any review
# fails or RSS grows more than 10 % over what it was after the two warm-up minutes.
#
#   scripts/soak.sh [minutes]   (default 30)
#
# The load driver is examples/load.rs. Run it under `nice` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
reviews="../shared/reviews"
port="${SOAK_PORT:-18543}"
admin_port="${SOAK_ADMIN_PORT:-19190}"
[ -d "$reviews" ] || { echo "needs $reviews" >&2; exit 2; }

cargo build --release --quiet --bin bulwark --example load
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
# One log line per review would fill the disk: warnings and errors only.
BULWARK_LOG=warn ./target/release/bulwark serve --listen "127.0.0.1:$port" \
  --admin-listen "127.0.0.1:$admin_port" --cert-dir "$work/certs" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null && break
  sleep 0.1
done

load=./target/release/examples/load
target=(--url "https://127.0.0.1:$port" --ca "$work/certs/ca.crt" --reviews "$reviews")
capacity=$("$load" capacity "${target[@]}" --concurrency 16 --seconds 10 | tee /dev/stderr | awk '/^capacity:/ {print $2}')
rate=$(( ${capacity%.*} / 2 ))
[ "$rate" -gt 0 ] || { echo "no capacity measured" >&2; exit 1; }
echo "capacity: $capacity reviews/s; soaking at $rate reviews/s for $minutes minutes"
status=0
"$load" soak "${target[@]}" --rate "$rate" --minutes "$minutes" --pid "$pid" || status=$?
echo "server log: $(grep -c '"level":"ERROR"' "$work/serve.log" || true) errors, $(grep -c '"level":"WARN"' "$work/serve.log" || true) warnings"
grep -m 5 '"level":"ERROR"' "$work/serve.log" || true
exit "$status"
