#!/usr/bin/env bash
# cli_mpi.sh BUILD — `minimax` under mpirun (pipeline parallelism, src/model/mm_pipeline.*): every golden case's
# logits and greedy tokens from 2 and 3 ranks (uneven --layer-split, several micro-batches) bit-identical to one
# process with the same threads; a mkmodel model quantized to Q8_0 likewise, with each rank's memory ≈ its share;
# state files (run --prompt-cache, chat /save /load) byte-identical to one process's and loading across splits;
# compare (two models one after the other) printing what one process prints;
# start-up refusals (different model file, config, binary; bad split; too many ranks; a command that does not run
# across ranks); `serve` on 2 and 3 ranks answering as one process (tests/server/test_mpi.mjs); a rank killed or
# stopped mid-generation ends every process within bounded time with a clear error.
# Env: MM_BIN, MM_SHARED, MM_TEST_TMP. Last line: MMT <passed> <failed>.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."

BIN=${MM_BIN:-$PWD/$BUILD/minimax}
SHARED=${MM_SHARED:-../shared}
TMP=$(mktemp -d "${MM_TEST_TMP:-/tmp}/cli_mpi-XXXXXX")
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
bg=""
trap '[ -n "$bg" ] && kill -TERM $bg 2>/dev/null && wait $bg 2>/dev/null; rm -rf "$TMP"' EXIT
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export MM_DIST_TIMEOUT=60
if [ -n "${MM_SANITIZE:-}" ]; then   # Open MPI's own leaks: tests/lsan-mpi.supp, matched on full stacks
  export ASAN_OPTIONS="${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0" LSAN_OPTIONS=suppressions=$PWD/tests/lsan-mpi.supp
  export OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1
fi
MPI="timeout 120 mpirun --oversubscribe"
if ! command -v mpirun >/dev/null; then bad "mpirun is missing (openmpi-bin: scripts/deps.sh)"; echo "MMT $pass $fail"; exit 1; fi

# same_bytes WHAT FILE_A FILE_B
same_bytes() { if [ -s "$2" ] && cmp -s "$2" "$3"; then ok; else bad "$1: $2 and $3 differ"; fi; }

