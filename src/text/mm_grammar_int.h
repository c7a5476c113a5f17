/* mm_grammar_int.h — the compiled form of a GBNF grammar, shared by the parser (mm_gbnf.c) and the matcher
 * (mm_gmatch.c). Not part of any other folder's interface. */
#ifndef MM_GRAMMAR_INT_H
#define MM_GRAMMAR_INT_H
#include <stdint.h>

#include "text/mm_grammar.h"

/* Element kinds. A rule is its alternatives one after the other, each ended by GE_ALT (more follow) or
 * GE_END (the last); an empty alternative is just its terminator. */
enum { GE_END, GE_ALT, GE_REF, GE_CHR, GE_CLS };

typedef struct {
    uint8_t type;
    int32_t v;          /* GE_REF: rule id; GE_CHR: the code point; GE_CLS: class index */
} mm_gelem;

typedef struct {
    int neg;            /* [^...] */
    int n;              /* ranges */
    uint32_t *r;        /* [2n] inclusive lo, hi */
    uint64_t ascii[2];  /* bit c: the class (negation applied) matches code point c < 128 */
} mm_gclass;

struct mm_grammar {
    mm_gelem *el;       /* [n_el] every rule's elements */
    int n_el;
    int n_rules;
    int *alt_off;       /* [n_rules + 1] rule r's alternatives start at el[alts[alt_off[r] .. alt_off[r+1])] */
    int *alts;
    mm_gclass *cls;     /* [n_cls] */
    int n_cls;
    int root;           /* rule id of `root` */
    char **names;       /* [n_rules] rule names (generated ones are "<rule>_<n>") */
};

/* 1 if code point c is in class k. */
int mm_gclass_match(const mm_gclass *k, uint32_t c);
/* 1 if some code point in [lo, hi] is in class k. */
int mm_gclass_match_range(const mm_gclass *k, uint32_t lo, uint32_t hi);
#endif
