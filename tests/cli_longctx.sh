#!/usr/bin/env bash
# Long context from the command line: the memory plan against measured peak RSS (within 5%), a context that
# cannot fit refused with the flags that make it fit, KV type flags (good and bad), compare across KV types,
# --kv-page (same tokens at any page size, prompt caches independent of it, bad sizes refused).
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
  if [ -n "${MM_SANITIZE:-}" ]; then # ASan's shadow memory and quarantine are in the RSS: the plan is for normal builds
    check "plan printed ($plan MiB)" test -n "$plan"
  else
    check "plan ($plan MiB) within 5% of peak RSS ($rss MiB), -ctk $1 -b $2" \
      awk -v p="${plan:-0}" -v r="${rss:-1}" 'BEGIN { d = (p - r) / r; exit !(d < 0.05 && d > -0.05) }'
  fi
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
# run --prompt-cache: saved on the first run, restored on the second (same tokens out), a longer prompt with the
# cached one as prefix restores it too; another model, other KV types, a damaged file or another format are refused.
S=$TMP/small
"$BIN" mkmodel -o "$S" --vocab 256 --hidden 64 --heads 4 --kv-heads 2 --head-dim 40 --rotary-dim 16 --ffn 64 --experts 2 \
  --top-k 2 --layer-types LLS --dtype f32 --force >/dev/null 2>&1
"$BIN" mkmodel -o "$TMP/small2" --vocab 256 --hidden 64 --heads 4 --kv-heads 2 --head-dim 40 --rotary-dim 16 --ffn 64 --experts 2 \
  --top-k 2 --layer-types LLS --dtype f32 --seed 9 --force >/dev/null 2>&1
P=${ids:0:900}
rm -f "$TMP/pc.bin"
ref=$("$BIN" run -m "$S" --ids "$P" -n 6 --print-ids 2>/dev/null)
a=$("$BIN" run -m "$S" --ids "$P" -n 6 --print-ids --prompt-cache "$TMP/pc.bin" 2>"$TMP/pc1.err")
check "prompt cache written" test -s "$TMP/pc.bin"
b=$("$BIN" run -m "$S" --ids "$P" -n 6 --print-ids --prompt-cache "$TMP/pc.bin" 2>"$TMP/pc2.err")
check "restored: $(cat "$TMP/pc2.err")" grep -q "prompt cache: restored" "$TMP/pc2.err"
check "same tokens with and without the cache ($ref / $a / $b)" bash -c "[ '$ref' = '$a' ] && [ '$a' = '$b' ]"
b=$("$BIN" run -m "$S" --ids "$P,1,2,3" -n 3 --print-ids --prompt-cache "$TMP/pc.bin" 2>"$TMP/pc3.err")
check "a longer prompt restores the prefix" grep -q "prompt cache: restored" "$TMP/pc3.err"
out=$("$BIN" run -m "$TMP/small2" --ids "$P" -n 2 --prompt-cache "$TMP/pc.bin" 2>&1); rc=$?
check "another model refused ($rc): $out" bash -c "[ $rc -ne 0 ] && grep -q 'another model' <<<\"\$0\"" "$out"
out=$("$BIN" run -m "$S" --ids "$P" -n 2 -ctk q8_0 --prompt-cache "$TMP/pc.bin" 2>&1); rc=$?
check "other KV types refused ($rc): $out" bash -c "[ $rc -ne 0 ] && grep -q 'KV types' <<<\"\$0\"" "$out"
head -c 200 "$TMP/pc.bin" > "$TMP/pc-short.bin"
out=$("$BIN" run -m "$S" --ids "$P" -n 2 --prompt-cache "$TMP/pc-short.bin" 2>&1); rc=$?
check "a truncated cache refused ($rc): $out" test $rc -ne 0
printf 'MMPCACHE\x02\x00\x00\x00' > "$TMP/pc-v2.bin"; head -c 100 /dev/zero >> "$TMP/pc-v2.bin"
out=$("$BIN" run -m "$S" --ids "$P" -n 2 --prompt-cache "$TMP/pc-v2.bin" 2>&1); rc=$?
check "another version refused ($rc): $out" bash -c "[ $rc -ne 0 ] && grep -q 'version 2' <<<\"\$0\"" "$out"
out=$("$BIN" run -m "$S" --ids "$P" -n 2 --prompt-cache "$M/config.json" 2>&1); rc=$?
check "not a prompt cache refused ($rc): $out" bash -c "[ $rc -ne 0 ] && grep -q 'not a minimax prompt cache' <<<\"\$0\"" "$out"

