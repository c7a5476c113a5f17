#!/usr/bin/env bash
# Test-only dependencies of the server tests (tests/cli_server.sh): the npm packages `openai` and
# `playwright-core` (exact versions from tests/server/package-lock.json) and Debian's `chromium`.
# Called by `make test` / `make test-fast` and by .ci/run; does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {   # Debian packages, as root or through sudo
  local SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps-test: need root (or sudo) to install: $*" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "deps-test: installing nodejs and npm" >&2
  apt_install nodejs npm
fi
dir=tests/server
stamp=$dir/node_modules/.deps-ok
if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
  echo "deps-test: npm ci in $dir" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "deps-test: installing chromium" >&2
  apt_install chromium
fi
