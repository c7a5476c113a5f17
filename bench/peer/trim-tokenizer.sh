#!/usr/bin/env bash
# bench/peer/trim-tokenizer.sh SRC_DIR V OUT_DIR — a tokenizer.json of exactly V tokens cut from SRC_DIR's, for
# random-weight benchmark models whose vocabulary is smaller than the tokenizer's (llama.cpp requires the GGUF's
# token list to match the embedding rows). Keeps the first V − A ordinary tokens (A: the added/special tokens),
# renumbers the added tokens to the last A ids, and keeps the merges whose parts and result survive.
# Uses jq (Debian package). The text it produces tokenizes no better than it needs to for a benchmark.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 SRC_DIR V OUT_DIR" >&2; exit 2; }
src=$1 V=$2 out=$3
mkdir -p "$out"
jq -c --argjson V "$V" '
  (.added_tokens | length) as $na | ($V - $na) as $nb |
  .model.vocab |= with_entries(select(.value < $nb)) |
  .model.vocab as $v |
  .model.merges |= map(select((if type == "string" then split(" ") else . end) as $p
                              | $v[$p[0]] != null and $v[$p[1]] != null and $v[$p[0] + $p[1]] != null)) |
  .added_tokens |= [to_entries[] | .value.id = $nb + .key | .value]
' "$src/tokenizer.json" > "$out/tokenizer.json"
cp "$src/tokenizer_config.json" "$out/tokenizer_config.json"
echo "$out/tokenizer.json: $(jq '.model.vocab | length' "$out/tokenizer.json") tokens + $(jq '.added_tokens | length' "$out/tokenizer.json") added, $(jq '.model.merges | length' "$out/tokenizer.json") merges"
