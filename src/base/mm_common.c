/* mm_common.c — error reporting, checked allocation, dtype tables, half-precision conversion, timing. */
#include "base/mm_common.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <math.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- errors */
static _Thread_local char mm_err[1024];

const char *mm_last_error(void) { return mm_err; }

void mm_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mm_err, sizeof mm_err, fmt, ap);
    va_end(ap);
}

void mm_error_prefix(const char *fmt, ...) {
    char pre[512], old[sizeof mm_err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, mm_err, sizeof old);
    /* "prefix: old message", cut at the buffer's end */
    size_t n = 0, cap = sizeof mm_err - 1;
    for (const char *p = pre; *p && n < cap; p++) mm_err[n++] = *p;
    for (const char *p = ": "; *p && n < cap; p++) mm_err[n++] = *p;
    for (const char *p = old; *p && n < cap; p++) mm_err[n++] = *p;
    mm_err[n] = 0;
}

/* ---------------------------------------------------------------- UTF-8 */
int mm_utf8_seq(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    int need;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return -1;
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= n) return 0;
        uint8_t b = s[k];
        if (b < lo || b > hi) return -k;
        lo = 0x80, hi = 0xbf;
    }
    return need + 1;
}

char *mm_utf8_lossy(const void *src, size_t n, size_t *out_len) {
    const uint8_t *s = src;
    /* each replaced byte run of k >= 1 bytes becomes 3 bytes: at most 3n */
    char *out = mm_xmalloc(n > SIZE_MAX / 3 - 1 ? SIZE_MAX : 3 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int k = mm_utf8_seq(s + i, n - i);
        if (k > 0) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += k < 0 ? (size_t)-k : n - i;
        }
    }
    out[o] = 0;
    if (out_len) *out_len = o;
    return out;
}

/* ---------------------------------------------------------------- allocation */
static void mm_oom(size_t n, const char *file, int line) {
    fprintf(stderr, "minimax: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
    exit(1);
}
void *mm_xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) mm_oom(n, file, line);
    return p;
}
void *mm_xcalloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) mm_oom(n * size, file, line);
    return p;
}
void *mm_xrealloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) mm_oom(n, file, line);
    return q;
}
char *mm_xstrdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = mm_xmalloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}
void *mm_xaligned(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? (n + 63) / 64 * 64 : 64) != 0) mm_oom(n, __FILE__, __LINE__);
    return p;
}

void *mm_xalloc_huge(size_t n) {
    const size_t huge = (size_t)2 << 20;
    size_t sz = n ? (n + huge - 1) / huge * huge : huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, sz) != 0) mm_oom(n, __FILE__, __LINE__);
    madvise(p, sz, MADV_HUGEPAGE); /* a request: without transparent huge pages it is plain memory */
    return p;
}

/* ---------------------------------------------------------------- dtypes */
static const struct {
    const char *name;
    int block;
    size_t block_bytes;
} mm_dtypes[MM_DTYPE_COUNT] = {
    [MM_F32] = {"F32", 1, 4},      [MM_F16] = {"F16", 1, 2},       [MM_BF16] = {"BF16", 1, 2},
    [MM_Q8_0] = {"Q8_0", 32, 34},  [MM_Q4_0] = {"Q4_0", 32, 18},   [MM_Q4_K] = {"Q4_K", 256, 144},
    [MM_Q6_K] = {"Q6_K", 256, 210},  [MM_Q4_1] = {"Q4_1", 32, 20},   [MM_Q5_0] = {"Q5_0", 32, 22},
    [MM_Q5_1] = {"Q5_1", 32, 24},    [MM_Q2_K] = {"Q2_K", 256, 84},  [MM_Q3_K] = {"Q3_K", 256, 110},
    [MM_Q5_K] = {"Q5_K", 256, 176},  [MM_IQ4_NL] = {"IQ4_NL", 32, 18}, [MM_IQ4_XS] = {"IQ4_XS", 256, 136},
    [MM_IQ2_XXS] = {"IQ2_XXS", 256, 66}, [MM_IQ2_XS] = {"IQ2_XS", 256, 74}, [MM_IQ2_S] = {"IQ2_S", 256, 82},
    [MM_IQ3_XXS] = {"IQ3_XXS", 256, 98}, [MM_IQ3_S] = {"IQ3_S", 256, 110}, [MM_IQ1_S] = {"IQ1_S", 256, 50},
    [MM_IQ1_M] = {"IQ1_M", 256, 56},
};

