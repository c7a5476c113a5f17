#!/usr/bin/env bash
# `minimax serve` end to end: builds a random text model (mkmodel tiny-ish + the real tokenizer.json) and
# runs the Node test files in tests/server against the server binary (each starts its own servers on free
# loopback ports). Prints "MMT <passed> <failed>" last, like every suite entry.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
: "${MM_BIN:=$PWD/$BUILD/minimax}" "${MM_SHARED:=$(cd .. && pwd)/shared}" "${MM_TEST_TMP:=$(mktemp -d)}"
export MM_BIN MM_SHARED MM_TEST_TMP
passed=0; failed=0
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

# the generated page must match its source
if bash scripts/gen-web.sh "$MM_TEST_TMP/mm_web.c" && cmp -s "$MM_TEST_TMP/mm_web.c" src/server/mm_web.c; then passed=$((passed + 1));
else fail "src/server/mm_web.c is out of date: run scripts/gen-web.sh"; fi

if [ ! -d tests/server/node_modules/openai ] || [ ! -d tests/server/node_modules/playwright-core ]; then
  fail "tests/server/node_modules is missing: run scripts/deps-test.sh"
  echo "MMT $passed $failed"; exit 1
fi

model=$MM_TEST_TMP/server-text-model
if "$MM_BIN" mkmodel -o "$model" --preset tiny --hidden 128 --layers 4 --heads 4 --kv-heads 2 --head-dim 32 --ffn 128 \
     --experts 4 --force >/dev/null && cp "$MM_SHARED/tokenizer/tokenizer.json" "$model/"; then
  export MM_SERVER_TEXT_MODEL=$model
else
  fail "mkmodel for the server text model"
fi

vlmodel=$MM_TEST_TMP/server-vl-model
if "$MM_BIN" mkmodel -o "$vlmodel" --preset vl01 --hidden 64 --layers 2 --heads 4 --kv-heads 2 --head-dim 16 --ffn 64 \
     --experts 4 --vision-hidden 32 --vision-layers 2 --vision-heads 4 --vision-ffn 64 --tokenizer "$MM_SHARED/tokenizer" \
     --force >/dev/null; then
  export MM_SERVER_VL_MODEL=$vlmodel
else
  fail "mkmodel for the server VL model"
fi

for t in test_api test_hostile test_structured test_batch_cache test_load test_web test_vl; do
  start=$SECONDS
  out=$(timeout 600 node "tests/server/$t.mjs" 2>&1); rc=$?
  echo "$out" | grep -v '^MMT ' | sed "s/^/[$t] /"
  line=$(echo "$out" | grep '^MMT ' | tail -n 1)
  if [ -n "$line" ]; then
    read -r _ p f <<<"$line"
    passed=$((passed + p)); failed=$((failed + f))
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && fail "$t exited $rc"
  else
    fail "$t crashed (exit $rc)"
  fi
  echo "[$t] $((SECONDS - start)) s"
done
rm -rf "$model" "$vlmodel"
echo "MMT $passed $failed"
[ "$failed" -eq 0 ]
