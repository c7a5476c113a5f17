/* mm_imatrix.c — llama.cpp's importance-matrix files, GGUF and legacy (layouts in mm_imatrix.h). */
#include "formats/mm_imatrix.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "formats/mm_gguf.h"

mm_imatrix *mm_imatrix_new(void) { return calloc(1, sizeof(mm_imatrix)); }

void mm_imatrix_free(mm_imatrix *im) {
    if (!im) return;
    for (int i = 0; i < im->n; i++) free(im->e[i].name), free(im->e[i].sums), free(im->e[i].counts);
    free(im->e);
    free(im->dataset);
    free(im);
}

const mm_imatrix_entry *mm_imatrix_find(const mm_imatrix *im, const char *name) {
    for (int i = 0; im && i < im->n; i++)
        if (!strcmp(im->e[i].name, name)) return &im->e[i];
    return NULL;
}

mm_imatrix_entry *mm_imatrix_get(mm_imatrix *im, const char *name, int64_t ne0, int n_mat) {
    mm_imatrix_entry *en = (mm_imatrix_entry *)mm_imatrix_find(im, name);
    if (en) return en->ne0 == ne0 && en->n_mat == n_mat ? en : NULL;
    if (im->n == im->cap) {
        im->cap = im->cap ? 2 * im->cap : 64;
        im->e = mm_xrealloc(im->e, sizeof *im->e * (size_t)im->cap);
    }
    en = &im->e[im->n++];
    en->name = mm_xstrdup(name);
    en->ne0 = ne0;
    en->n_mat = n_mat;
    en->sums = mm_xmalloc((size_t)(ne0 * n_mat) * sizeof(double));
    en->counts = mm_xmalloc((size_t)n_mat * sizeof(double));
    memset(en->sums, 0, (size_t)(ne0 * n_mat) * sizeof(double));
    memset(en->counts, 0, (size_t)n_mat * sizeof(double));
    return en;
}

void mm_imatrix_columns(const mm_imatrix_entry *en, int e, float *out) {
    const double c = en->counts[e];
    for (int64_t k = 0; k < en->ne0; k++) out[k] = c > 0 ? (float)(en->sums[(size_t)e * en->ne0 + k] / c) : 1.0f;
}

int mm_imatrix_matrix(const mm_imatrix_entry *en, int64_t cols, int n_mats, int e, float *out) {
    if (en->ne0 == cols && en->n_mat == n_mats) {
        mm_imatrix_columns(en, e, out);
        return 0;
    }
    if (en->n_mat != 1 || en->ne0 != cols * n_mats) return -1;
    const double c = en->counts[0];
    for (int64_t k = 0; k < cols; k++) out[k] = c > 0 ? (float)(en->sums[(size_t)e * cols + k] / c) : 1.0f;
    return 0;
}

/* ---------------------------------------------------------------- legacy */
static int rd(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n ? 0 : -1; }

static mm_imatrix *load_legacy(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        mm_set_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    mm_imatrix *im = mm_imatrix_new();
    int32_t n = 0;
    if (rd(f, &n, 4) || n < 1 || n > (1 << 20)) {
        mm_set_error("%s: not an importance matrix (legacy .dat: entry count %d; a GGUF one starts with \"GGUF\")", path, n);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        int32_t len = 0, ncall = 0, nval = 0;
        char name[512];
        if (rd(f, &len, 4) || len < 1 || len >= (int32_t)sizeof name || rd(f, name, (size_t)len)) {
            mm_set_error("%s: entry %d: bad or truncated name (length %d)", path, i, len);
            goto fail;
        }
        name[len] = 0;
        if (rd(f, &ncall, 4) || rd(f, &nval, 4) || nval < 1 || (long)nval * 4 > size || ncall < 0) {
            mm_set_error("%s: entry \"%s\": bad or truncated sizes (ncall %d, nval %d)", path, name, ncall, nval);
            goto fail;
        }
        float *v = mm_xmalloc((size_t)nval * 4);
        if (rd(f, v, (size_t)nval * 4)) {
            free(v);
            mm_set_error("%s: entry \"%s\": truncated values (%d expected)", path, name, nval);
            goto fail;
        }
        mm_imatrix_entry *en = mm_imatrix_get(im, name, nval, 1);
        if (!en) {
            free(v);
            mm_set_error("%s: entry \"%s\" appears twice", path, name);
            goto fail;
        }
        for (int k = 0; k < nval; k++) en->sums[k] = v[k];
        en->counts[0] = ncall;
        free(v);
    }
    int32_t chunks = 0, len = 0;
    if (!rd(f, &chunks, 4)) {
        im->chunk_count = chunks > 0 ? (uint32_t)chunks : 0;
        if (!rd(f, &len, 4) && len > 0 && len < 4096) {
            char *ds = mm_xmalloc((size_t)len + 1);
            if (!rd(f, ds, (size_t)len)) ds[len] = 0, im->dataset = ds;
            else free(ds);
        }
    }
    fclose(f);
    return im;
fail:
    fclose(f);
    mm_imatrix_free(im);
    return NULL;
}