const char *mm_dtype_name(mm_dtype t) { return (unsigned)t < MM_DTYPE_COUNT ? mm_dtypes[t].name : "?"; }
int mm_dtype_from_name(const char *name) {
    for (int i = 0; i < MM_DTYPE_COUNT; i++)
        if (strcasecmp(name, mm_dtypes[i].name) == 0) return i;
    return -1;
}
int mm_dtype_block(mm_dtype t) { return mm_dtypes[t].block; }
size_t mm_dtype_block_bytes(mm_dtype t) { return mm_dtypes[t].block_bytes; }
int mm_kv_type_ok(mm_dtype t) { return t == MM_F32 || t == MM_F16 || t == MM_BF16 || t == MM_Q8_0 || t == MM_Q4_0; }

size_t mm_kv_head_bytes(mm_dtype t, int D) {
    const int b = mm_dtype_block(t);
    return b > 0 && D > 0 ? mm_row_bytes(t, ((int64_t)D + b - 1) / b * b) : 0;
}

size_t mm_row_bytes(mm_dtype t, int64_t n) {
    int b = mm_dtypes[t].block;
    size_t r;
    if (n < 0 || n % b || __builtin_mul_overflow((size_t)(n / b), mm_dtypes[t].block_bytes, &r)) return 0;
    return r;
}

/* IEEE half <-> single, exact for every half value, round-to-nearest-even the other way. */
float mm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    union { uint32_t u; float f; } v = {.u = u};
    return v.f;
}
uint16_t mm_f32_to_f16(float f) {
    union { uint32_t u; float f; } v = {.f = f};
    uint32_t u = v.u, sign = (u >> 16) & 0x8000;
    int32_t exp = (int32_t)((u >> 23) & 0xff) - 127 + 15;
    uint32_t man = u & 0x7fffff;
    if (((u >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - exp;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return (uint16_t)half;
}

/* ---------------------------------------------------------------- tensor helpers */
float mm_tensor_get_f32(const mm_tensor *t, int64_t i) {
    switch (t->dtype) {
    case MM_F32: return ((const float *)t->data)[i];
    case MM_F16: return mm_f16_to_f32(((const uint16_t *)t->data)[i]);
    case MM_BF16: return mm_bf16_to_f32(((const uint16_t *)t->data)[i]);
    default: return NAN;
    }
}

mm_tensor mm_tensor_rows(const mm_tensor *t, int64_t r0, int64_t n) {
    mm_tensor v = *t;
    size_t rb = mm_row_bytes(t->dtype, t->shape[t->ndim - 1]);
    v.data = (const char *)t->data + (size_t)r0 * rb;
    v.shape[0] = n;
    v.nbytes = (size_t)n * rb;
    v.pack = NULL;
    return v;
}

mm_tensor mm_tensor_slab(const mm_tensor *t, int64_t e, int64_t r0, int64_t n) {
    mm_tensor v = *t;
    size_t rb = mm_row_bytes(t->dtype, t->shape[2]);
    v.ndim = 2;
    v.shape[0] = n;
    v.shape[1] = t->shape[2];
    v.shape[2] = 0;
    v.data = (const char *)t->data + ((size_t)e * (size_t)t->shape[1] + (size_t)r0) * rb;
    v.nbytes = (size_t)n * rb;
    v.pack = NULL;
    return v;
}

const uint8_t *mm_map_file(const char *path, size_t min_bytes, const char *what, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mm_set_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        mm_set_error("%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size < min_bytes) {
        mm_set_error("%s: truncated: the file is %lld bytes, too short for %s (%zu bytes)", path, (long long)st.st_size, what,
                     min_bytes);
        close(fd);
        return NULL;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        mm_set_error("%s: mmap of %lld bytes failed: %s", path, (long long)st.st_size, strerror(errno));
        return NULL;
    }
    *size = (size_t)st.st_size;
    return m;
}

void mm_unmap_file(const void *map, size_t size) {
    if (map) munmap((void *)map, size);
}

void mm_release_file_pages(const void *p, size_t n) {
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)p + pg - 1) / pg * pg, b = ((uintptr_t)p + n) / pg * pg;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

double mm_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t mm_peak_rss(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024;
}

char *mm_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        mm_set_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = mm_xmalloc(cap);
    for (size_t got; (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (n + 1 == cap) buf = mm_xrealloc(buf, cap *= 2);
    }
    const int err = ferror(f);
    fclose(f);
    if (err) {
        mm_set_error("%s: read error", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}
