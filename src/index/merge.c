// seize_index_merge (seize/index.h): shard folders checked to belong together, then written as
// one index (the stored rows copied in list order) or as a sharded index's manifest.
#include "index_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// One shard folder given to the merge, with its index.json "shard" record.
typedef struct shard_in {
    const char *dir;
    seize_index *idx;
    const json_t *j, *failed;
    size_t index, count, batch, first, end, total, n_failed;
    const char *list_sha;
} shard_in;

typedef struct merge {
    const seize_index_merge_params *p;
    shard_in *in;     // as given
    shard_in **slot;  // by shard index (after check_set)
    size_t n, rows;   // shards; rows in all
    const char *list; // the full list's hash
} merge;

static const char *jstr(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static int size_of(const json_t *j, const char *key, size_t *out)
{
    const json_t *v = json_object_get(j, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (size_t)json_integer_value(v);
    return 0;
}

// Opens a shard folder and reads its "shard" record.
static int load_shard(shard_in *s)
{
    char *prog = seize_path_join(s->dir, "build.progress.json");
    int busy = prog && seize_path_exists(prog);
    free(prog);
    if (busy)
        return seize_error(SEIZE_EINVAL,
                           "'%s' holds an unfinished build (build.progress.json): finish it "
                           "first (run its build command again)",
                           s->dir);
    int rc = ix_open_single(s->dir, &s->idx);
    if (rc < 0) return rc;
    s->j = seize_index_json(s->idx);
    const json_t *r = json_object_get(s->j, "shard"), *rows = json_object_get(r, "rows");
    if (!r)
        return seize_error(SEIZE_EINVAL,
                           "'%s' is not a shard (its index.json has no \"shard\"): build it with "
                           "seize index build ... --shard I/N",
                           s->dir);
    s->failed = json_object_get(s->j, "failed");
    s->n_failed = json_array_size(s->failed);
    s->list_sha = jstr(r, "list_sha256");
    json_int_t a = json_integer_value(json_array_get(rows, 0)),
               b = json_integer_value(json_array_get(rows, 1));
    if (size_of(r, "index", &s->index) < 0 || size_of(r, "count", &s->count) < 0 ||
        size_of(r, "total", &s->total) < 0 || size_of(r, "batch", &s->batch) < 0 || !s->list_sha ||
        json_array_size(rows) != 2 || a < 0 || b < a || s->index >= s->count ||
        json_array_size(json_object_get(r, "failed_at")) != s->n_failed)
        return seize_error(SEIZE_EFORMAT, "'%s': index.json: its \"shard\" record is damaged",
                           s->dir);
    s->first = (size_t)a, s->end = (size_t)b;
    return 0;
}

// What must be the same in every shard: s against the first given, r.
static int check_same(const shard_in *s, const shard_in *r)
{
    const char *ms = ix_model_sha(s->j), *mr = ix_model_sha(r->j);
    if (!ix_same_str(ms, mr))
        return seize_error(SEIZE_EINVAL,
                           "'%s' was built with another model (sha256 %.12s... vs %.12s... in "
                           "'%s')",
                           s->dir, ms ? ms : "(none)", mr ? mr : "(none)", r->dir);
    if (!ix_same_str(jstr(s->j, "preprocess"), jstr(r->j, "preprocess")))
        return seize_error(SEIZE_EINVAL,
                           "'%s' was built with another preprocessing ('%s' vs '%s' in '%s')",
                           s->dir, jstr(s->j, "preprocess"), jstr(r->j, "preprocess"), r->dir);
    if (seize_index_dtype(s->idx) != seize_index_dtype(r->idx))
        return seize_error(SEIZE_EINVAL,
                           "'%s' stores %s rows and '%s' %s: build every shard with the same "
                           "--dtype",
                           s->dir, jstr(s->j, "dtype"), r->dir, jstr(r->j, "dtype"));
    if (seize_index_dim(s->idx) != seize_index_dim(r->idx))
        return seize_error(SEIZE_EINVAL, "'%s' has %zu dimensions and '%s' %zu", s->dir,
                           seize_index_dim(s->idx), r->dir, seize_index_dim(r->idx));
    const char *ps = jstr(s->j, "precision"), *pr = jstr(r->j, "precision");
    if (!ix_same_str(ps ? ps : "fp32", pr ? pr : "fp32"))
        return seize_error(SEIZE_EINVAL,
                           "'%s' was built in precision %s and '%s' in %s: build every shard "
                           "with the same --precision",
                           s->dir, ps ? ps : "fp32", r->dir, pr ? pr : "fp32");
    if (s->count != r->count)
        return seize_error(SEIZE_EINVAL,
                           "'%s' is shard %zu/%zu and '%s' is shard %zu/%zu: they are of builds "
                           "with different shard counts",
                           s->dir, s->index, s->count, r->dir, r->index, r->count);
    if (s->batch != r->batch)
        return seize_error(SEIZE_EINVAL,
                           "'%s' was built with --batch %zu and '%s' with --batch %zu: a shard is "
                           "a block of whole batches, build every shard with the same --batch",
                           s->dir, s->batch, r->dir, r->batch);
    return 0;
}

// Every shard 0..N-1 given exactly once: m->slot by shard index.
static int check_set(merge *m)
{
    size_t count = m->in[0].count;
    if (!(m->slot = seize_calloc(count, sizeof *m->slot))) return SEIZE_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        shard_in *s = &m->in[i], **at = &m->slot[s->index];
        if (*at)
            return seize_error(SEIZE_EINVAL, "shard %zu/%zu is given twice: '%s' and '%s'",
                               s->index, count, (*at)->dir, s->dir);
        *at = s;
    }
    for (size_t k = 0; k < count; k++) {
        if (m->slot[k]) continue;
        seize_buf b = {0};
        for (size_t i = 0; i < count; i++)
            if (m->slot[i])
                seize_buf_printf(&b, "%s%zu/%zu '%s'", b.len ? ", " : "", i, count,
                                 m->slot[i]->dir);
        int rc = seize_error(SEIZE_EINVAL, "shard %zu/%zu is missing (given: %s)", k, count,
                             b.data ? b.data : "");
        seize_buf_free(&b);
        return rc;
    }
    return 0;
}

// The name of item `pos` of shard s, walking its rows and failures in list order (*row, *f:
// the next row and failure).
static const char *item_name(const shard_in *s, size_t pos, size_t *row, size_t *f)
{
    const json_t *at = json_object_get(json_object_get(s->j, "shard"), "failed_at");
    if (*f < s->n_failed && json_integer_value(json_array_get(at, *f)) == (json_int_t)pos)
        return jstr(json_array_get(s->failed, (*f)++), "name");
    return *row < seize_index_count(s->idx) ? seize_index_name(s->idx, (*row)++) : NULL;
}

// Names disjoint across shards (each shard's items walked in list order into the hash h).
static int check_disjoint(merge *m, seize_sha256 *h)
{
    seize_strmap seen;
    int rc = seize_strmap_init(&seen, m->slot[0]->total);
    for (size_t k = 0; rc == 0 && k < m->n; k++) {
        const shard_in *s = m->slot[k];
        size_t row = 0, f = 0, old;
        if (seize_index_count(s->idx) + s->n_failed != s->end - s->first)
            rc = seize_error(SEIZE_EFORMAT,
                             "'%s': its rows (%zu) and failed images (%zu) are not its items "
                             "[%zu, %zu)",
                             s->dir, seize_index_count(s->idx), s->n_failed, s->first, s->end);
        for (size_t pos = s->first; rc == 0 && pos < s->end; pos++) {
            const char *name = item_name(s, pos, &row, &f);
            int put = name ? seize_strmap_put(&seen, name, k, &old) : -1;
            if (put < 0)
                rc = name ? put
                          : seize_error(SEIZE_EFORMAT, "'%s': its failed_at is damaged", s->dir);
            else if (put == 1)
                rc = seize_error(SEIZE_EINVAL, "gallery name '%s' is in both '%s' and '%s'", name,
                                 m->slot[old]->dir, s->dir);
            else
                seize_sha256_update(h, name, strlen(name) + 1);
        }
        if (rc == 0 && (row != seize_index_count(s->idx) || f != s->n_failed))
            rc = seize_error(SEIZE_EFORMAT, "'%s': its failed_at is damaged", s->dir);
        m->rows += seize_index_count(s->idx);
    }
    seize_strmap_free(&seen);
    return rc;
}

// Names disjoint, one gallery list, each shard its block of it, and together exactly that
// list (its hash).
static int check_cover(merge *m)
{
    const shard_in *r = m->slot[0];
    seize_sha256 h;
    seize_sha256_init(&h);
    int rc = check_disjoint(m, &h);
    for (size_t k = 0; rc == 0 && k < m->n; k++) {
        const shard_in *s = m->slot[k];
        size_t a, b;
        if (s->total != r->total || strcmp(s->list_sha, r->list_sha))
            rc = seize_error(SEIZE_EINVAL,
                             "'%s' was built from another gallery list than '%s' (%zu names, "
                             "hash %.12s... vs %zu names, hash %.12s...)",
                             s->dir, r->dir, s->total, s->list_sha, r->total, r->list_sha);
        seize_shard_rows(r->total, r->batch, k, m->n, &a, &b);
        if (rc == 0 && (s->first != a || s->end != b))
            rc = seize_error(SEIZE_EFORMAT,
                             "'%s': its items [%zu, %zu) are not shard %zu/%zu of the list "
                             "([%zu, %zu))",
                             s->dir, s->first, s->end, k, m->n, a, b);
    }
    uint8_t d[32];
    char hex[65];
    seize_sha256_final(&h, d);
    seize_sha256_hex(d, hex);
    if (rc == 0 && strcmp(hex, r->list_sha))
        rc = seize_error(SEIZE_EFORMAT,
                         "the shards' names do not make up the gallery list they were built "
                         "from (hash %.12s... vs %.12s...): was a names.txt or index.json edited?",
                         hex, r->list_sha);
    if (rc == 0 && !m->rows)
        rc = seize_error(SEIZE_EFORMAT, "none of the %zu images could be encoded", r->total);
    return rc;
}

// --- writing ------------------------------------------------------------------------------

// index.json's metadata of the merged index: the first shard's model, preprocessing, source
// and precision, every shard's failures in list order (fn, fr: heap arrays the caller frees).
static int merged_meta(const merge *m, seize_index_meta *meta, const char ***fn, const char ***fr)
{
    const json_t *j = m->slot[0]->j, *model = json_object_get(j, "model");
    size_t nf = 0;
    for (size_t k = 0; k < m->n; k++)
        nf += m->slot[k]->n_failed;
    *fn = seize_calloc(nf ? nf : 1, sizeof **fn);
    *fr = seize_calloc(nf ? nf : 1, sizeof **fr);
    if (!*fn || !*fr) return SEIZE_ENOMEM;
    *meta = (seize_index_meta){.model_path = jstr(model, "path"),
                               .model_sha256 = jstr(model, "sha256"),
                               .preprocess = jstr(j, "preprocess"),
                               .source = jstr(j, "source"),
                               .failed_names = *fn,
                               .failed_reasons = *fr,
                               .precision = jstr(j, "precision")};
    for (size_t k = 0; k < m->n; k++)
        for (size_t i = 0; i < m->slot[k]->n_failed; i++, meta->n_failed++) {
            const json_t *f = json_array_get(m->slot[k]->failed, i);
            (*fn)[meta->n_failed] = jstr(f, "name");
            (*fr)[meta->n_failed] = jstr(f, "reason");
        }
    return 0;
}

// One index: the stored rows copied as they are (not renormalised), names, index.json.
static int write_single(const merge *m, const char *out, const seize_index_meta *meta)
{
    const seize_index *r = m->slot[0]->idx;
    size_t dim = seize_index_dim(r);
    seize_dtype dt = seize_index_dtype(r);
    char *fp = seize_path_join(out, "features.npy"), *np = seize_path_join(out, "names.txt"),
         *jp = seize_path_join(out, "index.json");
    seize_npy_writer *w = NULL;
    seize_atomic at = {0};
    json_t *j = NULL;
    int rc = fp && np && jp ? seize_npy_writer_open(fp, dt, m->rows, dim, &w) : SEIZE_ENOMEM;
    for (size_t k = 0; rc == 0 && k < m->n; k++) {
        seize_embeddings g = seize_index_embeddings(m->slot[k]->idx);
        if (g.n) rc = seize_npy_writer_rows(w, g.data, g.n);
    }
    if (rc == 0) rc = seize_npy_writer_close(w), w = NULL;
    if (rc == 0) rc = seize_atomic_open(np, &at);
    for (size_t k = 0; rc == 0 && k < m->n; k++)
        for (size_t i = 0; i < seize_index_count(m->slot[k]->idx); i++)
            fprintf(at.fp, "%s\n", seize_index_name(m->slot[k]->idx, i));
    if (rc == 0) rc = seize_atomic_commit(&at);
    if (rc == 0) {
        j = ix_meta_json(m->rows, dim, dt, meta);
        rc = j ? ix_json_write(jp, j) : SEIZE_ENOMEM;
    }
    if (w) seize_npy_writer_abort(w);
    seize_atomic_abort(&at);
    json_decref(j);
    free(fp);
    free(np);
    free(jp);
    return rc;
}

// The path of `to` relative to the folder `from` (both canonical absolute paths; heap).
static char *rel_path(const char *from, const char *to)
{
    size_t i = 0, c = 0;
    while (from[i] && from[i] == to[i])
        if (from[i++] == '/') c = i;
    if ((!from[i] || from[i] == '/') && (!to[i] || to[i] == '/')) c = i;
    seize_buf b = {0};
    int rc = 0;
    for (const char *p = from + c; rc == 0 && *p;) {
        while (*p == '/')
            p++;
        if (!*p) break;
        rc = seize_buf_puts(&b, "../");
        while (*p && *p != '/')
            p++;
    }
    const char *rest = to + c;
    while (*rest == '/')
        rest++;
    if (rc == 0) rc = seize_buf_puts(&b, *rest || b.len ? rest : ".");
    if (rc < 0) {
        seize_buf_free(&b);
        return NULL;
    }
    if (b.len > 1 && b.data[b.len - 1] == '/') b.data[--b.len] = 0;
    return seize_buf_release(&b);
}

// A sharded index: out/index.json, the manifest over the shard folders where they are.
static int write_manifest(const merge *m, const char *out, const char *out_real,
                          const seize_index_meta *meta)
{
    const seize_index *r = m->slot[0]->idx;
    json_t *j = ix_meta_json(m->rows, seize_index_dim(r), seize_index_dtype(r), meta),
           *list = json_array();
    int rc = j && list ? 0 : SEIZE_ENOMEM;
    for (size_t k = 0; rc == 0 && k < m->n; k++) {
        char *real = realpath(m->slot[k]->dir, NULL), *rel = real ? rel_path(out_real, real) : 0;
        json_t *e = rel ? json_pack("{s:s, s:I}", "path", rel, "count",
                                    (json_int_t)seize_index_count(m->slot[k]->idx))
                        : NULL;
        rc = e && !json_array_append_new(list, e) ? 0 : SEIZE_ENOMEM;
        free(real);
        free(rel);
    }
    int bad = rc < 0 || json_object_set_new(j, "sharded", json_true()) ||
              json_object_set_new(j, "total", json_integer((json_int_t)m->slot[0]->total)) ||
              json_object_set_new(j, "list_sha256", json_string(m->list)) ||
              json_object_set(j, "shards", list);
    char *jp = seize_path_join(out, "index.json");
    rc = bad || !jp ? SEIZE_ENOMEM : ix_json_write(jp, j);
    json_decref(j);
    json_decref(list);
    free(jp);
    for (const char *stale = "features.npy"; rc == 0 && stale;) { // of an earlier single merge
        char *p = seize_path_join(out, stale);
        if (p) unlink(p);
        free(p);
        stale = strcmp(stale, "names.txt") ? "names.txt" : NULL;
    }
    return rc;
}

// Locks out (created), which must not be one of the shards, and writes the merged index.
static int write_out(merge *m, const seize_index_meta *meta)
{
    const char *out = m->p->out_dir;
    char what[4200], *real = NULL;
    seize_lock lock = {0};
    snprintf(what, sizeof what, "index folder '%s'", out);
    int rc = seize_mkdirs(out);
    if (rc == 0) rc = seize_lock_dir(out, what, &lock);
    if (rc == 0 && !(real = realpath(out, NULL)))
        rc = seize_error(SEIZE_EIO, "cannot resolve '%s'", out);
    for (size_t k = 0; rc == 0 && k < m->n; k++) {
        char *s = realpath(m->slot[k]->dir, NULL);
        if (s && !strcmp(s, real))
            rc = seize_error(SEIZE_EINVAL,
                             "the output folder '%s' is shard '%s': merge into "
                             "another folder",
                             out, m->slot[k]->dir);
        free(s);
    }
    if (rc == 0)
        rc = m->p->sharded ? write_manifest(m, out, real, meta) : write_single(m, out, meta);
    free(real);
    seize_lock_release(&lock);
    if (rc < 0) seize_error_prefix(rc, "writing index '%s'", out);
    return rc;
}

int seize_index_merge(const seize_index_merge_params *p, seize_index_merge_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    if (!p || !p->out_dir || !p->shards || !p->n_shards)
        return seize_error(SEIZE_EINVAL, "index merge: an output folder and shards are required");
    merge m = {.p = p, .n = p->n_shards};
    const char **fn = NULL, **fr = NULL;
    seize_index_meta meta;
    m.in = seize_calloc(m.n, sizeof *m.in);
    int rc = m.in ? 0 : SEIZE_ENOMEM;
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        m.in[i].dir = p->shards[i];
        rc = load_shard(&m.in[i]);
    }
    for (size_t i = 1; rc == 0 && i < m.n; i++)
        rc = check_same(&m.in[i], &m.in[0]);
    if (rc == 0) rc = check_set(&m); // and so m.n is the shard count
    if (rc == 0) rc = check_cover(&m);
    if (rc == 0) m.list = m.slot[0]->list_sha, rc = merged_meta(&m, &meta, &fn, &fr);
    if (rc == 0) rc = write_out(&m, &meta);
    if (rc == 0 && res) *res = (seize_index_merge_result){m.rows, meta.n_failed, m.n};
    for (size_t i = 0; m.in && i < m.n; i++)
        seize_index_free(m.in[i].idx);
    free(m.in);
    free(m.slot);
    free(fn);
    free(fr);
    return rc;
}
