#!/usr/bin/env bash
# Entry point of `npm run services`: prepares the external services the test suites need.
# Each step is a script next to this one; they run in order and the first failure stops the run.
# To add a service (Docker, registry, MongoDB-wire server, Kafka...), append its script to STEPS.
# The TOGETHER steps run at the same time, after STEPS: FerretDB's Go build is CPU-bound and
# packaging.sh's debootstrap mostly waits on the mirror, and neither uses apt while the other
# might (ferretdb.sh installs nothing from apt), so running them side by side saves a minute.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

STEPS=(
  python-sdk.sh
  docker.sh
  registry.sh
  kafka.sh
  chromium.sh
)
TOGETHER=(
  ferretdb.sh
  packaging.sh
)

for step in "${STEPS[@]}"; do
  if ! bash "$SCRIPT_DIR/$step"; then
    echo "services: step $step failed, stopping" >&2
    exit 1
  fi
done

pids=()
for step in "${TOGETHER[@]}"; do
  bash "$SCRIPT_DIR/$step" &
  pids+=("$!")
done
failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${TOGETHER[$i]}")
done
if ((${#failed[@]})); then
  echo "services: step(s) ${failed[*]} failed" >&2
  exit 1
fi
