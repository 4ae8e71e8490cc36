#!/bin/sh
# sh build/deb.sh: Debian packages and release tarballs from the single executables
# (dist/nebula-linux-<arch>, made by `npm run build:binaries`), for each arch in ARCHS
# (default "x64 arm64"):
#   dist/nebula_<version>_<amd64|arm64>.deb     dpkg-deb, see build/README.md for its layout
#   dist/nebula-<version>-linux-<arch>.tar.gz   nebula, systemd/*.service, env/*.env, copyright
#   dist/install.sh                             build/install.sh, its default version set to this one
#   dist/SHA256SUMS                             of all the above (install.sh checks against it)
# Reproducible: every timestamp is SOURCE_DATE_EPOCH (default: the last commit's time), owners
# are root, file order is sorted; the same inputs give the same bytes.
# Env: ARCHS, SOURCE_DATE_EPOCH, DEB_MAINTAINER (the control file's Maintainer), DEB_XZ_LEVEL
# (the .deb's xz level, default 6: smallest; 1 is 6x faster and 20% bigger).
set -eu
cd "$(dirname "$0")/.."
NODE=node_modules/.bin/node
[ -x "$NODE" ] || { echo "deb.sh: $NODE missing: run npm ci --ignore-scripts" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "deb.sh: dpkg-deb missing (apt-get install dpkg-dev, or npm run services)" >&2; exit 1; }

VERSION=$("$NODE" -p 'require("./package.json").version')
# npm's pre-releases (1.0.0-rc.1) sort before the release in Debian only with "~".
DEB_VERSION=$(printf '%s' "$VERSION" | tr '-' '~')
ARCHS=${ARCHS:-x64 arm64}
XZ_LEVEL=${DEB_XZ_LEVEL:-6}
MAINTAINER=${DEB_MAINTAINER:-Nebula maintainers <maintainers@nebula.invalid>}
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || true)
  [ -n "$SOURCE_DATE_EPOCH" ] || { echo "deb.sh: not a git checkout: set SOURCE_DATE_EPOCH" >&2; exit 1; }
fi
export SOURCE_DATE_EPOCH
export TZ=UTC LC_ALL=C

OUT=build/out/deb
rm -rf "$OUT"
mkdir -p "$OUT" dist

# Shared by every arch: env files and man page (from the option lists), copyright, changelog.
"$NODE" build/env-files.ts "$OUT/env"
"$NODE" build/debian/copyright.ts "$OUT/copyright"
cat >"$OUT/changelog" <<EOF
nebula ($DEB_VERSION) stable; urgency=medium

  * Nebula $VERSION.

 -- $MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
gzip -9nc "$OUT/changelog" >"$OUT/changelog.gz"
"$NODE" build/debian/manpage.ts "$OUT/nebula.1" "$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)"
gzip -9nc "$OUT/nebula.1" >"$OUT/nebula.1.gz"

# Sorted, fixed-mtime, root-owned tar.gz of directory $2 (relative to $1) into $3.
repro_targz() {
  tar -C "$1" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --format=gnu -cf - "$2" | gzip -6n >"$3"
}

