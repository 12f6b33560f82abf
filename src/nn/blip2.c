// The BLIP-2 state: vision tower → Q-Former → language_projection → OPT decoder with a KV
// cache, described as calls to the backend (src/nn/backend.h) and the generic transformer
// pieces (transformer.h). Every buffer is allocated at open for the state's limits.
#include "blip2_int.h"
#include "blip2_weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seize_blip2 {
    const seize_blip2_model *m;
    seize_blip2_config c;
    nn_blip2_limits lim;
    const nn_blip2_weights *w; // the backend's form, shared through the model
    nn_backend *be;
    const nn_backend_ops *o;
    nn_xf *xv; // working buffers of the vision tower
    nn_xf *xf; // and of the Q-Former and the decoder
    nn_xf_cache *cache;
    nn_xf_config vcfg, qcfg, tcfg;
    size_t S, p, np, Tv, Q, Tmax, n_seq; // Tmax: cache rows per sequence (Q + max_tokens)
    size_t n_enc;                        // images of the last nn_blip2_encode
    size_t stepped;                      // Σ n_seq of nn_blip2_step
    int threads;
    seize_precision precision;
    // backend buffers
    float *pix;    // (I, 3, S, S)
    float *cols;   // (I·np, 3p²)
    float *vis;    // (I·Tv, dv)   vision residual stream, then its last_hidden_state
    float *qkv;    // (I·Tv, 3dv)
    float *qx;     // (I·Q, dq)    Q-Former stream
    float *kx;     // (I·Tv, dq)   cross-attention keys
    float *vx;     // (I·Tv, dq)   and values
    float *prefix; // (I·Q, dt)    projected queries
    float *tx;     // (max(I·Tmax, n_seq), dt) decoder stream
    float *logits; // (max(n_seq, I, Tmax), vocab)
    int32_t *qids; // host (Q): 0..Q-1
    float *trace;  // host, made on the first traced call
    size_t trace_n;
    char describe[200];
};

// --- creation ------------------------------------------------------------------------------------

static size_t mx(size_t a, size_t b)
{
    return a > b ? a : b;
}

static int check_params(const seize_blip2_model *m, const seize_blip2_params *p)
{
    if (!m) return seize_error(SEIZE_EINVAL, "seize_blip2_open: need a model");
    if (p->precision == SEIZE_PRECISION_INT8)
        return seize_error(SEIZE_EINVAL,
                           "seize_blip2_open: int8 precision is not implemented for BLIP-2 "
                           "(use fp32 or bf16)");
    if ((unsigned)p->precision > SEIZE_PRECISION_INT8)
        return seize_error(SEIZE_EINVAL, "seize_blip2_open: unknown precision %d",
                           (int)p->precision);
    if (p->max_images < 0 || p->max_samples < 0 || p->max_tokens < 0 || p->max_images > 4096 ||
        p->max_samples > 4096 || p->max_tokens > 1 << 20)
        return seize_error(SEIZE_EINVAL,
                           "seize_blip2_open: max_images %d, max_samples %d, max_tokens %d out of "
                           "range",
                           p->max_images, p->max_samples, p->max_tokens);
    const seize_blip2_config *c = seize_blip2_model_get_config(m);
    int tokens = p->max_tokens ? p->max_tokens : 64;
    if (c->num_query_tokens + tokens > c->max_positions)
        return seize_error(SEIZE_EINVAL,
                           "seize_blip2_open: %d query tokens + max_tokens %d exceed the model's "
                           "max_position_embeddings (%d)",
                           c->num_query_tokens, tokens, c->max_positions);
    return 0;
}

static void set_shapes(seize_blip2 *s, const seize_blip2_params *p)
{
    const seize_blip2_config *c = &s->c;
    s->lim.max_images = p->max_images ? (size_t)p->max_images : 1;
    s->lim.max_samples = p->max_samples ? (size_t)p->max_samples : 15;
    s->lim.max_tokens = p->max_tokens ? (size_t)p->max_tokens : 64;
    s->S = (size_t)c->image_size;
    s->p = (size_t)c->patch_size;
    s->np = (s->S / s->p) * (s->S / s->p);
    s->Tv = 1 + s->np;
    s->Q = (size_t)c->num_query_tokens;
    s->Tmax = s->Q + s->lim.max_tokens;
    s->n_seq = s->lim.max_images * s->lim.max_samples;
    s->vcfg =
        (nn_xf_config){(size_t)c->vision_width, c->vision_heads, 0, c->vision_eps, SEIZE_ACT_GELU};
    s->qcfg = (nn_xf_config){(size_t)c->qformer_width, c->qformer_heads, 1, c->qformer_eps,
                             SEIZE_ACT_GELU};
    s->tcfg = (nn_xf_config){(size_t)c->text_width, c->text_heads, 0, c->text_eps, SEIZE_ACT_RELU};
}

