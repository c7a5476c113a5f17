/* mm_gbnf.c — parser of llama.cpp's GBNF into the compiled grammar of mm_grammar_int.h.
 *
 * Repetitions are rewritten into rules as llama.cpp does: S{m,n} → S…S (m times) then S'(n-m) with
 * S'(x) ::= S S'(x-1) | (empty), S'(1) ::= S | ; S{m,} → S…S S' with S' ::= S S' | ; * = {0,}, + = {1,},
 * ? = {0,1}. A literal is one symbol (`"ab"*` repeats "ab"), a group one rule. After parsing: every referenced
 * rule must be defined, `root` must exist, and no rule may be left-recursive (the recogniser would loop). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mm_common.h"
#include "text/mm_grammar_int.h"

#define MAX_REPETITION 2000        /* llama.cpp's MAX_REPETITION_THRESHOLD */
#define MAX_ELEMENTS (1 << 22)     /* bound on the compiled size of a grammar */

typedef struct {
    mm_gelem *e;
    int n, cap;
} gvec;

typedef struct {
    char *name;
    gvec body;
    int defined;        /* 1 once its ::= (or a group / repetition) gave it a body */
    const char *first_use; /* where it was first referenced (for "undefined rule" errors) */
} grule;

typedef struct {
    const char *src, *end, *p;
    grule *rules;
    int n_rules, cap_rules;
    mm_gclass *cls;
    int n_cls, cap_cls;
    long total;         /* elements emitted so far */
    int failed;
} gparser;

