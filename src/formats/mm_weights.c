/* mm_weights.c — open a checkpoint (single file, or index + shards) as one name -> tensor table. */
#include "formats/mm_weights.h"
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "formats/mm_safetensors.h"

typedef struct {
    const mm_tensor *t;
    int shard;
} mm_wentry;

struct mm_weights {
    int n_shards;
    mm_st_file **shards;   /* [n_shards] */
    int n;
    mm_wentry *e;          /* [n] */
    int *slot;             /* [cap] open-addressing hash: index into e, or -1 */
    size_t cap;            /* power of two, >= 2n */
    /* mm_weights_from_tensors: a table over tensors another reader owns (e.g. a GGUF file) */
    mm_tensor *own;        /* [n] copies of the views */
    char *own_file;        /* the file they live in */
    void *owner;
    void (*owner_free)(void *);
};

/* FNV-1a: names are short ASCII, a simple hash is plenty. */
static uint64_t mm_w_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Index of name in w->e via the hash, or -1. */
static int mm_w_lookup(const mm_weights *w, const char *name) {
    if (!w->cap) return -1;
    size_t m = w->cap - 1;
    for (size_t h = (size_t)mm_w_hash(name) & m;; h = (h + 1) & m) {
        int k = w->slot[h];
        if (k < 0) return -1;
        if (!strcmp(w->e[k].t->name, name)) return k;
    }
}

void mm_weights_close(mm_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n_shards; i++) mm_st_close(w->shards[i]);
    free(w->shards);
    free(w->own);
    free(w->own_file);
    if (w->owner_free) w->owner_free(w->owner);
    free(w->e);
    free(w->slot);
    free(w);
}

/* Adds every tensor of w->shards[s] to the table; a name already present is an error. */
static int mm_w_add_shard(mm_weights *w, int s) {
    const mm_st_file *f = w->shards[s];
    size_t need = (size_t)w->n + (size_t)mm_st_count(f);
    w->e = mm_xrealloc(w->e, (need ? need : 1) * sizeof *w->e);
    if (need * 2 > w->cap) {
        size_t cap = 64;
        while (cap < need * 2) cap *= 2;
        free(w->slot);
        w->slot = mm_xmalloc(cap * sizeof *w->slot);
        for (size_t i = 0; i < cap; i++) w->slot[i] = -1;
        w->cap = cap;
        for (int k = 0; k < w->n; k++) {   /* rehash */
            size_t h = (size_t)mm_w_hash(w->e[k].t->name) & (cap - 1);
            while (w->slot[h] >= 0) h = (h + 1) & (cap - 1);
            w->slot[h] = k;
        }
    }
    for (int i = 0; i < mm_st_count(f); i++) {
        const mm_tensor *t = mm_st_at(f, i);
        size_t m = w->cap - 1, h = (size_t)mm_w_hash(t->name) & m;
        for (; w->slot[h] >= 0; h = (h + 1) & m) {
            const mm_wentry *o = &w->e[w->slot[h]];
            if (!strcmp(o->t->name, t->name)) {
                mm_set_error("tensor '%s' is stored twice: in %s and in %s", t->name, mm_st_path(w->shards[o->shard]),
                             mm_st_path(f));
                return -1;
            }
        }
        w->slot[h] = w->n;
        w->e[w->n].t = t;
        w->e[w->n].shard = s;
        w->n++;
    }
    return 0;
}

static int mm_w_add_file(mm_weights *w, const char *path) {
    mm_st_file *f = mm_st_open(path);
    if (!f) return -1;
    w->shards = mm_xrealloc(w->shards, sizeof *w->shards * (size_t)(w->n_shards + 1));
    w->shards[w->n_shards++] = f;
    return mm_w_add_shard(w, w->n_shards - 1);
}