// n = a·b·c floats of backend memory.
static int buf(seize_blip2 *s, size_t a, size_t b, size_t c, float **out)
{
    size_t n;
    if (seize_mul_size(a, b, &n) < 0 || seize_mul_size(n, c, &n) < 0)
        return seize_error(SEIZE_ENOMEM, "a buffer of %zu × %zu × %zu floats is too large", a, b,
                           c);
    *out = s->o->alloc(s->be, NN_F32, n ? n : 1);
    return *out ? 0 : SEIZE_ENOMEM;
}

// The working buffers: one set for the vision tower (its rows and widths), one shared by the
// Q-Former and the decoder (whose rows are far fewer).
static int alloc_xf(seize_blip2 *s)
{
    const seize_blip2_config *c = &s->c;
    size_t I = s->lim.max_images, dv = (size_t)c->vision_width, dq = (size_t)c->qformer_width;
    size_t dt = (size_t)c->text_width, dec_rows = mx(I * s->Tmax, s->n_seq);
    nn_xf_sizes vz = {
        .max_rows = I * s->Tv,
        .d_model = dv,
        .d_mlp = (size_t)c->vision_mlp,
        .max_T = s->Tv,
        .d_head = dv / (size_t)c->vision_heads,
        .n_head = (size_t)c->vision_heads,
    };
    nn_xf_sizes tz = {
        .max_rows = mx(dec_rows, I * s->Q),
        .d_model = mx(dq, dt),
        .d_mlp = mx((size_t)c->qformer_mlp, (size_t)c->text_ffn),
        .max_T = mx(s->Tv, s->Tmax), // the Q-Former's cross-attention: Tv keys
        .d_head = mx(dq / (size_t)c->qformer_heads, dt / (size_t)c->text_heads),
        .n_head = mx((size_t)c->qformer_heads, (size_t)c->text_heads),
    };
    int rc = nn_xf_new(s->be, &vz, &s->xv);
    return rc < 0 ? rc : nn_xf_new(s->be, &tz, &s->xf);
}

static int alloc_all(seize_blip2 *s)
{
    const seize_blip2_config *c = &s->c;
    size_t I = s->lim.max_images, dv = (size_t)c->vision_width, dq = (size_t)c->qformer_width;
    size_t dt = (size_t)c->text_width, V = (size_t)c->vocab_size;
    size_t dec_rows = mx(I * s->Tmax, s->n_seq);
    int rc;
    if ((rc = alloc_xf(s)) < 0 ||
        (rc = nn_xf_cache_new(s->be, (size_t)c->text_layers, s->n_seq, s->Tmax, dt, &s->cache)) <
            0 ||
        (rc = buf(s, I, 3 * s->S, s->S, &s->pix)) < 0 ||
        (rc = buf(s, I * s->np, 3 * s->p, s->p, &s->cols)) < 0 ||
        (rc = buf(s, I, s->Tv, dv, &s->vis)) < 0 || (rc = buf(s, I, s->Tv, 3 * dv, &s->qkv)) < 0 ||
        (rc = buf(s, I, s->Q, dq, &s->qx)) < 0 || (rc = buf(s, I, s->Tv, dq, &s->kx)) < 0 ||
        (rc = buf(s, I, s->Tv, dq, &s->vx)) < 0 || (rc = buf(s, I, s->Q, dt, &s->prefix)) < 0 ||
        (rc = buf(s, dec_rows, dt, 1, &s->tx)) < 0 ||
        (rc = buf(s, mx(mx(s->n_seq, I), s->Tmax), V, 1, &s->logits)) < 0)
        return rc;
    if (!(s->qids = seize_malloc(s->Q ? s->Q : 1, sizeof *s->qids)))
        return seize_error(SEIZE_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->Q; i++)
        s->qids[i] = (int32_t)i;
    return 0;
}

