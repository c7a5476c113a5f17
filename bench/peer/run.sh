#!/usr/bin/env bash
# bench/peer/run.sh — minimax.c against llama.cpp on the same GGUF file and thread count.
#
#   bench/peer/run.sh -m MODEL.gguf [-l LLAMA_BIN_DIR] [-t THREADS] [-p 512,4096] [-n 128] [-d 0,4096]
#                     [-R ROUNDS] [--ub LIST] [--kv TYPE] [-o OUT_DIR]
#
# Runs `llama-bench` (from LLAMA_BIN_DIR, optional: without it only minimax.c is measured) and `minimax bench`
# in alternation, ROUNDS times (default 5), one repetition of every test per round, so both engines see the
# same state of a shared machine; then prints, per test, each engine's median tokens/s with its min–max over
# the rounds, the ratio of the medians, and the range of the per-round ratios. Tests: ppN for each -p value
# (from an empty context), tgN for each -n value at each depth of -d (tgN@dD: D tokens already in the context).
# --ub LIST also runs llama.cpp at those micro-batch sizes for the pp tests and compares against its best one
# (the rows then say ub=...). --kv TYPE: both engines' KV cache type (-ctk/-ctv; default f16, llama.cpp's own
# default, so both hold the same cache). Every ppN runs in its own process, so the peak RSS printed (minimax bench's own
# report; GNU time for llama-bench) is that test's.
# Raw results (one JSON line per run) go to OUT_DIR (default: a temporary directory, printed).
# Needs jq and GNU time (scripts/deps.sh installs them); build minimax first (make).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MM=$ROOT/build/minimax
model="" llama="" threads=$(nproc) pp=512,4096 tg=128 depths=0 rounds=5 ubs="" out="" kv=f16
while [ $# -gt 0 ]; do
  case "$1" in
    -m) model=$2; shift 2 ;;
    -l) llama=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    -p) pp=$2; shift 2 ;;
    -n) tg=$2; shift 2 ;;
    -d) depths=$2; shift 2 ;;
    -R) rounds=$2; shift 2 ;;
    --ub) ubs=$2; shift 2 ;;
    --kv) kv=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "peer: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$model" ] || { echo "peer: -m MODEL.gguf is required (see --help)" >&2; exit 2; }
[ -f "$model" ] || { echo "peer: $model: no such file" >&2; exit 2; }
[ -x "$MM" ] || { echo "peer: build $MM first (make)" >&2; exit 2; }
bash "$ROOT/scripts/deps.sh" jq time
LB=""
if [ -n "$llama" ]; then
  LB=$llama/llama-bench
  [ -x "$LB" ] || { echo "peer: $LB is not an executable llama-bench" >&2; exit 2; }
fi
[ -n "$out" ] || out=$(mktemp -d /tmp/peer-XXXXXX)
mkdir -p "$out"
IFS=, read -r -a PPS <<<"$pp"; IFS=, read -r -a TGS <<<"$tg"; IFS=, read -r -a DS <<<"$depths"
UBL=(512); [ -n "$ubs" ] && IFS=, read -r -a UBL <<<"$ubs"

# One llama-bench run: test ppN at micro-batch $2 ($1 = pp), or the tg tests at depth $1; appends lines
# "test ub tokens/s peak-RSS-KiB" to llama.tsv.
run_llama() {
  local d=$1 arg=${2:-} ub=512 args log=$out/llama.run.jsonl
  if [ "$d" = pp ]; then ub=${3:-512}; args=(-p "$arg" -n 0 -ub "$ub" -b "$((arg > 2048 ? arg : 2048))")
  else args=(-p 0 -n "$tg" -d "$d"); fi
  /usr/bin/time -f "%M" -o "$out/rss.tmp" "$LB" -m "$model" -t "$threads" -r 1 -o jsonl -ctk "$kv" -ctv "$kv" "${args[@]}" >"$log" 2>"$out/llama.err" ||
    { echo "peer: llama-bench failed (see $out/llama.err)" >&2; exit 1; }
  cat "$log" >>"$out/llama.jsonl"
  jq -r --arg ub "$ub" --arg rss "$(tail -n 1 "$out/rss.tmp")" '
    (if .n_gen > 0 then "tg\(.n_gen)" + (if .n_depth > 0 then "@d\(.n_depth)" else "" end) else "pp\(.n_prompt)" end)
    + " " + $ub + " " + (.avg_ts | tostring) + " " + $rss' "$log" >>"$out/llama.tsv"
}

