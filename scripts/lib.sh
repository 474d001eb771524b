# Shared helpers for scripts/run.sh, scripts/test.sh and .ci/run. Source it; do not run it.

# need TOOL "one line saying what to install": stop with that line when TOOL is missing.
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "error: '$1' is missing. $2" >&2
    exit 1
  fi
}

# ensure_debs PKG...: install the Debian packages that are not installed yet (as root with apt),
# or say in one line what to install.
ensure_debs() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${missing[*]}" >&2
    if [ -z "${NAS_SYNC_APT_UPDATED:-}" ]; then
      apt-get update -qq
      export NAS_SYNC_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "error: missing packages; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
}