# --kv-page: any page size gives the same tokens; a prompt cache saved with pages of 256 restores into pages of 64;
# info prints the page size; sizes that are not a power of two in 64..65536 are refused.
for pg in 64 4096; do
  a=$("$BIN" run -m "$S" --ids "$P" -n 6 --print-ids --kv-page $pg 2>/dev/null)
  check "--kv-page $pg: same tokens as the default ($ref / $a)" test "$ref" = "$a"
done
rm -f "$TMP/pcp.bin"
"$BIN" run -m "$S" --ids "$P" -n 1 --prompt-cache "$TMP/pcp.bin" >/dev/null 2>&1
b=$("$BIN" run -m "$S" --ids "$P" -n 6 --print-ids --kv-page 64 --prompt-cache "$TMP/pcp.bin" 2>"$TMP/pc4.err")
check "a cache saved with pages of 256 restores into pages of 64: $(cat "$TMP/pc4.err")" grep -q "prompt cache: restored" "$TMP/pc4.err"
check "and gives the same tokens ($ref / $b)" test "$ref" = "$b"
out=$("$BIN" info -m "$S" --kv-page 1024 2>&1)
check "info prints the page size: $out" grep -q "KV pages of 1024 positions" <<<"$out"
for pg in 32 100 131072; do
  out=$("$BIN" run -m "$S" --ids 1,2 -n 1 --kv-page $pg 2>&1); rc=$?
  check "--kv-page $pg refused ($rc): $out" bash -c "[ $rc -eq 2 ] && grep -q 'kv-page' <<<\"\$0\"" "$out"
done
# logits and compare take it too, with the same bits (perplexity below, on a model with a tokenizer); niah refuses a
# bad one
"$BIN" logits -m "$S" --ids "$P" -o "$TMP/lg.256" >/dev/null 2>&1
"$BIN" logits -m "$S" --ids "$P" -o "$TMP/lg.64" --kv-page 64 >/dev/null 2>&1
check "logits --kv-page 64: the same bytes" cmp -s "$TMP/lg.256" "$TMP/lg.64"
out=$("$BIN" compare -m "$S" -m "$S" --ids "$P" --kv-page 64 2>&1)
check "compare --kv-page 64: A and B agree exactly: $out" grep -qE '^\|dlogit\| +max 0\.0000 +mean 0\.0000e\+00' <<<"$out"
out=$("$BIN" niah -m "$S" --kv-page 100 2>&1); rc=$?
check "niah --kv-page 100 refused ($rc): $out" bash -c "[ $rc -eq 2 ] && grep -q 'kv-page' <<<\"\$0\"" "$out"

# Ctrl-C during a long prefill stops at a chunk boundary; with --prompt-cache the chunks done are saved and a rerun
# continues from them.
long=$(awk 'BEGIN { for (i = 0; i < 7999; i++) printf "%s%d", i ? "," : "", (i * 7919 + 13) % 256 }')
rm -f "$TMP/pci.bin"
timeout --preserve-status -s INT 1 "$BIN" run -m "$M" --ids "$long" -n 1 -c 8100 -b 32 -ctk q8_0 -ctv q8_0 --print-ids --prompt-cache "$TMP/pci.bin" >/dev/null 2>"$TMP/int.err"; rc=$?
check "Ctrl-C exit 130 ($rc): $(cat "$TMP/int.err")" test $rc -eq 130
check "interrupted at a chunk boundary and saved: $(cat "$TMP/int.err")" grep -q "interrupted after [0-9]* of the prompt's 7999 tokens (a chunk boundary); saved" "$TMP/int.err"
done_n=$(sed -n "s/.*interrupted after \([0-9]*\) of.*/\1/p" "$TMP/int.err")
check "a whole number of chunks ($done_n)" test $(( ${done_n:-1} % 32 )) -eq 0
out=$("$BIN" run -m "$M" --ids "$long" -n 1 -c 8100 -b 32 -ctk q8_0 -ctv q8_0 --print-ids --prompt-cache "$TMP/pci.bin" 2>&1); rc=$?
check "the rerun continues ($rc): $out" bash -c "[ $rc -eq 0 ] && grep -q 'restored ${done_n:-x} of' <<<\"\$0\"" "$out"

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
head -c 3000 README.md >"$TMP/ppl.txt"
p1=$("$BIN" perplexity -m "$N" -f "$TMP/ppl.txt" -c 64 --chunks 2 2>/dev/null | sed 's/ ([0-9.]* s)//')
p2=$("$BIN" perplexity -m "$N" -f "$TMP/ppl.txt" -c 64 --chunks 2 --kv-page 64 2>/dev/null | sed 's/ ([0-9.]* s)//')
check "perplexity --kv-page 64: the same numbers ($p1 / $p2)" bash -c "[ -n \"\$0\" ] && [ \"\$0\" = \"\$1\" ]" "$p1" "$p2"
for f in "--depths 101" "--lengths 0" "--keys 5" "--lengths 8"; do
  out=$("$BIN" niah -m "$N" $f -o "$TMP/niah3" 2>&1); rc=$?
  check "niah $f refused ($rc): $out" test $rc -ne 0
