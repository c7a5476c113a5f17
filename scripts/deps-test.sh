#!/usr/bin/env bash
# Test-only dependencies of the server tests (tests/cli_server.sh): the npm packages `openai` and
# `playwright-core` (exact versions from tests/server/package-lock.json) and Debian's `chromium`.
# Called by `make test` / `make test-fast` and by .ci/run; does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  bash scripts/deps.sh nodejs npm
fi
dir=tests/server
stamp=$dir/node_modules/.deps-ok
if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
  echo "deps-test: npm ci in $dir" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi

if [ ! -x /usr/bin/chromium ]; then
  bash scripts/deps.sh chromium
fi
