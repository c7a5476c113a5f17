/* mm_json.c — typed readers of JSON fields and whole-file reading for the config files (see mm_json.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mm_common.h"
#include "formats/mm_json.h"

int mm_json_int(json_t *o, const char *key, const char *path, long lo, long hi, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    double d;
    if (json_is_integer(v)) {
        d = (double)json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v))) {
        d = json_real_value(v);
    } else {
        mm_set_error("%s: \"%s\" must be an integer", path, key);
        return -1;
    }
    if (d < (double)lo || d > (double)hi) {
        mm_set_error("%s: \"%s\" = %.0f is out of range [%ld, %ld]", path, key, d, lo, hi);
        return -1;
    }
    *out = (int)d;
    return 1;
}

int mm_json_num(json_t *o, const char *key, const char *path, double *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) {
        mm_set_error("%s: \"%s\" must be a number", path, key);
        return -1;
    }
    double d = json_number_value(v);
    if (!isfinite(d)) {
        mm_set_error("%s: \"%s\" must be finite", path, key);
        return -1;
    }
    *out = d;
    return 1;
}

int mm_json_bool(json_t *o, const char *key, const char *path, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        mm_set_error("%s: \"%s\" must be true or false", path, key);
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

int mm_json_str(json_t *o, const char *key, const char *path, const char **out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        mm_set_error("%s: \"%s\" must be a string", path, key);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

char *mm_json_read_file(const char *path, const char *what) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        mm_set_error("%s: cannot open %s: %s", path, what, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n > (64L << 20)) {
        fclose(f);
        mm_set_error("%s: %s file is not readable or larger than 64 MiB", path, what);
        return NULL;
    }
    char *text = mm_xmalloc((size_t)n + 1);
    size_t got = fread(text, 1, (size_t)n, f);
    fclose(f);
    text[got] = 0;
    if (strlen(text) != got) {
        free(text);
        mm_set_error("%s: %s file contains a NUL byte", path, what);
        return NULL;
    }
    return text;
}
