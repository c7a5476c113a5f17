#!/usr/bin/env bash
# The fuzz targets' smoke run inside the suite: every tests/fuzz/fuzz_*.c, built by `make fuzz` (clang, ASan,
# UBSan, build-fuzz/), runs its seeds from ../shared and then fuzzes for a few seconds (MM_FUZZ_SMOKE_SECONDS:
# 2, and 1 in the sanitizer pass of `make test`), continuing the corpus the previous runs grew. One check per target; a crash, leak, hang or a
# missing binary fails. Long runs: make fuzz-long FUZZ_SECONDS=N.
set -u
cd "$(dirname "$0")/.."
secs=${MM_FUZZ_SMOKE_SECONDS:-$([ -n "${MM_SANITIZE:-}" ] && echo 1 || echo 2)}
out=$(bash tests/fuzz/run.sh build-fuzz "$secs" 2>&1)
echo "$out"
ok=$(grep -cE ' ok$' <<<"$out")
bad=$(grep -cE 'FAILED|missing|failed' <<<"$out")
n=$(ls tests/fuzz/fuzz_*.c | wc -l)
[ $((ok + bad)) -lt "$n" ] && bad=$((n - ok))
echo "MMT $ok $bad"
[ "$bad" -eq 0 ]
