#!/usr/bin/env bash
# The source tree's layering (scripts/check-layers.sh): the real tree passes, and copies with an upward include,
# an include that does not name its folder, or an unknown folder fail with a message naming the line.
set -u
cd "$(dirname "$0")/.."
passed=0; failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
tmp=${MM_TEST_TMP:-/tmp}/layers.$$
trap 'rm -rf "$tmp"' EXIT

out=$(bash scripts/check-layers.sh 2>&1) && [ "$out" = "layers ok" ] && ok || fail "the tree's layering: $out"

copy() { rm -rf "$tmp"; mkdir -p "$tmp"; cp -r src scripts "$tmp/"; }
expect_bad() {  # description, pattern the report must contain
  local out; out=$(bash scripts/check-layers.sh "$tmp" 2>&1)
  if [ $? -ne 0 ] && grep -q -- "$2" <<<"$out"; then ok; else fail "$1 not reported: $out"; fi
}
copy; echo '#include "model/mm_context.h"' >> "$tmp/src/kernels/mm_ops.c"
expect_bad "kernels including model" "src/kernels/ may not include src/model/"
copy; echo '#include "server/mm_sched.h"' >> "$tmp/src/model/mm_forward.c"
expect_bad "model including server" "mm_forward.c:.*src/model/ may not include src/server/"
copy; echo '#include "text/mm_tokenizer.h"' >> "$tmp/src/model/mm_moe.c"
expect_bad "model including text" "src/model/ may not include src/text/"
copy; echo '#include "model/mm_model.h"' >> "$tmp/src/vision/mm_clip.c"
expect_bad "vision including model" "src/vision/ may not include src/model/"
copy; echo '#include "vision/mm_vision.h"' >> "$tmp/src/formats/mm_weights.c"
expect_bad "formats including vision" "src/formats/ may not include src/vision/"
copy; echo '#include "mm_common.h"' >> "$tmp/src/formats/mm_config.c"
expect_bad "an include without its folder" "does not name its folder"
copy; mkdir -p "$tmp/src/newthing"; echo 'int x;' > "$tmp/src/newthing/a.c"
expect_bad "an unknown folder" "src/newthing/: a folder the layering does not know"
copy; echo '#include "base/mm_common.h"' >> "$tmp/src/server/mm_oai.c"
out=$(bash scripts/check-layers.sh "$tmp" 2>&1) && ok || fail "a downward include refused: $out"
echo "MMT $passed $failed"
[ $failed -eq 0 ]
