#!/usr/bin/env bash
# cli_train.sh BUILD — `minimax train`, `train-tokenizer` and `perplexity` from the command line, and the shipped demo
# model: bad flags are clear errors; a tokenizer and a two-step run on a small text give a checkpoint that `run`,
# `perplexity` and `--resume --export` accept; the demo model (demo/) generates text from a text prompt (text on stdout,
# speed and memory on stderr, the same text for the same seed) and its tokenizer carries the chat template.
# Env: MM_BIN (default BUILD/minimax), MM_TEST_TMP (scratch). Last line: MMT <passed> <failed>.
set -u
BUILD=${1:-build}
BIN=${MM_BIN:-$PWD/$BUILD/minimax}
TMP=$(mktemp -d "${MM_TEST_TMP:-/tmp}/cli_train-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# expect_fail CMD NEEDLE ARGS...: exit code != 0 and stderr mentions NEEDLE
expect_fail() {
  local cmd=$1 needle=$2; shift 2
  local err rc
  err=$("$BIN" "$cmd" "$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne 0 ] && grep -qi -- "$needle" <<<"$err"; then ok; else bad "$cmd $* -> rc $rc, stderr: $err (wanted '$needle')"; fi
}

for c in train train-tokenizer perplexity; do
  "$BIN" $c --help | grep -q "usage: minimax $c" && ok || bad "$c --help"
done
expect_fail train "required"
expect_fail train "unknown option" --bogus
expect_fail train "unknown model preset" -f x --tokenizer y -o "$TMP/o" --preset huge
expect_fail train "cannot open" -f "$TMP/none.txt" --tokenizer "$TMP/none.json" -o "$TMP/o"
expect_fail train-tokenizer "required" -o "$TMP/t.json"
expect_fail train-tokenizer "must be in" -f x -o y --vocab 100
expect_fail train-tokenizer "cannot open" -f "$TMP/none.txt" -o "$TMP/t.json"
expect_fail perplexity "required" -m demo
expect_fail perplexity "must be in" -m demo -f x -c 2

# a small text, a tokenizer, two steps, a checkpoint the engine runs
for i in $(seq 1 400); do echo "The cat $i sat on the mat and looked at the bird number $((i * 7 % 13))."; done > "$TMP/train.txt"
head -c 3000 "$TMP/train.txt" > "$TMP/held.txt"
"$BIN" train-tokenizer -f "$TMP/train.txt" -o "$TMP/tok.json" --vocab 400 2>/dev/null && ok || bad "train-tokenizer"
"$BIN" train -f "$TMP/train.txt" --heldout "$TMP/held.txt" --tokenizer "$TMP/tok.json" -o "$TMP/ck" --preset tiny \
  --vocab 400 -b 2 --seq 32 --steps 2 --eval-every 2 --eval-windows 2 -t 1 > "$TMP/train.out" 2>&1 && ok || bad "train: $(tail -3 "$TMP/train.out")"
grep -q "held-out loss" "$TMP/train.out" && grep -q "GEMM ceiling" "$TMP/train.out" && ok || bad "train output: $(cat "$TMP/train.out")"
[ -f "$TMP/ck/config.json" ] && [ -f "$TMP/ck/model.safetensors" ] && [ -f "$TMP/ck/optimizer/model.safetensors" ] \
  && [ -f "$TMP/ck/trainer_state.json" ] && [ -f "$TMP/ck/tokenizer.json" ] && ok || bad "checkpoint files: $(ls -R "$TMP/ck")"
out=$("$BIN" run -m "$TMP/ck" -p "The cat" -n 4 2>/dev/null) && [ -n "$out" ] && ok || bad "run on the trained checkpoint"
"$BIN" train --resume -o "$TMP/ck" -f "$TMP/train.txt" --tokenizer "$TMP/tok.json" --steps 2 --export "$TMP/exp" -t 1 >/dev/null 2>&1 \
  && grep -q '"torch_dtype": "bfloat16"' "$TMP/exp/config.json" && ok || bad "export a BF16 copy with --resume"
expect_fail train "beyond --steps" --resume -o "$TMP/ck" -f "$TMP/train.txt" --tokenizer "$TMP/tok.json" --steps 1
out=$("$BIN" perplexity -m "$TMP/exp" -f "$TMP/train.txt" -c 64 --chunks 2 2>/dev/null)
grep -q "^perplexity: " <<<"$out" && ok || bad "perplexity: $out"

# the shipped demo model
if [ -f demo/config.json ]; then
  a=$("$BIN" run -m demo -p "And it came to pass" -n 24 --temp 0.7 --top-k 40 -s 7 --stats 2>"$TMP/err")
  b=$("$BIN" run -m demo -p "And it came to pass" -n 24 --temp 0.7 --top-k 40 -s 7 2>/dev/null)
  [ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "demo: no text, or another text for the same seed: '$a' / '$b'"
  grep -q "tokens/s" "$TMP/err" && grep -q "peak memory" "$TMP/err" && ! grep -q "tokens/s" <<<"$a" && ok || bad "demo: stats belong on stderr"
  "$BIN" run -m demo -p "Who are you?" --chat -n 8 >/dev/null 2>&1 && ok || bad "demo: chat template"
  size=$(du -cb demo/* | tail -1 | cut -f1)
  [ "$size" -le 41943040 ] && ok || bad "demo/ is $size bytes, more than 40 MB"
else
  bad "demo/ is missing"
fi
echo "MMT $pass $fail"
