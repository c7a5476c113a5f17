/* mm_chat.c — MiniMax chat templates written out by hand (see mm_chat.h).
 *
 * Text-01 (tokenizer_config.json chat_template), per message in order:
 *   system    "<beginning_of_sentence>system ai_setting=assistant\n" + TEXT + "<end_of_sentence>\n"
 *   user      "<beginning_of_sentence>user name=user\n" + TEXT + "<end_of_sentence>\n"
 *   assistant "<beginning_of_sentence>ai name=assistant\n" + every text part + "<end_of_sentence>\n"
 *   function  "<beginning_of_sentence>system function_response=functions\n"
 *             + '{"name": "' + name + '", "response": ' + TEXT + '}' + "<end_of_sentence>\n"
 *   other roles are dropped. Then one "<beginning_of_sentence>system function_setting=functions\n"
 *   + tojson(tool) + "<end_of_sentence>\n" per tool, then the generation prompt.
 * VL-01 (MiniMax-VL-01's tokenizer_config.json, quoted in its MiniMax-VL-01_Function_Call_Guide.md, Hugging Face
 * MiniMaxAI/MiniMax-VL-01 at b81976d): Text-01's role headers, tools and generation prompt, but system, user and
 * assistant messages render every content part in order, an "image" part as the literal "<image>" (the
 * placeholder the processor expands) and a "text" part as its text; function messages as Text-01.
 * M1 (other-models/minimax-m1_tokenizer_config.json): "<begin_of_document>", all system texts joined into one
 * system block (only if non-empty), a tool_setting block listing every tool, then user / assistant / tool
 * messages (function and other roles dropped), then the generation prompt. Every tag in M1's template uses
 * whitespace control, so only the expressions produce output. Its literal `{''name'': ...}` is several
 * adjacent string literals, which Jinja concatenates: it renders as `{name: <tool-name-1>, arguments: ...}`.
 *
 * TEXT is content[0].text in the reference templates. Decisions where the reference fails to render:
 *   - content as a plain string: taken as one text part (reference: "Cannot perform operation + on undefined");
 *   - content whose first part is not text (e.g. an image, then text): the first text part is used
 *     (reference: the same error); a system/user/function message with no text part at all is an error;
 *   - a function message without a string "name", a non-string text, a non-array messages or tools:
 *     errors (the reference fails too). */
#include "text/mm_chat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mm_common.h"

typedef struct {
    char *p;
    size_t n, cap;
    size_t (*plain)[2];   /* byte ranges of p that came from the messages or tools (not the template) */
    int n_plain, cap_plain;
} sb;
static void put(sb *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2 + 64;
        b->p = mm_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void puts_(sb *b, const char *s) { put(b, s, strlen(s)); }

/* Marks [a, b->n) as text from the request (merged with a range that ends at a). */
static void mark_plain(sb *b, size_t a) {
    if (a == b->n) return;
    if (b->n_plain && b->plain[b->n_plain - 1][1] == a) {
        b->plain[b->n_plain - 1][1] = b->n;
        return;
    }
    if (b->n_plain == b->cap_plain) b->plain = mm_xrealloc(b->plain, sizeof *b->plain * (size_t)(b->cap_plain = b->cap_plain * 2 + 8));
    b->plain[b->n_plain][0] = a;
    b->plain[b->n_plain++][1] = b->n;
}
/* Text from the request (content, names): special-token strings in it stay text when tokenized. */
static void put_text(sb *b, const char *s, size_t n) {
    size_t a = b->n;
    put(b, s, n);
    mark_plain(b, a);
}
static void put_jstr(sb *b, const json_t *s) { put_text(b, json_string_value(s), json_string_length(s)); }

/* ---------------------------------------------------------------- tojson = Python json.dumps */

/* Python's repr(float): the shortest digits that round-trip; fixed notation for 1e-4 <= |x| < 1e16, with
 * ".0" on integral values; otherwise d.ddde±XX. json.dumps writes NaN / Infinity / -Infinity. */
static void py_float(sb *b, double x) {
    if (isnan(x)) return puts_(b, "NaN");
    if (isinf(x)) return puts_(b, x > 0 ? "Infinity" : "-Infinity");
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    /* e = [-]d[.ddd]e±XX */
    char digits[24];
    int nd = 0, neg = e[0] == '-';
    const char *q = e + neg;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    int exp10 = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char out[64];
    int o = 0;
    if (neg) out[o++] = '-';
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) {
            out[o++] = '0', out[o++] = '.';
            for (int i = -1; i > exp10; i--) out[o++] = '0';
            for (int i = 0; i < nd; i++) out[o++] = digits[i];
        } else {
            for (int i = 0; i <= exp10; i++) out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > exp10 + 1)
                for (int i = exp10 + 1; i < nd; i++) out[o++] = digits[i];
            else
                out[o++] = '0';
        }
        out[o] = 0;
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        o += snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
    puts_(b, out);
}

