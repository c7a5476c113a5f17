#!/usr/bin/env bash
# Runs every test binary in BUILD/tests and every tests/cli_*.sh against BUILD/minimax, then tests/check_*.sh.
# Each prints "MMT <passed> <failed>" last; a run that crashes or prints no such line counts as one failure.
# Ends with the line "N passed, N failed" and exits non-zero if anything failed.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
export MM_SHARED=${MM_SHARED:-$(cd .. && pwd)/shared}
export MM_BIN=$PWD/$BUILD/minimax
export MM_TEST_TMP=$(mktemp -d /tmp/mm-suite-XXXXXX)
trap 'rm -rf "$MM_TEST_TMP"' EXIT
[ -n "${MM_SANITIZE:-}" ] && export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
passed=0; failed=0
run_one() {   # name, command...
  local name=$1; shift
  local log=$MM_TEST_TMP/$(basename "$name").log start=$SECONDS
  "$@" >"$log" 2>&1; local rc=$?
  local line; line=$(grep '^MMT ' "$log" | tail -n 1)
  local p=0 f=1
  if [ -n "$line" ]; then read -r _ p f <<<"$line"; fi
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  printf '%-34s %5d passed %3d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - start))
  if [ "$f" -ne 0 ]; then grep -v '^MMT ' "$log" | tail -n 40 | sed 's/^/    | /'; fi
}
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  run_one "$(basename "$t")" "$t"
done
for s in tests/cli_*.sh tests/check_*.sh; do
  [ -f "$s" ] || continue
  run_one "$(basename "$s")" bash "$s" "$BUILD"
done
echo "$passed passed, $failed failed"
echo "$passed $failed" > "${MM_SUITE_RESULT:-/dev/null}"
[ "$failed" -eq 0 ]
