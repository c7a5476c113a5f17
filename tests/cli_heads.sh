#!/usr/bin/env bash
# cli_heads.sh BUILD — `minimax embed`, `minimax classify` on mkmodel's three task-head checkpoints, and
# `minimax run --json-schema / --grammar / --hide-thinking` (the demo model and a random one).
# Env: MM_BIN, MM_SHARED, MM_TEST_TMP. Last line: MMT <passed> <failed>.
set -u
BUILD=${1:-build}
BIN=${MM_BIN:-$PWD/$BUILD/minimax}
SHARED=${MM_SHARED:-$PWD/../shared}
TOKJ=$SHARED/tokenizer/tokenizer.json
TMP=$(mktemp -d "${MM_TEST_TMP:-/tmp}/cli_heads-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_fail() {
  local needle=$1; shift
  local err rc
  err=$("$BIN" "$@" 2>&1 </dev/null >/dev/null); rc=$?
  if [ $rc -ne 0 ] && grep -qi -- "$needle" <<<"$err"; then ok; else bad "$* -> rc $rc, stderr: $err (wanted '$needle')"; fi
}
mk() {   # mk DIR ARGS...: a small model with the real tokenizer
  local d=$1; shift
  "$BIN" mkmodel -o "$d" --preset tiny --hidden 64 --heads 2 --kv-heads 1 --head-dim 32 --layer-types LS --experts 2 --top-k 1 \
    --ffn 32 --tokenizer "$TOKJ" "$@" >"$TMP/mk.txt" 2>&1 && ok || bad "mkmodel $*: $(cat "$TMP/mk.txt")"
}
mk "$TMP/lm"
mk "$TMP/seq" --head seq-cls --labels neg,neutral,pos --pad-id 0
mk "$TMP/tok" --head token-cls --labels O,B-PER,I-PER
mk "$TMP/qa" --head qa
expect_fail "hf dialect" mkmodel -o "$TMP/x" --preset tiny --head qa --dialect remote
expect_fail "seq-cls, token-cls or qa" mkmodel -o "$TMP/x" --preset tiny --head lm
expect_fail "not on VL-01" mkmodel -o "$TMP/x" --preset vl01 --head qa --dialect hf

# ------------------------------------------------------------------ embed
out=$("$BIN" embed -m "$TMP/lm" -p "hello world" -p "another text" -t 1 2>&1)
norms=$(awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i * $i; printf "%d %.6f\n", NF, sqrt(s) }' <<<"$out")
[ "$(wc -l <<<"$norms")" -eq 2 ] && awk '$1 != 64 || $2 < 0.99999 || $2 > 1.00001 { exit 1 }' <<<"$norms" && ok || bad "embed: two unit rows of 64: $norms"
ids=$("$BIN" tokenize --tokenizer "$TOKJ" "hello world" | tr -d '[] ')
by_ids=$("$BIN" embed -m "$TMP/lm" --ids "$ids" -t 1 2>&1)
[ "$by_ids" = "$(head -n 1 <<<"$out")" ] && ok || bad "embed: --ids of the text = the text"
mean=$("$BIN" embed -m "$TMP/lm" -p "hello world" --pooling mean -t 1 2>&1)
[ "$mean" != "$(head -n 1 <<<"$out")" ] && awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i * $i; exit !(NF == 64 && s > 0.99998 && s < 1.00002) }' <<<"$mean" \
  && ok || bad "embed --pooling mean: another unit vector"
"$BIN" embed -m "$TMP/lm" -p "a" --json -t 1 | node -e 'const a = JSON.parse(require("fs").readFileSync(0)); process.exit(a.length === 1 && a[0].length === 64 ? 0 : 1)' \
  && ok || bad "embed --json"
"$BIN" embed -m "$TMP/seq" -p "a" -t 1 >/dev/null 2>&1 && ok || bad "embed works on a head checkpoint"
expect_fail "at least one input" embed -m "$TMP/lm"
expect_fail "last or mean" embed -m "$TMP/lm" -p x --pooling max

# ------------------------------------------------------------------ classify
out=$("$BIN" classify -m "$TMP/seq" -p "a good film" -p "bad" -t 1 2>&1)
node -e '
  const lines = process.argv[1].split("\n"), groups = [];
  for (const l of lines) { if (!l.startsWith("  ")) groups.push([]); else groups.at(-1).push(l.trim().split(/\s+/)); }
  const ok = groups.length === 2 && groups.every((g) => g.length === 3 && Math.abs(g.reduce((a, r) => a + +r[1], 0) - 1) < 1e-4 &&
    g.every((r, i) => i === 0 || +r[1] <= +g[i - 1][1]) && g.map((r) => r[0]).sort().join() === "neg,neutral,pos");
  process.exit(ok ? 0 : 1);' "$out" && ok || bad "classify seq-cls: 3 sorted labels summing to 1 per input: $out"
