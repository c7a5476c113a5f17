/* mm_test_json.h — reading the reference data the golden manifests describe (jansson): a raw float32 file named
 * by a {"file", "shape"} entry, and a JSON array of token ids. */
#ifndef MM_TEST_JSON_H
#define MM_TEST_JSON_H
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* dir/desc.file as float32 of prod(desc.shape) values (malloc'd, count in *n_out), or NULL if absent or short. */
static inline float *mmt_read_bin(const char *dir, json_t *desc, size_t *n_out) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, json_string_value(json_object_get(desc, "file")));
    size_t n = 1;
    json_t *shape = json_object_get(desc, "shape");
    for (size_t i = 0; i < json_array_size(shape); i++) n *= (size_t)json_integer_value(json_array_get(shape, i));
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *d = malloc(n * sizeof(float));
    size_t got = fread(d, sizeof(float), n, f);
    fclose(f);
    if (got != n) {
        free(d);
        return NULL;
    }
    *n_out = n;
    return d;
}

/* A JSON array of integers as int32 ids (malloc'd, count in *n). */
static inline int32_t *mmt_ids(json_t *arr, int *n) {
    *n = (int)json_array_size(arr);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, (size_t)i));
    return ids;
}
#endif
