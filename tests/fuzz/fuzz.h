/* fuzz.h — what every libFuzzer target in tests/fuzz/ shares (see tests/fuzz/README.md).
 *
 * A target is one file tests/fuzz/fuzz_NAME.c that includes this header and defines
 *   static void fuzz_init(void);                                   once, before the first input
 *   static void fuzz_seeds(const char *shared, const char *dir);   writes seed inputs into dir
 *   int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);   one input: must not crash, leak or hang
 * and may carry one line "// fuzz-options: -max_len=N ..." that tests/fuzz/run.sh passes to libFuzzer.
 * Run with MM_FUZZ_SEEDS=DIR, the binary writes its seeds from MM_SHARED (../shared) into DIR and exits:
 * seed corpora are built from the shared reference data at run time, never committed. */
#ifndef MM_FUZZ_H
#define MM_FUZZ_H
#include <errno.h>
#include <math.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mm_common.h"
#include "formats/mm_mkmodel.h"

static void fuzz_init(void);
static void fuzz_seeds(const char *shared, const char *dir);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The shared reference folder: $MM_SHARED, else ../shared (from the repository root). */
static inline const char *fuzz_shared(void) {
    const char *s = getenv("MM_SHARED");
    return s && *s ? s : "../shared";
}

static char fuzz_tmp[256];
static void fuzz_rm_tree(const char *path) {
    struct stat st;
    DIR *d = lstat(path, &st) == 0 && S_ISDIR(st.st_mode) ? opendir(path) : NULL;   /* never through a link */
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                fuzz_rm_tree(sub);
            }
        closedir(d);
    }
    remove(path);
}
static void fuzz_tmp_cleanup(void) {
    if (fuzz_tmp[0]) fuzz_rm_tree(fuzz_tmp);
}

/* A private scratch directory for this process (created once, removed at exit): in memory (/dev/shm) when
 * there is one, since most targets write each input to a file (their parsers take paths) and a disk-backed
 * /tmp makes that the bottleneck (about 200 inputs/s instead of thousands). $TMPDIR overrides. */
static inline const char *fuzz_tmpdir(void) {
    if (!fuzz_tmp[0]) {
        const char *base = getenv("TMPDIR");
        if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_tmp, sizeof fuzz_tmp, "%s/mm-fuzz-XXXXXX", base);
        if (!mkdtemp(fuzz_tmp)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(fuzz_tmp_cleanup);
    }
    return fuzz_tmp;
}

/* Writes n bytes to path (exits on failure: a harness that cannot write tests nothing). */
static inline void fuzz_write(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f)) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

/* Seed i of a target: DIR/seed-i. */
static inline void fuzz_seed(const char *dir, int i, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/seed-%03d", dir, i);
    fuzz_write(path, p, n);
}

/* Reads every byte of [p, p + n): AddressSanitizer checks that a view a parser handed out is all inside
 * its buffer or mapping. */
__attribute__((noinline)) static inline void fuzz_touch(const void *p, size_t n) {
    const uint8_t *b = p;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++) x ^= b[i];
    __asm__ volatile("" : : "r"(x));
}

/* Whether all n floats at p are finite. */
__attribute__((noinline)) static inline int fuzz_all_finite(const float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i])) return 0;
    return 1;
}

/* A whole file into memory (NULL if it cannot be read); *n its size. */
static inline char *fuzz_read(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, k;
    do {
        if (len + 65536 > cap) buf = mm_xrealloc(buf, cap = (len + 65536) * 2);
        k = fread(buf + len, 1, cap - len - 1, f);
        len += k;
    } while (k > 0);
    fclose(f);
    buf[len] = 0;
    *n = len;
    return buf;
}

/* Copies a file as seed i (a missing file is an error: seeds are part of the contract). */
static inline void fuzz_seed_path(const char *path, const char *dir, int i) {
    size_t n;
    char *b = fuzz_read(path, &n);
    if (!b) {
        fprintf(stderr, "fuzz: seed %s is missing\n", path);
        exit(2);
    }
    fuzz_seed(dir, i, b, n);
    free(b);
}

/* The file shared/rel as seed i. */
static inline void fuzz_seed_file(const char *shared, const char *rel, const char *dir, int i) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", shared, rel);
    fuzz_seed_path(path, dir, i);
}

