#!/usr/bin/env bash
# make install PREFIX=... installs the binary, the library, the header and a pkg-config file that works:
# a program built with `pkg-config --cflags --libs minimax` loads golden case a and decodes.
set -u
BUILD=${1:-build}
TMP=${MM_TEST_TMP:?}/install; rm -rf "$TMP"; mkdir -p "$TMP"
pass=0; fail=0
check() { local what=$1; shift; if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what" >&2; fi; }
cd "$(dirname "$0")/.."
# the sanitizer build installs an instrumented library: the app must link the sanitizer runtimes too
[ -n "${MM_SANITIZE:-}" ] && SANFLAGS_LINK="-fsanitize=address,undefined"
make -s install BUILD="$BUILD" PREFIX="$TMP/prefix" >"$TMP/install.log" 2>&1
check "make install ($(tail -3 "$TMP/install.log"))" test $? -eq 0
for f in bin/minimax lib/libminimax.a lib/libminimax.so include/minimax.h lib/pkgconfig/minimax.pc; do
  check "installed $f" test -e "$TMP/prefix/$f"
done
cat > "$TMP/app.c" <<'C'
#include <minimax.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    mm_model *m = mm_model_load(argv[1], NULL);
    if (!m) { fprintf(stderr, "%s\n", mm_last_error()); return 1; }
    mm_context *c = mm_context_new(m, NULL);
    int32_t ids[3] = {5, 6, 7}, seq[3] = {0, 0, 0};
    float *lg = malloc(sizeof(float) * (size_t)mm_model_config(m)->vocab_size);
    mm_batch b = {.n_tokens = 3, .token = ids, .seq = seq};
    int r = mm_decode(c, &b, lg);
    printf("rows %d seq_len %d\n", r, mm_seq_len(c, 0));
    free(lg);
    mm_context_free(c);
    mm_model_free(m);
    return r == 1 ? 0 : 1;
}
C
export PKG_CONFIG_PATH=$TMP/prefix/lib/pkgconfig
flags=$(pkg-config --cflags --libs minimax 2>&1)
check "pkg-config minimax ($flags)" test $? -eq 0
cc $(pkg-config --cflags minimax) "$TMP/app.c" -o "$TMP/app" $(pkg-config --libs minimax) ${SANFLAGS_LINK:-} >"$TMP/cc.log" 2>&1
check "compile against the installed library ($(head -5 "$TMP/cc.log"))" test $? -eq 0
out=$(LD_LIBRARY_PATH=$TMP/prefix/lib "$TMP/app" "${MM_SHARED:?}/golden/a_small_mixed" 2>&1)
check "installed library decodes ($out)" test "$out" = "rows 1 seq_len 3"
echo "MMT $pass $fail"
