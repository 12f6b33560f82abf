// Index folders: features.npy + names.txt + index.json (see seize/index.h).
#include "seize/index.h"

#include "index_int.h"
#include "seize/data.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// --- gallery names: the rule is the data module's (seize/data.h)

const char *seize_index_name_problem(const char *name, size_t len)
{
    return seize_gallery_name_problem(name, len);
}

char *seize_index_name_escape(const char *name, size_t len)
{
    return seize_gallery_name_escape(name, len);
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

seize_embeddings seize_index_embeddings(const seize_index *idx)
{
    seize_embeddings g = {idx->feats->data, idx->feats->dtype, idx->n_names, idx->feats->shape[1]};
    return g;
}

int seize_index_find(const seize_index *idx, const char *name, size_t *row)
{
    if (seize_strmap_get(&idx->map, name, row)) return 0;
    return seize_error(SEIZE_ENOTFOUND, "'%s' is not in the gallery of index '%s'", name, idx->dir);
}

// seize_index_open; a sharded index only when `sharded` (else SEIZE_EFORMAT: not a shard).
static int open_dir(const char *dir, int sharded, seize_index **out)
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
    if (json_is_true(json_object_get(idx->json, "sharded"))) {
        rc = sharded ? ix_open_sharded(idx)
                     : seize_error(SEIZE_EFORMAT, "'%s' is a sharded index, not a shard", dir);
        if (rc < 0) goto fail;
        goto done;
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
done:
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

int seize_index_open(const char *dir, seize_index **out)
{
    return open_dir(dir, 1, out);
}

int ix_open_single(const char *dir, seize_index **out)
{
    return open_dir(dir, 0, out);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

// The rows seize_index_write accepts: good, unique names and finite values.
static int check_rows(const float *feats, size_t n, size_t dim, const char *const *names)
{
    seize_strmap seen;
    int rc = seize_strmap_init(&seen, n);
    if (rc < 0) return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *s = names[i];
        size_t old;
        const char *why = seize_gallery_name_problem(s, s ? strlen(s) : 0);
        int put = why ? 0 : seize_strmap_put(&seen, s, i, &old);
        if (put < 0) {
            rc = seize_error(SEIZE_ENOMEM, "out of memory"); // a duplicate could go unseen
        } else if (why) {
            char *shown = seize_gallery_name_shown(s);
            rc = seize_error(SEIZE_EFORMAT, "row %zu: gallery name '%s' %s", i, shown ? shown : "",
                             why);
            free(shown);
        } else if (put == 1) {
            rc = seize_error(SEIZE_EFORMAT, "gallery name '%s' appears in rows %zu and %zu", s, old,
                             i);
        }
        for (size_t j = 0; rc == 0 && j < dim; j++)
            if (!isfinite(feats[i * dim + j]))
                rc = seize_error(SEIZE_EFORMAT, "row %zu ('%s'): non-finite feature value", i, s);
    }
    seize_strmap_free(&seen);
    return rc;
}

// features.npy: each row normalised, stored as dtype.
static int write_features(const char *path, const float *feats, size_t n, size_t dim,
                          seize_dtype dtype)
{
    float *row = seize_malloc(dim, sizeof *row);
    uint16_t *half = seize_malloc(dim, sizeof *half);
    seize_npy_writer *w = NULL;
    int rc = !row || !half ? seize_error(SEIZE_ENOMEM, "out of memory")
                           : seize_npy_writer_open(path, dtype, n, dim, &w);
    if (rc < 0) goto done;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        memcpy(row, feats + i * dim, dim * sizeof *row);
        seize_normalize_rows(row, 1, dim);
        if (dtype == SEIZE_F16) {
            for (size_t k = 0; k < dim; k++)
                half[k] = seize_f32_to_f16(row[k]);
            rc = seize_npy_writer_rows(w, half, 1);
        } else {
            rc = seize_npy_writer_rows(w, row, 1);
        }
    }
    if (rc == 0) {
        rc = seize_npy_writer_close(w);
        w = NULL;
    }
done:
    if (w) seize_npy_writer_abort(w);
    free(row);
    free(half);
    return rc;
}

// The shard's record in its index.json (NULL when out of memory).
static json_t *shard_json(const seize_index_shard_info *s, size_t n_failed)
{
    json_t *at = json_array();
    for (size_t i = 0; at && i < n_failed; i++)
        if (json_array_append_new(at, json_integer((json_int_t)s->failed_at[i]))) {
            json_decref(at);
            return NULL;
        }
    if (!at) return NULL;
    return json_pack("{s:I, s:I, s:I, s:[I, I], s:I, s:s, s:o}", "index", (json_int_t)s->index,
                     "count", (json_int_t)s->count, "batch", (json_int_t)s->batch, "rows",
                     (json_int_t)s->first, (json_int_t)s->end, "total", (json_int_t)s->total,
                     "list_sha256", s->list_sha256 ? s->list_sha256 : "", "failed_at", at);
}

// The index.json object (NULL when out of memory).
json_t *ix_meta_json(size_t n, size_t dim, seize_dtype dtype, const seize_index_meta *meta)
{
    json_t *j = json_object(), *failed = json_array(), *model = json_null();
    if (meta && (meta->model_path || meta->model_sha256)) {
        json_decref(model);
        model = json_pack("{s:o, s:o}", "path", str_or_null(meta->model_path), "sha256",
                          str_or_null(meta->model_sha256));
    }
    int bad = !j || !failed || !model;
    bad = bad || json_object_set_new(j, "format", json_string("seize-index"));
    bad = bad || json_object_set_new(j, "version", json_integer(1));
    bad = bad || json_object_set_new(j, "count", json_integer((json_int_t)n));
    bad = bad || json_object_set_new(j, "dim", json_integer((json_int_t)dim));
    bad = bad || json_object_set_new(j, "dtype", json_string(dtype == SEIZE_F16 ? "f16" : "f32"));
    bad = bad || json_object_set_new(j, "normalized", json_true());
    bad = bad || json_object_set(j, "model", model);
    bad = bad || json_object_set_new(j, "preprocess", str_or_null(meta ? meta->preprocess : NULL));
    bad = bad || json_object_set_new(j, "source", str_or_null(meta ? meta->source : NULL));
    for (size_t i = 0; !bad && meta && i < meta->n_failed; i++)
        bad = json_array_append_new(failed, json_pack("{s:o, s:o}", "name",
                                                      str_or_null(meta->failed_names[i]), "reason",
                                                      str_or_null(meta->failed_reasons[i])));
    bad = bad || json_object_set(j, "failed", failed);
    if (meta && meta->precision)
        bad = bad || json_object_set_new(j, "precision", json_string(meta->precision));
    if (meta && meta->shard)
        bad = bad || json_object_set_new(j, "shard", shard_json(meta->shard, meta->n_failed));
    json_decref(model);
    json_decref(failed);
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int ix_json_write(const char *path, const json_t *j)
{
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (!text) return seize_error(SEIZE_ENOMEM, "cannot serialise index.json");
    size_t len = strlen(text);
    char *with_nl = seize_malloc(len + 2, 1);
    int rc = with_nl ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
    if (with_nl) {
        memcpy(with_nl, text, len);
        with_nl[len] = '\n';
        rc = seize_write_file_atomic(path, with_nl, len + 1);
    }
    free(with_nl);
    free(text);
    return rc;
}

// index.json, with a final line break.
static int write_meta(const char *path, size_t n, size_t dim, seize_dtype dtype,
                      const seize_index_meta *meta)
{
    json_t *j = ix_meta_json(n, dim, dtype, meta);
    int rc = ix_json_write(path, j);
    json_decref(j);
    return rc;
}

int seize_index_write(const char *dir, const float *feats, size_t n, size_t dim,
                      const char *const *names, seize_dtype dtype, const seize_index_meta *meta)
{
    if (dtype != SEIZE_F32 && dtype != SEIZE_F16)
        return seize_error(SEIZE_EINVAL, "index dtype must be f32 or f16");
    if (!dim) return seize_error(SEIZE_EINVAL, "index dimension must be positive");
    int rc = check_rows(feats, n, dim, names);
    if (rc < 0 || (rc = seize_mkdirs(dir)) < 0) return rc;
    char *fp = seize_path_join(dir, "features.npy");
    char *np = seize_path_join(dir, "names.txt");
    char *jp = seize_path_join(dir, "index.json");
    seize_atomic at = {0};
    rc = !fp || !np || !jp ? seize_error(SEIZE_ENOMEM, "out of memory")
                           : write_features(fp, feats, n, dim, dtype);
    if (rc < 0) goto done;
    if ((rc = seize_atomic_open(np, &at)) < 0) goto done;
    for (size_t i = 0; i < n; i++)
        fprintf(at.fp, "%s\n", names[i]);
    if ((rc = seize_atomic_commit(&at)) < 0) goto done;
    rc = write_meta(jp, n, dim, dtype, meta);
done:
    seize_atomic_abort(&at);
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
    seize_lock lock = {0};
    seize_buf src = {0};
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
    float *f = seize_npy_f32(a); // NULL: out of memory converting f16 (message set)
    if (!f) {
        rc = SEIZE_ENOMEM;
        goto done;
    }
    char what[4200];
    snprintf(what, sizeof what, "index folder '%s'", dir);
    // one writer per index folder, as seize_index_build
    if ((rc = seize_buf_printf(&src, "import:%s", features_npy)) < 0 ||
        (rc = seize_mkdirs(dir)) < 0 || (rc = seize_lock_dir(dir, what, &lock)) < 0)
        goto done;
    seize_index_meta meta = {.source = src.data};
    rc = seize_index_write(dir, f, a->shape[0], a->shape[1], (const char *const *)names, dtype,
                           &meta);
done:
    seize_buf_free(&src);
    seize_lock_release(&lock);
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
