# Sourced by the arm64 scripts: installs Debian packages that are missing (needs root and the Debian
# registry; nothing else is downloaded).
# ensure_packages COMMAND PACKAGE…: installs the packages unless COMMAND is on PATH.
ensure_packages() {
  local command=$1
  shift
  command -v "$command" >/dev/null && return 0
  echo "installing $* (for $command)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}
