// The generic transformer pieces of src/nn (transformer.h), on every compiled backend, against
// plain re-implementations in double written out below. The general attention op they stand on
// (`attend` of src/nn/backend.h) is tested with every other op in test_backend_ops.c.
//
// The pieces (test_pre_ln_layer, test_post_ln_layer, test_decoder_cache, test_cache_expand,
// test_lm_head): random small weights of the shapes each model family uses; each output is
// compared with a double re-implementation of the same layer. These chain several float32
// products and layer norms, so the bound used is relative to the output's magnitude: every
// value within XF_TOL · max|want| (the float32 error of such a small network is ~1e-6 of its
// magnitude; a wrong mask, bias, norm placement or cache row is off by 1e-2 or more).
// The helpers (inputs, buffers, comparisons, the loop over the table) are in backend_check.h.
#define BACKEND_CHECK_SEED 4242 // this test's inputs
#include "check.h"

#include "backend_check.h"
#include "nn/transformer.h"

#define XF_TOL 3e-5 // the pieces: relative to the output's largest magnitude

// --- the backends under test ---------------------------------------------------------------------

// The pieces multiply in float32 on each (their bound, XF_TOL, is that precision's); cuda is
// skipped where no device is usable (SEIZE_ENOTFOUND).
static const backend_entry backends[] = {
    {"cpu/1", "cpu", {.n_threads = 1}, 1},
    {"cpu/2", "cpu", {.n_threads = 2}, 1},
#ifdef SEIZE_CUDA
    {"cuda", "cuda", {.n_threads = 1}, 0},
#endif
};
#define N_BACKENDS (sizeof backends / sizeof backends[0])

// --- helpers -------------------------------------------------------------------------------------

// got (rows, d; stride ldg) against want (rows, d) within XF_TOL·max|want|.
static int compare_rel(const char *label, const char *what, const float *got, size_t ldg,
                       const double *want, size_t rows, size_t d)
{
    double mx = 0;
    for (size_t i = 0; i < rows * d; i++)
        mx = fabs(want[i]) > mx ? fabs(want[i]) : mx;
    float *g = hostf(rows * d);
    double *mag = hostd(rows * d);
    for (size_t r = 0; r < rows; r++)
        for (size_t e = 0; e < d; e++) {
            g[r * d + e] = got[r * ldg + e];
            mag[r * d + e] = mx > 0 ? mx : 1;
        }
    int ok = compare(label, what, g, want, mag, XF_TOL, rows * d);
    free(g), free(mag);
    return ok;
}

// Every backend of the table can be made here; one whose device is absent makes this case
// skipped, with the reason (its cases elsewhere are skipped too: never counted as passed).
static void test_backends_present(void)
{
    check_backends_present(backends, N_BACKENDS);
}

// --- the pieces: host weights and a double re-implementation ------------------------------------

// Host allocations of one case, freed together.
static void *harena[1024];
static int n_harena;

static float *hrand(size_t n, float amp, float base)
{
    float *p = hostf(n);
    fill(p, n, amp);
    for (size_t i = 0; i < n; i++)
        p[i] += base;
    if (n_harena == 1024) exit(1);
    return harena[n_harena++] = p;
}

static void hfree_all(void)
{
    while (n_harena > 0)
        free(harena[--n_harena]);
}

// A linear layer (n_out, n_in) + bias on the host and on the backend (bias may be absent).
typedef struct hlin {
    float *w, *b;
    size_t n_out, n_in;
} hlin;

typedef struct hattn {
    hlin q, k, v, o;
    float *g, *bb; // its layer norm
} hattn;

typedef struct hmlp {
    hlin fc1, fc2;
    float *g, *bb;
} hmlp;

typedef struct hlayer {
    hattn self, cross;
    int has_cross;
    hmlp mlp;
    nn_xf_layer dev;
} hlayer;

