// Index folders: features.npy + names.txt + index.json (see seize/index.h).
#include "seize/index.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// --- gallery names

// Length of the well-formed UTF-8 character at s (n bytes left), 0 if none starts there;
// *cp gets its code point.
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xE0) == 0xC0 ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (!len || len > n || !seize_utf8_valid((const char *)s, len)) return 0;
    uint32_t c = len == 1 ? s[0] : len == 2 ? s[0] & 0x1Fu : len == 3 ? s[0] & 0x0Fu : s[0] & 0x07u;
    for (size_t i = 1; i < len; i++)
        c = (c << 6) | (s[i] & 0x3Fu);
    *cp = c;
    return len;
}

static int is_control(uint32_t c)
{
    return c < 0x20 || (c >= 0x7F && c <= 0x9F);
}

const char *seize_index_name_problem(const char *name, size_t len)
{
    if (!name || !len) return "is empty";
    if (!seize_utf8_valid(name, len)) return "is not valid UTF-8";
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < len;) {
        uint32_t c = 0;
        size_t l = utf8_char(s + i, len - i, &c);
        if (!l) return "is not valid UTF-8";
        if (is_control(c)) return "contains a control character (line break, tab, ...)";
        i += l;
    }
    return NULL;
}

char *seize_index_name_escape(const char *name, size_t len)
{
    size_t cap;
    if (seize_mul_size(len, 4, &cap) < 0) return NULL;
    char *o = seize_malloc(cap + 1, 1);
    if (!o) return NULL;
    const unsigned char *s = (const unsigned char *)name;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c = 0;
        size_t l = utf8_char(s + i, len - i, &c);
        if (l && !is_control(c)) {
            memcpy(o + k, s + i, l);
            k += l;
            i += l;
        } else {
            // an invalid byte, or each byte of a control character
            size_t m = l ? l : 1;
            for (size_t j = 0; j < m; j++, k += 4)
                snprintf(o + k, 5, "\\x%02x", s[i + j]);
            i += m;
        }
    }
    o[k] = 0;
    return o;
}

// Reads names.txt-style files: one name per line (\n, or \r\n), each checked with
// seize_index_name_problem; errors name the file and the line.
static int read_names(const char *path, char ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    char *buf;
    size_t len;
    int rc = seize_read_file(path, &buf, &len);
    if (rc < 0) return rc;
    size_t n = 0, cap = 0;
    char **v = NULL;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && buf[j] != '\n')
            j++;
        size_t e = j;
        if (e > i && buf[e - 1] == '\r') e--;
        const char *why = seize_index_name_problem(buf + i, e - i);
        if (why) {
            char *shown = seize_index_name_escape(buf + i, e - i);
            rc =
                seize_error(SEIZE_EFORMAT,
                            "'%s' line %zu: gallery name '%s' %s (names must be UTF-8 text without "
                            "control characters: rename the image and rebuild the index)",
                            path, n + 1, shown ? shown : "?", why);
            free(shown);
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = seize_realloc(v, cap, sizeof *v);
            if (!nv) goto oom;
            v = nv;
        }
        if (!(v[n] = seize_malloc(e - i + 1, 1))) goto oom;
        memcpy(v[n], buf + i, e - i);
        v[n][e - i] = 0;
        n++;
        i = j + 1;
    }
    free(buf);
    *out = v;
    *n_out = n;
    return 0;
oom:
    rc = seize_error(SEIZE_ENOMEM, "out of memory reading '%s'", path);
fail:
    seize_lines_free(v, n);
    free(buf);
    return rc;
}

struct seize_index {
    seize_npy *feats;
    char **names;
    size_t n_names;
    seize_strmap map;
    json_t *json;
    char *dir;
};

void seize_index_free(seize_index *idx)
{
    if (!idx) return;
    seize_npy_free(idx->feats);
    seize_lines_free(idx->names, idx->n_names);
    seize_strmap_free(&idx->map);
    json_decref(idx->json);
    free(idx->dir);
    free(idx);
}

size_t seize_index_count(const seize_index *idx)
{
    return idx->n_names;
}
size_t seize_index_dim(const seize_index *idx)
{
    return idx->feats->shape[1];
}
seize_dtype seize_index_dtype(const seize_index *idx)
{
    return idx->feats->dtype;
}
const char *seize_index_name(const seize_index *idx, size_t i)
{
    return idx->names[i];
}
const json_t *seize_index_json(const seize_index *idx)
{
    return idx->json;
}

seize_gallery seize_index_gallery(const seize_index *idx)
{
    seize_gallery g = {idx->feats->data, idx->feats->dtype, idx->n_names, idx->feats->shape[1]};
    return g;
}

int seize_index_find(const seize_index *idx, const char *name, size_t *row)
{
    if (seize_strmap_get(&idx->map, name, row)) return 0;
    return seize_error(SEIZE_ENOTFOUND, "'%s' is not in the gallery of index '%s'", name, idx->dir);
}

