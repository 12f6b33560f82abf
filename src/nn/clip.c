// The CLIP towers: one pre-LN transformer for both, described as calls to the backend
// (src/nn/backend.h), which does all arithmetic.
#include "seize/clip.h"

#include "backend.h"
#include "clip_weights.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct seize_clip {
    const seize_clip_model *m;
    seize_clip_model_config cfg;
    const nn_clip_weights *w; // the backend's form, shared through the model
    nn_backend *be;
    int max_batch, n_threads;
    seize_precision precision;
    size_t embed;
    char describe[160];
    // activations (backend buffers), sized for max_batch of either tower
    float *x;     // (B·T, d)        residual stream
    float *h;     // (B·T, d)        layer-norm output, then attention output
    float *qkv;   // (B·T, 3d)
    float *hid;   // (B·T, mlp)      MLP hidden; also the patch-embedding output
    float *pix;   // (B, 3, S, S)    uploaded pixels
    float *cols;  // (B·g², 3p²)     image patches
    float *xc;    // (B, d)          last block: the rows that are pooled
    float *feat;  // (B, embed)
    size_t *rows; // (B)             host: row of the pooled token, per sequence
    size_t *sel;  // (B)             host: pooled token position, per sequence
};

// --- creation
// ---------------------------------------------------------------------------------------

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

// n = a·b·c with overflow checks.
static int mul3(size_t a, size_t b, size_t c, size_t *n)
{
    if (seize_mul_size(a, b, n) < 0 || seize_mul_size(*n, c, n) < 0) return SEIZE_ENOMEM;
    return 0;
}

static int tower_ok(const char *name, const seize_tower_config *t)
{
    if (t->width <= 0 || t->heads <= 0 || t->layers < 0 || t->mlp_dim <= 0 ||
        t->width % t->heads != 0)
        return seize_error(SEIZE_EINVAL, "%s tower: width %d, %d heads, mlp %d: unsupported", name,
                           t->width, t->heads, t->mlp_dim);
    return 0;
}

int seize_clip_new(const seize_clip_model *m, int max_batch, int n_threads, seize_clip **out)
{
    *out = NULL;
    if (max_batch < 1) return seize_error(SEIZE_EINVAL, "seize_clip_new: need max_batch >= 1");
    seize_clip_params p = {.max_batch = max_batch, .threads = n_threads};
    return seize_clip_open(m, p, out);
}