# One minimax bench run: test ppN ($1 = pp, $2 = N), or the tg tests at depth $1; appends to minimax.tsv.
run_mm() {
  local d=$1 args log=$out/mm.run.json
  if [ "$d" = pp ]; then args=(-p "$2" -n 0); else args=(-p 0 -n "$tg" -d "$d"); fi
  "$MM" bench -m "$model" -t "$threads" -r 1 --json --no-ceilings -ctk "$kv" -ctv "$kv" "${args[@]}" >"$log" 2>"$out/mm.err" ||
    { echo "peer: minimax bench failed (see $out/mm.err)" >&2; exit 1; }
  jq -c . "$log" >>"$out/minimax.jsonl"
  jq -r '. as $o | .tests[] | .test + " - " + (.tokens_per_s.median | tostring) + " " + (($o.peak_rss_bytes / 1024) | floor | tostring)' \
    "$log" >>"$out/minimax.tsv"
}

: >"$out/llama.tsv"; : >"$out/minimax.tsv"
echo "peer: $model, $threads threads, $rounds rounds, KV cache $kv; raw results in $out" >&2
for ((r = 1; r <= rounds; r++)); do
  echo "peer: round $r/$rounds" >&2
  for p in "${PPS[@]}"; do
    [ "$p" = 0 ] && continue
    if [ -n "$LB" ]; then for ub in "${UBL[@]}"; do run_llama pp "$p" "$ub"; done; fi
    run_mm pp "$p"
  done
  [ "$tg" = 0 ] && continue
  for d in "${DS[@]}"; do
    [ -n "$LB" ] && run_llama "$d"
    run_mm "$d"
  done
done

# The table: per test, median (min-max) of each engine over the rounds, ratio of medians, range of round ratios.
awk -v have_llama="${LB:+1}" '
  function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                                   return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  FNR == 1 { f++ }
  f == 1 { k = $1; m[k, ++nm[k]] = $3; mrss[k] = $4 > mrss[k] ? $4 : mrss[k]; if (!(k in seen)) { seen[k] = 1; order[++no] = k } }
  f == 2 { k = $1 SUBSEP $2; l[k, ++nl[k]] = $3; lrss[k] = $4 > lrss[k] ? $4 : lrss[k]; if (index(ubs[$1] " ", " " $2 " ") == 0) ubs[$1] = ubs[$1] " " $2 }
  END {
    printf "%-14s %26s %26s %8s %16s %10s %10s\n", "test", "minimax.c tok/s", "llama.cpp tok/s", "ratio", "round ratios", "RSS mm", "RSS llama"
    for (i = 1; i <= no; i++) {
      k = order[i]; n = nm[k]
      for (j = 1; j <= n; j++) { a[j] = m[k, j]; lo = j == 1 || a[j] < lo ? a[j] : lo; hi = j == 1 || a[j] > hi ? a[j] : hi }
      mm = med(a, n); mlo = lo; mhi = hi
      if (!have_llama) { printf "%-14s %10.2f (%6.2f-%6.2f) %26s\n", k, mm, mlo, mhi, "-"; continue }
      best = ""; bm = -1                           # llama.cpp at its best micro-batch (by median)
      split(ubs[k], u, " ")
      for (q in u) { kk = k SUBSEP u[q]; c = nl[kk]; for (j = 1; j <= c; j++) b[j] = l[kk, j]; v = med(b, c); if (v > bm) { bm = v; best = u[q] } }
      kk = k SUBSEP best; c = nl[kk]
      for (j = 1; j <= c; j++) { b[j] = l[kk, j]; llo = j == 1 || b[j] < llo ? b[j] : llo; lhi = j == 1 || b[j] > lhi ? b[j] : lhi }
      rlo = 1e30; rhi = 0
      for (j = 1; j <= n && j <= c; j++) { r = m[k, j] / l[kk, j]; rlo = r < rlo ? r : rlo; rhi = r > rhi ? r : rhi }
      name = k (k ~ /^pp/ && length(u) > 1 ? " ub=" best : "")
      printf "%-14s %10.2f (%6.2f-%6.2f) %10.2f (%6.2f-%6.2f) %7.2fx %7.2f-%-7.2f %8.0fM %8.0fM\n", name, mm, mlo, mhi, bm, llo, lhi,
             mm / bm, rlo, rhi, mrss[k] / 1024, lrss[kk] / 1024
    }
  }' "$out/minimax.tsv" "$out/llama.tsv"
