#!/usr/bin/env bash
# What the dashboard's browser tests (test/browser/*.test.ts) and `npm run screenshot` need:
# Debian's Chromium at /usr/bin/chromium, driven headless by playwright-core (which downloads no
# browser of its own), and fonts for its text (without recommends, Chromium pulls in none, and a
# screenshot would show boxes). Nothing is started: each test launches its own browser.
# Idempotent: a second run only checks. Prints one line; any failure ends it non-zero.
#   apt output: /tmp/nebula-chromium-apt.log
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APT_LOG=/tmp/nebula-chromium-apt.log
PACKAGES=(chromium fonts-liberation fonts-dejavu-core)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "chromium: missing ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  : >"$APT_LOG"
  if ! apt_install "$APT_LOG" "${missing[@]}"; then
    echo "chromium: apt-get install ${missing[*]} failed; last lines of $APT_LOG:" >&2
    tail -n 25 "$APT_LOG" >&2
    exit 1
  fi
  echo "chromium: installed ${missing[*]} ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
else
  echo "chromium: ${PACKAGES[*]} already installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
fi
[[ -x /usr/bin/chromium ]] || { echo "chromium: /usr/bin/chromium not found after install" >&2; exit 1; }
