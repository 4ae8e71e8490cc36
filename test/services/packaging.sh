#!/usr/bin/env bash
# What the package tests (test/package/*.test.ts) need; nothing is started.
#   1. Debian packages (apt, only those missing): dpkg-dev, lintian, debootstrap, systemd
#      (systemd-analyze, systemctl --root), systemd-container (systemd-nspawn: the units test
#      boots the Debian root below under a real systemd), and for the arm64 binary test
#      qemu-user-static, g++-aarch64-linux-gnu, binutils-aarch64-linux-gnu.
#   2. A clean Debian 12 root: `debootstrap --variant=minbase bookworm` from deb.debian.org plus
#      systemd (the units' targets, `systemctl --root`), curl and wget (install.sh downloads with
#      either), ca-certificates. Saved once as .cache/debian-bookworm-root.tar (~250 MB, about
#      2 min to make); each test unpacks a fresh copy of it (a few seconds). The tarball is made
#      again when the include list below changes.
# Idempotent: a second run only checks. Prints what it did; any failure ends it non-zero.
#   apt output: /tmp/nebula-packaging-apt.log   debootstrap output: .cache/debian-root.log
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# debootstrap, chroot: sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
APT_LOG=/tmp/nebula-packaging-apt.log
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
INCLUDE=systemd,curl,wget,ca-certificates
TARBALL="$ROOT/.cache/debian-$SUITE-root.tar"
STAMP="$TARBALL.ok" # holds the debootstrap arguments the tarball was made with
WANT="--variant=minbase --include=$INCLUDE $SUITE $MIRROR"

# 1. Tools.
PACKAGES=(dpkg-dev lintian debootstrap systemd systemd-container qemu-user-static g++-aarch64-linux-gnu binutils-aarch64-linux-gnu)
apt_ensure packaging "$APT_LOG" "${PACKAGES[@]}"
for tool in dpkg-deb lintian debootstrap systemd-analyze systemctl systemd-nspawn nsenter qemu-aarch64-static aarch64-linux-gnu-strip; do
  command -v "$tool" >/dev/null || { echo "packaging: $tool not found after install" >&2; exit 1; }
done

# 2. The Debian root.
if [[ -f "$TARBALL" && "$(cat "$STAMP" 2>/dev/null)" == "$WANT" ]]; then
  echo "packaging: Debian root .cache/debian-$SUITE-root.tar already made ($(du -m "$TARBALL" | cut -f1) MB), nothing to do"
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "packaging: debootstrap needs root" >&2
  exit 1
fi
mkdir -p "$ROOT/.cache"
LOG="$ROOT/.cache/debian-root.log"
WORK=$(mktemp -d "$ROOT/.cache/debian-root.XXXXXX")
cleanup() {
  # debootstrap may leave proc/sys mounted in the target when it fails.
  local m
  awk -v d="$WORK/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
started=$(date +%s)
echo "packaging: making the Debian root (debootstrap $WANT; output in .cache/debian-root.log)..."
if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$WORK/root" "$MIRROR" >"$LOG" 2>&1 </dev/null; then
  echo "packaging: debootstrap failed; last lines of $LOG:" >&2
  tail -n 25 "$LOG" >&2
  exit 1
fi
# Smaller: no downloaded .debs, no package lists.
rm -rf "$WORK/root/var/cache/apt/archives/"*.deb "$WORK/root/var/lib/apt/lists/"*_Packages
tar -C "$WORK/root" --numeric-owner -cf "$WORK/root.tar" .
mv "$WORK/root.tar" "$TARBALL"
printf '%s' "$WANT" >"$STAMP"
echo "packaging: made .cache/debian-$SUITE-root.tar ($(du -m "$TARBALL" | cut -f1) MB) in $(($(date +%s) - started)) s"