int seize_clip_open(const seize_clip_model *m, seize_clip_params p, seize_clip **out)
{
    *out = NULL;
    int max_batch = p.max_batch > 0 ? p.max_batch : 32, n_threads = p.threads;
    if (!m) return seize_error(SEIZE_EINVAL, "seize_clip_open: need a model");
    if ((unsigned)p.precision > SEIZE_PRECISION_INT8)
        return seize_error(SEIZE_EINVAL, "seize_clip_open: unknown precision %d", (int)p.precision);
    if (n_threads <= 0) n_threads = seize_cpu_count();
    const seize_clip_model_config *cfg = seize_clip_model_get_config(m);
    int rc;
    if ((rc = tower_ok("vision", &cfg->vision)) < 0 || (rc = tower_ok("text", &cfg->text)) < 0)
        return rc;
    if (cfg->patch_size <= 0 || cfg->image_size <= 0 || cfg->image_size % cfg->patch_size ||
        cfg->context_length <= 0 || cfg->embed_dim <= 0)
        return seize_error(SEIZE_EINVAL, "image size %d, patch %d, context %d: unsupported",
                           cfg->image_size, cfg->patch_size, cfg->context_length);

    seize_clip *c = calloc(1, sizeof *c);
    if (!c) return seize_error(SEIZE_ENOMEM, "out of memory");
    c->m = m;
    c->cfg = *cfg;
    c->max_batch = max_batch;
    c->n_threads = n_threads;
    c->precision = p.precision;
    c->embed = (size_t)cfg->embed_dim;
    nn_backend_params bp = {n_threads, p.precision, p.device};
    if ((rc = nn_backend_new(p.backend, bp, &c->be)) < 0) goto fail;
    if ((rc = nn_clip_weights_get(m, c->be, p.precision, p.device, &c->w)) < 0) goto fail;
    snprintf(c->describe, sizeof c->describe, "%s: %s, %s, %d thread%s", c->be->ops->name,
             c->w->impl ? c->w->impl : "-", seize_precision_name(p.precision), n_threads,
             n_threads == 1 ? "" : "s");

    size_t B = (size_t)max_batch, g = (size_t)(cfg->image_size / cfg->patch_size);
    size_t Tv = 1 + g * g, Tt = (size_t)cfg->context_length;
    size_t dv = (size_t)cfg->vision.width, dt = (size_t)cfg->text.width;
    size_t n_x, n_x2, n_hid, n_hid2, n_pe, n_cols, n_xc, n_feat, n_pix;
    rc = SEIZE_ENOMEM;
    if (mul3(B, Tv, dv, &n_x) < 0 || mul3(B, Tt, dt, &n_x2) < 0 ||
        mul3(B, Tv, (size_t)cfg->vision.mlp_dim, &n_hid) < 0 ||
        mul3(B, Tt, (size_t)cfg->text.mlp_dim, &n_hid2) < 0 || mul3(B, g * g, dv, &n_pe) < 0 ||
        mul3(B, g * g, 3 * (size_t)cfg->patch_size * (size_t)cfg->patch_size, &n_cols) < 0 ||
        seize_mul_size(B, max_sz(dv, dt), &n_xc) < 0 || seize_mul_size(B, c->embed, &n_feat) < 0 ||
        mul3(B, 3 * (size_t)cfg->image_size, (size_t)cfg->image_size, &n_pix) < 0)
        goto fail;
    n_x = max_sz(n_x, n_x2);
    n_hid = max_sz(max_sz(n_hid, n_hid2), n_pe);
    const nn_backend_ops *o = c->be->ops;
    if (!(c->x = o->alloc(c->be, NN_F32, n_x)) || !(c->h = o->alloc(c->be, NN_F32, n_x)) ||
        !(c->qkv = o->alloc(c->be, NN_F32, 3 * n_x)) ||
        !(c->hid = o->alloc(c->be, NN_F32, n_hid)) || !(c->pix = o->alloc(c->be, NN_F32, n_pix)) ||
        !(c->cols = o->alloc(c->be, NN_F32, n_cols)) || !(c->xc = o->alloc(c->be, NN_F32, n_xc)) ||
        !(c->feat = o->alloc(c->be, NN_F32, n_feat)) ||
        !(c->rows = seize_malloc(B, sizeof(size_t))) || !(c->sel = seize_malloc(B, sizeof(size_t))))
        goto fail;
    size_t dh_max = max_sz(dv / (size_t)cfg->vision.heads, dt / (size_t)cfg->text.heads);
    size_t heads_max = max_sz((size_t)cfg->vision.heads, (size_t)cfg->text.heads);
    if ((rc = o->reserve(c->be, max_sz(Tv, Tt), dh_max, heads_max)) < 0) goto fail;
    *out = c;
    return 0;
fail:
    if (rc == SEIZE_ENOMEM)
        seize_error(SEIZE_ENOMEM, "out of memory for a CLIP state of batch %d", max_batch);
    seize_clip_free(c);
    return rc;
}

void seize_clip_free(seize_clip *c)
{
    if (!c) return;
    if (c->be) {
        const nn_backend_ops *o = c->be->ops;
        o->release(c->be, c->x);
        o->release(c->be, c->h);
        o->release(c->be, c->qkv);
        o->release(c->be, c->hid);
        o->release(c->be, c->pix);
        o->release(c->be, c->cols);
        o->release(c->be, c->xc);
        o->release(c->be, c->feat);
        o->free(c->be);
    }
    free(c->rows);
    free(c->sel);
    free(c);
}

size_t seize_clip_embed_dim(const seize_clip *c)
{
    return c->embed;
}
int seize_clip_image_size(const seize_clip *c)
{
    return c->cfg.image_size;
}
int seize_clip_context_length(const seize_clip *c)
{
    return c->cfg.context_length;
}
int seize_clip_vocab_size(const seize_clip *c)
{
    return c->cfg.vocab_size;
}
int seize_clip_max_batch(const seize_clip *c)
{
    return c->max_batch;
}
int seize_clip_threads(const seize_clip *c)
{
    return c->n_threads;
}