int seize_blip2_open(const seize_blip2_model *m, seize_blip2_params p, seize_blip2 **out)
{
    *out = NULL;
    int rc = check_params(m, &p);
    if (rc < 0) return rc;
    seize_blip2 *s = calloc(1, sizeof *s);
    if (!s) return seize_error(SEIZE_ENOMEM, "out of memory");
    s->m = m;
    s->c = *seize_blip2_model_get_config(m);
    s->threads = p.threads > 0 ? p.threads : seize_cpu_count();
    s->precision = p.precision;
    set_shapes(s, &p);
    nn_backend_params bp = {s->threads, p.precision, p.device, 0};
    if ((rc = nn_backend_new(p.backend, bp, &s->be)) < 0) goto fail;
    s->o = s->be->ops;
    if ((rc = nn_blip2_weights_get(m, s->be, p.precision, p.device, s->threads, &s->w)) < 0)
        goto fail;
    if ((rc = alloc_all(s)) < 0) goto fail;
    const char *lm = s->w->impl_lm, *vis = s->w->impl ? s->w->impl : "-";
    snprintf(s->describe, sizeof s->describe, "%s: %s%s%s%s, %s, %d thread%s", s->o->name, vis,
             lm && strcmp(lm, vis) ? " (language model: " : "", lm && strcmp(lm, vis) ? lm : "",
             lm && strcmp(lm, vis) ? ")" : "", seize_precision_name(p.precision), s->threads,
             s->threads == 1 ? "" : "s");
    *out = s;
    return 0;
fail:
    if (rc == SEIZE_ENOMEM)
        seize_error(SEIZE_ENOMEM,
                    "out of memory for a BLIP-2 state of %zu images × %zu samples × %zu tokens",
                    s->lim.max_images, s->lim.max_samples, s->lim.max_tokens);
    seize_blip2_free(s);
    return rc;
}

void seize_blip2_free(seize_blip2 *s)
{
    if (!s) return;
    if (s->be) {
        nn_xf_free(s->xv);
        nn_xf_free(s->xf);
        nn_xf_cache_free(s->cache);
        float *bufs[] = {s->pix, s->cols, s->vis,    s->qkv, s->qx,
                         s->kx,  s->vx,   s->prefix, s->tx,  s->logits};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
            s->o->release(s->be, bufs[i]);
        s->be->ops->free(s->be);
    }
    free(s->qids);
    free(s->trace);
    free(s);
}

const char *seize_blip2_describe(const seize_blip2 *s)
{
    return s->describe;
}

size_t seize_blip2_weight_bytes(const seize_blip2 *s)
{
    return s->w->bytes;
}

const nn_blip2_limits *nn_blip2_state_limits(const seize_blip2 *s)
{
    return &s->lim;
}

const seize_blip2_model *nn_blip2_state_model(const seize_blip2 *s)
{
    return s->m;
}

// --- tracing -------------------------------------------------------------------------------------

// Hands rows × cols floats of backend memory at src (rows `ld` apart) of image i to trace,
// through a host buffer made on the first traced call (tracing is for tests and research).
static int trace_rows(seize_blip2 *s, seize_blip2_trace_fn trace, void *user, size_t i,
                      const char *name, const float *src, size_t rows, size_t cols)
{
    size_t n = rows * cols;
    if (n > s->trace_n) {
        float *t = seize_realloc(s->trace, n, sizeof *t);
        if (!t) return seize_error(SEIZE_ENOMEM, "out of memory for a trace of '%s'", name);
        s->trace = t;
        s->trace_n = n;
    }
    s->o->download(s->be, s->trace, src, NN_F32, n);
    trace(user, i, name, s->trace, rows, cols);
    return 0;
}

// Each image's T rows of x (n·T, d) under name.
static int trace_each(seize_blip2 *s, seize_blip2_trace_fn trace, void *user, size_t n,
                      const char *name, const float *x, size_t T, size_t d)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0 && trace; i++)
        rc = trace_rows(s, trace, user, i, name, x + i * T * d, T, d);
    return rc;
}

