#!/usr/bin/env bash
# Entry point of `npm run services`: prepares the external services the test suites need.
# Each step is a script next to this one; they run in order and the first failure stops the run.
# To add a service (Docker, registry, MongoDB-wire server, Kafka...), append its script to STEPS.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

STEPS=(
  python-sdk.sh
  docker.sh
  registry.sh
  kafka.sh
  ferretdb.sh
  packaging.sh
)

for step in "${STEPS[@]}"; do
  if ! bash "$SCRIPT_DIR/$step"; then
    echo "services: step $step failed, stopping" >&2
    exit 1
  fi
done