// --- the transformer
// ---------------------------------------------------------------------------------

// Runs the blocks of a tower over x (n·T, d) and writes the projected features of token
// sel[s] of each sequence s to c->feat (n, embed). Every block but the last works on all rows;
// the last computes its keys and values on all rows but everything else on the pooled rows
// only (the other rows are never read again), which saves most of a block.
static void tower_forward(seize_clip *c, const nn_clip_tower *tw, const seize_tower_config *tc,
                          size_t n, size_t T, int causal)
{
    nn_backend *be = c->be;
    const nn_backend_ops *o = be->ops;
    size_t d = (size_t)tc->width, mlp = (size_t)tc->mlp_dim, M = n * T;
    int dh = tc->width / tc->heads;
    float eps = c->cfg.ln_eps > 0 ? c->cfg.ln_eps : 1e-5f;
    const nn_weight *pending = NULL; // a bias not yet added to the residual stream
    for (size_t s = 0; s < n; s++)
        c->rows[s] = s * T + c->sel[s];

    if (tw->n_layers == 0) o->gather_rows(be, n, d, c->x, d, c->rows, c->xc);
    for (int l = 0; l < tw->n_layers; l++) {
        const nn_clip_block *bw = &tw->blocks[l];
        int last = l == tw->n_layers - 1;
        // h = ln_1(x)                                                       (M, d)
        o->layernorm(be, M, d, c->x, d, pending, bw->ln1_w, bw->ln1_b, eps, c->h, d);
        // qkv = h · [q; k; v]ᵀ, biases added inside attention                (M, 3d)
        o->linear(be, M, c->h, d, bw->qkv_w, NULL, 0.0f, c->qkv, 3 * d);
        size_t R = last ? n : M; // rows carried on from here
        float *xr = c->x;
        if (last) {
            // attention for the pooled rows only → h (n, d); their residual rows → xc (n, d)
            o->attention(be, n, T, tc->heads, dh, c->qkv, bw->q_b, bw->k_b, bw->v_b, causal, c->sel,
                         c->h);
            o->gather_rows(be, n, d, c->x, d, c->rows, c->xc);
            xr = c->xc;
        } else {
            o->attention(be, n, T, tc->heads, dh, c->qkv, bw->q_b, bw->k_b, bw->v_b, causal, NULL,
                         c->h);
        }
        // x += attn · out_wᵀ   (out_b is added by the next layer norm)
        o->linear(be, R, c->h, d, bw->out_w, NULL, 1.0f, xr, d);
        // h = ln_2(x + out_b)
        o->layernorm(be, R, d, xr, d, bw->out_b, bw->ln2_w, bw->ln2_b, eps, c->h, d);
        // hid = act(h · fc1ᵀ + fc1_b)                                         (R, mlp)
        o->linear(be, R, c->h, d, bw->fc1_w, NULL, 0.0f, c->hid, mlp);
        o->bias_act(be, R, mlp, c->hid, bw->fc1_b, c->cfg.act);
        // x += hid · fc2ᵀ     (fc2_b is added by the next layer norm)
        o->linear(be, R, c->hid, mlp, bw->fc2_w, NULL, 1.0f, xr, d);
        pending = bw->fc2_b;
    }
    // ln_post / ln_final on the pooled rows, then the projection              (n, embed)
    o->layernorm(be, n, d, c->xc, d, pending, tw->ln_post_w, tw->ln_post_b, eps, c->xc, d);
    o->linear(be, n, c->xc, d, tw->proj, NULL, 0.0f, c->feat, c->embed);
}

