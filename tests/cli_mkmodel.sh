#!/usr/bin/env bash
# cli_mkmodel.sh BUILD — `minimax mkmodel` from the command line: help, bad flags, refusals, the tiny preset.
# Env: MM_BIN (the minimax binary; default BUILD/minimax), MM_TEST_TMP (scratch). Last line: MMT <passed> <failed>.
set -u
BUILD=${1:-build}
BIN=${MM_BIN:-$PWD/$BUILD/minimax}
TMP=$(mktemp -d "${MM_TEST_TMP:-/tmp}/cli_mkmodel-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect_fail NEEDLE ARGS...: exit code != 0 and stderr mentions NEEDLE
expect_fail() {
  local needle=$1; shift
  local err rc
  err=$("$BIN" mkmodel "$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne 0 ] && grep -qi -- "$needle" <<<"$err"; then ok; else bad "mkmodel $* -> rc $rc, stderr: $err (wanted '$needle')"; fi
}

out=$("$BIN" mkmodel --help 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q -- "--preset" <<<"$out" && grep -q -- "--layer-types" <<<"$out"; then ok; else bad "--help rc $rc"; fi

expect_fail "-o DIR is required"
expect_fail "unknown option" -o "$TMP/x" --bogus
expect_fail "needs a value" -o "$TMP/x" --layers
expect_fail "integer" -o "$TMP/x" --layers abc
expect_fail "must be in" -o "$TMP/x" --layers 0
expect_fail "unknown preset" -o "$TMP/x" --preset huge
expect_fail "dtype" -o "$TMP/x" --dtype q4
expect_fail "layout" -o "$TMP/x" --layout stacked
expect_fail "dialect" -o "$TMP/x" --dialect vllm
expect_fail "top-k" -o "$TMP/x" --experts 2 --top-k 3
expect_fail "head-dim" -o "$TMP/x" --head-dim 41
expect_fail "rotary-dim" -o "$TMP/x" --head-dim 16 --rotary-dim 18
expect_fail "kv-heads" -o "$TMP/x" --heads 6 --kv-heads 4
expect_fail "bad character" -o "$TMP/x" --layer-types LLX
expect_fail "disagrees" -o "$TMP/x" --layer-types LLS --layers 4
expect_fail "not enough disk space" -o "$TMP/huge" --vocab 16000000 --hidden 1000000   # ~64 TB
[ ! -e "$TMP/x" ] && ok || bad "a refused request created its output directory"

# A small custom model, both layouts; then the refusal to overwrite a non-empty directory.
small=(--vocab 300 --hidden 32 --heads 4 --kv-heads 2 --head-dim 12 --ffn 16 --experts 4 --layer-types LS --dtype f32)
if "$BIN" mkmodel -o "$TMP/small" "${small[@]}" >"$TMP/out.txt" 2>&1; then ok; else bad "small model: $(cat "$TMP/out.txt")"; fi
grep -q "params" "$TMP/out.txt" && ok || bad "no summary line: $(cat "$TMP/out.txt")"
[ -f "$TMP/small/config.json" ] && [ -f "$TMP/small/model.safetensors" ] && ok || bad "small model files missing"
grep -q '"attn_type_list"' "$TMP/small/config.json" && grep -q '"minimax_text_01"' "$TMP/small/config.json" && ok || bad "remote config"
expect_fail "not empty" -o "$TMP/small" "${small[@]}"
if "$BIN" mkmodel -o "$TMP/small" "${small[@]}" --force --layout fused --dialect hf >/dev/null 2>&1; then ok; else bad "--force"; fi
grep -q '"layer_types"' "$TMP/small/config.json" && grep -q '"MiniMaxForCausalLM"' "$TMP/small/config.json" && ok || bad "hf config"
grep -q 'mlp.experts.gate_up_proj' "$TMP/small/model.safetensors" && ok || bad "fused tensor names"
if "$BIN" mkmodel -o "$TMP/sharded" "${small[@]}" --shard-mb 0 >/dev/null 2>&1 && [ -f "$TMP/sharded/model.safetensors" ]; then ok; else bad "--shard-mb 0"; fi

# The tiny preset (the README's default model): writes, stays small, and the engine can read it.
if "$BIN" mkmodel -o "$TMP/tiny" >"$TMP/tiny.txt" 2>&1; then ok; else bad "tiny: $(cat "$TMP/tiny.txt")"; fi
sz=$(stat -c %s "$TMP/tiny/model.safetensors" 2>/dev/null || echo 0)
[ "$sz" -gt 100000000 ] && [ "$sz" -lt 250000000 ] && ok || bad "tiny model is $sz bytes"
grep -q '"vocab_size": 200064' "$TMP/tiny/config.json" && ok || bad "tiny vocab"
if "$BIN" info -m "$TMP/tiny" >/dev/null 2>&1 || "$BIN" info "$TMP/tiny" >/dev/null 2>&1; then ok; else bad "minimax info cannot read the tiny model"; fi

# --tokenizer copies the real tokenizer in, so the model runs as is.
SHARED=${MM_SHARED:-$PWD/../shared}
expect_fail "cannot read" -o "$TMP/tok" --tokenizer "$TMP/none.json"
if "$BIN" mkmodel -o "$TMP/tiny" --force --tokenizer "$SHARED/tokenizer" >/dev/null 2>&1 && [ -f "$TMP/tiny/tokenizer.json" ]; then ok
else bad "--tokenizer"; fi
if "$BIN" run -m "$TMP/tiny" -p "Hello" -n 3 >"$TMP/run.txt" 2>&1; then ok; else bad "minimax run on the tiny model: $(tail -3 "$TMP/run.txt")"; fi

echo "MMT $pass $fail"
[ $fail -eq 0 ]
