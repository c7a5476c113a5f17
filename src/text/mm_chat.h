/* mm_chat.h — chat prompts for MiniMax models, rendered in C (no template engine).
 *
 * MM_CHAT_TEXT01 reproduces MiniMax-Text-01's tokenizer_config.json chat_template; MM_CHAT_M1 reproduces
 * MiniMax-M1's; MM_CHAT_VL01 MiniMax-VL-01's. messages is a JSON array of {role, content[, name]} where content is
 * a list of parts ({type: "text", text} / {type: "image", ...}) or a plain string (taken as one text part). Where the
 * reference templates fail (see mm_chat.c) we either render the evident intent or return an error. */
#ifndef MM_CHAT_H
#define MM_CHAT_H
#include <jansson.h>

enum { MM_CHAT_TEXT01, MM_CHAT_M1, MM_CHAT_VL01 };

/* malloc'd prompt, or NULL + mm_set_error() on bad input. tools may be NULL. */
char *mm_chat_render(int style, const json_t *messages, const json_t *tools, int add_generation_prompt);

/* A rendered prompt and which of its bytes came from the request: message texts, names and tool
 * definitions, byte ranges plain[0..n_plain) (sorted, disjoint). Tokenize with those ranges as
 * mm_tok_opts.plain and special-token strings a user wrote stay text, while the template's own markers
 * are special tokens (OpenAI semantics: content is text). text may hold NUL bytes (len counts them). */
typedef struct {
    char *text;               /* malloc'd, NUL-terminated */
    size_t len;
    size_t (*plain)[2];       /* malloc'd (NULL if none) */
    int n_plain;
} mm_chat_prompt;
/* 0, or -1 + mm_set_error(). An assistant message whose content is a string may carry "_mm_template":
 * [[a, b], ...]: byte ranges of that string that are template markup (the server renders history tool
 * calls so, their markers being special tokens); every other byte of every message is text. */
int mm_chat_render_prompt(int style, const json_t *messages, const json_t *tools, int add_generation_prompt, mm_chat_prompt *out);
/* config.json's model_type → style: "minimax_m1" → MM_CHAT_M1, "minimax_vl_01" → MM_CHAT_VL01 (Text-01's template
 * with image parts rendered as "<image>"), anything else → MM_CHAT_TEXT01. */
int mm_chat_style_for_model_type(const char *model_type);
/* Python json.dumps(v, ensure_ascii=False) (", " and ": " separators, key order kept): what the templates'
 * `tojson` filter gives. malloc'd. */
char *mm_chat_tojson(const json_t *v);

#endif