pad=$("$BIN" classify -m "$TMP/seq" --ids "$("$BIN" tokenize --tokenizer "$TOKJ" "bad" | tr -d '[] '),0,0" -t 1 2>&1 | tail -n 3)
[ "$pad" = "$(tail -n 3 <<<"$out")" ] && ok || bad "classify: right padding with pad id 0 changes nothing: $pad"
top=$("$BIN" classify -m "$TMP/seq" -p "x" --top 1 -t 1 2>&1)
[ "$(wc -l <<<"$top")" -eq 2 ] && ok || bad "classify --top 1: $top"
out=$("$BIN" classify -m "$TMP/tok" -p "John lives here" -t 1 2>&1)
n=$("$BIN" tokenize --tokenizer "$TOKJ" "John lives here" | tr -cd ',' | wc -c)
[ "$(grep -cE '^ +[0-9]+ .*(O|B-PER|I-PER) +[0-9.]+$' <<<"$out")" -eq $((n + 1)) ] && ok || bad "classify token-cls: a label per token ($((n + 1))): $out"
out=$("$BIN" classify -m "$TMP/qa" --question "Who lives here?" --context "John lives here with his cat." --max-answer-len 3 -t 1 2>&1)
grep -q '^answer: ' <<<"$out" && grep -qE '^tokens: [0-9]+\.\.[0-9]+ of the context' <<<"$out" && ok || bad "classify qa: $out"
expect_fail "causal LM" classify -m "$TMP/lm" -p x
expect_fail "question-answering checkpoint" classify -m "$TMP/seq" --question a --context b
expect_fail "no other input" classify -m "$TMP/qa" --question a --context b -p c

# ------------------------------------------------------------------ run: structured output and thinking
cat >"$TMP/schema.json" <<'EOF'
{"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}, "age": {"type": "integer"},
 "pets": {"type": "array", "items": {"enum": ["cat", "dog"]}, "maxItems": 2}}, "required": ["name", "age", "pets"],
 "additionalProperties": false}
EOF
for seed in 1 2 3; do
  out=$("$BIN" run -m demo -p "The person:" --json-schema "$TMP/schema.json" -n 120 --temp 1 --top-k 0 --top-p 1 --min-p 0 -s $seed -t 1 2>"$TMP/err")
  node -e '
    const v = JSON.parse(process.argv[1]);
    const ok = typeof v.name === "string" && [...v.name].length <= 10 && Number.isInteger(v.age) && Array.isArray(v.pets) &&
      v.pets.length <= 2 && v.pets.every((p) => p === "cat" || p === "dog") && Object.keys(v).length === 3;
    process.exit(ok ? 0 : 1);' "$out" && ok || bad "run --json-schema seed $seed: '$out' $(cat "$TMP/err")"
done
printf 'root ::= "<think>" [a-z]{2,6} " " [a-z]{2,6} "</think>" "\\n\\n" [A-Z]{1,4}\n' >"$TMP/think.gbnf"
raw=$("$BIN" run -m "$TMP/lm" -p hello --grammar "$TMP/think.gbnf" -n 40 --temp 1 -s 3 -t 1 2>&1)
grep -qE '^<think>[a-z]+ [a-z]+</think>$' <<<"$raw" && ok || bad "run --grammar: the text as it is into a pipe: $raw"
hidden=$("$BIN" run -m "$TMP/lm" -p hello --grammar "$TMP/think.gbnf" -n 40 --temp 1 -s 3 -t 1 --hide-thinking 2>&1)
[ "$hidden" = "$(tail -n 1 <<<"$raw")" ] && grep -qE '^[A-Z]{1,4}$' <<<"$hidden" && ok || bad "--hide-thinking: only the answer: '$hidden' of '$raw'"
tty=$(script -qfec "$BIN run -m $TMP/lm -p hello --grammar $TMP/think.gbnf -n 40 --temp 1 -s 3 -t 1" /dev/null 2>&1 | tr -d '\r')
grep -q $'\x1b\[2m' <<<"$tty" && ! grep -q '<think>' <<<"$tty" && ok || bad "on a terminal the thinking is dimmed, without tags: $tty"
printf '{"type": "object", "properties": {"a": {"type": "string", "format": "date"}}}' >"$TMP/bad.json"
expect_fail "keyword 'format'" run -m "$TMP/lm" -p hi --json-schema "$TMP/bad.json"
printf 'root ::= "a" | root "b"\n' >"$TMP/bad.gbnf"
expect_fail "left-recursive" run -m "$TMP/lm" -p hi --grammar "$TMP/bad.gbnf"
expect_fail "not both" run -m "$TMP/lm" -p hi --grammar "$TMP/think.gbnf" --json-schema "$TMP/schema.json"
echo "MMT $pass $fail"
[ "$fail" -eq 0 ]
