// The resumable index build (seize/index.h): items encoded batch by batch into build.partial,
// the position and a checksum of the rows in build.progress.json (version 2), the final files
// written atomically at the end.
#include "seize/clip.h"
#include "seize/image.h"
#include "seize/index.h"
#include "seize/model.h"

#include "index_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct build {
    const seize_index_build_params *p;
    const seize_build_item *items;
    size_t n, base, dim; // base: items done before this call
    size_t first, total; // a shard's block: items[0] is the full list's `first` of `total`
    size_t batch;        // a shard's batch size (the unit of its block)
    char shard[48];      // "I/N" of a shard build, else ""
    char full_sha[65];   // a shard's: seize_names_sha256 of the full list
    char why[160];       // a discarded state's reason, when it needs words of its own
    seize_preprocess_opts pre;
    FILE *partial;
    char *partial_path, *progress_path, *list_sha;
    char model_sha[65], params[128];
    const char *weights;
    seize_precision prec; // the CLIP state's: an unfinished build in another is refused
    seize_sha256 rows_h;  // of the rows in the partial file so far
    json_t *failed;       // [{"i", "name", "reason"}]
} build;

// --- the build ---------------------------------------------------------------------------

seize_index_build_params seize_index_build_default_params(void)
{
    seize_index_build_params p = {0};
    p.batch = 16;
    p.dtype = SEIZE_F32;
    return p;
}

static char *list_hash(const seize_build_item *it, size_t n)
{
    seize_sha256 s;
    seize_sha256_init(&s);
    for (size_t i = 0; i < n; i++) {
        seize_sha256_update(&s, it[i].name, strlen(it[i].name) + 1);
        seize_sha256_update(&s, it[i].path, strlen(it[i].path) + 1);
    }
    uint8_t d[32];
    char *hex = malloc(65);
    seize_sha256_final(&s, d);
    if (hex) seize_sha256_hex(d, hex);
    return hex;
}

static int load_item(void *ud, size_t i, float *px)
{
    build *b = ud;
    const seize_build_item *it = &b->items[b->base + i];
    if (it->missing)
        return seize_error(SEIZE_EIO, "cannot open '%s': No such file or directory", it->path);
    return seize_image_load_preprocess(it->path, &b->pre, px);
}

static void on_bad_item(void *ud, size_t i, int code, const char *msg)
{
    build *b = ud;
    (void)code;
    size_t k = b->base + i;
    // the missing ones were reported by the caller before the start
    if (!b->items[k].missing && b->p->on_bad) b->p->on_bad(b->p->ud, b->first + k, msg);
    json_array_append_new(b->failed, json_pack("{s:I, s:s, s:s}", "i", (json_int_t)k, "name",
                                               b->items[k].name, "reason", msg));
}

static int write_progress(build *b, size_t done)
{
    seize_sha256 h = b->rows_h; // a copy: the running hash goes on
    uint8_t d[32];
    char hex[65];
    seize_sha256_final(&h, d);
    seize_sha256_hex(d, hex);
    json_t *j =
        json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:O, s:o}", "version", 2,
                  "model_sha256", b->model_sha, "list_sha256", b->list_sha, "params", b->params,
                  "precision", seize_precision_name(b->prec), "count", (json_int_t)b->n, "dim",
                  (json_int_t)b->dim, "done", (json_int_t)done, "rows_sha256", hex, "failed",
                  b->failed, "shard", *b->shard ? json_string(b->shard) : json_null());
    char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!t) return seize_error(SEIZE_ENOMEM, "out of memory");
    int rc = seize_write_file_atomic(b->progress_path, t, strlen(t));
    free(t);
    return rc;
}

static int on_batch_rows(void *ud, size_t first, size_t n, const float *rows, const uint8_t *ok)
{
    build *b = ud;
    (void)ok;
    // rows of failed items are zero; they are left out at the end by the failed list
    if (fwrite(rows, sizeof(float) * b->dim, n, b->partial) != n || fflush(b->partial) != 0 ||
        fsync(fileno(b->partial)) != 0)
        return seize_error(SEIZE_EIO, "cannot write '%s': %s", b->partial_path, strerror(errno));
    seize_sha256_update(&b->rows_h, rows, n * b->dim * sizeof(float));
    return write_progress(b, b->base + first + n);
}

static int on_build_progress(void *ud, size_t done, size_t n_bad)
{
    build *b = ud;
    (void)n_bad;
    if (!b->p->on_progress) return 0;
    return b->p->on_progress(b->p->ud, b->base + done, b->n, json_array_size(b->failed));
}

