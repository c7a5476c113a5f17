/* mm_kvpages.c — the page pool of the paged KV cache (mm_kvpages.h): a free list of released pages, a reference
 * count in a header before each page's data, one mutex per pool. */
#include "model/mm_kvpages.h"
#include <pthread.h>
#include <stdlib.h>
#include "base/mm_common.h"

#define HDR 64 /* header bytes before a page's data: keeps the data 64-byte aligned */

struct mm_kvpool {
    pthread_mutex_t mu;
    size_t page_bytes;
    int64_t live;       /* pages with references */
    int64_t n_free;     /* pages on the free list */
    uint8_t *free_list; /* data pointers, linked through their headers */
    int owned;          /* the owner has not released it yet */
};

typedef struct {
    mm_kvpool *pool;
    uint8_t *next;      /* next page on the free list */
    int refs;
} page_hdr;
_Static_assert(sizeof(page_hdr) <= HDR, "page header fits in HDR bytes");

static page_hdr *hdr(const uint8_t *pg) { return (page_hdr *)(uintptr_t)(pg - HDR); }

mm_kvpool *mm_kvpool_new(size_t page_bytes) {
    mm_kvpool *p = calloc(1, sizeof *p);
    if (!p) {
        mm_set_error("out of memory creating a KV page pool");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->page_bytes = page_bytes;
    p->owned = 1;
    return p;
}

static void free_list_drop(mm_kvpool *p) {
    for (uint8_t *pg = p->free_list, *next; pg; pg = next) {
        next = hdr(pg)->next;
        free(pg - HDR);
    }
    p->free_list = NULL;
    p->n_free = 0;
}

static void pool_destroy(mm_kvpool *p) {
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void mm_kvpool_release(mm_kvpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    free_list_drop(p);
    p->owned = 0;
    const int dead = p->live == 0;
    pthread_mutex_unlock(&p->mu);
    if (dead) pool_destroy(p);
}

uint8_t *mm_kvpage_alloc(mm_kvpool *p) {
    pthread_mutex_lock(&p->mu);
    uint8_t *pg = p->free_list;
    if (pg) {
        p->free_list = hdr(pg)->next;
        p->n_free--;
    } else {
        void *mem = NULL;
        if (posix_memalign(&mem, HDR, HDR + (p->page_bytes + HDR - 1) / HDR * HDR) != 0) {
            pthread_mutex_unlock(&p->mu);
            mm_set_error("out of memory allocating a KV cache page of %.1f MiB", (double)p->page_bytes / (1 << 20));
            return NULL;
        }
        pg = (uint8_t *)mem + HDR;
        hdr(pg)->pool = p;
    }
    hdr(pg)->refs = 1;
    hdr(pg)->next = NULL;
    p->live++;
    pthread_mutex_unlock(&p->mu);
    return pg;
}

void mm_kvpage_ref(uint8_t *pg) {
    mm_kvpool *p = hdr(pg)->pool;
    pthread_mutex_lock(&p->mu);
    hdr(pg)->refs++;
    pthread_mutex_unlock(&p->mu);
}

void mm_kvpage_unref(uint8_t *pg) {
    if (!pg) return;
    mm_kvpool *p = hdr(pg)->pool;
    int dead = 0;
    pthread_mutex_lock(&p->mu);
    if (--hdr(pg)->refs == 0) {
        p->live--;
        if (p->owned) {
            hdr(pg)->next = p->free_list;
            p->free_list = pg;
            p->n_free++;
        } else {
            free(pg - HDR);
            dead = p->live == 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (dead) pool_destroy(p);
}

int mm_kvpage_refs(const uint8_t *pg) {
    mm_kvpool *p = hdr(pg)->pool;
    pthread_mutex_lock(&p->mu);
    const int r = hdr(pg)->refs;
    pthread_mutex_unlock(&p->mu);
    return r;
}

mm_kvpool *mm_kvpage_pool(const uint8_t *pg) { return hdr(pg)->pool; }

void mm_kvpool_counts(mm_kvpool *p, int64_t *live, int64_t *free_pages) {
    pthread_mutex_lock(&p->mu);
    *live = p->live;
    *free_pages = p->n_free;
    pthread_mutex_unlock(&p->mu);
}

size_t mm_kvpool_page_bytes(const mm_kvpool *p) { return p->page_bytes; }
