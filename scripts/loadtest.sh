#!/usr/bin/env bash
# Load test of `bulwark serve` beside the floor server of ../shared/perf-floor, over real TLS,
# with the method of that floor's README: both servers pinned to CPU 0 (so each runs one
# worker), the load generator oha pinned to CPU 1, HTTP/1.1 keep-alive, 16 connections, the
# typical Deployment review; 1 s of warm-up, then interleaved rounds of 3 s per server. Server
# CPU per review comes from the scheduler's accounting of all the server's threads
# (/proc/PID/task/*/schedstat) divided by the reviews answered; latency percentiles from oha.
#
#   scripts/loadtest.sh [rounds] [seconds-per-round]     (default 5 and 3)
#
# Prints, per endpoint: CPU per review, reviews/s, p50 and p99 at 16 keep-alive connections,
# p50 and p99 of single-shot requests (one request per connection, a new TLS handshake each),
# and both servers' RSS idle and at peak, with bulwark's ratio to the floor and the goal.
# Run it on a quiet machine with at least two cores: neighbours change every timed figure.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
seconds="${2:-3}"
connections=16
single_shots=1000
review="../shared/reviews/deployment-typical.json"
floor_src="../shared/perf-floor"
[ -f "$review" ] && [ -f "$floor_src/Cargo.toml" ] || { echo "needs $review and $floor_src" >&2; exit 2; }
[ "$(nproc)" -ge 2 ] || { echo "needs two cores: one for the servers, one for oha" >&2; exit 2; }
command -v oha >/dev/null || cargo install oha --locked --quiet
for tool in taskset jq curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

cargo build --release --quiet
cargo build --release --quiet --manifest-path "$floor_src/Cargo.toml" --target-dir target/perf-floor

work=$(mktemp -d)
pids=()
# Both servers are gone when this ends, so a next run can listen on the same ports.
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# bulwark writes a development certificate (ECDSA P-256); the floor serves the same one.
taskset -c 0 ./target/release/bulwark serve --listen 127.0.0.1:18443 \
  --admin-listen 127.0.0.1:19090 --cert-dir "$work/certs" 2>"$work/bulwark.log" &
bulwark=$!
pids+=("$bulwark")
for _ in $(seq 100); do curl -sf http://127.0.0.1:19090/readyz >/dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1:19090/readyz >/dev/null || { cat "$work/bulwark.log" >&2; exit 1; }
taskset -c 0 target/perf-floor/release/admission-floor --listen 127.0.0.1:28443 \
  --cert "$work/certs/tls.crt" --key "$work/certs/tls.key" 2>"$work/floor.log" &
floor=$!
pids+=("$floor")
for _ in $(seq 100); do curl -sfk https://127.0.0.1:28443/healthz >/dev/null && break; sleep 0.1; done
sleep 1

declare -A port=([floor]=28443 [bulwark]=18443) pid=([floor]=$floor [bulwark]=$bulwark)
rss_kib() { awk -v f="$2" '$1 == f":" {print $2}' "/proc/$1/status"; }
idle_floor=$(rss_kib "$floor" VmRSS)
idle_bulwark=$(rss_kib "$bulwark" VmRSS)

# Nanoseconds on CPU of every thread of a process so far.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ns += $1} END {printf "%.0f\n", ns}'; }

# oha against one server; prints "answered p50_seconds p99_seconds".
load() { # server endpoint oha-options...
  local server=$1 endpoint=$2
  shift 2
  taskset -c 1 oha --no-tui --output-format json --insecure --http-version 1.1 -m POST \
    -T application/json -D "$review" "$@" "https://127.0.0.1:${port[$server]}/$endpoint" \
    | jq -r '[(.statusCodeDistribution["200"] // 0), .latencyPercentiles.p50, .latencyPercentiles.p99] | @tsv'
}

