#!/usr/bin/env bash
# cli_quantize.sh BUILD — `minimax quantize` and `minimax compare` end to end from the command line: a small
# model with the real tokenizer → GGUF (f32, q8_0, q4_k_m) → run from the GGUF with a text prompt (the GGUF's
# own tokenizer) → compare against the original; bad flags, refusals (existing output, golden g).
# Env: MM_BIN, MM_SHARED, MM_TEST_TMP. Last line: MMT <passed> <failed>.
set -u
BUILD=${1:-build}
BIN=${MM_BIN:-$PWD/$BUILD/minimax}
SHARED=${MM_SHARED:-$(cd .. && pwd)/shared}
TMP=$(mktemp -d "${MM_TEST_TMP:-/tmp}/cli_quantize-XXXXXX")
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

out=$("$BIN" quantize --help 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q -- "q4_k_m" <<<"$out"; then ok; else bad "quantize --help rc $rc"; fi
out=$("$BIN" compare --help 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q -- "KL" <<<"$out"; then ok; else bad "compare --help rc $rc"; fi
"$BIN" --help | grep -q quantize && ok || bad "quantize missing from minimax --help"

M=$TMP/m
"$BIN" mkmodel -o "$M" --hidden 64 --heads 4 --kv-heads 2 --head-dim 16 --layers 2 --experts 2 --top-k 1 --ffn 64 \
  --vocab 200064 --tokenizer "$SHARED/tokenizer" >/dev/null 2>&1 && ok || bad "mkmodel"

expect_fail quantize "required" "$M"
expect_fail quantize "--type must be" "$M" "$TMP/x.gguf" --type q5_k
expect_fail quantize "unknown option" "$M" "$TMP/x.gguf" --type q8_0 --bogus
expect_fail quantize "unexpected argument" "$M" "$TMP/x.gguf" extra --type q8_0
expect_fail quantize "contradict" "$M" "$TMP/x.gguf" --type q8_0 --tokenizer a --no-tokenizer
expect_fail quantize "config.json" "$TMP/nowhere" "$TMP/x.gguf" --type q8_0
expect_fail quantize "postnorm is false" "$SHARED/golden/g_prenorm_lastlinear_alibi" "$TMP/g.gguf" --type f32
[ ! -e "$TMP/g.gguf" ] && [ ! -e "$TMP/g.gguf.tmp" ] && ok || bad "a refused conversion left a file"

for t in f32 q8_0 q4_k_m; do
  err=$("$BIN" quantize "$M" "$TMP/m-$t.gguf" --type $t -t 2 2>&1); rc=$?
  if [ $rc -eq 0 ] && grep -q "with tokenizer" <<<"$err" && [ -s "$TMP/m-$t.gguf" ]; then ok; else bad "quantize $t: rc $rc $err"; fi
done
expect_fail quantize "exists" "$M" "$TMP/m-q8_0.gguf" --type q8_0
"$BIN" quantize "$M" "$TMP/m-q8_0.gguf" --type q8_0 --force >/dev/null 2>&1 && ok || bad "--force"
# not a terminal: no progress line
err=$("$BIN" quantize "$M" "$TMP/m-q4.gguf" --type q4_0 2>&1)
grep -q "quantize:" <<<"$err" && bad "progress printed when stderr is not a terminal" || ok

# run from the GGUF with a text prompt: same tokens as from the checkpoint (f32 is exact)
a=$("$BIN" run -m "$M" -p "Hello world, this is" -n 6 --print-ids 2>/dev/null); ra=$?
b=$("$BIN" run -m "$TMP/m-f32.gguf" -p "Hello world, this is" -n 6 --print-ids 2>/dev/null); rb=$?
if [ $ra -eq 0 ] && [ $rb -eq 0 ] && [ -n "$a" ] && [ "$a" = "$b" ]; then ok; else bad "run from GGUF differs: '$a' vs '$b'"; fi

# compare: f32 is identical, q8_0 close
j=$("$BIN" compare -m "$M" -m "$TMP/m-f32.gguf" -p "The quick brown fox jumps over the lazy dog." --json); rc=$?
if [ $rc -eq 0 ] && grep -q '"max_abs_dlogit":0\(\.0\)\?[,}]' <<<"$j" && grep -q '"top1_agree_pct":100' <<<"$j"; then ok; else bad "compare f32: $j"; fi
t=$("$BIN" compare -m "$M" -m "$TMP/m-q8_0.gguf" --ids 19739,2035,44,1049,275,34810 -c 5); rc=$?
if [ $rc -eq 0 ] && grep -q "tokens 5" <<<"$t" && grep -q "top-1 agree" <<<"$t" && grep -q "KL(A||B)" <<<"$t"; then ok; else bad "compare table: $t"; fi
echo "19739 2035 44" > "$TMP/ids.txt"
"$BIN" compare -m "$M" -m "$TMP/m-q4_k_m.gguf" --ids-file "$TMP/ids.txt" --no-positions >/dev/null 2>&1 && ok || bad "compare --ids-file"
expect_fail compare "two models" -m "$M" --ids 1,2
expect_fail compare "exactly one" -m "$M" -m "$M"
expect_fail compare "exactly one" -m "$M" -m "$M" --ids 1 -p hi
expect_fail compare "B:" -m "$M" -m "$TMP/none.gguf" --ids 1,2
expect_fail compare "vocabularies differ" -m "$M" -m "$SHARED/golden/a_small_mixed" --ids 1,2
# The grid i-quants, end to end on the demo model (rows of 256): an importance matrix from `minimax imatrix`, then
# iq2_xxs / iq3_xxs / iq1_s / iq1_m with it (refused without, as llama.cpp refuses), run from the file with a text
# prompt, and compared with the unquantized model (mean KL on the demo model's held-out text: 0.027, 0.007, 0.040
# and 0.034, README).
"$BIN" imatrix -m demo -f README.md -o "$TMP/demo-im.gguf" -c 128 --chunks 8 -t 2 >/dev/null 2>&1 && ok || bad "imatrix of demo"
expect_fail quantize "requires an importance matrix" demo "$TMP/d.gguf" --type iq2_xxs
expect_fail quantize "--imatrix" demo "$TMP/d.gguf" --type iq1_s
expect_fail quantize "requires an importance matrix" demo "$TMP/d.gguf" --type iq1_m
for t in iq2_xxs iq3_xxs iq1_s iq1_m; do
  err=$("$BIN" quantize demo "$TMP/d-$t.gguf" --type $t --imatrix "$TMP/demo-im.gguf" -t 2 2>&1); rc=$?
  if [ $rc -eq 0 ] && grep -q " ${t^^}" <<<"$err"; then ok; else bad "quantize $t --imatrix: rc $rc $err"; fi
  out=$("$BIN" run -m "$TMP/d-$t.gguf" -p "And it came to pass" -n 8 -t 2 2>/dev/null); rc=$?
  [ $rc -eq 0 ] && [ -n "$out" ] && ok || bad "run from $t: rc $rc '$out'"
  j=$("$BIN" compare -m demo -m "$TMP/d-$t.gguf" -p "And it came to pass that the king went up to the city" --json -t 2); rc=$?
  kl=$(sed -n 's/.*"kl_mean":\([0-9.e-]*\).*/\1/p' <<<"$j")
  if [ $rc -eq 0 ] && [ -n "$kl" ] && awk -v k="$kl" 'BEGIN { exit !(k < 0.1) }'; then ok; else bad "compare $t: rc $rc kl '$kl'"; fi
done
# Conversion streams tensor by tensor: peak RSS stays a few of the largest tensors whatever the model's size.
# Two sharded F32 models of 6 and 12 layers (96 and 175 MB; largest tensor: the 8192x256 embedding, 8.4 MB).
rss_of() { sed -n 's/.*peak RSS \([0-9.]*\) MB.*/\1/p' <<<"$1"; }
declare -A rss
for L in 6 12; do
  "$BIN" mkmodel -o "$TMP/s$L" --hidden 256 --heads 4 --kv-heads 2 --head-dim 64 --layers $L --experts 8 --top-k 2 \
    --ffn 512 --vocab 8192 --dtype f32 --shard-mb 20 >/dev/null 2>&1 || bad "mkmodel s$L"
  [ "$(ls "$TMP/s$L" | grep -c '^model-.*\.safetensors$')" -ge 4 ] && ok || bad "s$L is not sharded"
  err=$("$BIN" quantize "$TMP/s$L" "$TMP/s$L.gguf" --type q8_0 2>&1); rss[$L]=$(rss_of "$err")
  [ -n "${rss[$L]}" ] && ok || bad "quantize s$L printed no peak RSS: $err"
  echo "quantize peak RSS, $L layers: ${rss[$L]} MB" >&2
  rm -rf "$TMP/s$L" "$TMP/s$L.gguf"
done
# twice the model, at most one largest tensor more
awk -v a="${rss[6]:-0}" -v b="${rss[12]:-999}" 'BEGIN { exit !(b - a < 8.4) }' && ok || bad "peak RSS grows with the model: ${rss[6]} -> ${rss[12]} MB"
# and bounded by the 32 MB of conversion buffers + 4 largest tensors (the instrumented build's allocator and shadow
# memory add their own constant, so the absolute bound is checked on the normal build)
if [ -z "${MM_SANITIZE:-}" ]; then
  awk -v b="${rss[12]:-999}" 'BEGIN { exit !(b < 32 + 4 * 8.4) }' && ok || bad "peak RSS ${rss[12]} MB over 32 + 4 x 8.4 MB"
fi

echo "MMT $pass $fail"
