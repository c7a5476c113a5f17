/* mm_jschema.c — JSON Schema to GBNF (see mm_jschema.h). Each schema node becomes one rule named after its
 * place ("root", "root-name", "root-tags-item", ...); the JSON primitives are shared rules written once at the
 * end, only those used. Objects generate their properties in declared order; with optional properties the
 * comma before a property depends on whether one was written before it, so the rule chain carries that bit:
 * R(i, e) is "properties i.. after e (0/1) written ones", 2n rules at most. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mm_common.h"
#include "text/mm_jschema.h"

/* ---------------------------------------------------------------- the shared primitives */
enum { P_WS, P_CHAR, P_STRING, P_INTEGER, P_NUMBER, P_BOOLEAN, P_NULL, P_VALUE, P_OBJECT, P_ARRAY, P_COUNT };
static const char *const PRIM_NAME[P_COUNT] = {"ws", "char", "string", "integer", "number", "boolean", "null", "value", "object", "array"};
static const char *const PRIM_BODY[P_COUNT] = {
    "| \" \" | \"\\n\" [ \\t]{0,20}",
    "[^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" ( [0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} ) )",
    "\"\\\"\" char* \"\\\"\"",
    "\"-\"? ( \"0\" | [1-9] [0-9]{0,15} )",
    "integer ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?",
    "\"true\" | \"false\"",
    "\"null\"",
    "object | array | string | number | boolean | null",
    "\"{\" ws ( string ws \":\" ws value ws ( \",\" ws string ws \":\" ws value ws )* )? \"}\"",
    "\"[\" ws ( value ws ( \",\" ws value ws )* )? \"]\"",
};
/* which primitives each one uses */
static const int PRIM_DEPS[P_COUNT][7] = {
    {-1}, {-1}, {P_CHAR, -1}, {-1}, {P_INTEGER, -1}, {-1}, {-1},
    {P_OBJECT, P_ARRAY, P_STRING, P_NUMBER, P_BOOLEAN, P_NULL, -1}, {P_WS, P_STRING, P_VALUE, -1}, {P_WS, P_VALUE, -1},
};

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) b->p = mm_xrealloc(b->p, b->cap = (b->n + n + 1) * 2 + 256);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_puts(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof tmp) sb_add(b, tmp, (size_t)n);
    else if (n > 0) { /* longer than tmp (a rule holding a long literal): printed again at its length, never cut */
        char *big = mm_xmalloc((size_t)n + 1);
        vsnprintf(big, (size_t)n + 1, fmt, again);
        sb_add(b, big, (size_t)n);
        free(big);
    }
    va_end(again);
}

typedef struct {
    char *ref;       /* "#/$defs/X" */
    char name[128];  /* its rule */
} jref;

typedef struct {
    sbuf out;        /* rules written so far */
    const json_t *root;
    int used[P_COUNT];
    jref *refs;
    int n_refs;
    int n_names;     /* counter for unique rule names */
    int root_taken;
    int depth;
} jsc;

/* ---------------------------------------------------------------- helpers */
static int jfail(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jfail(const char *path, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mm_set_error("json_schema: at %s: %s", *path ? path : "#", msg);
    return -1;
}

static void use(jsc *c, int p) {
    if (c->used[p]) return;
    c->used[p] = 1;
    for (int i = 0; PRIM_DEPS[p][i] >= 0; i++) use(c, PRIM_DEPS[p][i]);
    if (p != P_WS && p != P_CHAR && p != P_INTEGER && p != P_BOOLEAN && p != P_NULL) use(c, P_WS);
}
static const char *prim(jsc *c, int p) {
    use(c, p);
    return PRIM_NAME[p];
}

/* A GBNF literal of the bytes s[0..n). */
static void lit(sbuf *b, const char *s, size_t n) {
    sb_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"') sb_puts(b, "\\\"");
        else if (ch == '\\') sb_puts(b, "\\\\");
        else if (ch == '\n') sb_puts(b, "\\n");
        else if (ch == '\r') sb_puts(b, "\\r");
        else if (ch == '\t') sb_puts(b, "\\t");
        else if (ch < 0x20 || ch == 0x7F) sb_printf(b, "\\x%02X", ch);
        else sb_add(b, (const char *)&ch, 1);
    }
    sb_puts(b, "\"");
}

/* The literal of a JSON value as it is written (compact; UTF-8, not \u escapes). */
static void lit_json(sbuf *b, const json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    lit(b, s ? s : "null", s ? strlen(s) : 4);
    free(s);
}