/* ---------------------------------------------------------------- errors */
static void where(const gparser *g, const char *at, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (const char *s = g->src; s < at && s < g->end; s++) {
        if (*s == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)*s & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

static int fail_at(gparser *g, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(gparser *g, const char *at, const char *fmt, ...) {
    if (g->failed) return -1;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    where(g, at, &line, &col);
    char near[24] = "";
    size_t k = 0;
    for (const char *s = at; s < g->end && k < 16 && *s != '\n' && *s != '\r'; s++) near[k++] = *s;
    near[k] = 0;
    if (at >= g->end) mm_set_error("grammar: line %d, column %d: %s (at the end of the grammar)", line, col, msg);
    else mm_set_error("grammar: line %d, column %d: %s (at \"%s\")", line, col, msg, near);
    g->failed = 1;
    return -1;
}

/* ---------------------------------------------------------------- building blocks */
static int push(gparser *g, gvec *v, int type, int32_t val) {
    if (++g->total > MAX_ELEMENTS) return fail_at(g, g->p, "the grammar is too large (over %d elements after expanding repetitions)", MAX_ELEMENTS);
    if (v->n == v->cap) v->e = mm_xrealloc(v->e, sizeof(mm_gelem) * (size_t)(v->cap = v->cap ? v->cap * 2 : 16));
    v->e[v->n++] = (mm_gelem){.type = (uint8_t)type, .v = val};
    return 0;
}

static int rule_id(gparser *g, const char *name, size_t len) {
    for (int i = 0; i < g->n_rules; i++)
        if (strlen(g->rules[i].name) == len && !memcmp(g->rules[i].name, name, len)) return i;
    if (g->n_rules == g->cap_rules) g->rules = mm_xrealloc(g->rules, sizeof(grule) * (size_t)(g->cap_rules = g->cap_rules ? g->cap_rules * 2 : 32));
    grule *r = &g->rules[g->n_rules];
    memset(r, 0, sizeof *r);
    r->name = mm_xmalloc(len + 1);
    memcpy(r->name, name, len);
    r->name[len] = 0;
    return g->n_rules++;
}

/* A fresh rule named "<base>_<n>" (groups and repetitions). */
static int new_rule(gparser *g, const char *base) {
    char name[160];
    snprintf(name, sizeof name, "%.120s_%d", base, g->n_rules);
    return rule_id(g, name, strlen(name));
}

static void set_rule(gparser *g, int id, gvec body) {
    free(g->rules[id].body.e);
    g->rules[id].body = body;
    g->rules[id].defined = 1;
}

static int is_word(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'; }

static void skip_space(gparser *g, int newline_ok) {
    while (g->p < g->end) {
        char c = *g->p;
        if (c == '#') {
            while (g->p < g->end && *g->p != '\n' && *g->p != '\r') g->p++;
        } else if (c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r'))) {
            g->p++;
        } else {
            break;
        }
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One UTF-8 character at p (valid UTF-8 required). */
static int utf8_char(gparser *g, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)g->p;
    size_t left = (size_t)(g->end - g->p);
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!n || (size_t)n > left) return fail_at(g, g->p, "invalid UTF-8");
    uint32_t c = n == 1 ? s[0] : s[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return fail_at(g, g->p, "invalid UTF-8");
        c = c << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return fail_at(g, g->p, "invalid UTF-8");
    g->p += n;
    *cp = c;
    return 0;
}

/* A character of a literal or class, with llama.cpp's escapes. */
static int parse_char(gparser *g, uint32_t *cp) {
    if (g->p >= g->end) return fail_at(g, g->p, "unexpected end of the grammar");
    if (*g->p != '\\') return utf8_char(g, cp);
    if (g->p + 1 >= g->end) return fail_at(g, g->p, "unexpected end of the grammar after '\\'");
    char e = g->p[1];
    int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits) {
        uint32_t v = 0;
        for (int i = 0; i < digits; i++) {
            int h = g->p + 2 + i < g->end ? hexval(g->p[2 + i]) : -1;
            if (h < 0) return fail_at(g, g->p, "expected %d hex digits after '\\%c'", digits, e);
            v = v << 4 | (uint32_t)h;
        }
        if (v > 0x10FFFF) return fail_at(g, g->p, "\\%c escape beyond U+10FFFF", e);
        g->p += 2 + digits;
        *cp = v;
        return 0;
    }
    switch (e) {
    case 'n': *cp = '\n'; break;
    case 'r': *cp = '\r'; break;
    case 't': *cp = '\t'; break;
    case '\\': case '"': case '[': case ']': case '-': *cp = (uint32_t)e; break;
    default: return fail_at(g, g->p, "unknown escape '\\%c'", e);
    }
    g->p += 2;
    return 0;
}

static int add_class(gparser *g, int neg, const uint32_t *r, int n) {
    if (g->n_cls == g->cap_cls) g->cls = mm_xrealloc(g->cls, sizeof(mm_gclass) * (size_t)(g->cap_cls = g->cap_cls ? g->cap_cls * 2 : 16));
    mm_gclass *k = &g->cls[g->n_cls];
    memset(k, 0, sizeof *k);
    k->neg = neg;
    k->n = n;
    k->r = mm_xmalloc(sizeof(uint32_t) * (size_t)(2 * n + 1));
    if (n) memcpy(k->r, r, sizeof(uint32_t) * (size_t)(2 * n));   /* "." has no ranges: r may be NULL */
    for (uint32_t c = 0; c < 128; c++) {
        int in = 0;
        for (int i = 0; i < n && !in; i++) in = r[2 * i] <= c && c <= r[2 * i + 1];
        if (in != neg) k->ascii[c >> 6] |= 1ull << (c & 63);
    }
    return g->n_cls++;
}

/* ---------------------------------------------------------------- the grammar of GBNF */
static int parse_alternates(gparser *g, const char *rule_name, int id, int nested);

/* Rewrites the symbol v->e[start..v->n) of rule `rule_name` into its repetition {lo, hi} (hi < 0: no bound). */
static int repeat(gparser *g, gvec *v, int start, const char *rule_name, long lo, long hi, long *n_prev) {
    if (start == v->n) return fail_at(g, g->p, "'*', '+', '?' or '{' must follow an item");
    long total = hi > 0 ? hi : lo > 0 ? lo : 1;
    if (*n_prev * total >= MAX_REPETITION)
        return fail_at(g, g->p, "repetitions multiply to over %d copies (reduce the counts or the nesting)", MAX_REPETITION);
    const int len = v->n - start;
    mm_gelem *sym = mm_xmalloc(sizeof(mm_gelem) * (size_t)len);
    memcpy(sym, v->e + start, sizeof(mm_gelem) * (size_t)len);
    if (lo == 0) v->n = start;
    for (long i = 1; i < lo; i++)
        for (int k = 0; k < len; k++)
            if (push(g, v, sym[k].type, sym[k].v) < 0) goto fail;
    long n_opt = hi < 0 ? 1 : hi - lo;
    int last = -1;
    for (long i = 0; i < n_opt; i++) {
        gvec r = {0};
        int rid = new_rule(g, rule_name);
        for (int k = 0; k < len; k++)
            if (push(g, &r, sym[k].type, sym[k].v) < 0) goto fail_r;
        if ((i > 0 || hi < 0) && push(g, &r, GE_REF, hi < 0 ? rid : last) < 0) goto fail_r;
        if (push(g, &r, GE_ALT, 0) < 0 || push(g, &r, GE_END, 0) < 0) goto fail_r;
        set_rule(g, rid, r);
        last = rid;
        continue;
    fail_r:
        free(r.e);
        goto fail;
    }
    if (n_opt > 0 && push(g, v, GE_REF, last) < 0) goto fail;
    *n_prev *= total;
    free(sym);
    return 0;
fail:
    free(sym);
    return -1;
}

static int parse_int(gparser *g, long *out) {
    if (g->p >= g->end || *g->p < '0' || *g->p > '9') return fail_at(g, g->p, "expected a number");
    long v = 0;
    while (g->p < g->end && *g->p >= '0' && *g->p <= '9') {
        if (v > 100000000) return fail_at(g, g->p, "repetition count too large");
        v = v * 10 + (*g->p++ - '0');
    }
    *out = v;
    return 0;
}

static int parse_sequence(gparser *g, const char *rule_name, gvec *v, int nested) {
    int last_start = v->n;
    long n_prev = 1;
    while (g->p < g->end && !g->failed) {
        char c = *g->p;
        if (c == '"') {
            g->p++;
            last_start = v->n;
            n_prev = 1;
            while (g->p < g->end && *g->p != '"') {
                uint32_t cp;
                if (parse_char(g, &cp) < 0 || push(g, v, GE_CHR, (int32_t)cp) < 0) return -1;
            }
            if (g->p >= g->end) return fail_at(g, g->p, "unterminated literal (missing '\"')");
            g->p++;
            skip_space(g, nested);
        } else if (c == '[') {
            const char *open = g->p++;
            int neg = 0;
            if (g->p < g->end && *g->p == '^') {
                neg = 1;
                g->p++;
            }
            uint32_t *r = NULL;
            int n = 0, cap = 0;
            while (g->p < g->end && *g->p != ']') {
                uint32_t a, b;
                if (parse_char(g, &a) < 0) {
                    free(r);
                    return -1;
                }
                b = a;
                if (g->p + 1 < g->end && *g->p == '-' && g->p[1] != ']') {
                    g->p++;
                    if (parse_char(g, &b) < 0) {
                        free(r);
                        return -1;
                    }
                    if (b < a) {
                        free(r);
                        return fail_at(g, open, "character range with its end before its start");
                    }
                }
                if (n == cap) r = mm_xrealloc(r, sizeof(uint32_t) * 2 * (size_t)(cap = cap ? cap * 2 : 8));
                r[2 * n] = a;
                r[2 * n + 1] = b;
                n++;
            }
            if (g->p >= g->end) {
                free(r);
                return fail_at(g, open, "unterminated character class (missing ']')");
            }
            g->p++;
            last_start = v->n;
            n_prev = 1;
            int k = add_class(g, neg, r, n);
            free(r);
            if (push(g, v, GE_CLS, k) < 0) return -1;
            skip_space(g, nested);
        } else if (c == '.') {
            g->p++;
            last_start = v->n;
            n_prev = 1;
            if (push(g, v, GE_CLS, add_class(g, 1, NULL, 0)) < 0) return -1;
            skip_space(g, nested);
        } else if (is_word(c)) {
            const char *s = g->p;
            while (g->p < g->end && is_word(*g->p)) g->p++;
            int id = rule_id(g, s, (size_t)(g->p - s));
            if (!g->rules[id].first_use) g->rules[id].first_use = s;
            last_start = v->n;
            n_prev = 1;
            if (push(g, v, GE_REF, id) < 0) return -1;
            skip_space(g, nested);
        } else if (c == '(') {
            const char *open = g->p++;
            skip_space(g, 1);
            int before = g->n_rules;
            int id = new_rule(g, rule_name);
            if (parse_alternates(g, rule_name, id, 1) < 0) return -1;
            if (g->p >= g->end || *g->p != ')') return fail_at(g, open, "unclosed '(' (expected ')')");
            g->p++;
            n_prev = g->n_rules - before > 1 ? g->n_rules - before : 1;
            last_start = v->n;
            if (push(g, v, GE_REF, id) < 0) return -1;
            skip_space(g, nested);
        } else if (c == '*' || c == '+' || c == '?') {
            g->p++;
            skip_space(g, nested);
            if (repeat(g, v, last_start, rule_name, c == '+' ? 1 : 0, c == '?' ? 1 : -1, &n_prev) < 0) return -1;
        } else if (c == '{') {
            const char *open = g->p++;
            skip_space(g, nested);
            long lo, hi;
            if (parse_int(g, &lo) < 0) return -1;
            skip_space(g, nested);
            if (g->p < g->end && *g->p == '}') {
                hi = lo;
            } else if (g->p < g->end && *g->p == ',') {
                g->p++;
                skip_space(g, nested);
                hi = -1;
                if (g->p < g->end && *g->p >= '0' && *g->p <= '9') {
                    if (parse_int(g, &hi) < 0) return -1;
                    skip_space(g, nested);
                    if (hi < lo) return fail_at(g, open, "repetition {%ld,%ld} has its maximum below its minimum", lo, hi);
                }
                if (g->p >= g->end || *g->p != '}') return fail_at(g, g->p, "expected '}'");
            } else {
                return fail_at(g, g->p, "expected ',' or '}' in a repetition");
            }
            g->p++;
            skip_space(g, nested);
            if (lo > MAX_REPETITION) return fail_at(g, open, "repetition minimum %ld is over %d", lo, MAX_REPETITION);
            if (hi > MAX_REPETITION) hi = -1;   /* llama.cpp: a maximum over the threshold means no maximum */
            if (repeat(g, v, last_start, rule_name, lo, hi, &n_prev) < 0) return -1;
        } else if (c == '<' || c == '!') {
            return fail_at(g, g->p, "token references (<[id]>, <token>) are not supported: write the text as a literal");
        } else {
            break;
        }
    }
    return g->failed ? -1 : 0;
}

static int parse_alternates(gparser *g, const char *rule_name, int id, int nested) {
    gvec v = {0};
    if (parse_sequence(g, rule_name, &v, nested) < 0) goto fail;
    while (g->p < g->end && *g->p == '|') {
        if (push(g, &v, GE_ALT, 0) < 0) goto fail;
        g->p++;
        skip_space(g, 1);
        if (parse_sequence(g, rule_name, &v, nested) < 0) goto fail;
    }
    if (push(g, &v, GE_END, 0) < 0) goto fail;
    set_rule(g, id, v);
    return 0;
fail:
    free(v.e);
    return -1;
}

static int parse_rule(gparser *g) {
    const char *s = g->p;
    while (g->p < g->end && is_word(*g->p)) g->p++;
    if (g->p == s) return fail_at(g, s, "expected a rule name (letters, digits, '-')");
    char name[160];
    size_t len = (size_t)(g->p - s);
    if (len >= sizeof name) return fail_at(g, s, "rule name too long");
    memcpy(name, s, len);
    name[len] = 0;
    int id = rule_id(g, s, len);
    if (g->rules[id].defined && g->rules[id].body.n) return fail_at(g, s, "rule '%s' is defined twice", name);
    skip_space(g, 0);
    if (g->end - g->p < 3 || memcmp(g->p, "::=", 3)) return fail_at(g, g->p, "expected '::=' after the rule name '%s'", name);
    g->p += 3;
    skip_space(g, 1);
    if (parse_alternates(g, name, id, 0) < 0) return -1;
    if (g->p < g->end) {
        if (*g->p == '\r') g->p += g->p + 1 < g->end && g->p[1] == '\n' ? 2 : 1;
        else if (*g->p == '\n') g->p++;
        else if (*g->p == ')') return fail_at(g, g->p, "')' without a matching '('");
        else return fail_at(g, g->p, "expected the end of the line (an item the grammar does not know?)");
    }
    skip_space(g, 1);
    return 0;
}

/* ---------------------------------------------------------------- checks after parsing */
/* nullable[r]: rule r can match the empty string (fixpoint). */
static void find_nullable(const mm_grammar *G, uint8_t *nullable) {
    for (int changed = 1; changed;) {
        changed = 0;
        for (int r = 0; r < G->n_rules; r++) {
            if (nullable[r]) continue;
            for (int a = G->alt_off[r]; a < G->alt_off[r + 1] && !nullable[r]; a++) {
                int ok = 1;
                for (int p = G->alts[a]; G->el[p].type != GE_ALT && G->el[p].type != GE_END && ok; p++)
                    ok = G->el[p].type == GE_REF && nullable[G->el[p].v];
                if (ok) nullable[r] = changed = 1;
            }
        }
    }
}

/* Depth-first search over the edges "rule r can start with rule x" (x leftmost in an alternative, or after
 * nullable rules): a cycle is left recursion. Iterative (generated rule chains can be long). Returns a rule on
 * the cycle, or -1. */
static int left_cycle(const mm_grammar *G, const uint8_t *nullable) {
    typedef struct { int r, a, p; } frame;   /* rule, next alternative index, position in the current one (-1: none) */
    uint8_t *state = mm_xcalloc((size_t)G->n_rules, 1);   /* 0 new, 1 on the path, 2 done */
    frame *st = mm_xmalloc(sizeof(frame) * (size_t)(G->n_rules + 1));
    int found = -1;
    for (int r0 = 0; r0 < G->n_rules && found < 0; r0++) {
        if (state[r0]) continue;
        int n = 0;
        st[n++] = (frame){r0, G->alt_off[r0], -1};
        state[r0] = 1;
        while (n && found < 0) {
            frame *f = &st[n - 1];
            if (f->p < 0) {
                if (f->a == G->alt_off[f->r + 1]) {
                    state[f->r] = 2;
                    n--;
                    continue;
                }
                f->p = G->alts[f->a++];
            }
            const mm_gelem e = G->el[f->p];
            if (e.type != GE_REF) {
                f->p = -1;
                continue;
            }
            f->p = nullable[e.v] ? f->p + 1 : -1;
            if (state[e.v] == 1) found = e.v;
            else if (state[e.v] == 0) {
                state[e.v] = 1;
                st[n++] = (frame){e.v, G->alt_off[e.v], -1};
            }
        }
    }
    free(state);
    free(st);
    return found;
}

static void free_parser(gparser *g) {
    for (int i = 0; i < g->n_rules; i++) {
        free(g->rules[i].name);
        free(g->rules[i].body.e);
    }
    free(g->rules);
    for (int i = 0; i < g->n_cls; i++) free(g->cls[i].r);
    free(g->cls);
}

mm_grammar *mm_grammar_parse(const char *text, size_t len) {
    gparser g = {.src = text, .end = text + len, .p = text};
    skip_space(&g, 1);
    while (g.p < g.end && !g.failed)
        if (parse_rule(&g) < 0) break;
    if (g.failed) {
        free_parser(&g);
        return NULL;
    }
    for (int i = 0; i < g.n_rules; i++)
        if (!g.rules[i].defined) {
            fail_at(&g, g.rules[i].first_use ? g.rules[i].first_use : g.src, "rule '%s' is used but never defined", g.rules[i].name);
            free_parser(&g);
            return NULL;
        }
    int root = -1;
    for (int i = 0; i < g.n_rules; i++)
        if (!strcmp(g.rules[i].name, "root")) root = i;
    if (root < 0) {
        mm_set_error("grammar: there is no 'root' rule (the start of the grammar)");
        free_parser(&g);
        return NULL;
    }
    /* flatten */
    mm_grammar *G = mm_xcalloc(1, sizeof *G);
    G->n_rules = g.n_rules;
    G->root = root;
    long n_el = 0, n_alt = 0;
    for (int i = 0; i < g.n_rules; i++) {
        n_el += g.rules[i].body.n;
        for (int k = 0; k < g.rules[i].body.n; k++) n_alt += g.rules[i].body.e[k].type == GE_ALT || g.rules[i].body.e[k].type == GE_END;
    }
    G->el = mm_xmalloc(sizeof(mm_gelem) * (size_t)(n_el + 1));
    G->alts = mm_xmalloc(sizeof(int) * (size_t)(n_alt + 1));
    G->alt_off = mm_xmalloc(sizeof(int) * (size_t)(g.n_rules + 1));
    G->names = mm_xmalloc(sizeof(char *) * (size_t)g.n_rules);
    int ne = 0, na = 0;
    for (int i = 0; i < g.n_rules; i++) {
        const gvec *b = &g.rules[i].body;
        G->alt_off[i] = na;
        G->alts[na++] = ne;
        for (int k = 0; k < b->n; k++) {
            G->el[ne++] = b->e[k];
            if (b->e[k].type == GE_ALT) G->alts[na++] = ne;
        }
        G->names[i] = g.rules[i].name;
        g.rules[i].name = NULL;
    }
    G->alt_off[g.n_rules] = na;
    G->n_el = ne;
    G->cls = g.cls;
    G->n_cls = g.n_cls;
    g.cls = NULL;
    g.n_cls = 0;
    free_parser(&g);

    uint8_t *nullable = mm_xcalloc((size_t)G->n_rules, 1);
    find_nullable(G, nullable);
    int cyc = left_cycle(G, nullable);
    free(nullable);
    if (cyc >= 0) {
        mm_set_error("grammar: rule '%s' is left-recursive (it can reach itself before reading any character); "
                     "rewrite it with repetition, e.g. x ::= y (\"+\" y)*", G->names[cyc]);
        mm_grammar_free(G);
        return NULL;
    }
    return G;
}

void mm_grammar_free(mm_grammar *G) {
    if (!G) return;
    for (int i = 0; i < G->n_rules; i++) free(G->names[i]);
    for (int i = 0; i < G->n_cls; i++) free(G->cls[i].r);
    free(G->names);
    free(G->cls);
    free(G->el);
    free(G->alts);
    free(G->alt_off);
    free(G);
}

int mm_grammar_n_rules(const mm_grammar *g) { return g->n_rules; }

int mm_gclass_match(const mm_gclass *k, uint32_t c) {
    if (c < 128) return (int)(k->ascii[c >> 6] >> (c & 63) & 1);
    int in = 0;
    for (int i = 0; i < k->n && !in; i++) in = k->r[2 * i] <= c && c <= k->r[2 * i + 1];
    return in != k->neg;
}

int mm_gclass_match_range(const mm_gclass *k, uint32_t lo, uint32_t hi) {
    if (!k->neg) {
        for (int i = 0; i < k->n; i++)
            if (k->r[2 * i] <= hi && lo <= k->r[2 * i + 1]) return 1;
        return 0;
    }
    /* negated: some code point of [lo, hi] lies outside every range — walk up from lo past covering ranges */
    uint32_t c = lo;
    for (int moved = 1; moved && c <= hi;) {
        moved = 0;
        for (int i = 0; i < k->n; i++)
            if (k->r[2 * i] <= c && c <= k->r[2 * i + 1]) {
                if (k->r[2 * i + 1] >= hi) return 0;
                c = k->r[2 * i + 1] + 1;
                moved = 1;
            }
    }
    return c <= hi;
}
