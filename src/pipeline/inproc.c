// The stages that already exist as library calls, run in this process behind the stage seam
// (stages.h), and the table seize_run uses: today the query features are in-process, the
// submission files too; the other stages are still the spawned commands (spawn.c).
#include "stages.h"

#include "seize/clip.h"
#include "seize/eval.h"
#include "seize/model.h"
#include "seize/retrieval.h"
#include "seize/text.h"

// A cancelled run stops the encoding between batches.
static int features_progress(void *ud, size_t done, size_t n_bad)
{
    (void)done;
    (void)n_bad;
    return pl_cancelled(ud);
}

// Query vectors A and B (per caption for LDRE) from edits.jsonl, as seize query-features
// writes them: the same library calls, so the same bytes.
static int inproc_query_features(pl_run *r, const pl_features_io *io)
{
    const run_opts *o = &r->o;
    seize_captions *cap = NULL;
    seize_model *m = NULL;
    seize_clip *clip = NULL;
    seize_tokenizer *tok = NULL;
    seize_query_vectors v = {0};
    seize_query_vectors_params p = seize_query_vectors_default_params();
    p.n_use = (size_t)o->num_captions;
    p.per_caption = io->per_caption;
    p.captions_name = io->captions;
    p.on_progress = features_progress;
    p.progress_ud = r;
    // the inputs are checked before the model is loaded
    int rc = seize_captions_load(io->captions, NULL, NULL, &cap);
    if (rc == 0) rc = seize_query_vectors_check(cap, NULL, &p, NULL);
    if (rc == 0) rc = seize_model_load(o->model_dir, &m);
    if (rc == 0) {
        // the CLIP state's pool makes one single-threaded BLAS call per thread (clip.h)
        seize_blas_threads_set(1);
        rc = seize_clip_new(m, o->batch, o->threads > 0 ? o->threads : seize_cpu_count(), &clip);
    }
    if (rc == 0) rc = seize_tokenizer_load(o->model_dir, &tok);
    if (rc == 0) rc = seize_query_vectors_encode(clip, tok, cap, NULL, &p, &v);
    if (rc == 0) rc = seize_query_vectors_save(&v, io->out_after, io->out_before);
    if (rc < 0) seize_error_prefix(rc, "query features of '%s'", io->captions);
    seize_query_vectors_release(&v);
    seize_tokenizer_free(tok);
    seize_clip_free(clip);
    seize_model_free(m);
    seize_captions_free(cap);
    return rc;
}

// The test-server files from the rankings, as seize submission writes them.
static int inproc_submission(pl_run *r, const pl_submission_io *io)
{
    (void)r;
    seize_ds_kind kind;
    int rc = seize_ds_kind_parse(io->dataset, &kind);
    if (rc == 0 && kind == SEIZE_DS_FASHIONIQ)
        rc = seize_error(SEIZE_EINVAL, "submission files exist for circo and cirr");
    seize_dataset *ds = NULL;
    seize_predictions *p = NULL, *s = NULL;
    if (rc == 0) rc = seize_dataset_load(kind, io->annotations, &ds);
    if (rc == 0) rc = seize_predictions_load_rankings(ds, io->rankings, "ranking", &p);
    if (rc == 0 && kind == SEIZE_DS_CIRCO) rc = seize_submission_write_circo(ds, p, io->out);
    if (rc == 0 && kind == SEIZE_DS_CIRR) {
        if (io->out_subset) rc = seize_predictions_load_rankings(ds, io->rankings, "subset", &s);
        if (rc == 0) rc = seize_submission_write_cirr(ds, p, 0, io->out);
        if (rc == 0 && io->out_subset) rc = seize_submission_write_cirr(ds, s, 1, io->out_subset);
    }
    seize_predictions_free(p);
    seize_predictions_free(s);
    seize_dataset_free(ds);
    return rc;
}

// The in-process stages (NULL: not yet a library call).
const pl_stage_ops pl_inproc_stages = {
    .query_features = inproc_query_features,
    .submission = inproc_submission,
};

pl_stage_ops pl_stage_table(void)
{
    pl_stage_ops t = pl_spawned_stages;
    if (pl_inproc_stages.caption) t.caption = pl_inproc_stages.caption;
    if (pl_inproc_stages.reason) t.reason = pl_inproc_stages.reason;
    if (pl_inproc_stages.index_build) t.index_build = pl_inproc_stages.index_build;
    if (pl_inproc_stages.query_features) t.query_features = pl_inproc_stages.query_features;
    if (pl_inproc_stages.search) t.search = pl_inproc_stages.search;
    if (pl_inproc_stages.eval) t.eval = pl_inproc_stages.eval;
    if (pl_inproc_stages.submission) t.submission = pl_inproc_stages.submission;
    return t;
}