/* A fresh rule name from a base ("root-name"), letters, digits and '-' only. */
static void rule_name(jsc *c, const char *base, char *out, size_t cap) {
    char clean[96];
    size_t k = 0;
    for (const char *s = base; *s && k + 1 < sizeof clean; s++) {
        char ch = *s;
        clean[k++] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ? ch : '-';
    }
    clean[k] = 0;
    if (!k) snprintf(clean, sizeof clean, "r");
    if (!c->root_taken && !strcmp(clean, "root")) {
        c->root_taken = 1;
        snprintf(out, cap, "root");
    } else {
        snprintf(out, cap, "%s-%d", clean, ++c->n_names);
    }
}

static int is_annotation(const char *k) {
    static const char *const ann[] = {"title", "description", "$schema", "$id", "$comment", "default", "examples",
                                      "deprecated", "readOnly", "writeOnly", "$defs", "definitions"};
    for (size_t i = 0; i < sizeof ann / sizeof ann[0]; i++)
        if (!strcmp(k, ann[i])) return 1;
    return 0;
}

static int is_known(const char *k) {
    static const char *const kw[] = {"type", "properties", "required", "additionalProperties", "items", "minItems",
                                     "maxItems", "minLength", "maxLength", "enum", "const", "anyOf", "$ref"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (!strcmp(k, kw[i])) return 1;
    return is_annotation(k);
}

static int gen(jsc *c, const json_t *s, const char *path, const char *hint, char *name, size_t cap);

/* The JSON type name of a value ("integer" for whole numbers). */
static const char *type_of(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE: case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static int get_count(const json_t *s, const char *k, const char *path, long *out) {
    const json_t *v = json_object_get(s, k);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0) return jfail(path, "'%s' must be a non-negative integer", k);
    *out = (long)(json_integer_value(v) > 1000000 ? 1000000 : json_integer_value(v));
    return 1;
}

/* `{lo,hi}` GBNF repetition text (hi < 0: unbounded). */
static void rep(sbuf *b, long lo, long hi) {
    if (hi < 0) {
        if (lo == 0) sb_puts(b, "*");
        else if (lo == 1) sb_puts(b, "+");
        else sb_printf(b, "{%ld,}", lo);
    } else {
        sb_printf(b, "{%ld,%ld}", lo, hi);
    }
}

/* ---------------------------------------------------------------- one type */
static int gen_string(jsc *c, const json_t *s, const char *path, sbuf *body) {
    long lo = 0, hi = -1;
    if (get_count(s, "minLength", path, &lo) < 0 || get_count(s, "maxLength", path, &hi) < 0) return -1;
    if (hi >= 0 && hi < lo) return jfail(path, "maxLength %ld is below minLength %ld", hi, lo);
    if (lo > 2000) return jfail(path, "minLength %ld is over 2000 (the grammar's repetition limit)", lo);
    if (hi > 2000) hi = -1;
    if (lo == 0 && hi < 0) {
        sb_puts(body, prim(c, P_STRING));
        return 0;
    }
    use(c, P_CHAR);
    sb_puts(body, "\"\\\"\" char");
    rep(body, lo, hi);
    sb_puts(body, " \"\\\"\"");
    return 0;
}

static int gen_array(jsc *c, const json_t *s, const char *path, const char *hint, sbuf *body) {
    long lo = 0, hi = -1;
    if (get_count(s, "minItems", path, &lo) < 0 || get_count(s, "maxItems", path, &hi) < 0) return -1;
    if (hi >= 0 && hi < lo) return jfail(path, "maxItems %ld is below minItems %ld", hi, lo);
    if (lo > 2000) return jfail(path, "minItems %ld is over 2000 (the grammar's repetition limit)", lo);
    if (hi > 2000) hi = -1;
    const json_t *items = json_object_get(s, "items");
    char item[128];
    if (items) {
        char p[512], h[160];
        snprintf(p, sizeof p, "%s/items", path);
        snprintf(h, sizeof h, "%s-item", hint);
        if (gen(c, items, p, h, item, sizeof item) < 0) return -1;
    } else {
        snprintf(item, sizeof item, "%s", prim(c, P_VALUE));
    }
    use(c, P_WS);
    if (hi == 0) {
        sb_puts(body, "\"[\" ws \"]\"");
        return 0;
    }
    /* "[" ws (item ws ("," ws item ws){lo-1, hi-1})? "]" (not optional when lo >= 1) */
    sb_printf(body, "\"[\" ws ( %s ws ( \",\" ws %s ws )", item, item);
    rep(body, lo > 0 ? lo - 1 : 0, hi > 0 ? hi - 1 : -1);
    sb_puts(body, lo > 0 ? " ) \"]\"" : " )? \"]\"");
    return 0;
}

typedef struct {
    const char *key;
    char rule[128];
    int required;
} jprop;

static int gen_object(jsc *c, const json_t *s, const char *path, const char *hint, sbuf *body) {
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *add = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props)) return jfail(path, "'properties' must be an object");
    if (req && !json_is_array(req)) return jfail(path, "'required' must be an array of property names");
    if (add && !json_is_boolean(add) && !json_is_object(add)) return jfail(path, "'additionalProperties' must be a boolean or a schema");
    size_t np = props ? json_object_size(props) : 0, nr = req ? json_array_size(req) : 0;
    use(c, P_WS);
    if (json_is_object(add) && np == 0 && nr == 0) {   /* a map: any keys, values of the schema */
        char p[512], h[160], val[128];
        snprintf(p, sizeof p, "%s/additionalProperties", path);
        snprintf(h, sizeof h, "%s-value", hint);
        if (gen(c, add, p, h, val, sizeof val) < 0) return -1;
        const char *str = prim(c, P_STRING);
        sb_printf(body, "\"{\" ws ( %s ws \":\" ws %s ws ( \",\" ws %s ws \":\" ws %s ws )* )? \"}\"", str, val, str, val);
        return 0;
    }
    if (json_is_object(add)) return jfail(path, "'additionalProperties' with a schema is supported only without 'properties' and 'required'");
    if (np == 0 && nr == 0) {   /* no properties: any object, or exactly {} when nothing else is allowed */
        if (json_is_false(add)) sb_puts(body, "\"{\" ws \"}\"");
        else sb_puts(body, prim(c, P_OBJECT));
        return 0;
    }
    jprop *ps = mm_xcalloc(np + nr + 1, sizeof(jprop));
    size_t n = 0;
    const char *key;
    const json_t *sub;
    int rc = -1;
    json_object_foreach((json_t *)props, key, sub) {
        char p[512], h[160];
        snprintf(p, sizeof p, "%s/properties/%s", path, key);
        snprintf(h, sizeof h, "%s-%s", hint, key);
        ps[n].key = key;
        if (gen(c, sub, p, h, ps[n].rule, sizeof ps[n].rule) < 0) goto out;
        n++;
    }
    for (size_t i = 0; i < nr; i++) {
        const char *k = json_string_value(json_array_get(req, i));
        if (!k) {
            jfail(path, "'required[%zu]' must be a string", i);
            goto out;
        }
        size_t j = 0;
        while (j < n && strcmp(ps[j].key, k)) j++;
        if (j == n) {   /* required but not described: any value */
            ps[n].key = k;
            snprintf(ps[n].rule, sizeof ps[n].rule, "%s", prim(c, P_VALUE));
            n++;
        }
        ps[j].required = 1;
    }
    /* R(i, e) rules; emitted lazily from the end so every name exists when used */
    char (*rn)[2][128] = mm_xcalloc(n + 1, sizeof *rn);
    for (size_t i = n + 1; i-- > 0;)
        for (int e = 0; e < 2; e++) {
            if (i == n) continue;   /* R(n, e) is empty */
            char base[160];
            snprintf(base, sizeof base, "%s-p%zu%s", hint, i, e ? "c" : "");
            rule_name(c, base, rn[i][e], sizeof rn[i][e]);
            sbuf r = {0};
            sb_printf(&r, "%s ::= ", rn[i][e]);
            sbuf kv = {0};
            if (e) sb_puts(&kv, "\",\" ws ");
            json_t *kj = json_string(ps[i].key);
            lit_json(&kv, kj);
            json_decref(kj);
            sb_printf(&kv, " ws \":\" ws %s ws", ps[i].rule);
            if (i + 1 < n) sb_printf(&kv, " %s", rn[i + 1][1]);
            /* an optional last property is "( kv )?": GBNF reads a line ending in "| " as going on */
            if (ps[i].required) sb_puts(&r, kv.p);
            else if (i + 1 < n) sb_printf(&r, "%s | %s", kv.p, rn[i + 1][e]);
            else sb_printf(&r, "( %s )?", kv.p);
            sb_puts(&r, "\n");
            sb_puts(&c->out, r.p);
            free(r.p);
            free(kv.p);
        }
    sb_printf(body, "\"{\" ws %s \"}\"", rn[0][0]);
    free(rn);
    rc = 0;
