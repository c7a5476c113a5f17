/* mm_oai.c — OpenAI request validation, chat history conversion and MiniMax tool-call parsing
 * (see mm_oai.h for the formats). Pure functions on jansson values: unit-tested in tests/test_server_oai.c. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "text/mm_chat.h"
#include "text/mm_jschema.h"
#include "text/mm_reasoning.h"
#include "base/mm_common.h"
#include "server/mm_oai.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

void mm_oai_req_clear(mm_oai_req *r) {
    json_decref(r->messages);
    json_decref(r->tools);
    free(r->prompt);
    free(r->prompt_ids);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    mm_grammar_free(r->grammar);
    free(r->bias_id);
    free(r->bias_val);
    memset(r, 0, sizeof *r);
}

/* A field that is absent or JSON null counts as not given. */
static const json_t *field(const json_t *o, const char *k) {
    const json_t *v = json_object_get(o, k);
    return v && !json_is_null(v) ? v : NULL;
}

static int get_number(const json_t *body, const char *k, double lo, double hi, double *out, char *err, size_t errlen) {
    const json_t *v = field(body, k);
    if (!v) return 0;
    double d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || d < lo || d > hi)
        return fail(err, errlen, "'%s' must be a number in [%g, %g]", k, lo, hi);
    *out = d;
    return 1;
}

static int get_int(const json_t *body, const char *k, long long lo, long long hi, long long *out, char *err, size_t errlen) {
    const json_t *v = field(body, k);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail(err, errlen, "'%s' must be an integer in [%lld, %lld]", k, lo, hi);
    *out = json_integer_value(v);
    return 1;
}

static int get_bool(const json_t *o, const char *k, const char *name, int *out, char *err, size_t errlen) {
    const json_t *v = field(o, k);
    if (!v) return 0;
    if (!json_is_boolean(v)) return fail(err, errlen, "'%s' must be true or false", name);
    *out = json_is_true(v);
    return 1;
}

/* ids from a JSON array of integers; -1 if any element is not an integer in [0, 2^31). */
static int ids_from_array(const json_t *a, int32_t **out) {
    size_t n = json_array_size(a);
    int32_t *ids = mm_xmalloc(sizeof(int32_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(a, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > INT32_MAX) {
            free(ids);
            return -1;
        }
        ids[i] = (int32_t)json_integer_value(x);
    }
    *out = ids;
    return (int)n;
}

static int check_messages(const json_t *msgs, char *err, size_t errlen) {
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return fail(err, errlen, "'messages' must be a non-empty array");
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m)) return fail(err, errlen, "'messages[%zu]' must be an object", i);
        const char *role = json_string_value(json_object_get(m, "role"));
        static const char *roles[] = {"system", "developer", "user", "assistant", "tool", "function"};
        int ok = 0;
        for (size_t k = 0; role && k < sizeof roles / sizeof roles[0]; k++) ok |= !strcmp(role, roles[k]);
        if (!ok)
            return fail(err, errlen, "'messages[%zu].role' must be one of system, developer, user, assistant, tool, function", i);
        const json_t *c = json_object_get(m, "content");
        if (json_is_array(c)) {
            size_t k;
            const json_t *p;
            json_array_foreach(c, k, p) {
                if (!json_is_object(p) || !json_is_string(json_object_get(p, "type")))
                    return fail(err, errlen, "'messages[%zu].content[%zu]' must be an object with a string 'type'", i, k);
                const char *type = json_string_value(json_object_get(p, "type"));
                if (!strcmp(type, "text") && !json_is_string(json_object_get(p, "text")))
                    return fail(err, errlen, "'messages[%zu].content[%zu].text' must be a string", i, k);
                if (!strcmp(type, "image_url")) {
                    const json_t *iu = json_object_get(p, "image_url");
                    if (!json_is_string(iu) && !json_is_string(json_object_get(iu, "url")))
                        return fail(err, errlen, "'messages[%zu].content[%zu].image_url' must be {\"url\": \"data:image/...;base64,...\"}", i, k);
                    if (strcmp(role, "user") && strcmp(role, "system") && strcmp(role, "developer"))
                        return fail(err, errlen, "'messages[%zu]' (%s): images are taken in user and system messages only", i, role);
                }
            }
        } else if (!json_is_string(c) && !((!c || json_is_null(c)) && !strcmp(role, "assistant"))) {
            return fail(err, errlen, "'messages[%zu].content' must be a string or an array of content parts", i);
        }
        const json_t *tc = field(m, "tool_calls");
        if (tc) {
            size_t k;
            const json_t *call;
            if (!json_is_array(tc)) return fail(err, errlen, "'messages[%zu].tool_calls' must be an array", i);
            json_array_foreach(tc, k, call) {
                const json_t *fn = json_object_get(call, "function");
                if (!json_is_string(json_object_get(fn, "name")))
                    return fail(err, errlen, "'messages[%zu].tool_calls[%zu].function.name' must be a string", i, k);
            }
        }
    }
    return 0;
}

