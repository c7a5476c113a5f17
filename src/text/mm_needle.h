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
#endif
