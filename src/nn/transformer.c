// Generic transformer pieces (transformer.h): every step is an op of the backend table.
#include "transformer.h"

#include <stdlib.h>
#include <string.h>

// --- working buffers -----------------------------------------------------------------------------

static int alloc_f32(nn_xf *s, size_t rows, size_t cols, float **out)
{
    size_t n;
    if (seize_mul_size(rows, cols, &n) < 0)
        return seize_error(SEIZE_ENOMEM, "a buffer of %zu × %zu floats is too large", rows, cols);
    *out = s->o->alloc(s->be, NN_F32, n ? n : 1);
    return *out ? 0 : SEIZE_ENOMEM; // (the backend set the message)
}

int nn_xf_new(nn_backend *be, const nn_xf_sizes *sz, nn_xf **out)
{
    *out = NULL;
    nn_xf *s = calloc(1, sizeof *s);
    if (!s) return seize_error(SEIZE_ENOMEM, "out of memory");
    s->be = be;
    s->o = be->ops;
    s->sz = *sz;
    size_t r = sz->max_rows, d = sz->d_model;
    int rc = 0;
    float **bufs[] = {&s->h, &s->q, &s->k, &s->v, &s->att};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs && rc == 0; i++)
        rc = alloc_f32(s, r, d, bufs[i]);
    if (rc == 0) rc = alloc_f32(s, r, sz->d_mlp, &s->mid);
    if (rc == 0 && !(s->ids = calloc(sz->max_T ? sz->max_T : 1, sizeof *s->ids)))
        rc = seize_error(SEIZE_ENOMEM, "out of memory");
    if (rc == 0) rc = s->o->reserve(be, sz->max_T, sz->d_head, sz->n_head);
    if (rc < 0) {
        nn_xf_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void nn_xf_free(nn_xf *s)
{
    if (!s) return;
    float *bufs[] = {s->h, s->q, s->k, s->v, s->att, s->mid};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        s->o->release(s->be, bufs[i]);
    free(s->ids);
    free(s);
}

// --- sub-layers ----------------------------------------------------------------------------------

static int d_head(const nn_xf_config *c)
{
    SEIZE_ASSERT(c->n_head > 0 && c->d_model % (size_t)c->n_head == 0);
    return (int)(c->d_model / (size_t)c->n_head);
}

// The input of a sub-layer's projections: LN(x) in s->h (pre-LN), or x itself (post-LN).
static float *sublayer_in(nn_xf *s, const nn_xf_config *c, const nn_weight *g, const nn_weight *b,
                          size_t rows, float *x)
{
    SEIZE_ASSERT(rows <= s->sz.max_rows && c->d_model <= s->sz.d_model);
    if (c->post_ln) return x;
    s->o->layernorm(s->be, rows, c->d_model, x, c->d_model, NULL, g, b, c->ln_eps, s->h,
                    c->d_model);
    return s->h;
}

// The end of an attention sub-layer: x += s->att·woᵀ + bo, then LN(x) when post-LN.
static void attn_out(nn_xf *s, const nn_xf_config *c, const nn_xf_attn *w, size_t rows, float *x)
{
    size_t d = c->d_model;
    s->o->linear(s->be, rows, s->att, d, w->wo, w->bo, 1.0f, x, d);
    if (c->post_ln) s->o->layernorm(s->be, rows, d, x, d, NULL, w->ln_g, w->ln_b, c->ln_eps, x, d);
}

void nn_xf_self_attn(nn_xf *s, const nn_xf_config *c, const nn_xf_attn *w, size_t n_seq, size_t T,
                     int causal, float *x)
{
    size_t d = c->d_model, rows = n_seq * T;
    const float *in = sublayer_in(s, c, w->ln_g, w->ln_b, rows, x);
    s->o->linear(s->be, rows, in, d, w->wq, w->bq, 0.0f, s->q, d);
    s->o->linear(s->be, rows, in, d, w->wk, w->bk, 0.0f, s->k, d);
    s->o->linear(s->be, rows, in, d, w->wv, w->bv, 0.0f, s->v, d);
    s->o->attend(s->be, n_seq, T, T, c->n_head, d_head(c), s->q, d, s->k, T * d, d, s->v, T * d, d,
                 causal ? 0 : -1, s->att, d);
    attn_out(s, c, w, rows, x);
}

void nn_xf_kv_project(nn_xf *s, const nn_xf_attn *w, size_t rows, const float *enc, size_t ld_enc,
                      float *k, float *v)
{
    size_t d = w->wk->rows;
    s->o->linear(s->be, rows, enc, ld_enc, w->wk, w->bk, 0.0f, k, d);
    s->o->linear(s->be, rows, enc, ld_enc, w->wv, w->bv, 0.0f, v, d);
}

void nn_xf_cross_attn(nn_xf *s, const nn_xf_config *c, const nn_xf_attn *w, size_t n_seq, size_t T,
                      const nn_xf_kv *kv, float *x)
{
    size_t d = c->d_model, rows = n_seq * T;
    const float *in = sublayer_in(s, c, w->ln_g, w->ln_b, rows, x);
    s->o->linear(s->be, rows, in, d, w->wq, w->bq, 0.0f, s->q, d);
    s->o->attend(s->be, n_seq, T, kv->T, c->n_head, d_head(c), s->q, d, kv->k, kv->seq, d, kv->v,
                 kv->seq, d, -1, s->att, d);
    attn_out(s, c, w, rows, x);
}

void nn_xf_mlp_forward(nn_xf *s, const nn_xf_config *c, const nn_xf_mlp *w, size_t rows, float *x)
{
    size_t d = c->d_model, dm = w->w1->rows;
    SEIZE_ASSERT(dm <= s->sz.d_mlp);
    const float *in = sublayer_in(s, c, w->ln_g, w->ln_b, rows, x);
    s->o->linear(s->be, rows, in, d, w->w1, NULL, 0.0f, s->mid, dm);
    s->o->bias_act(s->be, rows, dm, s->mid, w->b1, c->act);
    s->o->linear(s->be, rows, s->mid, dm, w->w2, w->b2, 1.0f, x, d);
    if (c->post_ln) s->o->layernorm(s->be, rows, d, x, d, NULL, w->ln_g, w->ln_b, c->ln_eps, x, d);
}

void nn_xf_layer_forward(nn_xf *s, const nn_xf_config *c, const nn_xf_layer *L, size_t n_seq,
                         size_t T, int causal, const nn_xf_kv *cross, float *x)
{
    nn_xf_self_attn(s, c, &L->self, n_seq, T, causal, x);
    if (L->cross.wq) {
        SEIZE_ASSERT(cross != NULL);
        nn_xf_cross_attn(s, c, &L->cross, n_seq, T, cross, x);
    }
    nn_xf_mlp_forward(s, c, &L->mlp, n_seq * T, x);
}

// --- KV cache ------------------------------------------------------------------------------------

int nn_xf_cache_new(nn_backend *be, size_t n_layer, size_t n_seq, size_t max_T, size_t d,
                    nn_xf_cache **out)
{
    *out = NULL;
    size_t n;
    if (seize_mul_size(n_seq, max_T, &n) < 0 || seize_mul_size(n, d, &n) < 0)
        return seize_error(SEIZE_ENOMEM, "a KV cache of %zu × %zu × %zu is too large", n_seq, max_T,
                           d);
    nn_xf_cache *c = calloc(1, sizeof *c);
    if (c) c->layer = calloc(n_layer ? n_layer : 1, sizeof *c->layer);
    if (!c || !c->layer) {
        free(c);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    *c = (nn_xf_cache){be, c->layer, n_layer, n_seq, max_T, d, 0};
    for (size_t l = 0; l < n_layer; l++) {
        nn_xf_kv *kv = &c->layer[l];
        kv->seq = max_T * d;
        kv->T = max_T;
        kv->k = be->ops->alloc(be, NN_F32, n ? n : 1);
        kv->v = kv->k ? be->ops->alloc(be, NN_F32, n ? n : 1) : NULL;
        if (!kv->v) {
            nn_xf_cache_free(c);
            return SEIZE_ENOMEM; // (the backend set the message)
        }
    }
    *out = c;
    return 0;
}

void nn_xf_cache_free(nn_xf_cache *cache)
{
    if (!cache) return;
    for (size_t l = 0; l < cache->n_layer; l++) {
        cache->be->ops->release(cache->be, cache->layer[l].k);
        cache->be->ops->release(cache->be, cache->layer[l].v);
    }
    free(cache->layer);
    free(cache);
}

// dst = new keys or values of rows (s, t) of the input in, projected by w and b, written at
// cache rows len + t of sequence s: one product straight into the cache when the rows are
// evenly spaced there (one sequence, or one token per sequence), else through s->k.
static void cache_write(nn_xf *s, const nn_xf_cache *cache, const float *in, size_t n_seq, size_t T,
                        const nn_weight *w, const nn_weight *b, float *dst)
{
    size_t d = cache->d, rows = n_seq * T;
    float *at = dst + cache->len * d;
    if (n_seq == 1 || T == 1) {
        s->o->linear(s->be, rows, in, d, w, b, 0.0f, at, T == 1 ? cache->max_T * d : d);
        return;
    }
    s->o->linear(s->be, rows, in, d, w, b, 0.0f, s->k, d);
    for (size_t i = 0; i < n_seq; i++)
        s->o->copy_rows(s->be, T, d, s->k + i * T * d, d, at + i * cache->max_T * d, d);
}

void nn_xf_cached_attn(nn_xf *s, const nn_xf_config *c, const nn_xf_attn *w, nn_xf_cache *cache,
                       size_t layer, size_t n_seq, size_t T, float *x)
{
    size_t d = c->d_model, rows = n_seq * T, L = cache->len;
    SEIZE_ASSERT(layer < cache->n_layer && n_seq <= cache->n_seq && d == cache->d &&
                 L + T <= cache->max_T);
    const nn_xf_kv *kv = &cache->layer[layer];
    const float *in = sublayer_in(s, c, w->ln_g, w->ln_b, rows, x);
    s->o->linear(s->be, rows, in, d, w->wq, w->bq, 0.0f, s->q, d);
    cache_write(s, cache, in, n_seq, T, w->wk, w->bk, kv->k);
    cache_write(s, cache, in, n_seq, T, w->wv, w->bv, kv->v);
    s->o->attend(s->be, n_seq, T, L + T, c->n_head, d_head(c), s->q, d, kv->k, kv->seq, d, kv->v,
                 kv->seq, d, (long)L, s->att, d);
    attn_out(s, c, w, rows, x);
}

void nn_xf_decoder_forward(nn_xf *s, const nn_xf_config *c, const nn_xf_layer *layers,
                           size_t n_layer, nn_xf_cache *cache, size_t n_seq, size_t T, float *x)
{
    SEIZE_ASSERT(n_layer <= cache->n_layer);
    for (size_t l = 0; l < n_layer; l++) {
        SEIZE_ASSERT(layers[l].cross.wq == NULL);
        nn_xf_cached_attn(s, c, &layers[l].self, cache, l, n_seq, T, x);
        nn_xf_mlp_forward(s, c, &layers[l].mlp, n_seq * T, x);
    }
    cache->len += T;
}

void nn_xf_cache_expand(nn_xf_cache *cache, size_t n_src, size_t r)
{
    SEIZE_ASSERT(n_src * r <= cache->n_seq);
    size_t d = cache->d, stride = cache->max_T * d;
    // from the last source down: a destination i·r + j is never a source still to be read
    for (size_t i = n_src; i-- > 0;)
        for (size_t j = r; j-- > 0;) {
            size_t dst = i * r + j;
            if (dst == i) continue;
            for (size_t l = 0; l < cache->n_layer; l++) {
                nn_xf_kv *kv = &cache->layer[l];
                cache->be->ops->copy_rows(cache->be, cache->len, d, kv->k + i * stride, d,
                                          kv->k + dst * stride, d);
                cache->be->ops->copy_rows(cache->be, cache->len, d, kv->v + i * stride, d,
                                          kv->v + dst * stride, d);
            }
        }
}

// --- embeddings and the head ---------------------------------------------------------------------

void nn_xf_add_positions(nn_xf *s, size_t n, size_t T, size_t d, const nn_weight *pos, size_t pos0,
                         float *x, size_t ldx)
{
    SEIZE_ASSERT(T <= s->sz.max_T && n * T <= s->sz.max_rows && d <= s->sz.d_model);
    SEIZE_ASSERT(pos0 + T <= pos->rows); // positions past the table: a caller's bug
    // the position rows, gathered like tokens of the table pos (the same ids for every i)
    for (size_t t = 0; t < T; t++)
        s->ids[t] = (int32_t)(pos0 + t);
    s->o->embed_tokens(s->be, n, T, d, s->ids, 0, pos, NULL, 0, s->h);
    s->o->add(s->be, n * T, d, x, ldx, s->h, d);
}

void nn_xf_lm_head(nn_xf *s, const nn_weight *ln_g, const nn_weight *ln_b, float eps,
                   const nn_weight *w_out, size_t n, float *x, size_t ldx, float *logits)
{
    size_t d = w_out->cols;
    SEIZE_ASSERT(n <= s->sz.max_rows && d <= s->sz.d_model);
    s->o->layernorm(s->be, n, d, x, ldx, NULL, ln_g, ln_b, eps, s->h, d);
    s->o->linear(s->be, n, s->h, d, w_out, NULL, 0.0f, logits, w_out->rows);
}
