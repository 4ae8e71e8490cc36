# Shared by the service scripts (source it).

# apt_install LOG PKG...: installs the packages without recommends. `apt-get update` runs
# only when the package lists do not know them or the install fails with the lists as they
# are (stale lists pointing at versions the mirror no longer has). Returns non-zero on failure.
apt_install() {
  local log="$1"
  shift
  local p
  local known=1
  for p in "$@"; do
    apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]' || known=0
  done
  if ((known)) && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$log" 2>&1; then
    return 0
  fi
  apt-get update >>"$log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$log" 2>&1
}

# apt_ensure NAME LOG PKG...: installs those of the packages that are not installed (apt_install),
# printing one line prefixed "NAME: " (what it installed, or that all were there). Fails when some
# are missing and this is not root, or when the install fails (then the log's last lines).
apt_ensure() {
  local name="$1" log="$2"
  shift 2
  local p
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    echo "$name: $* already installed"
    return 0
  fi
  if [[ $(id -u) != 0 ]]; then
    echo "$name: missing ${missing[*]}; run as root to install them" >&2
    return 1
  fi
  : >"$log"
  if ! apt_install "$log" "${missing[@]}"; then
    echo "$name: apt-get install ${missing[*]} failed; last lines of $log:" >&2
    tail -n 25 "$log" >&2
    return 1
  fi
  echo "$name: installed ${missing[*]}"
}