// One batch of at most max_batch images.
static int images_batch(seize_clip *c, const float *pixels, size_t n, float *out)
{
    nn_backend *be = c->be;
    const nn_backend_ops *o = be->ops;
    const nn_clip_tower *tw = &c->w->vision;
    int S = c->cfg.image_size, p = c->cfg.patch_size;
    size_t g = (size_t)(S / p), np = g * g, d = (size_t)c->cfg.vision.width, T = 1 + np;
    // patch embedding: a conv with stride = kernel is a product with the unfolded patches
    o->upload(be, c->pix, pixels, NN_F32, n * 3 * (size_t)S * (size_t)S);
    o->patchify(be, n, S, p, c->pix, c->cols); // (n·np, 3p²)
    o->linear(be, n * np, c->cols, 3 * (size_t)p * (size_t)p, tw->patch_w, NULL, 0.0f, c->hid,
              d);                                                             // (n·np, d)
    o->embed_patches(be, n, np, d, c->hid, tw->class_emb, tw->pos_emb, c->x); // (n·T, d)
    o->layernorm(be, n * T, d, c->x, d, NULL, tw->ln_pre_w, tw->ln_pre_b,
                 c->cfg.ln_eps > 0 ? c->cfg.ln_eps : 1e-5f, c->x, d);
    for (size_t s = 0; s < n; s++)
        c->sel[s] = 0; // the class token
    tower_forward(c, tw, &c->cfg.vision, n, T, 0);
    o->download(be, out, c->feat, NN_F32, n * c->embed);
    return o->status(be);
}

int seize_clip_encode_images(seize_clip *c, const float *pixels, size_t n, float *out)
{
    size_t S = (size_t)c->cfg.image_size, per = 3 * S * S;
    for (size_t i = 0; i < n; i += (size_t)c->max_batch) {
        size_t k = n - i < (size_t)c->max_batch ? n - i : (size_t)c->max_batch;
        int rc = images_batch(c, pixels + i * per, k, out + i * c->embed);
        if (rc < 0) return rc;
    }
    return 0;
}

// The end-of-text position of a text: the first maximum of its ids.
static size_t eot_pos(const int32_t *ids, size_t ctx)
{
    size_t best = 0;
    for (size_t t = 1; t < ctx; t++)
        if (ids[t] > ids[best]) best = t;
    return best;
}

static int check_ids(const seize_clip *c, const int32_t *ids, size_t n, size_t first)
{
    size_t ctx = (size_t)c->cfg.context_length;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < ctx; t++) {
            int32_t v = ids[i * ctx + t];
            if (v < 0 || v >= c->cfg.vocab_size)
                return seize_error(
                    SEIZE_EINVAL,
                    "text %zu: token id %d at position %zu is outside the vocabulary (%d)",
                    first + i, (int)v, t, c->cfg.vocab_size);
        }
    return 0;
}

// One batch of at most max_batch texts, ids rows `ld` apart.
static int tokens_batch(seize_clip *c, const int32_t *ids, size_t n, float *out)
{
    size_t ctx = (size_t)c->cfg.context_length, T = 1;
    for (size_t s = 0; s < n; s++) {
        c->sel[s] = eot_pos(ids + s * ctx, ctx);
        if (c->sel[s] + 1 > T) T = c->sel[s] + 1;
    }
    const nn_clip_tower *tw = &c->w->text;
    size_t d = (size_t)c->cfg.text.width;
    c->be->ops->embed_tokens(c->be, n, T, d, ids, ctx, tw->tok_emb, tw->pos_emb, 0, c->x);
    tower_forward(c, tw, &c->cfg.text, n, T, 1);
    c->be->ops->download(c->be, out, c->feat, NN_F32, n * c->embed);
    return c->be->ops->status(c->be);
}

typedef struct len_idx {
    size_t len, i;
} len_idx;

