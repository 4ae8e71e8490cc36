#!/usr/bin/env bash
# Local Docker registries and test images for the integration tests (needs docker.sh first).
#   127.0.0.1:5000  no auth    storage /tmp/nebula-registry       config /tmp/nebula-registry.yml
#                   pid /tmp/nebula-registry.pid        log /tmp/nebula-registry.log
#                   images: busybox:1 and :2 (no CMD; /version contains 1 or 2, so the image
#                   ids differ), web:1 and web:2 (httpd on port 80 serving /version),
#                   web:unhealthy (web:1 + a HEALTHCHECK failing until /tmp/healthy exists),
#                   job:1 (appends the time to /data/runs, then sleeps $SLEEP seconds)
#   127.0.0.1:5001  basic auth nebula / nebula-registry (htpasswd, bcrypt)
#                   storage /tmp/nebula-registry-auth  config /tmp/nebula-registry-auth.yml
#                   pid /tmp/nebula-registry-auth.pid   log /tmp/nebula-registry-auth.log
#                   image:  127.0.0.1:5001/private:1 (same as web:1)
# Images are a static busybox root filesystem (every applet symlinked in /bin) made with
# `docker import`, with CMD/HEALTHCHECK set by --change where an image needs one.
# 127.0.0.0/8 is an insecure registry by default in dockerd, so no TLS is involved.
# Idempotent: a registry already answering is left alone, tags the registry already serves are
# neither rebuilt nor pushed. Prints one line per step. apt/docker output: /tmp/nebula-registry-setup.log
# Stop: kill "$(cat /tmp/nebula-registry.pid)" "$(cat /tmp/nebula-registry-auth.pid)"
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SOCK=/var/run/docker.sock
SETUP_LOG=/tmp/nebula-registry-setup.log
AUTH_USER=nebula
AUTH_PASS=nebula-registry
WAIT_SECONDS=30
MANIFEST_V2='Accept: application/vnd.docker.distribution.manifest.v2+json'

export DOCKER_HOST="unix://$SOCK"
echo "=== registry.sh $(date -u +%FT%TZ)" >>"$SETUP_LOG"

if ! docker version >/dev/null 2>&1; then
  echo "registry: no Docker daemon answers on $SOCK; run test/services/docker.sh first" >&2
  exit 1
fi

