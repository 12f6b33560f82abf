// Stages 2-5 of a run: the gallery index, the query features, the search, and the metrics or
// submission files. Each decides by its key whether to run (pl_step_run), then calls the stage
// seam.
#include "stages.h"

#include "seize/eval.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// --- running a stage -----------------------------------------------------------------------------

int pl_step_run(pl_run *r, const pl_step *s, int rc, double t0, json_t *counts)
{
    char *entry = pl_fmt("%s/%s", s->job, s->entry ? s->entry : s->name);
    json_t *by = NULL;
    int fresh = 0;
    if (rc == 0 && pl_cached(r, entry, s->key, s->outputs)) {
        pl_stage_log(r, s->job, s->name, "cached", seize_now() - t0, NULL);
        json_decref(counts);
        free(entry);
        return 0;
    }
    if (rc == 0) rc = pl_begin_stage(r, entry, s->key, NULL, &fresh);
    if (rc == 0) rc = s->run(r, s->ctx, fresh, &by);
    if (rc == 0)
        rc = pl_record_key(r, entry, s->key, by);
    else
        json_decref(by);
    pl_stage_log(r, s->job, s->name, rc == 0 ? "ran" : "failed", seize_now() - t0, counts);
    free(entry);
    return rc;
}

// The CLIP products' precision in the keys of the stages that run the model: fp32 adds nothing,
// so that the keys of run folders made before the precision modes stay valid.
static void key_precision(seize_sha256 *h, seize_precision p)
{
    if (p != SEIZE_PRECISION_FP32) pl_key_str(h, seize_precision_name(p));
}

// --- stage 2: the gallery index ------------------------------------------------------------------

typedef struct index_ctx {
    job *j;
    const char *dir; // the index folder
} index_ctx;

// `fresh`: a partial build of other images or another model is discarded.
static int build_index(pl_run *r, void *ctx, int fresh, json_t **by)
{
    const index_ctx *c = ctx;
    const job *j = c->j;
    // NAME<TAB>PATH per image, as seize index build --list reads it (absolute paths; the
    // missing images, already reported, are left out)
    char *list = pl_join(j->dir, "gallery-images.txt");
    char **lines = calloc(j->gl->n + 1, sizeof *lines);
    seize_build_item *items = calloc(j->gl->n + 1, sizeof *items);
    size_t n_lines = 0;
    int rc = lines && items ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < j->gl->n; i++)
        if (!j->g_missing || !j->g_missing[i]) {
            items[n_lines] = (seize_build_item){j->gl->names[i], j->g_paths[i], 0};
            lines[n_lines++] = pl_fmt("%s\t%s", j->gl->names[i], j->g_paths[i]);
        }
    if (rc == 0) rc = pl_write_lines(list, lines, n_lines);
    for (size_t i = 0; lines && i < n_lines; i++)
        free(lines[i]);
    free(lines);
    pl_index_io io = {list, c->dir, fresh, items, n_lines};
    if (rc == 0) rc = r->ops->index_build(r, &io);
    if (rc == 0)
        *by = json_pack("{s:s, s:s, s:s, s:s, s:I}", "source", "seize index build", "model_sha256",
                        r->model_sha, "preprocess", r->o.no_pad ? "clip" : "targetpad-1.25",
                        "precision", seize_precision_name(r->o.precision), "images",
                        (json_int_t)(j->gl->n - j->n_g_missing));
    free(items);
    free(list);
    return rc;
}

// Failed gallery images, from index.json (also when cached: the manifest lists them).
static void index_failures(pl_run *r, job *j, const char *dir)
{
    char *ij = pl_join(dir, "index.json");
    json_t *meta;
    if (seize_json_load(ij, &meta) == 0) {
        json_t *failed = json_object_get(meta, "failed"), *v;
        size_t i;
        char list[768] = "";
        json_array_foreach(failed, i, v)
        {
            const char *name = json_string_value(json_object_get(v, "name"));
            const char *why = json_string_value(json_object_get(v, "reason"));
            if (i < 3) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s%s (%s)", l ? "; " : "", name ? name : "?",
                         why ? why : "?");
            }
            json_array_append_new(r->failed, json_pack("{s:s, s:s, s:s, s:s}", "job", j->name,
                                                       "stage", "index", "item", name ? name : "?",
                                                       "error", why ? why : "?"));
            r->partial = 1;
        }
        size_t nf = json_array_size(failed);
        if (nf)
            pl_warn(r,
                    "%s: %zu gallery image%s left out (cannot be read; permanent, fix or remove "
                    "the file%s): %s%s",
                    j->name, nf, nf == 1 ? "" : "s", nf == 1 ? "" : "s", list,
                    nf > 3 ? "; ..." : "");
        json_decref(meta);
    }
    free(ij);
}

