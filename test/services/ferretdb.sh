#!/usr/bin/env bash
# MongoDB-wire server for the tests: FerretDB v1.24.2 with its SQLite handler, run by a small
# Go wrapper (test/services/ferretdb/: the upstream CLI panics on its missing version.txt).
#   127.0.0.1:27017   clients: mongodb://127.0.0.1:27017/
#   binary  <repo>/.cache/ferretdb/nebula-ferretdb (Go modules and build cache in <repo>/.cache/go)
#   Go      `go` >= 1.24 from PATH or /usr/local/go/bin, else go1.24.6 from the Go module proxy
#           into <repo>/.cache/go-toolchain
#   data    /tmp/nebula-ferretdb   pid /tmp/nebula-ferretdb.pid   log /tmp/nebula-ferretdb.log
#   setup output (toolchain download, go build): /tmp/nebula-ferretdb-setup.log
# Idempotent: the binary is built once (again when main.go, go.mod or go.sum change); a server
# already answering a MongoDB `hello` on 27017 is left alone. Prints one line per step; on
# failure exits non-zero with the log tail.
# Stop: kill "$(cat /tmp/nebula-ferretdb.pid)"      Reset: stop, then rm -rf /tmp/nebula-ferretdb
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
SRC_DIR="$SCRIPT_DIR/ferretdb"
CACHE="$REPO_DIR/.cache"
BIN="$CACHE/ferretdb/nebula-ferretdb"
GO_MIN_MINOR=24                 # go1.24 or newer
GO_TOOLCHAIN_VERSION=go1.24.6   # fetched only when no suitable `go` is installed
# h1 (go.sum) hashes of the toolchain zips; other architectures are checked against the
# checksum database through the proxy (https://proxy.golang.org/sumdb/sum.golang.org/lookup/...).
declare -A GO_TOOLCHAIN_H1=(
  [amd64]='ddMwad9gwMnW/sEogIxiiTOS/KOJdVWoJQMCga/Sc3Q='
)
DATA_DIR=/tmp/nebula-ferretdb
PID_FILE=/tmp/nebula-ferretdb.pid
LOG=/tmp/nebula-ferretdb.log
SETUP_LOG=/tmp/nebula-ferretdb-setup.log
HOST=127.0.0.1
PORT=27017
WAIT_SECONDS=60

echo "=== ferretdb.sh $(date -u +%FT%TZ)" >>"$SETUP_LOG"

fail() {
  echo "ferretdb: $*" >&2
  if [[ -s "$LOG" ]]; then
    echo "ferretdb: last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
  fi
  exit 1
}

# True if the port accepts TCP connections.
port_open() {
  timeout 3 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null
}

