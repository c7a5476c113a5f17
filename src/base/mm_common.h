/* mm_common.h — errors, allocation, dtypes and the tensor view shared by every part of minimax.c. */
#ifndef MM_COMMON_H
#define MM_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "minimax.h"

/* ---------------------------------------------------------------- errors
 * Library functions report failure by returning NULL / -1 after mm_set_error(); the message says where
 * (file, tensor, field, line) and why. The message is thread-local and read with mm_last_error(). */
void mm_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prepends "prefix: " to the current error message (to add context while unwinding). */
void mm_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation that never returns NULL: on failure prints file:line and the size, then exits(1).
 * Used for small and scratch allocations; large, user-driven allocations (KV cache, snapshots) use
 * plain malloc and report an error instead. */
void *mm_xmalloc_at(size_t n, const char *file, int line);
void *mm_xcalloc_at(size_t n, size_t size, const char *file, int line);
void *mm_xrealloc_at(void *p, size_t n, const char *file, int line);
char *mm_xstrdup_at(const char *s, const char *file, int line);
#define mm_xmalloc(n) mm_xmalloc_at((n), __FILE__, __LINE__)
#define mm_xcalloc(n, s) mm_xcalloc_at((n), (s), __FILE__, __LINE__)
#define mm_xrealloc(p, n) mm_xrealloc_at((p), (n), __FILE__, __LINE__)
#define mm_xstrdup(s) mm_xstrdup_at((s), __FILE__, __LINE__)
/* 64-byte aligned allocation, free with free(). Exits on failure like mm_xmalloc. */
void *mm_xaligned(size_t n);
/* For big long-lived buffers (packed weights): 2 MiB-aligned with transparent huge pages requested, so that
 * filling gigabytes takes one page fault per 2 MiB rather than per 4 KiB. Free with free(); exits on failure. */
void *mm_xalloc_huge(size_t n);

/* ---------------------------------------------------------------- dtypes
 * Storage types of weights. Block formats follow llama.cpp's layouts bit for bit (see mm_quant.h). */
typedef enum {
    MM_F32 = 0,
    MM_F16,
    MM_BF16,
    MM_Q8_0,
    MM_Q4_0,
    MM_Q4_K,
    MM_Q6_K,
    MM_Q4_1,
    MM_Q5_0,
    MM_Q5_1,
    MM_Q2_K,
    MM_Q3_K,
    MM_Q5_K,
    MM_IQ4_NL,
    MM_IQ4_XS,
    MM_IQ2_XXS,
    MM_IQ2_XS,
    MM_IQ2_S,
    MM_IQ3_XXS,
    MM_IQ3_S,
    MM_IQ1_S,
    MM_IQ1_M,
    MM_DTYPE_COUNT
} mm_dtype;
_Static_assert(MM_KV_F32 == (int)MM_F32 && MM_KV_F16 == (int)MM_F16 && MM_KV_BF16 == (int)MM_BF16 && MM_KV_Q8_0 == (int)MM_Q8_0 &&
                   MM_KV_Q4_0 == (int)MM_Q4_0,
               "the public KV type numbers are the dtypes'");

const char *mm_dtype_name(mm_dtype t);          /* "F32", "BF16", "Q4_K", ... */
int mm_dtype_from_name(const char *name);        /* case-insensitive; -1 if unknown */
int mm_dtype_block(mm_dtype t);                  /* elements per block (1 for F32/F16/BF16) */
size_t mm_dtype_block_bytes(mm_dtype t);         /* bytes per block */
/* Bytes of a row of n elements; 0 if n is negative, not a multiple of the block size, or the bytes do not
 * fit a size_t (n from a file can be anything: callers treat 0 for n > 0 as an error). */
size_t mm_row_bytes(mm_dtype t, int64_t n);
/* KV cache element types (F32, F16, BF16, Q8_0, Q4_0: llama.cpp's -ctk/-ctv set): 1 if t is one. */
int mm_kv_type_ok(mm_dtype t);
/* Bytes of one cached head row of D elements of type t: ceil(D / block) blocks (elements past D are zero). */
size_t mm_kv_head_bytes(mm_dtype t, int D);

