#!/usr/bin/env bash
# npm test's second stage: npm scripts side by side, each output line prefixed with the
# script's name as it comes; exits non-zero when any of them failed, after all have ended.
# The worker tests wait on the Docker engine far more than they use a CPU, so they run beside
# the MongoDB-store run instead of after it (they take the engine lock, test/helpers/worker-fixtures.ts,
# so no other Docker test runs at the same time).
#   bash test/parallel.sh test:mongo test:worker
set -uo pipefail
cd "$(dirname "$0")/.."
scripts=("$@")
pids=()
for script in "${scripts[@]}"; do
  (npm run --silent "$script" 2>&1 | sed -u "s/^/[$script] /") &
  pids+=("$!")
done
failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${scripts[$i]}")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