static int save_legacy(const mm_imatrix *im, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        mm_set_error("%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    int32_t n = 0;
    for (int i = 0; i < im->n; i++) n += im->e[i].n_mat > 0;
    int ok = fwrite(&n, 4, 1, f) == 1;
    const double cs = im->chunk_size ? im->chunk_size : 1;
    for (int i = 0; i < im->n && ok; i++) {
        const mm_imatrix_entry *en = &im->e[i];
        int32_t len = (int32_t)strlen(en->name), nval = (int32_t)(en->ne0 * en->n_mat);
        double maxc = 0;
        for (int e = 0; e < en->n_mat; e++) maxc = en->counts[e] > maxc ? en->counts[e] : maxc;
        int32_t ncall = (int32_t)((maxc + cs - 1) / cs); /* chunks, rounded up (llama.cpp's convention) */
        if (ncall < 1) ncall = 1;
        ok &= fwrite(&len, 4, 1, f) == 1 && fwrite(en->name, 1, (size_t)len, f) == (size_t)len && fwrite(&ncall, 4, 1, f) == 1 &&
              fwrite(&nval, 4, 1, f) == 1;
        float *tmp = mm_xmalloc((size_t)en->ne0 * 4);
        for (int e = 0; e < en->n_mat && ok; e++) {
            mm_imatrix_columns(en, e, tmp);
            for (int64_t k = 0; k < en->ne0; k++) tmp[k] *= (float)ncall;
            ok &= fwrite(tmp, 4, (size_t)en->ne0, f) == (size_t)en->ne0;
        }
        free(tmp);
    }
    int32_t chunks = (int32_t)im->chunk_count, dl = im->dataset ? (int32_t)strlen(im->dataset) : 0;
    ok &= fwrite(&chunks, 4, 1, f) == 1 && fwrite(&dl, 4, 1, f) == 1 && (!dl || fwrite(im->dataset, 1, (size_t)dl, f) == (size_t)dl);
    ok &= fclose(f) == 0;
    if (!ok) mm_set_error("%s: write failed: %s", path, strerror(errno));
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- GGUF */
static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static mm_imatrix *load_gguf(const char *path) {
    mm_gguf *g = mm_gguf_open(path);
    if (!g) return NULL;
    mm_imatrix *im = mm_imatrix_new();
    uint32_t u;
    if (mm_gguf_get_u32(g, "imatrix.chunk_count", &u) == 1) im->chunk_count = u;
    if (mm_gguf_get_u32(g, "imatrix.chunk_size", &u) == 1) im->chunk_size = u;
    size_t dl = 0;
    const char *ds = mm_gguf_arr_str(g, "imatrix.datasets", 0, &dl);
    if (ds) {
        im->dataset = mm_xmalloc(dl + 1);
        memcpy(im->dataset, ds, dl);
        im->dataset[dl] = 0;
    }
    for (int i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_tensor *t = mm_gguf_tensor(g, i);
        if (!ends_with(t->name, ".in_sum2")) continue;
        char name[256], cn[300];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(t->name) - 8), t->name);
        snprintf(cn, sizeof cn, "%s.counts", name);
        const mm_tensor *c = mm_gguf_find_tensor(g, cn);
        const int64_t ne0 = t->shape[t->ndim - 1], nmat = t->ndim == 2 ? t->shape[0] : 1;
        if (!c || t->dtype != MM_F32 || c->dtype != MM_F32 || t->ndim > 2 || mm_tensor_nelem(c) != nmat || nmat > (1 << 16)) {
            mm_set_error("%s: \"%s\": needs an F32 [n_mat, K] in_sum2 and an F32 counts of n_mat values (%s)", path, name,
                         c ? "shapes or types differ" : "no counts tensor");
            goto fail;
        }
        mm_imatrix_entry *en = mm_imatrix_get(im, name, ne0, (int)nmat);
        if (!en) {
            mm_set_error("%s: \"%s\" appears twice", path, name);
            goto fail;
        }
        const float *s = t->data, *cv = c->data;
        for (int64_t k = 0; k < ne0 * nmat; k++) en->sums[k] = s[k];
        for (int64_t e = 0; e < nmat; e++) en->counts[e] = cv[e] > 0 ? cv[e] : 0;
    }
    for (int i = 0; i < mm_gguf_n_tensors(g); i++) { /* a counts tensor without its sums is a broken file */
        const char *tn = mm_gguf_tensor(g, i)->name;
        if (ends_with(tn, ".counts")) {
            char nm[256];
            snprintf(nm, sizeof nm, "%.*s", (int)(strlen(tn) - 7), tn);
            if (!mm_imatrix_find(im, nm)) {
                mm_set_error("%s: \"%s\" has counts but no in_sum2", path, nm);
                goto fail;
            }
        }
    }
    if (im->n == 0) {
        mm_set_error("%s: a GGUF without importance-matrix tensors (*.in_sum2 / *.counts)", path);
        goto fail;
    }
    mm_gguf_close(g);
    return im;
fail:
    mm_gguf_close(g);
    mm_imatrix_free(im);
    return NULL;
}

