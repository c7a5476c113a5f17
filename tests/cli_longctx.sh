#!/usr/bin/env bash
# Long context from the command line: the memory plan against measured peak RSS (within 5%), a context that
# cannot fit refused with the flags that make it fit, KV type flags (good and bad), compare across KV types.
# Prints "MMT <passed> <failed>" last (tests/run.sh adds these up).
set -u
BIN=${MM_BIN:?}; SHARED=${MM_SHARED:?}; TMP=${MM_TEST_TMP:?}/cli_longctx; mkdir -p "$TMP"
pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

# A model whose KV cache is most of its memory: 8 KV heads x 128 per token in one softmax layer, 3 MB of weights.
M=$TMP/wide
"$BIN" mkmodel -o "$M" --vocab 256 --hidden 64 --heads 8 --kv-heads 8 --head-dim 128 --rotary-dim 64 --ffn 64 --experts 2 \
  --top-k 2 --layer-types LS --dtype f32 --force >/dev/null 2>&1
ids=$(awk 'BEGIN { for (i = 0; i < 1999; i++) printf "%s%d", i ? "," : "", (i * 7919 + 13) % 256 }')
for kv in "f32 512" "q8_0 128" "q4_0 256"; do
  set -- $kv
  out=$("$BIN" run -m "$M" --ids "$ids" -n 1 -c 2000 -b "$2" -ctk "$1" -ctv "$1" --stats 2>&1); rc=$?
  check "run -ctk $1 exit ($rc): $out" test $rc -eq 0
  plan=$(sed -n 's/^memory plan: .* = \([0-9.]*\) MiB of .*/\1/p' <<<"$out")
  rss=$(sed -n 's/^peak memory (RSS): \([0-9.]*\) MiB.*/\1/p' <<<"$out")
  check "plan ($plan MiB) within 5% of peak RSS ($rss MiB), -ctk $1 -b $2" \
    awk -v p="${plan:-0}" -v r="${rss:-1}" 'BEGIN { d = (p - r) / r; exit !(d < 0.05 && d > -0.05) }'
done

# A context that cannot fit: refused before anything is allocated, with the numbers and the flags that fit.
out=$("$BIN" run -m "$M" --ids 1,2,3 -n 1 -c 1000000000 2>&1); rc=$?
check "an impossible context is refused ($rc): $out" test $rc -ne 0
check "the refusal gives -c that fits: $out" grep -q -- "-c [0-9]* fits" <<<"$out"
out=$("$BIN" info -m "$M" -c 100000 -ctk q4_0 -ctv q8_0 -np 3 2>&1)
check "info plan: $out" grep -q "memory plan      100000 tokens x 3 sequences, -ctk q4_0 -ctv q8_0" <<<"$out"
check "info total" grep -q "  total " <<<"$out"

# Bad KV flags.
for f in "-ctk q5_1" "-ctv q4_k" "-ctk" "--cache-type-v xyz"; do
  out=$("$BIN" run -m "$M" --ids 1,2 -n 1 $f 2>&1); rc=$?
  check "run $f refused ($rc): $out" test $rc -eq 2
done
out=$("$BIN" info -m "$M" -ctk bf17 2>&1); rc=$?
check "info bad -ctk ($rc)" test $rc -eq 2

# compare: the same model with an f32 and a q8_0 KV cache (B's types by -ctkb/-ctvb).
out=$("$BIN" compare -m "$M" -m "$M" --ids "${ids:0:600}" -ctkb q8_0 -ctvb q8_0 --no-positions 2>&1); rc=$?
check "compare across KV types ($rc): $out" test $rc -eq 0
check "compare reports KL: $out" grep -qi "kl" <<<"$out"
# niah: a 2 x 2 grid on a small random model with MiniMax's tokenizer: CSV, JSON, PNG, and the honest verdict.
N=$TMP/niah-model
"$BIN" mkmodel -o "$N" --vocab 200064 --hidden 32 --heads 2 --kv-heads 1 --head-dim 16 --rotary-dim 8 --ffn 32 --experts 2 \
  --top-k 1 --layer-types LS --dtype bf16 --tokenizer "$SHARED/tokenizer" --force >/dev/null 2>&1
out=$("$BIN" niah -m "$N" --lengths 96,160 --depths 0,100 -n 4 -ctk q8_0 -ctv q8_0 -o "$TMP/niah" 2>&1); rc=$?
check "niah exit ($rc): $out" test $rc -eq 0
check "niah csv rows" test "$(wc -l < "$TMP/niah/niah.csv")" -eq 5
check "niah json" grep -q '"mean_score"' "$TMP/niah/niah.json"
check "niah png" bash -c "head -c 8 '$TMP/niah/niah.png' | od -An -c | grep -q 'P   N   G'"
check "niah says a model that scores 0 cannot retrieve: $out" grep -q "cannot retrieve" <<<"$out"
out=$("$BIN" niah -m "$N" --lengths 96 --depths 0 -n 2 --chat --keys 2 -o "$TMP/niah2" 2>&1); rc=$?
check "niah --chat --keys 2 ($rc): $out" test $rc -eq 0
for f in "--depths 101" "--lengths 0" "--keys 5" "--lengths 8"; do
  out=$("$BIN" niah -m "$N" $f -o "$TMP/niah3" 2>&1); rc=$?
  check "niah $f refused ($rc): $out" test $rc -ne 0
done
echo "MMT $pass $fail"