int seize_index_open(const char *dir, seize_index **out)
{
    *out = NULL;
    seize_index *idx = seize_calloc(1, sizeof *idx);
    char *fp = seize_path_join(dir, "features.npy");
    char *np = seize_path_join(dir, "names.txt");
    char *jp = seize_path_join(dir, "index.json");
    int rc = SEIZE_ENOMEM;
    if (!idx || !fp || !np || !jp || !(idx->dir = seize_strdup(dir))) goto fail;
    if ((rc = seize_json_load(jp, &idx->json)) < 0) goto fail;
    if (!json_is_object(idx->json)) {
        rc = seize_error(SEIZE_EFORMAT, "'%s': not a JSON object", jp);
        goto fail;
    }
    if ((rc = seize_npy_load(fp, &idx->feats)) < 0) goto fail;
    if (idx->feats->ndim != 2 || idx->feats->dtype == SEIZE_I32) {
        rc = seize_error(SEIZE_EFORMAT, "'%s': expected a 2-D float32 or float16 array", fp);
        goto fail;
    }
    if ((rc = read_names(np, &idx->names, &idx->n_names)) < 0) goto fail;
    if (idx->n_names != idx->feats->shape[0]) {
        rc = seize_error(SEIZE_ESHAPE,
                         "index '%s': names.txt has %zu names but features.npy has %zu rows", dir,
                         idx->n_names, idx->feats->shape[0]);
        goto fail;
    }
    json_t *c = json_object_get(idx->json, "count"), *d = json_object_get(idx->json, "dim");
    if ((c && (!json_is_integer(c) || (size_t)json_integer_value(c) != idx->n_names)) ||
        (d && (!json_is_integer(d) || (size_t)json_integer_value(d) != idx->feats->shape[1]))) {
        rc = seize_error(SEIZE_ESHAPE,
                         "index '%s': index.json count/dim disagree with features.npy", dir);
        goto fail;
    }
    if ((rc = seize_strmap_init(&idx->map, idx->n_names)) < 0) goto fail;
    for (size_t i = 0; i < idx->n_names; i++) {
        size_t old;
        int r = seize_strmap_put(&idx->map, idx->names[i], i, &old);
        if (r < 0) {
            rc = r;
            goto fail;
        }
        if (r == 1) {
            rc = seize_error(SEIZE_EFORMAT, "'%s': name '%s' appears on lines %zu and %zu", np,
                             idx->names[i], old + 1, i + 1);
            goto fail;
        }
    }
    free(fp);
    free(np);
    free(jp);
    *out = idx;
    return 0;
fail:
    free(fp);
    free(np);
    free(jp);
    seize_index_free(idx);
    return rc;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

int seize_index_write(const char *dir, const float *feats, size_t n, size_t dim,
                      const char *const *names, seize_dtype dtype, const seize_index_meta *meta)
{
    if (dtype != SEIZE_F32 && dtype != SEIZE_F16)
        return seize_error(SEIZE_EINVAL, "index dtype must be f32 or f16");
    if (!dim) return seize_error(SEIZE_EINVAL, "index dimension must be positive");
    seize_strmap seen;
    int rc = seize_strmap_init(&seen, n);
    if (rc < 0) return rc;
    for (size_t i = 0; i < n; i++) {
        const char *s = names[i];
        size_t old;
        const char *why = seize_index_name_problem(s, s ? strlen(s) : 0);
        if (why) {
            char *shown = s ? seize_index_name_escape(s, strlen(s)) : NULL;
            seize_strmap_free(&seen);
            rc = seize_error(SEIZE_EFORMAT, "row %zu: gallery name '%s' %s", i, shown ? shown : "",
                             why);
            free(shown);
            return rc;
        }
        if (seize_strmap_put(&seen, s, i, &old) == 1) {
            seize_strmap_free(&seen);
            return seize_error(SEIZE_EFORMAT, "gallery name '%s' appears in rows %zu and %zu", s,
                               old, i);
        }
        for (size_t j = 0; j < dim; j++)
            if (!isfinite(feats[i * dim + j])) {
                seize_strmap_free(&seen);
                return seize_error(SEIZE_EFORMAT, "row %zu ('%s'): non-finite feature value", i, s);
            }
    }
    seize_strmap_free(&seen);
    if ((rc = seize_mkdirs(dir)) < 0) return rc;
    char *fp = seize_path_join(dir, "features.npy");
    char *np = seize_path_join(dir, "names.txt");
    char *jp = seize_path_join(dir, "index.json");
    float *row = seize_malloc(dim, sizeof *row);
    uint16_t *half = seize_malloc(dim, sizeof *half);
    seize_npy_writer *w = NULL;
    seize_atomic at = {0};
    json_t *j = NULL;
    char *text = NULL;
    rc = SEIZE_ENOMEM;
    if (!fp || !np || !jp || !row || !half) goto done;
    // features, row by row
    if ((rc = seize_npy_writer_open(fp, dtype, n, dim, &w)) < 0) goto done;
    for (size_t i = 0; i < n; i++) {
        memcpy(row, feats + i * dim, dim * sizeof *row);
        seize_normalize_rows(row, 1, dim);
        if (dtype == SEIZE_F16) {
            for (size_t k = 0; k < dim; k++)
                half[k] = seize_f32_to_f16(row[k]);
            rc = seize_npy_writer_rows(w, half, 1);
        } else {
            rc = seize_npy_writer_rows(w, row, 1);
        }
        if (rc < 0) goto done;
    }
    rc = seize_npy_writer_close(w);
    w = NULL;
    if (rc < 0) goto done;
    // names
    if ((rc = seize_atomic_open(np, &at)) < 0) goto done;
    for (size_t i = 0; i < n; i++)
        fprintf(at.fp, "%s\n", names[i]);
    if ((rc = seize_atomic_commit(&at)) < 0) goto done;
    // metadata
    j = json_object();
    json_t *failed = json_array();
    json_object_set_new(j, "format", json_string("seize-index"));
    json_object_set_new(j, "version", json_integer(1));
    json_object_set_new(j, "count", json_integer((json_int_t)n));
    json_object_set_new(j, "dim", json_integer((json_int_t)dim));
    json_object_set_new(j, "dtype", json_string(dtype == SEIZE_F16 ? "f16" : "f32"));
    json_object_set_new(j, "normalized", json_true());
    if (meta && (meta->model_path || meta->model_sha256)) {
        json_t *m = json_object();
        json_object_set_new(m, "path", str_or_null(meta->model_path));
        json_object_set_new(m, "sha256", str_or_null(meta->model_sha256));
        json_object_set_new(j, "model", m);
    } else {
        json_object_set_new(j, "model", json_null());
    }
    json_object_set_new(j, "preprocess", str_or_null(meta ? meta->preprocess : NULL));
    json_object_set_new(j, "source", str_or_null(meta ? meta->source : NULL));
    for (size_t i = 0; meta && i < meta->n_failed; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "name", str_or_null(meta->failed_names[i]));
        json_object_set_new(e, "reason", str_or_null(meta->failed_reasons[i]));
        json_array_append_new(failed, e);
    }
    json_object_set_new(j, "failed", failed);
    text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text) {
        rc = seize_error(SEIZE_ENOMEM, "cannot serialise index.json");
        goto done;
    }
    size_t len = strlen(text);
    char *with_nl = seize_malloc(len + 2, 1);
    if (!with_nl) goto done;
    memcpy(with_nl, text, len);
    with_nl[len] = '\n';
    rc = seize_write_file_atomic(jp, with_nl, len + 1);
    free(with_nl);