static int save_gguf(const mm_imatrix *im, const char *path) {
    mm_gguf_writer *w = mm_gguf_writer_new(path);
    const char *ds[1] = {im->dataset ? im->dataset : ""};
    int rc = mm_gguf_w_str(w, "general.type", "imatrix") || mm_gguf_w_arr_str(w, "imatrix.datasets", im->dataset ? 1 : 0, ds) ||
             mm_gguf_w_u32(w, "imatrix.chunk_count", im->chunk_count) || mm_gguf_w_u32(w, "imatrix.chunk_size", im->chunk_size);
    char nm[300];
    for (int i = 0; i < im->n && !rc; i++) {
        const mm_imatrix_entry *en = &im->e[i];
        snprintf(nm, sizeof nm, "%s.in_sum2", en->name);
        rc |= mm_gguf_writer_add(w, nm, MM_F32, 2, (int64_t[]){en->n_mat, en->ne0});
        snprintf(nm, sizeof nm, "%s.counts", en->name);
        rc |= mm_gguf_writer_add(w, nm, MM_F32, 2, (int64_t[]){en->n_mat, 1});
    }
    if (!rc) rc = mm_gguf_writer_begin(w);
    for (int i = 0; i < im->n && !rc; i++) {
        const mm_imatrix_entry *en = &im->e[i];
        float *tmp = mm_xmalloc((size_t)(en->ne0 * en->n_mat) * 4 + 4);
        for (int64_t k = 0; k < en->ne0 * en->n_mat; k++) tmp[k] = (float)en->sums[k];
        rc |= mm_gguf_writer_write(w, tmp, (size_t)(en->ne0 * en->n_mat) * 4);
        for (int e = 0; e < en->n_mat; e++) tmp[e] = (float)en->counts[e];
        rc |= mm_gguf_writer_write(w, tmp, (size_t)en->n_mat * 4);
        free(tmp);
    }
    if (!rc) rc = mm_gguf_writer_finish(w);
    mm_gguf_writer_free(w);
    return rc ? -1 : 0;
}

mm_imatrix *mm_imatrix_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        mm_set_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    mm_imatrix *im = got == 4 && !memcmp(magic, "GGUF", 4) ? load_gguf(path) : load_legacy(path);
    if (!im) mm_error_prefix("importance matrix");
    return im;
}

int mm_imatrix_save(const mm_imatrix *im, const char *path, int legacy) {
    return legacy ? save_legacy(im, path) : save_gguf(im, path);
}
