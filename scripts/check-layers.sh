#!/usr/bin/env bash
# Checks the layering of src/: every project include names its folder ("model/mm_context.h"), and a folder
# includes only itself and the folders below it. The order, lowest first, and what each may include:
#   base     —                         (errors, allocation, dtypes, file mapping, timing)
#   kernels  base                      (matrix products, block formats, packed layout, element-wise ops)
#   text     base                      (tokenizer, chat templates)
#   dist     base                      (the transport between processes: local, Open MPI)
#   formats  base kernels text         (config.json, safetensors, GGUF, random checkpoints)
#   vision   base kernels formats      (image decoding, preprocessing, the CLIP tower, projector and packing)
#   model    base kernels formats vision dist          (binding, the layer stack, contexts, sampling, the VL merge)
#   tools    base kernels text formats vision dist model    (machine ceilings, conversion, perplexity)
#   train    base kernels text formats dist model      (the trainer, the tokenizer trainer)
#   server   base kernels text formats vision dist model tools   (HTTP, scheduler, prefix cache, OpenAI JSON)
#   cli      everything
# Prints each offending line and exits 1; prints "layers ok" and exits 0 otherwise. An argument names another
# tree to check (the tests check a copy with a bad include in it).
set -u
cd "${1:-$(dirname "$0")/..}"
declare -A allow=(
  [base]=""
  [kernels]="base"
  [text]="base"
  [dist]="base"
  [formats]="base kernels text"
  [vision]="base kernels formats"
  [model]="base kernels formats vision dist"
  [tools]="base kernels text formats vision dist model"
  [train]="base kernels text formats dist model"
  [server]="base kernels text formats vision dist model tools"
  [cli]="base kernels text formats vision dist model tools train server"
)
bad=0
for dir in src/*/; do
  folder=$(basename "$dir")
  if [ -z "${allow[$folder]+x}" ]; then
    echo "src/$folder/: a folder the layering does not know (add it to scripts/check-layers.sh)"; bad=1; continue
  fi
  while IFS= read -r hit; do
    file=${hit%%:*}; rest=${hit#*:}; line=${rest%%:*}; inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$rest")
    case "$inc" in
      minimax.h) continue ;;                      # the public API, below everything
      */*) target=${inc%%/*} ;;
      *) echo "$file:$line: \"$inc\" does not name its folder (write \"<folder>/$inc\")"; bad=1; continue ;;
    esac
    [ "$target" = "$folder" ] && continue
    case " ${allow[$folder]} " in
      *" $target "*) ;;
      *) echo "$file:$line: src/$folder/ may not include src/$target/ (\"$inc\"): a lower layer includes a higher one"; bad=1 ;;
    esac
  done < <(grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$dir"*.[ch] "$dir"*.inc 2>/dev/null)
done
[ $bad -eq 0 ] && echo "layers ok"
exit $bad
