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