ids=1,2,3,4,5,6,7,8,9,10,11,12,13
for dir in "$SHARED"/golden/*/; do [ -n "${QUICK:-}" ] && break
  g=$(basename "$dir")
  L=$(grep -o '"num_hidden_layers": *[0-9]*' "$dir/config.json" | grep -o '[0-9]*$')
  "$BIN" logits -m "$dir" --ids $ids -t 1 -b 4 -o "$TMP/$g.1" 2>/dev/null
  $MPI -np 2 "$BIN" logits -m "$dir" --ids $ids -t 1 -b 4 -o "$TMP/$g.2" 2>"$TMP/err" >/dev/null || cat "$TMP/err" >&2
  same_bytes "$g logits, 2 ranks" "$TMP/$g.1" "$TMP/$g.2"
  $MPI -np 3 "$BIN" logits --layer-split 1,$((L - 2)),1 -m "$dir" --ids $ids -t 1 -b 4 -o "$TMP/$g.3" 2>"$TMP/err" >/dev/null ||
    cat "$TMP/err" >&2
  same_bytes "$g logits, 3 ranks 1,$((L - 2)),1" "$TMP/$g.1" "$TMP/$g.3"
done
# expert parallelism: the experts split across the ranks, every layer on every rank
for g in a_small_mixed c_deepnorm_alpha_beta e_partial_rotary_original; do [ -n "${QUICK:-}" ] && break
  for n in 2 3; do
    $MPI -np $n "$BIN" logits --expert-parallel -m "$SHARED/golden/$g" --ids $ids -t 1 -b 4 -o "$TMP/$g.ep$n" 2>"$TMP/err" >/dev/null ||
      cat "$TMP/err" >&2
    same_bytes "$g logits, $n expert-parallel ranks" "$TMP/$g.1" "$TMP/$g.ep$n"
  done
done
for g in a_small_mixed g_prenorm_lastlinear_alibi; do [ -n "${QUICK:-}" ] && break
  "$BIN" run -m "$SHARED/golden/$g" --ids 5,6,7 -n 12 --print-ids -t 1 >"$TMP/run.1" 2>/dev/null
  $MPI -np 3 "$BIN" run -m "$SHARED/golden/$g" --ids 5,6,7 -n 12 --print-ids -t 1 >"$TMP/run.3" 2>/dev/null
  same_bytes "$g greedy tokens, 3 ranks" "$TMP/run.1" "$TMP/run.3"
done

# A mkmodel model in Q8_0 (packed at load, so resident memory is what a rank holds), two threads per rank.
M=$TMP/mk
"$BIN" mkmodel -o "$M" --layers 6 --vocab 4096 --ffn 2048 --experts 8 --seed 3 >/dev/null 2>&1 &&
  "$BIN" quantize "$M" "$M.gguf" --type q8_0 >/dev/null 2>&1 || bad "mkmodel/quantize failed"
"$BIN" logits -m "$M.gguf" --ids $ids -t 2 -b 5 -o "$TMP/mk.1" 2>/dev/null
MM_PP_REPORT=1 $MPI -np 2 "$BIN" logits -m "$M.gguf" --ids $ids -t 2 -b 5 -o "$TMP/mk.2" 2>"$TMP/mk.err" >/dev/null
same_bytes "mkmodel Q8_0 logits, 2 ranks" "$TMP/mk.1" "$TMP/mk.2"
for r in 0 1; do grep -q "rank $r of 2: waited for other ranks [0-9.]* s of" "$TMP/mk.err" && ok || bad "MM_PP_REPORT: no line of rank $r"; done
$MPI -np 3 "$BIN" logits --layer-split 3,2,1 -m "$M.gguf" --ids $ids -t 2 -b 5 -o "$TMP/mk.3" 2>>"$TMP/mk.err" >/dev/null
same_bytes "mkmodel Q8_0 logits, 3 ranks 3,2,1" "$TMP/mk.1" "$TMP/mk.3"
"$BIN" run -m "$M.gguf" --ids 9,8,7 -n 16 --print-ids -t 2 >"$TMP/mkrun.1" 2>/dev/null
$MPI -np 2 "$BIN" run -m "$M.gguf" --ids 9,8,7 -n 16 --print-ids -t 2 >"$TMP/mkrun.2" 2>/dev/null
same_bytes "mkmodel Q8_0 greedy tokens, 2 ranks" "$TMP/mkrun.1" "$TMP/mkrun.2"
$MPI -np 2 "$BIN" run --expert-parallel -m "$M.gguf" --ids 9,8,7 -n 16 --print-ids -t 2 >"$TMP/mkrun.ep" 2>>"$TMP/mk.err"
same_bytes "mkmodel Q8_0 greedy tokens, 2 expert-parallel ranks" "$TMP/mkrun.1" "$TMP/mkrun.ep"
# compare across ranks: A's pipeline, then B's (the ranks free A first): the same table and JSON as one process
"$BIN" compare -m "$M" -m "$M.gguf" --ids $ids -t 2 >"$TMP/cmp.1" 2>/dev/null
$MPI -np 2 "$BIN" compare -m "$M" -m "$M.gguf" --ids $ids -t 2 >"$TMP/cmp.2" 2>/dev/null
same_bytes "compare, 2 ranks" "$TMP/cmp.1" "$TMP/cmp.2"
"$BIN" compare -m "$M" -m "$M.gguf" --ids $ids -t 2 --json -ctkb q8_0 >"$TMP/cmpj.1" 2>/dev/null
$MPI -np 3 "$BIN" compare --layer-split 3,2,1 -m "$M" -m "$M.gguf" --ids $ids -t 2 --json -ctkb q8_0 >"$TMP/cmpj.3" 2>/dev/null
same_bytes "compare --json, 3 ranks 3,2,1" "$TMP/cmpj.1" "$TMP/cmpj.3"
grep -q '"top1_agree_pct"' "$TMP/cmpj.3" && ok || bad "compare --json on 3 ranks: $(cat "$TMP/cmpj.3")"
# memory: each rank's peak RSS after load is its weights plus a bounded overhead (the process, MPI, scratch)
n_lines=0
overhead=32; [ -n "${MM_SANITIZE:-}" ] && overhead=64   # the process, MPI, scratch (+ ASan's shadow and quarantine)
while read -r w rss; do
  n_lines=$((n_lines + 1))
  echo "rank memory: weights $w MiB, peak RSS $rss MiB" >&2
  awk -v w="$w" -v r="$rss" -v o="$overhead" 'BEGIN { exit !(r >= 0.8 * w && r <= w + o) }' && ok ||
    bad "a rank holding $w MiB has a peak RSS of $rss MiB (more than $overhead MiB over its weights)"
done < <(sed -n 's/.*; weights \([0-9.]*\) MiB .*peak RSS \([0-9.]*\) MiB/\1 \2/p' "$TMP/mk.err")
[ "$n_lines" -eq 7 ] && ok || bad "expected 7 start-up lines (2 + 3 + 2 ranks), got $n_lines"

# run --prompt-cache across ranks: rank 0 writes the file one process writes (byte for byte; the model's first layer
# is softmax, so rank 0 asks another rank whether the state has lightning states), a file made by one process or
# another split hits, the continuation is identical; a damaged file ends the job with a clear error, bounded
PC=$TMP/pcm
"$BIN" mkmodel -o "$PC" --preset tiny --hidden 64 --heads 2 --kv-heads 1 --head-dim 32 --layer-types SLLSLL --experts 2 \
  --top-k 1 --vocab 512 --ffn 64 --seed 5 >/dev/null 2>&1 || bad "mkmodel for the prompt cache"
# pc_run OUT LAUNCHER... [-- ARGS]: run with the prompt cache OUT.pc, tokens to OUT, stderr to OUT.err
pc_run() {
  local out=$1 launch=() ; shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do launch+=("$1"); shift; done; shift
  "${launch[@]}" run "$@" -m "$PC" --ids 5,6,7,8,9,10,11 -n 6 --print-ids -t 1 -b 3 --prompt-cache "$out.pc" >"$out" 2>"$out.err"
}
pc_run "$TMP/pc1" "$BIN" --
pc_run "$TMP/pc2" $MPI -np 2 "$BIN" --
pc_run "$TMP/pc3" $MPI -np 3 "$BIN" -- --layer-split 1,3,2
same_bytes "prompt cache file, 2 ranks" "$TMP/pc1.pc" "$TMP/pc2.pc"
same_bytes "prompt cache file, 3 ranks 1,3,2" "$TMP/pc1.pc" "$TMP/pc3.pc"
same_bytes "tokens with a fresh prompt cache, 2 ranks" "$TMP/pc1" "$TMP/pc2"
same_bytes "tokens with a fresh prompt cache, 3 ranks" "$TMP/pc1" "$TMP/pc3"
cp "$TMP/pc1.pc" "$TMP/pc4.pc" && cp "$TMP/pc3.pc" "$TMP/pc5.pc" && cp "$TMP/pc2.pc" "$TMP/pc6.pc"
pc_run "$TMP/pc4" $MPI -np 3 "$BIN" -- --layer-split 1,3,2   # one process's file on 3 ranks
pc_run "$TMP/pc5" $MPI -np 2 "$BIN" --                      # 3 ranks' file on 2
pc_run "$TMP/pc6" "$BIN" --                                 # 2 ranks' file in one process
for k in 4 5 6; do
  grep -q "prompt cache: restored 6 of the prompt's 7 tokens" "$TMP/pc$k.err" && ok || bad "prompt cache $k: no hit: $(cat "$TMP/pc$k.err")"
  same_bytes "tokens after a prompt cache hit ($k)" "$TMP/pc1" "$TMP/pc$k"
done
head -c 300 "$TMP/pc1.pc" >"$TMP/pct.pc"
out=$($MPI -np 3 "$BIN" run --layer-split 1,3,2 -m "$PC" --ids 5,6,7,8,9,10,11 -n 2 -t 1 --prompt-cache "$TMP/pct.pc" 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "pct.pc: state file is truncated" <<<"$out" && ok || bad "a truncated prompt cache on 3 ranks: rc $rc: $out"

# chat across ranks: /save writes the state and transcript one process writes; /load of another split's file continues
# with the same answer; rank 0 pings the other ranks while it loads the tokenizer (10 s under ASan) and while the user
# takes longer than MM_DIST_TIMEOUT to type
CM=$TMP/chatm
"$BIN" mkmodel -o "$CM" --preset tiny --hidden 64 --heads 2 --kv-heads 1 --head-dim 32 --layer-types LSLLSL --experts 2 \
  --top-k 1 --ffn 32 --tokenizer "$SHARED/tokenizer/tokenizer.json" >/dev/null 2>&1 || bad "mkmodel for chat"
chat_opts=(-m "$CM" -n 6 --ignore-eos -t 1 --temp 0)
printf 'hello\nhow are you\n/save %s\nand then?\n' "$TMP/c1" | "$BIN" chat "${chat_opts[@]}" -sys "Be brief." >"$TMP/c1.out" 2>/dev/null
printf 'hello\nhow are you\n/save %s\n' "$TMP/c2" | $MPI -np 2 "$BIN" chat "${chat_opts[@]}" -sys "Be brief." >"$TMP/c2.out" 2>/dev/null
same_bytes "chat /save state, 2 ranks" "$TMP/c1" "$TMP/c2"
same_bytes "chat /save transcript, 2 ranks" "$TMP/c1.json" "$TMP/c2.json"
sed "s|$TMP/c2|$TMP/c1|g" "$TMP/c2.out" >"$TMP/c2.sed"
head -n 3 "$TMP/c1.out" >"$TMP/c1.head"
same_bytes "chat answers, 2 ranks" "$TMP/c1.head" "$TMP/c2.sed"
{ printf '/load %s\n' "$TMP/c2"; sleep 5.5; printf 'and then?\n'; } |
  MM_DIST_TIMEOUT=4 $MPI -np 3 "$BIN" chat --layer-split 2,3,1 "${chat_opts[@]}" >"$TMP/c4.out" 2>"$TMP/c4.err"
grep -q "^loaded 58 tokens, 5 messages" "$TMP/c4.out" && ok || bad "chat /load on 3 ranks: $(cat "$TMP/c4.out" "$TMP/c4.err")"
tail -n 1 "$TMP/c1.out" >"$TMP/c1.tail"; tail -n +2 "$TMP/c4.out" >"$TMP/c4.tail"
same_bytes "chat answer after /load, 3 ranks (a 5.5 s pause at MM_DIST_TIMEOUT=4) = one process's after /save" "$TMP/c1.tail" "$TMP/c4.tail"

# expect_refusal NEEDLE MPIRUN-ARGS...: mpirun fails and its output names the cause
expect_refusal() {
  local needle=$1; shift
  local out rc
  out=$($MPI "$@" 2>&1); rc=$?
  if [ $rc -ne 0 ] && grep -q -- "$needle" <<<"$out"; then ok; else bad "mpirun $* -> rc $rc, wanted '$needle': $out"; fi
}
G=$SHARED/golden/a_small_mixed
# the same shapes and config, another seed
"$BIN" mkmodel -o "$TMP/mk4" --layers 6 --vocab 4096 --ffn 2048 --experts 8 --seed 4 >/dev/null 2>&1 || bad "mkmodel seed 4"
expect_refusal "rank 1 (host .*) has a different model file" -np 1 "$BIN" logits -m "$M" --ids 1,2 -o "$TMP/x" : -np 1 "$BIN" logits -m "$TMP/mk4" --ids 1,2 -o "$TMP/x"
mkdir -p "$TMP/g2" && cp "$G"/* "$TMP/g2/" && sed -i 's/"rms_norm_eps": *[0-9.e-]*/"rms_norm_eps": 0.001/' "$TMP/g2/config.json"
expect_refusal "rank 1 (host .*) reads another model config" -np 1 "$BIN" logits -m "$G" --ids 1,2 -o "$TMP/x" : -np 1 "$BIN" logits -m "$TMP/g2" --ids 1,2 -o "$TMP/x"
cp "$BIN" "$TMP/minimax2" && printf 'x' >>"$TMP/minimax2"
expect_refusal "rank 1 (host .*) runs another minimax binary" -np 1 "$BIN" logits -m "$G" --ids 1,2 -o "$TMP/x" : -np 1 "$TMP/minimax2" logits -m "$G" --ids 1,2 -o "$TMP/x"
expect_refusal "rank 1 (host .*): loading" -np 1 "$BIN" logits -m "$G" --ids 1,2 -o "$TMP/x" : -np 1 "$BIN" logits -m "$TMP/nowhere" --ids 1,2 -o "$TMP/x"
expect_refusal "summing to 3" -np 2 "$BIN" logits --layer-split 1,2 -m "$G" --ids 1,2 -o "$TMP/x"
expect_refusal "at least one layer" -np 5 "$BIN" logits -m "$G" --ids 1,2 -o "$TMP/x"
expect_refusal "at least one expert" -np 5 "$BIN" logits --expert-parallel -m "$SHARED/golden/c_deepnorm_alpha_beta" --ids 1,2 -o "$TMP/x"
expect_refusal "exclude each other" -np 2 "$BIN" logits --expert-parallel --layer-split 2,2 -m "$G" --ids 1,2 -o "$TMP/x"
expect_refusal "does not run across ranks" -np 2 "$BIN" embed -m "$G" --ids 1,2
# a task-head checkpoint: its head reads final hidden states, which a pipeline keeps on the last rank
"$BIN" mkmodel -o "$TMP/seqcls" --preset tiny --hidden 64 --heads 2 --kv-heads 1 --head-dim 32 --layer-types LSLS --experts 2 \
  --top-k 1 --vocab 512 --dialect hf --head seq-cls >/dev/null 2>&1 || bad "mkmodel --head seq-cls"
