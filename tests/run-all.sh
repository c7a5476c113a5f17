#!/usr/bin/env bash
# The whole suite, as `make test` runs it: the normal build, then the same suite under ASan+UBSan.
set -u
cd "$(dirname "$0")/.."
r1=$(mktemp); r2=$(mktemp)
echo "== suite (build/) =="
MM_SUITE_RESULT=$r1 bash tests/run.sh build
echo "== suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-san/) =="
MM_SANITIZE=1 MM_SUITE_RESULT=$r2 bash tests/run.sh build-san
read -r p1 f1 < "$r1" || { p1=0; f1=1; }
read -r p2 f2 < "$r2" || { p2=0; f2=1; }
rm -f "$r1" "$r2"
echo "$((p1 + p2)) passed, $((f1 + f2)) failed"
[ $((f1 + f2)) -eq 0 ]