done:
    if (w) seize_npy_writer_abort(w);
    seize_atomic_abort(&at);
    json_decref(j);
    free(text);
    free(row);
    free(half);
    free(fp);
    free(np);
    free(jp);
    if (rc < 0) seize_error_prefix(rc, "writing index '%s'", dir);
    return rc;
}

int seize_index_import(const char *features_npy, const char *names_txt, const char *dir,
                       seize_dtype dtype)
{
    seize_npy *a = NULL;
    char **names = NULL;
    size_t n_names = 0;
    int rc = seize_npy_load(features_npy, &a);
    if (rc < 0) return rc;
    if (a->ndim != 2 || a->dtype == SEIZE_I32) {
        rc = seize_error(SEIZE_EFORMAT, "'%s': expected a 2-D float32 or float16 array, got %d-D",
                         features_npy, a->ndim);
        goto done;
    }
    if ((rc = read_names(names_txt, &names, &n_names)) < 0) goto done;
    if (n_names != a->shape[0]) {
        rc = seize_error(SEIZE_ESHAPE, "'%s' has %zu names but '%s' has %zu rows", names_txt,
                         n_names, features_npy, a->shape[0]);
        goto done;
    }
    float *f = seize_npy_f32(a);
    size_t len = strlen(features_npy) + 8;
    char *src = seize_malloc(len, 1);
    if (!src) {
        rc = SEIZE_ENOMEM;
        goto done;
    }
    snprintf(src, len, "import:%s", features_npy);
    seize_index_meta meta = {.source = src};
    rc = seize_index_write(dir, f, a->shape[0], a->shape[1], (const char *const *)names, dtype,
                           &meta);
    free(src);
done:
    seize_npy_free(a);
    seize_lines_free(names, n_names);
    return rc;
}

// --- rows

void seize_normalize_rows(float *x, size_t n, size_t dim)
{
    for (size_t r = 0; r < n; r++) {
        float *v = x + r * dim;
        double ss = 0;
        for (size_t j = 0; j < dim; j++)
            ss += (double)v[j] * v[j];
        float nrm = (float)sqrt(ss);
        if (nrm < 1e-12f) nrm = 1e-12f;
        for (size_t j = 0; j < dim; j++)
            v[j] /= nrm;
    }
}