// The SHA-256 of the first `done` rows of the partial file into *h; 0, or why not.
static const char *hash_rows(const char *path, size_t bytes, seize_sha256 *h)
{
    int fd = seize_open_regular(path, NULL);
    if (fd < 0) return "its rows file is missing or unreadable";
    struct stat st;
    // a crash between writing rows and recording them leaves extra rows: those are dropped
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < bytes) {
        close(fd);
        return "its rows file is shorter than its progress record";
    }
    char *buf = malloc(1 << 16);
    size_t left = bytes;
    while (buf && left) {
        ssize_t r = read(fd, buf, left < (1u << 16) ? left : (1u << 16));
        if (r <= 0) break;
        seize_sha256_update(h, buf, (size_t)r);
        left -= (size_t)r;
    }
    free(buf);
    close(fd);
    return left ? "its rows do not match its progress record (the rows file was changed)" : NULL;
}

// Checks an unfinished build against this one: same model, list and preprocessing, and the
// first `done` rows of the partial file hash to the recorded rows_sha256. Returns the rows to
// keep (and b->rows_h the hash state after them), or 0 with *why set when it must be discarded.
static size_t verify_partial(const json_t *prog, build *b, const char **why)
{
    const char *ms = json_string_value(json_object_get(prog, "model_sha256"));
    const char *ls = json_string_value(json_object_get(prog, "list_sha256"));
    const char *ps = json_string_value(json_object_get(prog, "params"));
    const char *rs = json_string_value(json_object_get(prog, "rows_sha256"));
    json_t *pd = json_object_get(prog, "done");
    const char *sh = json_string_value(json_object_get(prog, "shard")); // absent: whole list
    *why = NULL;
    if (strcmp(sh ? sh : "", b->shard)) {
        snprintf(b->why, sizeof b->why, "it was for %s%s, this build is %s%s",
                 sh ? "shard " : "the whole list", sh ? sh : "", *b->shard ? "shard " : "",
                 *b->shard ? b->shard : "of the whole list");
        *why = b->why;
        return 0;
    }
    if (!ms || !ls || !ps || strcmp(ms, b->model_sha) || strcmp(ls, b->list_sha) ||
        strcmp(ps, b->params) ||
        json_integer_value(json_object_get(prog, "dim")) != (json_int_t)b->dim ||
        json_integer_value(json_object_get(prog, "count")) != (json_int_t)b->n) {
        *why = "it was for another model, image list or preprocessing";
        return 0;
    }
    if (!json_is_integer(pd) || json_integer_value(pd) < 0 ||
        (size_t)json_integer_value(pd) > b->n || !rs) {
        *why = "its progress record is incomplete";
        return 0;
    }
    size_t done = (size_t)json_integer_value(pd);
    if ((*why = hash_rows(b->partial_path, done * b->dim * sizeof(float), &b->rows_h))) return 0;
    uint8_t d[32];
    char hex[65];
    seize_sha256 copy = b->rows_h;
    seize_sha256_final(&copy, d);
    seize_sha256_hex(d, hex);
    if (strcmp(hex, rs)) {
        *why = "its rows do not match its progress record (the rows file was changed)";
        return 0;
    }
    return done;
}

// A build that checks out but ran in another precision (a record without one: fp32) is
// refused rather than discarded: its rows stay for a rerun in that precision.
static int same_precision(const json_t *prog, const build *b, size_t done)
{
    const char *was = json_string_value(json_object_get(prog, "precision"));
    const char *now = seize_precision_name(b->prec);
    if (!was) was = "fp32";
    if (!strcmp(was, now)) return 0;
    return seize_error(SEIZE_EINVAL,
                       "index folder '%s' holds an unfinished build in precision %s (%zu of %zu "
                       "images done), and this build's precision is %s: give --precision %s to "
                       "resume it, or --restart to discard it",
                       b->p->out_dir, was, done, b->n, now, was);
}

