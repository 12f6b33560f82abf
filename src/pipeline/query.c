// One query at a time in this process (seize_engine_query): the model, tokenizer and index
// are loaded once into an engine and only read; each query runs on an engine state (its own,
// or a temporary one made per call by seize_engine_query), with its own results.
#include "engine_int.h"

#include "seize/retrieval.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (rc == 0) e->pad_ratio = engine_pad_ratio(e->idx);
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
    if (o->method < SEIZE_METHOD_SEIZE || o->method > SEIZE_METHOD_LDRE)
        return seize_error(SEIZE_EINVAL, "query: unknown method %d", o->method);
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

// --- progress (seize_query_options.on_stage), each (stage, done) reported once

typedef struct stage_ctx {
    const seize_query_options *o;
    const char *stage;
    size_t total, last, per; // per: units of the stage per unit of the job's progress
} stage_ctx;

static void stage_report(stage_ctx *c, size_t done)
{
    if (!c->o->on_stage || done == c->last) return;
    c->last = done;
    c->o->on_stage(c->o->stage_user, c->stage, done, c->total);
}

static stage_ctx stage_begin(const seize_query_options *o, const char *stage, size_t total)
{
    stage_ctx c = {o, stage, total, SIZE_MAX, 1};
    stage_report(&c, 0);
    return c;
}

static void on_job_progress(void *user, const seize_stage_progress *p)
{
    stage_ctx *c = user;
    size_t done = p->done * c->per;
    stage_report(c, done < c->total ? done : c->total);
}

static int on_encode_progress(void *ud, size_t done, size_t n_bad)
{
    stage_ctx *c = ud;
    stage_report(c, done < c->total ? done : c->total);
    return 0;
}

// --- the steps of a query