static void py_string(sb *b, const char *s, size_t n) {
    put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c < 0x20) snprintf(u, sizeof u, "\\u%04x", c), esc = u;
        if (esc) {
            put(b, s + run, i - run);
            puts_(b, esc);
            run = i + 1;
        }
    }
    put(b, s + run, n - run);
    put(b, "\"", 1);
}

static void py_dump(sb *b, const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        put(b, "{", 1);
        int first = 1;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            if (!first) put(b, ", ", 2);
            first = 0;
            py_string(b, k, strlen(k));
            put(b, ": ", 2);
            py_dump(b, x);
        }
        put(b, "}", 1);
        break;
    }
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) put(b, ", ", 2);
            py_dump(b, json_array_get(v, i));
        }
        put(b, "]", 1);
        break;
    case JSON_STRING: py_string(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: {
        char n[32];
        snprintf(n, sizeof n, "%lld", (long long)json_integer_value(v));
        puts_(b, n);
        break;
    }
    case JSON_REAL: py_float(b, json_real_value(v)); break;
    case JSON_TRUE: puts_(b, "true"); break;
    case JSON_FALSE: puts_(b, "false"); break;
    default: puts_(b, "null");
    }
}

char *mm_chat_tojson(const json_t *v) {
    sb b = {0};
    py_dump(&b, v);
    return b.p;
}

/* ---------------------------------------------------------------- messages */

/* The parts of a message's content: an array as is; a string becomes [{type: text, text: s}] (returned new
 * in *owned). NULL + error for anything else. */
static json_t *content_parts(const json_t *m, size_t i, const char *role, json_t **owned) {
    json_t *c = json_object_get(m, "content");
    *owned = NULL;
    if (json_is_array(c)) return c;
    if (json_is_string(c)) {
        *owned = json_pack("[{s:s, s:O}]", "type", "text", "text", c);
        return *owned;
    }
    mm_set_error("chat: messages[%zu] (%s): content must be a list of parts or a string", i, role);
    return NULL;
}

/* The first text part's text, a JSON string (see the header comment for why the first *text* part). */
static const json_t *first_text(const json_t *parts, size_t i, const char *role) {
    for (size_t k = 0; k < json_array_size(parts); k++) {
        json_t *p = json_array_get(parts, k);
        const char *type = json_string_value(json_object_get(p, "type"));
        json_t *text = json_object_get(p, "text");
        if (type && strcmp(type, "text")) continue;
        if (!text) continue;
        if (!json_is_string(text)) {
            mm_set_error("chat: messages[%zu] (%s): content[%zu].text is not a string", i, role, k);
            return NULL;
        }
        return text;
    }
    mm_set_error("chat: messages[%zu] (%s): content has no text part", i, role);
    return NULL;
}

/* Assistant: every part with type "text", concatenated; a text part without text adds nothing. A string
 * content may come with "_mm_template": [[a, b], ...], byte ranges of it that are template markup (tool
 * calls rendered by the server: their markers are special tokens); the rest is text. */
static void all_text(sb *b, const json_t *m, const json_t *parts) {
    const json_t *c = json_object_get(m, "content"), *tr = json_object_get(m, "_mm_template");
    if (json_is_string(c) && json_is_array(tr)) {
        const char *s = json_string_value(c);
        size_t n = json_string_length(c), at = 0;
        for (size_t k = 0; k < json_array_size(tr); k++) {
            json_int_t a = json_integer_value(json_array_get(json_array_get(tr, k), 0));
            json_int_t e = json_integer_value(json_array_get(json_array_get(tr, k), 1));
            if (a < (json_int_t)at || e < a || e > (json_int_t)n) continue;   /* not ordered, not inside: ignored */
            put_text(b, s + at, (size_t)a - at);
            put(b, s + a, (size_t)(e - a));
            at = (size_t)e;
        }
        put_text(b, s + at, n - at);
        return;
    }
    for (size_t k = 0; k < json_array_size(parts); k++) {
        json_t *p = json_array_get(parts, k);
        const char *type = json_string_value(json_object_get(p, "type"));
        const json_t *text = json_object_get(p, "text");
        if (type && !strcmp(type, "text") && json_is_string(text)) put_jstr(b, text);
    }
}