static void add_stop(mm_oai_req *r, const json_t *s) {
    size_t n = json_string_length(s);
    if (!n || r->n_stop >= MM_OAI_MAX_STOP) return;
    r->stop[r->n_stop] = mm_xmalloc(n + 1);
    memcpy(r->stop[r->n_stop], json_string_value(s), n + 1);
    r->stop_len[r->n_stop++] = n;
}

/* The fields each endpoint implements (OpenAI's, plus llama.cpp-style extensions). */
static const char *const FIELDS_COMMON[] = {"model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
                                            "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty", "seed", "stop",
                                            "stream", "stream_options", "n", "user", "logit_bias", "logprobs", "response_format",
                                            "grammar", "ignore_eos", NULL};
static const char *const FIELDS_CHAT[] = {"messages", "tools", "tool_choice", "parallel_tool_calls", "reasoning_format", NULL};
static const char *const FIELDS_COMPLETION[] = {"prompt", "parse_special", NULL};

static int listed(const char *const *list, const char *k) {
    for (; *list; list++)
        if (!strcmp(*list, k)) return 1;
    return 0;
}

/* GBNF text → grammar, or -1 naming where. */
static int set_grammar(mm_oai_req *r, const char *gbnf, const char *field, char *err, size_t errlen) {
    r->grammar = mm_grammar_parse(gbnf, strlen(gbnf));
    if (!r->grammar) return fail(err, errlen, "'%s': %s", field, mm_last_error());
    mm_gmatch *m = mm_gmatch_new(r->grammar);   /* the start state must build (ambiguity limits) */
    if (!m) return fail(err, errlen, "'%s': %s", field, mm_last_error());
    mm_gmatch_free(m);
    return 0;
}

static int parse_response_format(mm_oai_req *r, const json_t *rf, char *err, size_t errlen) {
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!json_is_object(rf) || !type)
        return fail(err, errlen, "'response_format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\", ...}");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)rf, key, v) {
        if (strcmp(key, "type") && !(!strcmp(type, "json_schema") && !strcmp(key, "json_schema")))
            return fail(err, errlen, "'response_format.%s' is not supported", key);
    }
    if (!strcmp(type, "text")) return 0;
    if (!strcmp(type, "json_object")) {
        char *g = mm_json_object_gbnf();
        int rc = set_grammar(r, g, "response_format", err, errlen);
        free(g);
        return rc;
    }
    if (strcmp(type, "json_schema"))
        return fail(err, errlen, "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"");
    const json_t *js = json_object_get(rf, "json_schema");
    if (!json_is_object(js)) return fail(err, errlen, "'response_format.json_schema' must be an object with a 'schema'");
    json_object_foreach((json_t *)js, key, v) {
        if (strcmp(key, "name") && strcmp(key, "description") && strcmp(key, "schema") && strcmp(key, "strict"))
            return fail(err, errlen, "'response_format.json_schema.%s' is not supported", key);
    }
    const json_t *name = json_object_get(js, "name"), *strict = json_object_get(js, "strict");
    if (name && !json_is_string(name)) return fail(err, errlen, "'response_format.json_schema.name' must be a string");
    if (strict && !json_is_boolean(strict) && !json_is_null(strict))
        return fail(err, errlen, "'response_format.json_schema.strict' must be true or false");
    const json_t *schema = json_object_get(js, "schema");
    if (!schema) return fail(err, errlen, "'response_format.json_schema.schema' is missing");
    char *g = mm_json_schema_to_gbnf(schema);
    if (!g) return fail(err, errlen, "'response_format.json_schema.schema': %s", mm_last_error());
    int rc = set_grammar(r, g, "response_format.json_schema.schema", err, errlen);
    free(g);
    return rc;
}

static int parse_logit_bias(mm_oai_req *r, const json_t *lb, char *err, size_t errlen) {
    if (!json_is_object(lb)) return fail(err, errlen, "'logit_bias' must be an object {\"token id\": bias}");
    size_t n = json_object_size(lb);
    r->bias_id = mm_xmalloc(sizeof(int32_t) * (n + 1));
    r->bias_val = mm_xmalloc(sizeof(float) * (n + 1));
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)lb, key, v) {
        char *end;
        long id = strtol(key, &end, 10);
        if (!*key || *end || id < 0 || id > INT32_MAX)
            return fail(err, errlen, "'logit_bias' key \"%s\" is not a token id", key);
        double d = json_number_value(v);
        if (!json_is_number(v) || !isfinite(d) || d < -100 || d > 100)
            return fail(err, errlen, "'logit_bias[\"%s\"]' must be a number in [-100, 100]", key);
        r->bias_id[r->n_bias] = (int32_t)id;
        r->bias_val[r->n_bias++] = (float)d;
    }
    return 0;
}