static int trace_layer(seize_blip2 *s, seize_blip2_trace_fn trace, void *user, size_t n,
                       const char *tower, size_t l, const float *x, size_t T, size_t d)
{
    if (!trace) return 0;
    char name[64];
    snprintf(name, sizeof name, "%s.hidden_states.%zu", tower, l);
    return trace_each(s, trace, user, n, name, x, T, d);
}

// --- encoding: vision tower, Q-Former, language_projection ---------------------------------------

// One pre-LN EVA block over s->vis (n·Tv, dv): the fused qkv product, the biases added inside
// the attention op.
static void vision_layer(seize_blip2 *s, const nn_blip2_vis *L, size_t n)
{
    nn_backend *be = s->be;
    const nn_backend_ops *o = s->o;
    nn_xf *xf = s->xv;
    size_t d = s->vcfg.d_model, M = n * s->Tv;
    int heads = s->vcfg.n_head, dh = (int)(d / (size_t)heads);
    o->layernorm(be, M, d, s->vis, d, NULL, L->ln1_g, L->ln1_b, s->vcfg.ln_eps, xf->h, d);
    o->linear(be, M, xf->h, d, L->qkv_w, NULL, 0.0f, s->qkv, 3 * d);
    o->attention(be, n, s->Tv, heads, dh, s->qkv, L->q_b, L->k_b, L->v_b, 0, NULL, xf->att);
    o->linear(be, M, xf->att, d, L->proj_w, L->proj_b, 1.0f, s->vis, d);
    nn_xf_mlp_forward(xf, &s->vcfg, &L->mlp, M, s->vis);
}

// pixels → s->vis (n·Tv, dv): the vision tower's last_hidden_state (after post_layernorm).
static int vision_forward(seize_blip2 *s, const float *pixels, size_t n, seize_blip2_trace_fn trace,
                          void *user)
{
    nn_backend *be = s->be;
    const nn_backend_ops *o = s->o;
    const nn_blip2_weights *w = s->w;
    size_t d = s->vcfg.d_model, S = s->S, p = s->p;
    int rc;
    // patch embedding: a conv with stride = kernel is a product with the unfolded patches
    o->upload(be, s->pix, pixels, NN_F32, n * 3 * S * S);
    o->patchify(be, n, (int)S, (int)p, s->pix, s->cols);
    o->linear(be, n * s->np, s->cols, 3 * p * p, w->patch_w, w->patch_b, 0.0f, s->xv->h, d);
    o->embed_patches(be, n, s->np, d, s->xv->h, w->cls, w->pos, s->vis);
    if ((rc = trace_layer(s, trace, user, n, "vision", 0, s->vis, s->Tv, d)) < 0) return rc;
    for (int l = 0; l < s->c.vision_layers; l++) {
        vision_layer(s, &w->vis[l], n);
        if ((rc = trace_layer(s, trace, user, n, "vision", (size_t)l + 1, s->vis, s->Tv, d)) < 0)
            return rc;
    }
    o->layernorm(be, n * s->Tv, d, s->vis, d, NULL, w->post_g, w->post_b, s->vcfg.ln_eps, s->vis,
                 d);
    return trace_each(s, trace, user, n, "vision.last_hidden_state", s->vis, s->Tv, d);
}

// s->vis → s->qx (n·Q, dq) through the Q-Former, then s->prefix (n·Q, dt).
static int qformer_forward(seize_blip2 *s, size_t n, seize_blip2_trace_fn trace, void *user)
{
    nn_backend *be = s->be;
    const nn_backend_ops *o = s->o;
    const nn_blip2_weights *w = s->w;
    size_t d = s->qcfg.d_model, Q = s->Q, dv = s->vcfg.d_model;
    int rc;
    o->embed_tokens(be, n, Q, d, s->qids, 0, w->query, NULL, 0, s->qx);
    o->layernorm(be, n * Q, d, s->qx, d, NULL, w->qln_g, w->qln_b, s->qcfg.ln_eps, s->qx, d);
    if ((rc = trace_layer(s, trace, user, n, "qformer", 0, s->qx, Q, d)) < 0) return rc;
    nn_xf_kv kv = {s->kx, s->vx, s->Tv * d, s->Tv};
    for (int l = 0; l < s->c.qformer_layers; l++) {
        const nn_xf_layer *L = &w->qf[l];
        nn_xf_self_attn(s->xf, &s->qcfg, &L->self, n, Q, 0, s->qx);
        if (L->cross.wq) {
            nn_xf_kv_project(s->xf, &L->cross, n * s->Tv, s->vis, dv, s->kx, s->vx);
            nn_xf_cross_attn(s->xf, &s->qcfg, &L->cross, n, Q, &kv, s->qx);
        }
        nn_xf_mlp_forward(s->xf, &s->qcfg, &L->mlp, n * Q, s->qx);
        if ((rc = trace_layer(s, trace, user, n, "qformer", (size_t)l + 1, s->qx, Q, d)) < 0)
            return rc;
    }
    size_t dt = s->tcfg.d_model;
    o->linear(be, n * Q, s->qx, d, w->proj_w, w->proj_b, 0.0f, s->prefix, dt);
    return trace_each(s, trace, user, n, "language_projection", s->prefix, Q, dt);
}

