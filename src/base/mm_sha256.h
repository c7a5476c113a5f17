/* mm_sha256.h — SHA-256 (FIPS 180-4), for content hashes: the server keys cached image states by the hash of
 * the image bytes, the tests compare preprocessed tensors with the reference's digests. */
#ifndef MM_SHA256_H
#define MM_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t n;          /* bytes hashed so far */
    uint8_t buf[64];     /* pending bytes of the current block */
} mm_sha256_ctx;

void mm_sha256_init(mm_sha256_ctx *c);
void mm_sha256_update(mm_sha256_ctx *c, const void *data, size_t n);
void mm_sha256_final(mm_sha256_ctx *c, uint8_t out[32]);
/* One-shot digest of data[0..n). */
void mm_sha256(const void *data, size_t n, uint8_t out[32]);
/* The 64 lowercase hex digits of a digest, NUL-terminated (hex needs 65 bytes). */
void mm_sha256_hex(const uint8_t d[32], char hex[65]);
#endif