done
# Per-chunk prefill times: 1999 tokens in chunks of 512 give 4 lines (positions 0, 512, 1024, 1536; 512 x 3 + 463
# tokens), each part's seconds non-negative and their sum within the chunk's wall time; the softmax share of the
# last full chunk (depth 1024) is above the first's (depth 0); an unwritable file is refused.
"$BIN" run -m "$M" --ids "$ids" -n 1 -c 2000 -b 512 --chunk-times "$TMP/ct.csv" >/dev/null 2>&1; rc=$?
check "run --chunk-times exit ($rc)" test $rc -eq 0
check "chunk-times header" grep -qx "chunk,pos0,tokens,seconds,lightning_s,softmax_s,moe_s,head_s,other_s" "$TMP/ct.csv"
check "chunk-times rows: $(tr '\n' ' ' < "$TMP/ct.csv")" test "$(awk -F, 'NR > 1 { printf "%s:%s:%s ", $1, $2, $3 }' "$TMP/ct.csv")" = "0:0:512 1:512:512 2:1024:512 3:1536:463 "
check "chunk-times parts add up: $(tr '\n' ' ' < "$TMP/ct.csv")" awk -F, 'NR > 1 { s = 0; for (i = 5; i <= 9; i++) { if ($i < 0) exit 1; s += $i }
  if (s > $4 * 1.01 + 0.001 || $4 <= 0) exit 1 } END { exit NR != 5 }' "$TMP/ct.csv"
check "softmax time grows with depth: $(tr '\n' ' ' < "$TMP/ct.csv")" awk -F, 'NR == 2 { a = $6 } NR == 4 { b = $6 } END { exit !(b > a) }' "$TMP/ct.csv"
out=$("$BIN" run -m "$M" --ids 1,2,3 -n 1 --chunk-times /nonexistent-dir/ct.csv 2>&1); rc=$?
check "an unwritable --chunk-times is refused ($rc): $out" bash -c "test $rc -ne 0 && grep -q 'chunk-times /nonexistent-dir/ct.csv' <<<'$out'"
# --fill-depth: the prompt decodes after N random positions (the notice says so), within the context only; not with
# a prompt cache.
out=$("$BIN" run -m "$M" --ids 1,2,3 -n 2 -c 2000 --fill-depth 1990 -ctk q8_0 -ctv q8_0 --print-ids 2>&1); rc=$?
check "run --fill-depth 1990 ($rc): $out" bash -c "test $rc -eq 0 && grep -q 'filled 1990 positions' <<<\"\$0\" && grep -q 'starts at position 1990' <<<\"\$0\"" "$out"
out=$("$BIN" run -m "$M" --ids 1,2,3 -n 2 -c 2000 --fill-depth 1998 2>&1); rc=$?
check "run --fill-depth past the context refused ($rc): $out" bash -c "test $rc -ne 0 && grep -q 'more than the context size 2000' <<<\"\$0\"" "$out"
out=$("$BIN" run -m "$M" --ids 1,2,3 -n 2 --fill-depth 10 --prompt-cache "$TMP/pcf.bin" 2>&1); rc=$?
check "run --fill-depth with --prompt-cache refused ($rc): $out" bash -c "test $rc -eq 2 && test ! -e '$TMP/pcf.bin'"
echo "MMT $pass $fail"