static int mm_w_is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *mm_w_join(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = mm_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

/* A shard name from an index must stay inside the checkpoint directory. */
static int mm_w_shard_name_ok(const char *s) {
    return *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

static int mm_w_open_index(mm_weights *w, const char *index_path, const char *dir) {
    json_error_t jerr;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        mm_set_error("%s: line %d: %s", index_path, jerr.line, jerr.text);
        return -1;
    }
    int rc = -1;
    json_t *map = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(map)) {
        mm_set_error("%s: no \"weight_map\" object", index_path);
        goto out;
    }
    if (json_object_size(map) == 0) {
        mm_set_error("%s: \"weight_map\" is empty", index_path);
        goto out;
    }
    /* Shard files in order of first mention. */
    const char *name;
    json_t *v;
    int n_files = 0;
    const char **files = mm_xcalloc(json_object_size(map), sizeof *files);
    json_object_foreach(map, name, v) {
        if (!json_is_string(v)) {
            mm_set_error("%s: weight_map entry '%s' is not a file name string", index_path, name);
            free(files);
            goto out;
        }
        const char *s = json_string_value(v);
        if (!mm_w_shard_name_ok(s)) {
            mm_set_error("%s: tensor '%s' maps to shard '%s', which is not a plain file name in the checkpoint directory",
                         index_path, name, s);
            free(files);
            goto out;
        }
        int seen = 0;
        for (int k = 0; k < n_files && !seen; k++) seen = !strcmp(files[k], s);
        if (!seen) files[n_files++] = s;
    }
    for (int k = 0; k < n_files; k++) {
        char *p = mm_w_join(dir, files[k]);
        if (!mm_w_is_file(p)) {
            mm_set_error("%s: shard file %s is missing (listed in the index)", index_path, p);
            free(p);
            free(files);
            goto out;
        }
        int bad = mm_w_add_file(w, p);
        free(p);
        if (bad) {
            free(files);
            goto out;
        }
    }
    free(files);
    /* Every listed tensor must be in the shard the index names. */
    json_object_foreach(map, name, v) {
        int k = mm_w_lookup(w, name);
        const char *want = json_string_value(v);
        if (k < 0) {
            mm_set_error("%s: tensor '%s' is listed in the index but missing from its shard %s", index_path, name, want);
            goto out;
        }
        const char *have = mm_st_path(w->shards[w->e[k].shard]);
        size_t lh = strlen(have), lw = strlen(want);
        if (lh < lw + 1 || strcmp(have + lh - lw, want) || have[lh - lw - 1] != '/') {
            mm_set_error("%s: tensor '%s' is listed in shard %s but stored in %s", index_path, name, want, have);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

mm_weights *mm_weights_open(const char *path) {
    mm_weights *w = mm_xcalloc(1, sizeof *w);
    struct stat st;
    if (stat(path, &st) != 0) {
        mm_set_error("%s: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        char *idx = mm_w_join(path, "model.safetensors.index.json");
        char *single = mm_w_join(path, "model.safetensors");
        int rc;
        if (mm_w_is_file(idx))
            rc = mm_w_open_index(w, idx, path);
        else if (mm_w_is_file(single))
            rc = mm_w_add_file(w, single);
        else {
            mm_set_error("%s: no model.safetensors or model.safetensors.index.json in this directory", path);
            rc = -1;
        }
        free(idx);
        free(single);
        if (rc) goto fail;
    } else {
        size_t n = strlen(path);
        if (n >= 11 && !strcmp(path + n - 11, ".index.json")) {
            char *dir = mm_xstrdup(path);
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = 0;
            else
                strcpy(dir, ".");
            int rc = mm_w_open_index(w, path, dir);
            free(dir);
            if (rc) goto fail;
        } else if (mm_w_add_file(w, path)) {
            goto fail;
        }
    }
    return w;
fail:
    mm_weights_close(w);
    return NULL;
}

const mm_tensor *mm_weights_find(const mm_weights *w, const char *name) {
    int k = mm_w_lookup(w, name);
    return k < 0 ? NULL : w->e[k].t;
}
const char *mm_weights_file_of(const mm_weights *w, const char *name) {
    int k = mm_w_lookup(w, name);
    if (k >= 0 && w->own) return w->own_file;
    return k < 0 ? NULL : mm_st_path(w->shards[w->e[k].shard]);
}
int mm_weights_count(const mm_weights *w) { return w->n; }
const mm_tensor *mm_weights_at(const mm_weights *w, int i) { return i >= 0 && i < w->n ? w->e[i].t : NULL; }
int mm_weights_n_files(const mm_weights *w) { return w->own ? 1 : w->n_shards; }
const char *mm_weights_file(const mm_weights *w, int i) {
    if (w->own) return i == 0 ? w->own_file : NULL;
    return i >= 0 && i < w->n_shards ? mm_st_path(w->shards[i]) : NULL;
}

mm_weights *mm_weights_from_tensors(int n, const mm_tensor *t, const char *file, void *owner, void (*owner_free)(void *)) {
    mm_weights *w = mm_xcalloc(1, sizeof *w);
    w->own = mm_xmalloc(sizeof(mm_tensor) * (size_t)(n > 0 ? n : 1));
    if (n > 0) memcpy(w->own, t, sizeof(mm_tensor) * (size_t)n);
    w->own_file = mm_xstrdup(file ? file : "(memory)");
    w->owner = owner;
    w->owner_free = owner_free;
    size_t cap = 64;
    while (cap < (size_t)n * 2) cap *= 2;
    w->cap = cap;
    w->slot = mm_xmalloc(cap * sizeof *w->slot);
    for (size_t i = 0; i < cap; i++) w->slot[i] = -1;
    w->e = mm_xcalloc((size_t)(n > 0 ? n : 1), sizeof *w->e);
    for (int i = 0; i < n; i++) {
        const mm_tensor *x = &w->own[i];
        if (mm_w_lookup(w, x->name) >= 0) {
            mm_set_error("%s: tensor '%s' is stored twice", w->own_file, x->name);
            mm_weights_close(w);
            return NULL;
        }
        size_t h = (size_t)mm_w_hash(x->name) & (cap - 1);
        while (w->slot[h] >= 0) h = (h + 1) & (cap - 1);
        w->slot[h] = w->n;
        w->e[w->n].t = x;
        w->e[w->n].shard = 0;
        w->n++;
    }
    return w;
}

int mm_weights_check(const mm_weights *w, const char *name, const mm_tensor *t, int ndim, const int64_t *dims) {
    if (!t) {
        mm_set_error("tensor \"%s\" is missing from the checkpoint", name);
        return -1;
    }
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == dims[i];
    if (!ok) {
        char got[96] = "", exp[96] = "";
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        for (int i = 0; i < ndim; i++)
            snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", i ? ", " : "", (long long)dims[i]);
        mm_set_error("tensor \"%s\" in %s has shape [%s], expected [%s] from config.json", name, mm_weights_file_of(w, name),
                     got, exp);
        return -1;
    }
    if (mm_row_bytes(t->dtype, t->shape[t->ndim - 1]) == 0) {
        mm_set_error("tensor \"%s\" in %s: %s rows of %lld elements are not whole blocks", name, mm_weights_file_of(w, name),
                     mm_dtype_name(t->dtype), (long long)t->shape[t->ndim - 1]);
        return -1;
    }
    return 0;
}

const mm_tensor *mm_weights_expect(const mm_weights *w, const char *name, int ndim, const int64_t *dims) {
    const mm_tensor *t = mm_weights_find(w, name);
    return mm_weights_check(w, name, t, ndim, dims) < 0 ? NULL : t;
}

float *mm_weights_f32(const mm_weights *w, const char *name, int64_t n) {
    const mm_tensor *t = mm_weights_find(w, name);
    if (!t) {
        mm_set_error("tensor \"%s\" is missing from the checkpoint", name);
        return NULL;
    }
    if (mm_tensor_nelem(t) != n) {
        mm_set_error("tensor \"%s\" in %s has %lld elements, expected %lld from config.json", name, mm_weights_file_of(w, name),
                     (long long)mm_tensor_nelem(t), (long long)n);
        return NULL;
    }
    if (t->dtype != MM_F32 && t->dtype != MM_F16 && t->dtype != MM_BF16) {
        mm_set_error("tensor \"%s\": must be F32, F16 or BF16 (it is read element by element), not %s", name, mm_dtype_name(t->dtype));
        return NULL;
    }
    float *out = mm_xmalloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) out[i] = mm_tensor_get_f32(t, i);
    return out;
}