// Weights of unit-variance outputs for unit-variance inputs (uniform ±sqrt(3/n_in)).
static hlin hlin_make(tctx *t, size_t n_out, size_t n_in, int bias, const nn_weight **dw,
                      const nn_weight **db)
{
    hlin l = {hrand(n_out * n_in, sqrtf(3.0f / (float)n_in), 0),
              bias ? hrand(n_out, 0.2f, 0) : NULL, n_out, n_in};
    *dw = dev_weight(t, l.w, n_out, n_in, NN_W_LINEAR);
    *db = bias ? dev_weight(t, l.b, 1, n_out, NN_W_VECTOR) : NULL;
    return l;
}

static void hln_make(tctx *t, size_t d, float **g, float **b, const nn_weight **dg,
                     const nn_weight **db)
{
    *g = hrand(d, 0.2f, 1.0f);
    *b = hrand(d, 0.2f, 0);
    *dg = dev_weight(t, *g, 1, d, NN_W_VECTOR);
    *db = dev_weight(t, *b, 1, d, NN_W_VECTOR);
}

// An attention sub-layer of width d whose keys and values read inputs of d_kv; k_bias 0: none.
static void hattn_make(tctx *t, size_t d, size_t d_kv, int k_bias, hattn *h, nn_xf_attn *w)
{
    h->q = hlin_make(t, d, d, 1, &w->wq, &w->bq);
    h->k = hlin_make(t, d, d_kv, k_bias, &w->wk, &w->bk);
    h->v = hlin_make(t, d, d_kv, 1, &w->wv, &w->bv);
    h->o = hlin_make(t, d, d, 1, &w->wo, &w->bo);
    hln_make(t, d, &h->g, &h->bb, &w->ln_g, &w->ln_b);
}

static void hlayer_make(tctx *t, size_t d, size_t d_mlp, size_t d_enc, int k_bias, hlayer *L)
{
    memset(L, 0, sizeof *L);
    hattn_make(t, d, d, k_bias, &L->self, &L->dev.self);
    if (d_enc) {
        L->has_cross = 1;
        hattn_make(t, d, d_enc, 1, &L->cross, &L->dev.cross);
    }
    L->mlp.fc1 = hlin_make(t, d_mlp, d, 1, &L->dev.mlp.w1, &L->dev.mlp.b1);
    L->mlp.fc2 = hlin_make(t, d, d_mlp, 1, &L->dev.mlp.w2, &L->dev.mlp.b2);
    hln_make(t, d, &L->mlp.g, &L->mlp.bb, &L->dev.mlp.ln_g, &L->dev.mlp.ln_b);
}

// y (m, n_out) = x (m, n_in)·wᵀ + b
static void rlin(const hlin *l, size_t m, const double *x, double *y)
{
    for (size_t i = 0; i < m; i++)
        for (size_t o = 0; o < l->n_out; o++) {
            double acc = l->b ? l->b[o] : 0;
            for (size_t e = 0; e < l->n_in; e++)
                acc += x[i * l->n_in + e] * l->w[o * l->n_in + e];
            y[i * l->n_out + o] = acc;
        }
}

static void rln(size_t m, size_t d, const double *x, const float *g, const float *b, double eps,
                double *y)
{
    for (size_t i = 0; i < m; i++) {
        double mean = 0, var = 0;
        for (size_t e = 0; e < d; e++)
            mean += x[i * d + e] / (double)d;
        for (size_t e = 0; e < d; e++)
            var += (x[i * d + e] - mean) * (x[i * d + e] - mean) / (double)d;
        for (size_t e = 0; e < d; e++)
            y[i * d + e] = (x[i * d + e] - mean) / sqrt(var + eps) * g[e] + b[e];
    }
}

static void ract(double *x, size_t n, seize_act a)
{
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (a == SEIZE_ACT_GELU) x[i] = 0.5 * v * (1 + erf(v / sqrt(2.0)));
        if (a == SEIZE_ACT_QUICK_GELU) x[i] = v / (1 + exp(-1.702 * v));
        if (a == SEIZE_ACT_RELU) x[i] = v > 0 ? v : 0;
    }
}

