#!/usr/bin/env bash
# The README's quantization quality table for the demo model: BF16 (demo/) is the base; each quantized GGUF is scored
# against its saved log-probabilities on the held-out text (minimax perplexity --kl-base).
#   bash scripts/demo-quality.sh [MODEL_DIR] [CHUNKS]     (default demo, 100 chunks of 256 tokens)
# Needs data/demo/heldout.txt (scripts/demo-data.sh). Scratch files (GGUFs, the ~200 MB base) go to a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-demo}
chunks=${2:-100}
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
for t in q8_0 q6_k q4_k q4_0; do
  run quantize "$model" "$tmp/$t.gguf" --type "$t" > /dev/null 2>&1
  run perplexity -m "$tmp/$t.gguf" -f data/demo/heldout.txt -c 256 --chunks "$chunks" --kl-base "$tmp/base.bin" > "$tmp/$t.txt"
  p=$(sed -n 's/^perplexity: \([0-9.]*\).*/\1/p' "$tmp/$t.txt")
  kl=$(sed -n 's/.*mean KL \([0-9.e-]*\) nats.*/\1/p' "$tmp/$t.txt")
  top=$(sed -n 's/.*top-1 agreement \([0-9.]*%\).*/\1/p' "$tmp/$t.txt")
  dmax=$(sed -n 's/.*max |delta log p| \([0-9.]*\).*/\1/p' "$tmp/$t.txt")
  size=$(du -b "$tmp/$t.gguf" | cut -f1)
  printf '| %s | %.1f MB | %s | %s | %s | %s |\n' "${t^^}" "$(awk -v s="$size" 'BEGIN { print s / 1e6 }')" "$p" "$kl" "$top" "$dmax"
done