static int by_len(const void *a, const void *b)
{
    const len_idx *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

// The fixed cost of one more forward pass, in token rows: a batch of texts is split into
// groups of similar length when that saves more padded rows than this per extra group
// (SEIZE_TEXT_GROUP_ROWS overrides it, for measurements). ViT-B/32's text tower on CIRCO's
// edited captions in batches of 32, 2 threads: 16-48 rows all gave 1.25x (fp32) / 1.3x (bf16)
// the texts/s of one padded pass; 0 (a pass per distinct length) only 1.04x, 160 1.1x.
#define GROUP_ROWS 32

// Splits n texts sorted by length (o[i].len = end-of-text position + 1, ascending) into
// contiguous groups, each computed up to its own longest text: the split with the fewest rows
// + GROUP_ROWS per group (dynamic programming over the cut points). cut[j] receives the first
// text of the group that ends at j; returns the number of groups.
static size_t group_cuts(const len_idx *o, size_t n, size_t *cut, double *cost)
{
    const char *e = getenv("SEIZE_TEXT_GROUP_ROWS");
    double g = e && *e ? atof(e) : GROUP_ROWS;
    for (size_t j = 0; j < n; j++) {
        // one group 0..j first: cut[j] is set whatever g is (inf, nan: no other cost is lower)
        cost[j] = (double)(j + 1) * (double)o[j].len + g, cut[j] = 0;
        for (size_t i = 1; i <= j; i++) {
            double v = cost[i - 1] + (double)(j - i + 1) * (double)o[j].len + g;
            if (v < cost[j]) cost[j] = v, cut[j] = i;
        }
    }
    size_t groups = 0;
    for (size_t j = n; j > 0; j = cut[j - 1])
        groups++;
    return groups;
}

// A batch of at most max_batch texts: one forward pass when its texts are of similar length,
// else one per group of similar length (group_cuts), rows gathered and scattered back. A text's
// embedding depends only on its own tokens (causal attention, rows of a product independent of
// each other), so the grouping changes which padded rows are computed, not the results.
static int tokens_grouped(seize_clip *c, const int32_t *ids, size_t n, float *out)
{
    size_t ctx = (size_t)c->cfg.context_length;
    len_idx *o = seize_malloc(n, sizeof *o);
    size_t *cut = seize_malloc(n, sizeof *cut);
    double *cost = seize_malloc(n, sizeof *cost);
    int32_t *gids = NULL;
    float *gfeat = NULL;
    int rc = 0;
    if (!o || !cut || !cost) {
        rc = seize_error(SEIZE_ENOMEM, "out of memory (text groups)");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        o[i] = (len_idx){eot_pos(ids + i * ctx, ctx) + 1, i};
    qsort(o, n, sizeof *o, by_len);
    if (group_cuts(o, n, cut, cost) == 1) {
        rc = tokens_batch(c, ids, n, out);
        goto done;
    }
    if (!(gids = seize_malloc(n * ctx, sizeof *gids)) ||
        !(gfeat = seize_malloc(n * c->embed, sizeof *gfeat))) {
        rc = seize_error(SEIZE_ENOMEM, "out of memory (text groups)");
        goto done;
    }
    for (size_t j = n; j > 0; j = cut[j - 1]) { // groups from the longest down
        size_t i0 = cut[j - 1], k = j - i0;
        for (size_t t = 0; t < k; t++)
            memcpy(gids + t * ctx, ids + o[i0 + t].i * ctx, ctx * sizeof *gids);
        if ((rc = tokens_batch(c, gids, k, gfeat)) < 0) break;
        for (size_t t = 0; t < k; t++)
            memcpy(out + o[i0 + t].i * c->embed, gfeat + t * c->embed, c->embed * sizeof *gfeat);
    }
done:
    free(o);
    free(cut);
    free(cost);
    free(gids);
    free(gfeat);
    return rc;
}

int seize_clip_encode_tokens(seize_clip *c, const int32_t *ids, size_t n, float *out)
{
    int rc = check_ids(c, ids, n, 0);
    if (rc < 0) return rc;
    size_t ctx = (size_t)c->cfg.context_length;
    for (size_t i = 0; i < n; i += (size_t)c->max_batch) {
        size_t k = n - i < (size_t)c->max_batch ? n - i : (size_t)c->max_batch;
        if ((rc = tokens_grouped(c, ids + i * ctx, k, out + i * c->embed)) < 0) return rc;
    }
    return 0;
}

// --- lists of texts
// -----------------------------------------------------------------------------------

int seize_clip_encode_token_list(seize_clip *c, const int32_t *ids, size_t n, float *out,
                                 int (*on_progress)(void *ud, size_t done, size_t n_bad), void *ud)
{
    int rc = check_ids(c, ids, n, 0);
    if (rc < 0) return rc;
    size_t ctx = (size_t)c->cfg.context_length, B = (size_t)c->max_batch;
    len_idx *order = seize_malloc(n, sizeof *order);
    int32_t *batch = seize_malloc(B * ctx, sizeof *batch);
    float *feat = seize_malloc(B * c->embed, sizeof *feat);
    if (!order || !batch || !feat) {
        rc = SEIZE_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (len_idx){eot_pos(ids + i * ctx, ctx), i};
    qsort(order, n, sizeof *order, by_len);
    for (size_t i = 0; i < n; i += B) {
        size_t k = n - i < B ? n - i : B;
        for (size_t j = 0; j < k; j++)
            memcpy(batch + j * ctx, ids + order[i + j].i * ctx, ctx * sizeof *batch);
        if ((rc = tokens_grouped(c, batch, k, feat)) < 0) goto done;
        for (size_t j = 0; j < k; j++)
            memcpy(out + order[i + j].i * c->embed, feat + j * c->embed, c->embed * sizeof *feat);
        if (on_progress && on_progress(ud, i + k, 0)) {
            rc = seize_error(SEIZE_ECANCEL, "interrupted");
            goto done;
        }
    }
done:
    free(order);
    free(batch);
    free(feat);
    return rc;
}

// --- FLOP counts
// ------------------------------------------------------------------------------------

static double blocks_flops(const seize_tower_config *t, double T)
{
    double d = t->width, mlp = t->mlp_dim;
    double per = 2 * T * d * 3 * d      // q, k, v
                 + 2 * 2 * T * T * d    // q·kᵀ and p·v over all heads
                 + 2 * T * d * d        // out_proj
                 + 2 * 2 * T * d * mlp; // fc1, fc2
    return per * t->layers;
}

double seize_clip_image_flops(const seize_clip_model *m)
{
    const seize_clip_model_config *c = seize_clip_model_get_config(m);
    double g = c->image_size / c->patch_size, np = g * g, p = c->patch_size;
    double d = c->vision.width;
    return 2 * np * 3 * p * p * d + blocks_flops(&c->vision, 1 + np) + 2 * d * c->embed_dim;
}

double seize_clip_text_flops(const seize_clip_model *m, int n_tokens)
{
    const seize_clip_model_config *c = seize_clip_model_get_config(m);
    return blocks_flops(&c->text, n_tokens) + 2.0 * c->text.width * c->embed_dim;
}

// --- OpenBLAS kernel advice
// -----------------------------------------------------------------------

const char *seize_clip_blas_better_core(void)
{
#ifdef SEIZE_HAVE_DNNL
    return NULL; // the products run on oneDNN, whatever OpenBLAS picked
#endif
    const char *env = getenv("OPENBLAS_CORETYPE");
    if (env && *env) return NULL;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512cd") ||
        !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512dq") ||
        !__builtin_cpu_supports("avx512vl"))
        return NULL;
    const char *core = openblas_get_corename();
    if (!core) return NULL;
    if (!strcasecmp(core, "haswell") || !strcasecmp(core, "zen") ||
        !strcasecmp(core, "sandybridge") || !strcasecmp(core, "prescott") ||
        !strcasecmp(core, "nehalem") || !strcasecmp(core, "core2"))
        return "SkylakeX";
#endif
    return NULL;
}

// --- parameters
// ---------------------------------------------------------------------------------------

int seize_precision_parse(const char *s, seize_precision *out)
{
    static const char *names[] = {"fp32", "bf16", "int8"};
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, names[i]) == 0) {
            *out = (seize_precision)i;
            return 0;
        }
    return seize_error(SEIZE_EINVAL, "invalid precision '%s' (expected fp32, bf16 or int8)",
                       s ? s : "");
}

const char *seize_precision_name(seize_precision p)
{
    return p == SEIZE_PRECISION_BF16 ? "bf16" : p == SEIZE_PRECISION_INT8 ? "int8" : "fp32";
}

seize_precision seize_clip_precision(const seize_clip *c)
{
    return c->precision;
}

const char *seize_clip_describe(const seize_clip *c)
{
    return c->describe;
}

size_t seize_clip_weight_bytes(const seize_clip *c)
{
    return c->w->bytes;
}
