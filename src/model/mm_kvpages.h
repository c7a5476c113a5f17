/* mm_kvpages.h — the pages of a paged KV cache: fixed-size, reference-counted blocks of memory handed out by a
 * per-context pool. A page holds every softmax layer's key and value rows for a run of consecutive positions
 * (the layout is the context's: mm_context.h); a sequence keeps a table of page pointers, and snapshots, restores
 * and forks take references to its pages instead of copying them (a holder copies a shared page before writing
 * into it: copy-on-write).
 *
 * A page is the pointer to its data; a small header before the data holds its reference count and its pool. A
 * released page goes back to its pool's free list and is reused by the next allocation. The pool itself lives as
 * long as its owner (the context) or any page of it: a snapshot may outlive the context that made it. All calls
 * are thread-safe (one mutex per pool; they are rare: one per page of positions). */
#ifndef MM_KVPAGES_H
#define MM_KVPAGES_H
#include <stddef.h>
#include <stdint.h>

typedef struct mm_kvpool mm_kvpool;

/* A pool of pages of page_bytes bytes (> 0), 64-byte aligned. NULL with an error on OOM. */
mm_kvpool *mm_kvpool_new(size_t page_bytes);
/* The owner lets go: the free pages are freed now, the pool itself once its last live page is released. */
void mm_kvpool_release(mm_kvpool *p);
/* A page with one reference (from the free list, else new), its contents undefined. NULL with an error on OOM. */
uint8_t *mm_kvpage_alloc(mm_kvpool *p);
/* One more reference to a live page / one less (the last returns it to its pool's free list, or frees it when
 * the pool's owner is gone). */
void mm_kvpage_ref(uint8_t *pg);
void mm_kvpage_unref(uint8_t *pg);
/* References held now, and the pool a page belongs to. */
int mm_kvpage_refs(const uint8_t *pg);
mm_kvpool *mm_kvpage_pool(const uint8_t *pg);
/* Pages with references (live) and pages on the free list. */
void mm_kvpool_counts(mm_kvpool *p, int64_t *live, int64_t *free_pages);
size_t mm_kvpool_page_bytes(const mm_kvpool *p);
#endif