int pl_stage_index(pl_run *r, job *j)
{
    double t0 = seize_now();
    int rc = pl_model_hash(r);
    if (rc < 0) return rc;
    seize_sha256 h;
    seize_sha256_init(&h);
    pl_key_str(&h, "index/1");
    pl_key_str(&h, r->model_sha);
    pl_key_num(&h, r->o.no_pad);
    key_precision(&h, r->o.precision);
    for (size_t i = 0; rc == 0 && i < j->gl->n; i++) {
        pl_key_str(&h, j->gl->names[i]);
        rc = pl_key_file(&h, j->g_paths[i], 0);
    }
    j->key_index = pl_key_final(&h);
    char *dir = pl_join(j->dir, "index"), *feat = pl_join(dir, "features.npy"),
         *names = pl_join(dir, "names.txt");
    const char *outs[] = {feat, names, NULL};
    index_ctx c = {j, dir};
    pl_step s = {j->name, "index", NULL, j->key_index, outs, build_index, &c};
    rc = pl_step_run(r, &s, rc, t0, json_pack("{s:I}", "images", (json_int_t)j->gl->n));
    if (rc == 0) index_failures(r, j, dir);
    free(dir);
    free(feat);
    free(names);
    return rc;
}

// --- stage 3: query features ---------------------------------------------------------------------

static int run_features(pl_run *r, void *ctx, int fresh, json_t **by)
{
    (void)fresh;
    const pl_features_io *io = ctx;
    int rc = r->ops->query_features(r, io);
    if (rc == 0)
        *by =
            json_pack("{s:s, s:s, s:s, s:i, s:b}", "source", "seize query-features", "model_sha256",
                      r->model_sha, "precision", seize_precision_name(r->o.precision),
                      "captions_per_query", r->o.num_captions, "per_caption", io->per_caption);
    return rc;
}

int pl_stage_features(pl_run *r, job *j)
{
    double t0 = seize_now();
    char *ed = pl_join(j->dir, "edits.jsonl"), *fa = pl_join(j->dir, "query-after.npy"),
         *fb = pl_join(j->dir, "query-before.npy");
    int ldre = !strcmp(r->o.method, "ldre");
    int rc = pl_model_hash(r);
    seize_sha256 h;
    seize_sha256_init(&h);
    pl_key_str(&h, "features/1");
    pl_key_str(&h, r->model_sha);
    key_precision(&h, r->o.precision);
    if (rc == 0) rc = pl_key_file(&h, ed, 1);
    pl_key_num(&h, r->o.num_captions);
    pl_key_num(&h, ldre);
    j->key_features = pl_key_final(&h);
    const char *outs[] = {fa, fb, NULL};
    pl_features_io io = {ed, fa, fb, ldre}; // edits.jsonl: the queries in order
    pl_step s = {j->name, "features", NULL, j->key_features, outs, run_features, &io};
    rc = pl_step_run(r, &s, rc, t0, json_pack("{s:I}", "queries", (json_int_t)j->n_q));
    free(ed);
    free(fa);
    free(fb);
    return rc;
}

// --- stage 4: search -----------------------------------------------------------------------------

static int search(pl_run *r, void *ctx, int fresh, json_t **by)
{
    (void)fresh;
    const job *j = ctx;
    char *fa = pl_join(j->dir, "query-after.npy"), *fb = pl_join(j->dir, "query-before.npy"),
         *idx = pl_join(j->dir, "index"), *refs = pl_join(j->dir, "query-references.txt"),
         *out = pl_join(j->dir, "rankings.jsonl");
    // exclusions: the reference's gallery name, or an empty line when it is not in it
    char **ex = calloc(j->n_q + 1, sizeof *ex);
    int rc = ex ? 0 : seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t q = 0; rc == 0 && q < j->n_q; q++)
        ex[q] = j->q_ref_row[q] == SIZE_MAX ? "" : j->gl->names[j->q_ref_row[q]];
    if (rc == 0) rc = pl_write_lines(refs, ex, j->n_q);
    free(ex);
    int cirr = j->kind == SEIZE_DS_CIRR && !j->folder; // subsets (img_set.members) and exclusions
    pl_search_io io = {idx,
                       fa,
                       fb,
                       cirr ? NULL : refs,
                       cirr ? j->layout.annotations : NULL,
                       out,
                       j->folder ? (const char *const *)j->q_id : NULL};
    if (rc == 0) rc = r->ops->search(r, &io);
    const run_opts *o = &r->o;
    if (rc == 0)
        *by = json_pack("{s:s, s:s, s:f, s:f, s:i}", "source", "seize search", "method", o->method,
                        "pos", o->pos, "neg", o->neg, "k", o->k);
    free(fa);
    free(fb);
    free(idx);
    free(refs);
    free(out);
    return rc;
}

