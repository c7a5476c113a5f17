#!/usr/bin/env bash
# cli_chat.sh BUILD — `minimax run --chat/-sys` and the `minimax chat` REPL: piped input, then a pseudo-terminal
# (util-linux `script`) for the prompt, Ctrl-C during an answer and at the prompt, /save /reset /load.
# Env: MM_BIN (the minimax binary; default BUILD/minimax), MM_SHARED, MM_TEST_TMP. Last line: MMT <passed> <failed>.
set -u
BUILD=${1:-build}
BIN=${MM_BIN:-$PWD/$BUILD/minimax}
SHARED=${MM_SHARED:-$PWD/../shared}
TOKJ=$SHARED/tokenizer/tokenizer.json
TMP=$(mktemp -d "${MM_TEST_TMP:-/tmp}/cli_chat-XXXXXX")
CHAT_PID=
cleanup() {
  exec 3>&- 2>/dev/null
  [ -n "$CHAT_PID" ] && kill "$CHAT_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

# expect_fail NEEDLE ARGS...: exit code != 0 and stderr mentions NEEDLE
expect_fail() {
  local needle=$1; shift
  local err rc
  err=$("$BIN" "$@" 2>&1 </dev/null >/dev/null); rc=$?
  if [ $rc -ne 0 ] && grep -qi -- "$needle" <<<"$err"; then ok; else bad "$* -> rc $rc, stderr: $err (wanted '$needle')"; fi
}
# ntok TEXT: how many tokens TEXT encodes to (special tokens parsed)
ntok() { "$BIN" tokenize --tokenizer "$TOKJ" "$1" | tr -cd ',[' | awk '{ print length($0) }'; }

# A small model from the tiny preset (real vocabulary and tokenizer, narrow layers: fast even under ASan).
M=$TMP/m
if "$BIN" mkmodel -o "$M" --preset tiny --hidden 64 --heads 2 --kv-heads 1 --head-dim 32 --layer-types LS \
     --experts 2 --top-k 1 --ffn 32 --tokenizer "$TOKJ" >"$TMP/mk.txt" 2>&1; then ok
else bad "mkmodel: $(cat "$TMP/mk.txt")"; echo "MMT $pass $fail"; exit 1; fi

turn_text() { printf '<beginning_of_sentence>user name=user\n%s<end_of_sentence>\n<beginning_of_sentence>ai name=assistant\n' "$1"; }
sys_text() { printf '<beginning_of_sentence>system ai_setting=assistant\n%s<end_of_sentence>\n' "$1"; }
NL=$'\n'   # command substitution drops the template's final newline: put it back
N_TURN=$(ntok "$(turn_text hello)$NL")
N_SYS_TURN=$(ntok "$(sys_text 'Be brief.')$NL$(turn_text hello)$NL")
[ "$N_TURN" -gt 5 ] && [ "$N_SYS_TURN" -gt "$N_TURN" ] && ok || bad "token counts of the template: $N_TURN $N_SYS_TURN"

# ------------------------------------------------------------------ run: --chat, -sys, -n, --stop, bad flags
out=$("$BIN" run --help); check "run --help lists --chat and --system" grep -q -- "--system" <<<"$out"
grep -q -- "--chat" <<<"$out" && ok || bad "run --help: no --chat"
out=$("$BIN" run -m "$M" -p hello -n 5 --ignore-eos --print-ids -t 1 2>&1); n=$(wc -w <<<"$out")
[ "$n" -eq 5 ] && ok || bad "run -p -n 5 --print-ids gave '$out'"
out=$("$BIN" run -m "$M" --chat -p hello -n 4 --ignore-eos --stats -t 1 2>&1)
grep -q "prefill: $N_TURN tokens" <<<"$out" && ok || bad "run --chat: wanted a prefill of $N_TURN tokens: $out"
[ -n "$(head -n 1 <<<"$out")" ] && ok || bad "run --chat printed no text: $out"
out=$("$BIN" run -m "$M" -sys "Be brief." -p hello -n 4 --ignore-eos --stats --print-ids -t 1 2>"$TMP/err")
grep -q "prefill: $N_SYS_TURN tokens" "$TMP/err" && ok || bad "run -sys: wanted a prefill of $N_SYS_TURN tokens: $(cat "$TMP/err")"
[ "$(wc -w <<<"$out")" -eq 4 ] && ok || bad "run -sys -n 4: $out"
out=$("$BIN" run -m "$M" --system "Be brief." -f /dev/stdin -n 2 --ignore-eos --stats -t 1 2>&1 <<<"hello")
grep -q "prefill: $(ntok "$(sys_text 'Be brief.')$NL$(turn_text "hello$NL")$NL") tokens" <<<"$out" && ok || bad "run --system -f: $out"
# --stop: the text of the first 3 generated tokens stops the generation right there.
ids=$("$BIN" run -m "$M" --chat -p hello -n 12 --ignore-eos --print-ids -t 1 2>/dev/null)
stop=$("$BIN" tokenize --tokenizer "$TOKJ" --decode --skip-special "$(cut -d' ' -f1-3 <<<"$ids" | tr ' ' ',')")
full=$("$BIN" run -m "$M" --chat -p hello -n 12 --ignore-eos -t 1 2>/dev/null)
out=$("$BIN" run -m "$M" --chat -p hello -n 12 --ignore-eos --stop "$stop" -t 1 2>/dev/null)
[ -n "$stop" ] && [ "$out" = "$stop" ] && [ "$full" != "$stop" ] && ok || bad "--stop '$stop': got '$out' (full '$full')"
expect_fail "need a text prompt" run -m "$M" --chat --ids 1,2
expect_fail "cannot be combined" run -m "$M" -sys x -p hi --no-special
expect_fail "needs a value" run -m "$M" -p hi -sys
expect_fail "unknown option" run -m "$M" -p hi --chatty

# ------------------------------------------------------------------ chat: flags, piped input
out=$("$BIN" chat --help); check "chat --help" grep -q "/save FILE" <<<"$out"
expect_fail "-m DIR is required" chat
expect_fail "unknown option" chat -m "$M" --bogus
expect_fail "at least 1" chat -m "$M" -n 0
expect_fail "integer" chat -m "$M" -c lots
expect_fail "config.json" chat -m "$TMP/none"
expect_fail "cannot open" chat -m "$M" --tokenizer "$TMP/none.json"

# Two turns from a pipe: no prompt is printed, each turn prefills only its own tokens, EOF ends the chat.
printf 'hello\nhello\n/nonsense\n/save\n' | "$BIN" chat -m "$M" -sys "Be brief." -n 6 --ignore-eos -t 1 >"$TMP/p.out" 2>"$TMP/p.err"; rc=$?
[ $rc -eq 0 ] && ok || bad "piped chat rc $rc: $(cat "$TMP/p.err")"
grep -q '^> ' "$TMP/p.out" && bad "a prompt was printed with stdin not a terminal" || ok
[ "$(grep -c 'prefill' "$TMP/p.err")" -eq 2 ] && ok || bad "piped chat: two answers wanted: $(cat "$TMP/p.err")"
grep -q "prefill $N_SYS_TURN tokens" "$TMP/p.err" && grep -q "prefill $N_TURN tokens" "$TMP/p.err" && ok \
  || bad "piped chat: prefills of $N_SYS_TURN then $N_TURN tokens wanted: $(cat "$TMP/p.err")"
# after two turns the state holds 2 x (turn + 6 answer tokens + <end_of_sentence> \n) + the system turn
want=$((N_SYS_TURN + N_TURN + 2 * (6 + 2)))
grep -q "context $want/4096" "$TMP/p.err" && ok || bad "piped chat: context $want wanted: $(cat "$TMP/p.err")"
grep -q "unknown command '/nonsense'" "$TMP/p.err" && ok || bad "unknown command message: $(cat "$TMP/p.err")"
grep -q "/save needs a file name" "$TMP/p.err" && ok || bad "/save without a file: $(cat "$TMP/p.err")"

# A full context: an answer stops at the end of the context, a turn that does not fit is refused, /reset recovers.
printf 'hello\nhello\n/reset\nhello\n' | "$BIN" chat -m "$M" -c 40 --ignore-eos -t 1 >"$TMP/c.out" 2>"$TMP/c.err"; rc=$?
[ $rc -eq 0 ] && ok || bad "context-full chat rc $rc"
grep -q '\[context full\]' "$TMP/c.err" && grep -q "context 40/40" "$TMP/c.err" && ok || bad "answer not stopped at the full context: $(cat "$TMP/c.err")"
grep -q "context full: this message needs $N_TURN tokens" "$TMP/c.err" && ok || bad "full context: turn not refused: $(cat "$TMP/c.err")"
[ "$(grep -c 'prefill' "$TMP/c.err")" -eq 2 ] && ok || bad "after /reset the chat goes on: $(cat "$TMP/c.err")"

# ------------------------------------------------------------------ chat in a pseudo-terminal
if ! command -v script >/dev/null; then
  bad "util-linux 'script' is missing (needed for the terminal tests)"; echo "MMT $pass $fail"; exit 1
fi
OUT=
start_chat() {   # OUTFILE ARGS...: the REPL on a pty; input is written to fd 3
  OUT=$1; shift
  prompts=0
  rm -f "$TMP/in"; mkfifo "$TMP/in"
  SHELL=/bin/bash timeout 300 script -qfec "$(printf '%q ' "$BIN" chat "$@")" /dev/null <"$TMP/in" >"$OUT" 2>&1 &
  CHAT_PID=$!
  exec 3>"$TMP/in"
}
clean() { tr -d '\r' <"$OUT"; }
wait_for() {     # PATTERN [COUNT]: until COUNT lines of the output match (or the chat ends, or 120 s)
  local i
  for ((i = 0; i < 1200; i++)); do
    [ "$(clean | grep -c -- "$1")" -ge "${2:-1}" ] && return 0
    kill -0 "$CHAT_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ "$(clean | grep -c -- "$1")" -ge "${2:-1}" ]
}
prompts=0
say() {          # TEXT: wait for the next prompt, then type TEXT and Enter
  prompts=$((prompts + 1))
  wait_for '^> ' $prompts || bad "prompt $prompts never came"
  printf '%s\n' "$1" >&3
}
finish() {       # wait for the chat to end; its exit code
  exec 3>&-
  wait "$CHAT_PID"; local rc=$?
  CHAT_PID=
  return $rc
}
# answer_of N TEXT: the answer printed after the N-th time TEXT was typed
answer_of() { clean | awk -v n="$1" -v t="> $2" '$0 == t { k++; on = (k == n); next } on && /^\[/ { on = 0 } on'; }

start_chat "$TMP/t1.out" -m "$M" -sys "Be brief." -n 8 --ignore-eos -t 1
say hello
say hello
say "/save $TMP/conv"
say again
say /reset
say "/load $TMP/conv"
say again
say /frobnicate
say /exit
finish; rc=$?
[ $rc -eq 0 ] && ok || bad "chat /exit rc $rc: $(clean | tail -5)"
clean | head -n 1 | grep -q "/help for commands" && ok || bad "no banner on a terminal: $(clean | head -3)"
p=$(clean | grep -o 'prefill [0-9]* tokens' | awk '{ print $2 }' | tr '\n' ' ')
[ "$p" = "$N_SYS_TURN $N_TURN $N_TURN $N_TURN " ] && ok \
  || bad "prefills per turn: '$p', wanted '$N_SYS_TURN $N_TURN $N_TURN $N_TURN ' (turn 2 must not prefill turn 1 again)"
clean | grep -q "^saved $((N_SYS_TURN + N_TURN + 20)) tokens, 5 messages" && ok || bad "/save: $(clean | grep -i save)"
[ -s "$TMP/conv" ] && [ -s "$TMP/conv.json" ] && grep -q '"role": "assistant"' "$TMP/conv.json" && ok || bad "/save files"
clean | grep -q "^conversation cleared (the system prompt stays)" && ok || bad "/reset message"
clean | grep -q "^loaded $((N_SYS_TURN + N_TURN + 20)) tokens, 5 messages" && ok || bad "/load: $(clean | grep -i load)"
a1=$(answer_of 1 again); a2=$(answer_of 2 again)
[ -n "$a1" ] && [ "$a1" = "$a2" ] && ok || bad "the answer after /load differs: '$a1' vs '$a2'"
clean | grep -q "unknown command '/frobnicate'" && ok || bad "unknown command in the terminal"

# Ctrl-C in the middle of a long answer returns to the prompt; Ctrl-C at the prompt leaves.
start_chat "$TMP/t2.out" -m "$M" -n 100000 -c 200000 --ignore-eos -t 1
say "tell me a long story"
size0=$(stat -c %s "$OUT")
for ((i = 0; i < 600; i++)); do [ $(($(stat -c %s "$OUT") - size0)) -gt 200 ] && break; sleep 0.1; done
printf '\003' >&3
wait_for '^\[interrupted\]' && ok || bad "Ctrl-C did not stop the answer: $(clean | tail -c 300)"
wait_for 'prefill' && ok || bad "no stats after the interrupted answer"
g=$(clean | grep -o 'generated [0-9]* tokens' | head -n 1 | awk '{ print $2 }')
[ -n "$g" ] && [ "$g" -gt 0 ] && [ "$g" -lt 100000 ] && ok || bad "interrupted answer: generated '$g'"
say /help
wait_for '^commands:' && ok || bad "the chat does not go on after Ctrl-C"
prompts=$((prompts + 1)); wait_for '^> ' $prompts
printf '\003' >&3
finish; rc=$?
[ $rc -eq 0 ] && ok || bad "Ctrl-C at the prompt: rc $rc: $(clean | tail -3)"

echo "MMT $pass $fail"
[ $fail -eq 0 ]