/* The next value of a splitmix64 stream (state *s): a small, fast, well-mixed generator for test data. */
static inline uint64_t mm_rand_splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline float mm_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v;
    v.u = (uint32_t)h << 16;
    return v.f;
}
static inline uint16_t mm_f32_to_bf16(float f) {  /* round to nearest even; NaN stays NaN */
    union { uint32_t u; float f; } v;
    v.f = f;
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}
float mm_f16_to_f32(uint16_t h);
uint16_t mm_f32_to_f16(float f);

/* ---------------------------------------------------------------- tensors
 * A read-only view of a stored tensor (usually straight into an mmap'd file). shape[] is in the
 * file's (PyTorch) order, outermost first: a Linear weight is [out, in], rows contiguous. */
typedef struct {
    const char *name;     /* tensor name as stored (owned by the weight file) */
    mm_dtype dtype;
    int ndim;
    int64_t shape[4];
    const void *data;     /* first byte of the tensor */
    size_t nbytes;
    const void *pack;     /* NULL, or a 16-row interleaved copy of a 2-D block-quantized tensor (mm_pack.h)
                           * that the matrix products read instead of data; views made by mm_tensor_rows /
                           * mm_tensor_slab do not carry it */
} mm_tensor;

static inline int64_t mm_tensor_nelem(const mm_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}
/* Row r of a 2-D tensor [rows, cols] converted to f32 into out[cols]. */
void mm_tensor_row_f32(const mm_tensor *t, int64_t r, float *out);
/* Element i (flat index) of a tensor of F32/F16/BF16 as f32. */
float mm_tensor_get_f32(const mm_tensor *t, int64_t i);
/* A view of rows [r0, r0+n) of a 2-D tensor, or of slab e of a 3-D tensor [E, rows, cols] (rows r0..). */
mm_tensor mm_tensor_rows(const mm_tensor *t, int64_t r0, int64_t n);
mm_tensor mm_tensor_slab(const mm_tensor *t, int64_t e, int64_t r0, int64_t n);

/* Maps a whole regular file read-only (MAP_PRIVATE). A file shorter than min_bytes is an error that names
 * `what` (e.g. "a GGUF header"). Returns the mapping and its size, or NULL with an error naming the path. */
const uint8_t *mm_map_file(const char *path, size_t min_bytes, const char *what, size_t *size);
void mm_unmap_file(const void *map, size_t size);
/* Drops the whole pages inside [p, p + n) of a mapping made by mm_map_file from this process's memory
 * (madvise DONTNEED); a later read brings them back from the file. Only for such read-only file mappings. */
void mm_release_file_pages(const void *p, size_t n);

/* A whole file read into memory, NUL-terminated (malloc'd); *len its size (may be NULL). NULL + error naming the path. */
char *mm_read_file(const char *path, size_t *len);

/* ---------------------------------------------------------------- UTF-8
 * Length of the UTF-8 sequence at s[0..n) (n >= 1): > 0 a valid character of that many bytes; 0 a valid
 * but incomplete prefix (more bytes needed); < 0 invalid, and -k is the number of bytes one U+FFFD replaces
 * (Rust's from_utf8_lossy: the maximal prefix of a valid sequence). Strict: no overlongs, no surrogates. */
int mm_utf8_seq(const uint8_t *s, size_t n);
/* s[0..n) with every invalid or incomplete sequence replaced by U+FFFD: malloc'd and NUL-terminated (s may
 * hold NUL bytes; they are kept), its length in *out_len if not NULL. For text from outside (URLs, file
 * names, client bytes) that must go into JSON, which only carries valid UTF-8. */
char *mm_utf8_lossy(const void *s, size_t n, size_t *out_len);

/* Monotonic wall clock in seconds. */
double mm_time(void);
/* Peak resident set size of this process in bytes (0 if unknown). */
size_t mm_peak_rss(void);

#endif