int mm_oai_parse(mm_oai_req *r, int kind, const json_t *body, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->max_tokens = -1;
    r->parse_special = -1;
    r->reasoning_format = -1;
    r->sp = mm_sampler_default_params();
    r->sp.temperature = 1.0f;
    r->sp.top_k = 0;
    r->sp.top_p = 1.0f;
    r->sp.min_p = 0.0f;
    r->sp.repeat_penalty = 1.0f;
    if (!json_is_object(body)) return fail(err, errlen, "the request body must be a JSON object");
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)body, key, val) {
        if (!listed(FIELDS_COMMON, key) && !listed(kind == MM_OAI_CHAT ? FIELDS_CHAT : FIELDS_COMPLETION, key))
            return fail(err, errlen, "'%s' is not supported by this server (%s)", key,
                        listed(kind == MM_OAI_CHAT ? FIELDS_COMPLETION : FIELDS_CHAT, key) ? "it belongs to the other endpoint"
                                                                                           : "the request is refused rather than the field ignored");
    }

    if (kind == MM_OAI_CHAT) {
        const json_t *msgs = json_object_get(body, "messages");
        if (check_messages(msgs, err, errlen) < 0) return -1;
        r->messages = json_incref((json_t *)msgs);   /* shared with the body, never modified: no second copy */
        const json_t *tools = field(body, "tools");
        if (tools) {
            if (!json_is_array(tools)) return fail(err, errlen, "'tools' must be an array");
            size_t i;
            const json_t *t;
            json_array_foreach(tools, i, t) {
                const json_t *fn = json_object_get(t, "function");
                if (!json_is_object(t) || !json_is_string(json_object_get(fn, "name")))
                    return fail(err, errlen, "'tools[%zu]' must be {\"type\": \"function\", \"function\": {\"name\": ...}}", i);
            }
        }
        const json_t *tc = field(body, "tool_choice");
        int none = 0;
        if (tc) {
            if (json_is_string(tc)) {
                const char *s = json_string_value(tc);
                if (strcmp(s, "none") && strcmp(s, "auto") && strcmp(s, "required"))
                    return fail(err, errlen, "'tool_choice' must be \"none\", \"auto\", \"required\" or an object");
                none = !strcmp(s, "none");
            } else if (!json_is_object(tc)) {
                return fail(err, errlen, "'tool_choice' must be \"none\", \"auto\", \"required\" or an object");
            }
        }
        if (tools && json_array_size(tools) && !none) r->tools = json_incref((json_t *)tools);
    } else {
        const json_t *p = json_object_get(body, "prompt");
        /* a one-element batch is the same as its element */
        if (json_is_array(p) && json_array_size(p) == 1 && !json_is_integer(json_array_get(p, 0))) p = json_array_get(p, 0);
        if (json_is_string(p)) {
            if (!json_string_length(p)) return fail(err, errlen, "'prompt' is empty");
            r->prompt_len = json_string_length(p);
            r->prompt = mm_xmalloc(r->prompt_len + 1);
            memcpy(r->prompt, json_string_value(p), r->prompt_len + 1);
        } else if (json_is_array(p)) {
            if (json_array_size(p) == 0) return fail(err, errlen, "'prompt' is empty");
            r->n_prompt_ids = ids_from_array(p, &r->prompt_ids);
            if (r->n_prompt_ids < 0) {
                r->n_prompt_ids = 0;
                return fail(err, errlen, "'prompt' must be a string or an array of token ids (one prompt only)");
            }
        } else {
            return fail(err, errlen, "'prompt' must be a string or an array of token ids (one prompt only)");
        }
    }

    long long ll = 0;
    double d = 0;
    int rc;
    if ((rc = get_int(body, "n", 1, 1, &ll, err, errlen)) < 0)
        return fail(err, errlen, "'n' must be 1: this server generates one choice per request");
    if ((rc = get_int(body, "max_tokens", 0, 1 << 24, &ll, err, errlen)) < 0) return -1;
    if (rc) r->max_tokens = (int)ll;
    if ((rc = get_int(body, "max_completion_tokens", 0, 1 << 24, &ll, err, errlen)) < 0) return -1;
    if (rc) r->max_tokens = (int)ll;
    if ((rc = get_number(body, "temperature", 0, 100, &d, err, errlen)) < 0) return -1;
    if (rc) r->sp.temperature = (float)d;
    if ((rc = get_number(body, "top_p", 0, 1, &d, err, errlen)) < 0) return -1;
    if (rc) r->sp.top_p = d > 0 ? (float)d : 1e-6f;
    if ((rc = get_int(body, "top_k", 0, 1 << 30, &ll, err, errlen)) < 0) return -1;
    if (rc) r->sp.top_k = (int)ll;
    if ((rc = get_number(body, "min_p", 0, 1, &d, err, errlen)) < 0) return -1;
    if (rc) r->sp.min_p = (float)d;
    if ((rc = get_number(body, "repeat_penalty", 1e-6, 100, &d, err, errlen)) < 0) return -1;
    if (rc) r->sp.repeat_penalty = (float)d;
    static const char *const pens[] = {"presence_penalty", "frequency_penalty"};
    for (int k = 0; k < 2; k++) {
        d = 0;
        if (get_number(body, pens[k], -2, 2, &d, err, errlen) < 0) return -1;
        if (d != 0) return fail(err, errlen, "'%s' is not implemented by this server (only 0); 'repeat_penalty' is", pens[k]);
    }
    const json_t *lp = field(body, "logprobs");
    if (lp && !json_is_false(lp)) return fail(err, errlen, "'logprobs' is not implemented by this server (only false)");
    const json_t *user = field(body, "user"), *model = field(body, "model");
    if (user && !json_is_string(user)) return fail(err, errlen, "'user' must be a string");
    if (model && !json_is_string(model)) return fail(err, errlen, "'model' must be a string");
    const json_t *ptc = field(body, "parallel_tool_calls");
    if (ptc && !json_is_true(ptc))
        return fail(err, errlen, "'parallel_tool_calls' must be true: this server cannot keep the model to one call");
    const json_t *rfmt = field(body, "reasoning_format");
    if (rfmt && (!json_is_string(rfmt) || (r->reasoning_format = mm_reasoning_format(json_string_value(rfmt))) < 0))
        return fail(err, errlen, "'reasoning_format' must be \"none\" or \"deepseek\"");
    const json_t *rf = field(body, "response_format"), *gr = field(body, "grammar");
    if (rf && gr) return fail(err, errlen, "give 'response_format' or 'grammar', not both");
    if (rf && parse_response_format(r, rf, err, errlen) < 0) return -1;
    if (gr) {
        if (!json_is_string(gr)) return fail(err, errlen, "'grammar' must be a string (GBNF)");
        if (set_grammar(r, json_string_value(gr), "grammar", err, errlen) < 0) return -1;
    }
    const json_t *lb = field(body, "logit_bias");
    if (lb && parse_logit_bias(r, lb, err, errlen) < 0) return -1;
    if ((rc = get_int(body, "seed", INT64_MIN, INT64_MAX, &ll, err, errlen)) < 0) return -1;
    if (rc) {
        r->sp.seed = (uint64_t)ll;
        r->seeded = 1;
    }
    if (get_bool(body, "stream", "stream", &r->stream, err, errlen) < 0) return -1;
    if (get_bool(body, "ignore_eos", "ignore_eos", &r->ignore_eos, err, errlen) < 0) return -1;
    if (kind == MM_OAI_COMPLETION && get_bool(body, "parse_special", "parse_special", &r->parse_special, err, errlen) < 0) return -1;
    const json_t *so = field(body, "stream_options");
    if (so) {
        if (!json_is_object(so)) return fail(err, errlen, "'stream_options' must be an object");
        if (get_bool(so, "include_usage", "stream_options.include_usage", &r->include_usage, err, errlen) < 0) return -1;
    }
    const json_t *stop = field(body, "stop");
    if (stop) {
        if (json_is_string(stop)) {
            add_stop(r, stop);
        } else if (json_is_array(stop) && json_array_size(stop) <= MM_OAI_MAX_STOP) {
            size_t i;
            const json_t *s;
            json_array_foreach(stop, i, s) {
                if (!json_is_string(s)) return fail(err, errlen, "'stop[%zu]' must be a string", i);
                add_stop(r, s);
            }
        } else {
            return fail(err, errlen, "'stop' must be a string or an array of at most %d strings", MM_OAI_MAX_STOP);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- chat history */

/* Text built in one buffer (lengths carried: text may hold NUL), optionally recording which byte ranges are
 * template markup ([[a, b], ...] in tmpl) rather than text from the request. */
typedef struct {
    char *p;
    size_t n, cap;
    json_t *tmpl;
} tb;

static void tb_put(tb *b, const char *s, size_t n, int markup) {
    if (b->n + n + 1 > b->cap) b->p = mm_xrealloc(b->p, b->cap = (b->n + n + 1) * 2 + 64);
    memcpy(b->p + b->n, s, n);
    b->p[b->n + n] = 0;
    if (markup && b->tmpl && n) {
        json_t *last = json_array_get(b->tmpl, json_array_size(b->tmpl) - 1);
        if (last && json_integer_value(json_array_get(last, 1)) == (json_int_t)b->n)
            json_array_set_new(last, 1, json_integer((json_int_t)(b->n + n)));
        else
            json_array_append_new(b->tmpl, json_pack("[I, I]", (json_int_t)b->n, (json_int_t)(b->n + n)));
    }
    b->n += n;
}
static void tb_str(tb *b, const char *s, int markup) { tb_put(b, s, strlen(s), markup); }
static void tb_jstr(tb *b, const json_t *s) { tb_put(b, json_string_value(s), json_string_length(s), 0); }

/* The text of a message's content into b: a string, or its text parts joined (in one pass). */
static void content_text(tb *b, const json_t *c) {
    if (json_is_string(c)) {
        tb_jstr(b, c);
        return;
    }
    size_t i;
    const json_t *p;
    json_array_foreach(c, i, p) {
        const json_t *t = json_object_get(p, "text");
        if (json_is_string(t)) tb_jstr(b, t);
    }
}

/* arguments as compact JSON text: a string is taken as already-encoded JSON (the OpenAI shape). */
static void args_text(tb *b, const json_t *args) {
    if (json_is_string(args)) return tb_jstr(b, args);
    char *s = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    tb_str(b, s ? s : "{}", 0);
    free(s);
}

/* OpenAI tool_calls as model text in the style's format: the markers are markup, names and arguments text. */
static void render_calls(tb *b, const json_t *tool_calls, int style) {
    size_t i;
    const json_t *call;
    tb_str(b, style == MM_CHAT_M1 ? "<tool_calls>\n" : "<function_call>```typescript\n", 1);
    json_array_foreach(tool_calls, i, call) {
        const json_t *fn = json_object_get(call, "function"), *name = json_object_get(fn, "name");
        if (!json_is_string(name)) name = NULL;
        if (style == MM_CHAT_M1) {
            json_t *nm = name ? json_incref((json_t *)name) : json_string("");
            char *q = json_dumps(nm, JSON_ENCODE_ANY);
            tb_str(b, "{\"name\": ", 1);
            tb_str(b, q ? q : "\"\"", 0);
            tb_str(b, ", \"arguments\": ", 1);
            args_text(b, json_object_get(fn, "arguments"));
            tb_str(b, "}\n", 1);
            free(q);
            json_decref(nm);
        } else {
            tb_str(b, "functions.", 1);
            if (name) tb_jstr(b, name);
            tb_str(b, "(", 1);
            args_text(b, json_object_get(fn, "arguments"));
            tb_str(b, ")\n", 1);
        }
    }
    tb_str(b, style == MM_CHAT_M1 ? "</tool_calls>" : "```", 1);
}

char *mm_oai_render_tool_calls(const json_t *tool_calls, int style) {
    tb b = {0};
    render_calls(&b, tool_calls, style);
    return b.p;
}

/* The function name the call with this id had, searching assistant messages before index `before`. */
static const char *call_name(const json_t *msgs, size_t before, const char *id) {
    for (size_t i = before; id && i-- > 0;) {
        const json_t *tc = json_object_get(json_array_get(msgs, i), "tool_calls");
        size_t k;
        const json_t *call;
        json_array_foreach(tc, k, call) {
            const char *cid = json_string_value(json_object_get(call, "id"));
            if (cid && !strcmp(cid, id)) return json_string_value(json_object_get(json_object_get(call, "function"), "name"));
        }
    }
    return NULL;
}

json_t *mm_oai_template_messages(const json_t *msgs, int style, char *err, size_t errlen) {
    if (!json_is_array(msgs)) {
        fail(err, errlen, "'messages' must be an array");
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *c = json_object_get(m, "content");
        if (!role) continue;
        if (!strcmp(role, "developer")) role = "system";
        tb text = {0};
        tb_put(&text, "", 0, 0);
        if (c && !json_is_null(c)) content_text(&text, c);
        json_t *o = NULL;
        if (!strcmp(role, "tool")) {
            const char *name = json_string_value(json_object_get(m, "name"));
            if (!name) name = call_name(msgs, i, json_string_value(json_object_get(m, "tool_call_id")));
            if (!name) {
                fail(err, errlen, "'messages[%zu]' (tool): give 'name' or a 'tool_call_id' that an earlier assistant tool call has", i);
                free(text.p);
                json_decref(out);
                return NULL;
            }
            if (style == MM_CHAT_M1)
                o = json_pack("{s:s, s:[{s:s, s:s, s:s%}]}", "role", "tool", "content", "type", "text", "name", name, "text", text.p,
                              text.n);
            else
                o = json_pack("{s:s, s:s, s:s%}", "role", "function", "name", name, "content", text.p, text.n);
        } else if (json_is_array(c) && strcmp(role, "assistant")) {
            o = json_deep_copy(m);   /* list-of-parts content goes to the template as it is; an image part becomes */
            json_object_set_new(o, "role", json_string(role));   /* the template's {"type": "image"} */
            json_object_del(o, "_mm_template");   /* only the server marks markup */
            size_t k;
            json_t *part;
            json_array_foreach(json_object_get(o, "content"), k, part) {
                const char *ty = json_string_value(json_object_get(part, "type"));
                if (!ty || strcmp(ty, "image_url")) continue;
                if (style != MM_CHAT_VL01) {
                    fail(err, errlen, "'messages[%zu].content[%zu]': this model does not take images (not MiniMax-VL-01)", i, k);
                    free(text.p);
                    json_decref(o);
                    json_decref(out);
                    return NULL;
                }
                json_object_clear(part);
                json_object_set_new(part, "type", json_string("image"));
            }
        } else {
            const json_t *tc = field(m, "tool_calls");
            json_t *tmpl = NULL;
            if (tc && json_array_size(tc)) {   /* the calls follow the content, their markers as markup */
                text.tmpl = tmpl = json_array();
                render_calls(&text, tc, style);
            }
            o = json_pack("{s:s, s:s%}", "role", role, "content", text.p, text.n);
            if (o && tmpl) json_object_set(o, "_mm_template", tmpl);
            json_decref(tmpl);
            const json_t *nm = json_object_get(m, "name");
            if (o && json_is_string(nm)) json_object_set(o, "name", (json_t *)nm);
        }
        free(text.p);
        if (!o) {   /* only when out of memory: the strings came from valid JSON */
            fail(err, errlen, "'messages[%zu]' could not be converted", i);
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, o);
    }
    return out;
}

/* ---------------------------------------------------------------- images */

int mm_oai_image_urls(const json_t *msgs, const char **urls, int max) {
    int n = 0;
    size_t i, k;
    const json_t *m, *p;
    json_array_foreach(msgs, i, m) {
        const json_t *c = json_object_get(m, "content");
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_array(c) || !role || !strcmp(role, "assistant")) continue;
        json_array_foreach(c, k, p) {
            const char *ty = json_string_value(json_object_get(p, "type"));
            if (!ty || strcmp(ty, "image_url")) continue;
            const json_t *iu = json_object_get(p, "image_url");
            if (n < max) urls[n] = json_is_string(iu) ? json_string_value(iu) : json_string_value(json_object_get(iu, "url"));
            n++;
        }
    }
    return n;
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;   /* standard and URL-safe alphabets */
    if (c == '/' || c == '_') return 63;
    return -1;
}

int mm_oai_data_url(const char *url, size_t max_bytes, uint8_t **out, size_t *n_out, char *err, size_t errlen) {
    *out = NULL;
    *n_out = 0;
    if (!strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8) || !strncasecmp(url, "file:", 5))
        return fail(err, errlen, "image_url: remote and file URLs are not fetched (this server makes no requests): send the "
                                 "image inline as a data URL, \"data:image/png;base64,...\"");
    if (strncasecmp(url, "data:", 5))
        return fail(err, errlen, "image_url: the url must be a data URL (\"data:image/png;base64,...\")");
    const char *comma = strchr(url, ',');
    if (!comma) return fail(err, errlen, "image_url: a data URL needs a ',' before its data");
    const char *mt = url + 5;
    size_t hl = (size_t)(comma - mt);
    if (hl < 7 || strncasecmp(comma - 7, ";base64", 7))
        return fail(err, errlen, "image_url: only base64 data URLs are taken (\"data:image/...;base64,...\")");
    if (mt[0] != ';' && strncasecmp(mt, "image/", 6))
        return fail(err, errlen, "image_url: the data URL's media type \"%.*s\" is not an image type (image/png, image/jpeg, "
                                 "image/webp)", (int)(hl - 7 < 64 ? hl - 7 : 64), mt);
    const char *d = comma + 1;
    size_t len = strlen(d);
    while (len && d[len - 1] == '=') len--;
    if (len / 4 * 3 + (len % 4) * 3 / 4 > max_bytes) {
        fail(err, errlen, "image_url: the image is %zu bytes, more than the limit of %zu bytes per image (server "
                          "--image-max-mb)", len / 4 * 3 + (len % 4) * 3 / 4, max_bytes);
        return -2;
    }
    if (len % 4 == 1) return fail(err, errlen, "image_url: the base64 data is truncated (%zu characters)", len);
    uint8_t *o = mm_xmalloc(len / 4 * 3 + 3);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)d[i]);
        if (v < 0) {
            free(o);
            return fail(err, errlen, "image_url: invalid base64 character at offset %zu of the data", i);
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (!n) {
        free(o);
        return fail(err, errlen, "image_url: the data URL holds no data");
    }
    *out = o;
    *n_out = n;
    return 0;
}

