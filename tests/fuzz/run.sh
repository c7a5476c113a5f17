#!/usr/bin/env bash
# Runs every libFuzzer target of BUILD/fuzz (or those named) for SECONDS each, one after another, and prints one
# line per target: executions, libFuzzer's coverage (cov: edges, ft: features), corpus size, and whether it
# found anything. Seeds are written by each target from ../shared (MM_FUZZ_SEEDS) into BUILD/seeds/NAME when
# the binary is newer than them; the corpus grows in BUILD/corpus/NAME; crashes go to BUILD/artifacts/.
# Each target's "// fuzz-options:" line is passed to it. Exit status 1 if any target failed.
#   bash tests/fuzz/run.sh build-fuzz 600            all targets, 10 minutes each
#   bash tests/fuzz/run.sh build-fuzz 60 fuzz_http   one target
#   FUZZ_RUNS=1000000 bash tests/fuzz/run.sh build-fuzz 0   each until a million inputs ran (0 s: no time limit)
set -u
BUILD=${1:-build-fuzz}; SECONDS_EACH=${2:-60}; shift 2 2>/dev/null || shift $#
cd "$(dirname "$0")/../.."
export MM_SHARED=${MM_SHARED:-$(cd .. && pwd)/shared}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for s in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$s" .c)"); done
fi
mkdir -p "$BUILD/artifacts" "$BUILD/logs"
status=0
printf '%-20s %12s %10s %8s %8s %8s  %s\n' target execs exec/s cov ft corpus result
for t in "${targets[@]}"; do
  bin=$BUILD/fuzz/$t
  if [ ! -x "$bin" ]; then echo "$t: $bin is missing (make fuzz)"; status=1; continue; fi
  seeds=$BUILD/seeds/$t corpus=$BUILD/corpus/$t log=$BUILD/logs/$t.log
  if [ ! -f "$seeds/.stamp" ] || [ "$bin" -nt "$seeds/.stamp" ]; then
    rm -rf "$seeds"; mkdir -p "$seeds"
    if ! MM_FUZZ_SEEDS=$seeds "$bin" >"$log" 2>&1; then echo "$t: writing its seeds failed"; tail -5 "$log"; status=1; continue; fi
    touch "$seeds/.stamp"
  fi
  mkdir -p "$corpus"
  opts=$(sed -n 's|^// fuzz-options: *||p' "tests/fuzz/$t.c" | head -n 1)
  # shellcheck disable=SC2086
  limits=(-max_total_time="$SECONDS_EACH")
  [ -n "${FUZZ_RUNS:-}" ] && limits+=(-runs="$FUZZ_RUNS")
  ASAN_OPTIONS=${ASAN_OPTIONS:-}:abort_on_error=0 "$bin" $opts "${limits[@]}" -print_final_stats=1 \
    -artifact_prefix="$BUILD/artifacts/$t-" "$corpus" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last"); ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
  n=$(find "$corpus" -type f | wc -l)
  if [ $rc -eq 0 ]; then result=ok; else result="FAILED (exit $rc, $log)"; status=1; fi
  printf '%-20s %12s %10s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$n" "$result"
  [ $rc -ne 0 ] && grep -E 'ERROR|SUMMARY|==[0-9]+==|runtime error|Test unit written' "$log" | head -n 12 | sed 's/^/    | /'
done
exit $status