// Resume? Only from a state that checks out; anything else is discarded (never mixed in).
// *out: the items done; their failures are copied into b->failed. 0, or the refusal of a
// build in another precision.
static int resume_point(build *b, size_t *out)
{
    json_t *prog = NULL;
    const char *why = NULL;
    size_t done = 0;
    *out = 0;
    seize_sha256_init(&b->rows_h);
    if (b->p->restart || !seize_path_exists(b->progress_path)) return 0;
    if (seize_json_load(b->progress_path, &prog) < 0 || !json_is_object(prog))
        why = "its progress record is unreadable";
    else
        done = verify_partial(prog, b, &why);
    int rc = why ? 0 : same_precision(prog, b, done);
    if (rc < 0) {
        json_decref(prog);
        return rc;
    }
    if (why) {
        done = 0;
        seize_sha256_init(&b->rows_h);
    } else {
        json_t *f;
        size_t i;
        json_array_foreach(json_object_get(prog, "failed"), i, f)
        {
            json_int_t k = json_integer_value(json_object_get(f, "i"));
            if (k >= 0 && (size_t)k < done && json_is_string(json_object_get(f, "name")) &&
                json_is_string(json_object_get(f, "reason")))
                json_array_append(b->failed, f);
        }
    }
    json_decref(prog);
    if (b->p->on_resume) b->p->on_resume(b->p->ud, done, b->n, why);
    *out = done;
    return 0;
}

// The partial file holds exactly the `done` rows, open for appending.
static int open_partial(build *b, size_t done)
{
    if (done) {
        if (truncate(b->partial_path, (off_t)(done * b->dim * sizeof(float))) != 0)
            return seize_error(SEIZE_EIO, "cannot truncate '%s': %s", b->partial_path,
                               strerror(errno));
    } else {
        FILE *t = fopen(b->partial_path, "wb");
        if (!t)
            return seize_error(SEIZE_EIO, "cannot create '%s': %s", b->partial_path,
                               strerror(errno));
        fclose(t);
    }
    if (!(b->partial = fopen(b->partial_path, "ab")))
        return seize_error(SEIZE_EIO, "cannot open '%s': %s", b->partial_path, strerror(errno));
    return 0;
}

// The rows read back are the rows written (the folder is locked; this catches the rest).
static int check_rows(const build *b, const seize_map *map)
{
    if (map->size != b->n * b->dim * sizeof(float))
        return seize_error(SEIZE_EFORMAT, "'%s' has %zu bytes, expected %zu", b->partial_path,
                           map->size, b->n * b->dim * sizeof(float));
    seize_sha256 h = b->rows_h, h2;
    uint8_t d1[32], d2[32];
    seize_sha256_final(&h, d1);
    seize_sha256_init(&h2);
    if (map->size) seize_sha256_update(&h2, map->data, map->size);
    seize_sha256_final(&h2, d2);
    if (memcmp(d1, d2, 32))
        return seize_error(SEIZE_EFORMAT,
                           "'%s' was changed while the build ran; run the command again with "
                           "--restart",
                           b->partial_path);
    return 0;
}

// The final files: the rows that loaded, in list order.
static int write_final(build *b, const seize_map *map, seize_index_build_result *res)
{
    size_t n = b->n, dim = b->dim, n_fail = json_array_size(b->failed), n_ok = 0;
    unsigned char *bad = calloc(n, 1);
    const char **fnames = calloc(n_fail ? n_fail : 1, sizeof *fnames);
    const char **freasons = calloc(n_fail ? n_fail : 1, sizeof *freasons);
    size_t *fat = calloc(n_fail ? n_fail : 1, sizeof *fat);
    float *feats = seize_malloc(n ? n : 1, dim * sizeof *feats);
    const char **names = calloc(n ? n : 1, sizeof *names);
    int rc = bad && fnames && freasons && fat && feats && names
                 ? 0
                 : seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n_fail; i++) {
        json_t *f = json_array_get(b->failed, i);
        json_int_t k = json_integer_value(json_object_get(f, "i"));
        if (k >= 0 && (size_t)k < n) bad[k] = 1;
        fat[i] = b->first + (size_t)k;
        fnames[i] = json_string_value(json_object_get(f, "name"));
        freasons[i] = json_string_value(json_object_get(f, "reason"));
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (bad[i]) continue;
        memcpy(feats + n_ok * dim, map->data + i * dim * sizeof(float), dim * sizeof(float));
        names[n_ok++] = b->items[i].name;
    }
    if (rc == 0 && !n_ok && !*b->shard) // a shard may be empty: the merge checks the whole
        rc = seize_error(SEIZE_EFORMAT, "none of the %zu images could be encoded", n);
    seize_index_meta meta = {.model_path = b->weights,
                             .model_sha256 = b->model_sha,
                             .preprocess = b->params,
                             .source = b->p->source,
                             .failed_names = fnames,
                             .failed_reasons = freasons,
                             .n_failed = n_fail,
                             .precision = seize_precision_name(b->prec)};
    seize_index_shard_info sh = {.index = b->p->shard_index,
                                 .count = b->p->shard_count,
                                 .batch = b->batch,
                                 .first = b->first,
                                 .end = b->first + n,
                                 .total = b->total,
                                 .list_sha256 = b->full_sha,
                                 .failed_at = fat};
    if (*b->shard) meta.shard = &sh;
    if (rc == 0) rc = seize_index_write(b->p->out_dir, feats, n_ok, dim, names, b->p->dtype, &meta);
    if (rc == 0 && res) {
        res->n_ok = n_ok;
        res->n_failed = n_fail;
    }
    free(bad);
    free(fnames);
    free(freasons);
    free(fat);
    free(feats);
    free(names);
    return rc;
}