expect_refusal "MiniMaxForSequenceClassification checkpoint runs in one process only" -np 2 "$BIN" logits -m "$TMP/seqcls" --ids 1,2 -o "$TMP/x"

# serve under mpirun (tests/server/test_mpi.mjs, the openai client): answers equal one process's, the prefix cache hits
if [ -d tests/server/node_modules/openai ]; then
  TM=$TMP/text-model
  "$BIN" mkmodel -o "$TM" --preset tiny --hidden 128 --layers 4 --heads 4 --kv-heads 2 --head-dim 32 --ffn 128 --experts 4 \
    >/dev/null && cp "$SHARED/tokenizer/tokenizer.json" "$TM/" || bad "mkmodel for the server text model"
  out=$(MM_BIN=$BIN MM_SHARED=$SHARED MM_SERVER_TEXT_MODEL=$TM timeout 300 node tests/server/test_mpi.mjs 2>&1); rc=$?
  line=$(grep '^MMT ' <<<"$out" | tail -n 1)
  if [ -n "$line" ]; then read -r _ p f <<<"$line"; pass=$((pass + p)); fail=$((fail + f)); else bad "test_mpi.mjs crashed (exit $rc)"; fi
  [ "${f:-1}" -ne 0 ] && grep -v '^MMT ' <<<"$out" | tail -40 >&2
  # perplexity on 2 ranks prints the same numbers (the time aside)
  head -c 2000 README.md >"$TMP/ppl.txt"
  "$BIN" perplexity -m "$TM" -f "$TMP/ppl.txt" -c 64 --chunks 2 -t 1 2>/dev/null | sed 's/ ([0-9.]* s)//' >"$TMP/ppl.1"
  $MPI -np 2 "$BIN" perplexity -m "$TM" -f "$TMP/ppl.txt" -c 64 --chunks 2 -t 1 2>/dev/null | sed 's/ ([0-9.]* s)//' >"$TMP/ppl.2"
  grep -q "^perplexity: " "$TMP/ppl.1" && same_bytes "perplexity, 2 ranks" "$TMP/ppl.1" "$TMP/ppl.2" || bad "perplexity printed nothing"
