/* mm_tokenizer.h — byte-level BPE tokenizer for Hugging Face tokenizer.json files (MiniMax-01, GPT-2/4o
 * style vocabularies).
 *
 * Behaviour follows Hugging Face `tokenizers`: added tokens are found in the raw text first (leftmost-longest,
 * with their lstrip/rstrip/single_word/normalized flags), the gaps between them are normalized (NFC) and
 * pre-tokenized (Split regex with Oniguruma semantics, then ByteLevel), each piece goes through BPE with merge
 * priority = merge-list order, and decoding maps byte-level strings back to bytes and reads them as UTF-8
 * with U+FFFD for invalid sequences (Rust's from_utf8_lossy rules). No BOS/EOS is ever added.
 *
 * A loaded tokenizer is immutable and may be used from several threads at once. */
#ifndef MM_TOKENIZER_H
#define MM_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

typedef struct mm_tokenizer mm_tokenizer;

/* A tokenizer.json file, or a directory containing one. NULL + mm_set_error() on any problem. */
mm_tokenizer *mm_tokenizer_load(const char *path);
void mm_tokenizer_free(mm_tokenizer *t);

/* Encodes len bytes of UTF-8 text (need not be NUL-terminated; may contain NUL). parse_special=0 treats
 * special added tokens as plain text (Hugging Face's encode_special_tokens). *ids is malloc'd (free());
 * returns the count, or -1 (+ mm_set_error) on invalid UTF-8. */
int mm_tokenizer_encode(const mm_tokenizer *t, const char *text, size_t len, int parse_special, int32_t **ids);
/* Encoding options (mm_tokenizer_encode_opts). */
typedef struct {
    int parse_special;          /* special added tokens in the text are parsed as such, except inside `plain` */
    const size_t (*plain)[2];   /* n_plain byte ranges [a, b) of the text where special tokens are plain text
                                 * (text a user wrote, placed inside a chat template whose markers stay special) */
    int n_plain;
    int max_tokens;             /* > 0: stop as soon as the ids would pass this many and return -2; a piece of text
                                 * that cannot fit (bytes / mm_tokenizer_max_token_bytes) is not even encoded */
} mm_tok_opts;
/* mm_tokenizer_encode with options: the count, -1 on invalid UTF-8, -2 past max_tokens (+ mm_set_error). */
int mm_tokenizer_encode_opts(const mm_tokenizer *t, const char *text, size_t len, const mm_tok_opts *o, int32_t **ids);
/* Bytes of the longest token: text of n bytes has at least n / this many tokens (n / (3 x this) before NFC,
 * which can shrink text up to 3 times). */
size_t mm_tokenizer_max_token_bytes(const mm_tokenizer *t);

/* The same, splitting long inputs at safe boundaries (a newline followed by an ASCII letter or digit) and
 * encoding the parts on up to nthreads OpenMP threads (0 = all). The ids are identical to the serial call. */
int mm_tokenizer_encode_parallel(const mm_tokenizer *t, const char *text, size_t len, int parse_special,
                                 int32_t **ids, int nthreads);

/* Calls fn for each piece of text that BPE would receive: after NFC and the pre-tokenizer steps (special tokens
 * are not matched: their text is split like any other). What a BPE trainer counts. -1 on invalid UTF-8. */
int mm_tokenizer_pieces(const mm_tokenizer *t, const char *text, size_t len,
                        void (*fn)(void *ud, const char *s, size_t n), void *ud);

/* Ids to text (malloc'd, NUL-terminated UTF-8). Unknown ids are skipped; skip_special drops special tokens. */
char *mm_tokenizer_decode(const mm_tokenizer *t, const int32_t *ids, size_t n, int skip_special);
/* The same with the text's length in *len: a token may decode to a NUL byte, which strlen would stop at. */
char *mm_tokenizer_decode_n(const mm_tokenizer *t, const int32_t *ids, size_t n, int skip_special, size_t *len);

int32_t mm_tokenizer_token_id(const mm_tokenizer *t, const char *token); /* -1 if none; added tokens too */
const char *mm_tokenizer_token_str(const mm_tokenizer *t, int32_t id);   /* vocab string, or NULL */
int mm_tokenizer_is_special(const mm_tokenizer *t, int32_t id);
/* The raw bytes token id decodes to (byte-level decoded; not NUL-terminated), or NULL if there is no such id. */
const uint8_t *mm_tokenizer_token_bytes(const mm_tokenizer *t, int32_t id, size_t *len);
int32_t mm_tokenizer_n_ids(const mm_tokenizer *t);                       /* max id + 1 */

/* Incremental decoding for streaming: bytes of a token that split a UTF-8 character are held until the
 * character completes; the concatenation of every push plus the flush equals mm_tokenizer_decode(). */
typedef struct mm_detok mm_detok;
mm_detok *mm_detok_new(const mm_tokenizer *t, int skip_special);
const char *mm_detok_push(mm_detok *d, int32_t id, size_t *len); /* valid until the next call */
const char *mm_detok_flush(mm_detok *d, size_t *len);            /* what is held; invalid bytes as U+FFFD */
void mm_detok_free(mm_detok *d);

/* ---------------------------------------------------------------- building from parts
 * The format-independent constructor: the JSON loader (and later a GGUF loader) fill these arrays. */
typedef struct {
    const char *content; /* UTF-8 */
    int32_t id;
    int special, normalized, lstrip, rstrip, single_word;
} mm_tok_added;

enum { MM_SPLIT_REMOVED, MM_SPLIT_ISOLATED, MM_SPLIT_MERGED_PREV, MM_SPLIT_MERGED_NEXT, MM_SPLIT_CONTIGUOUS };
enum { MM_PRETOK_SPLIT, MM_PRETOK_BYTELEVEL };

typedef struct {
    int type;              /* MM_PRETOK_* */
    const char *regex;     /* SPLIT: Oniguruma pattern (a literal String pattern must be escaped by the caller) */
    int behavior, invert;  /* SPLIT */
    int add_prefix_space;  /* BYTELEVEL */
    int use_regex;         /* BYTELEVEL: split with the GPT-2 regex first */
} mm_tok_pretok;

typedef struct {
    int32_t n_vocab;                 /* vocab[0..n_vocab) */
    const char *const *vocab;        /* vocab[id]: token string in the byte-level alphabet, NULL for no token */
    int32_t n_merges;                /* merge r (priority r) joins merge_left[r] + merge_right[r] */
    const char *const *merge_left;
    const char *const *merge_right;
    int n_added;
    const mm_tok_added *added;
    int nfc;                         /* normalizer: 0 none, 1 NFC */
    int n_pretok;
    const mm_tok_pretok *pretok;
    int ignore_merges;               /* BPE: a piece that is itself a vocab token is taken whole */
    const char *source;              /* for error messages (file name) */
} mm_tok_parts;

mm_tokenizer *mm_tokenizer_from_parts(const mm_tok_parts *p);

#endif
