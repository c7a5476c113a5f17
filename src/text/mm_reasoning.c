/* mm_reasoning.c — the incremental <think>…</think> splitter (see mm_reasoning.h). Each call scans only the
 * bytes added since the last one, plus at most the 7 bytes of a tag prefix it held back. */
#include <string.h>

#include "text/mm_reasoning.h"

enum { S_START, S_R_LEAD, S_THINK, S_C_LEAD, S_CONTENT };
static const char OPEN[] = "<think>", CLOSE[] = "</think>";

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void mm_reasoning_init(mm_reasoning *p, int format, int in_thinking) {
    memset(p, 0, sizeof *p);
    p->format = format;
    if (format == MM_REASONING_NONE) p->state = S_CONTENT;
    else if (in_thinking) p->state = S_R_LEAD, p->has_reasoning = 1;
    else p->state = S_START;
}

int mm_reasoning_prompt_opens(const char *text, size_t n) {
    while (n && is_ws(text[n - 1])) n--;
    return n >= 7 && !memcmp(text + n - 7, OPEN, 7);
}

int mm_reasoning_format(const char *name) {
    if (!strcmp(name, "none")) return MM_REASONING_NONE;
    if (!strcmp(name, "deepseek")) return MM_REASONING_DEEPSEEK;
    return -1;
}

void mm_reasoning_feed(mm_reasoning *p, const char *text, size_t len, int final) {
    for (;;) {
        size_t i = p->pos;
        switch (p->state) {
        case S_START: {
            while (i < len && is_ws(text[i])) i++;
            size_t m = len - i < 7 ? len - i : 7;
            if (memcmp(text + i, OPEN, m)) {           /* not a thinking block: everything is content */
                p->state = S_CONTENT;
                p->c_begin = p->c_end = 0;
                continue;
            }
            if (m == 7) {
                p->has_reasoning = 1;
                p->pos = i + 7;
                p->state = S_R_LEAD;
                continue;
            }
            if (final) {                               /* a bare prefix of "<think>" at the end */
                p->state = S_CONTENT;
                continue;
            }
            return;
        }
        case S_R_LEAD:
            while (i < len && is_ws(text[i])) i++;
            p->pos = p->r_begin = p->r_end = p->c_begin = p->c_end = i;
            if (i == len && !final) return;
            p->state = S_THINK;
            continue;
        case S_THINK: {
            const char *hit = NULL;
            for (size_t k = i; k + 8 <= len && !hit; k++)
                if (text[k] == '<' && !memcmp(text + k, CLOSE, 8)) hit = text + k;
            if (hit) {
                p->r_end = (size_t)(hit - text);
                p->pos = p->r_end + 8;
                p->state = S_C_LEAD;
                continue;
            }
            size_t hold = 0;                           /* longest suffix that is a proper prefix of "</think>" */
            for (size_t l = 7; l > 0 && !hold; l--)
                if (l <= len - i && !memcmp(text + len - l, CLOSE, l)) hold = l;
            p->r_end = final ? len : len - hold;
            p->pos = p->c_begin = p->c_end = p->r_end;   /* no answer yet: it cannot start before here */
            return;
        }
        case S_C_LEAD:
            while (i < len && is_ws(text[i])) i++;
            p->pos = p->c_begin = p->c_end = i;
            if (i == len) return;
            p->state = S_CONTENT;
            continue;
        default:                                       /* S_CONTENT */
            p->c_end = p->pos = len;
            return;
        }
    }
}
