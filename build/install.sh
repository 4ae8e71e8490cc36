#!/bin/sh
# Nebula installer, for machines without the .deb (any Linux with glibc >= 2.34, x86_64 or
# aarch64, systemd optional):
#   curl -fsSL https://github.com/nebula/nebula/releases/latest/download/install.sh | sudo sh
# Installs what the Debian package installs, at the same paths: /usr/bin/nebula, the systemd
# units (nebula-manager, nebula-worker, nebula-reporter), /etc/nebula/<role>.env (mode 0600;
# an existing one is never touched) and the system user nebula. Enables and starts nothing.
# Run it again to upgrade: the binary and the units are replaced, the env files kept, and
# running services restarted onto the new binary. Where the .deb is installed it refuses:
# upgrade that with apt or dpkg. Moving from this script to the .deb is a plain `dpkg -i`
# (dpkg asks about each edited /etc/nebula/*.env: keep yours, or pass --force-confold).
#
# Environment:
#   NEBULA_VERSION   the release to install, e.g. 0.1.0 (default: this script's release, or
#                    the latest one for the script from the repository)
#   NEBULA_BASE_URL  where the release files are (SHA256SUMS, nebula-<version>-linux-<arch>.tar.gz)
#                    default: https://github.com/nebula/nebula/releases/download/v<version>
#                    (.../releases/latest/download for the latest)
# Every download is checked against the release's SHA256SUMS before anything is installed.
set -eu
# useradd, groupadd: sbin, which a non-login root shell may lack.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

DEFAULT_VERSION=latest
REPO_URL=https://github.com/nebula/nebula

say() { printf 'nebula-install: %s\n' "$*"; }
die() {
  printf 'nebula-install: error: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || die "run as root, e.g.: curl -fsSL <url>/install.sh | sudo sh"
[ "$(uname -s)" = Linux ] || die "Nebula runs on Linux only (this is $(uname -s))"
case "$(uname -m)" in
  x86_64 | amd64) ARCH=x64 ;;
  aarch64 | arm64) ARCH=arm64 ;;
  *) die "unsupported architecture $(uname -m): Nebula is built for x86_64 and aarch64" ;;
esac

if command -v dpkg-query >/dev/null 2>&1 &&
  [ "$(dpkg-query -W -f='${db:Status-Status}' nebula 2>/dev/null || true)" = installed ]; then
  die "nebula is installed as a Debian package here: upgrade it with apt or dpkg -i instead"
fi

VERSION=${NEBULA_VERSION:-$DEFAULT_VERSION}
VERSION=${VERSION#v}
if [ -n "${NEBULA_BASE_URL:-}" ]; then
  BASE_URL=${NEBULA_BASE_URL%/}
elif [ "$VERSION" = latest ]; then
  BASE_URL=$REPO_URL/releases/latest/download
else
  BASE_URL=$REPO_URL/releases/download/v$VERSION
fi

if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 3 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q --tries=3 -O "$2" "$1"; }
else
  die "neither curl nor wget found: install one of them"
fi
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (GNU coreutils or busybox)"
command -v tar >/dev/null 2>&1 || die "tar not found"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

fetch "$BASE_URL/SHA256SUMS" "$TMP/SHA256SUMS" || die "cannot download $BASE_URL/SHA256SUMS"
if [ "$VERSION" = latest ]; then
  # The release's own tarball name tells its version.
  FILE=$(sed -n "s/^[0-9a-f]\{64\}  \(nebula-[^ ]*-linux-$ARCH\.tar\.gz\)\$/\1/p" "$TMP/SHA256SUMS" | head -n 1)
  [ -n "$FILE" ] || die "$BASE_URL/SHA256SUMS lists no nebula-<version>-linux-$ARCH.tar.gz"
  VERSION=${FILE#nebula-}
  VERSION=${VERSION%-linux-"$ARCH".tar.gz}
else
  FILE=nebula-$VERSION-linux-$ARCH.tar.gz
fi
SUM=$(awk -v f="$FILE" '$2 == f { print $1 }' "$TMP/SHA256SUMS")
[ -n "$SUM" ] || die "$BASE_URL/SHA256SUMS has no line for $FILE"

say "downloading $BASE_URL/$FILE"
fetch "$BASE_URL/$FILE" "$TMP/$FILE" || die "cannot download $BASE_URL/$FILE"
if ! (cd "$TMP" && printf '%s  %s\n' "$SUM" "$FILE" | sha256sum -c - >/dev/null 2>&1); then
  die "checksum mismatch for $FILE: expected sha256 $SUM, got $(sha256sum "$TMP/$FILE" | cut -d' ' -f1); nothing was installed"
fi
tar -xzf "$TMP/$FILE" -C "$TMP" || die "cannot unpack $FILE"
SRC=$TMP/nebula-$VERSION-linux-$ARCH
[ -x "$SRC/nebula" ] || die "$FILE does not hold nebula-$VERSION-linux-$ARCH/nebula"

# The binary: a new file renamed over the old one, so running services keep theirs until restarted.
PREVIOUS=
if [ -x /usr/bin/nebula ]; then PREVIOUS=$(/usr/bin/nebula --version 2>/dev/null || echo unknown); fi
install -m 0755 "$SRC/nebula" /usr/bin/nebula.new
mv -f /usr/bin/nebula.new /usr/bin/nebula
say "installed /usr/bin/nebula ($("/usr/bin/nebula" --version 2>/dev/null || echo "version $VERSION"))"

# The units, where the .deb puts them (a later `dpkg -i` takes them over).
if [ -d /lib/systemd/system ]; then UNIT_DIR=/lib/systemd/system; else UNIT_DIR=/usr/lib/systemd/system; fi
mkdir -p "$UNIT_DIR"
for unit in "$SRC"/systemd/*.service; do
  install -m 0644 "$unit" "$UNIT_DIR/"
done
say "installed the units nebula-manager, nebula-worker and nebula-reporter in $UNIT_DIR"

# The settings: never overwritten.
mkdir -p /etc/nebula
for env in "$SRC"/env/*.env; do
  target=/etc/nebula/$(basename "$env")
  if [ -e "$target" ]; then
    say "kept $target"
  else
    install -m 0600 "$env" "$target"
    say "installed $target"
  fi
done

# The services' user.
if ! getent group nebula >/dev/null 2>&1; then
  groupadd --system nebula || die "cannot create the group nebula"
fi
if ! getent passwd nebula >/dev/null 2>&1; then
  NOLOGIN=/usr/sbin/nologin
  [ -x "$NOLOGIN" ] || NOLOGIN=/sbin/nologin
  useradd --system --gid nebula --home-dir /nonexistent --no-create-home --shell "$NOLOGIN" \
    --comment "Nebula services" nebula || die "cannot create the user nebula"
  say "created the system user nebula"
fi

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  # An upgrade: running services move to the new binary; stopped ones stay stopped.
  systemctl try-restart nebula-manager.service nebula-worker.service nebula-reporter.service || true
fi

if [ -n "$PREVIOUS" ] && [ -d /run/systemd/system ]; then
  say "done: nebula $VERSION (was $PREVIOUS); running services were restarted onto it."
elif [ -n "$PREVIOUS" ]; then
  say "done: nebula $VERSION (was $PREVIOUS)."
else
  say "done: nebula $VERSION. Nothing is enabled or started. For each role this machine runs"
  say "(manager, worker, reporter):"
  say "  1. edit /etc/nebula/<role>.env"
  say "  2. systemctl enable --now nebula-<role>"
fi