// out (n_seq·Tq, d) = attention of q (n_seq·Tq, d) over Tk keys/values per sequence (rows
// s·kv_rows + j of k and v; kv_rows 0 = shared); off as attend's causal_offset.
static void rattend(size_t n_seq, size_t Tq, size_t Tk, int n_head, size_t d, const double *q,
                    const double *k, const double *v, size_t kv_rows, long off, double *out)
{
    size_t dh = d / (size_t)n_head;
    double *p = hostd(Tk);
    for (size_t s = 0; s < n_seq; s++)
        for (size_t t = 0; t < Tq; t++)
            for (size_t h = 0; h < (size_t)n_head; h++) {
                size_t nk = off >= 0 && t + (size_t)off + 1 < Tk ? t + (size_t)off + 1 : Tk;
                const double *qr = q + (s * Tq + t) * d + h * dh;
                double mx = -INFINITY, sum = 0;
                for (size_t j = 0; j < nk; j++) {
                    const double *kr = k + (s * kv_rows + j) * d + h * dh;
                    double dot = 0;
                    for (size_t e = 0; e < dh; e++)
                        dot += qr[e] * kr[e];
                    p[j] = dot / sqrt((double)dh);
                    mx = p[j] > mx ? p[j] : mx;
                }
                for (size_t j = 0; j < nk; j++)
                    sum += (p[j] = exp(p[j] - mx));
                for (size_t e = 0; e < dh; e++) {
                    double acc = 0;
                    for (size_t j = 0; j < nk; j++)
                        acc += p[j] / sum * v[(s * kv_rows + j) * d + h * dh + e];
                    out[(s * Tq + t) * d + h * dh + e] = acc;
                }
            }
    free(p);
}

// x (rows, d) = pre-LN: x + f(LN(x)); post-LN: LN(x + f(x)), where f(in) is f_out of in.
typedef struct rsub {
    const nn_xf_config *c;
    const float *g, *b;
} rsub;

static const double *rsub_in(const rsub *r, size_t rows, const double *x, double *h)
{
    if (r->c->post_ln) return x;
    rln(rows, r->c->d_model, x, r->g, r->b, r->c->ln_eps, h);
    return h;
}

static void rsub_out(const rsub *r, size_t rows, double *x, const double *f)
{
    size_t d = r->c->d_model;
    for (size_t i = 0; i < rows * d; i++)
        x[i] += f[i];
    if (r->c->post_ln) rln(rows, d, x, r->g, r->b, r->c->ln_eps, x);
}

// An attention sub-layer: self (enc NULL, causal or not) or cross (enc (n_kv·Tk, d_enc) with
// n_kv = 1 when shared, else n_seq).
static void rattn_sub(const nn_xf_config *c, const hattn *w, size_t n_seq, size_t T, int causal,
                      const double *enc, size_t Tk, int shared, double *x)
{
    size_t d = c->d_model, rows = n_seq * T;
    size_t kv_rows = enc ? (shared ? 1 : n_seq) * Tk : rows;
    rsub r = {c, w->g, w->bb};
    double *h = hostd(rows * d), *q = hostd(rows * d), *k = hostd(kv_rows * d);
    double *v = hostd(kv_rows * d), *a = hostd(rows * d), *f = hostd(rows * d);
    const double *in = rsub_in(&r, rows, x, h);
    rlin(&w->q, rows, in, q);
    rlin(&w->k, kv_rows, enc ? enc : in, k);
    rlin(&w->v, kv_rows, enc ? enc : in, v);
    if (enc)
        rattend(n_seq, T, Tk, c->n_head, d, q, k, v, shared ? 0 : Tk, -1, a);
    else
        rattend(n_seq, T, T, c->n_head, d, q, k, v, T, causal ? 0 : -1, a);
    rlin(&w->o, rows, a, f);
    rsub_out(&r, rows, x, f);
    free(h), free(q), free(k), free(v), free(a), free(f);
}

