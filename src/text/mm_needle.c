/* mm_needle.c — key→value retrieval documents (see mm_needle.h). */
#include "text/mm_needle.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mm_common.h"

static const char *const adjectives[32] = {
    "silver", "golden", "crimson", "quiet", "brave", "ancient", "little", "hidden", "frozen", "gentle", "wild",
    "purple", "lucky", "sleepy", "clever", "northern", "bright", "hollow", "swift", "patient", "copper", "velvet",
    "stormy", "honest", "lonely", "rusty", "tiny", "mighty", "secret", "green", "amber", "cheerful"};
static const char *const animals[32] = {
    "otter", "falcon", "badger", "heron", "fox", "tortoise", "sparrow", "wolf", "rabbit", "owl", "salmon", "beetle",
    "lynx", "camel", "dolphin", "goose", "hedgehog", "lizard", "moth", "panther", "raven", "squirrel", "tiger",
    "walrus", "yak", "zebra", "bison", "crane", "donkey", "eagle", "ferret", "gecko"};

static uint64_t next(uint64_t *s) { return mm_rand_splitmix(s); }

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;
static void put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) b->p = mm_xrealloc(b->p, b->cap = (b->n + n + 1) * 2);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

int mm_needle_make(const char *hay, size_t len, size_t hay_bytes, uint64_t seed, mm_needle_doc *out) {
    memset(out, 0, sizeof *out);
    uint64_t s = seed * 0x2545f4914f6cdd1dull + 1;
    /* haystack: whole lines from a random line start */
    size_t at = len ? next(&s) % len : 0;
    while (at > 0 && hay[at - 1] != '\n') at--;
    size_t end = at;
    while (end < len && end - at < hay_bytes) {
        const char *nl = memchr(hay + end, '\n', len - end);
        end = nl ? (size_t)(nl - hay) + 1 : len;
    }
    if (end == at) {
        mm_set_error("needle: the haystack text is empty");
        return -1;
    }
    size_t *lines = NULL, nl = 0; /* line starts */
    for (size_t i = at; i < end;) {
        lines = mm_xrealloc(lines, sizeof *lines * (nl + 1));
        lines[nl++] = i;
        const char *p = memchr(hay + i, '\n', end - i);
        i = p ? (size_t)(p - hay) + 1 : end;
    }
    const int n = 1 + (int)(next(&s) % 4);
    int keys[4], vals[4];
    size_t pos[4];
    for (int i = 0; i < n; i++) {
        int k, dup;
        do {
            k = (int)(next(&s) % 1024);
            dup = 0;
            for (int j = 0; j < i; j++) dup |= keys[j] == k;
        } while (dup);
        keys[i] = k;
        vals[i] = 10000 + (int)(next(&s) % 90000);
        pos[i] = next(&s) % (nl + 1); /* insert before line pos[i] (nl: at the end) */
        out->depth[i] = nl ? (double)pos[i] / nl : 0;
    }
    const int ask = (int)(next(&s) % (uint64_t)n);
    sbuf b = {0};
    char line[160], key[48];
    for (size_t li = 0; li <= nl; li++) {
        for (int i = 0; i < n; i++)
            if (pos[i] == li) {
                mm_needle_key(keys[i], key, sizeof key);
                put(&b, line, (size_t)mm_needle_line(key, vals[i], line, sizeof line));
            }
        if (li < nl) {
            size_t a = lines[li], e = li + 1 < nl ? lines[li + 1] : end;
            put(&b, hay + a, e - a);
            if (e == len && (e == a || hay[e - 1] != '\n')) put(&b, "\n", 1);
        }
    }
    mm_needle_key(keys[ask], out->key, sizeof out->key);
    int m = mm_needle_question(out->key, line, sizeof line);
    put(&b, line, (size_t)m);
    out->answer_at = b.n;
    m = snprintf(line, sizeof line, " %d.\n", vals[ask]);
    put(&b, line, (size_t)m);
    out->text = b.p;
    out->len = b.n;
    out->value = vals[ask];
    out->n_needles = n;
    free(lines);
    return 0;
}

int mm_needle_key(int k, char *buf, size_t n) { return snprintf(buf, n, "%s %s", adjectives[(k / 32) % 32], animals[k % 32]); }

int mm_needle_line(const char *key, int value, char *buf, size_t n) {
    return snprintf(buf, n, "The secret number of the %s is %d.\n", key, value);
}

int mm_needle_question(const char *key, char *buf, size_t n) {
    return snprintf(buf, n, "Question: What is the secret number of the %s?\nAnswer: The secret number of the %s is", key, key);
}

char *mm_needle_hay(size_t bytes, uint64_t seed, size_t *len) {
    static const char *const subj[] = {"The farmer", "A traveller", "The old clock", "My neighbour", "The river", "A small boat",
                                       "The teacher", "The wind", "Our village", "The baker", "A long road", "The library"};
    static const char *const verb[] = {"walked past", "looked at", "waited for", "talked about", "carried", "painted",
                                       "remembered", "followed", "cleaned", "visited", "described", "repaired"};
    static const char *const obj[] = {"the market", "a quiet garden", "the blue door", "an empty field", "the morning train",
                                      "a wooden bridge", "the harbour", "a pile of letters", "the kitchen", "the northern hills",
                                      "a basket of apples", "the town square"};
    static const char *const tail[] = {"before noon", "in the rain", "for a while", "without a word", "once again", "at dusk",
                                       "with some care", "on Sunday"};
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 7;
    sbuf b = {0};
    put(&b, "", 0);
    while (b.n < bytes) {
        char line[256];
        int m = 0;
        const int n = 1 + (int)(next(&s) % 3); /* sentences per line */
        for (int i = 0; i < n; i++)
            m += snprintf(line + m, sizeof line - (size_t)m, "%s%s %s %s %s.", i ? " " : "", subj[next(&s) % 12], verb[next(&s) % 12],
                          obj[next(&s) % 12], tail[next(&s) % 8]);
        line[m++] = '\n';
        put(&b, line, (size_t)m);
    }
    *len = b.n;
    return b.p;
}

void mm_needle_free(mm_needle_doc *d) {
    free(d->text);
    d->text = NULL;
}