# True if a MongoDB-wire server answers an OP_MSG {hello: 1, $db: "admin"} with ok: 1.
# Request: length 52, request id 'NBFD', response to 0, opcode 2013 (OP_MSG), flags 0, one
# kind-0 section holding the 31-byte BSON document.
mongo_answers() {
  local reply
  # shellcheck disable=SC2016 # $db is a BSON key, not a variable
  reply="$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "\x34\x00\x00\x00NBFD\x00\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00" >&3
    printf "\x1f\x00\x00\x00\x10hello\x00\x01\x00\x00\x00\x02\$db\x00\x06\x00\x00\x00admin\x00\x00" >&3
    header="$(head -c 16 <&3 | od -An -tx1 | tr -d " \n")"
    [[ ${#header} == 32 ]] || exit 1
    # Message length: little-endian int32 at offset 0 (bounded: a hello reply is small).
    length=$((16#${header:6:2}${header:4:2}${header:2:2}${header:0:2}))
    ((length > 16 && length < 65536)) || exit 1
    printf "%s" "$header"
    head -c $((length - 16)) <&3 | od -An -tx1 | tr -d " \n"' "$HOST" "$PORT" 2>/dev/null || true)"
  # responseTo = 'NBFD' (4e424644), opcode 2013 (dd070000), and the element ok: 1.0 (double).
  [[ "${reply:16:16}" == 4e424644dd070000 && "$reply" == *016f6b00000000000000f03f* ]]
}

# Pid from the pid file if that process is alive and is our wrapper.
live_server_pid() {
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q 'nebula-ferretdb ' || return 1
  echo "$pid"
}

# Prints the minor version if $1 is a Go >= 1.$GO_MIN_MINOR toolchain.
go_minor_ok() {
  local v
  v="$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null)" || return 1
  [[ "$v" =~ ^go1\.([0-9]+) ]] || return 1
  ((BASH_REMATCH[1] >= GO_MIN_MINOR)) || return 1
  echo "$v"
}

# The h1 hash (as in go.sum) of the files under the current directory: sha256 of the sorted
# "<sha256>  <path>\n" lines, base64.
dir_h1() {
  local hex
  hex="$(find . -type f | sed 's|^\./||' | LC_ALL=C sort | while IFS= read -r f; do
    printf '%s  %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$f"
  done | sha256sum | cut -d' ' -f1)"
  # shellcheck disable=SC2059 # the format is the \x-escaped digest
  printf "$(sed 's/../\\x&/g' <<<"$hex")" | base64
}

# ---- 1. Go -----------------------------------------------------------------------------------
GO=""
for candidate in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go; do
  [[ -n "$candidate" && -x "$candidate" ]] || continue
  if version="$(go_minor_ok "$candidate")"; then
    GO="$candidate"
    echo "ferretdb: using $version ($GO)"
    break
  fi
done
if [[ -z "$GO" ]]; then
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) fail "no Go >= 1.$GO_MIN_MINOR installed and no Go toolchain for $(uname -m) in the module proxy" ;;
  esac
  module="golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN_VERSION.linux-$arch"
  TC_DIR="$CACHE/go-toolchain/$GO_TOOLCHAIN_VERSION.linux-$arch"
  GO="$TC_DIR/bin/go"
  if version="$(go_minor_ok "$GO")"; then
    echo "ferretdb: using $version ($GO)"
  else
    proxy="${GOPROXY:-https://proxy.golang.org}"
    proxy="${proxy%%[,|]*}"
    [[ "$proxy" == http* ]] || proxy=https://proxy.golang.org
    proxy="${proxy%/}"
    tmp="$CACHE/go-toolchain/tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp/unzipped"
    curl -fsSL --retry 3 -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-$GO_TOOLCHAIN_VERSION.linux-$arch.zip" >>"$SETUP_LOG" 2>&1 ||
      fail "could not download $module from $proxy (see $SETUP_LOG)"
    want="${GO_TOOLCHAIN_H1[$arch]:-}"
    if [[ -z "$want" ]]; then
      want="$(curl -fsSL --retry 3 "$proxy/sumdb/sum.golang.org/lookup/$module" 2>>"$SETUP_LOG" |
        awk -v m="${module%@*}" -v v="${module#*@}" '$1 == m && $2 == v { sub(/^h1:/, "", $3); print $3 }')" ||
        want=""
      [[ -n "$want" ]] || fail "no checksum for $module (checksum database unreachable through $proxy)"
    fi
    (cd "$tmp/unzipped" && unzip -q "$tmp/go.zip") >>"$SETUP_LOG" 2>&1 ||
      fail "could not unzip $module (unzip missing? see $SETUP_LOG)"
    got="$(cd "$tmp/unzipped" && dir_h1)"
    [[ "$got" == "$want" ]] || fail "checksum mismatch for $module: h1:$got, expected h1:$want"
    rm -rf "$TC_DIR"
    mv "$tmp/unzipped/$module" "$TC_DIR"
    rm -rf "$tmp"
    version="$(go_minor_ok "$GO")" || fail "the downloaded toolchain $GO does not run"
    echo "ferretdb: fetched $version from $proxy into $TC_DIR"
  fi
fi

# ---- 2. build the wrapper --------------------------------------------------------------------
if [[ -x "$BIN" && ! "$SRC_DIR/main.go" -nt "$BIN" && ! "$SRC_DIR/go.mod" -nt "$BIN" && ! "$SRC_DIR/go.sum" -nt "$BIN" ]]; then
  echo "ferretdb: $BIN already built"
else
  mkdir -p "$(dirname "$BIN")"
  start=$SECONDS
  # Into a temporary name, renamed when complete: a half-built binary never counts as built.
  # -mod=readonly: go.mod/go.sum are complete, the build never rewrites them.
  # -modcacherw: the module cache stays removable (rm -rf .cache) by any user.
  if ! (cd "$SRC_DIR" &&
      GOTOOLCHAIN=local GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" \
      GOFLAGS="-mod=readonly -modcacherw -buildvcs=false" CGO_ENABLED=0 \
      GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}" \
      "$GO" build -trimpath -o "$BIN.tmp.$$" .) >>"$SETUP_LOG" 2>&1; then
    rm -f "$BIN.tmp.$$"
    tail -n 20 "$SETUP_LOG" >&2
    fail "go build failed (see $SETUP_LOG)"
  fi
  mv -f "$BIN.tmp.$$" "$BIN"
  echo "ferretdb: built $BIN in $((SECONDS - start))s"
fi

# ---- 3. already running? ---------------------------------------------------------------------
if pid="$(live_server_pid)" && mongo_answers; then
  echo "ferretdb: server already running (pid $pid) and answering on $HOST:$PORT"
  exit 0
fi
if port_open; then
  if mongo_answers; then
    echo "ferretdb: a MongoDB-wire server not started by this script already answers on $HOST:$PORT; leaving it"
    exit 0
  fi
  if pid="$(live_server_pid)"; then
    echo "ferretdb: server pid $pid is alive but not answering yet; waiting for it"
  else
    echo "ferretdb: $HOST:$PORT is taken by something that does not answer as a MongoDB-wire server" >&2
    exit 1
  fi
fi

# ---- 4. start --------------------------------------------------------------------------------
if pid="$(live_server_pid)"; then
  echo "ferretdb: server pid $pid already started"
else
  mkdir -p "$DATA_DIR"
  : >"$LOG"
  setsid nohup "$BIN" --listen-addr "$HOST:$PORT" --data-dir "$DATA_DIR" --log-level error \
    </dev/null >>"$LOG" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "ferretdb: started server pid $pid (data $DATA_DIR, log $LOG)"
fi

# ---- 5. wait for readiness -------------------------------------------------------------------
start=$SECONDS
until mongo_answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$PID_FILE"
    fail "server pid $pid exited during startup"
  fi
  if ((SECONDS - start >= WAIT_SECONDS)); then
    fail "server pid $pid not answering on $HOST:$PORT after ${WAIT_SECONDS}s"
  fi
  sleep 0.2
done
echo "ferretdb: server ready on $HOST:$PORT after $((SECONDS - start))s"
