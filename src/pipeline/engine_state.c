// Engine states (seize_engine_state_*): one worker's CLIP state, search threads and scratch on a
// shared engine, made once; the embeddings and the plain similarity ranking of seize serve.
#include "engine_int.h"

#include "seize/retrieval.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

seize_engine_state_params seize_engine_state_default_params(void)
{
    seize_engine_state_params p = {0};
    p.max_batch = 32;
    p.n_threads = 1;
    p.precision = SEIZE_PRECISION_FP32;
    return p;
}

double engine_pad_ratio(const seize_index *idx)
{
    const char *pre = json_string_value(json_object_get(seize_index_json(idx), "preprocess"));
    if (pre && (!strncmp(pre, "no pad", 6) || !strcmp(pre, "clip"))) return 0.0;
    return 1.25; // "TargetPad 1.25, ...", "targetpad-1.25", or not recorded (an import)
}

// The tokenizer's ids must all be the model's.
static int check_vocab(const seize_engine_state *s)
{
    int nt = seize_tokenizer_vocab_size(s->e->tok), nm = seize_clip_vocab_size(s->clip);
    if (nt > nm)
        return seize_error(SEIZE_EINVAL, "the tokenizer has %d ids but the model only %d", nt, nm);
    return 0;
}

int seize_engine_state_new(const seize_engine *e, const seize_engine_state_params *p,
                           seize_engine_state **out)
{
    *out = NULL;
    if (!e || !p || p->max_batch < 1 || p->max_batch > 4096 || p->n_threads < 1 ||
        p->n_threads > 1024)
        return seize_error(SEIZE_EINVAL,
                           "engine state: max_batch must be 1..4096 and n_threads 1..1024");
    seize_engine_state *s = seize_calloc(1, sizeof *s);
    if (!s) return SEIZE_ENOMEM;
    s->e = e;
    s->p = *p;
    seize_clip_params cp = {
        .max_batch = p->max_batch, .threads = p->n_threads, .precision = p->precision};
    int rc = seize_clip_open(e->model, cp, &s->clip);
    if (rc == 0) rc = check_vocab(s);
    if (rc == 0) rc = seize_pool_new(p->n_threads, &s->pool);
    if (rc == 0) {
        s->dim = seize_clip_embed_dim(s->clip);
        s->context = (size_t)seize_clip_context_length(s->clip);
        s->pre = seize_preprocess_default_opts();
        s->pre.pad_ratio = e->pad_ratio;
        s->pre.size = seize_clip_image_size(s->clip);
    }
    if (rc < 0) {
        seize_engine_state_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void seize_engine_state_free(seize_engine_state *s)
{
    if (!s) return;
    seize_pool_free(s->pool);
    seize_clip_free(s->clip);
    free(s->ids);
    free(s->pixels);
    free(s);
}

// --- embeddings

int engine_check_text(const char *text, size_t i)
{
    char what[40] = "the text";
    if (i != SIZE_MAX) snprintf(what, sizeof what, "text %zu", i);
    size_t len = text ? strlen(text) : 0;
    if (!len) return seize_error(SEIZE_EINVAL, "%s is empty", what);
    if (len > SEIZE_TEXT_MAX_BYTES)
        return seize_error(SEIZE_EINVAL, "%s has %zu bytes (at most %zu)", what, len,
                           SEIZE_TEXT_MAX_BYTES);
    if (!seize_utf8_valid(text, len)) return seize_error(SEIZE_EINVAL, "%s is not UTF-8", what);
    return 0;
}

int seize_engine_embed_texts(seize_engine_state *s, const char *const *texts, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        int rc = engine_check_text(texts[i], i);
        if (rc < 0) return rc;
    }
    if (n == 0) return 0;
    if (n > s->cap_ids) {
        if (n > SIZE_MAX / sizeof(int32_t) / s->context) return SEIZE_ENOMEM;
        int32_t *ids = realloc(s->ids, n * s->context * sizeof *ids);
        if (!ids) return seize_error(SEIZE_ENOMEM, "out of memory");
        s->ids = ids;
        s->cap_ids = n;
    }
    int rc = seize_tokenizer_encode_batch(s->e->tok, texts, n, (int)s->context, s->ids);
    if (rc == 0) rc = seize_clip_encode_tokens(s->clip, s->ids, n, out);
    if (rc == 0) seize_normalize_rows(out, n, s->dim);
    return rc;
}

int engine_pixels_reserve(seize_engine_state *s, size_t n)
{
    if (n <= s->cap_px) return 0;
    size_t per = 3 * (size_t)s->pre.size * (size_t)s->pre.size;
    if (n > SIZE_MAX / sizeof(float) / per) return seize_error(SEIZE_ENOMEM, "out of memory");
    float *px = realloc(s->pixels, n * per * sizeof *px);
    if (!px) return seize_error(SEIZE_ENOMEM, "out of memory");
    s->pixels = px;
    s->cap_px = n;
    return 0;
}

int engine_preprocess(seize_engine_state *s, const seize_image *img, size_t i, size_t slot)
{
    char what[40] = "the image";
    if (i != SIZE_MAX) snprintf(what, sizeof what, "image %zu", i);
    if (!img || !img->data || !img->width || !img->height)
        return seize_error(SEIZE_EINVAL, "%s is empty", what);
    size_t per = 3 * (size_t)s->pre.size * (size_t)s->pre.size;
    int rc = seize_image_preprocess(img, &s->pre, s->pixels + slot * per);
    if (rc < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", seize_errmsg());
        return seize_error(rc, "%s: %s", what, why);
    }
    return 0;
}

int engine_encode_pixels(seize_engine_state *s, size_t n, float *out)
{
    int rc = seize_clip_encode_images(s->clip, s->pixels, n, out);
    if (rc == 0) seize_normalize_rows(out, n, s->dim);
    return rc;
}

int seize_engine_embed_images(seize_engine_state *s, const struct seize_image *const *imgs,
                              size_t n, float *out)
{
    if (n == 0) return 0;
    int rc = engine_pixels_reserve(s, n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = engine_preprocess(s, imgs[i], i, i);
    return rc < 0 ? rc : engine_encode_pixels(s, n, out);
}

// --- ranking

int seize_engine_rank(seize_engine_state *s, const float *queries, size_t n, const size_t *exclude,
                      size_t k, struct seize_search_result **out)
{
    *out = NULL;
    if (n == 0 || k == 0)
        return seize_error(SEIZE_EINVAL, "rank: at least one query and k >= 1 are needed");
    int rc = engine_scan(s, queries, NULL, n, exclude, k, 0.0f, 0.0f, out);
    if (rc <= 0) return rc;
    seize_search_params p = seize_search_default_params();
    p.pos = p.neg = 0.0f;
    p.k = k;
    p.pool = s->pool;
    p.n_threads = s->p.n_threads;
    seize_embeddings g = seize_index_embeddings(s->e->idx);
    return seize_search(&g, queries, NULL, n, exclude, NULL, &p, out);
}
