#!/usr/bin/env bash
# Builds the Python venv used by the compatibility suite (test/compat/sdk_flow.py):
# .cache/sdk-venv with exactly NebulaPythonSDK==2.8.0, the last official SDK release.
# Idempotent: if the venv already imports that SDK version, it does nothing.
# Prints exactly one line saying what it did (pip/apt output goes to a log file).
set -euo pipefail

SDK_VERSION="2.8.0"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
VENV="$ROOT/.cache/sdk-venv"
PY="$VENV/bin/python"
LOG="$ROOT/.cache/sdk-venv-setup.log"

# True when the venv's interpreter imports the SDK and its installed version is the pinned one.
sdk_ready() {
  [[ -x "$PY" ]] || return 1
  "$PY" - "$SDK_VERSION" >/dev/null 2>&1 <<'PYEOF'
import sys
import importlib.metadata as md
import NebulaPythonSDK  # noqa: F401  (import must work, not just the metadata)
sys.exit(0 if md.version("NebulaPythonSDK") == sys.argv[1] else 1)
PYEOF
}

if sdk_ready; then
  echo "python-sdk: NebulaPythonSDK $SDK_VERSION already installed in .cache/sdk-venv, nothing to do"
  exit 0
fi

mkdir -p "$ROOT/.cache"
: >"$LOG"

# (Re)create the venv unless a working interpreter with pip is already there.
if ! { [[ -x "$PY" ]] && "$PY" -m pip --version >>"$LOG" 2>&1; }; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >>"$LOG" 2>&1; then
    # Fresh Debian/Ubuntu: venv needs ensurepip, shipped in python3-venv.
    rm -rf "$VENV"
    SUDO=""
    if [[ "$(id -u)" != "0" ]]; then
      if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "python-sdk: 'python3 -m venv' failed and not root; install python3-venv (see $LOG)" >&2
        exit 1
      fi
    fi
    if ! { $SUDO apt-get update >>"$LOG" 2>&1 &&
           DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y python3-venv >>"$LOG" 2>&1; }; then
      echo "python-sdk: installing python3-venv with apt-get failed (see $LOG)" >&2
      exit 1
    fi
    if ! python3 -m venv "$VENV" >>"$LOG" 2>&1; then
      echo "python-sdk: 'python3 -m venv' still fails after installing python3-venv (see $LOG)" >&2
      exit 1
    fi
  fi
fi

if ! "$PY" -m pip install --disable-pip-version-check --quiet "NebulaPythonSDK==$SDK_VERSION" >>"$LOG" 2>&1; then
  echo "python-sdk: pip install NebulaPythonSDK==$SDK_VERSION failed (see $LOG)" >&2
  exit 1
fi

if ! sdk_ready; then
  echo "python-sdk: NebulaPythonSDK $SDK_VERSION installed but not importable (see $LOG)" >&2
  exit 1
fi

echo "python-sdk: created .cache/sdk-venv and installed NebulaPythonSDK $SDK_VERSION"
