#!/usr/bin/env bash
# What `npm run bench` needs besides the project, from Debian: wrk, the load generator — written
# in C with an event loop per thread, so on this machine it is not the bottleneck the way a
# Node load generator (autocannon) would be, competing with the server for the same runtime —
# and siege, for the seed's own test. Idempotent; needs root on a machine without them.
set -euo pipefail
# shellcheck source=../services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../services/lib.sh"
if command -v wrk >/dev/null && command -v siege >/dev/null && command -v taskset >/dev/null; then
  echo "bench: wrk, siege and taskset already installed"
  exit 0
fi
apt_install /tmp/nebula-bench-apt.log wrk siege util-linux || { echo "bench: apt-get install wrk siege failed (see /tmp/nebula-bench-apt.log)" >&2; exit 1; }
echo "bench: installed wrk and siege"