int pl_stage_search(pl_run *r, job *j)
{
    const run_opts *o = &r->o;
    double t0 = seize_now();
    char *out = pl_join(j->dir, "rankings.jsonl");
    seize_sha256 h;
    seize_sha256_init(&h);
    pl_key_str(&h, "search/1");
    pl_key_str(&h, j->key_index);
    pl_key_str(&h, j->key_features);
    pl_key_str(&h, o->method);
    pl_key_num(&h, o->pos);
    pl_key_num(&h, o->neg);
    pl_key_num(&h, o->k);
    j->key_search = pl_key_final(&h);
    const char *outs[] = {out, NULL};
    pl_step s = {j->name, "search", NULL, j->key_search, outs, search, j};
    int rc = pl_step_run(
        r, &s, 0, t0,
        json_pack("{s:I, s:I}", "queries", (json_int_t)j->n_q, "gallery", (json_int_t)j->gl->n));
    free(out);
    return rc;
}

// --- stage 5: metrics or submissions -------------------------------------------------------------

// Recall@k (seize_eval_recall) for folder queries with a "target" (the gallery name).
static int folder_metrics(job *j, const char *path)
{
    char *rk = pl_join(j->dir, "rankings.jsonl");
    json_t *rows;
    int rc = seize_jsonl_load(rk, &rows);
    free(rk);
    if (rc < 0) return rc;
    char ***items = calloc(j->n_q + 1, sizeof *items);
    size_t *n_items = calloc(j->n_q + 1, sizeof *n_items);
    if (!items || !n_items) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t q = 0; rc == 0 && q < j->n_q; q++) {
        json_t *rank = json_object_get(json_array_get(rows, q), "ranking");
        if (rank && seize_json_name_list(rank, &items[q], &n_items[q]) == SEIZE_ENOMEM)
            rc = SEIZE_ENOMEM;
    }
    json_decref(rows);
    static const int ks[] = {1, 5, 10, 50};
    double recall[4];
    size_t n = 0;
    if (rc == 0)
        seize_eval_recall(items, n_items, (const char *const *)j->q_target, j->n_q, ks, 4, recall,
                          &n);
    for (size_t q = 0; items && q < j->n_q; q++)
        seize_strv_free(items[q], n_items[q]);
    free(items);
    free(n_items);
    if (rc < 0 || n == 0) return rc;
    json_t *m = json_object();
    for (int t = 0; t < 4; t++) {
        char key[32];
        snprintf(key, sizeof key, "Recall@%d", ks[t]);
        json_object_set_new(m, key, json_real(recall[t]));
    }
    rc = seize_json_save(path, m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(m);
    return rc;
}

// The eval stage into `mp` through a temporary (removed however the run ends).
static int eval_to(pl_run *r, pl_eval_io *io, const char *dir, const char *mp)
{
    char *tmp = pl_join(dir, "metrics.json.part");
    seize_tmp_register(tmp);
    io->out_json = tmp;
    int rc = r->ops->eval(r, io);
    if (rc == 0 && rename(tmp, mp) != 0)
        rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", mp, strerror(errno));
    unlink(tmp);
    seize_tmp_unregister(tmp);
    free(tmp);
    return rc;
}

typedef struct results_ctx {
    job *j;
    char *rk, *mp, *sp, *sr, *ss; // rankings, metrics, CIRCO's and CIRR's submission files
    int val, n_targets;
} results_ctx;

