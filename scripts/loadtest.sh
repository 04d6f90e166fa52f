#!/usr/bin/env bash
# Loopback load test of `bulwark serve` over real TLS, with wrk (HTTP/1.1 keep-alive).
# Sends the typical Deployment review to /validate (and /mutate) at 1, 16 and 64 concurrent
# connections and prints throughput, p50 and p99 latency, then the server's peak RSS.
#
#   scripts/loadtest.sh [seconds-per-run]   (default 10)
#
# wrk and the server share this machine's cores, so the numbers are a floor, not a ceiling.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
review="../shared/reviews/deployment-typical.json"
[ -f "$review" ] || { echo "needs $review" >&2; exit 2; }
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }; }

cargo build --release --quiet
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
./target/release/bulwark serve --listen 127.0.0.1:18443 --admin-listen 127.0.0.1:19090 \
  --cert-dir "$work/certs" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:19090/readyz >/dev/null && break; sleep 0.1; done

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$review", "rb"); wrk.body = f:read("*a"); f:close()
LUA

printf '%-9s %-5s %12s %10s %10s\n' endpoint conns "requests/s" p50 p99
for endpoint in validate mutate; do
  for conns in 1 16 64; do
    threads=$(( conns < 2 ? 1 : 2 ))
    out=$(wrk -t"$threads" -c"$conns" -d"${duration}s" --latency -s "$work/post.lua" "https://127.0.0.1:18443/$endpoint")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
    printf '%-9s %-5s %12s %10s %10s %s\n' "$endpoint" "$conns" "$rps" "$p50" "$p99" "$errors"
  done
done
echo "peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
echo "RSS now:  $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
