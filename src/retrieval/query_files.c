// Query vectors from files, as seize query-features computes them.
#include "seize/retrieval.h"

#include <string.h>

int seize_query_vectors_files_run(const seize_query_vectors_files *f, seize_query_vectors *out)
{
    memset(out, 0, sizeof *out);
    seize_captions *caps = NULL, *eds = NULL;
    seize_clip_model *m = NULL;
    seize_clip *clip = NULL;
    seize_tokenizer *tok = NULL;
    seize_query_vectors_params p = f->params;
    p.captions_name = f->captions;
    p.edits_name = f->edits;
    const char *ecaps_key = f->edits_key ? f->edits_key : f->captions_key;
    int rc = seize_captions_load(f->captions, f->captions_key, f->edits_key, &caps);
    if (rc == 0 && f->edits) rc = seize_captions_load(f->edits, ecaps_key, f->edits_key, &eds);
    if (rc == 0) rc = seize_query_vectors_check(caps, eds, &p, NULL); // before the model
    if (rc == 0) rc = seize_clip_model_load(f->model_dir, &m);
    seize_clip_params cp = {
        .max_batch = f->max_batch, .threads = f->n_threads, .precision = f->precision};
    if (rc == 0) rc = seize_clip_open(m, cp, &clip);
    if (rc == 0) rc = seize_tokenizer_load(f->model_dir, &tok);
    if (rc == 0) rc = seize_query_vectors_encode(clip, tok, caps, eds, &p, out);
    if (rc == 0) rc = seize_query_vectors_save(out, f->out_after, f->out_before);
    if (rc < 0) seize_query_vectors_release(out);
    seize_tokenizer_free(tok);
    seize_clip_free(clip);
    seize_clip_model_free(m);
    seize_captions_free(caps);
    seize_captions_free(eds);
    return rc;
}
