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

apt_ensure chromium /tmp/nebula-chromium-apt.log chromium fonts-liberation fonts-dejavu-core
[[ -x /usr/bin/chromium ]] || { echo "chromium: /usr/bin/chromium not found after install" >&2; exit 1; }