static void rmlp_sub(const nn_xf_config *c, const hmlp *w, size_t rows, double *x)
{
    size_t d = c->d_model, dm = w->fc1.n_out;
    rsub r = {c, w->g, w->bb};
    double *h = hostd(rows * d), *m = hostd(rows * dm), *f = hostd(rows * d);
    const double *in = rsub_in(&r, rows, x, h);
    rlin(&w->fc1, rows, in, m);
    ract(m, rows * dm, c->act);
    rlin(&w->fc2, rows, m, f);
    rsub_out(&r, rows, x, f);
    free(h), free(m), free(f);
}

static void rlayer(const nn_xf_config *c, const hlayer *L, size_t n_seq, size_t T, int causal,
                   const double *enc, size_t Tk, int shared, double *x)
{
    rattn_sub(c, &L->self, n_seq, T, causal, NULL, 0, 0, x);
    if (L->has_cross) rattn_sub(c, &L->cross, n_seq, T, 0, enc, Tk, shared, x);
    rmlp_sub(c, &L->mlp, n_seq * T, x);
}

static double *to_double(const float *x, size_t n)
{
    double *y = hostd(n);
    for (size_t i = 0; i < n; i++)
        y[i] = x[i];
    return y;
}

// A working set on the backend for the pieces.
static nn_xf *xf_make(tctx *t, size_t rows, size_t d, size_t d_mlp, size_t T, size_t dh,
                      size_t heads)
{
    nn_xf_sizes sz = {rows, d, d_mlp, T, dh, heads};
    nn_xf *s;
    if (nn_xf_new(t->be, &sz, &s) < 0) {
        fprintf(stderr, "  FAIL %s: nn_xf_new: %s\n", t->name, seize_errmsg());
        exit(1);
    }
    return s;
}

// --- encoder layers: pre-LN (ViT, EVA), post-LN with cross-attention (BERT, Q-Former) -----------

typedef struct enc_case {
    size_t d, n_head, d_mlp, n_seq, T, n_layer;
    int post_ln, causal, k_bias;
    float eps;
    seize_act act;
    size_t d_enc, Tk; // cross-attention in the even layers when d_enc > 0
    int shared;       // one encoder output for every sequence
} enc_case;

static int enc_one(tctx *t, const enc_case *k)
{
    char label[200];
    snprintf(label, sizeof label,
             "%s layers=%zu d=%zu heads=%zu n_seq=%zu T=%zu %s act=%d causal=%d d_enc=%zu "
             "Tk=%zu shared=%d",
             t->name, k->n_layer, k->d, k->n_head, k->n_seq, k->T,
             k->post_ln ? "post-LN" : "pre-LN", (int)k->act, k->causal, k->d_enc, k->Tk, k->shared);
    nn_xf_config c = {k->d, (int)k->n_head, k->post_ln, k->eps, k->act};
    size_t d = k->d, rows = k->n_seq * k->T, n_kv = k->shared ? 1 : k->n_seq;
    hlayer L[4];
    for (size_t l = 0; l < k->n_layer; l++)
        hlayer_make(t, d, k->d_mlp, l % 2 == 0 ? k->d_enc : 0, k->k_bias, &L[l]);
    float *x = hrand(rows * d, 1, 0), *enc = hrand(n_kv * k->Tk * k->d_enc + 1, 1, 0);
    float *dx = dev_from(t, x, rows * d), *denc = dev_from(t, enc, n_kv * k->Tk * k->d_enc + 1);
    float *dk = dev_alloc(t, n_kv * k->Tk * d + 1), *dv = dev_alloc(t, n_kv * k->Tk * d + 1);
    size_t T_max = k->T > k->Tk ? k->T : k->Tk;
    nn_xf *s = xf_make(t, rows, d, k->d_mlp, T_max, d / k->n_head, k->n_head);
    nn_xf_kv kv = {dk, dv, k->shared ? 0 : k->Tk * d, k->Tk};
    for (size_t l = 0; l < k->n_layer; l++) {
        if (L[l].has_cross) // projected once per encoder output and layer
            nn_xf_kv_project(s, &L[l].dev.cross, n_kv * k->Tk, denc, k->d_enc, dk, dv);
        nn_xf_layer_forward(s, &c, &L[l].dev, k->n_seq, k->T, k->causal,
                            L[l].has_cross ? &kv : NULL, dx);
    }
    float *got = dev_get(t, dx, rows * d);
    double *want = to_double(x, rows * d), *encd = to_double(enc, n_kv * k->Tk * k->d_enc);
    for (size_t l = 0; l < k->n_layer; l++)
        rlayer(&c, &L[l], k->n_seq, k->T, k->causal, encd, k->Tk, k->shared, want);
    int ok = compare_rel(label, "x", got, d, want, rows, d);
    nn_xf_free(s);
    dev_release_all(t);
    hfree_all();
    free(got), free(want), free(encd);
    return ok;
}

