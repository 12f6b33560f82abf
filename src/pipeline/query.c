// One query at a time in this process (seize_engine_query): the model, tokenizer and index
// are loaded once into an engine and only read; each call makes its own CLIP state, search
// and results.
#include "seize/pipeline.h"

#include "seize/clip.h"
#include "seize/index.h"
#include "seize/model.h"
#include "seize/retrieval.h"
#include "seize/text.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seize_engine {
    seize_clip_model *model;
    seize_tokenizer *tok;
    seize_index *idx;
    char *gallery_dir;
    unsigned loads; // files loaded; only seize_engine_open adds to it
};

int seize_engine_open(const char *model_dir, const char *index_dir, const char *gallery_dir,
                      seize_engine **out)
{
    *out = NULL;
    seize_engine *e = seize_calloc(1, sizeof *e);
    if (!e) return SEIZE_ENOMEM;
    int rc = seize_clip_model_load(model_dir, &e->model);
    e->loads += rc == 0;
    if (rc == 0) rc = seize_tokenizer_load(model_dir, &e->tok);
    e->loads += rc == 0;
    if (rc == 0) rc = seize_index_open(index_dir, &e->idx);
    e->loads += rc == 0;
    size_t dim = rc == 0 ? (size_t)seize_clip_model_get_config(e->model)->embed_dim : 0;
    if (rc == 0 && seize_index_dim(e->idx) != dim)
        rc = seize_error(SEIZE_ESHAPE, "index '%s' has dimension %zu but the model '%s' has %zu",
                         index_dir, seize_index_dim(e->idx), model_dir, dim);
    if (rc == 0 && gallery_dir && !(e->gallery_dir = seize_strdup(gallery_dir))) rc = SEIZE_ENOMEM;
    if (rc < 0) {
        seize_engine_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void seize_engine_free(seize_engine *e)
{
    if (!e) return;
    seize_index_free(e->idx);
    seize_tokenizer_free(e->tok);
    seize_clip_model_free(e->model);
    free(e->gallery_dir);
    free(e);
}

unsigned seize_engine_loads(const seize_engine *e)
{
    return e->loads;
}

const struct seize_index *seize_engine_index(const seize_engine *e)
{
    return e->idx;
}

seize_query_options seize_query_default_options(void)
{
    seize_query_options o = {0};
    o.n_captions = 15;
    o.k = 50;
    o.pos = NAN;
    o.neg = NAN;
    o.n_threads = 1;
    return o;
}

void seize_query_result_release(seize_query_result *r)
{
    seize_strv_free(r->captions, r->n_captions);
    for (size_t i = 0; r->edits && i < r->n_edits; i++)
        free(r->edits[i]);
    free(r->edits);
    free(r->hits);
    free(r->after);
    free(r->before);
    memset(r, 0, sizeof *r);
    r->reference_row = SIZE_MAX;
}

// --- the steps of a query

static int check_args(const char *reference, const char *text, const seize_query_options *o)
{
    if (!o->captioner || !o->reasoner)
        return seize_error(SEIZE_EINVAL, "query: a captioner and a reasoner are required");
    if (!reference || !*reference) return seize_error(SEIZE_EINVAL, "query: no reference");
    if (!text || !*text) return seize_error(SEIZE_EINVAL, "query: no relative text");
    size_t len = strlen(text);
    if (len > SEIZE_STAGE_MAX_TEXT || !seize_utf8_valid(text, len))
        return seize_error(SEIZE_EINVAL,
                           "query: the relative text is not UTF-8 of at most %zu bytes",
                           SEIZE_STAGE_MAX_TEXT);
    if (o->n_captions == 0 || o->k == 0)
        return seize_error(SEIZE_EINVAL, "query: n_captions and k must be at least 1");
    return 0;
}

// The image to caption: a gallery name's (excluded from the ranking), else the path itself.
static int resolve_reference(const seize_engine *e, const char *reference, char **image,
                             size_t *row)
{
    *row = SIZE_MAX;
    if (seize_index_find(e->idx, reference, row) == 0) {
        if (!e->gallery_dir)
            return seize_error(SEIZE_EINVAL,
                               "query: '%s' is a gallery name, but the engine has no gallery "
                               "folder to find its image in",
                               reference);
        size_t n = strlen(e->gallery_dir) + strlen(reference) + 2;
        *image = seize_malloc(n, 1);
        if (*image) snprintf(*image, n, "%s/%s", e->gallery_dir, reference);
    } else {
        *row = SIZE_MAX;
        *image = seize_strdup(reference);
    }
    return *image ? 0 : SEIZE_ENOMEM;
}

static int caption(const char *image, const seize_query_options *o, seize_query_result *out)
{
    seize_stage_item item = {0};
    const char *images[1] = {image};
    seize_caption_job job = {images, 1, o->n_captions, NULL, NULL, o->cancel, NULL};
    int rc = seize_captioner_caption(o->captioner, &job, &item);
    if (item.texts && item.n_texts) {
        out->captions = item.texts;
        out->n_captions = item.n_texts;
        item.texts = NULL;
        item.n_texts = 0;
        rc = 0;
    } else if (rc == 0 || item.error) {
        rc = seize_error(rc < 0 ? rc : SEIZE_ENET, "query: captioning '%s' failed: %s", image,
                         item.error ? item.error : "no captions");
    }
    seize_stage_items_release(&item, 1);
    return rc;
}

static int reason(const char *text, const seize_query_options *o, seize_query_result *out)
{
    size_t n = out->n_captions;
    const char **texts = seize_calloc(n, sizeof *texts);
    seize_stage_item *items = seize_calloc(n, sizeof *items);
    out->edits = seize_calloc(n, sizeof *out->edits);
    int rc = texts && items && out->edits ? 0 : SEIZE_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        texts[i] = text;
    seize_reason_job job = {
        (const char *const *)out->captions, texts, NULL, n, NULL, NULL, o->cancel};
    if (rc == 0) rc = seize_reasoner_reason(o->reasoner, &job, items);
    const char *why = NULL;
    size_t done = 0;
    for (size_t i = 0; items && out->edits && i < n; i++) {
        if (items[i].texts && items[i].n_texts) {
            out->edits[i] = items[i].texts[0];
            items[i].texts[0] = NULL;
            done++;
        } else if (!why) {
            why = items[i].error;
        }
    }
    out->n_edits = out->edits ? n : 0;
    if ((rc == 0 || rc == SEIZE_ENET) && done == 0)
        rc = seize_error(SEIZE_ENET, "query: every edit failed: %s", why ? why : "no text");
    else if (rc == SEIZE_ENET)
        rc = 0; // the edits done are used, as a run uses them
    if (items) seize_stage_items_release(items, n);
    free(items);
    free(texts);
    return rc;
}

// A and B from the captions and the edits done, as a run's query features.
static int encode(const seize_engine *e, const seize_query_options *o, seize_query_result *out)
{
    char **done = seize_calloc(out->n_edits ? out->n_edits : 1, sizeof *done);
    if (!done) return SEIZE_ENOMEM;
    size_t n_done = 0;
    for (size_t i = 0; i < out->n_edits; i++)
        if (out->edits[i]) done[n_done++] = out->edits[i];
    seize_captions caps = {1, NULL, &out->captions, &out->n_captions, &done, &n_done};
    seize_query_vectors_params p = seize_query_vectors_default_params();
    p.n_use = out->n_captions > n_done ? out->n_captions : n_done;
    seize_query_vectors v = {0};
    seize_clip *clip = NULL;
    // the batch of a run's query features (seize_run_params.batch's default)
    seize_clip_params cp = {
        .max_batch = 32, .threads = o->n_threads > 0 ? o->n_threads : 1, .precision = o->precision};
    int rc = seize_clip_open(e->model, cp, &clip);
    if (rc == 0) rc = seize_query_vectors_encode(clip, e->tok, &caps, NULL, &p, &v);
    if (rc == 0) {
        out->dim = v.dim;
        out->after = v.after;
        out->before = v.before;
        v.after = v.before = NULL;
    }
    seize_query_vectors_release(&v);
    seize_clip_free(clip);
    free(done);
    return rc;
}

// The ranking: seize_search on the engine's gallery, a and b per result.
static int rank(const seize_engine *e, const seize_query_options *o, seize_query_result *out)
{
    seize_search_weights w = seize_search_weights_for(SEIZE_DS_CIRCO); // a folder's (retrieval.h)
    seize_search_params p = seize_search_default_params();
    p.pos = (float)(isnan(o->pos) ? w.pos : o->pos);
    p.neg = (float)(isnan(o->neg) ? w.neg : o->neg);
    p.k = o->k;
    p.n_threads = o->n_threads > 0 ? o->n_threads : 1;
    seize_embeddings g = seize_index_embeddings(e->idx);
    seize_search_result *res = NULL;
    size_t exclude = out->reference_row;
    int rc = seize_search(&g, out->after, out->before, 1, &exclude, NULL, &p, &res);
    size_t n = rc == 0 ? res->n_ranked[0] : 0;
    float *ab = rc == 0 ? seize_calloc(2 * (n ? n : 1), sizeof *ab) : NULL;
    out->hits = rc == 0 ? seize_calloc(n ? n : 1, sizeof *out->hits) : NULL;
    if (rc == 0 && (!ab || !out->hits)) rc = SEIZE_ENOMEM;
    if (rc == 0) rc = seize_search_ab(&g, out->after, out->before, res->index, n, ab, ab + n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        seize_query_hit *h = &out->hits[i];
        h->row = res->index[i];
        h->name = seize_index_name(e->idx, h->row);
        h->score = res->score[i];
        h->a = ab[i];
        h->b = ab[n + i];
        h->increment = h->a - h->b;
    }
    if (rc == 0) out->n_hits = n;
    free(ab);
    seize_search_result_free(res);
    return rc;
}

int seize_engine_query(const seize_engine *e, const char *reference, const char *relative_text,
                       const seize_query_options *o, seize_query_result *out)
{
    memset(out, 0, sizeof *out);
    out->reference_row = SIZE_MAX;
    char *image = NULL;
    int rc = check_args(reference, relative_text, o);
    if (rc == 0) rc = resolve_reference(e, reference, &image, &out->reference_row);
    if (rc == 0) rc = caption(image, o, out);
    if (rc == 0) rc = seize_cancel_check(o->cancel);
    if (rc == 0) rc = reason(relative_text, o, out);
    if (rc == 0) rc = encode(e, o, out);
    if (rc == 0) rc = rank(e, o, out);
    free(image);
    if (rc < 0) seize_query_result_release(out);
    return rc;
}