out:
    free(ps);
    return rc;
}

/* ---------------------------------------------------------------- a schema node */
static int resolve_ref(jsc *c, const char *ref, const char *path, char *name, size_t cap) {
    for (int i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i].ref, ref)) {
            snprintf(name, cap, "%s", c->refs[i].name);
            return 0;
        }
    const char *rest = NULL;
    if (!strncmp(ref, "#/$defs/", 8)) rest = ref + 8;
    else if (!strncmp(ref, "#/definitions/", 14)) rest = ref + 14;
    if (!rest || strchr(rest, '/')) return jfail(path, "$ref \"%s\" is not supported (only local #/$defs/NAME and #/definitions/NAME)", ref);
    char key[256];
    size_t k = 0;
    for (const char *s = rest; *s && k + 1 < sizeof key; s++) {   /* JSON pointer unescaping */
        if (s[0] == '~' && s[1] == '1') key[k++] = '/', s++;
        else if (s[0] == '~' && s[1] == '0') key[k++] = '~', s++;
        else key[k++] = *s;
    }
    key[k] = 0;
    const json_t *defs = json_object_get(c->root, ref[2] == '$' ? "$defs" : "definitions");
    const json_t *target = json_object_get(defs, key);
    if (!target) return jfail(path, "$ref \"%s\" points at nothing", ref);
    c->refs = mm_xrealloc(c->refs, sizeof(jref) * (size_t)(c->n_refs + 1));
    jref *r = &c->refs[c->n_refs++];
    r->ref = mm_xstrdup(ref);
    char base[160];
    snprintf(base, sizeof base, "def-%.100s", key);
    rule_name(c, base, r->name, sizeof r->name);
    snprintf(name, cap, "%s", r->name);
    /* the name exists before the body, so recursive definitions refer to it */
    char p[512], nm[128];
    snprintf(p, sizeof p, "%s", ref);
    if (gen(c, target, p, base, nm, sizeof nm) < 0) return -1;
    sb_printf(&c->out, "%s ::= %s\n", name, nm);
    return 0;
}