int nn_blip2_encode(seize_blip2 *s, const float *pixels, size_t n, seize_blip2_trace_fn trace,
                    void *user)
{
    if (n == 0 || n > s->lim.max_images)
        return seize_error(SEIZE_EINVAL, "BLIP-2: %zu images in one call (the state takes 1..%zu)",
                           n, s->lim.max_images);
    s->n_enc = 0;
    int rc = vision_forward(s, pixels, n, trace, user);
    if (rc == 0) rc = qformer_forward(s, n, trace, user);
    int st = s->o->status(s->be);
    if (rc == 0) rc = st;
    if (rc == 0) s->n_enc = n;
    return rc;
}

// --- the decoder ---------------------------------------------------------------------------------

static int check_ids(const seize_blip2 *s, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= s->c.vocab_size)
            return seize_error(SEIZE_EINVAL, "BLIP-2: token id %d is outside the vocabulary (%d)",
                               (int)ids[i], s->c.vocab_size);
    return 0;
}

// The prefill's traces after the decoder: the last hidden state (after the final layer norm)
// and the logits of every row, per image.
static int trace_head(seize_blip2 *s, seize_blip2_trace_fn trace, void *user, size_t n, size_t T)
{
    const nn_blip2_weights *w = s->w;
    size_t d = s->tcfg.d_model, V = (size_t)s->c.vocab_size;
    s->o->layernorm(s->be, n * T, d, s->tx, d, NULL, w->fin_g, w->fin_b, s->tcfg.ln_eps, s->xf->h,
                    d);
    int rc = trace_layer(s, trace, user, n, "lm", (size_t)s->c.text_layers, s->xf->h, T, d);
    for (size_t i = 0; i < n && rc == 0; i++) {
        nn_xf_lm_head(s->xf, w->fin_g, w->fin_b, s->tcfg.ln_eps, w->head, T, s->tx + i * T * d, d,
                      s->logits);
        rc = trace_rows(s, trace, user, i, "lm.logits", s->logits, T, V);
    }
    return rc;
}

// The rows of image i in s->tx: its prefix (positions 2..Q+1), then BOS + prompt.
static void prefill_rows(seize_blip2 *s, size_t i, const int32_t *ids, size_t n_ids)
{
    const nn_blip2_weights *w = s->w;
    size_t d = s->tcfg.d_model, Q = s->Q, T = Q + n_ids;
    float *x = s->tx + i * T * d;
    s->o->copy_rows(s->be, Q, d, s->prefix + i * Q * d, d, x, d);
    if (Q) nn_xf_add_positions(s->xf, 1, Q, d, w->tpos, 2, x, d);
    s->o->embed_tokens(s->be, 1, n_ids, d, ids, 0, w->tok, w->tpos, 2 + Q, x + Q * d);
}

