# Sourced by scripts/prebuild-arm64.sh and scripts/test-arm64.sh.

# ensure_packages COMMAND PACKAGE…: installs the Debian packages unless COMMAND is on PATH (needs root and
# Debian's registry; nothing else is downloaded).
ensure_packages() {
  local command=$1
  shift
  command -v "$command" >/dev/null && return 0
  echo "installing $* (for $command)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# run_logged LOG COMMAND…: runs a build step with its output in LOG; prints only the lines that say what
# was built, or the whole log when the step fails (and then fails too, so a stale binary is never used).
run_logged() {
  local log=$1
  shift
  mkdir -p "$(dirname "$log")"
  if ! "$@" >"$log" 2>&1; then
    cat "$log"
    echo "failed: $* (log: $log)"
    return 1
  fi
  grep -E "sluice:|Linking" "$log" || true
}