static int caption(const char *image, const seize_query_options *o, seize_query_result *out)
{
    seize_stage_item item = {0};
    const char *images[1] = {image};
    stage_ctx sc = stage_begin(o, "caption", o->n_captions);
    sc.per = o->n_captions; // the job counts images: one here
    seize_caption_job job = {images, 1, o->n_captions, on_job_progress, &sc, o->cancel, NULL};
    int rc = seize_captioner_caption(o->captioner, &job, &item);
    if (item.texts && item.n_texts) {
        out->captions = item.texts;
        out->n_captions = item.n_texts;
        item.texts = NULL;
        item.n_texts = 0;
        rc = 0;
        stage_report(&sc, sc.total);
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
    stage_ctx sc = stage_begin(o, "edit", n);
    seize_reason_job job = {
        (const char *const *)out->captions, texts, NULL, n, on_job_progress, &sc, o->cancel};
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
    if (rc == 0) stage_report(&sc, n);
    if (items) seize_stage_items_release(items, n);
    free(items);
    free(texts);
    return rc;
}

// The query's vectors: A and B (means) as a run's query features; for LDRE also the raw
// per-caption features of the pairs whose edit was done (n_raw of each).
typedef struct qvec {
    float *raw_after, *raw_before;
    size_t n_raw;
} qvec;

static void on_encode_start(void *ud, size_t n_texts)
{
    stage_ctx *c = ud;
    *c = stage_begin(c->o, "encode", n_texts);
}

static int encode(seize_engine_state *s, const seize_query_options *o, seize_query_result *out,
                  qvec *qv)
{
    size_t n = out->n_edits ? out->n_edits : 1;
    char **done = seize_calloc(n, sizeof *done), **caps = seize_calloc(n, sizeof *caps);
    int rc = done && caps ? 0 : SEIZE_ENOMEM;
    size_t n_done = 0;
    for (size_t i = 0; rc == 0 && i < out->n_edits; i++)
        if (out->edits[i]) {
            caps[n_done] = out->captions[i];
            done[n_done++] = out->edits[i];
        }
    int ldre = o->method == SEIZE_METHOD_LDRE;
    // LDRE pairs caption i with its edit: only the pairs done
    seize_captions c = {
        1, NULL, ldre ? &caps : &out->captions, ldre ? &n_done : &out->n_captions, &done, &n_done};
    seize_query_vectors_params p = seize_query_vectors_default_params();
    p.n_use = ldre || out->n_captions <= n_done ? n_done : out->n_captions;
    p.per_caption = ldre;
    stage_ctx sc = {o, "encode", 0, SIZE_MAX, 1};
    p.on_start = on_encode_start;
    p.on_progress = on_encode_progress;
    p.progress_ud = &sc;
    seize_query_vectors v = {0};
    if (rc == 0) rc = seize_query_vectors_encode(s->clip, s->e->tok, &c, NULL, &p, &v);
    if (rc == 0) stage_report(&sc, sc.total);
    out->dim = rc == 0 ? v.dim : 0;
    if (rc == 0 && !ldre) {
        out->after = v.after;
        out->before = v.before;
        v.after = v.before = NULL;
    } else if (rc == 0) {
        qv->raw_after = v.after;
        qv->raw_before = v.before;
        qv->n_raw = n_done;
        v.after = v.before = NULL;
        out->after = seize_calloc(v.dim, sizeof(float));
        out->before = seize_calloc(v.dim, sizeof(float));
        if (!out->after || !out->before)
            rc = SEIZE_ENOMEM;
        else
            seize_query_vector_mean(qv->raw_before, n_done, v.dim, out->before);
    }
    seize_query_vectors_release(&v);
    free(done);
    free(caps);
    return rc;
}

// LDRE's query vector normalize(Σ w_i normalize(e_i)) into out->after (for a and b).
static void ldre_vector(const qvec *qv, const float *w, seize_query_result *out)
{
    size_t D = out->dim;
    double *acc = seize_calloc(D, sizeof *acc);
    float *f = seize_calloc(D, sizeof *f);
    for (size_t i = 0; acc && f && i < qv->n_raw; i++) {
        memcpy(f, qv->raw_after + i * D, D * sizeof *f);
        seize_normalize_rows(f, 1, D);
        for (size_t j = 0; j < D; j++)
            acc[j] += (double)w[i] * f[j];
    }
    for (size_t j = 0; acc && j < D; j++)
        out->after[j] = (float)acc[j];
    seize_normalize_rows(out->after, 1, D);
    free(acc);
    free(f);
}

// seize_search (SEIZE, MEAN) or seize_search_ldre on the engine's gallery.
static int search(seize_engine_state *s, const seize_query_options *o, seize_query_result *out,
                  const qvec *qv, seize_search_result **res)
{
    seize_search_weights w = seize_search_weights_for(SEIZE_DS_CIRCO); // a folder's (retrieval.h)
    seize_search_params p = seize_search_default_params();
    p.pos = (float)(isnan(o->pos) ? w.pos : o->pos);
    p.neg = (float)(isnan(o->neg) ? w.neg : o->neg);
    if (o->method != SEIZE_METHOD_SEIZE) p.pos = p.neg = 0.0f;
    p.k = o->k;
    p.pool = s->pool;
    p.n_threads = s->p.n_threads;
    seize_embeddings g = seize_index_embeddings(s->e->idx);
    size_t exclude = out->reference_row;
    if (o->method != SEIZE_METHOD_LDRE) {
        const float *B = o->method == SEIZE_METHOD_SEIZE ? out->before : NULL;
        int rc = engine_scan(s, out->after, B, 1, &exclude, p.k, p.pos, p.neg, res);
        return rc <= 0 ? rc : seize_search(&g, out->after, out->before, 1, &exclude, NULL, &p, res);
    }
    float *wts = seize_calloc(qv->n_raw, sizeof *wts);
    if (!wts) return SEIZE_ENOMEM;
    int rc = seize_search_ldre(&g, qv->raw_after, qv->raw_before, 1, qv->n_raw, &exclude, NULL, &p,
                               wts, res);
    if (rc == 0) ldre_vector(qv, wts, out);
    free(wts);
    return rc;
}

// The ranking with a and b per result.
static int rank(seize_engine_state *s, const seize_query_options *o, seize_query_result *out,
                const qvec *qv)
{
    stage_ctx sc = stage_begin(o, "search", 1);
    seize_search_result *res = NULL;
    int rc = search(s, o, out, qv, &res);
    seize_embeddings g = seize_index_embeddings(s->e->idx);
    size_t n = rc == 0 ? res->n_ranked[0] : 0;
    float *ab = rc == 0 ? seize_calloc(2 * (n ? n : 1), sizeof *ab) : NULL;
    out->hits = rc == 0 ? seize_calloc(n ? n : 1, sizeof *out->hits) : NULL;
    if (rc == 0 && (!ab || !out->hits)) rc = SEIZE_ENOMEM;
    if (rc == 0) rc = seize_search_ab(&g, out->after, out->before, res->index, n, ab, ab + n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        seize_query_hit *h = &out->hits[i];
        h->row = res->index[i];
        h->name = seize_index_name(s->e->idx, h->row);
        h->score = res->score[i];
        h->a = ab[i];
        h->b = ab[n + i];
        h->increment = h->a - h->b;
    }
    if (rc == 0) out->n_hits = n;
    if (rc == 0) stage_report(&sc, 1);
    free(ab);
    seize_search_result_free(res);
    return rc;
}

int seize_engine_query_state(seize_engine_state *s, const char *reference,
                             const char *relative_text, const seize_query_options *o,
                             seize_query_result *out)
{
    memset(out, 0, sizeof *out);
    out->reference_row = SIZE_MAX;
    char *image = NULL;
    qvec qv = {0};
    int rc = check_args(reference, relative_text, o);
    if (rc == 0) rc = resolve_reference(s->e, reference, &image, &out->reference_row);
    if (rc == 0) rc = caption(image, o, out);
    if (rc == 0) rc = seize_cancel_check(o->cancel);
    if (rc == 0) rc = reason(relative_text, o, out);
    if (rc == 0) rc = encode(s, o, out, &qv);
    if (rc == 0) rc = rank(s, o, out, &qv);
    free(image);
    free(qv.raw_after);
    free(qv.raw_before);
    if (rc < 0) seize_query_result_release(out);
    return rc;
}

int seize_engine_query(const seize_engine *e, const char *reference, const char *relative_text,
                       const seize_query_options *o, seize_query_result *out)
{
    memset(out, 0, sizeof *out);
    out->reference_row = SIZE_MAX;
    int rc = check_args(reference, relative_text, o);
    if (rc < 0) return rc;
    // the batch of a run's query features (seize_run_params.batch's default)
    seize_engine_state_params sp = seize_engine_state_default_params();
    sp.max_batch = 32;
    sp.n_threads = o->n_threads > 0 ? o->n_threads : 1;
    sp.precision = o->precision;
    seize_engine_state *s = NULL;
    rc = seize_engine_state_new(e, &sp, &s);
    if (rc == 0) rc = seize_engine_query_state(s, reference, relative_text, o, out);
    seize_engine_state_free(s);
    return rc;
}