int nn_blip2_prefill(seize_blip2 *s, size_t n, const int32_t *ids, size_t n_ids, float *logits,
                     seize_blip2_trace_fn trace, void *user)
{
    if (n == 0 || n > s->n_enc)
        return seize_error(SEIZE_EINVAL, "BLIP-2 prefill: %zu images, %zu encoded", n, s->n_enc);
    if (n_ids == 0 || n_ids > s->lim.max_tokens)
        return seize_error(SEIZE_EINVAL,
                           "BLIP-2 prefill: %zu prompt tokens (the state takes 1..%zu)", n_ids,
                           s->lim.max_tokens);
    int rc = check_ids(s, ids, n_ids);
    if (rc < 0) return rc;
    const nn_blip2_weights *w = s->w;
    size_t d = s->tcfg.d_model, T = s->Q + n_ids, L = (size_t)s->c.text_layers;
    for (size_t i = 0; i < n; i++)
        prefill_rows(s, i, ids, n_ids);
    s->cache->len = 0;
    rc = trace_layer(s, trace, user, n, "lm", 0, s->tx, T, d);
    for (size_t l = 0; l < L && rc == 0; l++) {
        nn_xf_cached_attn(s->xf, &s->tcfg, &w->lm[l].self, s->cache, l, n, T, s->tx);
        nn_xf_mlp_forward(s->xf, &s->tcfg, &w->lm[l].mlp, n * T, s->tx);
        if (l + 1 < L) rc = trace_layer(s, trace, user, n, "lm", l + 1, s->tx, T, d);
    }
    s->cache->len = T;
    if (rc == 0 && trace) rc = trace_head(s, trace, user, n, T);
    if (rc == 0) {
        nn_xf_lm_head(s->xf, w->fin_g, w->fin_b, s->tcfg.ln_eps, w->head, n, s->tx + (T - 1) * d,
                      T * d, s->logits);
        s->o->download(s->be, logits, s->logits, NN_F32, n * (size_t)s->c.vocab_size);
    }
    int st = s->o->status(s->be);
    return rc < 0 ? rc : st;
}

int nn_blip2_expand(seize_blip2 *s, size_t n, size_t r)
{
    if (n == 0 || r == 0 || n > s->lim.max_images || n * r > s->n_seq)
        return seize_error(SEIZE_EINVAL,
                           "BLIP-2: %zu images × %zu samples (the state takes %zu × %zu)", n, r,
                           s->lim.max_images, s->lim.max_samples);
    nn_xf_cache_expand(s->cache, n, r);
    return s->o->status(s->be);
}

int nn_blip2_step(seize_blip2 *s, size_t n_seq, const int32_t *ids, float *logits)
{
    if (n_seq == 0 || n_seq > s->n_seq)
        return seize_error(SEIZE_EINVAL, "BLIP-2 step: %zu sequences (the state takes 1..%zu)",
                           n_seq, s->n_seq);
    if (s->cache->len == 0 || s->cache->len + 1 > s->Tmax)
        return seize_error(SEIZE_EINVAL,
                           "BLIP-2 step: no room in the cache (%zu of %zu rows; prefill first)",
                           s->cache->len, s->Tmax);
    int rc = check_ids(s, ids, n_seq);
    if (rc < 0) return rc;
    const nn_blip2_weights *w = s->w;
    size_t d = s->tcfg.d_model;
    // the token at position len (OPT's offset 2), for every sequence at once
    s->o->embed_tokens(s->be, n_seq, 1, d, ids, 1, w->tok, w->tpos, 2 + s->cache->len, s->tx);
    nn_xf_decoder_forward(s->xf, &s->tcfg, w->lm, (size_t)s->c.text_layers, s->cache, n_seq, 1,
                          s->tx);
    nn_xf_lm_head(s->xf, w->fin_g, w->fin_b, s->tcfg.ln_eps, w->head, n_seq, s->tx, d, s->logits);
    s->o->download(s->be, logits, s->logits, NN_F32, n_seq * (size_t)s->c.vocab_size);
    s->stepped += n_seq;
    return s->o->status(s->be);
}

int nn_blip2_move(seize_blip2 *s, size_t from, size_t to)
{
    nn_xf_cache *c = s->cache;
    if (from >= s->n_seq || to >= s->n_seq)
        return seize_error(SEIZE_EINVAL, "BLIP-2 move: sequence %zu to %zu (the state has %zu)",
                           from, to, s->n_seq);
    if (from == to || c->len == 0) return 0;
    for (size_t l = 0; l < c->n_layer; l++) {
        nn_xf_kv *kv = &c->layer[l];
        s->o->copy_rows(s->be, c->len, c->d, kv->k + from * kv->seq, c->d, kv->k + to * kv->seq,
                        c->d);
        s->o->copy_rows(s->be, c->len, c->d, kv->v + from * kv->seq, c->d, kv->v + to * kv->seq,
                        c->d);
    }
    return s->o->status(s->be);
}

size_t nn_blip2_state_stepped(const seize_blip2 *s)
{
    return s->stepped;
}
