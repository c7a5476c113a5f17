/* mm_test.h — the minimal test harness shared by every tests/test_*.c binary.
 * Each CHECK counts one pass or one failure; mmt_done() prints "MMT <passed> <failed>" as the last line,
 * which tests/run.sh adds up into the suite's "N passed, N failed". */
#ifndef MM_TEST_H
#define MM_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

static int mmt_passed, mmt_failed;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (cond) {                                                                       \
            mmt_passed++;                                                                 \
        } else {                                                                          \
            mmt_failed++;                                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

/* The shared reference data folder: $MM_SHARED or ../shared from the repo root (where tests run). */
static inline const char *mmt_shared(void) {
    const char *s = getenv("MM_SHARED");
    return s && *s ? s : "../shared";
}

/* A scratch directory private to this test binary (created on first use). */
static inline const char *mmt_tmpdir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *base = getenv("MM_TEST_TMP");
        snprintf(dir, sizeof dir, "%s/mmt-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(dir)) { perror("mkdtemp"); exit(2); }
    }
    return dir;
}

/* max |a[i] - b[i]| over n floats; a NaN anywhere makes it NaN (so a "≤ tol" check fails). */
static inline double mmt_maxdiff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

/* Index of the largest of x[n] (the first on ties). */
static inline int mmt_argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static inline int mmt_done(void) {
    printf("MMT %d %d\n", mmt_passed, mmt_failed);
    return mmt_failed ? 1 : 0;
}
#endif
