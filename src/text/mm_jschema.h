/* mm_jschema.h — JSON Schema → GBNF (mm_grammar.h), for structured output.
 *
 * The subset compiled: `type` (a name or a list of them: string, integer, number, boolean, null, object, array),
 * `properties` (generated in their declared order), `required`, `additionalProperties` (false, true or absent:
 * no other keys are generated; a schema, when there are no `properties`: a map), `items`, `minItems`,
 * `maxItems`, `minLength`, `maxLength`, `enum`, `const`, `anyOf`, local `$ref` (#/$defs/..., #/definitions/...,
 * recursion allowed), and the annotations (title, description, default, examples, $schema, $id, $comment, ...).
 * Every other keyword is refused with its place (a JSON pointer), never ignored. What the grammar generates
 * always validates against the schema: where JSON Schema allows more than is generated (absent `type`,
 * absent `additionalProperties`), the grammar produces the narrower form. Numbers are JSON numbers with at
 * most 16 integer and 16 fraction digits and a two-digit exponent; \u escapes in strings are never lone
 * surrogates; whitespace between tokens is at most a newline and 20 blanks. */
#ifndef MM_JSCHEMA_H
#define MM_JSCHEMA_H
#include <jansson.h>

/* GBNF text (malloc'd) whose root is the schema, or NULL + mm_set_error("json_schema: at #/...: why"). */
char *mm_json_schema_to_gbnf(const json_t *schema);
/* GBNF of any JSON object (OpenAI's response_format {"type": "json_object"}; malloc'd). */
char *mm_json_object_gbnf(void);
#endif
