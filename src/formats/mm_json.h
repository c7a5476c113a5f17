/* mm_json.h — typed readers of JSON object fields for the config files (config.json, preprocessor_config.json):
 * each returns 0 when the key is absent or null (out untouched), 1 when read, -1 with an error naming path and key
 * when the value has the wrong type or is out of range. */
#ifndef MM_JSON_H
#define MM_JSON_H
#include <jansson.h>

int mm_json_int(json_t *o, const char *key, const char *path, long lo, long hi, int *out);  /* integral numbers */
int mm_json_num(json_t *o, const char *key, const char *path, double *out);                /* finite numbers */
int mm_json_bool(json_t *o, const char *key, const char *path, int *out);
int mm_json_str(json_t *o, const char *key, const char *path, const char **out);           /* owned by o */
/* A whole file (at most 64 MiB, no NUL byte) as a malloc'd string; what names it in errors ("config"). */
char *mm_json_read_file(const char *path, const char *what);
#endif
