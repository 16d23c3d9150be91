# shellcheck shell=bash
# Installs what the tests and tools need, only when it is missing. Source it, then call:
#   ensure_node_modules          npm ci when node_modules is missing or older than package-lock.json
#   ensure_apt pkg [pkg...]      apt-get install the Debian packages that are not installed yet
#                                (apt-get update runs at most once per shell)
# Set BATCHAIN_NO_INSTALL=1 to only check (missing things are then reported, not installed).

_ensure_apt_updated=0

_log () { printf '[deps] %s\n' "$*" >&2; }

_as_root () {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    _log "need root to run: $*"
    return 1
  fi
}

# Prints the packages among "$@" that are not installed.
missing_apt () {
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      printf '%s\n' "$pkg"
    fi
  done
}

ensure_apt () {
  [ "$#" -gt 0 ] || return 0
  local missing
  mapfile -t missing < <(missing_apt "$@")
  [ "${#missing[@]}" -gt 0 ] || return 0
  if [ "${BATCHAIN_NO_INSTALL:-0}" = 1 ]; then
    _log "missing Debian packages (BATCHAIN_NO_INSTALL=1, not installing): ${missing[*]}"
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    _log "missing packages and no apt-get: ${missing[*]}"
    return 1
  fi
  if [ "$_ensure_apt_updated" = 0 ]; then
    _log "apt-get update"
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    _ensure_apt_updated=1
  fi
  _log "apt-get install ${missing[*]}"
  _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# True when node_modules matches package-lock.json (npm writes node_modules/.package-lock.json on install).
node_modules_up_to_date () {
  [ -d node_modules ] && [ -f node_modules/.package-lock.json ] &&
    ! [ package-lock.json -nt node_modules/.package-lock.json ]
}

ensure_node_modules () {
  if node_modules_up_to_date; then
    return 0
  fi
  if [ "${BATCHAIN_NO_INSTALL:-0}" = 1 ]; then
    _log "node_modules is missing or older than package-lock.json (BATCHAIN_NO_INSTALL=1, not installing)"
    return 1
  fi
  _log "npm ci"
  npm ci --no-audit --no-fund >&2
  # npm ci rewrites node_modules/.package-lock.json; touch it so a lock file with a newer mtime
  # but the same content (git checkout) does not trigger another install next time.
  touch node_modules/.package-lock.json
}
