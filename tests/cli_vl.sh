#!/usr/bin/env bash
# cli_vl.sh BUILD — MiniMax-VL-01 from the command line: mkmodel --preset vl01 (released and transformers-native
# layouts give the same numbers), run with --image (text placeholders, --chat, --ids with the golden's expanded
# ids), logits with --dump-image-features (sizes), image-info (the golden manifest's numbers), chat with /image,
# quantize to a text GGUF + vision GGUF (f32 pair = the checkpoint's ids), and the errors: placeholder count
# mismatch, image tokens without images, a text model given an image, a broken image, unknown flags.
# Env: MM_BIN, MM_SHARED, MM_TEST_TMP. Last line: MMT <passed> <failed>.
set -u
BUILD=${1:-build}
BIN=${MM_BIN:-$PWD/$BUILD/minimax}
SHARED=${MM_SHARED:-$(cd .. && pwd)/shared}
TMP=$(mktemp -d "${MM_TEST_TMP:-/tmp}/cli_vl-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_fail() {   # NEEDLE ARGS...: exit code != 0 and stderr mentions NEEDLE
  local needle=$1; shift
  local err rc
  err=$("$BIN" "$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne 0 ] && grep -qi -- "$needle" <<<"$err"; then ok; else bad "$* -> rc $rc, stderr: $err (wanted '$needle')"; fi
}
PRE=$SHARED/golden-vl/preprocess
IMG7=$PRE/img7_rgb_337x335.png IMG9=$PRE/img9_rgba_200x500.png
SMALL=(--hidden 64 --layers 2 --heads 4 --kv-heads 2 --head-dim 16 --ffn 64 --experts 4 --vision-hidden 32 --vision-layers 2
       --vision-heads 4 --vision-ffn 64 --dtype f32 --tokenizer "$SHARED/tokenizer")
M=$TMP/vl N=$TMP/vl-hf
"$BIN" mkmodel -o "$M" --preset vl01 "${SMALL[@]}" >/dev/null && ok || bad "mkmodel vl01"
"$BIN" mkmodel -o "$N" --preset vl01 "${SMALL[@]}" --dialect hf --layout fused >/dev/null && ok || bad "mkmodel vl01 hf"
[ -f "$M/preprocessor_config.json" ] && grep -q '"minimax_vl_01"' "$M/config.json" && ok || bad "vl01 files"
# F16, sharded: the tower reads every storage dtype and shards like the language model
"$BIN" mkmodel -o "$TMP/vl16" --preset vl01 "${SMALL[@]}" --dtype f16 --shard-mb 20 >/dev/null && [ -f "$TMP/vl16/model.safetensors.index.json" ] &&
  [ "$("$BIN" run -m "$TMP/vl16" -p "<image>" --image "$IMG7" -n 3 --print-ids -t 1 2>/dev/null | wc -w)" = 3 ] && ok || bad "f16 sharded VL"
"$BIN" info -m "$M" | grep -q "vision           CLIP 2 layers × width 32" && ok || bad "info shows the tower"

a=$("$BIN" run -m "$M" -p "Describe <image> and <image>." --image "$IMG7" --image "$IMG9" -n 6 --print-ids -t 1 2>/dev/null)
b=$("$BIN" run -m "$N" -p "Describe <image> and <image>." --image "$IMG7" --image "$IMG9" -n 6 --print-ids -t 1 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "released vs transformers-native layout: '$a' vs '$b'"
s=$("$BIN" run -m "$M" -p "What is it?" --chat --image "$IMG7" -n 3 --print-ids --stats -t 1 2>&1 >/dev/null)
grep -q "images: 1 (3 patches) encoded" <<<"$s" && grep -q "prefill: 1[0-9][0-9][0-9] tokens" <<<"$s" && ok || bad "--chat --image stats: $s"

# the golden's expanded ids with its image: the reference's greedy ids
G=$SHARED/golden-vl/vl_a_single_image
IDS=$(tr -d ' \n' < "$G/manifest.json" | grep -o '"input_ids":\[[0-9,]*\]' | head -1 | sed 's/"input_ids":\[\(.*\)\]/\1/')
a=$("$BIN" run -m "$G" --ids "$IDS" --image "$PRE/img1_rgb_640x480.jpg" -n 8 --print-ids --ignore-eos -t 1 2>/dev/null)
[ "$a" = "116 311 189 116 311 189 116 311" ] && ok || bad "vl_a from the CLI: '$a'"
"$BIN" logits -m "$G" --ids "$IDS" --image "$PRE/img1_rgb_640x480.decoded.png" -o "$TMP/lg.bin" --dump-image-features "$TMP/f.bin" \
  -t 1 2>/dev/null && [ "$(stat -c %s "$TMP/lg.bin")" = $((2351 * 512 * 4)) ] && [ "$(stat -c %s "$TMP/f.bin")" = $((2340 * 64 * 4)) ] \
  && ok || bad "logits --dump-image-features sizes"

out=$("$BIN" image-info --image "$PRE/img4_p_1920x1080.png" --image "$PRE/img5_rgb_4000x300.jpg" --json)
grep -q '"mode":"P".*"best_resolution_wh":\[2016,1008\].*"num_image_tokens":9864' <<<"$out" &&
  grep -q '"format":"JPEG".*"n_tiles":6.*"num_image_tokens":2026' <<<"$out" && ok || bad "image-info: $out"
"$BIN" image-info -m "$M" --image "$IMG9" | grep -q "1584 image tokens" && ok || bad "image-info -m"

out=$(printf '/image %s\nWhat is this?\n/image %s/nothing.png\nAgain?\n/exit\n' "$IMG7" "$TMP" | "$BIN" chat -m "$M" -n 3 -c 4096 -t 1 2>&1)
grep -q "image 1 attached" <<<"$out" && grep -q "1 image: 3 patches encoded" <<<"$out" && grep -q "cannot open" <<<"$out" &&
  [ "$(grep -c 'generated 3 tokens' <<<"$out")" = 2 ] && ok || bad "chat /image: $out"

"$BIN" quantize "$M" "$TMP/q.gguf" --type f32 2>/dev/null && [ -f "$TMP/q-mmproj.gguf" ] && ok || bad "quantize a VL model"
a=$("$BIN" run -m "$M" -p "Describe <image>." --image "$IMG9" -n 5 --print-ids -t 1 2>/dev/null)
b=$("$BIN" run -m "$TMP/q.gguf" --mmproj "$TMP/q-mmproj.gguf" -p "Describe <image>." --image "$IMG9" -n 5 --print-ids -t 1 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "f32 GGUF + mmproj vs checkpoint: '$a' vs '$b'"
"$BIN" quantize "$M" "$TMP/q8.gguf" --type q8_0 --mmproj "$TMP/v8.gguf" --mmproj-type q8_0 2>/dev/null &&
  "$BIN" run -m "$TMP/q8.gguf" --mmproj "$TMP/v8.gguf" -p "<image>" --image "$IMG7" -n 2 -t 1 >/dev/null 2>&1 && ok || bad "q8_0 pair"

expect_fail "2 image placeholders" run -m "$M" -p "<image> <image>" --image "$IMG7" -n 1
expect_fail "0 image placeholders" run -m "$M" -p "no placeholder" --image "$IMG7" -n 1
expect_fail "image tokens but" run -m "$M" --ids 1,200025,2 -n 1
expect_fail "text-only" run -m "$TMP/q.gguf" -p "<image>" --image "$IMG7" -n 1
expect_fail "not a vision GGUF" run -m "$TMP/q.gguf" --mmproj "$TMP/q.gguf" -p x -n 1
printf 'not an image' > "$TMP/bad.png"
expect_fail "unknown format" run -m "$M" -p "<image>" --image "$TMP/bad.png" -n 1
head -c 300 "$IMG7" > "$TMP/cut.png"
expect_fail "truncated" image-info --image "$TMP/cut.png"
expect_fail "needs --image" logits -m "$M" --ids 1,2 -o "$TMP/x.bin" --dump-image-features "$TMP/y.bin"
expect_fail "--vision-\* need --preset vl01" mkmodel -o "$TMP/z" --vision-layers 2
echo "MMT $pass $fail"
[ "$fail" -eq 0 ]
