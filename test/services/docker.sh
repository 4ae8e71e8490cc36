#!/usr/bin/env bash
# Makes a Docker Engine answer on unix:///var/run/docker.sock for the integration tests.
# Idempotent: if `docker version` already reaches a daemon on that socket, it does nothing.
# Otherwise it installs what is missing from Debian (docker.io = dockerd 20.10 / Engine API 1.41,
# busybox-static for the test images built by registry.sh), starts dockerd in the background
# (own session, so it outlives this script) and waits until it answers.
#   log: /tmp/nebula-dockerd.log   pid: /tmp/nebula-dockerd.pid   stop: kill "$(cat /tmp/nebula-dockerd.pid)"
#   apt output: /tmp/nebula-docker-apt.log
# Prints exactly one line saying what it did; needs root unless the daemon is already up.
#
# dockerd flags: only --host. On the Debian 12 sandbox this was written on (cgroups v1, kernel
# 6.x, iptables 1.8.9 nf_tables backend pulled in by docker.io) the default configuration works:
# dockerd creates its iptables chains and the docker0 bridge, and `-p 127.0.0.1:PORT:80` is
# reachable from the host (through docker-proxy). So there is no --iptables=false. Only if a
# first start dies with an iptables/NAT error (e.g. a machine without the capability to change
# netfilter rules) is dockerd started once more with --iptables=false: publishing on 127.0.0.1
# keeps working then, because docker-proxy (userland proxy, on by default) listens on the host
# address and connects to the container over docker0; only outbound NAT from containers is lost,
# which the tests do not need.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SOCK=/var/run/docker.sock
LOG=/tmp/nebula-dockerd.log
PIDFILE=/tmp/nebula-dockerd.pid
APT_LOG=/tmp/nebula-docker-apt.log
WAIT_SECONDS=60

daemon_up() { docker --host "unix://$SOCK" version >/dev/null 2>&1; }

# Pid from $1 if that process is alive and is a dockerd.
live_dockerd_pid() {
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == "dockerd" ]] || return 1
  echo "$pid"
}

# Waits until the daemon answers. Returns 1 on timeout, 2 as soon as process $1 (if given) died.
wait_daemon() {
  local pid="${1:-}" i
  for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
    daemon_up && return 0
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then return 2; fi
    sleep 0.5
  done
  daemon_up
}

fail_with_log() {
  echo "docker: $1; last lines of $LOG:" >&2
  tail -n 25 "$LOG" >&2 2>/dev/null || true
  exit 1
}

if daemon_up; then
  echo "docker: daemon already answering on $SOCK, nothing to do"
  exit 0
fi

# A dockerd we (or someone) started may still be initialising: wait for it instead of racing it.
if pid="$(live_dockerd_pid "$PIDFILE" || live_dockerd_pid /var/run/docker.pid)"; then
  if wait_daemon "$pid"; then
    echo "docker: dockerd (pid $pid) was still starting, now answering on $SOCK"
    exit 0
  fi
  fail_with_log "dockerd pid $pid is running but does not answer on $SOCK"
fi

if [[ "$(id -u)" != "0" ]]; then
  echo "docker: no daemon on $SOCK and not root: run this script as root (it installs docker.io and starts dockerd)" >&2
  exit 1
fi

# ---- install what is missing ------------------------------------------------------------------
pkgs=()
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then pkgs+=(docker.io); fi
# The test images need a *static* busybox (Debian's plain `busybox` package is dynamically linked).
if ! { [[ -x /bin/busybox ]] &&
       [[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)" == "install ok installed" ]]; }; then
  pkgs+=(busybox-static)
fi
installed=""
if ((${#pkgs[@]})); then
  : >"$APT_LOG"
  # Without recommends: docker.io recommends apparmor, git, needrestart, cgroupfs-mount...,
  # none of which the daemon needs here (cgroups are already mounted).
  if ! apt_install "$APT_LOG" "${pkgs[@]}"; then
    echo "docker: apt-get install ${pkgs[*]} failed (see $APT_LOG)" >&2
    exit 1
  fi
  installed="installed ${pkgs[*]}, "
fi

# ---- start dockerd -----------------------------------------------------------------------------
start_dockerd() {
  : >"$LOG"
  # setsid: own session and process group, so the daemon survives the end of this script and of
  # whatever process group runs it (npm, CI step); stdin/stdout/stderr detached from the caller.
  setsid nohup dockerd --host "unix://$SOCK" "$@" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local rc=0
  wait_daemon "$(cat "$PIDFILE")" || rc=$?
  return "$rc"
}

flags=""
rc=0
start_dockerd || rc=$?
if ((rc == 2)) && grep -qiE 'iptables|nat chain|netfilter' "$LOG"; then
  cp "$LOG" "$LOG.first-attempt"
  flags=" with --iptables=false (default start failed on iptables, see $LOG.first-attempt)"
  rc=0
  start_dockerd --iptables=false || rc=$?
fi
case "$rc" in
  0) ;;
  2) fail_with_log "dockerd exited during startup" ;;
  *) fail_with_log "dockerd did not answer on $SOCK within ${WAIT_SECONDS}s (pid $(cat "$PIDFILE"))" ;;
esac
# dockerd records its own pid; prefer it over $! in case setsid had to fork.
if pid="$(live_dockerd_pid /var/run/docker.pid)"; then echo "$pid" >"$PIDFILE"; fi

echo "docker: ${installed}started dockerd$flags (pid $(cat "$PIDFILE"), Engine API $(docker --host "unix://$SOCK" version --format '{{.Server.APIVersion}}' 2>/dev/null || echo '?')) on $SOCK"