/* A tool definition as the templates' tojson writes it; all of it is text. */
static void put_tool(sb *b, const json_t *tool) {
    size_t a = b->n;
    py_dump(b, tool);
    mark_plain(b, a);
}

/* VL-01: every part in order, an image part as the placeholder "<image>" (MiniMax-VL-01's template; template
 * markup, so it becomes the image token, while a "<image>" a user writes in a text part stays text). */
static void all_parts(sb *b, const json_t *parts) {
    for (size_t k = 0; k < json_array_size(parts); k++) {
        json_t *p = json_array_get(parts, k);
        const char *type = json_string_value(json_object_get(p, "type"));
        const json_t *text = json_object_get(p, "text");
        if (type && !strcmp(type, "image")) puts_(b, "<image>");
        else if (type && !strcmp(type, "text") && json_is_string(text)) put_jstr(b, text);
    }
}

#define BOS "<beginning_of_sentence>"
#define EOS "<end_of_sentence>"

static int tools_list(const json_t *tools, size_t *n) {
    *n = 0;
    if (!tools || json_is_null(tools)) return 0;
    if (!json_is_array(tools)) {
        mm_set_error("chat: tools must be an array");
        return -1;
    }
    *n = json_array_size(tools);
    return 0;
}

static int render_text01(sb *b, const json_t *messages, const json_t *tools, int add_gen, int vl) {
    for (size_t i = 0; i < json_array_size(messages); i++) {
        json_t *m = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role) continue; /* the template compares an undefined role and drops the message */
        int sys = !strcmp(role, "system"), user = !strcmp(role, "user"), asst = !strcmp(role, "assistant"),
            fn = !strcmp(role, "function");
        if (!sys && !user && !asst && !fn) continue;
        json_t *owned;
        json_t *parts = content_parts(m, i, role, &owned);
        if (!parts) return -1;
        int rc = 0;
        if (vl && !fn) {
            puts_(b, sys ? BOS "system ai_setting=assistant\n" : user ? BOS "user name=user\n" : BOS "ai name=assistant\n");
            all_parts(b, parts);
            puts_(b, EOS "\n");
        } else if (asst) {
            puts_(b, BOS "ai name=assistant\n");
            all_text(b, m, parts);
            puts_(b, EOS "\n");
        } else {
            const json_t *text = first_text(parts, i, role);
            const json_t *name = json_object_get(m, "name");
            if (!json_is_string(name)) name = NULL;
            if (!text) rc = -1;
            else if (fn && !name) {
                mm_set_error("chat: messages[%zu] (function): needs a string \"name\"", i);
                rc = -1;
            } else if (sys) {
                puts_(b, BOS "system ai_setting=assistant\n");
                put_jstr(b, text);
                puts_(b, EOS "\n");
            } else if (user) {
                puts_(b, BOS "user name=user\n");
                put_jstr(b, text);
                puts_(b, EOS "\n");
            } else {
                puts_(b, BOS "system function_response=functions\n{\"name\": \"");
                put_jstr(b, name);
                puts_(b, "\", \"response\": ");
                put_jstr(b, text);
                puts_(b, "}" EOS "\n");
            }
        }
        json_decref(owned);
        if (rc) return -1;
    }
    size_t nt;
    if (tools_list(tools, &nt)) return -1;
    for (size_t i = 0; i < nt; i++) {
        puts_(b, BOS "system function_setting=functions\n");
        put_tool(b, json_array_get(tools, i));
        puts_(b, EOS "\n");
    }
    if (add_gen) puts_(b, BOS "ai name=assistant\n");
    return 0;
}

