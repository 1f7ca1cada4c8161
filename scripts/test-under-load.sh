#!/usr/bin/env bash
# Runs `npm test` with two busy loops beside it (issue 14: the suite must pass on a busy machine) and
# prints how long it took. The loops run in their own process groups and are ended on any exit.
#   bash scripts/test-under-load.sh [number of loops, default 2]
set -uo pipefail
cd "$(dirname "$0")/.."
loops="${1:-2}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null; done; }
trap cleanup EXIT INT TERM
for _ in $(seq 1 "$loops"); do
  setsid node -e 'for(;;){}' &
  pids+=("$!")
done
start=$(date +%s)
npm test
rc=$?
echo "npm test beside ${loops} busy loop(s): exit ${rc} after $(( $(date +%s) - start )) s"
exit "$rc"