static void pre_ln_cases(tctx *t)
{
    static const enc_case cases[] = {
        // EVA-like: erf GELU, no key bias, eps 1e-6
        {32, 4, 80, 3, 7, 2, 0, 0, 0, 1e-6f, SEIZE_ACT_GELU, 0, 0, 0},
        // CLIP-text-like: causal, quick GELU
        {24, 2, 64, 2, 9, 2, 0, 1, 1, 1e-5f, SEIZE_ACT_QUICK_GELU, 0, 0, 0},
        // OPT-like without a cache: causal, ReLU, one sequence
        {16, 2, 40, 1, 5, 1, 0, 1, 1, 1e-5f, SEIZE_ACT_RELU, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        case_done_on(t, enc_one(t, &cases[i]));
}

static void test_pre_ln_layer(void)
{
    for_each_backend(backends, N_BACKENDS, "pre-LN layers", pre_ln_cases);
    CHECK_EQ(st.n_fail, 0);
}

static void post_ln_cases(tctx *t)
{
    static const enc_case cases[] = {
        // Q-Former-like: 2 layers, cross-attention in layer 0 to a wider encoder, eps 1e-12
        {32, 4, 64, 2, 6, 2, 1, 0, 1, 1e-12f, SEIZE_ACT_GELU, 40, 9, 0},
        {32, 4, 64, 3, 6, 3, 1, 0, 1, 1e-12f, SEIZE_ACT_GELU, 40, 9, 1}, // one image, 3 query sets
        {16, 1, 48, 1, 4, 1, 1, 0, 1, 1e-12f, SEIZE_ACT_GELU, 16, 1, 1}, // a single key
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        case_done_on(t, enc_one(t, &cases[i]));
}

static void test_post_ln_layer(void)
{
    for_each_backend(backends, N_BACKENDS, "post-LN layers", post_ln_cases);
    CHECK_EQ(st.n_fail, 0);
}

// --- decoding with the KV cache ------------------------------------------------------------------

#define DEC_D 32
#define DEC_HEADS 4
#define DEC_MLP 72
#define DEC_LAYERS 2

static const nn_xf_config dec_cfg = {DEC_D, DEC_HEADS, 0, 1e-5f, SEIZE_ACT_RELU};

// The reference decoder: a full causal forward over n_seq sequences of T rows, x in place.
static void rdecoder(const hlayer *L, size_t n_seq, size_t T, double *x)
{
    for (size_t l = 0; l < DEC_LAYERS; l++) {
        rattn_sub(&dec_cfg, &L[l].self, n_seq, T, 1, NULL, 0, 0, x);
        rmlp_sub(&dec_cfg, &L[l].mlp, n_seq * T, x);
    }
}

// Feeds rows [t0, t0 + T) of every sequence of X (n_seq, N, d) to the decoder; the outputs go
// to the same rows of got.
static void dec_feed(tctx *t, nn_xf *s, const hlayer *L, nn_xf_cache *cache, size_t n_seq, size_t N,
                     size_t t0, size_t T, const float *X, float *got)
{
    size_t d = DEC_D;
    float *in = hostf(n_seq * T * d);
    for (size_t i = 0; i < n_seq; i++)
        memcpy(in + i * T * d, X + (i * N + t0) * d, T * d * sizeof *in);
    float *dx = t->o->alloc(t->be, NN_F32, n_seq * T * d); // (released here: the case's
    if (!dx) exit(1);                                      //  weights stay)
    t->o->upload(t->be, dx, in, NN_F32, n_seq * T * d);
    nn_xf_layer dl[DEC_LAYERS];
    for (size_t l = 0; l < DEC_LAYERS; l++)
        dl[l] = L[l].dev;
    nn_xf_decoder_forward(s, &dec_cfg, dl, DEC_LAYERS, cache, n_seq, T, dx);
    t->o->download(t->be, in, dx, NN_F32, n_seq * T * d);
    for (size_t i = 0; i < n_seq; i++)
        memcpy(got + (i * N + t0) * d, in + i * T * d, T * d * sizeof *in);
    t->o->release(t->be, dx);
    free(in);
}

static nn_xf_cache *cache_make(tctx *t, size_t n_seq, size_t max_T)
{
    nn_xf_cache *cache;
    if (nn_xf_cache_new(t->be, DEC_LAYERS, n_seq, max_T, DEC_D, &cache) < 0) {
        fprintf(stderr, "  FAIL %s: nn_xf_cache_new: %s\n", t->name, seize_errmsg());
        exit(1);
    }
    return cache;
}

// P prefill tokens then chunks of new tokens (steps of 1 and of several) for n_seq sequences
// give the rows of one causal forward over all the tokens.
static int dec_one(tctx *t, size_t n_seq, const size_t *chunks, size_t n_chunk)
{
    char label[160];
    size_t d = DEC_D, N = 0, max_c = 0;
    for (size_t i = 0; i < n_chunk; i++) {
        N += chunks[i];
        max_c = chunks[i] > max_c ? chunks[i] : max_c;
    }
    snprintf(label, sizeof label, "%s decoder n_seq=%zu prefill=%zu then %zu chunks, %zu tokens",
             t->name, n_seq, chunks[0], n_chunk - 1, N);
    hlayer L[DEC_LAYERS];
    for (size_t l = 0; l < DEC_LAYERS; l++)
        hlayer_make(t, d, DEC_MLP, 0, 1, &L[l]);
    float *X = hrand(n_seq * N * d, 1, 0), *got = hostf(n_seq * N * d);
    nn_xf *s = xf_make(t, n_seq * max_c, d, DEC_MLP, N, d / DEC_HEADS, DEC_HEADS);
    nn_xf_cache *cache = cache_make(t, n_seq, N);
    for (size_t i = 0, t0 = 0; i < n_chunk; t0 += chunks[i++])
        dec_feed(t, s, L, cache, n_seq, N, t0, chunks[i], X, got);
    int ok = cache->len == N;
    if (!ok) fprintf(stderr, "  FAIL %s: cache len %zu, want %zu\n", label, cache->len, N);
    double *want = to_double(X, n_seq * N * d);
    rdecoder(L, n_seq, N, want);
    ok &= compare_rel(label, "x", got, d, want, n_seq * N, d);
    nn_xf_cache_free(cache);
    nn_xf_free(s);
    dev_release_all(t);
    hfree_all();
    free(got), free(want);
    return ok;
}

static void dec_cases(tctx *t)
{
    static const size_t a[] = {5, 1, 1, 2, 1}; // steps of one and a chunk of two
    static const size_t b[] = {1, 1, 1, 1};    // from an empty cache, token by token
    static const size_t c[] = {7, 3};
    case_done_on(t, dec_one(t, 2, a, 5));
    case_done_on(t, dec_one(t, 1, a, 5));
    case_done_on(t, dec_one(t, 3, b, 4));
    case_done_on(t, dec_one(t, 1, c, 2));
}

// The core KV-cache property: decoding token by token (and by chunks) over the cache equals
// one causal forward over all the tokens.
static void test_decoder_cache(void)
{
    for_each_backend(backends, N_BACKENDS, "decoder with KV cache", dec_cases);
    CHECK_EQ(st.n_fail, 0);
}

// One prefill of each of n_src prefixes (P tokens), shared by r samples each, then S steps of
// every sample with its own tokens = each sample's own full causal forward.
static int expand_one(tctx *t, size_t n_src, size_t r, size_t P, size_t S)
{
    char label[160];
    snprintf(label, sizeof label, "%s shared prefill n_src=%zu r=%zu P=%zu S=%zu", t->name, n_src,
             r, P, S);
    size_t d = DEC_D, n = n_src * r, N = P + S;
    hlayer L[DEC_LAYERS];
    for (size_t l = 0; l < DEC_LAYERS; l++)
        hlayer_make(t, d, DEC_MLP, 0, 1, &L[l]);
    // X (n, N, d): sample u = i·r + j has prefix i's rows (taken from row block i) then its own
    float *X = hrand(n * N * d, 1, 0), *Xp = hrand(n_src * P * d, 1, 0);
    for (size_t u = 0; u < n; u++)
        memcpy(X + u * N * d, Xp + (u / r) * P * d, P * d * sizeof *X);
    float *got = hostf(n * N * d), *gp = hostf(n_src * P * d);
    nn_xf *s = xf_make(t, n > n_src * P ? n : n_src * P, d, DEC_MLP, N, d / DEC_HEADS, DEC_HEADS);
    nn_xf_cache *cache = cache_make(t, n + 1, N); // one sequence more than used
    dec_feed(t, s, L, cache, n_src, P, 0, P, Xp, gp);
    nn_xf_cache_expand(cache, n_src, r);
    for (size_t k = 0; k < S; k++)
        dec_feed(t, s, L, cache, n, N, P + k, 1, X, got);
    for (size_t u = 0; u < n; u++) // the prefill's outputs: those of the sample's source
        memcpy(got + u * N * d, gp + (u / r) * P * d, P * d * sizeof *got);
    double *want = to_double(X, n * N * d);
    rdecoder(L, n, N, want);
    int ok = compare_rel(label, "x", got, d, want, n * N, d);
    nn_xf_cache_free(cache);
    nn_xf_free(s);
    dev_release_all(t);
    hfree_all();
    free(got), free(gp), free(want);
    return ok;
}

static void expand_cases(tctx *t)
{
    case_done_on(t, expand_one(t, 1, 4, 6, 3)); // BLIP-2's case: one prompt, several samples
    case_done_on(t, expand_one(t, 2, 3, 5, 2)); // a batch of prompts
    case_done_on(t, expand_one(t, 3, 1, 4, 2)); // r = 1: nothing to copy
}

static void test_cache_expand(void)
{
    for_each_backend(backends, N_BACKENDS, "shared prefill (cache expand)", expand_cases);
    CHECK_EQ(st.n_fail, 0);
}

// --- embeddings and the head ---------------------------------------------------------------------

// The LM head on the last token of each of n sequences of T (strided rows), with a tied
// embedding table (vocab, d) as the output weight; x unchanged, nothing past the logits.
static int lm_head_one(tctx *t, size_t n, size_t T, size_t d, size_t vocab)
{
    char label[160];
    snprintf(label, sizeof label, "%s lm_head n=%zu T=%zu d=%zu vocab=%zu", t->name, n, T, d,
             vocab);
    float *x = hrand(n * T * d, 2, 0.5f), *E = hrand(vocab * d, 1, 0), *g, *b;
    const nn_weight *dg, *db, *dE = dev_weight(t, E, vocab, d, NN_W_LINEAR);
    hln_make(t, d, &g, &b, &dg, &db);
    float *dx = dev_from(t, x, n * T * d), *lo = hrand(n * vocab + TAIL, 0, SENTINEL);
    float *dlo = dev_from(t, lo, n * vocab + TAIL);
    nn_xf *s = xf_make(t, n, d, 1, 1, 1, 1);
    nn_xf_lm_head(s, dg, db, 1e-5f, dE, n, dx + (T - 1) * d, T * d, dlo);
    float *got = dev_get(t, dlo, n * vocab + TAIL), *gx = dev_get(t, dx, n * T * d);
    double *xl = hostd(n * d), *h = hostd(n * d), *want = hostd(n * vocab);
    for (size_t i = 0; i < n; i++)
        for (size_t e = 0; e < d; e++)
            xl[i * d + e] = x[(i * T + T - 1) * d + e];
    rln(n, d, xl, g, b, 1e-5, h);
    hlin head = {E, NULL, vocab, d};
    rlin(&head, n, h, want);
    int ok = compare_rel(label, "logits", got, vocab, want, n, vocab);
    ok &= compare_exact(label, "floats past the logits", got + n * vocab, lo + n * vocab, TAIL);
    ok &= compare_exact(label, "x unchanged", gx, x, n * T * d);
    nn_xf_free(s);
    dev_release_all(t);
    hfree_all();
    free(got), free(gx), free(xl), free(h), free(want);
    return ok;
}

// Learned positions with an offset added to rows that are not tokens (strided): exact float
// additions, the row padding untouched.
static int positions_one(tctx *t, size_t n, size_t T, size_t d, size_t pad, size_t pos0)
{
    char label[160];
    snprintf(label, sizeof label, "%s add_positions n=%zu T=%zu d=%zu pad=%zu pos0=%zu", t->name, n,
             T, d, pad, pos0);
    size_t ldx = d + pad, nx = n * T * ldx, n_pos = pos0 + T + 3;
    float *x = hrand(nx, 1, 0), *pos = hrand(n_pos * d, 1, 0), *want = hrand(nx, 0, 0);
    const nn_weight *dpos = dev_weight(t, pos, n_pos, d, NN_W_TABLE);
    float *dx = dev_from(t, x, nx);
    nn_xf *s = xf_make(t, n * T, d, 1, T, 1, 1);
    nn_xf_add_positions(s, n, T, d, dpos, pos0, dx, ldx);
    float *got = dev_get(t, dx, nx);
    memcpy(want, x, nx * sizeof *want);
    for (size_t i = 0; i < n; i++)
        for (size_t q = 0; q < T; q++)
            for (size_t e = 0; e < d; e++)
                want[(i * T + q) * ldx + e] += pos[(pos0 + q) * d + e];
    int ok = compare_exact(label, "x", got, want, nx);
    nn_xf_free(s);
    dev_release_all(t);
    hfree_all();
    free(got);
    return ok;
}

static void head_cases(tctx *t)
{
    case_done_on(t, lm_head_one(t, 3, 4, 32, 37));
    case_done_on(t, lm_head_one(t, 1, 1, 16, 50));
    case_done_on(t, lm_head_one(t, 15, 2, 24, 9));
    case_done_on(t, positions_one(t, 2, 3, 16, 5, 2)); // OPT's offset
    case_done_on(t, positions_one(t, 1, 32, 8, 0, 0));
}

static void test_lm_head(void)
{
    for_each_backend(backends, N_BACKENDS, "LM head and positions", head_cases);
    CHECK_EQ(st.n_fail, 0);
}

int main(void)
{
    int blas_was = seize_blas_threads();
    RUN(test_backends_present);
    RUN(test_pre_ln_layer);
    RUN(test_post_ln_layer);
    RUN(test_decoder_cache);
    RUN(test_cache_expand);
    RUN(test_lm_head);
    seize_blas_threads_set(blas_was);
    return check_summary("transformer");
}