for ARCH in $ARCHS; do
  case "$ARCH" in
    x64) DEB_ARCH=amd64 ;;
    arm64) DEB_ARCH=arm64 ;;
    *) echo "deb.sh: unknown arch $ARCH (x64 or arm64)" >&2; exit 1 ;;
  esac
  BIN="dist/nebula-linux-$ARCH"
  [ -f "$BIN" ] || { echo "deb.sh: $BIN missing: run npm run build:binaries first" >&2; exit 1; }

  # The package tree. A copy of the binary, so a concurrent rebuild of dist/ cannot tear it.
  ROOT="$OUT/$DEB_ARCH/root"
  mkdir -p "$ROOT/DEBIAN" "$ROOT/usr/bin" "$ROOT/lib/systemd/system" "$ROOT/etc/nebula" \
    "$ROOT/usr/share/doc/nebula" "$ROOT/usr/share/man/man1" "$ROOT/usr/share/lintian/overrides"
  cp "$BIN" "$ROOT/usr/bin/nebula"
  cp systemd/nebula-manager.service systemd/nebula-worker.service systemd/nebula-reporter.service "$ROOT/lib/systemd/system/"
  cp "$OUT/env/manager.env" "$OUT/env/worker.env" "$OUT/env/reporter.env" "$ROOT/etc/nebula/"
  cp "$OUT/copyright" "$OUT/changelog.gz" "$ROOT/usr/share/doc/nebula/"
  cp "$OUT/nebula.1.gz" "$ROOT/usr/share/man/man1/"
  cp build/debian/lintian-overrides "$ROOT/usr/share/lintian/overrides/nebula"
  cp build/debian/postinst build/debian/prerm build/debian/postrm "$ROOT/DEBIAN/"
  printf '/etc/nebula/manager.env\n/etc/nebula/worker.env\n/etc/nebula/reporter.env\n' >"$ROOT/DEBIAN/conffiles"
  find "$ROOT" -type d -exec chmod 0755 {} +
  find "$ROOT" -type f -exec chmod 0644 {} +
  chmod 0755 "$ROOT/usr/bin/nebula" "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/prerm" "$ROOT/DEBIAN/postrm"
  # systemd reads EnvironmentFile= as root; the files hold secrets.
  chmod 0600 "$ROOT/etc/nebula/"*.env
  (cd "$ROOT" && find usr lib etc -type f -print0 | sort -z | xargs -0 md5sum) >"$ROOT/DEBIAN/md5sums"
  chmod 0644 "$ROOT/DEBIAN/md5sums" "$ROOT/DEBIAN/conffiles"
  SIZE=$(du -sk --apparent-size --exclude=DEBIAN "$ROOT" | cut -f1)
  sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@ARCH@/$DEB_ARCH/" -e "s/@INSTALLED_SIZE@/$SIZE/" \
    -e "s/@MAINTAINER@/$MAINTAINER/" build/debian/control.in >"$ROOT/DEBIAN/control"
  chmod 0644 "$ROOT/DEBIAN/control"
  find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  DEB="dist/nebula_${DEB_VERSION}_$DEB_ARCH.deb"
  # dpkg-deb always uses liblzma's multi-threaded encoder, whose output does not depend on the
  # number of threads (checked: 1 and 2 give the same bytes). Level 6: 28 MiB in ~50 s on 2
  # cores; 3: 32 MiB in ~20 s; 1: 34 MiB in ~8 s.
  dpkg-deb --root-owner-group -Zxz "-z$XZ_LEVEL" --build "$ROOT" "$DEB.tmp" >/dev/null
  mv "$DEB.tmp" "$DEB"

  # The release tarball: what install.sh installs.
  NAME="nebula-$VERSION-linux-$ARCH"
  T="$OUT/$DEB_ARCH/tar"
  mkdir -p "$T/$NAME/systemd" "$T/$NAME/env"
  cp "$ROOT/usr/bin/nebula" "$T/$NAME/nebula"
  cp "$ROOT/lib/systemd/system/"*.service "$T/$NAME/systemd/"
  cp "$ROOT/etc/nebula/"*.env "$T/$NAME/env/"
  cp "$OUT/copyright" "$T/$NAME/copyright"
  find "$T" -type d -exec chmod 0755 {} +
  find "$T" -type f -exec chmod 0644 {} +
  chmod 0755 "$T/$NAME/nebula"
  chmod 0600 "$T/$NAME/env/"*.env
  find "$T" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  repro_targz "$T" "$NAME" "dist/$NAME.tar.gz.tmp"
  mv "dist/$NAME.tar.gz.tmp" "dist/$NAME.tar.gz"

  echo "$DEB: $(du -m "$DEB" | cut -f1) MiB; dist/$NAME.tar.gz: $(du -m "dist/$NAME.tar.gz" | cut -f1) MiB"
done

# install.sh, with this release as its default version.
sed "s/^DEFAULT_VERSION=.*/DEFAULT_VERSION=$VERSION/" build/install.sh >dist/install.sh.tmp
chmod 0755 dist/install.sh.tmp
mv dist/install.sh.tmp dist/install.sh

# Checksums of this version's artifacts that exist (other ARCHS from an earlier run included).
(
  cd dist
  set --
  for f in "nebula_${DEB_VERSION}"_*.deb "nebula-$VERSION"-linux-*.tar.gz install.sh; do
    if [ -f "$f" ]; then set -- "$@" "$f"; fi
  done
  sha256sum "$@" >SHA256SUMS.tmp
  mv SHA256SUMS.tmp SHA256SUMS
)
echo "dist/SHA256SUMS: $(wc -l <dist/SHA256SUMS) files"
