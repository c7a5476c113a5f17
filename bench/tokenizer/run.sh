#!/usr/bin/env bash
# bench/tokenizer/run.sh — minimax.c's tokenizer vs Hugging Face `tokenizers` (npm tokenizers@0.23.2),
# single-threaded, on a ~10 MB mixed corpus built from this machine's text (docs, man pages, C headers) plus
# generated CJK / emoji / RTL / combining-mark text. Checks the ids are identical over the whole corpus, in
# both modes (~4 KB chunks, and the whole corpus as one string), and prints a side-by-side table.
#   usage: bench/tokenizer/run.sh [TOKENIZER_JSON]      (run `make` first; needs node + npm)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TOK=${1:-$ROOT/../shared/tokenizer/tokenizer.json}
BIN=$ROOT/build/minimax
WORK=$HERE/corpus
mkdir -p "$WORK"
[ -x "$BIN" ] || { echo "build $BIN first (make)" >&2; exit 1; }
[ -d "$HERE/node_modules/tokenizers" ] || (cd "$HERE" && npm install --no-audit --no-fund --silent)

CORPUS=$WORK/corpus.txt
if [ ! -s "$CORPUS" ]; then
  echo "building corpus in $CORPUS ..." >&2
  set +o pipefail   # `head -c` closes pipes early on purpose
  {
    # documentation text (plain and gzipped), ~3 MB
    find /usr/share/doc -type f \( -name '*.gz' -o -name 'README*' -o -name '*.txt' -o -name 'copyright' \) 2>/dev/null |
      sort | while read -r f; do case "$f" in *.gz) zcat "$f" 2>/dev/null ;; *) cat "$f" ;; esac; done | head -c 3000000
    # man pages (roff source), ~2.5 MB
    find /usr/share/man -name '*.gz' 2>/dev/null | sort | head -n 3000 | xargs -r zcat 2>/dev/null | head -c 2500000
    # C source, ~3 MB
    find /usr/include -name '*.h' 2>/dev/null | sort | head -n 4000 | xargs -r cat 2>/dev/null | head -c 3000000
    # generated multilingual text, ~1.5 MB
    node "$HERE/make_corpus.js" 1500000
  } | iconv -f UTF-8 -t UTF-8 -c > "$CORPUS.tmp"   # drop bytes that are not UTF-8 (both sides need valid text)
  set -o pipefail
  mv "$CORPUS.tmp" "$CORPUS"
fi
echo "corpus: $(wc -c < "$CORPUS") bytes, $(nproc) cores" >&2

declare -A R
run() {  # name, command... : keeps the command's JSON line and the whole process's peak RSS (KB)
  local name=$1; shift
  /usr/bin/time -f '%M' -o "$WORK/$name.time" "$@" > "$WORK/$name.json"
  R[$name]=$(tail -n 1 "$WORK/$name.json")
  R[$name.rss]=$(tail -n 1 "$WORK/$name.time")
  echo "$name: ${R[$name]} (process peak RSS ${R[$name.rss]} KB)" >&2
}
field() { echo "${R[$1]}" | sed -n "s/.*\"$2\": *\([0-9.e+-]*\).*/\1/p"; }

for mode in chunks whole; do
  run "c_$mode" "$BIN" tokenize --tokenizer "$TOK" --bench "$CORPUS" --mode "$mode" --ids-out "$WORK/c_$mode.ids"
  run "ref_$mode" env RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false node "$HERE/ref_encode.js" "$TOK" "$CORPUS" "$mode" "$WORK/ref_$mode.ids"
  if cmp -s "$WORK/c_$mode.ids" "$WORK/ref_$mode.ids"; then R[same.$mode]="identical"; else R[same.$mode]="DIFFERENT"; fi
done
run "c_par" "$BIN" tokenize --tokenizer "$TOK" --bench "$CORPUS" --mode whole --threads "$(nproc)" --ids-out "$WORK/c_par.ids"
if cmp -s "$WORK/c_par.ids" "$WORK/ref_whole.ids"; then R[same.par]="identical"; else R[same.par]="DIFFERENT"; fi

printf '\n%-28s %12s %12s %9s\n' "single-threaded" "minimax.c" "HF tokenizers" "ratio"
for mode in chunks whole; do
  c=c_$mode; r=ref_$mode
  printf '%-28s %12.2f %12.2f %8.1fx\n' "$mode: MB/s" "$(field $c mb_per_s)" "$(field $r mb_per_s)" \
    "$(echo "$(field $c mb_per_s) / $(field $r mb_per_s)" | bc -l)"
  printf '%-28s %12.2f %12.2f %8.1fx\n' "$mode: M tokens/s" "$(echo "$(field $c tokens_per_s) / 1000000" | bc -l)" \
    "$(echo "$(field $r tokens_per_s) / 1000000" | bc -l)" "$(echo "$(field $c tokens_per_s) / $(field $r tokens_per_s)" | bc -l)"
  printf '%-28s %12.1f %12.1f %8.1f%%\n' "$mode: peak RSS MB" "$(echo "${R[$c.rss]} / 1024" | bc -l)" \
    "$(echo "${R[$r.rss]} / 1024" | bc -l)" "$(echo "100 * ${R[$c.rss]} / ${R[$r.rss]}" | bc -l)"
  printf '%-28s %12s %12s\n' "$mode: tokens" "$(field $c tokens)" "$(field $r tokens)"
  printf '%-28s %25s\n' "$mode: ids" "${R[same.$mode]}"
done
printf '%-28s %12.1f %12s  (%s threads, ids %s)\n' "whole, parallel: MB/s" "$(field c_par mb_per_s)" "-" "$(nproc)" "${R[same.par]}"
printf '%-28s %12.2f %12.2f\n' "load tokenizer.json: s" "$(field c_whole load_s)" "$(field ref_whole load_s)"
[ "${R[same.chunks]}" = identical ] && [ "${R[same.whole]}" = identical ] && [ "${R[same.par]}" = identical ]