static int render_m1(sb *b, const json_t *messages, const json_t *tools, int add_gen) {
    puts_(b, "<begin_of_document>");
    sb sys = {0};
    puts_(&sys, "");
    for (size_t i = 0; i < json_array_size(messages); i++) {
        json_t *m = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || strcmp(role, "system")) continue;
        json_t *owned;
        json_t *parts = content_parts(m, i, role, &owned);
        const json_t *text = parts ? first_text(parts, i, role) : NULL;
        if (text) put(&sys, json_string_value(text), json_string_length(text));
        json_decref(owned);
        if (!text) {
            free(sys.p);
            return -1;
        }
    }
    if (sys.n) {
        puts_(b, BOS "system ai_setting=assistant\n");
        put_text(b, sys.p, sys.n);
        puts_(b, EOS "\n");
    }
    free(sys.p);
    free(sys.plain);
    size_t nt;
    if (tools_list(tools, &nt)) return -1;
    if (nt) {
        puts_(b, BOS "system tool_setting=tools\nYou are provided with these tools:\n<tools>\n");
        for (size_t i = 0; i < nt; i++) {
            put_tool(b, json_array_get(tools, i));
            puts_(b, "\n");
        }
        puts_(b, "</tools>\n\nIf you need to call tools, please respond with <tool_calls></tool_calls> XML tags, and "
                 "provide tool-name and json-object of arguments, following the format below:\n<tool_calls>\n"
                 "{name: <tool-name-1>, arguments: <args-json-object-1>}\n...\n</tool_calls>" EOS "\n");
    }
    for (size_t i = 0; i < json_array_size(messages); i++) {
        json_t *m = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role) continue;
        int user = !strcmp(role, "user"), asst = !strcmp(role, "assistant"), tool = !strcmp(role, "tool");
        if (!user && !asst && !tool) continue;
        json_t *owned;
        json_t *parts = content_parts(m, i, role, &owned);
        if (!parts) return -1;
        int rc = 0;
        if (user) {
            const json_t *text = first_text(parts, i, role);
            if (!text) rc = -1;
            else {
                puts_(b, BOS "user name=user\n");
                put_jstr(b, text);
                puts_(b, EOS "\n");
            }
        } else if (asst) {
            puts_(b, BOS "ai name=assistant\n");
            all_text(b, m, parts);
            puts_(b, EOS "\n");
        } else {
            /* every part is "tool name: NAME\ntool result: TEXT\n\n"; a string content takes the message's name */
            puts_(b, BOS "tool name=tools\n");
            for (size_t k = 0; k < json_array_size(parts) && !rc; k++) {
                json_t *p = json_array_get(parts, k);
                const json_t *name = json_object_get(p, "name"), *text = json_object_get(p, "text");
                if (!json_is_string(name)) name = json_object_get(m, "name");
                if (!json_is_string(name) || !json_is_string(text)) {
                    mm_set_error("chat: messages[%zu] (tool): content[%zu] needs string \"name\" and \"text\"", i, k);
                    rc = -1;
                    break;
                }
                puts_(b, "tool name: ");
                put_jstr(b, name);
                puts_(b, "\ntool result: ");
                put_jstr(b, text);
                puts_(b, "\n\n");
            }
            puts_(b, EOS "\n");
        }
        json_decref(owned);
        if (rc) return -1;
    }
    if (add_gen) puts_(b, BOS "ai name=assistant\n");
    return 0;
}

char *mm_chat_render(int style, const json_t *messages, const json_t *tools, int add_generation_prompt) {
    mm_chat_prompt p;
    if (mm_chat_render_prompt(style, messages, tools, add_generation_prompt, &p) < 0) return NULL;
    free(p.plain);
    return p.text;
}

int mm_chat_render_prompt(int style, const json_t *messages, const json_t *tools, int add_generation_prompt, mm_chat_prompt *out) {
    memset(out, 0, sizeof *out);
    if (!json_is_array(messages)) {
        mm_set_error("chat: messages must be a JSON array");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(messages); i++)
        if (!json_is_object(json_array_get(messages, i))) {
            mm_set_error("chat: messages[%zu] is not an object", i);
            return -1;
        }
    sb b = {0};
    puts_(&b, "");
    int rc;
    if (style == MM_CHAT_TEXT01 || style == MM_CHAT_VL01)
        rc = render_text01(&b, messages, tools, add_generation_prompt, style == MM_CHAT_VL01);
    else if (style == MM_CHAT_M1) rc = render_m1(&b, messages, tools, add_generation_prompt);
    else {
        mm_set_error("chat: unknown template style %d", style);
        rc = -1;
    }
    if (rc) {
        free(b.p);
        free(b.plain);
        return -1;
    }
    *out = (mm_chat_prompt){.text = b.p, .len = b.n, .plain = b.plain, .n_plain = b.n_plain};
    return 0;
}

int mm_chat_style_for_model_type(const char *model_type) {
    if (model_type && !strcmp(model_type, "minimax_vl_01")) return MM_CHAT_VL01;
    return model_type && !strcmp(model_type, "minimax_m1") ? MM_CHAT_M1 : MM_CHAT_TEXT01;
}