/* Each of n strings as a seed, from seed number first on. */
static inline void fuzz_seed_strings(const char *dir, int first, const char *const *s, int n) {
    for (int i = 0; i < n; i++) fuzz_seed(dir, first + i, s[i], strlen(s[i]));
}

/* ---------------------------------------------------------------- small inputs several targets build */

/* A random-weight checkpoint in dir: vocab V, hidden 32, one lightning and one softmax layer, 2 experts. */
static inline void fuzz_tiny_model(const char *dir, int vocab, mm_dtype dtype) {
    mm_mkmodel_params p;
    mm_mkmodel_preset(&p, "tiny");
    p.vocab_size = vocab;
    p.hidden_size = 32;
    p.n_heads = 2;
    p.n_kv_heads = 1;
    p.head_dim = 16;
    p.rotary_dim = 8;
    p.intermediate_size = 32;
    p.n_experts = 2;
    p.top_k = 1;
    p.max_position_embeddings = 4096;
    p.dtype = dtype;
    p.shard_bytes = 0;
    p.force = 1;
    mm_mkmodel_parse_layer_types(&p, "LS");
    if (mm_mkmodel_write(dir, &p, NULL) < 0) {
        fprintf(stderr, "fuzz: mkmodel %s: %s\n", dir, mm_last_error());
        exit(2);
    }
}

/* A small byte-level BPE tokenizer.json at path: the 256 byte tokens (GPT-2 alphabet), a few merges, an
 * NFC normalizer, a Split + ByteLevel pre-tokenizer and added tokens with each flag. variant picks small
 * differences (the pre-tokenizer, merges as pairs) so seeds cover both forms. */
static inline void fuzz_small_tokenizer_json(const char *path, int variant) {
    size_t cap = 1 << 16, n = 0;
    char *j = mm_xmalloc(cap);
    n += (size_t)snprintf(j + n, cap - n, "{\"version\":\"1.0\",\"added_tokens\":["
        "{\"id\":262,\"content\":\"<end_of_sentence>\",\"special\":true,\"normalized\":false},"
        "{\"id\":263,\"content\":\"<beginning_of_sentence>\",\"special\":true,\"normalized\":false},"
        "{\"id\":264,\"content\":\" cat\",\"special\":false,\"normalized\":true,\"lstrip\":true},"
        "{\"id\":265,\"content\":\"<w>\",\"special\":true,\"single_word\":true,\"rstrip\":true}],"
        "\"normalizer\":{\"type\":\"NFC\"},\"pre_tokenizer\":%s,\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
        "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"vocab\":{",
        variant ? "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"use_regex\":true}"
                : "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
                  "\"\\\\s+|[A-Za-z]+|\\\\S\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\","
                  "\"add_prefix_space\":false,\"use_regex\":false}]}");
    int k = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        int cp = printable ? b : 256 + k++;
        char u[8];
        int ul = cp < 0x80 ? (u[0] = (char)cp, 1) : (u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f)), 2);
        if (cp == '"' || cp == '\\') n += (size_t)snprintf(j + n, cap - n, "\"\\%c\":%d,", (char)cp, b);
        else n += (size_t)snprintf(j + n, cap - n, "\"%.*s\":%d,", ul, u, b);
    }
    n += (size_t)snprintf(j + n, cap - n, "\"ca\":256,\"cat\":257,\"th\":258,\"the\":259,\"\xc4\xa0t\":260,\"\xc4\xa0the\":261},\"merges\":%s}}",
                          variant ? "[[\"c\",\"a\"],[\"ca\",\"t\"],[\"t\",\"h\"],[\"th\",\"e\"],[\"\xc4\xa0\",\"t\"]]"
                                  : "[\"c a\",\"ca t\",\"t h\",\"th e\",\"\xc4\xa0 t\"]");
    fuzz_write(path, j, n);
    free(j);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *seeds = getenv("MM_FUZZ_SEEDS");
    if (seeds && *seeds) {
        mkdir(seeds, 0755);
        fuzz_seeds(fuzz_shared(), seeds);
        exit(0);
    }
    fuzz_init();
    return 0;
}
#endif