/* ---------------------------------------------------------------- tool-call parsing */

static const char *const MARKERS[] = {"<function_call>", "<tool_calls>"};

size_t mm_oai_tool_marker(const char *text, size_t len, size_t *partial) {
    size_t first = len;
    for (size_t k = 0; k < 2; k++) {
        const char *mk = MARKERS[k];
        size_t ml = strlen(mk);
        for (size_t i = 0; i + ml <= len && i < first; i++)
            if (!memcmp(text + i, mk, ml)) {
                first = i;
                break;
            }
    }
    size_t part = 0;
    if (partial) {
        for (size_t k = 0; k < 2; k++) {
            size_t ml = strlen(MARKERS[k]);
            for (size_t l = ml - 1; l > part; l--)
                if (l <= len && !memcmp(text + len - l, MARKERS[k], l)) {
                    part = l;
                    break;
                }
        }
        *partial = first < len ? 0 : part;
    }
    return first;
}

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && isspace((unsigned char)*p)) p++;
    return p;
}

static int starts(const char *p, const char *end, const char *s) {
    size_t l = strlen(s);
    return (size_t)(end - p) >= l && !memcmp(p, s, l);
}

/* One JSON value starting at *p; advances *p past it. */
static json_t *json_at(const char **p, const char *end) {
    json_error_t e;
    json_t *v = json_loadb(*p, (size_t)(end - *p), JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &e);
    if (v) *p += e.position;
    return v;
}

