#!/usr/bin/env bash
# minimax bench / info / logits / run from the command line on golden case a (small and fast).
# Prints "MMT <passed> <failed>" last (tests/run.sh adds these up).
set -u
BIN=${MM_BIN:?}; SHARED=${MM_SHARED:?}; TMP=${MM_TEST_TMP:?}/cli_bench; mkdir -p "$TMP"
A=$SHARED/golden/a_small_mixed
pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

out=$("$BIN" bench -m "$A" -p 8,32 -n 4 -r 2 --bw-mb 16 --gemm-n 64 2>&1); rc=$?
check "bench exit code ($rc): $out" test $rc -eq 0
for w in "ceilings: read bandwidth" "OpenBLAS sgemm" "pp8" "pp32" "tg4" "lightning time pp8" "peak RSS"; do
  check "bench output lacks '$w'" grep -q "$w" <<<"$out"
done
js=$("$BIN" bench -m "$A" -p 8 -n 2 -r 1 --bw-mb 16 --gemm-n 64 --json 2>&1); rc=$?
check "bench --json exit ($rc)" test $rc -eq 0
for w in '"tokens_per_s"' '"read_bandwidth_gbs"' '"blas_sgemm_gflops"' '"time_fraction"' '"test": "tg2"'; do
  check "bench --json lacks $w" grep -q "$w" <<<"$js"
done
# a Q8_0 GGUF: packed at load where the kernels have packed products (AVX2, AVX-VNNI, AVX-512; bench reports the
# bytes), not with --no-repack
"$BIN" quantize "$A" "$TMP/a-q8_0.gguf" --type q8_0 --force >/dev/null 2>&1
js=$("$BIN" bench -m "$TMP/a-q8_0.gguf" -p 8 -n 2 -r 1 --bw-mb 16 --gemm-n 64 --json 2>&1); rc=$?
check "bench q8_0 --json exit ($rc): $js" test $rc -eq 0
packed=$(sed -n 's/.*"packed_bytes": \([0-9]*\).*/\1/p' <<<"$js")
if ! grep -q '"isa": "scalar"' <<<"$js"; then check "q8_0 matrices packed ($packed bytes)" test "${packed:-0}" -gt 0
else check "no packing with the scalar kernels ($packed bytes)" test "${packed:-1}" -eq 0; fi
js=$("$BIN" bench -m "$TMP/a-q8_0.gguf" -p 8 -n 2 -r 1 --bw-mb 16 --gemm-n 64 --json --no-repack 2>&1)
check "--no-repack packs nothing" grep -q '"packed_bytes": 0,' <<<"$js"
out=$("$BIN" bench -m "$TMP/a-q8_0.gguf" -p 0 -n 2 -r 1 --bw-mb 16 --gemm-n 64 2>&1)
check "bench names the packed layout: $out" grep -q "in the packed 16-row layout" <<<"$out"
# --isa: the scalar set packs nothing and says so; an unknown name is refused with the list of names
js=$("$BIN" bench -m "$TMP/a-q8_0.gguf" -p 8 -n 2 -r 1 --bw-mb 16 --gemm-n 64 --json --isa scalar 2>&1)
check "--isa scalar runs the scalar set: $js" grep -q '"isa": "scalar"' <<<"$js"
check "--isa scalar packs nothing" grep -q '"packed_bytes": 0,' <<<"$js"
err=$("$BIN" bench -m "$TMP/a-q8_0.gguf" --isa sse9 2>&1); rc=$?
check "--isa unknown refused ($rc)" test $rc -eq 2
check "--isa message: $err" grep -q "avx2, avxvnni" <<<"$err"
out=$("$BIN" bench -m "$A" -p 8 -n 2 -d 0,40 -r 1 --no-ceilings -ctk q8_0 -ctv q4_0 2>&1)
check "bench --depths 0,40: $out" bash -c "grep -q '^tg2 ' <<<\"\$0\" && grep -q '^tg2@d40 ' <<<\"\$0\" && grep -q '^pp8@d40 ' <<<\"\$0\"" "$out"
check "bench falling depths refused" bash -c "! '$BIN' bench -m '$A' -d 40,0 2>/dev/null"
out=$("$BIN" bench -m "$A" -p 0 -n 2 -d 0,300 --fill-depth -r 1 --no-ceilings -ctk q8_0 -ctv q8_0 --json 2>&1)
check "bench --fill-depth: tg2@d300 with the fill recorded: $out" bash -c "grep -q '\"test\": \"tg2@d300\"' <<<\"\$0\" && grep -q '\"depth_filled\": true' <<<\"\$0\"" "$out"
out=$("$BIN" bench -m "$A" -p 0 -n 2 -d 300 --fill-depth -r 1 --no-ceilings 2>&1)
check "bench --fill-depth says so: $out" grep -q "depths filled with random keys and values" <<<"$out"
check "bench without -m fails" bash -c "! '$BIN' bench 2>/dev/null"
# decode attention alone (one token over all KV heads, one thread): a line per depth in the table, an entry in JSON
out=$("$BIN" bench -m "$A" -p 0 -n 0 --no-ceilings -ctk q8_0 -ctv q8_0 --decode-attn-depth 64,300 2>&1); rc=$?
check "bench --decode-attn-depth exit ($rc): $out" test $rc -eq 0
check "bench --decode-attn-depth prints both depths: $out" bash -c "grep -q 'q8_0/q8_0 KV heads at depth 64: [0-9.]* ns per position' <<<\"\$0\" &&
  grep -q 'at depth 300: [0-9.]* ns per position ([0-9.]*-[0-9.]*), [0-9.]* G multiply-adds/s, [0-9.]* GB/s of KV' <<<\"\$0\"" "$out"