static int gen(jsc *c, const json_t *s, const char *path, const char *hint, char *name, size_t cap) {
    if (++c->depth > 64) {
        c->depth--;
        return jfail(path, "the schema nests deeper than 64 levels");
    }
    int rc = -1;
    sbuf body = {0};
    if (json_is_true(s)) {
        snprintf(name, cap, "%s", prim(c, P_VALUE));
        rc = 0;
        goto out;
    }
    if (json_is_false(s)) {
        jfail(path, "the schema false accepts no value");
        goto out;
    }
    if (!json_is_object(s)) {
        jfail(path, "a schema must be an object or a boolean");
        goto out;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)s, key, v) {
        if (!is_known(key)) {
            jfail(path, "keyword '%s' is not supported (supported: type, properties, required, additionalProperties, items, "
                        "minItems, maxItems, minLength, maxLength, enum, const, anyOf, $ref, and annotations)", key);
            goto out;
        }
    }
    const json_t *ref = json_object_get(s, "$ref"), *cst = json_object_get(s, "const"), *en = json_object_get(s, "enum");
    const json_t *any = json_object_get(s, "anyOf"), *type = json_object_get(s, "type");
    int n_kw = 0;   /* constraint keywords besides the one being looked at */
    json_object_foreach((json_t *)s, key, v) n_kw += !is_annotation(key);
    if (ref) {
        if (!json_is_string(ref)) {
            jfail(path, "'$ref' must be a string");
            goto out;
        }
        if (n_kw > 1) {
            jfail(path, "'$ref' next to other keywords is not supported");
            goto out;
        }
        rc = resolve_ref(c, json_string_value(ref), path, name, cap);
        goto out;
    }
    if (cst || en) {   /* const is a one-value enum; `type` may stand next to them (values of other types drop out) */
        json_t *vals = cst ? json_pack("[O]", cst) : json_incref((json_t *)en);
        const char *kw = cst ? "const" : "enum";
        int bad = !json_is_array(vals) || !json_array_size(vals) ? 1 : (cst && en) || n_kw > 1 + (type != NULL) ? 2 : 0;
        if (bad) {
            json_decref(vals);
            jfail(path, bad == 1 ? "'%s' must be a non-empty array" : "'%s' next to keywords other than 'type' is not supported", kw);
            goto out;
        }
        size_t i, kept = 0;
        json_array_foreach(vals, i, v) {
            if (type) {
                const char *t = type_of(v);
                int ok = 0;
                for (size_t k = 0; k < (json_is_array(type) ? json_array_size(type) : 1) && !ok; k++) {
                    const char *tn = json_string_value(json_is_array(type) ? json_array_get(type, k) : type);
                    ok = tn && (!strcmp(tn, t) || (!strcmp(tn, "number") && !strcmp(t, "integer")));
                }
                if (!ok) continue;
            }
            if (kept++) sb_puts(&body, " | ");
            lit_json(&body, v);
        }
        json_decref(vals);
        if (!kept) {
            jfail(path, "no '%s' value has the schema's 'type'", kw);
            goto out;
        }
    } else if (any) {
        if (!json_is_array(any) || !json_array_size(any)) {
            jfail(path, "'anyOf' must be a non-empty array of schemas");
            goto out;
        }
        if (n_kw > 1) {
            jfail(path, "'anyOf' next to other keywords is not supported (move them into each alternative)");
            goto out;
        }
        size_t i;
        json_array_foreach(any, i, v) {
            char p[512], h[160], nm[128];
            snprintf(p, sizeof p, "%s/anyOf/%zu", path, i);
            snprintf(h, sizeof h, "%s-%zu", hint, i);
            if (gen(c, v, p, h, nm, sizeof nm) < 0) goto out;
            sb_printf(&body, "%s%s", i ? " | " : "", nm);
        }
    } else {
        /* the types: given, or the one the keywords imply, or any value */
        const char *types[8];
        int nt = 0;
        if (type) {
            if (json_is_string(type)) {
                types[nt++] = json_string_value(type);
            } else if (json_is_array(type) && json_array_size(type) > 0 && json_array_size(type) <= 7) {
                size_t i;
                json_array_foreach(type, i, v) {
                    if (!json_is_string(v)) {
                        jfail(path, "'type[%zu]' must be a string", i);
                        goto out;
                    }
                    types[nt++] = json_string_value(v);
                }
            } else {
                jfail(path, "'type' must be a type name or a non-empty array of them");
                goto out;
            }
        } else if (json_object_get(s, "properties") || json_object_get(s, "required") || json_object_get(s, "additionalProperties")) {
            types[nt++] = "object";
        } else if (json_object_get(s, "items") || json_object_get(s, "minItems") || json_object_get(s, "maxItems")) {
            types[nt++] = "array";
        } else if (json_object_get(s, "minLength") || json_object_get(s, "maxLength")) {
            types[nt++] = "string";
        } else {
            snprintf(name, cap, "%s", prim(c, P_VALUE));
            rc = 0;
            goto out;
        }
        for (int i = 0; i < nt; i++) {
            const char *t = types[i];
            if (i) sb_puts(&body, " | ");
            if (!strcmp(t, "string")) {
                if (gen_string(c, s, path, &body) < 0) goto out;
            } else if (!strcmp(t, "integer")) {
                sb_puts(&body, prim(c, P_INTEGER));
            } else if (!strcmp(t, "number")) {
                sb_puts(&body, prim(c, P_NUMBER));
            } else if (!strcmp(t, "boolean")) {
                sb_puts(&body, prim(c, P_BOOLEAN));
            } else if (!strcmp(t, "null")) {
                sb_puts(&body, prim(c, P_NULL));
            } else if (!strcmp(t, "object")) {
                if (gen_object(c, s, path, hint, &body) < 0) goto out;
            } else if (!strcmp(t, "array")) {
                if (gen_array(c, s, path, hint, &body) < 0) goto out;
            } else {
                jfail(path, "'type' \"%s\" is not a JSON Schema type", t);
                goto out;
            }
        }
    }
    rule_name(c, hint, name, cap);
    sb_printf(&c->out, "%s ::= %s\n", name, body.p);
    rc = 0;
out:
    free(body.p);
    c->depth--;
    return rc;
}

char *mm_json_schema_to_gbnf(const json_t *schema) {
    jsc c = {.root = schema};
    char top[128];
    int rc = gen(&c, schema, "#", "root", top, sizeof top);
    for (int i = 0; i < c.n_refs; i++) free(c.refs[i].ref);
    free(c.refs);
    if (rc < 0) {
        free(c.out.p);
        return NULL;
    }
    if (strcmp(top, "root")) sb_printf(&c.out, "root ::= %s\n", top);   /* a primitive or a $ref at the top */
    for (int p = 0; p < P_COUNT; p++)
        if (c.used[p]) sb_printf(&c.out, "%s ::= %s\n", PRIM_NAME[p], PRIM_BODY[p]);
    return c.out.p;
}

char *mm_json_object_gbnf(void) {
    json_t *o = json_pack("{s:s}", "type", "object");
    char *g = mm_json_schema_to_gbnf(o);
    json_decref(o);
    return g;
}