static int write_results(pl_run *r, void *ctx, int fresh, json_t **by)
{
    (void)fresh, (void)by;
    const results_ctx *c = ctx;
    const job *j = c->j;
    const char *ann = j->layout.annotations;
    if (j->folder) return c->n_targets ? folder_metrics(c->j, c->mp) : 0;
    if (c->val && j->kind != SEIZE_DS_FASHIONIQ) {
        pl_eval_io io = {seize_ds_kind_name(j->kind), {ann}, {c->rk}, 1, NULL};
        return eval_to(r, &io, j->dir, c->mp);
    }
    if (!c->val && j->kind == SEIZE_DS_CIRCO) {
        pl_submission_io io = {"circo", c->rk, ann, c->sp, NULL};
        return r->ops->submission(r, &io);
    }
    if (!c->val && j->kind == SEIZE_DS_CIRR) {
        pl_submission_io io = {"cirr", c->rk, ann, c->sr, c->ss};
        return r->ops->submission(r, &io);
    }
    return 0;
}

int pl_stage_results(pl_run *r, job *j)
{
    double t0 = seize_now();
    int rc = 0, val = !strcmp(r->o.split, "val") || j->folder, n_targets = 0;
    for (size_t q = 0; q < j->n_q; q++)
        n_targets += j->folder && j->q_target[q];
    results_ctx c = {j,
                     pl_join(j->dir, "rankings.jsonl"),
                     pl_join(j->dir, "metrics.json"),
                     pl_join(j->dir, "submission.json"),
                     pl_join(j->dir, "submission_recall.json"),
                     pl_join(j->dir, "submission_recall_subset.json"),
                     val,
                     n_targets};
    const char *outs[3] = {NULL, NULL, NULL};
    if ((j->folder && n_targets) || (val && !j->folder && j->kind != SEIZE_DS_FASHIONIQ))
        outs[0] = c.mp;
    else if (!val && j->kind == SEIZE_DS_CIRCO)
        outs[0] = c.sp;
    else if (!val && j->kind == SEIZE_DS_CIRR)
        outs[0] = c.sr, outs[1] = c.ss;
    seize_sha256 h;
    seize_sha256_init(&h);
    pl_key_str(&h, "results/1");
    pl_key_str(&h, j->key_search);
    pl_key_str(&h, r->o.split);
    if (j->layout.annotations) rc = pl_key_file(&h, j->layout.annotations, 1);
    for (size_t q = 0; q < j->n_q; q++)
        pl_key_str(&h, j->q_target[q]);
    char *key = pl_key_final(&h);
    pl_step s = {j->name, val ? "metrics" : "submission", "results", key, outs, write_results, &c};
    rc = pl_step_run(r, &s, rc, t0, NULL);
    free(key);
    free(c.rk);
    free(c.mp);
    free(c.sp);
    free(c.sr);
    free(c.ss);
    return rc;
}

typedef struct fiq_ctx {
    job *jobs;
    size_t n_jobs;
    const char *mp; // the run's metrics.json
} fiq_ctx;

static int fiq_eval(pl_run *r, void *ctx, int fresh, json_t **by)
{
    (void)fresh, (void)by;
    const fiq_ctx *c = ctx;
    pl_eval_io io = {"fashioniq", {0}, {0}, c->n_jobs, NULL};
    char *paths[3] = {0};
    for (size_t i = 0; i < c->n_jobs && i < 3; i++) {
        paths[i] = pl_join(c->jobs[i].dir, "rankings.jsonl");
        io.annotations[i] = c->jobs[i].layout.annotations;
        io.rankings[i] = paths[i];
    }
    int rc = eval_to(r, &io, r->o.out_dir, c->mp);
    for (size_t i = 0; i < 3; i++)
        free(paths[i]);
    return rc;
}

// FashionIQ val: one metrics file over the categories run.
int pl_fiq_metrics(pl_run *r, job *jobs, size_t n_jobs)
{
    double t0 = seize_now();
    char *mp = pl_join(r->o.out_dir, "metrics.json");
    seize_sha256 h;
    seize_sha256_init(&h);
    pl_key_str(&h, "fashioniq-metrics/1");
    int rc = 0;
    for (size_t i = 0; i < n_jobs && rc == 0; i++) {
        pl_key_str(&h, jobs[i].key_search);
        rc = pl_key_file(&h, jobs[i].layout.annotations, 1);
    }
    char *key = pl_key_final(&h);
    const char *outs[] = {mp, NULL};
    fiq_ctx c = {jobs, n_jobs, mp};
    pl_step s = {"fashioniq", "metrics", NULL, key, outs, fiq_eval, &c};
    rc = pl_step_run(r, &s, rc, t0, NULL);
    free(key);
    free(mp);
    return rc;
}