// Encodes the items after the resume point, then writes the final files.
static int encode_and_finish(build *b, seize_clip *clip, seize_index_build_result *res)
{
    size_t done = 0;
    int rc = resume_point(b, &done);
    if (rc < 0) return rc;
    if (res) res->resumed = done;
    b->base = done;
    rc = open_partial(b, done);
    if (rc == 0) rc = write_progress(b, done);
    if (rc < 0) return rc;
    seize_clip_list_opts lo = {.skip_bad = 1,
                               .on_bad = on_bad_item,
                               .on_batch = on_batch_rows,
                               .on_progress = on_build_progress,
                               .ud = b,
                               .cancel = b->p->cancel};
    rc = b->n > done
             ? seize_clip_encode_image_list(clip, b->n - done, load_item, &lo, NULL, NULL, NULL)
             : 0;
    fclose(b->partial);
    b->partial = NULL;
    if (rc == SEIZE_ECANCEL || seize_cancel_level(b->p->cancel))
        return seize_error(SEIZE_ECANCEL,
                           "interrupted; the finished batches are kept in '%s': run the same "
                           "command again to resume",
                           b->p->out_dir);
    if (rc < 0) return rc;
    seize_map map = {0};
    rc = seize_map_open(b->partial_path, &map);
    if (rc == 0) rc = check_rows(b, &map);
    if (rc == 0) rc = write_final(b, &map, res);
    seize_map_close(&map);
    if (rc == 0) {
        unlink(b->partial_path);
        unlink(b->progress_path);
    }
    return rc;
}

static int json_size_is(const json_t *j, const char *key, size_t v)
{
    const json_t *x = json_object_get(j, key);
    return json_is_integer(x) && json_integer_value(x) == (json_int_t)v;
}

static int json_str_is(const json_t *j, const char *key, const char *v)
{
    const char *s = json_string_value(json_object_get(j, key));
    return v ? s && !strcmp(s, v) : json_is_null(json_object_get(j, key));
}

// A shard build whose folder already holds the finished index of this very shard (no build
// state; index.json's "shard" record and model, preprocessing, dtype, precision, source as
// this build would write them; its rows and names open): kept, nothing is encoded. 1 kept, 0
// not (the build runs as before).
static int keep_finished_shard(build *b, seize_index_build_result *res)
{
    seize_index *idx = NULL;
    if (!*b->shard || b->p->restart || seize_path_exists(b->progress_path)) return 0;
    char *ij = seize_path_join(b->p->out_dir, "index.json");
    int there = ij && seize_path_exists(ij);
    free(ij);
    if (!there || seize_index_open(b->p->out_dir, &idx) < 0) return 0;
    const json_t *j = seize_index_json(idx), *r = json_object_get(j, "shard");
    const json_t *m = json_object_get(j, "model"), *rows = json_object_get(r, "rows");
    size_t n_fail = json_array_size(json_object_get(j, "failed"));
    const char *prec = json_string_value(json_object_get(j, "precision"));
    int same = json_size_is(r, "index", b->p->shard_index) &&
               json_size_is(r, "count", b->p->shard_count) && json_size_is(r, "batch", b->batch) &&
               json_size_is(r, "total", b->total) && json_str_is(r, "list_sha256", b->full_sha) &&
               json_array_size(rows) == 2 &&
               json_integer_value(json_array_get(rows, 0)) == (json_int_t)b->first &&
               json_integer_value(json_array_get(rows, 1)) == (json_int_t)(b->first + b->n) &&
               json_str_is(m, "sha256", b->model_sha) && json_str_is(m, "path", b->weights) &&
               json_str_is(j, "preprocess", b->params) && json_str_is(j, "source", b->p->source) &&
               json_str_is(j, "dtype", b->p->dtype == SEIZE_F16 ? "f16" : "f32") &&
               !strcmp(prec ? prec : "fp32", seize_precision_name(b->prec)) &&
               seize_index_dim(idx) == b->dim && seize_index_count(idx) + n_fail == b->n &&
               json_array_size(json_object_get(r, "failed_at")) == n_fail;
    if (same && res) *res = (seize_index_build_result){seize_index_count(idx), n_fail, b->n};
    seize_index_free(idx);
    if (same && b->p->on_resume) b->p->on_resume(b->p->ud, b->n, b->n, NULL);
    return same;
}

