/* mm_needle.h — key→value retrieval documents ("needles in a haystack") made from any text, for training a model
 * to retrieve from its context and for measuring that it does.
 *
 * A document: consecutive lines of the haystack text, with 1–4 needle lines inserted at line boundaries at random
 * depths, then the question about one of them and its answer:
 *
 *   ...haystack lines...
 *   The secret number of the silver otter is 48213.
 *   ...haystack lines...
 *   Question: What is the secret number of the silver otter?
 *   Answer: The secret number of the silver otter is 48213.
 *
 * Keys are "<adjective> <animal>" (32 × 32 words), values five-digit numbers 10000–99999, distinct keys per
 * document. Everything is a pure function of the seed. */
#ifndef MM_NEEDLE_H
#define MM_NEEDLE_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *text;           /* the document, malloc'd, NUL-terminated */
    size_t len;
    size_t answer_at;     /* byte offset of " <value>" after the answer's "... is" */
    char key[48];         /* the key asked about */
    int value;            /* its value */
    int n_needles;
    double depth[4];      /* each needle's position in the haystack, 0 (start) .. 1 (end) */
} mm_needle_doc;

/* Builds a document from hay[len] (UTF-8 text with newlines) with about hay_bytes bytes of haystack.
 * -1 + mm_set_error() if hay has no line to take. */
int mm_needle_make(const char *hay, size_t len, size_t hay_bytes, uint64_t seed, mm_needle_doc *out);
void mm_needle_free(mm_needle_doc *d);

/* The pieces, for the needle harness (tools/mm_niah.h), in the same words as the documents above:
 * key k (0..1023) as "<adjective> <animal>"; the needle line of key and value; the question whose answer
 * continues with " <value>.". Each returns the length written (buffers of 160 bytes are enough). */
int mm_needle_key(int k, char *buf, size_t n);
int mm_needle_line(const char *key, int value, char *buf, size_t n);
int mm_needle_question(const char *key, char *buf, size_t n);
/* A deterministic built-in haystack of about bytes bytes: lines of plain English sentences drawn from small
 * word lists by the seed (no needle-like "secret number" sentences). malloc'd, NUL-terminated, *len its size. */
char *mm_needle_hay(size_t bytes, uint64_t seed, size_t *len);
#endif
