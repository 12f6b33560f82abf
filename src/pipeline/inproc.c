// The stages that exist as library calls, run in this process behind the stage seam
// (stages.h), and the table seize_run uses: the index build, the query features, the search,
// the submission files and the metrics here; captioning and editing in stage_llm.c.
#include "stages.h"

#include "seize/clip.h"
#include "seize/cluster.h"
#include "seize/eval.h"
#include "seize/index.h"
#include "seize/model.h"
#include "seize/retrieval.h"
#include "seize/text.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

// The query features' progress (texts) for a run, which stops the encoding between batches
// when cancelled.
typedef struct features_ctx {
    pl_run *r;
    size_t total; // texts to encode
} features_ctx;

static int features_progress(void *ud, size_t done, size_t n_bad)
{
    features_ctx *c = ud;
    pl_progress(c->r, done, c->total, n_bad);
    return pl_cancelled(c->r);
}

static int index_progress(void *ud, size_t done, size_t n, size_t n_failed)
{
    pl_progress(ud, done, n, n_failed);
    return 0; // a cancelled run stops the build through p.cancel
}

// Notes of the in-process index build: a resumed or discarded unfinished build.
static void index_resume_note(void *ud, size_t done, size_t n, const char *discarded)
{
    pl_run *r = ud;
    if (discarded)
        pl_say(r, "note: discarding the unfinished index build (%s); starting over", discarded);
    else
        pl_say(r, "index: resuming after %zu of %zu images", done, n);
}

// The gallery index, as seize index build --list writes it (the same library call, so the same
// bytes, and the same build state: a build left by either resumes in the other).
static int inproc_index_build(pl_run *r, const pl_index_io *io)
{
    const run_opts *o = &r->o;
    seize_index_build_params p = seize_index_build_default_params();
    p.out_dir = io->out_dir;
    p.model_dir = o->model_dir;
    p.batch = o->batch;
    p.threads = o->threads;
    p.precision = o->precision;
    p.no_pad = o->no_pad;
    p.restart = io->restart;
    char *source = pl_fmt("list:%s", io->list);
    p.source = source;
    p.on_resume = index_resume_note;
    p.on_progress = index_progress;
    p.ud = r;
    p.cancel = r->p && r->p->cancel ? &r->p->cancel->token : NULL;
    // the CLIP state's pool makes one single-threaded BLAS call per thread (clip.h)
    seize_blas_threads_set(1);
    int rc = source ? seize_cluster_lead_index_build(&p, io->items, io->n, NULL) // mpirun: ranks
                    : seize_error(SEIZE_ENOMEM, "out of memory");
    free(source);
    return rc;
}

// Query vectors A and B (per caption for LDRE) from edits.jsonl, as seize query-features
// writes them: the same library calls, so the same bytes.
static int inproc_query_features(pl_run *r, const pl_features_io *io)
{
    const run_opts *o = &r->o;
    seize_captions *cap = NULL;
    seize_clip_model *m = NULL;
    seize_clip *clip = NULL;
    seize_tokenizer *tok = NULL;
    seize_query_vectors v = {0};
    seize_query_vectors_params p = seize_query_vectors_default_params();
    p.n_use = (size_t)o->num_captions;
    p.per_caption = io->per_caption;
    p.captions_name = io->captions;
    features_ctx ctx = {r, 0};
    p.on_progress = features_progress;
    p.progress_ud = &ctx;
    // the inputs are checked before the model is loaded
    int rc = seize_captions_load(io->captions, NULL, NULL, &cap);
    if (rc == 0) rc = seize_query_vectors_check(cap, NULL, &p, &ctx.total);
    if (rc == 0) rc = seize_clip_model_load(o->model_dir, &m);
    if (rc == 0) {
        // the CLIP state's pool makes one single-threaded BLAS call per thread (clip.h)
        seize_blas_threads_set(1);
        seize_clip_params cp = {.max_batch = o->batch,
                                .threads = o->threads > 0 ? o->threads : seize_cpu_count(),
                                .precision = o->precision};
        rc = seize_clip_open(m, cp, &clip);
    }
    if (rc == 0) rc = seize_tokenizer_load(o->model_dir, &tok);
    if (rc == 0) rc = seize_query_vectors_encode(clip, tok, cap, NULL, &p, &v);
    if (rc == 0) rc = seize_query_vectors_save(&v, io->out_after, io->out_before);
    if (rc < 0) seize_error_prefix(rc, "query features of '%s'", io->captions);
    seize_query_vectors_release(&v);
    seize_tokenizer_free(tok);
    seize_clip_free(clip);
    seize_clip_model_free(m);
    seize_captions_free(cap);
    return rc;
}

// rankings.jsonl, as seize search writes it (with the query ids of a folder run): the
// exclusions and subsets are CIRR's from its annotations, else the references' names from the
// exclude file; the search runs on the run's threads, BLAS on as many for the gallery products.
static int inproc_search(pl_run *r, const pl_search_io *io)
{
    const run_opts *o = &r->o;
    seize_search_files f = seize_search_files_default();
    f.index_dir = io->index_dir, f.after = io->after, f.before = io->before, f.out = io->out;
    f.exclude = io->exclude, f.query_ids = io->query_ids;
    if (io->cirr_annotations) f.annotations = io->cirr_annotations, f.kind = SEIZE_DS_CIRR;
    int rc = seize_method_parse(o->method, &f.method); // (checked by seize_run)
    f.params.pos = (float)o->pos, f.params.neg = (float)o->neg, f.params.k = (size_t)o->k;
    f.params.n_threads = seize_cluster_threads(o->threads); // 0: the cores / ranks on the node
    seize_blas_threads_set(f.params.n_threads); // one big product per block: BLAS threads it
    return rc < 0 ? rc : seize_cluster_lead_search(&f); // mpirun: every rank searches its rows
}

// The test-server files from the rankings, as seize submission writes them.
static int inproc_submission(pl_run *r, const pl_submission_io *io)
{
    (void)r;
    seize_ds_kind kind;
    int rc = seize_ds_kind_parse(io->dataset, &kind);
    if (rc == 0)
        rc = seize_submission_from_rankings(kind, io->annotations, io->rankings, io->out,
                                            io->out_subset, NULL);
    return rc;
}

// metrics.json from the rankings, as seize eval --json prints it (the same bytes).
static int inproc_eval(pl_run *r, const pl_eval_io *io)
{
    (void)r;
    seize_ds_kind kind;
    int rc = seize_ds_kind_parse(io->dataset, &kind);
    seize_eval_files f[3] = {{0}};
    for (size_t i = 0; i < io->n && i < 3; i++) {
        f[i].annotations = io->annotations[i];
        f[i].rankings = io->rankings[i];
    }
    json_t *m = NULL;
    if (rc == 0) rc = seize_eval_metrics(kind, f, io->n < 3 ? io->n : 3, &m);
    if (rc == 0) rc = seize_eval_metrics_save(io->out_json, m);
    json_decref(m);
    return rc;
}

// The stages of a run, all in this process.
const pl_stage_ops pl_inproc_stages = {
    .caption = pl_inproc_caption,
    .reason = pl_inproc_reason,
    .index_build = inproc_index_build,
    .query_features = inproc_query_features,
    .search = inproc_search,
    .eval = inproc_eval,
    .submission = inproc_submission,
};

pl_stage_ops pl_stage_table(void)
{
    return pl_inproc_stages;
}
