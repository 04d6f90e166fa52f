#!/usr/bin/env bash
# Instruction counts of bulwark's own work, under callgrind: a regression guard that a noisy
# machine cannot fool (time varies with the neighbours, instructions do not).
#
#   scripts/instructions.sh            compare with the baseline; fail when a count grew more
#                                      than 10 % (CI runs this)
#   scripts/instructions.sh --update   write the counts measured now as the new baseline
#   BULWARK_PROFILE=release scripts/instructions.sh [--update]
#                                      the same for another build profile
#
# Each scenario of examples/instructions.rs (the typical Deployment to /validate and /mutate,
# the large Deployment to /validate, `check` of 1,000 corpus documents) runs once to warm up,
# then ten times inside the one function callgrind counts; the count is per round.
#
# The counts are of the `instructions` build profile (optimised at level 1, no link-time
# optimisation: it builds in a few minutes, and runs close to a release); each profile has its
# own baseline, benches/instructions-<profile>.baseline, and counts compare only within one
# profile and toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${BULWARK_PROFILE:-instructions}"
baseline="benches/instructions-$profile.baseline"
tolerance_percent=10
rounds=10
scenarios=(validate-typical mutate-typical validate-large check-1000)

command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
[ -d ../shared/reviews ] && [ -d ../shared/corpus ] || { echo "needs ../shared/reviews and ../shared/corpus" >&2; exit 2; }
cargo build --quiet --profile "$profile" --example instructions
case "$profile" in dev | test) dir=debug ;; *) dir="$profile" ;; esac
bin="target/$dir/examples/instructions"

measured=$(mktemp)
runs=$(mktemp -d)
trap 'rm -rf "$measured" "$runs"' EXIT
# The scenarios run side by side (a count does not depend on what else runs), each under
# callgrind; `counted` is the only function collected, and the summary line gives what it
# executed.
pids=()
for scenario in "${scenarios[@]}"; do
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
    '--toggle-collect=*instructions::counted*' "$bin" "$scenario" >"$runs/$scenario" 2>&1 &
  pids+=($!)
done
for i in "${!scenarios[@]}"; do
  scenario=${scenarios[$i]}
  wait "${pids[$i]}" || { cat "$runs/$scenario" >&2; echo "$scenario failed under valgrind" >&2; exit 1; }
  total=$(awk '/Collected :/ {print $NF}' "$runs/$scenario")
  [ -n "$total" ] && [ "$total" -gt 0 ] || { cat "$runs/$scenario" >&2; echo "$scenario: no count" >&2; exit 1; }
  echo "$scenario $(( total / rounds ))" >>"$measured"
done

if [ "${1:-}" = "--update" ]; then
  {
    echo "# Instructions per round of each scenario, $profile build (scripts/instructions.sh --update)."
    cat "$measured"
  } >"$baseline"
  cat "$baseline"
  exit 0
fi

[ -f "$baseline" ] || { echo "no $baseline: run scripts/instructions.sh --update" >&2; exit 1; }
status=0
printf '%-18s %14s %14s %8s\n' scenario baseline now change
while read -r scenario now; do
  base=$(awk -v s="$scenario" '$1 == s {print $2}' "$baseline")
  if [ -z "$base" ]; then
    echo "$scenario has no baseline: run scripts/instructions.sh --update" >&2
    status=1
    continue
  fi
  change=$(awk -v n="$now" -v b="$base" 'BEGIN {printf "%+.1f%%", (n - b) * 100 / b}')
  verdict=""
  if [ "$now" -gt $(( base + base * tolerance_percent / 100 )) ]; then
    verdict="  more than ${tolerance_percent}% over the baseline"
    status=1
  fi
  printf '%-18s %14s %14s %8s%s\n' "$scenario" "$base" "$now" "$change" "$verdict"
done <"$measured"
if [ "$status" != 0 ]; then
  echo "an instruction count grew: find the cause, or if the change is worth it, run" \
    "scripts/instructions.sh --update and commit $baseline" >&2
fi
exit "$status"