js=$("$BIN" bench -m "$A" -p 0 -n 0 --no-ceilings -ctk f16 --decode-attn-depth 100 --json 2>&1); rc=$?
check "bench --decode-attn-depth --json ($rc): $js" bash -c "grep -q '\"decode_attention\"' <<<\"\$0\" &&
  grep -q '\"type_k\": \"f16\"' <<<\"\$0\" && grep -q '\"ns_per_position_median\": [0-9]' <<<\"\$0\"" "$js"
err=$("$BIN" bench -m "$A" -p 0 -n 0 --no-ceilings --decode-attn-depth 16000000 2>&1); rc=$?
check "bench --decode-attn-depth past 2 GiB refused ($rc): $err" bash -c "test $rc -eq 2 && grep -q 'at most 2 GiB' <<<\"\$0\"" "$err"
check "bench bad -r fails" bash -c "! '$BIN' bench -m '$A' -r 0 2>/dev/null"
check "bench --help" bash -c "'$BIN' bench --help | grep -q usage"

# info
out=$("$BIN" info -m "$A" -c 1000 2>&1); rc=$?
check "info exit" test $rc -eq 0
check "info layout" grep -q "LSLS" <<<"$out"
check "info memory plan" grep -q "memory plan      1000 tokens x 1 sequences, -ctk f32 -ctv f32" <<<"$out"

# logits: same bytes as the golden prompt 1 file
ids=$(sed -n 's/.*"input_ids": \[\([0-9, ]*\)\].*/\1/p' <(tr -d '\n' < "$A/manifest.json" | sed 's/"index"/\n"index"/g') | sed -n 2p | tr -d ' ')
check "logits run" "$BIN" logits -m "$A" --ids "$ids" -o "$TMP/l.bin"
check "logits size" test "$(stat -c %s "$TMP/l.bin")" -eq "$(stat -c %s "$A/prompt1_logits.bin")"

# run: greedy ids of generation 0 (prompt 0 is ... read from the manifest's first generation)
check "run --print-ids works" bash -c "'$BIN' run -m '$A' --ids 5,6,7 -n 5 --print-ids | grep -Eq '^[0-9]+( [0-9]+){4}$'"
# errors: token id out of range, prompt longer than the context, unknown flag, missing model
err=$("$BIN" run -m "$A" --ids 5,512 -n 2 2>&1); rc=$?
check "run id >= vocab refused" test $rc -ne 0
check "run id message: $err" grep -q "out of range" <<<"$err"
err=$("$BIN" run -m "$A" --ids 5,6,7,8 -c 3 -n 1 2>&1); rc=$?
check "run prompt > ctx refused" test $rc -ne 0
check "run ctx message: $err" grep -q "more than the context size 3" <<<"$err"
check "run unknown flag" bash -c "! '$BIN' run -m '$A' --ids 5 --bogus 2>/dev/null"
err=$("$BIN" run -m "$TMP/none" --ids 5 2>&1); rc=$?
check "run missing model refused" test $rc -ne 0
check "run missing model message: $err" grep -q "config.json" <<<"$err"
echo "MMT $pass $fail"