else
  bad "tests/server/node_modules is missing: run scripts/deps-test.sh"
fi

# A rank killed (SIGKILL) or stopped (SIGSTOP: a hang) mid-generation: every process ends, bounded, with an error.
# start_long: a long generation on 3 ranks in the background (bg); waits for the start-up lines; pid: rank 1's
start_long() {
  $MPI -np 3 "$BIN" run -m "$G" --ids 1,2,3 -n 1000000 -c 1000000 -t 1 >/dev/null 2>"$TMP/long.err" &
  bg=$!
  for _ in $(seq 300); do grep -q "rank 1 of 3" "$TMP/long.err" && break; sleep 0.1; done
  sleep 0.5
  pid=$(sed -n 's/.*rank 1 of 3 (host [^,]*, pid \([0-9]*\)).*/\1/p' "$TMP/long.err")
}
# ends_within SECONDS NEEDLE WHAT: the background mpirun exits non-zero within SECONDS, its stderr has NEEDLE
ends_within() {
  local t0=$SECONDS rc
  for _ in $(seq $(($1 * 10))); do kill -0 $bg 2>/dev/null || break; sleep 0.1; done
  if kill -0 $bg 2>/dev/null; then bad "$3: mpirun still runs after $1 s"; kill -TERM $bg; wait $bg 2>/dev/null; bg=""; return; fi
  wait $bg; rc=$?; bg=""
  echo "$3: ended in $((SECONDS - t0)) s, exit $rc: $(grep -v '^ *$' "$TMP/long.err" | grep -v 'rank [0-9] of 3 (host' | head -3 | tr '\n' ' ')" >&2
  if [ $rc -ne 0 ] && grep -q -- "$2" "$TMP/long.err"; then ok; else bad "$3: exit $rc, wanted '$2' in: $(cat "$TMP/long.err")"; fi
}
start_long
if [ -n "$pid" ]; then kill -9 "$pid"; ends_within 30 "rank 1 .* signal 9" "rank 1 killed"; else bad "no start-up line for rank 1: $(cat "$TMP/long.err")"; kill -TERM $bg; wait $bg 2>/dev/null; bg=""; fi
export MM_DIST_TIMEOUT=10
start_long
if [ -n "$pid" ]; then kill -STOP "$pid"; ends_within 40 "rank [02] of 3: .*nothing came within 10 s" "rank 1 stopped"; else bad "no start-up line for rank 1: $(cat "$TMP/long.err")"; kill -TERM $bg; wait $bg 2>/dev/null; bg=""; fi
echo "MMT $pass $fail"