static void add_call(json_t *calls, const char *id_base, const char *name, size_t name_len, const json_t *args) {
    char id[96], *nm = mm_xmalloc(name_len + 1);
    memcpy(nm, name, name_len);
    nm[name_len] = 0;
    snprintf(id, sizeof id, "call_%s_%zu", id_base ? id_base : "0", json_array_size(calls));
    char *a = json_is_string(args) ? mm_xstrdup(json_string_value(args)) : json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function", "function", "name", nm,
                                           "arguments", a ? a : "{}"));
    free(a);
    free(nm);
}

/* Text-01 block after "<function_call>": optional ```lang fence, functions.NAME(JSON) lines, closing fence. */
static const char *parse_text01(const char *p, const char *end, json_t *calls, const char *id_base) {
    p = skip_ws(p, end);
    int fenced = starts(p, end, "```");
    if (fenced) {
        p += 3;
        while (p < end && *p != '\n') p++;  /* language tag */
    }
    int n = 0;
    for (;;) {
        p = skip_ws(p, end);
        if (fenced && starts(p, end, "```")) {
            p += 3;
            break;
        }
        if (p == end) {
            if (fenced && !n) return NULL;
            break;          /* an unclosed fence at the end of the output is tolerated */
        }
        if (starts(p, end, "functions.")) p += 10;
        const char *name = p;
        while (p < end && (isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.')) p++;
        size_t name_len = (size_t)(p - name);
        p = skip_ws(p, end);
        if (!name_len || p == end || *p != '(') return NULL;
        p = skip_ws(p + 1, end);
        json_t *args = NULL;
        if (p < end && *p == ')') args = json_object();
        else if (!(args = json_at(&p, end))) return NULL;
        p = skip_ws(p, end);
        if (p == end || *p != ')' || !json_is_object(args)) {
            json_decref(args);
            return NULL;
        }
        p++;
        add_call(calls, id_base, name, name_len, args);
        json_decref(args);
        n++;
        if (!fenced) break;
    }
    return n ? p : NULL;
}

/* M1 block after "<tool_calls>": JSON objects {"name", "arguments"} until "</tool_calls>" or the end. */
static const char *parse_m1(const char *p, const char *end, json_t *calls, const char *id_base) {
    int n = 0;
    for (;;) {
        p = skip_ws(p, end);
        if (starts(p, end, "</tool_calls>")) return n ? p + 13 : NULL;
        if (p == end) return n ? p : NULL;
        json_t *o = json_at(&p, end);
        const char *name = json_string_value(json_object_get(o, "name"));
        const json_t *args = json_object_get(o, "arguments");
        if (!json_is_object(o) || !name || (args && !json_is_object(args) && !json_is_string(args))) {
            json_decref(o);
            return NULL;
        }
        json_t *empty = args ? NULL : json_object();
        add_call(calls, id_base, name, strlen(name), args ? args : empty);
        json_decref(empty);
        json_decref(o);
        n++;
    }
}

json_t *mm_oai_parse_tool_calls(const char *text, size_t len, const char *id_base, size_t *content_len) {
    *content_len = len;
    size_t at = mm_oai_tool_marker(text, len, NULL);
    if (at == len) return NULL;
    const char *p = text + at, *end = text + len;
    json_t *calls = json_array();
    while (p) {
        p = skip_ws(p, end);
        if (p == end) break;
        if (starts(p, end, MARKERS[0])) p = parse_text01(p + strlen(MARKERS[0]), end, calls, id_base);
        else if (starts(p, end, MARKERS[1])) p = parse_m1(p + strlen(MARKERS[1]), end, calls, id_base);
        else p = NULL;   /* text after the calls: not a clean call */
    }
    if (!p || !json_array_size(calls)) {
        json_decref(calls);
        return NULL;
    }
    while (at > 0 && isspace((unsigned char)text[at - 1])) at--;
    *content_len = at;
    return calls;
}

/* ---------------------------------------------------------------- reasoning and calls in one output */
static char *dup_range(const char *s, size_t n) {
    char *o = mm_xmalloc(n + 1);
    memcpy(o, s, n);
    o[n] = 0;
    return o;
}

void mm_oai_output_clear(mm_oai_output *o) {
    free(o->reasoning);
    free(o->content);
    json_decref(o->calls);
    memset(o, 0, sizeof *o);
}

void mm_oai_split_output(const char *text, size_t len, int fmt, int in_thinking, int tools, const char *id_base,
                         mm_oai_output *out) {
    memset(out, 0, sizeof *out);
    /* where the thinking and the answer are (also in "none" mode, to find calls in each) */
    mm_reasoning p;
    mm_reasoning_init(&p, MM_REASONING_DEEPSEEK, in_thinking);
    mm_reasoning_feed(&p, text, len, 1);
    const size_t rb = p.r_begin, re = p.r_end, cb = p.c_begin, ce = p.c_end;
    size_t r_keep = re - rb, c_keep = ce - cb;
    json_t *calls = NULL;
    if (tools) {
        json_t *cr = p.has_reasoning ? mm_oai_parse_tool_calls(text + rb, re - rb, id_base, &r_keep) : NULL;
        json_t *cc = mm_oai_parse_tool_calls(text + cb, ce - cb, id_base, &c_keep);
        if (cr || cc) {
            calls = cr ? cr : json_array();
            if (cc) json_array_extend(calls, cc);
            json_decref(cc);
            size_t k;
            json_t *call;
            json_array_foreach(calls, k, call) {   /* ids numbered across both blocks */
                char id[96];
                snprintf(id, sizeof id, "call_%s_%zu", id_base ? id_base : "0", k);
                json_object_set_new(call, "id", json_string(id));
            }
        }
        if (!cr) r_keep = re - rb;
    }
    out->calls = calls;
    if (fmt == MM_REASONING_DEEPSEEK) {
        out->reasoning = p.has_reasoning ? dup_range(text + rb, r_keep) : NULL;
        out->content = dup_range(text + cb, c_keep);
        return;
    }
    /* none: the text as it is, less the call blocks */
    if (p.has_reasoning && r_keep < re - rb) {
        size_t a = rb + r_keep, b0 = re, b1 = cb + c_keep;
        out->content = mm_xmalloc(a + (b1 - b0) + 1);
        memcpy(out->content, text, a);
        memcpy(out->content + a, text + b0, b1 - b0);
        out->content[a + (b1 - b0)] = 0;
    } else {
        out->content = dup_range(text, cb + c_keep);
    }
}

json_t *mm_oai_error(const char *message, const char *type, const char *code) {
    /* the message may quote client bytes (a URL, a method, a JSON parse error near a bad byte): JSON holds
     * only valid UTF-8, so invalid sequences become U+FFFD rather than making the whole error unencodable */
    size_t n;
    char *m = mm_utf8_lossy(message, strlen(message), &n);
    json_t *e = json_pack("{s:{s:s%, s:s, s:s?}}", "error", "message", m, n, "type", type, "code", code);
    free(m);
    return e;
}