# ---- 1. packages ------------------------------------------------------------------------------
pkgs=()
command -v docker-registry >/dev/null 2>&1 || pkgs+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || pkgs+=(apache2-utils)
command -v curl >/dev/null 2>&1 || pkgs+=(curl)
# A *static* busybox is required: the image contains nothing but this binary.
if ! { [[ -x /bin/busybox ]] &&
       [[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)" == "install ok installed" ]]; }; then
  pkgs+=(busybox-static)
fi
if ((${#pkgs[@]})); then
  if [[ "$(id -u)" != "0" ]]; then
    echo "registry: missing packages ${pkgs[*]} and not root: run this script as root" >&2
    exit 1
  fi
  # Debian's docker-registry service is not used (its default config listens on every
  # interface with htpasswd auth); on Docker-built images policy-rc.d keeps it from starting.
  if ! apt_install "$SETUP_LOG" "${pkgs[@]}"; then
    echo "registry: apt-get install ${pkgs[*]} failed (see $SETUP_LOG)" >&2
    exit 1
  fi
  echo "registry: installed ${pkgs[*]}"
else
  echo "registry: docker-registry, htpasswd, curl and busybox-static already installed"
fi

# ---- 2./3. registries -------------------------------------------------------------------------
# Pid from pid file $1 if that process is alive and is a docker-registry.
live_registry_pid() {
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == "docker-registry" ]] || return 1
  echo "$pid"
}

# start_registry NAME PORT CURL_AUTH_ARGS...   (files are /tmp/NAME.{yml,pid,log}, storage /tmp/NAME)
start_registry() {
  local name="$1" port="$2"
  shift 2
  local conf="/tmp/$name.yml" pidfile="/tmp/$name.pid" log="/tmp/$name.log" pid i
  local url="http://127.0.0.1:$port/v2/"
  answers() { curl -sf -m 5 -o /dev/null "$@" "$url"; }

  if answers "$@"; then
    pid="$(live_registry_pid "$pidfile" || echo "unknown pid")"
    echo "registry: 127.0.0.1:$port already answering ($pid), nothing to do"
    return 0
  fi
  if pid="$(live_registry_pid "$pidfile")"; then
    echo "registry: docker-registry pid $pid (from $pidfile) runs but $url does not answer as expected; see $log" >&2
    return 1
  fi
  if curl -s -m 5 -o /dev/null "$url"; then
    echo "registry: something else already listens on 127.0.0.1:$port (and $url does not accept our credentials)" >&2
    return 1
  fi

  mkdir -p "/tmp/$name"
  {
    echo "# Written by test/services/registry.sh; only listens on loopback."
    echo "version: 0.1"
    echo "log:"
    echo "  level: info"
    echo "storage:"
    echo "  filesystem:"
    echo "    rootdirectory: /tmp/$name"
    echo "  delete:"
    echo "    enabled: true"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    if [[ -n "${HTPASSWD_FILE:-}" ]]; then
      echo "auth:"
      echo "  htpasswd:"
      echo "    realm: nebula-test-registry"
      echo "    path: $HTPASSWD_FILE"
    fi
  } >"$conf"

  : >"$log"
  setsid nohup docker-registry serve "$conf" >>"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  for ((i = 0; i < WAIT_SECONDS * 4; i++)); do
    if answers "$@"; then
      echo "registry: started docker-registry on 127.0.0.1:$port (pid $pid, storage /tmp/$name)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.25
  done
  echo "registry: docker-registry on 127.0.0.1:$port did not come up; last lines of $log:" >&2
  tail -n 20 "$log" >&2 || true
  return 1
}

HTPASSWD_FILE="" start_registry nebula-registry 5000

HTPASSWD=/tmp/nebula-registry-auth.htpasswd
if ! htpasswd -vb "$HTPASSWD" "$AUTH_USER" "$AUTH_PASS" >/dev/null 2>&1; then
  htpasswd -Bbn "$AUTH_USER" "$AUTH_PASS" >"$HTPASSWD" 2>>"$SETUP_LOG"
fi
HTPASSWD_FILE="$HTPASSWD" start_registry nebula-registry-auth 5001 -u "$AUTH_USER:$AUTH_PASS"

# ---- 4. images --------------------------------------------------------------------------------
# has_tag HOSTPORT REPO TAG [CURL_AUTH_ARGS...]
has_tag() {
  local hp="$1" repo="$2" tag="$3"
  shift 3
  curl -sf -m 5 -o /dev/null -H "$MANIFEST_V2" "$@" "http://$hp/v2/$repo/manifests/$tag"
}

WORK=""
cleanup() {
  if [[ -n "$WORK" ]]; then rm -rf "$WORK"; fi
  return 0
}
trap cleanup EXIT

# build_image VERSION REF [--change ...]: static busybox rootfs with /version (and
# /var/www/version) containing VERSION, imported as REF with the given Dockerfile changes.
build_image() {
  local version="$1" ref="$2" root applet
  shift 2
  [[ -n "$WORK" ]] || WORK="$(mktemp -d /tmp/nebula-image-build.XXXXXX)"
  root="$WORK/root-$version"
  rm -rf "$root"
  mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/var/www" "$root/data"
  chmod 755 "$root"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [[ "$applet" == busybox ]] || ln -sf busybox "$root/bin/$applet"
  done
  echo "$version" >"$root/version"
  echo "$version" >"$root/var/www/version"
  echo "nebula test image $version" >"$root/var/www/index.html"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$WORK/image-$version.tar" .
  docker import "$@" "$WORK/image-$version.tar" "$ref" >>"$SETUP_LOG" 2>&1
}

# An imported image has no CMD; Nebula apps cannot set one, so the test images carry theirs.
# sh as PID 1 traps TERM, so a container stops at once (busybox httpd alone ignores TERM).
WEB_CMD='CMD ["sh", "-c", "trap \"exit 0\" TERM; httpd -f -p 80 -h /var/www & wait"]'
# Unhealthy until /tmp/healthy exists: for the worker's health restarts.
HEALTH='HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD test -f /tmp/healthy'
# A cron job's run: appends its time to /data/runs, then sleeps $SLEEP seconds (overlap tests).
JOB_CMD='CMD ["sh", "-c", "date +%s >> /data/runs; sleep ${SLEEP:-0}"]'

pushed=()
# push_image REPO TAG VERSION [--change ...]: build and push unless the registry serves it.
push_image() {
  local repo="$1" tag="$2" version="$3" ref
  shift 3
  has_tag 127.0.0.1:5000 "$repo" "$tag" && return 0
  ref="127.0.0.1:5000/$repo:$tag"
  if ! { build_image "$version" "$ref" "$@" && docker push "$ref" >>"$SETUP_LOG" 2>&1; }; then
    echo "registry: building/pushing $ref failed (see $SETUP_LOG)" >&2
    exit 1
  fi
  pushed+=("$ref")
}

push_image busybox 1 1
push_image busybox 2 2
push_image web 1 1 --change "$WEB_CMD"
push_image web 2 2 --change "$WEB_CMD"
push_image web unhealthy 1 --change "$WEB_CMD" --change "$HEALTH"
push_image job 1 1 --change "$JOB_CMD"

if ! has_tag 127.0.0.1:5001 private 1 -u "$AUTH_USER:$AUTH_PASS"; then
  ref=127.0.0.1:5001/private:1
  # Own client config dir: the login never touches ~/.docker/config.json.
  DOCKER_CONFIG="$(mktemp -d /tmp/nebula-docker-config.XXXXXX)"
  export DOCKER_CONFIG
  if ! { build_image 1 "$ref" --change "$WEB_CMD" &&
         printf '%s' "$AUTH_PASS" | docker login -u "$AUTH_USER" --password-stdin 127.0.0.1:5001 >>"$SETUP_LOG" 2>&1 &&
         docker push "$ref" >>"$SETUP_LOG" 2>&1; }; then
    docker logout 127.0.0.1:5001 >>"$SETUP_LOG" 2>&1 || true
    rm -rf "$DOCKER_CONFIG"
    echo "registry: building/pushing $ref failed (see $SETUP_LOG)" >&2
    exit 1
  fi
  docker logout 127.0.0.1:5001 >>"$SETUP_LOG" 2>&1 || true
  rm -rf "$DOCKER_CONFIG"
  unset DOCKER_CONFIG
  pushed+=("$ref")
fi

if ((${#pushed[@]})); then
  echo "registry: built and pushed ${pushed[*]}"
else
  echo "registry: the test images (busybox, web, job on :5000; private on :5001) are already served, nothing to push"
fi