declare -A cpu answered p50 p99 rounds_rps shot50 shot99
for endpoint in validate mutate; do
  for server in floor bulwark; do
    load "$server" "$endpoint" -c "$connections" -z 1s >/dev/null
    cpu[$server.$endpoint]=0 answered[$server.$endpoint]=0 p50[$server.$endpoint]="" p99[$server.$endpoint]=""
  done
  for round in $(seq "$rounds"); do
    for server in floor bulwark; do
      before=$(cpu_ns "${pid[$server]}")
      read -r n l50 l99 < <(load "$server" "$endpoint" -c "$connections" -z "${seconds}s" -w)
      after=$(cpu_ns "${pid[$server]}")
      key=$server.$endpoint
      cpu[$key]=$(( cpu[$key] + after - before ))
      answered[$key]=$(( answered[$key] + n ))
      p50[$key]+="$l50 " p99[$key]+="$l99 "
      rounds_rps[$key]+="$(awk -v n="$n" -v s="$seconds" 'BEGIN {printf "%d", n / s}') "
      echo "round $round $endpoint $server: $n reviews, $(( (after - before) / (n > 0 ? n : 1) / 1000 )) us CPU each" >&2
    done
  done
  for server in floor bulwark; do
    read -r _ s50 s99 < <(load "$server" "$endpoint" -c 1 -n "$single_shots" --disable-keepalive)
    shot50[$server.$endpoint]=$s50 shot99[$server.$endpoint]=$s99
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ms() { awk -v s="$1" 'BEGIN {printf "%.2f ms", s * 1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
# One line of the table: what, floor, bulwark, ratio, goal.
row() { printf '%-34s %12s %12s %8s %8s\n' "$@"; }

echo
echo "bulwark beside the floor: $rounds rounds of ${seconds}s per server, $connections HTTP/1.1 keep-alive connections, both pinned to CPU 0, oha on CPU 1"
row "" floor bulwark ratio goal
for endpoint in validate mutate; do
  f=floor.$endpoint b=bulwark.$endpoint
  cpu_f=$(awk -v c="${cpu[$f]}" -v n="${answered[$f]}" 'BEGIN {printf "%.1f", c / n / 1000}')
  cpu_b=$(awk -v c="${cpu[$b]}" -v n="${answered[$b]}" 'BEGIN {printf "%.1f", c / n / 1000}')
  goal_cpu=$([ "$endpoint" = validate ] && echo "1.25x" || echo "1.6x")
  goal_rps=$([ "$endpoint" = validate ] && echo ">=6500" || echo ">=5000")
  rps_f=$(awk -v n="${answered[$f]}" -v r="$rounds" -v s="$seconds" 'BEGIN {printf "%d", n / r / s}')
  rps_b=$(awk -v n="${answered[$b]}" -v r="$rounds" -v s="$seconds" 'BEGIN {printf "%d", n / r / s}')
  p50_f=$(median <<<"${p50[$f]}") p50_b=$(median <<<"${p50[$b]}")
  p99_f=$(median <<<"${p99[$f]}") p99_b=$(median <<<"${p99[$b]}")
  row "/$endpoint CPU per review" "$cpu_f us" "$cpu_b us" "$(ratio "$cpu_b" "$cpu_f")" "<=$goal_cpu"
  row "/$endpoint reviews/s (one core)" "$rps_f" "$rps_b" "" "$goal_rps"
  row "/$endpoint p50, $connections connections" "$(ms "$p50_f")" "$(ms "$p50_b")" "$(ratio "$p50_b" "$p50_f")" ""
  row "/$endpoint p99, $connections connections" "$(ms "$p99_f")" "$(ms "$p99_b")" "$(ratio "$p99_b" "$p99_f")" "<=1.5x"
  row "/$endpoint p50, single-shot TLS" "$(ms "${shot50[$f]}")" "$(ms "${shot50[$b]}")" "$(ratio "${shot50[$b]}" "${shot50[$f]}")" ""
  row "/$endpoint p99, single-shot TLS" "$(ms "${shot99[$f]}")" "$(ms "${shot99[$b]}")" "$(ratio "${shot99[$b]}" "${shot99[$f]}")" ""
  echo "  /$endpoint reviews/s per round: floor ${rounds_rps[$f]}; bulwark ${rounds_rps[$b]}"
done
row "RSS idle" "$(( idle_floor / 1024 )) MiB" "$(awk -v k="$idle_bulwark" 'BEGIN {printf "%.1f MiB", k / 1024}')" "" "<=20 MiB"
row "RSS peak under load" "$(( $(rss_kib "$floor" VmHWM) / 1024 )) MiB" "$(awk -v k="$(rss_kib "$bulwark" VmHWM)" 'BEGIN {printf "%.1f MiB", k / 1024}')" "" "<=64 MiB"
grep -c '"review"' "$work/bulwark.log" | xargs -I{} echo "bulwark logged {} reviews"
