#!/usr/bin/env bash
# The README's quantization quality table for the demo model: BF16 (demo/) is the base; each quantized GGUF is scored
# against its saved log-probabilities on the held-out text (minimax perplexity --kl-base).
#   bash scripts/demo-quality.sh [MODEL_DIR] [CHUNKS] [TYPES]   (default demo, 100 chunks of 256 tokens, every type)
# Needs data/demo/heldout.txt (scripts/demo-data.sh). Scratch files (GGUFs, the ~200 MB base) go to a temp dir.
# Types marked "+imatrix" are quantized with an importance matrix computed by `minimax imatrix` on the last 150 kB
# of the held-out text (40 chunks of 256 tokens), which the scored chunks (its beginning) do not overlap.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-demo}
chunks=${2:-100}
types=${3:-"q8_0 q6_k q5_k_m q5_k_s q5_1 q5_0 q4_k_m q4_k q4_1 q4_0 iq4_xs iq4_nl q3_k_l q3_k_m q3_k_s q2_k q4_k_m+imatrix iq4_xs+imatrix q3_k_m+imatrix q2_k+imatrix iq3_xxs+imatrix iq2_xxs+imatrix iq3_s iq3_s+imatrix iq2_s+imatrix iq2_xs+imatrix iq1_m+imatrix iq1_s+imatrix"}
bin=build/minimax
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { OMP_WAIT_POLICY=passive nice -n 19 "$bin" "$@"; }
run perplexity -m "$model" -f data/demo/heldout.txt -c 256 --chunks "$chunks" --kl-base "$tmp/base.bin" > "$tmp/bf16.txt"
ppl=$(sed -n 's/^perplexity: \([0-9.]*\).*/\1/p' "$tmp/bf16.txt")
size=$(du -b "$model/model.safetensors" | cut -f1)
echo "| type | size | perplexity | mean KL vs BF16 | top-1 vs BF16 | max abs delta log p |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '| BF16 (safetensors) | %.1f MB | %s | 0 | 100%% | 0 |\n' "$(awk -v s="$size" 'BEGIN { print s / 1e6 }')" "$ppl"
tail -c 150000 data/demo/heldout.txt > "$tmp/calib.txt"
run imatrix -m "$model" -f "$tmp/calib.txt" -o "$tmp/imatrix.gguf" -c 256 --chunks 40 > /dev/null 2>&1
for t in $types; do
  if [[ $t == *+imatrix ]]; then
    run quantize "$model" "$tmp/$t.gguf" --type "${t%+imatrix}" --imatrix "$tmp/imatrix.gguf" > /dev/null 2>&1
  else
    run quantize "$model" "$tmp/$t.gguf" --type "$t" > /dev/null 2>&1
  fi
  run perplexity -m "$tmp/$t.gguf" -f data/demo/heldout.txt -c 256 --chunks "$chunks" --kl-base "$tmp/base.bin" > "$tmp/$t.txt"
  p=$(sed -n 's/^perplexity: \([0-9.]*\).*/\1/p' "$tmp/$t.txt")
  kl=$(sed -n 's/.*mean KL \([0-9.e-]*\) nats.*/\1/p' "$tmp/$t.txt")
  top=$(sed -n 's/.*top-1 agreement \([0-9.]*%\).*/\1/p' "$tmp/$t.txt")
  dmax=$(sed -n 's/.*max |delta log p| \([0-9.]*\).*/\1/p' "$tmp/$t.txt")
  size=$(du -b "$tmp/$t.gguf" | cut -f1)
  printf '| %s | %.1f MB | %s | %s | %s | %s |\n' "${t^^}" "$(awk -v s="$size" 'BEGIN { print s / 1e6 }')" "$p" "$kl" "$top" "$dmax"
done