// The model's identity and the preprocessing, which an unfinished build must share.
static int build_setup(build *b, const seize_clip_model *m, seize_clip *clip)
{
    uint8_t digest[32];
    b->weights = seize_clip_model_weights_path(m);
    int rc = seize_sha256_file(b->weights, digest);
    if (rc < 0) return rc;
    seize_sha256_hex(digest, b->model_sha);
    b->dim = seize_clip_embed_dim(clip);
    b->prec = seize_clip_precision(clip);
    b->pre = seize_preprocess_default_opts();
    b->pre.size = seize_clip_image_size(clip);
    if (b->p->no_pad) b->pre.pad_ratio = 0;
    snprintf(b->params, sizeof b->params,
             "%s resize %d bicubic antialias, center crop %d, CLIP mean/std",
             b->p->no_pad ? "no pad," : "TargetPad 1.25,", b->pre.size, b->pre.size);
    b->partial_path = seize_path_join(b->p->out_dir, "build.partial");
    b->progress_path = seize_path_join(b->p->out_dir, "build.progress.json");
    b->list_sha = list_hash(b->items, b->n);
    b->failed = json_array();
    if (!b->partial_path || !b->progress_path || !b->list_sha || !b->failed)
        return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

int seize_index_build(const seize_index_build_params *p, const seize_build_item *items, size_t n,
                      seize_index_build_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    if (!p || !p->out_dir || (!p->clip && !p->model_dir) || (!p->clip != !p->model))
        return seize_error(SEIZE_EINVAL, "index build: an index folder and a model are required");
    if (!n) return seize_error(SEIZE_EINVAL, "no images to index");
    build b = {.p = p, .items = items, .n = n, .total = n};
    if (p->shard_count) {
        if (p->shard_index >= p->shard_count)
            return seize_error(SEIZE_EINVAL, "index build: shard %zu/%zu does not exist",
                               p->shard_index, p->shard_count);
        size_t end, bs = (size_t)(p->clip ? seize_clip_max_batch(p->clip) : p->batch);
        b.batch = bs ? bs : 16;
        seize_shard_rows(n, b.batch, p->shard_index, p->shard_count, &b.first, &end);
        b.items = items + b.first, b.n = end - b.first;
        snprintf(b.shard, sizeof b.shard, "%zu/%zu", p->shard_index, p->shard_count);
        ix_names_sha256_at(items ? &items->name : NULL, sizeof *items, n, b.full_sha); // names
    }
    seize_clip_model *m = NULL;
    seize_clip *clip = p->clip;
    seize_lock lock = {0};
    char what[4200];
    snprintf(what, sizeof what, "index folder '%s'", p->out_dir);
    // one writer per index folder, for the whole build (a second build fails at once)
    int rc = seize_mkdirs(p->out_dir);
    if (rc == 0) rc = seize_lock_dir(p->out_dir, what, &lock);
    if (rc == 0 && !clip) {
        rc = seize_clip_model_load(p->model_dir, &m);
        seize_clip_params cp = {.max_batch = p->batch > 0 ? p->batch : 16,
                                .threads = p->threads > 0 ? p->threads : seize_cpu_count(),
                                .precision = p->precision};
        if (rc == 0) rc = seize_clip_open(m, cp, &clip);
    }
    if (rc == 0) rc = build_setup(&b, m ? m : p->model, clip);
    if (rc == 0 && !keep_finished_shard(&b, res)) rc = encode_and_finish(&b, clip, res);
    if (b.partial) fclose(b.partial);
    json_decref(b.failed);
    free(b.partial_path);
    free(b.progress_path);
    free(b.list_sha);
    if (clip != p->clip) seize_clip_free(clip);
    seize_clip_model_free(m);
    seize_lock_release(&lock);
    return rc;
}
